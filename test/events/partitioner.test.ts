// Key → partition as Kafka's Java client computes it (the vectors are Kafka's own UtilsTest).
import { describe, expect, it } from 'vitest';
import { murmur2, partitionOf } from '../../events/partitioner.js';

describe('partitioner', () => {
  it('murmur2 matches the Java client', () => {
    const cases: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [s, h] of cases) expect(murmur2(Buffer.from(s, 'utf8')), s).toBe(h);
  });

  it('spreads keys over every partition and stays in range', () => {
    const seen = new Set<number>();
    for (let a = 1; a <= 200; a++) {
      const p = partitionOf(Buffer.from(String(a)), 4);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(4);
      seen.add(p);
    }
    expect(seen.size).toBe(4);
    expect(() => partitionOf(Buffer.from('x'), 0)).toThrow(RangeError);
  });
});
