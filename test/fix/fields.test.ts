// fix/fields.ts: FIX 4.4 field types parsed and formatted exactly (no floats).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatUtcTimestamp,
  isFixDate,
  isFixMonthYear,
  parseFixBoolean,
  parseFixDecimal,
  parseFixInt,
  parseUtcTimeOnly,
  parseUtcTimestamp,
} from '../../fix/fields.js';
import { FIX_DECIMAL_CHARS_MAX, FIX_INT_CHARS_MAX } from '../../fix/limits.js';

describe('parseFixDecimal', () => {
  it('returns the canonical decimal string', () => {
    const cases: [string, string][] = [
      ['50000.25', '50000.25'],
      ['1.50', '1.5'],
      ['007.50', '7.5'],
      ['.5', '0.5'],
      ['1.', '1'],
      ['0', '0'],
      ['000', '0'],
      ['-0.0', '0'],
      ['-12.340', '-12.34'],
      ['0.000000000000000001', '0.000000000000000001'],
      ['123456789012345678901234567890', '123456789012345678901234567890'],
    ];
    for (const [text, canonical] of cases) expect(parseFixDecimal(text), text).toBe(canonical);
  });

  it('keeps digits a float would lose', () => {
    expect(parseFixDecimal('9007199254740993.000000000000000001')).toBe('9007199254740993.000000000000000001');
  });

  it('refuses what is not a FIX decimal', () => {
    for (const text of [
      '',
      '-',
      '.',
      '-.',
      '+1',
      '1e5',
      '1E5',
      ' 1',
      '1 ',
      '1,5',
      '1.2.3',
      'NaN',
      'Infinity',
      '0x10',
      '١',
    ])
      expect(parseFixDecimal(text), JSON.stringify(text)).toBeUndefined();
  });

  it('refuses over FIX_DECIMAL_CHARS_MAX characters', () => {
    expect(parseFixDecimal('1'.repeat(FIX_DECIMAL_CHARS_MAX))).toBe('1'.repeat(FIX_DECIMAL_CHARS_MAX));
    expect(parseFixDecimal('1'.repeat(FIX_DECIMAL_CHARS_MAX + 1))).toBeUndefined();
  });
});

