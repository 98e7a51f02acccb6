// Exact notionals (price × quantity sums) for wide instruments, without a BigInt on the hot path.
//
// Prices and quantities are each below 2^53 (config.ts), but their product need not be: BTC-USD
// to 0.01 USD and 1 satoshi, up to 1,000,000 USD × 1,000 BTC, is 1e8 × 1e11 = 1e19 units. A
// notional is therefore kept in two limbs, value = hi × 2^53 + lo with 0 ≤ lo < 2^53 and
// 0 ≤ hi < 2^53 (a value is at most maxPrice × maxQty < 2^106), both stored as exact doubles.
// hi is 0 for every value up to Number.MAX_SAFE_INTEGER, so a narrow instrument (maxPrice ×
// maxQty < 2^53, config.ts) only ever has hi = 0 and the engine adds to lo as plain numbers.
// A wide instrument adds through addNotional: plain numbers while the sum provably stays below
// 2^53, and above it an exact product in two doubles (Dekker's TwoProduct) with explicit carries:
// no BigInt and no allocation on the matching path.
// At the edges a notional is a number when it is at most MAX_SAFE_INTEGER, a bigint above.

/** The weight of the high limb: 2^53. */
export const NOTIONAL_LIMB = 2 ** 53;
const LIMB_BITS = 53n;
const LIMB_MASK = (1n << LIMB_BITS) - 1n;

/** A notional as the edges see it: a safe integer, or a bigint when above Number.MAX_SAFE_INTEGER. */
export type Notional = number | bigint;

/** Veltkamp's splitter for binary64: 2^27 + 1. */
const SPLITTER = 134_217_729;

/**
 * The rounding error of p = fl(a × b): a × b = p + error exactly (Dekker's TwoProduct with
 * Veltkamp's split; exact in binary64 round-to-nearest without overflow, which a, b < 2^53 and
 * a × b < 2^106 guarantee). For integers a, b with p ≥ 2^53, the error is an integer of
 * magnitude at most ulp(p) / 2 ≤ 2^52.
 */
function productError(a: number, b: number, p: number): number {
  let t = SPLITTER * a;
  const aHi = t - (t - a);
  const aLo = a - aHi;
  t = SPLITTER * b;
  const bHi = t - (t - b);
  const bLo = b - bHi;
  return aHi * bHi - p + aHi * bLo + aLo * bHi + aLo * bLo;
}

/**
 * Adds qty × px to the two-limb notional at slot of (lo, hi); qty and px are non-negative safe
 * integers and the result is at most (2^53 − 1)^2 (an order's notional is at most maxPrice ×
 * maxQty), so hi stays a safe integer. Exact, in doubles only (no BigInt, no allocation):
 * - a double product or sum that is at most MAX_SAFE_INTEGER is exact (rounding is monotone and
 *   2^53 is a double, so a true value ≥ 2^53 never rounds below it);
 * - a sum that passes it is taken as (lo − 2^53) + product, exact since both operands and the
 *   result are integers of magnitude at most 2^53, and carries 1 into hi;
 * - a product above it is p + error (productError), p split exactly at 2^53, each part added
 *   with the same carry rule.
 */
export function addNotional(lo: Float64Array, hi: Float64Array, slot: number, qty: number, px: number): void {
  const product = qty * px;
  const cur = lo[slot]!;
  if (product <= Number.MAX_SAFE_INTEGER) {
    const sum = cur + product;
    if (sum <= Number.MAX_SAFE_INTEGER) {
      lo[slot] = sum;
    } else {
      lo[slot] = cur - NOTIONAL_LIMB + product;
      hi[slot]! += 1;
    }
    return;
  }
  addWideProduct(lo, hi, slot, product, productError(qty, px, product));
}

/** Adds p + error (p ≥ 2^53 an integer double, |error| ≤ 2^52 an integer) to the limbs at slot. */
function addWideProduct(lo: Float64Array, hi: Float64Array, slot: number, p: number, error: number): void {
  const pHi = Math.floor(p / NOTIONAL_LIMB); // exact: a division by a power of two
  let carry = pHi;
  // p − pHi × 2^53 is an integer in [0, 2^53): exact. Then + lo, with the carry rule.
  let l = lo[slot]! - NOTIONAL_LIMB + (p - pHi * NOTIONAL_LIMB);
  if (l < 0) l += NOTIONAL_LIMB;
  else carry += 1;
  if (error >= 0) {
    l = l - NOTIONAL_LIMB + error; // in [−2^53, 2^52): exact
    if (l < 0) l += NOTIONAL_LIMB;
    else carry += 1;
  } else {
    l += error; // in [−2^52, 2^53): exact
    if (l < 0) {
      l += NOTIONAL_LIMB;
      carry -= 1;
    }
  }
  lo[slot] = l;
  hi[slot]! += carry;
}

/** The notional (lo, hi) as the edges see it: a number when hi is 0, else a bigint. */
export function notionalValue(lo: number, hi: number): Notional {
  return hi === 0 ? lo : (BigInt(hi) << LIMB_BITS) + BigInt(lo);
}

/** The low limb of a notional (the value itself when it is a number). */
export function notionalLo(value: Notional): number {
  return typeof value === 'number' ? value : Number(value & LIMB_MASK);
}

/** The high limb of a notional (0 when it is a number). */
export function notionalHi(value: Notional): number {
  return typeof value === 'number' ? 0 : Number(value >> LIMB_BITS);
}

/** A bigint as the edges carry a notional (or any integer sum): a number when it is a safe integer, else the bigint. */
export function notionalOfBigint(value: bigint): Notional {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
}

/** maxPrice × maxQty, exactly. */
export function notionalMax(maxPrice: number, maxQty: number): bigint {
  return BigInt(maxPrice) * BigInt(maxQty);
}

/** Whether an instrument's notionals can pass Number.MAX_SAFE_INTEGER (maxPrice × maxQty ≥ 2^53). */
export function isWide(cfg: { maxPrice: number; maxQty: number }): boolean {
  return notionalMax(cfg.maxPrice, cfg.maxQty) > BigInt(Number.MAX_SAFE_INTEGER);
}

/**
 * The notional as a JSON value: a number when it is a safe integer (so narrow instruments'
 * JSON is unchanged), else its decimal digits as a string (JSON numbers above 2^53 are not
 * exact in most parsers, JSON.parse included).
 */
export function notionalJson(value: Notional): number | string {
  return typeof value === 'number' ? value : value.toString();
}
