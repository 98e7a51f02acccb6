import fc from 'fast-check';
import { parse } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { jsonParseExact, jsonStringifyExact } from '../../api/json-exact.js';

describe('jsonStringifyExact', () => {
  it('is JSON.stringify for values without a bigint', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(jsonStringifyExact(v)).toBe(JSON.stringify(v));
      }),
    );
  });

  it('writes a bigint as its exact integer literal, nested anywhere, strings untouched', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 106n) - 1n }), fc.string(), (n, s) => {
        const text = jsonStringifyExact({ a: [{ cum_notional: n }], s, k: 1 });
        expect(text).toBe(`{"a":[{"cum_notional":${n}}],"s":${JSON.stringify(s)},"k":1}`);
        const back = parse(text, undefined, (v) => BigInt(v)) as { a: { cum_notional: bigint }[] };
        expect(back.a[0]!.cum_notional).toBe(n);
      }),
    );
  });

  it('rethrows what is not about a bigint (a cycle)', () => {
    const o: Record<string, unknown> = {};
    o.self = o;
    expect(() => jsonStringifyExact(o)).toThrow(TypeError);
    expect(() => jsonStringifyExact(o)).not.toThrow(/BigInt/);
  });
});

describe('jsonParseExact', () => {
  it('is JSON.parse for JSON without an integer beyond 2^53 − 1 (16-digit strings, floats and all)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = JSON.stringify(v);
        const wide = /(^|[^0-9.eE+-])-?[0-9]{16,}(?![0-9.eE])/.test(text.replace(/"(?:[^"\\]|\\.)*"/g, '""'));
        if (!wide) expect(jsonParseExact(text)).toEqual(JSON.parse(text));
      }),
    );
    expect(jsonParseExact('{"id":"x,1234567890123456789","n":[1,2.5,-0,1e300]}')).toEqual({
      id: 'x,1234567890123456789',
      n: [1, 2.5, -0, 1e300],
    });
  });

  it('reads an integer above 2^53 − 1 as the exact bigint, a safe one as a number: the round trip of jsonStringifyExact', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(1n << 106n), max: 1n << 106n }), fc.string(), (n, s) => {
        const back = jsonParseExact(jsonStringifyExact({ a: [{ cum_notional: n }], s })) as {
          a: { cum_notional: unknown }[];
          s: string;
        };
        const safe = n >= -BigInt(Number.MAX_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER);
        expect(back.a[0]!.cum_notional).toBe(safe ? Number(n) : n);
        expect(back.s).toBe(s);
      }),
    );
    expect(jsonParseExact('[9007199254740991,9007199254740992,12345678901234567.5]')).toEqual([
      9_007_199_254_740_991,
      9_007_199_254_740_992n,
      12_345_678_901_234_568,
    ]);
  });
});

describe('jsonParseExact on text that is not JSON', () => {
  it('throws a SyntaxError on both paths (JSON.parse and the exact one)', () => {
    expect(() => jsonParseExact('{"a":')).toThrow(SyntaxError);
    expect(() => jsonParseExact('{"a":12345678901234567890')).toThrow(SyntaxError);
  });
});
