// The seed paper's evaluation model (Humeniuk, "Development and optimization of distributed
// high-performance systems with real-time data consistency", 2025): each scenario is scored by
//
//   F = α·T_norm + β·Th_norm + γ·K_norm
//
// where T is the average latency, Th the throughput and K the consistency ratio, each min–max
// normalised over the scenarios being compared (latency inverted: the fastest scenario gets 1,
// the slowest 0). Its Table 2 gives the measured figures of a CQRS + Kafka system in five
// scenarios — low load (1,000 req/s offered, 3 nodes), medium (10,000/s, 5 nodes) and high
// (50,000/s, 7 nodes) with Raft, medium and high with Paxos; its Table 3 the normalised values
// and F under two weightings, normalised over all five rows.
//
// Source: the paper's full text (../shared/seeds/000_ec385e2465ccda46.txt; scenario definitions
// and Table 2 near line 1765, Table 3 near line 1869). SEED_TABLE_2 is its Table 2 as printed;
// SEED_TABLE_3_PRINTED its Table 3 as printed; test/bench/seed-model.test.ts checks that table3()
// applied to SEED_TABLE_2 reproduces every printed value at the printed precision.
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

export type SeedLoad = 'low' | 'medium' | 'high';
export type SeedAlgorithm = 'Raft' | 'Paxos';

/** One row of the paper's Table 2: a scenario as the paper defines it, and what it measured. */
export interface SeedRow extends ScenarioRow {
  load: SeedLoad;
  /** Requests per second offered (the paper's scenario definition). */
  offeredPerSec: number;
  nodes: number;
  algorithm: SeedAlgorithm;
}

/** The paper's scenario definitions: offered rate and node count per load level. */
export const SEED_SCENARIOS: Readonly<Record<SeedLoad, { offeredPerSec: number; nodes: number }>> = {
  low: { offeredPerSec: 1_000, nodes: 3 },
  medium: { offeredPerSec: 10_000, nodes: 5 },
  high: { offeredPerSec: 50_000, nodes: 7 },
};

function seedRow(
  load: SeedLoad,
  algorithm: SeedAlgorithm,
  avgLatencyMs: number,
  throughputPerSec: number,
  consistencyPct: number,
): SeedRow {
  return {
    name: `${load} load (${algorithm})`,
    load,
    ...SEED_SCENARIOS[load],
    algorithm,
    avgLatencyMs,
    throughputPerSec,
    consistency: consistencyPct / 100,
  };
}

/** The paper's Table 2, in its order: three Raft rows, then two Paxos rows (there is no low-load Paxos row). */
export const SEED_TABLE_2: readonly SeedRow[] = [
  seedRow('low', 'Raft', 12, 980, 100),
  seedRow('medium', 'Raft', 38, 9_450, 99),
  seedRow('high', 'Raft', 120, 46_800, 97),
  seedRow('medium', 'Paxos', 45, 9_200, 99),
  seedRow('high', 'Paxos', 135, 45_000, 96),
];
/** The Raft rows of Table 2, one per load level (low, medium, high). */
export const SEED_TABLE_2_RAFT: readonly SeedRow[] = SEED_TABLE_2.filter((r) => r.algorithm === 'Raft');
export const SEED_SYSTEM = 'CQRS + Kafka';

/** Table 3 computed from all five rows of SEED_TABLE_2, as the paper normalises it. */
export const SEED_TABLE_3: readonly Table3Row[] = table3(SEED_TABLE_2);

/**
 * The paper's Table 3 exactly as printed, as strings: T_norm, Th_norm, K_norm, F (real-time),
 * F (throughput). The printing rounds to three decimals and drops trailing zeros ("1.0", "0.7",
 * "0.6" for 0.5997, "0.57", "0.75", "0.48"), so each value is a three-decimal rounding.
 */
export const SEED_TABLE_3_PRINTED: readonly {
  load: SeedLoad;
  algorithm: SeedAlgorithm;
  latencyNorm: string;
  throughputNorm: string;
  consistencyNorm: string;
  scores: readonly [string, string];
}[] = [
  printed('low', 'Raft', '1.0', '0.0', '1.0', '0.7', '0.5'),
  printed('medium', 'Raft', '0.789', '0.185', '0.75', '0.6', '0.479'),
  printed('high', 'Raft', '0.122', '1.0', '0.25', '0.411', '0.587'),
  printed('medium', 'Paxos', '0.732', '0.179', '0.75', '0.57', '0.459'),
  printed('high', 'Paxos', '0.0', '0.961', '0.0', '0.288', '0.48'),
];

function printed(
  load: SeedLoad,
  algorithm: SeedAlgorithm,
  latencyNorm: string,
  throughputNorm: string,
  consistencyNorm: string,
  fRealTime: string,
  fThroughput: string,
) {
  return { load, algorithm, latencyNorm, throughputNorm, consistencyNorm, scores: [fRealTime, fThroughput] as const };
}
