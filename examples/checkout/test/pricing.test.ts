import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyCoupon, InvalidOrderError, orderTotal, subtotal } from '../src/pricing.js';

test('subtotal sums quantity times price', () => {
  assert.equal(
    subtotal([
      { sku: 'a', qty: 2, priceCents: 150 },
      { sku: 'b', qty: 1, priceCents: 99 },
    ]),
    399,
  );
});

test('an empty order is invalid', () => {
  assert.throws(() => subtotal([]), InvalidOrderError);
});

test('a known coupon takes its percentage off', () => {
  assert.equal(applyCoupon(1000, 'SAVE10'), 900);
  assert.equal(orderTotal([{ sku: 'a', qty: 1, priceCents: 2000 }], 'WELCOME5'), 1900);
});

test('no coupon leaves the amount alone', () => {
  assert.equal(applyCoupon(1000, undefined), 1000);
});
