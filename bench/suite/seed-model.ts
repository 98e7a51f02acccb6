// The seed paper's evaluation model (Humeniuk, "Development and optimization of distributed
// high-performance systems with real-time data consistency", 2025): each scenario is scored by
//
//   F = α·T_norm + β·Th_norm + γ·K_norm
//
// where T is the average latency, Th the throughput and K the consistency ratio, each min–max
// normalised over the scenarios being compared (latency inverted: the fastest scenario gets 1,
// the slowest 0). Its Table 2 gives the measured figures of a Raft-based CQRS + Kafka system on
// 7 nodes; its Table 3 the normalised values and F under two weightings.
//
// The paper's printed Table 3 could not be found in any source reachable from here (only its
// abstract is), so SEED_TABLE_3 below is computed from the printed Table 2 by the stated
// method, not copied; test/bench/seed-model.test.ts pins those computed values.
//
// Pure functions only: no I/O, no clock.

export interface Weights {
  /** Weight of the (inverted) latency term. */
  alpha: number;
  /** Weight of the throughput term. */
  beta: number;
  /** Weight of the consistency term. */
  gamma: number;
}

export interface NamedWeights extends Weights {
  name: string;
}

/** The paper's "real-time priority" weighting: latency first. */
export const WEIGHTS_REAL_TIME: NamedWeights = { name: 'real-time priority', alpha: 0.5, beta: 0.3, gamma: 0.2 };
/** The paper's "throughput priority" weighting. */
export const WEIGHTS_THROUGHPUT: NamedWeights = { name: 'throughput priority', alpha: 0.3, beta: 0.5, gamma: 0.2 };
export const SEED_WEIGHTINGS: readonly NamedWeights[] = [WEIGHTS_REAL_TIME, WEIGHTS_THROUGHPUT];

export interface ScenarioRow {
  name: string;
  avgLatencyMs: number;
  throughputPerSec: number;
  /** Share of reads that saw the latest committed state, in [0, 1]. */
  consistency: number;
}

export interface Table3Row {
  name: string;
  /** T, Th, K as given. */
  avgLatencyMs: number;
  throughputPerSec: number;
  consistency: number;
  latencyNorm: number;
  throughputNorm: number;
  consistencyNorm: number;
  /** F under each weighting, in the order the weightings were given. */
  scores: number[];
}

/**
 * Min–max normalisation of `values` into [0, 1]; with `invert`, the smallest value maps to 1
 * (for latency, where less is better). Degenerate case max = min (one scenario, or all equal):
 * every value maps to 1 — no scenario is worse than another on this metric, so each is as good
 * as the best; the term then adds the same constant to every F and cannot change the ranking.
 */
export function minMaxNormalize(values: readonly number[], invert = false): number[] {
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`minMaxNormalize: not a finite number: ${v}`);
  if (values.length === 0) return [];
  let min = values[0]!;
  let max = values[0]!;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max - min;
  if (span === 0) return values.map(() => 1);
  return values.map((v) => (invert ? (max - v) / span : (v - min) / span));
}

/** F = α·T_norm + β·Th_norm + γ·K_norm. */
export function score(weights: Weights, latencyNorm: number, throughputNorm: number, consistencyNorm: number): number {
  return weights.alpha * latencyNorm + weights.beta * throughputNorm + weights.gamma * consistencyNorm;
}

/** The paper's Table 3 for any set of scenarios: normalise each metric over `rows`, then F under each weighting. */
export function table3(rows: readonly ScenarioRow[], weightings: readonly Weights[] = SEED_WEIGHTINGS): Table3Row[] {
  const t = minMaxNormalize(
    rows.map((r) => r.avgLatencyMs),
    true,
  );
  const th = minMaxNormalize(rows.map((r) => r.throughputPerSec));
  const k = minMaxNormalize(rows.map((r) => r.consistency));
  return rows.map((r, i) => ({
    name: r.name,
    avgLatencyMs: r.avgLatencyMs,
    throughputPerSec: r.throughputPerSec,
    consistency: r.consistency,
    latencyNorm: t[i]!,
    throughputNorm: th[i]!,
    consistencyNorm: k[i]!,
    scores: weightings.map((w) => score(w, t[i]!, th[i]!, k[i]!)),
  }));
}

/** Two scores closer than this are a tie (the paper prints two decimals; this only absorbs float error). */
export const SCORE_TIE_EPSILON = 1e-9;

/** Indexes of the rows with the highest score under weighting `w` (more than one on a tie). */
export function winners(rows: readonly Table3Row[], w: number): number[] {
  if (rows.length === 0) return [];
  let best = -Infinity;
  for (const r of rows) best = Math.max(best, r.scores[w]!);
  const out: number[] = [];
  rows.forEach((r, i) => {
    if (best - r.scores[w]! <= SCORE_TIE_EPSILON) out.push(i);
  });
  return out;
}

/** The paper's Table 2: a Raft-based CQRS + Kafka system on 7 nodes, three load levels. */
export const SEED_TABLE_2: readonly ScenarioRow[] = [
  { name: 'low load', avgLatencyMs: 12, throughputPerSec: 980, consistency: 1.0 },
  { name: 'medium load', avgLatencyMs: 38, throughputPerSec: 9450, consistency: 0.99 },
  { name: 'high load', avgLatencyMs: 120, throughputPerSec: 46_800, consistency: 0.97 },
];
export const SEED_NODES = 7;
export const SEED_SYSTEM = 'Raft-based CQRS + Kafka';

/**
 * Table 3 computed from SEED_TABLE_2 (see the file header: the printed table was not found).
 * To 4 decimals: T_norm 1, 0.7593, 0; Th_norm 0, 0.1849, 1; K_norm 1, 0.6667, 0;
 * F real-time 0.7000, 0.5684, 0.3000; F throughput 0.5000, 0.4535, 0.5000 (low and high tie).
 */
export const SEED_TABLE_3: readonly Table3Row[] = table3(SEED_TABLE_2);
