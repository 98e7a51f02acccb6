// The seed paper's evaluation model on fixed inputs: its Table 2 in, its Table 3 out.
//
// The paper's Table 3 is printed in its full text (../shared/seeds/000_ec385e2465ccda46.txt, near
// line 1869), normalised over all five rows of its Table 2; SEED_TABLE_3_PRINTED holds it as
// printed and the test below recomputes every value from SEED_TABLE_2 and compares at the
// printed precision (three decimals; the printing drops trailing zeros, e.g. "0.6" for 0.5997).

import { describe, expect, it } from 'vitest';
import {
  minMaxNormalize,
  score,
  SEED_TABLE_2,
  SEED_SCENARIOS,
  SEED_TABLE_2_RAFT,
  SEED_TABLE_3,
  SEED_TABLE_3_PRINTED,
  table3,
  WEIGHTS_REAL_TIME,
  WEIGHTS_THROUGHPUT,
  winners,
} from '../../bench/suite/seed-model.js';

describe('minMaxNormalize', () => {
  it('maps the smallest value to 0 and the largest to 1', () => {
    expect(minMaxNormalize([2, 4, 10])).toEqual([0, 0.25, 1]);
  });

  it('inverts for latency: the smallest value maps to 1', () => {
    expect(minMaxNormalize([2, 4, 10], true)).toEqual([1, 0.75, 0]);
  });

  it('maps every value to 1 when max = min (nothing to discriminate)', () => {
    expect(minMaxNormalize([5, 5, 5])).toEqual([1, 1, 1]);
    expect(minMaxNormalize([5, 5, 5], true)).toEqual([1, 1, 1]);
    expect(minMaxNormalize([7])).toEqual([1]);
    expect(minMaxNormalize([])).toEqual([]);
  });

  it('refuses values that are not finite numbers', () => {
    expect(() => minMaxNormalize([1, Number.NaN])).toThrow(RangeError);
    expect(() => minMaxNormalize([1, Infinity])).toThrow(RangeError);
  });
});

describe('score', () => {
  it('is α·T_norm + β·Th_norm + γ·K_norm', () => {
    expect(score({ alpha: 0.5, beta: 0.3, gamma: 0.2 }, 1, 0, 1)).toBeCloseTo(0.7, 12);
    expect(score({ alpha: 0.3, beta: 0.5, gamma: 0.2 }, 0.5, 0.5, 0.5)).toBeCloseTo(0.5, 12);
  });

  it('has the two weightings of the paper', () => {
    expect([WEIGHTS_REAL_TIME.alpha, WEIGHTS_REAL_TIME.beta, WEIGHTS_REAL_TIME.gamma]).toEqual([0.5, 0.3, 0.2]);
    expect([WEIGHTS_THROUGHPUT.alpha, WEIGHTS_THROUGHPUT.beta, WEIGHTS_THROUGHPUT.gamma]).toEqual([0.3, 0.5, 0.2]);
  });
});

