// AvgPx (FIX 4.4 tag 6) as an exact decimal string: the one definition every edge uses (the
// gateway's reports, the Kafka records, the read models, pipe mode's JSON).
//
// avg_px = cum_notional / cum_qty in price units, which is generally not an integer (two fills
// at 101 and 102 average 101.5) and not always a finite decimal (10 / 3). It is therefore
// written with exactly AVG_PX_DECIMALS digits after the point, rounded half to even (ties go to
// the even last digit: unbiased over many orders), computed on integers only: BigInt, since
// cum_notional × 10^8 passes 2^53. No float is ever involved. Nothing filled: "0.00000000".
// Examples: (303, 3) → "101.00000000"; (203, 2) → "101.50000000"; (10, 3) → "3.33333333";
// (2, 3) → "0.66666667"; ties: (1, 2e8) → "0.00000000" and (3, 2e8) → "0.00000002" (exactly half
// of the last digit: to the even one).

/** Digits after the decimal point of avg_px. */
export const AVG_PX_DECIMALS = 8;
const SCALE = 10n ** BigInt(AVG_PX_DECIMALS);
const ZERO_FRACTION = '0'.repeat(AVG_PX_DECIMALS);
const NOTHING_FILLED = `0.${ZERO_FRACTION}`;

/**
 * cumNotional / cumQty (non-negative integers as the engine reports them: cumQty a safe integer,
 * cumNotional a safe integer or, above 2^53 − 1 on a wide instrument, a bigint) as a decimal
 * string with AVG_PX_DECIMALS decimals, rounded half to even; "0.00000000" when cumQty is 0.
 */
export function avgPx(cumNotional: number | bigint, cumQty: number): string {
  if (cumQty === 0) return NOTHING_FILLED;
  // Fast path, exact: one price (or prices that average to an integer), the common case.
  if (typeof cumNotional === 'number' && cumNotional % cumQty === 0) return `${cumNotional / cumQty}.${ZERO_FRACTION}`;
  const n = BigInt(cumNotional) * SCALE;
  const d = BigInt(cumQty);
  let q = n / d;
  const twiceRest = (n % d) * 2n;
  if (twiceRest > d || (twiceRest === d && q % 2n === 1n)) q += 1n;
  const digits = q.toString().padStart(AVG_PX_DECIMALS + 1, '0');
  return `${digits.slice(0, -AVG_PX_DECIMALS)}.${digits.slice(-AVG_PX_DECIMALS)}`;
}
