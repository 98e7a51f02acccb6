// The per-stage breakdown of a benchmark phase, from the exchange's own /metrics: the gateway's
// matchbook_gateway_stage_seconds (gateway/trace.ts) and the leader's
// matchbook_raft_entry_stage_seconds (replicator/entry-trace.ts), scraped before and after the
// phase; the difference gives, per stage, the count, the mean and p50/p99 read from the
// histogram buckets (the upper bound of the bucket the quantile falls in).

/** Cumulative bucket counts by upper bound, with sum and count, per stage. */
type Hist = { buckets: Map<number, number>; sum: number; count: number };
export type Scrape = Map<string, Hist>;

export interface StageFigures {
  n: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** Parses the histograms `metric` (label `stage`) out of Prometheus text; `prefix` names the stages. */
export function parseStages(text: string, metric: string, prefix: string, into: Scrape = new Map()): Scrape {
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (labels.stage === undefined) continue;
    const key = `${prefix}.${labels.stage}`;
    let h = into.get(key);
    if (h === undefined) into.set(key, (h = { buckets: new Map(), sum: 0, count: 0 }));
    const v = Number(m[3]);
    if (m[1] === `${metric}_bucket`) {
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      h.buckets.set(le, (h.buckets.get(le) ?? 0) + v);
    } else if (m[1] === `${metric}_sum`) h.sum += v;
    else if (m[1] === `${metric}_count`) h.count += v;
  }
  return into;
}

export async function scrape(gatewayMetricsUrl: string, replicaMetricsUrls: string[]): Promise<Scrape> {
  const out: Scrape = new Map();
  parseStages(await (await fetch(gatewayMetricsUrl)).text(), 'matchbook_gateway_stage_seconds', 'gateway', out);
  for (const u of replicaMetricsUrls) {
    try {
      parseStages(await (await fetch(u)).text(), 'matchbook_raft_entry_stage_seconds', 'leader', out);
    } catch {
      // a replica that does not answer adds nothing
    }
  }
  return out;
}

/** Per stage, what happened between two scrapes. */
export function stageDelta(before: Scrape, after: Scrape): Record<string, StageFigures> {
  const out: Record<string, StageFigures> = {};
  for (const [k, a] of after) {
    const b = before.get(k);
    const n = a.count - (b?.count ?? 0);
    if (n <= 0) continue;
    const les = [...a.buckets.keys()].sort((x, y) => x - y);
    const q = (p: number): number => {
      for (const le of les) if (a.buckets.get(le)! - (b?.buckets.get(le) ?? 0) >= p * n) return le;
      return Infinity;
    };
    const ms = (s: number) => (Number.isFinite(s) ? Math.round(s * 1e6) / 1000 : -1);
    out[k] = { n, meanMs: ms((a.sum - (b?.sum ?? 0)) / n), p50Ms: ms(q(0.5)), p99Ms: ms(q(0.99)) };
  }
  return out;
}