describe("the seed's Table 2 and printed Table 3", () => {
  it('holds the five printed Table 2 rows with the scenario definitions (1,000/s on 3 nodes, 10,000/s on 5, 50,000/s on 7)', () => {
    expect(
      SEED_TABLE_2.map((r) => [
        r.load,
        r.algorithm,
        r.nodes,
        r.offeredPerSec,
        r.avgLatencyMs,
        r.throughputPerSec,
        r.consistency,
      ]),
    ).toEqual([
      ['low', 'Raft', 3, 1000, 12, 980, 1.0],
      ['medium', 'Raft', 5, 10000, 38, 9450, 0.99],
      ['high', 'Raft', 7, 50000, 120, 46800, 0.97],
      ['medium', 'Paxos', 5, 10000, 45, 9200, 0.99],
      ['high', 'Paxos', 7, 50000, 135, 45000, 0.96],
    ]);
    expect(SEED_SCENARIOS).toEqual({
      low: { offeredPerSec: 1000, nodes: 3 },
      medium: { offeredPerSec: 10000, nodes: 5 },
      high: { offeredPerSec: 50000, nodes: 7 },
    });
    expect(SEED_TABLE_2_RAFT.map((r) => r.load)).toEqual(['low', 'medium', 'high']);
  });

  const t = table3(SEED_TABLE_2);

  it('is reproduced from the five Table 2 rows: every printed value, at the printed precision (three decimals)', () => {
    expect(t).toHaveLength(SEED_TABLE_3_PRINTED.length);
    let compared = 0;
    SEED_TABLE_3_PRINTED.forEach((p, i) => {
      const r = t[i]!;
      expect([SEED_TABLE_2[i]!.load, SEED_TABLE_2[i]!.algorithm]).toEqual([p.load, p.algorithm]);
      const pairs: [number, string][] = [
        [r.latencyNorm, p.latencyNorm],
        [r.throughputNorm, p.throughputNorm],
        [r.consistencyNorm, p.consistencyNorm],
        [r.scores[0]!, p.scores[0]],
        [r.scores[1]!, p.scores[1]],
      ];
      for (const [computed, shown] of pairs) {
        // The printing drops trailing zeros; "0.6" is 0.600 at three decimals.
        expect(shown).toMatch(/^[01]\.\d{1,3}$/);
        expect(computed.toFixed(3), `${p.load} ${p.algorithm}: printed ${shown}`).toBe(Number(shown).toFixed(3));
        compared++;
      }
    });
    expect(compared).toBe(25);
  });

  it('normalises over all five rows, latency inverted (exact fractions of the inputs)', () => {
    expect(t[1]!.latencyNorm).toBeCloseTo((135 - 38) / (135 - 12), 12);
    expect(t[3]!.throughputNorm).toBeCloseTo((9200 - 980) / (46800 - 980), 12);
    expect(t[2]!.consistencyNorm).toBeCloseTo((0.97 - 0.96) / (1 - 0.96), 12);
    t.forEach((r) => {
      expect(r.scores[0]).toBeCloseTo(0.5 * r.latencyNorm + 0.3 * r.throughputNorm + 0.2 * r.consistencyNorm, 12);
      expect(r.scores[1]).toBeCloseTo(0.3 * r.latencyNorm + 0.5 * r.throughputNorm + 0.2 * r.consistencyNorm, 12);
    });
  });

  it('is what SEED_TABLE_3 holds', () => {
    expect(SEED_TABLE_3).toEqual(t);
  });

  it('ranks as the paper finds: Raft above Paxos at equal load under both weightings; high-load Raft first under throughput priority', () => {
    for (const w of [0, 1]) {
      expect(t[1]!.scores[w]!).toBeGreaterThan(t[3]!.scores[w]!);
      expect(t[2]!.scores[w]!).toBeGreaterThan(t[4]!.scores[w]!);
    }
    expect(winners(t, 0)).toEqual([0]);
    expect(winners(t, 1)).toEqual([2]);
  });

  it('does not depend on the units: consistency as a percentage and latency in seconds give the same table', () => {
    const scaled = table3(
      SEED_TABLE_2.map((r) => ({ ...r, avgLatencyMs: r.avgLatencyMs / 1000, consistency: r.consistency * 100 })),
    );
    scaled.forEach((r, i) => {
      expect(r.scores[0]).toBeCloseTo(t[i]!.scores[0]!, 12);
      expect(r.scores[1]).toBeCloseTo(t[i]!.scores[1]!, 12);
    });
  });

  it('a wrong Table 2 figure does not reproduce the printed table (the comparison can fail)', () => {
    const wrong = table3(SEED_TABLE_2.map((r, i) => (i === 1 ? { ...r, avgLatencyMs: 40 } : r)));
    expect(wrong[1]!.latencyNorm.toFixed(3)).not.toBe(Number(SEED_TABLE_3_PRINTED[1]!.latencyNorm).toFixed(3));
  });
});
