// Latency samples summarised the same way by every latency benchmark (bench-latency.ts,
// bench/fix/bench-fix.ts): count, p50/p90/p99 (nearest rank), max and mean, in ms to the µs.

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samplesMs: number[]): Summary {
  const s = [...samplesMs].sort((x, y) => x - y);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const r = (v: number) => Math.round(v * 1000) / 1000;
  return {
    n: s.length,
    p50: r(q(0.5)),
    p90: r(q(0.9)),
    p99: r(q(0.99)),
    max: r(s[s.length - 1]!),
    mean: r(s.reduce((x, y) => x + y, 0) / s.length),
  };
}
