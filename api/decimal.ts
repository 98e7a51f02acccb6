// Exact decimal strings ↔ integer units, per instrument: a price of "49990.50" on an instrument
// with priceDecimals 2 is 4999050 price units. The one conversion every edge uses (the
// gateway's order entry and reports, the CLI), so that no edge ever rounds.
//
// Never through floats: the text is scaled as digits (string → BigInt), and units are written
// back by inserting the point into their decimal digits. Units are bigint in the API, so that
// values beyond 2^53 (wide instruments) convert exactly; `formatUnits` also takes a number (the
// engine's units today are safe integers), which costs no BigInt on the hot path of reports.
//
// Grammar (parseDecimal): one or more ASCII digits, optionally a point followed by one or more
// digits — "49990", "49990.5", "49990.50", "0.0010". No sign, no exponent, no spaces, no
// leading "+" or ".", no trailing ".", no thousands separators, at most DECIMAL_STRING_CHARS_MAX
// characters. Leading zeros are allowed ("007.50" is 7.50): they do not change the value. At
// most `decimals` digits after the point: more is a precision error even when they are zeros
// ("49990.500" with 2 decimals), because the rule a client must follow is then one number, the
// instrument's decimals, not a rule about which digits may be zero.

import { DECIMAL_STRING_CHARS_MAX } from './limits.js';

/** Why a decimal string was refused. */
export type DecimalError =
  /** Not the grammar above (empty, a sign, an exponent, a space, two points, …). */
  | 'SYNTAX'
  /** Over DECIMAL_STRING_CHARS_MAX characters. */
  | 'TOO_LONG'
  /** More digits after the point than the instrument's decimals. */
  | 'PRECISION';

export type DecimalParse = { ok: true; units: bigint } | { ok: false; error: DecimalError };

const DECIMAL_RE = /^([0-9]+)(?:\.([0-9]+))?$/;

/** Largest `decimals` an instrument can have (engine/config.ts checks priceDecimals/qtyDecimals ≤ 18). */
export const DECIMALS_MAX = 18;

function checkDecimals(decimals: number): void {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > DECIMALS_MAX)
    throw new RangeError(`decimals must be an integer from 0 to ${DECIMALS_MAX}, got ${decimals}`);
}

/**
 * The integer units of decimal string `text` with `decimals` digits after the point: "49990.5"
 * with 2 → 4999050n. Exact for any length within the limit. Never throws on any `text`.
 */
export function parseDecimal(text: string, decimals: number): DecimalParse {
  checkDecimals(decimals);
  if (typeof text !== 'string') return { ok: false, error: 'SYNTAX' };
  if (text.length > DECIMAL_STRING_CHARS_MAX) return { ok: false, error: 'TOO_LONG' };
  const m = DECIMAL_RE.exec(text);
  if (m === null) return { ok: false, error: 'SYNTAX' };
  const fraction = m[2] ?? '';
  if (fraction.length > decimals) return { ok: false, error: 'PRECISION' };
  return { ok: true, units: BigInt(m[1]! + fraction.padEnd(decimals, '0')) };
}

/**
 * Units → decimal string with exactly `decimals` digits after the point (none, and no point,
 * when `decimals` is 0): 4999000 with 2 → "49990.00", 10 with 4 → "0.0010". A negative value
 * (a position, later) gets a leading "-". `units` must be an integer (a number that is a safe
 * integer, or a bigint).
 */
export function formatUnits(units: number | bigint, decimals: number): string {
  // Any count of decimals (a notional has price + quantity decimals, beyond DECIMALS_MAX).
  if (!Number.isInteger(decimals) || decimals < 0)
    throw new RangeError(`decimals must be an integer ≥ 0, got ${decimals}`);
  if (typeof units === 'number' && !Number.isSafeInteger(units))
    throw new RangeError(`units must be a safe integer or a bigint, got ${units}`);
  // Zero is most fields of most reports (stop_price, last_qty, display_qty, …): one shared string.
  if (units === 0 && decimals < ZERO_TEXT.length) return ZERO_TEXT[decimals]!;
  const negative = units < 0;
  const text = insertPoint(String(negative ? -units : units), decimals);
  return negative ? `-${text}` : text;
}

/** ZEROS[k]: k zeros (k < ZEROS_CACHED), for padding without building the same string again. */
const ZEROS_CACHED = 48;
const ZEROS: readonly string[] = Array.from({ length: ZEROS_CACHED }, (_, k) => '0'.repeat(k));
/** ZERO_TEXT[d]: zero with d decimals — "0", "0.0", "0.00", … */
const ZERO_TEXT: readonly string[] = ZEROS.map((zeros, d) => (d === 0 ? '0' : `0.${zeros}`));

/** Non-negative integer digits (no leading zero but for "0") with the point inserted `decimals` places from the right. */
function insertPoint(digits: string, decimals: number): string {
  if (decimals === 0) return digits;
  const n = digits.length;
  if (n > decimals) return `${digits.slice(0, n - decimals)}.${digits.slice(n - decimals)}`;
  const pad = decimals - n;
  return `0.${pad < ZEROS_CACHED ? ZEROS[pad] : '0'.repeat(pad)}${digits}`;
}

/**
 * A non-negative decimal string with exactly `from` digits after the point, rescaled to `to` ≥
 * `from` digits by moving the point left (dividing by 10^(to − from)), exactly:
 * shiftPoint("5000033.33333333", 8, 10) → "50000.3333333333". avg_px (8 decimals in price units)
 * in display units is shiftPoint(avg_px, 8, 8 + priceDecimals). `to` may exceed DECIMALS_MAX.
 */
export function shiftPoint(text: string, from: number, to: number): string {
  // avg_px of an unfilled order, most reports: no parsing.
  if (from < ZERO_TEXT.length && to >= from && to < ZERO_TEXT.length && text === ZERO_TEXT[from]) return ZERO_TEXT[to]!;
  const m = DECIMAL_RE.exec(text);
  if (m === null || (m[2] ?? '').length !== from || !Number.isInteger(to) || to < from)
    throw new RangeError(`shiftPoint: ${text} is not a decimal with exactly ${from} decimals, or ${to} < ${from}`);
  const digits = (m[1]! + (m[2] ?? '')).replace(/^0+(?=[0-9])/, '');
  return insertPoint(digits, to);
}
