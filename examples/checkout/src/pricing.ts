/** One line of an order. Prices are in cents. */
export interface LineItem {
  sku: string;
  qty: number;
  priceCents: number;
}

/** Coupon codes and the percentage they take off. Codes are case-insensitive for customers. */
const COUPONS: Record<string, { percent: number }> = {
  SAVE10: { percent: 10 },
  WELCOME5: { percent: 5 },
};

/** Thrown for input the API answers with 400. */
export class InvalidOrderError extends Error {}

/** Sum of the line items, in cents. */
export function subtotal(items: LineItem[]): number {
  if (items.length === 0) throw new InvalidOrderError('order has no items');
  let sum = 0;
  for (const item of items) {
    if (!Number.isInteger(item.qty) || item.qty <= 0) throw new InvalidOrderError(`bad quantity for ${item.sku}`);
    sum += item.qty * item.priceCents;
  }
  return sum;
}

/** Apply a coupon code to an amount in cents. */
export function applyCoupon(amountCents: number, code: string | undefined): number {
  if (code === undefined || code === '') return amountCents;
  const coupon = COUPONS[code];
  return Math.round(amountCents * (1 - coupon!.percent / 100));
}

/** Total of an order in cents, after the coupon. */
export function orderTotal(items: LineItem[], coupon?: string): number {
  return applyCoupon(subtotal(items), coupon);
}
