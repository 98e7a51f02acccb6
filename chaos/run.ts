// The chaos suite (issue 9): `npm run chaos [-- --quick] [--seed N] [--replicas 3,5]
// [--consensus raft,multipaxos] [--faults kind,…|none] [--pairs a+b,…|none] [--hold-ms MS]
// [--rate R] [--keep]`.
//
// For each protocol and cluster size: start the whole exchange as processes with a fault proxy on every
// replica→replica link (chaos/stack.ts), run the seeded clients (chaos/workload.ts), inject
// every fault kind one at a time (in a seeded order), then two at once, heal, let everything
// converge, and check the history against the log, the replicas and the read models
// (chaos/checker.ts). Prints a table per run and, as the last line, one JSON object with K,
// losses, duplicates, availability and recovery times. Exit 0 only if every check passed; a
// failure prints the seed and the command that replays the run's schedule. A run that fails in
// any way — a violation, a divergence, or an exception anywhere from the start of the stack to
// the checker — keeps every data directory (replicas, gateway, broker, publisher, read models)
// and writes the replicas' last log lines next to them; only a run that passed is removed.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../engine/config.js';
import type { ShardConfig } from '../engine/types.js';
import { parseClusterConfig } from '../replicator/cluster-config.js';
import { EntrySource } from '../events/publisher/entry-source.js';
import { readWholeLog } from '../events/read-models/reference.js';
import { Prng } from '../replicator/prng.js';
import type { Entry, EntryType, NodeId } from '../replicator/log.js';
import { check, type CheckResult, type ReplicaHash, type ReplicaLog } from './checker.js';
import {
  FAULT_KINDS,
  RESTART_FAILED,
  findLeader,
  injectTogether,
  statusOf,
  type FaultKind,
  type FaultRecord,
} from './faults.js';
import { CHAOS_ACCOUNTS, CHAOS_CONSENSUS, ChaosStack, type ChaosConsensus } from './stack.js';
import { Workload, type Op } from './workload.js';

/** Waits for convergence after healing (ms): all replicas at one applied index and hash, read models caught up. */
const CONVERGE_MS = 120_000;
/** Availability buckets (ms): a bucket is available if some order was acknowledged in it. */
const AVAILABILITY_BUCKET_MS = 500;
/** Between faults: the system gets this long to recover before the next one (ms). */
const SETTLE_MS = 1_500;
/** Reading one replica's log whole after convergence, at most (ms). */
const REPLICA_LOG_READ_MS = 60_000;
/** Bytes of entries asked for per 'entries' request when reading a log whole. */
const LOG_READ_BYTES = 8 * 1024 * 1024;
/**
 * Faults injected together in the mixed phase, applied in the order listed, on one plan (the
 * leader looked up once; a node one fault targets is never the other's): chaos/README.md, "Pairs".
 */
const MIXED_PAIRS: [FaultKind, FaultKind][] = [
  ['kill-follower', 'slow-network'],
  ['pause-leader', 'broker-restart'],
  ['isolate-leader', 'gateway-restart'],
  ['slow-fsync', 'kill-follower'],
  // The leader frozen, then a follower's WAL tail damaged and that follower restarted on it.
  ['pause-leader', 'wal-truncate'],
  ['pause-leader', 'wal-bitflip'],
  // The leader asked to hand over to a follower, then frozen with the transfer under way.
  ['transfer-leader', 'pause-leader'],
  // The leader SIGKILLed, then a follower's WAL tail cut and that follower restarted on it.
  ['kill-leader', 'wal-truncate'],
];
const pairName = (p: readonly FaultKind[]) => p.join('+');
/** Width of the report's target column (characters; longer targets are cut). */
const TARGET_COLUMN = 66;

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seed: { type: 'string' },
    replicas: { type: 'string' },
    consensus: { type: 'string', default: 'raft' },
    faults: { type: 'string' },
    pairs: { type: 'string' },
    'hold-ms': { type: 'string' },
    rate: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const quick = a.quick;
