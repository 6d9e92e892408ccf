import assert from 'node:assert/strict';
import { test } from 'node:test';
import { price } from '../lib/pricing.mjs';

test('a1 costs 10', () => assert.equal(price('a1'), 10));
test('B2 costs 20 in any case', () => assert.equal(price('B2'), 20));
