// gateway/risk.ts overNotional: px × qty > limit decided exactly — a double comparison against a
// safe-integer limit, a BigInt one against a limit above 2^53 − 1 — checked against BigInt
// arithmetic on the boundaries and on generated values (prices and quantities up to 2^53 − 1).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Notional } from '../../engine/notional.js';
import { overNotional } from '../../gateway/risk.js';

const SAFE = Number.MAX_SAFE_INTEGER;
const exact = (px: number, qty: number, limit: Notional) => BigInt(px) * BigInt(qty) > BigInt(limit);

describe('overNotional', () => {
  it('boundaries: at the limit passes, one unit over is refused, also where doubles cannot tell them apart', () => {
    const cases: [number, number, Notional][] = [
      [10, 10, 100],
      [10, 10, 99],
      [1, SAFE, SAFE],
      [1, SAFE, SAFE - 1],
      [2, 2 ** 52, SAFE], // 2^53: one over the largest safe limit
      // (1e11 − 1) × (1e8 − 1) = 9999999899900000001, the same double as the limit one below it.
      [99_999_999, 99_999_999_999, 9_999_999_899_900_000_000n],
      [99_999_999, 99_999_999_999, 9_999_999_899_900_000_001n],
      [SAFE, SAFE, BigInt(SAFE) * BigInt(SAFE)],
      [SAFE, SAFE, BigInt(SAFE) * BigInt(SAFE) - 1n],
      [3, 5, 2n ** 60n], // a small product under a wide limit: no BigInt needed
    ];
    for (const [px, qty, limit] of cases)
      expect(overNotional(px, qty, limit), `${px} × ${qty} > ${limit}`).toBe(exact(px, qty, limit));
    expect(overNotional(99_999_999, 99_999_999_999, 9_999_999_899_900_000_000n)).toBe(true);
    expect(99_999_999 * 99_999_999_999 > Number(9_999_999_899_900_000_000n)).toBe(false); // what doubles say
  });

  it('equals the BigInt comparison on generated prices, quantities and limits (number ≤ 2^53 − 1, bigint above)', () => {
    const safeInt = fc.oneof(
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.maxSafeNat().map((n) => Math.max(1, n)),
    );
    const limit = fc.oneof(
      fc.maxSafeNat().map((n): Notional => Math.max(1, n)),
      fc.bigInt({ min: BigInt(SAFE) + 1n, max: BigInt(SAFE) * BigInt(SAFE) }),
    );
    fc.assert(
      fc.property(safeInt, safeInt, limit, fc.integer({ min: -3, max: 3 }), (px, qty, lim, nudge) => {
        // Also limits right at the product (± a few units), where rounding would decide.
        const p = BigInt(px) * BigInt(qty) + BigInt(nudge);
        const near: Notional = p > BigInt(SAFE) ? p : Number(p < 1n ? 1n : p);
        expect(overNotional(px, qty, lim)).toBe(exact(px, qty, lim));
        expect(overNotional(px, qty, near)).toBe(exact(px, qty, near));
      }),
      { seed: 20261207, numRuns: 2_000 },
    );
  });
});
