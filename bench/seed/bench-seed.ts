// Seed-scenario benchmark (issue 8): the load levels of the seed paper (Humeniuk 2025: a
// CQRS + Kafka system with Raft — 980 req/s at 12 ms average latency on 3 nodes, 9,450 at 38 ms
// on 5, 46,800 at 120 ms on 7; consistency 100%, 99%, 97%) offered to this exchange, end to end,
// across replica counts, fsync modes and order-entry protocols. `--paper` (paper.ts) runs the
// paper's own experiment instead: its three scenarios with its node counts, per consensus protocol.
//
//   npm run bench:seed [-- --quick] [--protocols rest,grpc] [--replicas 1,3,5] [--fsync on,off]
//                         [--rates 1000,10000,50000] [--seconds N] [--warmup S] [--out FILE]
//   npm run bench:seed -- --paper [--consensus raft,multipaxos] …   the paper's own experiment (paper.ts)
//
// Per scenario (protocol × replicas × fsync × offered rate) a fresh exchange as processes
// (stack.ts: N replicas, gateway, broker, publisher, read models); orders offered open loop at
// the fixed rate through the gateway for warm-up + N seconds (load.ts; latency from each order's
// scheduled send time, HDR histogram, acknowledged orders scheduled after the warm-up); then
// the consistency ratio K measured on the replicas' logs and the read models (verify.ts).
//
// Full: every combination of the lists (default 2 × 3 × 2 × 3 = 36 scenarios, 10 s each after
// a 1 s warm-up). --quick: 3 s after a 0.5 s warm-up and, unless lists are given on the command
// line, the subset QUICK_PLAN (every load level, replica count, fsync mode and protocol, in 15
// scenarios rather than 36: a star around gRPC / 3 replicas / fsync on). Table on stdout, then
// the JSON line (last line of stdout), also written to bench/results/seed-<date>.json.

import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../../replicator/process-cluster.js';
import {
  GENERATOR_LATE_MS_MAX,
  GRPC_ORDERS_IN_FLIGHT_MAX,
  OrderTable,
  Outcome,
  REST_CONNECTIONS,
  runLoad,
  type LoadResult,
} from './load.js';
import { paperMain, writeResults } from './paper.js';
import { list } from './paper-plan.js';
import { SeedStack } from './stack.js';
import { checkConsistency, type Consistency } from './verify.js';

type Protocol = 'rest' | 'grpc';

interface Plan {
  protocol: Protocol;
  replicas: number;
  fsync: boolean;
  offeredPerSec: number;
  /** The cluster file's "consensus" (--paper); undefined: not written, Raft. */
  consensus?: string;
}

/** The seed paper's Raft figures per offered rate, for the table (3, 5 and 7 nodes: bench/suite/seed-model.ts). */
const PAPER: Record<number, { reqPerSec: number; avgMs: number; consistency: number }> = {
  1000: { reqPerSec: 980, avgMs: 12, consistency: 1 },
  10000: { reqPerSec: 9450, avgMs: 38, consistency: 0.99 },
  50000: { reqPerSec: 46800, avgMs: 120, consistency: 0.97 },
};

const RATES_DEFAULT = [1000, 10000, 50000];
/** Before each scenario's load: this rate for this long on the fresh stack (not in the figures; its orders are checked too). */
const PREWARM_PER_SEC = 500;
const PREWARM_SECONDS = 2;
/** Niceness of the event path's processes (stack.ts SeedStackOptions.eventsNice). */
const EVENTS_NICE_DEFAULT = 10;

/** --quick without explicit lists: each load level on gRPC with 1, 3 and 5 replicas (fsync on), plus fsync off and REST at 3 replicas. */
function quickPlan(): Plan[] {
  const out: Plan[] = [];
  for (const offeredPerSec of RATES_DEFAULT) {
    for (const replicas of [1, 3, 5]) out.push({ protocol: 'grpc', replicas, fsync: true, offeredPerSec });
    out.push({ protocol: 'grpc', replicas: 3, fsync: false, offeredPerSec });
    out.push({ protocol: 'rest', replicas: 3, fsync: true, offeredPerSec });
  }
  return out;
}

