import fc from 'fast-check';
import { parse } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { jsonStringifyExact } from '../../api/json-exact.js';

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