const seed = a.seed !== undefined ? Number(a.seed) : Math.floor(Math.random() * 1_000_000);
const sizes = (a.replicas ?? (quick ? '3' : '3,5')).split(',').map(Number);
/** The protocols to run, each over every size (the same seeds, so the same schedules). */
const protocols = a.consensus.split(',') as ChaosConsensus[];
for (const p of protocols)
  if (!CHAOS_CONSENSUS.includes(p)) usage(`unknown consensus ${p} (one of ${CHAOS_CONSENSUS.join(', ')})`);
/** The faults applied alone ('none': no single-fault phase). */
const kinds = a.faults === 'none' ? [] : ((a.faults ?? FAULT_KINDS.join(',')).split(',') as FaultKind[]);
for (const k of kinds)
  if (!FAULT_KINDS.includes(k)) usage(`unknown fault ${k} (one of ${FAULT_KINDS.join(', ')}, or none)`);
/** The mixed pairs: by default those of MIXED_PAIRS whose two kinds are both in --faults; named either way round. */
const pairs: [FaultKind, FaultKind][] =
  a.pairs === undefined
    ? MIXED_PAIRS.filter((p) => p.every((k) => kinds.includes(k)))
    : a.pairs === 'none'
      ? []
      : a.pairs.split(',').map((name) => {
          const p = MIXED_PAIRS.find((m) => pairName(m) === name || pairName([...m].reverse()) === name);
          return p ?? usage(`unknown pair ${name} (one of ${MIXED_PAIRS.map(pairName).join(', ')}, or none)`);
        });
const holdMs = Number(a['hold-ms'] ?? (quick ? 1_500 : 4_000));
/** Requests per second per client (4 clients). */
const rate = Number(a.rate ?? (quick ? 40 : 100));
const rounds = quick ? 1 : 2;
if (!Number.isSafeInteger(seed) || sizes.some((n) => !Number.isSafeInteger(n) || n < 1) || !(holdMs > 0) || !(rate > 0))
  usage('bad arguments');

function usage(msg: string): never {
  console.error(
    `${msg}\nusage: npm run chaos -- [--quick] [--seed N] [--replicas 3,5] [--consensus ${CHAOS_CONSENSUS.join(',')}] [--faults ${FAULT_KINDS.join(',')}|none] [--pairs ${MIXED_PAIRS.map(pairName).join(',')}|none] [--hold-ms MS] [--rate R] [--keep]`,
  );
  process.exit(2);
}

const t0 = Date.now();
const log = (l: string) => console.error(`[chaos +${((Date.now() - t0) / 1000).toFixed(1)}s] ${l}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface RunSummary {
  consensus: ChaosConsensus;
  replicas: number;
  seed: number;
  /** Where the run's data is (kept on failure or with --keep). */
  dirs: string[];
  ops: number;
  opsList: Op[];
  result: CheckResult;
  availability: number;
  faults: (FaultRecord & { recoveryMs: number | null; afterHealMs: number | null })[];
  /** Per pair: from the first of its faults' start to the first acknowledgement of a request sent after it. */
  pairRecoveries: { pair: string; recoveryMs: number | null }[];
  durationS: number;
}

/** Every directory kept so far (any run's), for the last lines even if a later run throws. */
const keptDirs: string[] = [];

/** A run that threw: what it had kept, for the report. */
class RunError extends Error {
  constructor(
    readonly run: string,
    readonly dirs: string[],
    cause: unknown,
  ) {
    super(`${run}: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
  }
}

/**
 * One replica's committed log, from index 1 through `through`, read from that replica only
 * (EntrySource given one endpoint); what was read and why it stopped if it cannot be read whole.
 */