export interface ScenarioResult {
  protocol: Protocol;
  consensus?: string;
  replicas: number;
  fsync: boolean;
  offeredPerSec: number;
  achievedPerSec: number | null;
  avgMs: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  maxMs: number | null;
  acked: number;
  rejected: number;
  unknown: number;
  lost: number | null;
  duplicates: number | null;
  /** K, 0..1 (null: the scenario failed before it could be measured). */
  consistency: number | null;
  // ---- beyond the fields the suite runner reads
  /** Orders the generator gave up (not sent within GENERATOR_LATE_MS_MAX of their schedule: the in-flight bound was full). */
  notSent: number;
  scheduled: number;
  /** Orders acknowledged during the pre-warm (in acked, rejected, unknown and K too). */
  prewarmAcked: number;
  seconds: number;
  warmupSeconds: number;
  latencySamples: number;
  sendLagMaxMs: number | null;
  rejectCodes: Record<string, number>;
  unknownCauses: Record<string, number>;
  check:
    | (Omit<Consistency, 'acked' | 'k' | 'lost' | 'duplicates' | 'readModels'> & {
        readModels: Omit<Consistency['readModels'], 'caughtUpAtMs'>;
      })
    | null;
  cpuUsPerOrder: Record<string, number | null> | null;
  coresBusy: number | null;
  /** From the end of the load (last answer) until the read models held every event: an upper bound (polled after the replicas' logs were replayed). */
  readModelsCaughtUpSeconds: number | null;
  timeline: LoadResult['timeline'] | null;
  setupSeconds: number;
  totalSeconds: number;
  error?: string;
}

function parse() {
  const { values: a } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      protocols: { type: 'string' },
      replicas: { type: 'string' },
      fsync: { type: 'string' },
      rates: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      out: { type: 'string' },
      'events-nice': { type: 'string' },
      'inject-faults': { type: 'boolean', default: false },
    },
  });
  const quick = a.quick === true;
  const protocols = list(a.protocols ?? 'grpc,rest', 'protocols').map((p) => {
    if (p !== 'rest' && p !== 'grpc') throw new Error(`--protocols: ${p} is neither rest nor grpc`);
    return p as Protocol;
  });
  const replicas = list(a.replicas ?? '1,3,5', 'replicas').map((r) => {
    const n = Number(r);
    if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`--replicas: ${r} is not 1..9`);
    return n;
  });
  const fsync = list(a.fsync ?? 'on,off', 'fsync').map((f) => {
    if (f !== 'on' && f !== 'off') throw new Error(`--fsync: ${f} is neither on nor off`);
    return f === 'on';
  });
  const rates = list(a.rates ?? RATES_DEFAULT.join(','), 'rates').map((r) => {
    const n = Number(r);
    if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new Error(`--rates: ${r} is not 1..1,000,000`);
    return n;
  });
  const seconds = Number(a.seconds ?? (quick ? 3 : 10));
  const warmupSeconds = Number(a.warmup ?? (quick ? 0.5 : 1));
  if (!(seconds > 0 && seconds <= 600)) throw new Error('--seconds: 0 < N ≤ 600');
  if (!(warmupSeconds >= 0 && warmupSeconds <= 60)) throw new Error('--warmup: 0 ≤ S ≤ 60');
  const eventsNice = Number(a['events-nice'] ?? EVENTS_NICE_DEFAULT);
  if (!Number.isInteger(eventsNice) || eventsNice < 0 || eventsNice > 19) throw new Error('--events-nice: 0..19');
  const explicit =
    a.protocols !== undefined || a.replicas !== undefined || a.fsync !== undefined || a.rates !== undefined;
  let plans: Plan[];
  if (quick && !explicit) plans = quickPlan();
  else {
    plans = [];
    for (const offeredPerSec of rates)
      for (const protocol of protocols)
        for (const r of replicas) for (const f of fsync) plans.push({ protocol, replicas: r, fsync: f, offeredPerSec });
  }
  const date = new Date().toISOString().slice(0, 10);
  const out = a.out ?? path.join(REPO_ROOT, `bench/results/seed-${date}.json`);
  return { quick, plans, seconds, warmupSeconds, eventsNice, injectFaults: a['inject-faults'] === true, out };
}

const log = (line: string) => console.error(line);

interface RunOptions {
  seconds: number;
  warmupSeconds: number;
  eventsNice: number;
  injectFaults: boolean;
}

/** A scenario's result before anything is measured: what a scenario that fails at once reports. */
function unmeasuredResult(p: Plan, o: RunOptions): ScenarioResult {
  const { seconds, warmupSeconds } = o;
  return {
    ...p,
    achievedPerSec: null,
    avgMs: null,
    p50Ms: null,
    p90Ms: null,
    p99Ms: null,
    p999Ms: null,
    maxMs: null,
    acked: 0,
    rejected: 0,
    unknown: 0,
    lost: null,
    duplicates: null,
    consistency: null,
    notSent: 0,
    scheduled: 0,
    prewarmAcked: 0,
    seconds,
    warmupSeconds,
    latencySamples: 0,
    sendLagMaxMs: null,
    rejectCodes: {},
    unknownCauses: {},
    check: null,
    cpuUsPerOrder: null,
    coresBusy: null,
    readModelsCaughtUpSeconds: null,
    timeline: null,
    setupSeconds: 0,
    totalSeconds: 0,
  };
}

