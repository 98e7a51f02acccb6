// The seed paper's evaluation model on fixed inputs: its Table 2 in, its Table 3 out.
//
// The paper's printed Table 3 was not found (only its abstract is reachable from here), so the
// expected values are those of the stated method applied to its Table 2, written as exact
// fractions of the inputs, and checked also at two decimals (the precision such a table prints).

import { describe, expect, it } from 'vitest';
import {
  minMaxNormalize,
  score,
  SEED_TABLE_2,
  SEED_TABLE_3,
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

describe("the seed's Table 3 from its Table 2", () => {
  it('holds the printed Table 2 (Raft-based CQRS + Kafka, 7 nodes)', () => {
    expect(SEED_TABLE_2.map((r) => [r.avgLatencyMs, r.throughputPerSec, r.consistency])).toEqual([
      [12, 980, 1.0],
      [38, 9450, 0.99],
      [120, 46800, 0.97],
    ]);
  });

  const t = table3(SEED_TABLE_2);
  const tNorm = [1, (120 - 38) / (120 - 12), 0];
  const thNorm = [0, (9450 - 980) / (46800 - 980), 1];
  const kNorm = [1, 2 / 3, 0];

  it('normalises each metric by min–max over the three scenarios, latency inverted', () => {
    t.forEach((r, i) => {
      expect(r.latencyNorm).toBeCloseTo(tNorm[i]!, 12);
      expect(r.throughputNorm).toBeCloseTo(thNorm[i]!, 12);
      expect(r.consistencyNorm).toBeCloseTo(kNorm[i]!, 12);
    });
    expect(t.map((r) => [r.latencyNorm, r.throughputNorm, r.consistencyNorm].map((x) => x.toFixed(2)))).toEqual([
      ['1.00', '0.00', '1.00'],
      ['0.76', '0.18', '0.67'],
      ['0.00', '1.00', '0.00'],
    ]);
  });

  it('scores F under real-time priority (0.5, 0.3, 0.2) and throughput priority (0.3, 0.5, 0.2)', () => {
    t.forEach((r, i) => {
      expect(r.scores[0]).toBeCloseTo(0.5 * tNorm[i]! + 0.3 * thNorm[i]! + 0.2 * kNorm[i]!, 12);
      expect(r.scores[1]).toBeCloseTo(0.3 * tNorm[i]! + 0.5 * thNorm[i]! + 0.2 * kNorm[i]!, 12);
    });
    expect(t.map((r) => r.scores.map((f) => f.toFixed(2)))).toEqual([
      ['0.70', '0.50'],
      ['0.57', '0.45'],
      ['0.30', '0.50'],
    ]);
    expect(t.map((r) => r.scores.map((f) => f.toFixed(4)))).toEqual([
      ['0.7000', '0.5000'],
      ['0.5684', '0.4535'],
      ['0.3000', '0.5000'],
    ]);
  });

  it('is what SEED_TABLE_3 holds', () => {
    expect(SEED_TABLE_3).toEqual(t);
  });

  it('ranks low load first under real-time priority; low and high load tie under throughput priority', () => {
    expect(winners(t, 0)).toEqual([0]);
    expect(winners(t, 1)).toEqual([0, 2]);
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
});