async function readReplicaLog(stack: ChaosStack, id: NodeId, through: number): Promise<ReplicaLog> {
  const source = new EntrySource([stack.cluster.endpoint(id)]);
  const entries: Entry[] = [];
  const timer = setTimeout(() => source.close(), REPLICA_LOG_READ_MS);
  try {
    while (entries.length < through) {
      const r = await source.read(entries.length + 1, LOG_READ_BYTES, 1_000);
      if (r.kind === 'snapshot') throw new Error(`log compacted through ${r.index}`);
      for (const e of r.entries)
        if (e.index <= through) entries.push({ index: e.index, term: e.term, type: e.type as EntryType, data: e.data });
    }
    return { id, entries };
  } catch (err) {
    return { id, entries, error: `${err instanceof Error ? err.message : String(err)} (wanted through ${through})` };
  } finally {
    clearTimeout(timer);
    source.close();
  }
}

/** First acknowledgement of an op sent at or after `fromMs`, minus fromMs (null if none). */
function firstAckAfter(ops: Op[], fromMs: number): number | null {
  let best: number | null = null;
  for (const o of ops)
    if (o.outcome === 'ok' && o.sentAtMs >= fromMs && (best === null || o.doneAtMs < best)) best = o.doneAtMs;
  return best === null ? null : best - fromMs;
}

function availability(ops: Op[], fromMs: number, toMs: number): number {
  const n = Math.max(1, Math.ceil((toMs - fromMs) / AVAILABILITY_BUCKET_MS));
  const hit = new Uint8Array(n);
  for (const o of ops)
    if (o.outcome === 'ok' && o.doneAtMs >= fromMs && o.doneAtMs < toMs)
      hit[Math.floor((o.doneAtMs - fromMs) / AVAILABILITY_BUCKET_MS)] = 1;
  return hit.reduce((s, x) => s + x, 0) / n;
}

async function converge(stack: ChaosStack): Promise<ReplicaHash[]> {
  const deadline = Date.now() + CONVERGE_MS;
  for (;;) {
    const ss = await Promise.all(stack.ids.map((id) => statusOf(stack, id, 2_000, true)));
    if (
      ss.every((s) => s !== undefined) &&
      ss.every((s) => s!.applied === ss[0]!.applied && s!.stateHash === ss[0]!.stateHash)
    ) {
      return ss.map((s) => ({ id: s!.id, applied: s!.applied, stateHash: s!.stateHash! }));
    }
    if (Date.now() > deadline) {
      log(
        `replicas did not converge: ${JSON.stringify(ss.map((s) => s && { id: s.id, role: s.role, applied: s.applied, hash: s.stateHash?.slice(0, 12) }))}`,
      );
      return ss
        .filter((s) => s !== undefined)
        .map((s) => ({ id: s!.id, applied: s!.applied, stateHash: s!.stateHash ?? '' }));
    }
    await sleep(100);
  }
}

/** The steps of a run: every fault kind alone, `rounds` times over, each round in a seeded order; then the pairs. */
function faultSchedule(rng: Prng): FaultKind[][] {
  const schedule: FaultKind[][] = [];
  for (let r = 0; r < rounds; r++) {
    const order = rng.shuffle([...kinds]);
    for (const k of order) schedule.push([k]);
  }
  for (const pair of pairs) schedule.push(pair);
  return schedule;
}

/** Injects each step (its faults held, then healed), SETTLE_MS apart; records them in `faults` and `pairStarts`. */
async function injectSchedule(
  stack: ChaosStack,
  schedule: FaultKind[][],
  frng: Prng,
  faults: RunSummary['faults'],
  pairStarts: { pair: string; startMs: number }[],
): Promise<void> {
  for (const step of schedule) {
    // A fault that cannot be applied (no leader to kill, say) is recorded as such, not fatal.
    const records = await injectTogether(
      stack,
      step,
      step.map((_, i) => frng.fork(faults.length * 10 + i)),
      holdMs,
      log,
    );
    if (step.length > 1) pairStarts.push({ pair: pairName(step), startMs: Math.min(...records.map((r) => r.startMs)) });
    for (const rec of records) faults.push({ ...rec, recoveryMs: null, afterHealMs: null });
    await sleep(SETTLE_MS);
  }
}

