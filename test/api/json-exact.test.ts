import fc from 'fast-check';
import { parse } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { jsonStringifyExact, parseJsonExact } from '../../api/json-exact.js';

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

describe('parseJsonExact', () => {
  it('is the inverse of jsonStringifyExact: a bigint above 2^53 − 1 back as that bigint, safe integers as numbers', () => {
    fc.assert(
      // (JSON values without a 16-digit run: an unsafe integer among them would come back a bigint, by design.)
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.jsonValue().filter((v) => !/\d{16}/.test(JSON.stringify(v))),
        (n, v) => {
          const back = parseJsonExact(jsonStringifyExact({ n, v })) as { n: number | bigint; v: unknown };
          expect(back.n).toBe(n > BigInt(Number.MAX_SAFE_INTEGER) ? n : Number(n));
          expect(back.v).toEqual(JSON.parse(JSON.stringify(v)));
        },
      ),
    );
  });

  it('throws a SyntaxError on text that is not JSON, on both paths', () => {
    expect(() => parseJsonExact('{"a":')).toThrow(SyntaxError);
    expect(() => parseJsonExact('{"a":12345678901234567890')).toThrow(SyntaxError);
  });
});
