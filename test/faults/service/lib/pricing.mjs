const TABLE = { a1: 10, b2: 20, c3: 30 };

/** Price of a sku, in cents. */
export function price(sku) {
  return TABLE[sku.toLowerCase()];
}