/** After the workload: every link healed, every replica resumed and running. */
async function healAll(stack: ChaosStack): Promise<void> {
  stack.network.heal();
  for (const id of stack.ids) {
    stack.cluster.pause(id, false);
    if (!stack.cluster.isAlive(id)) await stack.cluster.start(id);
  }
  if ((await findLeader(stack, 30_000)) === undefined) log('no leader after healing');
}

/**
 * Every replica's log, each read from that replica alone through its applied index (its
 * committed prefix; all equal once converged), for check 7; and the log to replay. The replay is
 * of the leader's (committed by a majority), not of the first replica to answer: a replica that
 * diverged is then reported by checks 4 and 7, not taken as the log.
 */
async function collectLogs(
  stack: ChaosStack,
  hashes: ReplicaHash[],
  applied: number,
): Promise<{ logs: ReplicaLog[]; entries: Entry[] }> {
  const leader = await findLeader(stack, 10_000);
  const logs = await Promise.all(
    stack.ids.map((id) => readReplicaLog(stack, id, hashes.find((h) => h.id === id)?.applied ?? applied)),
  );
  for (const l of logs) if (l.error !== undefined) log(`replica ${l.id}'s log: ${l.error}`);
  const fromLeader = logs.find((l) => l.id === leader && l.error === undefined && l.entries.length === applied);
  const byLeaderFirst = [...stack.ids].sort((x, y) => Number(y === leader) - Number(x === leader));
  const entries =
    fromLeader?.entries ??
    (await readWholeLog(
      byLeaderFirst.map((id) => stack.cluster.endpoint(id)),
      applied,
    ));
  log(
    `log through ${applied} replayed from ${fromLeader !== undefined ? `the leader, node ${leader}` : 'the first replica to serve it'}; ${logs.length} replicas' logs compared`,
  );
  return { logs, entries };
}

/** Read models: the publisher has published through the converged index, the consumer has read everything. */
async function awaitReadModels(stack: ChaosStack, applied: number): Promise<void> {
  const deadline = Date.now() + CONVERGE_MS;
  const publishedIndex = () => {
    const lines = (stack.publisher?.lines ?? []).filter((l) => l.startsWith('{"event":"status"'));
    return lines.length === 0
      ? 0
      : Number((JSON.parse(lines[lines.length - 1]!) as { publishedIndex: number }).publishedIndex);
  };
  while (Date.now() < deadline && !(publishedIndex() >= applied && (await stack.readModels!.caughtUp())))
    await sleep(200);
}

/** The engine configuration the shard ran, from the cluster file the stack wrote. */
function shardConfigOf(stack: ChaosStack): ShardConfig {
  const clusterFile = parseClusterConfig(
    JSON.parse(readFileSync(stack.cluster.configPath, 'utf8')),
    path.dirname(stack.cluster.configPath),
  );
  return parseConfig(JSON.parse(readFileSync(clusterFile.shardConfigPath, 'utf8')));
}

/** Heals everything, waits for convergence and the read models, reads the logs, and runs the checker. */
async function healAndCheck(stack: ChaosStack, ops: Op[]): Promise<CheckResult> {
  await healAll(stack);
  const hashes = await converge(stack);
  const applied = Math.max(...hashes.map((h) => h.applied));
  const { logs, entries } = await collectLogs(stack, hashes, applied);
  await awaitReadModels(stack, applied);
  const config = shardConfigOf(stack);
  return check({ ops, entries, config, replicas: hashes, logs, readModels: stack.readModels?.model });
}

