// The chaos suite (issue 9): `npm run chaos [-- --quick] [--seed N] [--replicas 3,5]
// [--faults kind,…] [--hold-ms MS] [--rate R] [--keep]`.
//
// For each cluster size: start the whole exchange as processes with a fault proxy on every
// replica→replica link (chaos/stack.ts), run the seeded clients (chaos/workload.ts), inject
// every fault kind one at a time (in a seeded order), then two at once, heal, let everything
// converge, and check the history against the log, the replicas and the read models
// (chaos/checker.ts). Prints a table per run and, as the last line, one JSON object with K,
// losses, duplicates, availability and recovery times. Exit 0 only if every check passed; a
// failure prints the seed and the command that replays the run's schedule.

import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../engine/config.js';
import { parseClusterConfig } from '../replicator/cluster-config.js';
import { readWholeLog } from '../events/read-models/reference.js';
import { Prng } from '../replicator/prng.js';
import { check, type CheckResult, type ReplicaHash } from './checker.js';
import { FAULT_KINDS, findLeader, inject, statusOf, type FaultKind, type FaultRecord } from './faults.js';
import { CHAOS_ACCOUNTS, ChaosStack } from './stack.js';
import { Workload, type Op } from './workload.js';

/** Waits for convergence after healing (ms): all replicas at one applied index and hash, read models caught up. */
const CONVERGE_MS = 120_000;
/** Availability buckets (ms): a bucket is available if some order was acknowledged in it. */
const AVAILABILITY_BUCKET_MS = 500;
/** Between faults: the system gets this long to recover before the next one (ms). */
const SETTLE_MS = 1_500;
/** Faults injected together in the mixed phase. */
const MIXED_PAIRS: [FaultKind, FaultKind][] = [
  ['kill-follower', 'slow-network'],
  ['pause-leader', 'broker-restart'],
  ['isolate-leader', 'gateway-restart'],
  ['slow-fsync', 'kill-follower'],
];

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seed: { type: 'string' },
    replicas: { type: 'string' },
    faults: { type: 'string' },
    'hold-ms': { type: 'string' },
    rate: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const quick = a.quick;
const seed = a.seed !== undefined ? Number(a.seed) : Math.floor(Math.random() * 1_000_000);
const sizes = (a.replicas ?? (quick ? '3' : '3,5')).split(',').map(Number);
const kinds = (a.faults ?? FAULT_KINDS.join(',')).split(',') as FaultKind[];
for (const k of kinds) if (!FAULT_KINDS.includes(k)) usage(`unknown fault ${k} (one of ${FAULT_KINDS.join(', ')})`);
const holdMs = Number(a['hold-ms'] ?? (quick ? 1_500 : 4_000));
/** Requests per second per client (4 clients). */
const rate = Number(a.rate ?? (quick ? 40 : 100));
const rounds = quick ? 1 : 2;
if (!Number.isSafeInteger(seed) || sizes.some((n) => !Number.isSafeInteger(n) || n < 1) || !(holdMs > 0) || !(rate > 0)) usage('bad arguments');

function usage(msg: string): never {
  console.error(`${msg}\nusage: npm run chaos -- [--quick] [--seed N] [--replicas 3,5] [--faults ${FAULT_KINDS.join(',')}] [--hold-ms MS] [--rate R] [--keep]`);
  process.exit(2);
}

