import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntMap } from '../../engine/int-map.js';

describe('IntMap', () => {
  it('behaves like Map under random set/delete/get (keys up to 2^53, collisions forced by a small key space)', () => {
    const key = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
    const op = fc.oneof(
      fc.record({ t: fc.constant('set' as const), k: key, v: fc.integer({ min: 0, max: 1 << 30 }) }),
      fc.record({ t: fc.constant('del' as const), k: key }),
      fc.record({ t: fc.constant('get' as const), k: key }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
        const m = new IntMap(4);
        const ref = new Map<number, number>();
        for (const o of ops) {
          if (o.t === 'set') {
            m.set(o.k, o.v);
            ref.set(o.k, o.v);
          } else if (o.t === 'del') {
            expect(m.delete(o.k)).toBe(ref.delete(o.k));
          } else {
            expect(m.get(o.k)).toBe(ref.get(o.k) ?? -1);
          }
          expect(m.size).toBe(ref.size);
        }
        for (const [k, v] of ref) expect(m.get(k)).toBe(v);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it('answers -1 for negative keys instead of aliasing empty cells', () => {
    const m = new IntMap();
    m.set(5, 3);
    expect(m.get(-1)).toBe(-1);
    expect(m.delete(-1)).toBe(false);
    expect(() => m.set(-1, 1)).toThrow(RangeError);
  });
});