async function runOne(consensus: ChaosConsensus, replicas: number, runSeed: number): Promise<RunSummary> {
  const rng = new Prng(runSeed);
  const name = `${replicas} replicas, ${consensus}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), `mb-chaos-${replicas}-`));
  log(`${name}, seed ${runSeed}, data in ${dir}`);
  let stack: ChaosStack;
  try {
    stack = await ChaosStack.start({
      replicas,
      dir,
      rng: rng.fork(1),
      snapshotIntervalEntries: 10_000_000,
      log,
      consensus,
    });
  } catch (err) {
    // ChaosStack.start stops what it started and keeps its directories.
    keptDirs.push(dir);
    throw new RunError(name, [dir], err);
  }
  const dirs = [stack.cluster.dir, dir];
  log(`replicas' data in ${stack.cluster.dir}`);
  const faults: RunSummary['faults'] = [];
  const pairRecoveries: RunSummary['pairRecoveries'] = [];
  const pairStarts: { pair: string; startMs: number }[] = [];
  let ops: Op[] = [];
  let result: CheckResult | undefined;
  const startedAt = Date.now();
  let workloadFrom = 0;
  let workloadTo = 0;
  try {
    const workload = new Workload({
      restUrl: stack.restUrl,
      accounts: CHAOS_ACCOUNTS,
      rng: rng.fork(2),
      ratePerClient: rate,
      maxOps: 10_000_000,
    });
    workloadFrom = Date.now();
    workload.start();
    await sleep(SETTLE_MS);
    const schedule = faultSchedule(rng);
    await injectSchedule(stack, schedule, rng.fork(3), faults, pairStarts);
    await workload.stop();
    workloadTo = Date.now();
    ops = workload.ops;
    log(`workload: ${ops.length} requests; converging`);
    result = await healAndCheck(stack, ops);
    for (const f of faults) {
      f.recoveryMs = firstAckAfter(ops, f.startMs);
      f.afterHealMs = firstAckAfter(ops, f.healMs);
    }
    for (const p of pairStarts) pairRecoveries.push({ pair: p.pair, recoveryMs: firstAckAfter(ops, p.startMs) });
  } catch (err) {
    throw new RunError(name, dirs, err);
  } finally {
    // Removed only when the checker ran and found nothing: any violation, divergence or
    // exception (in the run, the convergence, the log reads or the checker) keeps everything.
    // A replica that refused to restart on a damaged WAL is a finding, and kept as well.
    const passed = result !== undefined && result.violations.length === 0 && restartFailures(faults).length === 0;
    if (!passed || a.keep) keepLogs(stack, dir);
    await stack.stop(a.keep || !passed);
    if (!passed || a.keep) {
      keptDirs.push(...dirs);
      log(`kept: ${dirs.join(' and ')}`);
    }
  }
  return {
    consensus,
    replicas,
    seed: runSeed,
    dirs,
    ops: ops.length,
    opsList: ops,
    result: result!,
    availability: availability(ops, workloadFrom, workloadTo),
    faults,
    pairRecoveries,
    durationS: (Date.now() - startedAt) / 1000,
  };
}

