// `npm run bench:seed -- --paper [--consensus raft,multipaxos] [--seconds N] [--warmup S]
//                                [--protocol grpc|rest] [--fsync on|off] [--events-nice N] [--out F]`
//
// The seed paper's experiment as the paper ran it (paper-plan.ts: its three scenarios per
// consensus protocol), on the seed stack (stack.ts). Which protocols the replicas accept is
// found by trying: one replica is started with the cluster file's "consensus" set to the
// protocol; a refusal (replicator/cluster-config.ts) is printed and that protocol's rows are left
// out, never invented. Markdown tables on stdout (bench/suite/seed-paper-report.ts), then the
// JSON line (last line of stdout), also written to bench/results/seed-paper-<date>.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcessCluster, REPO_ROOT } from '../../replicator/process-cluster.js';
import { paperTables, seedPaperMarkdown, type PaperRun, type PaperScenario } from '../suite/seed-paper-report.js';
import { SEED_TABLE_2, SEED_TABLE_3_PRINTED } from '../suite/seed-model.js';
import { GENERATOR_LATE_MS_MAX } from './load.js';
import {
  parsePaperArgs,
  planPaper,
  type ConsensusAvailability,
  type PaperConsensus,
  type PaperPlan,
} from './paper-plan.js';

/** What bench-seed.ts's runScenario takes and gives, as far as this mode needs (injected: bench-seed.ts imports this file). */
export type RunScenario = (
  p: { protocol: 'grpc' | 'rest'; replicas: number; fsync: boolean; offeredPerSec: number; consensus: string },
  k: number,
  o: { seconds: number; warmupSeconds: number; eventsNice: number; injectFaults: boolean },
) => Promise<Omit<PaperScenario, 'consensus' | 'load'> & { totalSeconds: number }>;

const log = (line: string) => console.error(line);

/** The replica's refusal in a failed start's log: the ClusterConfigError line, if there is one. */
export function configRefusal(startError: string): string | undefined {
  const m = /ClusterConfigError: ([^\n]*)/.exec(startError);
  return m === null ? undefined : m[1]!.trim();
}

/** Tries `consensus` on one real replica process: accepted if it starts, else the error it died with. */
export async function probeConsensus(consensus: string): Promise<ConsensusAvailability> {
  const cluster = await ProcessCluster.create({ size: 1, fsync: false, consensus });
  try {
    await cluster.startAll();
    return { available: true };
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    const refusal = configRefusal(text);
    return refusal !== undefined
      ? { available: false, error: refusal, refusedByConfig: true }
      : { available: false, error: text.split('\n')[0]!, refusedByConfig: false };
  } finally {
    await Promise.all(cluster.ids.map((id) => cluster.terminate(id)));
    await cluster.stop();
  }
}

async function runPlans(
  plans: PaperPlan[],
  o: { seconds: number; warmupSeconds: number; eventsNice: number },
  runScenario: RunScenario,
): Promise<PaperScenario[]> {
  const out: PaperScenario[] = [];
  for (const [k, p] of plans.entries()) {
    log(
      `[${k + 1}/${plans.length}] ${p.consensus} ${p.load} load: ${p.replicas} replicas, ${p.offeredPerSec}/s offered over ${p.protocol}`,
    );
    const r = await runScenario(p, k, { ...o, injectFaults: false });
    out.push({ ...r, consensus: p.consensus, load: p.load });
    log(
      `  → achieved ${r.achievedPerSec ?? '-'}/s, avg ${r.avgMs ?? '-'} ms, K ${r.consistency ?? '-'}, CPU ${r.cpuUsPerOrder?.total ?? '-'} µs/order (${r.totalSeconds} s)`,
    );
  }
  return out;
}

export async function paperMain(argv: readonly string[], runScenario: RunScenario): Promise<void> {
  const opts = parsePaperArgs(argv);
  const started = performance.now();
  const loadAverageBefore = os.loadavg();
  const availability: Partial<Record<PaperConsensus, ConsensusAvailability>> = {};
  for (const c of opts.consensus) {
    availability[c] = await probeConsensus(c);
    log(`${c}: ${availability[c]!.available ? 'accepted by the replicas' : 'refused'}`);
  }
  const { plans, unavailable } = planPaper(opts, availability);
  for (const u of unavailable) console.log(u.line);
  const scenarios = await runPlans(plans, opts, runScenario);
  const date = new Date().toISOString().slice(0, 10);
  const out = opts.out ?? path.join(REPO_ROOT, `bench/results/seed-paper-${date}.json`);
  const run: PaperRun = {
    date,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    loadAverageBefore,
    loadAverageAfter: os.loadavg(),
    protocol: opts.protocol,
    fsync: opts.fsync,
    seconds: opts.seconds,
    warmupSeconds: opts.warmupSeconds,
    consensusRequested: opts.consensus,
    generatorLateMsMax: GENERATOR_LATE_MS_MAX,
    unavailable,
    scenarios,
  };
  console.log(seedPaperMarkdown(run, path.relative(REPO_ROOT, out), '#'));
  const json = {
    bench: 'seed-paper',
    ...run,
    totalSeconds: Math.round((performance.now() - started) / 1000),
    tables: { table2Paper: SEED_TABLE_2, table3PaperPrinted: SEED_TABLE_3_PRINTED, ...paperTables(scenarios) },
  };
  writeResults(out, json);
}

/** The results file (pretty) and the last stdout line (one line of JSON). */
export function writeResults(out: string, json: object): void {
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
  console.log(JSON.stringify(json));
}