/** A scenario's figures from its measured load: throughput and latency, and every order's outcome in the table. */
function loadFigures(load: LoadResult, table: OrderTable): Partial<ScenarioResult> {
  return {
    achievedPerSec: load.achievedPerSec,
    avgMs: load.latency.avgMs,
    p50Ms: load.latency.p50Ms,
    p90Ms: load.latency.p90Ms,
    p99Ms: load.latency.p99Ms,
    p999Ms: load.latency.p999Ms,
    maxMs: load.latency.maxMs,
    acked: table.count(Outcome.ACKED),
    rejected: table.count(Outcome.REJECTED),
    unknown: table.count(Outcome.UNKNOWN),
    notSent: table.count(Outcome.NOT_SENT),
    scheduled: load.scheduled,
    latencySamples: load.latency.count,
    sendLagMaxMs: load.sendLagMaxMs,
    rejectCodes: Object.fromEntries(table.rejectCodes),
    unknownCauses: Object.fromEntries(table.unknownCauses),
    cpuUsPerOrder: load.cpuUsPerOrder,
    coresBusy: load.coresBusy,
  };
}

async function runScenario(p: Plan, k: number, o: RunOptions): Promise<ScenarioResult> {
  const { seconds, warmupSeconds, eventsNice } = o;
  const started = performance.now();
  const base = unmeasuredResult(p, o);
  let stack: SeedStack | undefined;
  try {
    stack = await SeedStack.start({
      replicas: p.replicas,
      fsync: p.fsync,
      eventsNice,
      ...(p.consensus !== undefined ? { consensus: p.consensus } : {}),
    });
    base.setupSeconds = Math.round((performance.now() - started) / 100) / 10;
    const capacity = Math.ceil(PREWARM_PER_SEC * PREWARM_SECONDS + p.offeredPerSec * (seconds + warmupSeconds)) + 16;
    const table = new OrderTable(capacity, `q${k.toString(36)}${Date.now().toString(36)}-`, 1_000 + k);
    // A fresh gateway stalls for about a second on its first orders (worker threads starting,
    // code not yet optimized): absorbed here, so that it does not leave a backlog in the
    // measured phase. These orders are checked with the rest.
    const prewarm = await runLoad({
      protocol: p.protocol,
      restHost: stack.restHost,
      restPort: stack.restPort,
      grpcAddress: stack.grpcAddress,
      offeredPerSec: PREWARM_PER_SEC,
      warmupSeconds: 0,
      seconds: PREWARM_SECONDS,
      table,
      cpuTargets: {},
      log,
    });
    base.prewarmAcked = prewarm.acked;
    const load = await runLoad({
      protocol: p.protocol,
      restHost: stack.restHost,
      restPort: stack.restPort,
      grpcAddress: stack.grpcAddress,
      offeredPerSec: p.offeredPerSec,
      warmupSeconds,
      seconds,
      table,
      cpuTargets: { generator: 'self', ...stack.cpuTargets() },
      log,
    });
    Object.assign(base, loadFigures(load, table));
    log(
      `  load done: ${base.acked} acked, ${base.rejected} rejected, ${base.unknown} unknown, ${base.notSent} not sent; ${load.achievedPerSec}/s; p50 ${load.latency.p50Ms} ms p99 ${load.latency.p99Ms} ms; checking…`,
    );
    const loadEnd = performance.now();
    const c = await checkConsistency(stack, table, log, o.injectFaults);
    base.timeline = load.timeline;
    base.readModelsCaughtUpSeconds = c.readModels.caughtUp
      ? Math.round((c.readModels.caughtUpAtMs - loadEnd) / 100) / 10
      : null;
    const { acked: _a, k: kk, lost, duplicates, readModels, ...rest } = c;
    const { caughtUpAtMs: _at, ...rm } = readModels;
    Object.assign(base, { consistency: kk, lost, duplicates, check: { ...rest, readModels: rm } });
    if (rm.trades !== rm.tradesInLog) log(`  read models applied ${rm.trades} trades, the log has ${rm.tradesInLog}`);
    if (c.consistent !== c.acked) {
      log(`  K = ${kk}: ${JSON.stringify(c.failures)}`);
      for (const e of c.examples) log(`    ${e}`);
      // The gateway's replica clients log their failovers and resends: the usual suspects.
      const gw =
        stack.procs
          .find((x) => x.name === 'gateway')
          ?.lines.filter((l) => /client \d+:|TIMEOUT|LEADER|SEQUENCE_GAP|reconnect/.test(l)) ?? [];
      if (gw.length > 0)
        log(
          `  gateway replica-client log (${gw.length} lines kept; last 8):\n${gw
            .slice(-8)
            .map((l) => `    ${l.slice(0, 300)}`)
            .join('\n')}`,
        );
    }
  } catch (err) {
    base.error = err instanceof Error ? err.message.split('\n').slice(0, 6).join(' | ') : String(err);
    log(`  scenario failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (stack !== undefined) log(stack.tails());
  } finally {
    await stack?.stop().catch((e: unknown) => log(`  stop failed: ${String(e)}`));
  }
  base.totalSeconds = Math.round((performance.now() - started) / 100) / 10;
  return base;
}

function fmt(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined) return '-';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function table(results: ScenarioResult[]): string {
  const head = [
    'protocol',
    'replicas',
    'fsync',
    'offered/s',
    'achieved/s',
    'avg ms',
    'p50',
    'p90',
    'p99',
    'p99.9',
    'max',
    'acked',
    'rejected',
    'unknown',
    'not sent',
    'lost',
    'dup',
    'K',
    'paper: req/s, avg ms, K',
  ];
  const rows = results.map((r) => {
    const paper = PAPER[r.offeredPerSec];
    return [
      r.protocol,
      String(r.replicas),
      r.fsync ? 'on' : 'off',
      fmt(r.offeredPerSec, 0),
      fmt(r.achievedPerSec, 0),
      fmt(r.avgMs, 2),
      fmt(r.p50Ms, 2),
      fmt(r.p90Ms, 2),
      fmt(r.p99Ms, 2),
      fmt(r.p999Ms, 2),
      fmt(r.maxMs, 2),
      fmt(r.acked, 0),
      fmt(r.rejected, 0),
      fmt(r.unknown, 0),
      fmt(r.notSent, 0),
      fmt(r.lost, 0),
      fmt(r.duplicates, 0),
      r.consistency === null ? (r.error !== undefined ? 'ERROR' : '-') : r.consistency.toFixed(4),
      paper === undefined ? '' : `${fmt(paper.reqPerSec, 0)}, ${paper.avgMs}, ${paper.consistency}`,
    ];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) =>
    cells.map((x, c) => (c < 3 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  if (process.argv.includes('--paper')) return paperMain(process.argv.slice(2), runScenario);
  const { quick, plans, seconds, warmupSeconds, eventsNice, injectFaults, out } = parse();
  const started = performance.now();
  log(
    `bench:seed — ${plans.length} scenarios, ${warmupSeconds} s warm-up + ${seconds} s each${quick ? ' (quick)' : ''}; event path at nice ${eventsNice}; node ${process.version}, ${os.cpus().length} CPUs; ` +
      `in flight at most ${REST_CONNECTIONS} REST requests / ${GRPC_ORDERS_IN_FLIGHT_MAX} gRPC orders, orders more than ${GENERATOR_LATE_MS_MAX} ms late are not sent`,
  );
  const results: ScenarioResult[] = [];
  for (const [k, p] of plans.entries()) {
    log(
      `[${k + 1}/${plans.length}] ${p.protocol} replicas=${p.replicas} fsync=${p.fsync ? 'on' : 'off'} offered=${p.offeredPerSec}/s`,
    );
    const r = await runScenario(p, k, { seconds, warmupSeconds, eventsNice, injectFaults });
    results.push(r);
    log(
      `  → achieved ${r.achievedPerSec ?? '-'}/s, avg ${r.avgMs ?? '-'} ms, p99 ${r.p99Ms ?? '-'} ms, K ${r.consistency ?? '-'} (${r.totalSeconds} s)`,
    );
  }
  const totalSeconds = Math.round((performance.now() - started) / 1000);
  console.log(table(results));
  console.log(`${results.length} scenarios in ${totalSeconds} s`);
  const json = {
    bench: 'seed',
    node: process.version,
    quick,
    cpus: os.cpus().length,
    seconds,
    warmupSeconds,
    eventsNice,
    ...(injectFaults ? { injectFaults } : {}),
    totalSeconds,
    scenarios: results,
  };
  writeResults(out, json);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