/** The replicas' last log lines and the other processes' (kept in memory) written next to the data. */
function keepLogs(stack: ChaosStack, dir: string): void {
  try {
    for (const id of stack.ids)
      writeFileSync(path.join(dir, `replica-${id}.log`), `${(stack.cluster.logs.get(id) ?? []).join('\n')}\n`);
    for (const [name, child] of [
      ['gateway', stack.gateway],
      ['publisher', stack.publisher],
      ['broker', stack.broker],
    ] as const) {
      if (child !== undefined) writeFileSync(path.join(dir, `${name}.log`), `${child.lines.join('\n')}\n`);
    }
  } catch (err) {
    log(`could not write the processes' logs: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

/** One run's table: counts, K, availability, each fault's recovery, refusals, violations. */
function printRun(r: RunSummary): void {
  const c = r.result;
  console.log(
    `\n${r.replicas} replicas, ${r.consensus} (seed ${r.seed}): ${r.ops} requests in ${r.durationS.toFixed(0)} s${c.violations.length > 0 || a.keep ? `; data kept in ${r.dirs.join(' and ')}` : ''}`,
  );
  console.log(
    `  acked new orders ${c.acked}, consistent ${c.consistent}: K = ${pct(c.k)}; lost ${c.lost}, duplicates ${c.duplicates}; refused ${c.failed}; unknown ${c.unknown} (applied ${c.unknownApplied}, absent ${c.unknownAbsent})`,
  );
  console.log(
    `  reports compared ${c.reportsCompared}, real-time pairs ${c.orderPairsChecked}, log through ${c.appliedIndex}, state ${c.stateHash.slice(0, 16)}…; availability ${pct(r.availability)}`,
  );
  if (c.divergence !== undefined)
    console.log(
      `  LOGS DIFFER at index ${c.divergence.index}: ${c.divergence.groups.map((g) => `[${g.ids.join(',')}] term ${g.term} ${g.type}`).join(' vs ')}`,
    );
  console.log(`  ${'fault'.padEnd(20)} ${'target'.padEnd(TARGET_COLUMN)} held ms  first ack after start  after heal`);
  for (const f of r.faults) {
    const kind = f.pairedWith === '' ? f.kind : `${f.kind} (+)`;
    console.log(
      `  ${kind.padEnd(20)} ${f.target.slice(0, TARGET_COLUMN).padEnd(TARGET_COLUMN)} ${String(f.healMs - f.startMs).padStart(7)}  ${String(f.recoveryMs ?? '-').padStart(21)}  ${String(f.afterHealMs ?? '-').padStart(10)}`,
    );
  }
  for (const f of restartFailures(r.faults))
    console.log(
      `  not restarted on its damaged WAL — ${f.kind}${f.pairedWith === '' ? '' : ` (with ${f.pairedWith})`}: ${f.target}`,
    );
  if (r.pairRecoveries.length > 0)
    console.log(
      `  pairs, first ack after the first fault's start: ${r.pairRecoveries.map((p) => `${p.pair} ${p.recoveryMs ?? '-'} ms`).join(', ')}`,
    );
  const refused = new Map<string, number>();
  for (const o of r.opsList)
    if (o.outcome === 'failed')
      refused.set(`${o.kind} ${o.status} ${o.code}`, (refused.get(`${o.kind} ${o.status} ${o.code}`) ?? 0) + 1);
  const unknownBy = new Map<string, number>();
  for (const o of r.opsList)
    if (o.outcome === 'unknown')
      unknownBy.set(
        `${o.kind} ${o.status || ''} ${o.code}`.replace('  ', ' '),
        (unknownBy.get(`${o.kind} ${o.status || ''} ${o.code}`.replace('  ', ' ')) ?? 0) + 1,
      );
  console.log(
    `  refused: ${[...refused].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}; unknown: ${[...unknownBy].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}`,
  );
  for (const v of c.violations.slice(0, 20)) console.log(`  VIOLATION ${v.check}: ${v.detail}`);
  if (c.violations.length > 20) console.log(`  … ${c.violations.length - 20} more violations`);
}

/** The WAL faults whose replica did not come back up on its damaged files (chaos/README.md, Faults). */
function restartFailures<F extends FaultRecord>(faults: F[]): F[] {
  return faults.filter((f) => f.target.includes(RESTART_FAILED));
}

/** A run failed: a violation, or a replica that refused to restart on its damaged WAL. */
const runFailed = (r: RunSummary) => r.result.violations.length > 0 || restartFailures(r.faults).length > 0;

/** Totals over some runs (all of them, or one protocol's), with recovery times per fault kind and per pair. */
function totals(runs: RunSummary[]): object {
  const recoveries = (kind: string) =>
    runs.flatMap((r) => r.faults.filter((f) => f.kind === kind).map((f) => f.recoveryMs));
  return {
    ok: !runs.some(runFailed),
    k: Math.min(...runs.map((r) => r.result.k)),
    acked: runs.reduce((s, r) => s + r.result.acked, 0),
    losses: runs.reduce((s, r) => s + r.result.lost, 0),
    duplicates: runs.reduce((s, r) => s + r.result.duplicates, 0),
    violations: runs.reduce((s, r) => s + r.result.violations.length, 0),
    restartFailed: runs.flatMap((r) =>
      restartFailures(r.faults).map((f) => ({
        consensus: r.consensus,
        replicas: r.replicas,
        kind: f.kind,
        pairedWith: f.pairedWith,
        target: f.target,
      })),
    ),
    recoveryMs: Object.fromEntries(
      [...new Set(runs.flatMap((r) => r.faults.map((f) => f.kind)))].map((k) => [k, recoveries(k)]),
    ),
    pairRecoveryMs: Object.fromEntries(
      [...new Set(runs.flatMap((r) => r.pairRecoveries.map((p) => p.pair)))].map((p) => [
        p,
        runs.flatMap((r) => r.pairRecoveries.filter((x) => x.pair === p).map((x) => x.recoveryMs)),
      ]),
    ),
  };
}

/** The last line: one JSON object over every run, and per protocol. */
function chaosSummary(runs: RunSummary[]): object {
  return {
    bench: 'chaos',
    quick,
    seed,
    consensus: protocols,
    ...totals(runs),
    byConsensus: Object.fromEntries(protocols.map((p) => [p, totals(runs.filter((r) => r.consensus === p))] as const)),
    runs: runs.map((r) => ({
      consensus: r.consensus,
      replicas: r.replicas,
      seed: r.seed,
      requests: r.ops,
      acked: r.result.acked,
      k: r.result.k,
      lost: r.result.lost,
      duplicates: r.result.duplicates,
      unknown: r.result.unknown,
      unknownApplied: r.result.unknownApplied,
      unknownAbsent: r.result.unknownAbsent,
      availability: r.availability,
      durationS: r.durationS,
      violations: r.result.violations.length,
      restartFailed: restartFailures(r.faults).length,
    })),
    divergence: runs.flatMap((r) =>
      r.result.divergence === undefined
        ? []
        : [{ consensus: r.consensus, replicas: r.replicas, ...r.result.divergence }],
    ),
    kept: keptDirs,
  };
}

async function main(): Promise<void> {
  const runs: RunSummary[] = [];
  for (const p of protocols) for (const n of sizes) runs.push(await runOne(p, n, seed + n));
  for (const r of runs) printRun(r);
  const failed = runs.some(runFailed);
  const notRestarted = runs.flatMap((r) =>
    restartFailures(r.faults).map((f) => `${f.kind} (${r.consensus}, ${r.replicas} replicas)`),
  );
  if (notRestarted.length > 0)
    console.log(`\nReplicas that did not restart on their damaged WAL: ${notRestarted.join(', ')}`);
  if (failed) console.log(`\nFAILED. Reproduce the schedule with: ${replayCommand()}`);
  console.log(JSON.stringify(chaosSummary(runs)));
  process.exit(failed ? 1 : 0);
}

function replayCommand(): string {
  return `npm run chaos -- ${quick ? '--quick ' : ''}--seed ${seed} --replicas ${sizes.join(',')} --consensus ${protocols.join(',')} --faults ${kinds.length === 0 ? 'none' : kinds.join(',')} --pairs ${pairs.length === 0 ? 'none' : pairs.map(pairName).join(',')} --hold-ms ${holdMs} --rate ${rate}`;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  console.log(
    `\nFAILED (exception${err instanceof RunError ? ` in the run of ${err.run}` : ''}). Data kept in ${keptDirs.join(' and ') || '(none created)'}. Reproduce the schedule with: ${replayCommand()}`,
  );
  console.log(
    JSON.stringify({
      bench: 'chaos',
      quick,
      seed,
      consensus: protocols,
      ok: false,
      error: String(err).split('\n')[0],
      kept: keptDirs,
    }),
  );
  process.exit(1);
});