const t0 = Date.now();
const log = (l: string) => console.error(`[chaos +${((Date.now() - t0) / 1000).toFixed(1)}s] ${l}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface RunSummary {
  replicas: number;
  seed: number;
  ops: number;
  opsList: Op[];
  result: CheckResult;
  availability: number;
  faults: (FaultRecord & { recoveryMs: number | null; afterHealMs: number | null })[];
  durationS: number;
}

/** First acknowledgement of an op sent at or after `fromMs`, minus fromMs (null if none). */
function firstAckAfter(ops: Op[], fromMs: number): number | null {
  let best: number | null = null;
  for (const o of ops) if (o.outcome === 'ok' && o.sentAtMs >= fromMs && (best === null || o.doneAtMs < best)) best = o.doneAtMs;
  return best === null ? null : best - fromMs;
}

function availability(ops: Op[], fromMs: number, toMs: number): number {
  const n = Math.max(1, Math.ceil((toMs - fromMs) / AVAILABILITY_BUCKET_MS));
  const hit = new Uint8Array(n);
  for (const o of ops) if (o.outcome === 'ok' && o.doneAtMs >= fromMs && o.doneAtMs < toMs) hit[Math.floor((o.doneAtMs - fromMs) / AVAILABILITY_BUCKET_MS)] = 1;
  return hit.reduce((s, x) => s + x, 0) / n;
}

async function converge(stack: ChaosStack): Promise<ReplicaHash[]> {
  const deadline = Date.now() + CONVERGE_MS;
  for (;;) {
    const ss = await Promise.all(stack.ids.map((id) => statusOf(stack, id, 2_000, true)));
    if (ss.every((s) => s !== undefined) && ss.every((s) => s!.applied === ss[0]!.applied && s!.stateHash === ss[0]!.stateHash)) {
      return ss.map((s) => ({ id: s!.id, applied: s!.applied, stateHash: s!.stateHash! }));
    }
    if (Date.now() > deadline) {
      log(`replicas did not converge: ${JSON.stringify(ss.map((s) => s && { id: s.id, role: s.role, applied: s.applied, hash: s.stateHash?.slice(0, 12) }))}`);
      return ss.filter((s) => s !== undefined).map((s) => ({ id: s!.id, applied: s!.applied, stateHash: s!.stateHash ?? '' }));
    }
    await sleep(100);
  }
}

async function runOne(replicas: number, runSeed: number): Promise<RunSummary> {
  const rng = new Prng(runSeed);
  const dir = mkdtempSync(path.join(os.tmpdir(), `mb-chaos-${replicas}-`));
  log(`${replicas} replicas, seed ${runSeed}, data in ${dir}`);
  const stack = await ChaosStack.start({ replicas, dir, rng: rng.fork(1), snapshotIntervalEntries: 10_000_000, log });
  const faults: RunSummary['faults'] = [];
  let ops: Op[] = [];
  let result: CheckResult | undefined;
  const startedAt = Date.now();
  let workloadFrom = 0;
  let workloadTo = 0;
  try {
    const workload = new Workload({ restUrl: stack.restUrl, accounts: CHAOS_ACCOUNTS, rng: rng.fork(2), ratePerClient: rate, maxOps: 10_000_000 });
    workloadFrom = Date.now();
    workload.start();
    await sleep(SETTLE_MS);
    const schedule: FaultKind[][] = [];
    for (let r = 0; r < rounds; r++) {
      const order = rng.shuffle([...kinds]);
      for (const k of order) schedule.push([k]);
    }
    for (const pair of MIXED_PAIRS) if (pair.every((k) => kinds.includes(k))) schedule.push(pair);
    const frng = rng.fork(3);
    for (const step of schedule) {
      const records = await Promise.all(
        step.map((k, i) =>
          inject(stack, k, frng.fork(faults.length * 10 + i), holdMs, log).catch((err: unknown) => {
            // A fault that could not be applied (no leader to kill, say) is reported, not fatal.
            log(`fault ${k} not applied: ${err instanceof Error ? err.message : String(err)}`);
            const now = Date.now();
            return { kind: k, target: `NOT APPLIED: ${err instanceof Error ? err.message : String(err)}`, startMs: now, healMs: now, endMs: now };
          }),
        ),
      );
      for (const rec of records) faults.push({ ...rec, recoveryMs: null, afterHealMs: null });
      await sleep(SETTLE_MS);
    }
    await workload.stop();
    workloadTo = Date.now();
    ops = workload.ops;
    log(`workload: ${ops.length} requests; converging`);
    stack.network.heal();
    for (const id of stack.ids) {
      stack.cluster.pause(id, false);
      if (!stack.cluster.isAlive(id)) await stack.cluster.start(id);
    }
    if ((await findLeader(stack, 30_000)) === undefined) log('no leader after healing');
    const hashes = await converge(stack);
    const applied = Math.max(...hashes.map((h) => h.applied));
    // The log as the leader holds it (committed by a majority), not as the first replica to
    // answer holds it: a replica that diverged is then reported by check 4, not taken as the log.
    const leader = await findLeader(stack, 10_000);
    const byLeaderFirst = [...stack.ids].sort((x, y) => Number(y === leader) - Number(x === leader));
    const entries = await readWholeLog(byLeaderFirst.map((id) => stack.cluster.endpoint(id)), applied);
    // Read models: the publisher has published through the converged index, the consumer has read everything.
    const deadline = Date.now() + CONVERGE_MS;
    const publishedIndex = () => {
      const lines = (stack.publisher?.lines ?? []).filter((l) => l.startsWith('{"event":"status"'));
      return lines.length === 0 ? 0 : Number((JSON.parse(lines[lines.length - 1]!) as { publishedIndex: number }).publishedIndex);
    };
    while (Date.now() < deadline && !(publishedIndex() >= applied && (await stack.readModels!.caughtUp()))) await sleep(200);
    const clusterFile = parseClusterConfig(JSON.parse(readFileSync(stack.cluster.configPath, 'utf8')), path.dirname(stack.cluster.configPath));
    const config = parseConfig(JSON.parse(readFileSync(clusterFile.shardConfigPath, 'utf8')));
    result = check({ ops, entries, config, replicas: hashes, readModels: stack.readModels?.model });
    for (const f of faults) {
      f.recoveryMs = firstAckAfter(ops, f.startMs);
      f.afterHealMs = firstAckAfter(ops, f.healMs);
    }
  } finally {
    await stack.stop(a.keep || (result !== undefined && result.violations.length > 0));
  }
  return { replicas, seed: runSeed, ops: ops.length, opsList: ops, result: result!, availability: availability(ops, workloadFrom, workloadTo), faults, durationS: (Date.now() - startedAt) / 1000 };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

async function main(): Promise<void> {
  const runs: RunSummary[] = [];
  for (const n of sizes) runs.push(await runOne(n, seed + n));
  for (const r of runs) {
    const c = r.result;
    console.log(`\n${r.replicas} replicas (seed ${r.seed}): ${r.ops} requests in ${r.durationS.toFixed(0)} s`);
    console.log(`  acked new orders ${c.acked}, consistent ${c.consistent}: K = ${pct(c.k)}; lost ${c.lost}, duplicates ${c.duplicates}; refused ${c.failed}; unknown ${c.unknown} (applied ${c.unknownApplied}, absent ${c.unknownAbsent})`);
    console.log(`  reports compared ${c.reportsCompared}, real-time pairs ${c.orderPairsChecked}, log through ${c.appliedIndex}, state ${c.stateHash.slice(0, 16)}…; availability ${pct(r.availability)}`);
    console.log('  fault                target                                   held ms  first ack after start  after heal');
    for (const f of r.faults) console.log(`  ${f.kind.padEnd(20)} ${f.target.slice(0, 40).padEnd(40)} ${String(f.healMs - f.startMs).padStart(7)}  ${String(f.recoveryMs ?? '-').padStart(21)}  ${String(f.afterHealMs ?? '-').padStart(10)}`);
    const refused = new Map<string, number>();
    for (const o of r.opsList) if (o.outcome === 'failed') refused.set(`${o.kind} ${o.status} ${o.code}`, (refused.get(`${o.kind} ${o.status} ${o.code}`) ?? 0) + 1);
    const unknownBy = new Map<string, number>();
    for (const o of r.opsList) if (o.outcome === 'unknown') unknownBy.set(`${o.kind} ${o.status || ''} ${o.code}`.replace('  ', ' '), (unknownBy.get(`${o.kind} ${o.status || ''} ${o.code}`.replace('  ', ' ')) ?? 0) + 1);
    console.log(`  refused: ${[...refused].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}; unknown: ${[...unknownBy].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}`);
    for (const v of c.violations.slice(0, 20)) console.log(`  VIOLATION ${v.check}: ${v.detail}`);
    if (c.violations.length > 20) console.log(`  … ${c.violations.length - 20} more violations`);
  }
  const failed = runs.some((r) => r.result.violations.length > 0);
  if (failed) console.log(`\nFAILED. Reproduce the schedule with: npm run chaos -- ${quick ? '--quick ' : ''}--seed ${seed} --replicas ${sizes.join(',')} --faults ${kinds.join(',')} --hold-ms ${holdMs} --rate ${rate}`);
  const recoveries = (kind: string) => runs.flatMap((r) => r.faults.filter((f) => f.kind === kind).map((f) => f.recoveryMs));
  console.log(
    JSON.stringify({
      bench: 'chaos',
      quick,
      seed,
      ok: !failed,
      k: Math.min(...runs.map((r) => r.result.k)),
      acked: runs.reduce((s, r) => s + r.result.acked, 0),
      losses: runs.reduce((s, r) => s + r.result.lost, 0),
      duplicates: runs.reduce((s, r) => s + r.result.duplicates, 0),
      violations: runs.reduce((s, r) => s + r.result.violations.length, 0),
      runs: runs.map((r) => ({ replicas: r.replicas, seed: r.seed, requests: r.ops, acked: r.result.acked, k: r.result.k, lost: r.result.lost, duplicates: r.result.duplicates, unknown: r.result.unknown, unknownApplied: r.result.unknownApplied, unknownAbsent: r.result.unknownAbsent, availability: r.availability, durationS: r.durationS, violations: r.result.violations.length })),
      recoveryMs: Object.fromEntries([...new Set(runs.flatMap((r) => r.faults.map((f) => f.kind)))].map((k) => [k, recoveries(k)])),
    }),
  );
  process.exit(failed ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  console.log(JSON.stringify({ bench: 'chaos', quick, seed, ok: false, error: String(err) }));
  process.exit(1);
});


