// api/decimal.ts: exact decimal strings ↔ integer units (property tests against a BigInt
// reference written out digit by digit, and the round trips the issue asks for).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DECIMALS_MAX, formatUnits, parseDecimal, shiftPoint } from '../../api/decimal.js';
import { DECIMAL_STRING_CHARS_MAX } from '../../api/limits.js';
import { fcParams } from '../fuzz/harness.js';

const decimalsArb = fc.integer({ min: 0, max: DECIMALS_MAX });
/** Units up to 2^64 (beyond 2^53: wide instruments) — what a uint64 field can carry. */
const unitsArb = fc.bigInt({ min: 0n, max: 2n ** 64n });
const digitsArb = (min: number, max: number) =>
  fc.array(fc.constantFrom(...'0123456789'), { minLength: min, maxLength: max }).map((a) => a.join(''));

/** The reference: value of "int.frac" × 10^decimals, by integer arithmetic on the parts. */
function reference(int: string, frac: string, decimals: number): bigint {
  return (
    BigInt(int) * 10n ** BigInt(decimals) + (frac === '' ? 0n : BigInt(frac) * 10n ** BigInt(decimals - frac.length))
  );
}

describe('parseDecimal / formatUnits', () => {
  it('units → string → units is the identity for every unit value up to 2^64, and the string has exactly `decimals` decimals', () => {
    fc.assert(
      fc.property(unitsArb, decimalsArb, (u, d) => {
        const s = formatUnits(u, d);
        expect(s.includes('.') ? s.length - s.indexOf('.') - 1 : 0).toBe(d);
        expect(parseDecimal(s, d)).toEqual({ ok: true, units: u });
      }),
      fcParams(2_000),
    );
  });

  it('string → units → string is the identity for every canonical string', () => {
    // Canonical: no leading zero (but "0"), exactly `decimals` digits after the point.
    const canonical = decimalsArb.chain((d) =>
      fc
        .tuple(
          fc.oneof(
            fc.constant('0'),
            fc.tuple(fc.constantFrom(...'123456789'), digitsArb(0, 19)).map(([a, b]) => a + b),
          ),
          digitsArb(d, d),
        )
        .map(([int, frac]) => ({ d, s: d === 0 ? int : `${int}.${frac}` })),
    );
    fc.assert(
      fc.property(canonical, ({ d, s }) => {
        const p = parseDecimal(s, d);
        expect(p.ok).toBe(true);
        if (p.ok) expect(formatUnits(p.units, d)).toBe(s);
      }),
      fcParams(2_000),
    );
  });

  it('any valid string (leading zeros, fewer decimals) converts to the reference value', () => {
    const valid = decimalsArb.chain((d) => fc.tuple(fc.constant(d), digitsArb(1, 15), digitsArb(0, d), fc.boolean()));
    fc.assert(
      fc.property(valid, ([d, int, frac, point]) => {
        const s = point && frac !== '' ? `${int}.${frac}` : int;
        const f = point && frac !== '' ? frac : '';
        expect(parseDecimal(s, d)).toEqual({ ok: true, units: reference(int, f, d) });
      }),
      fcParams(2_000),
    );
  });

  it('more digits after the point than `decimals` is PRECISION, trailing zeros included — never rounded', () => {
    const tooPrecise = decimalsArb
      .filter((d) => d < DECIMALS_MAX)
      .chain((d) => fc.tuple(fc.constant(d), digitsArb(1, 10), digitsArb(d + 1, DECIMALS_MAX + 1)));
    fc.assert(
      fc.property(tooPrecise, ([d, int, frac]) => {
        expect(parseDecimal(`${int}.${frac}`, d)).toEqual({ ok: false, error: 'PRECISION' });
      }),
      fcParams(2_000),
    );
    expect(parseDecimal('49990.500', 2)).toEqual({ ok: false, error: 'PRECISION' });
    expect(parseDecimal('1.0', 0)).toEqual({ ok: false, error: 'PRECISION' });
  });

  it('refuses everything outside the grammar', () => {
    for (const s of [
      '',
      '.',
      '.5',
      '5.',
      '+5',
      '-5',
      '-0',
      ' 5',
      '5 ',
      '5e3',
      '5E3',
      '1,000',
      '1_000',
      '0x10',
      '1.2.3',
      'NaN',
      'Infinity',
      '٣',
      '５',
    ])
      expect(parseDecimal(s, 2), JSON.stringify(s)).toEqual({ ok: false, error: 'SYNTAX' });
    expect(parseDecimal('1'.repeat(DECIMAL_STRING_CHARS_MAX), 0).ok).toBe(true);
    expect(parseDecimal('1'.repeat(DECIMAL_STRING_CHARS_MAX + 1), 0)).toEqual({ ok: false, error: 'TOO_LONG' });
    expect(parseDecimal(12 as unknown as string, 2)).toEqual({ ok: false, error: 'SYNTAX' });
  });

  it('arbitrary strings never throw and never yield a value the grammar does not allow', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 50 }), decimalsArb, (s, d) => {
        const p = parseDecimal(s, d);
        if (p.ok) expect(/^[0-9]+(\.[0-9]+)?$/.test(s) && s.length <= DECIMAL_STRING_CHARS_MAX).toBe(true);
      }),
      fcParams(2_000),
    );
  });

  it('a number and the same bigint format alike; examples; negative values get a sign', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), decimalsArb, (n, d) => {
        expect(formatUnits(n, d)).toBe(formatUnits(BigInt(n), d));
      }),
      fcParams(1_000),
    );
    expect(formatUnits(4_999_000, 2)).toBe('49990.00');
    expect(formatUnits(10, 4)).toBe('0.0010');
    expect(formatUnits(0, 3)).toBe('0.000');
    expect(formatUnits(7, 0)).toBe('7');
    expect(formatUnits(-5, 2)).toBe('-0.05');
    expect(formatUnits(10n ** 19n, 10)).toBe('1000000000.0000000000');
    expect(() => formatUnits(0.5, 2)).toThrow(RangeError);
    expect(() => formatUnits(2 ** 53, 2)).toThrow(RangeError);
  });

  it('shiftPoint moves the point left exactly (avg_px in display units)', () => {
    expect(shiftPoint('5000033.33333333', 8, 10)).toBe('50000.3333333333');
    expect(shiftPoint('0.00000000', 8, 10)).toBe('0.0000000000');
    expect(shiftPoint('7', 0, 0)).toBe('7');
    fc.assert(
      fc.property(unitsArb, fc.integer({ min: 0, max: 20 }), (u, k) => {
        expect(shiftPoint(formatUnits(u, 8), 8, 8 + k)).toBe(formatUnits(u, 8 + k));
      }),
      fcParams(1_000),
    );
    expect(() => shiftPoint('1.5', 8, 10)).toThrow(RangeError);
  });
});