describe('parseFixInt', () => {
  it('parses integers with an optional minus sign and leading zeros', () => {
    expect(parseFixInt('0')).toBe(0);
    expect(parseFixInt('-0')).toBe(0);
    expect(Object.is(parseFixInt('-0'), 0)).toBe(true);
    expect(parseFixInt('007')).toBe(7);
    expect(parseFixInt('-42')).toBe(-42);
    expect(parseFixInt('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseFixInt('-9007199254740991')).toBe(-Number.MAX_SAFE_INTEGER);
  });

  it('refuses malformed, unsafe and overlong integers', () => {
    for (const text of [
      '',
      '-',
      '+1',
      '1.0',
      '1e3',
      ' 1',
      '0x1',
      '9007199254740992',
      '1'.repeat(FIX_INT_CHARS_MAX + 1),
    ])
      expect(parseFixInt(text), text).toBeUndefined();
  });
});

describe('parseFixBoolean', () => {
  it('is Y or N, case-sensitive', () => {
    expect(parseFixBoolean('Y')).toBe(true);
    expect(parseFixBoolean('N')).toBe(false);
    for (const text of ['y', 'n', 'YES', '', '1', 'true']) expect(parseFixBoolean(text)).toBeUndefined();
  });
});

describe('UTCTimestamp', () => {
  it('parses with and without milliseconds', () => {
    expect(parseUtcTimestamp('20261207-14:19:55')).toBe(Date.UTC(2026, 11, 7, 14, 19, 55));
    expect(parseUtcTimestamp('20261207-14:19:55.123')).toBe(Date.UTC(2026, 11, 7, 14, 19, 55, 123));
    expect(parseUtcTimestamp('19700101-00:00:00.000')).toBe(0);
    expect(parseUtcTimestamp('20240229-23:59:59.999')).toBe(Date.UTC(2024, 1, 29, 23, 59, 59, 999));
    expect(new Date(parseUtcTimestamp('00000229-00:00:00')!).toISOString()).toBe('0000-02-29T00:00:00.000Z');
    expect(new Date(parseUtcTimestamp('00991231-23:59:59')!).toISOString()).toBe('0099-12-31T23:59:59.000Z');
  });

  it('accepts a leap second as the next minute’s first second', () => {
    expect(parseUtcTimestamp('20161231-23:59:60')).toBe(Date.UTC(2017, 0, 1, 0, 0, 0));
  });

  it('refuses malformed and impossible times, and the FIX 5.0 micro/nano forms', () => {
    for (const text of [
      '',
      '20261207',
      '20261207-14:19',
      '20261207 14:19:55',
      '20261207-14:19:55.12',
      '20261207-14:19:55.123456',
      '20261207-14:19:55.123456789',
      '20261207-24:00:00',
      '20261207-23:60:00',
      '20261207-23:59:61',
      '20261307-00:00:00',
      '20260230-00:00:00',
      '20230229-00:00:00',
      '19000229-00:00:00',
      '20261200-00:00:00',
      '2026120x-00:00:00',
      '20261207-14:19:55,123',
      '20261207-14-19-55',
      '+2026120-14:19:55',
    ])
      expect(parseUtcTimestamp(text), text).toBeUndefined();
  });

  it('formats with milliseconds and round-trips', () => {
    expect(formatUtcTimestamp(Date.UTC(2026, 11, 7, 14, 19, 55, 7))).toBe('20261207-14:19:55.007');
    expect(formatUtcTimestamp(0)).toBe('19700101-00:00:00.000');
    for (const ms of [
      0,
      1,
      999,
      1_780_000_000_123,
      Date.UTC(2024, 1, 29, 23, 59, 59, 999),
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    ])
      expect(parseUtcTimestamp(formatUtcTimestamp(ms))).toBe(ms);
    expect(() => formatUtcTimestamp(1.5)).toThrow(RangeError);
    expect(() => formatUtcTimestamp(Number.NaN)).toThrow(RangeError);
    expect(() => formatUtcTimestamp(Date.UTC(10000, 0, 1))).toThrow(RangeError);
  });
});

describe('dates and times', () => {
  it('UTCTimeOnly is HH:MM:SS[.sss]', () => {
    expect(parseUtcTimeOnly('14:19:55')).toBe(((14 * 60 + 19) * 60 + 55) * 1000);
    expect(parseUtcTimeOnly('00:00:00.001')).toBe(1);
    for (const text of ['24:00:00', '1:00:00', '14:19:55.1', '14:19']) expect(parseUtcTimeOnly(text)).toBeUndefined();
  });

  it('UTCDateOnly / LocalMktDate is a real YYYYMMDD', () => {
    expect(isFixDate('20261207')).toBe(true);
    expect(isFixDate('20240229')).toBe(true);
    for (const text of ['20230229', '2026127', '202612070', '20261232', '2026-12-07'])
      expect(isFixDate(text)).toBe(false);
  });

  it('MonthYear is YYYYMM, YYYYMMDD or YYYYMMwN', () => {
    for (const text of ['202612', '20261207', '202612w1', '202612w5']) expect(isFixMonthYear(text), text).toBe(true);
    for (const text of ['202613', '20261232', '202612w0', '202612w6', '2026', '202612x1'])
      expect(isFixMonthYear(text), text).toBe(false);
  });
});

describe('properties (fast-check, seeded)', () => {
  const params = { seed: 20261207, numRuns: 2000 };
  /** A decimal string's value as an integer of 10^-60 units, via BigInt: the oracle for parseFixDecimal. */
  const scaled = (text: string): bigint => {
    const negative = text.startsWith('-');
    const [whole = '', fraction = ''] = (negative ? text.slice(1) : text).split('.');
    const units = BigInt(`${whole || '0'}${fraction.padEnd(60, '0')}`);
    return negative ? -units : units;
  };

  it('parseFixDecimal keeps the value exactly, and its output is canonical and a fixed point', () => {
    const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: 18 });
    const decimal = fc
      .tuple(fc.boolean(), digits, fc.boolean(), digits)
      .map(([neg, whole, point, fraction]) => `${neg ? '-' : ''}${whole}${point ? '.' : ''}${point ? fraction : ''}`)
      .filter((t) => /[0-9]/.test(t));
    fc.assert(
      fc.property(decimal, (text) => {
        const canonical = parseFixDecimal(text);
        expect(canonical).toBeDefined();
        expect(scaled(canonical!)).toBe(scaled(text));
        expect(canonical).toMatch(/^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$/);
        expect(canonical).not.toBe('-0');
        expect(parseFixDecimal(canonical!)).toBe(canonical);
      }),
      params,
    );
  });

  it('formatUtcTimestamp agrees with Date#toISOString and parseUtcTimestamp inverts it, years 0000–9999', () => {
    const ms = fc.integer({
      min: Date.UTC(2000, 0, 1) - 730_485 * 86_400_000,
      max: Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    });
    fc.assert(
      fc.property(ms, (t) => {
        const iso = new Date(t).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ for these years
        const text = formatUtcTimestamp(t);
        expect(text).toBe(`${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 23)}`);
        expect(parseUtcTimestamp(text)).toBe(t);
        expect(parseUtcTimestamp(text.slice(0, 17))).toBe(t - (((t % 1000) + 1000) % 1000));
      }),
      params,
    );
  });
});
