// Failover time and latency under loss, Raft against Multi-Paxos (issue 20):
//
//   npm run bench:failover [-- --consensus raft,multipaxos --replicas 3 --runs 5 --rate 200
//                            --latency-seconds 8 --delay-ms 10 --jitter-ms 10 --loss 0.005 --out FILE]
//
// Each run starts a fresh cluster of replica processes (replicator/process-cluster.ts, fsync
// on) whose replica→replica links all go through the chaos suite's fault proxies
// (chaos/network.ts), with one protocol written into the cluster files; the runs alternate the
// protocols (raft, multipaxos, raft, multipaxos, …) so that a shared machine's drift hits both.
// In each run, clients of the replica protocol (replicator/client/client.ts: they follow
// NOT_LEADER redirects and resend on a timeout or a dropped connection) send orders at a steady
// rate, and:
//   1. clean: latency from each order's scheduled send time to its acknowledgement, p50/p99;
//   2. lossy: the same with every link degraded (delay + jitter, and chunk loss, which resets
//      the TCP connection: a stream never loses part of itself);
//   3. failover: the leader SIGKILLed under the same load; failover time = from the kill to the
//      first acknowledgement by another replica (a command committed and applied by the new
//      leader, as the client sees it), and, polled beside it, to the first survivor that says it
//      leads.
// Prints a table per run, the medians per protocol, and as the last line one JSON object.
// Caveat: every replica, its fsyncs and the clients share this machine's cores.

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { ChaosNetwork } from '../../chaos/network.js';
import { ReplicaClient, type ClientEndpoint } from '../../replicator/client/client.js';
import type { NodeId } from '../../replicator/log.js';
import { ProcessCluster, sleep } from '../../replicator/process-cluster.js';
import { Prng } from '../../replicator/prng.js';

const { values: args } = parseArgs({
  options: {
    consensus: { type: 'string', default: 'raft,multipaxos' },
    replicas: { type: 'string', default: '3' },
    runs: { type: 'string', default: '5' },
    rate: { type: 'string', default: '200' },
    'latency-seconds': { type: 'string', default: '8' },
    'delay-ms': { type: 'string', default: '10' },
    'jitter-ms': { type: 'string', default: '10' },
    loss: { type: 'string', default: '0.005' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const PROTOCOLS = args.consensus.split(',');
const REPLICAS = Number(args.replicas);
const RUNS = Number(args.runs);
/** Orders per second offered, over all clients. */
const RATE_PER_SEC = Number(args.rate);
const LATENCY_MS = 1000 * Number(args['latency-seconds']);
const LOSSY = { delayMs: Number(args['delay-ms']), jitterMs: Number(args['jitter-ms']), dropRate: Number(args.loss) };
const SEED = Number(args.seed);
if (
  PROTOCOLS.some((p) => p !== 'raft' && p !== 'multipaxos') ||
  ![REPLICAS, RUNS, RATE_PER_SEC, LATENCY_MS, SEED].every((n) => Number.isSafeInteger(n) && n > 0) ||
  !(LOSSY.delayMs >= 0 && LOSSY.jitterMs >= 0 && LOSSY.dropRate >= 0 && LOSSY.dropRate < 1)
) {
  console.error(
    'usage: npm run bench:failover -- [--consensus raft,multipaxos] [--replicas 3] [--runs 5] [--rate 200] [--latency-seconds 8] [--delay-ms 10] [--jitter-ms 10] [--loss 0.005] [--seed 1] [--out FILE]',
  );
  process.exit(2);
}

/** Client sessions the orders are spread over (each its own account; even ones buy, odd ones sell, at one price). */
const CLIENTS = 4;
/** A request unanswered this long is resent, to the next replica if need be (ms): the gateway's replica timeout. */
const CLIENT_TIMEOUT_MS = 2_000;
/** Generator period (ms): the orders due since the last tick are sent together, each timed from its own due time. */
const GENERATOR_TICK_MS = 5;
/** Orders scheduled in this first part of a latency phase are not measured (connections, leader discovery) (ms). */
const WARMUP_MS = 1_000;
/** Steady load before the leader is killed (ms). */
const BEFORE_KILL_MS = 1_500;
/** No acknowledgement by another replica within this after the kill is a failed trial (ms). */
const FAILOVER_WAIT_MS = 30_000;
/** After a phase, outstanding orders get this long to be answered (ms); later ones count as unanswered. */
const DRAIN_MS = 20_000;
/** Status polling period while waiting for a survivor to lead (ms). */
const STATUS_POLL_MS = 10;

interface Ack {
  scheduledMs: number;
  doneMs: number;
  node: NodeId;
}

/** Clients sending orders at a steady rate, whatever happened to earlier ones (open loop). */
class SteadyLoad {
  readonly acks: Ack[] = [];
  failed = 0;
  private readonly clients: ReplicaClient[];
  private readonly counts: number[] = Array.from({ length: CLIENTS }, () => 0);
  private timer: NodeJS.Timeout | undefined;
  private pending = 0;

  /** `tag` makes the phase's client order ids its own. */
  constructor(
    endpoints: ClientEndpoint[],
    private readonly tag: number,
  ) {
    this.clients = Array.from(
      { length: CLIENTS },
      () => new ReplicaClient({ endpoints, requestTimeoutMs: CLIENT_TIMEOUT_MS }),
    );
  }

  start(): void {
    const t0 = performance.now();
    const intervalMs = 1000 / RATE_PER_SEC;
    let sent = 0;
    this.timer = setInterval(() => {
      const now = performance.now();
      for (; t0 + sent * intervalMs <= now; sent++) this.send(sent % CLIENTS, t0 + sent * intervalMs);
    }, GENERATOR_TICK_MS);
  }

  private send(k: number, scheduledMs: number): void {
    const n = this.counts[k]!++;
    const order = {
      type: 'new',
      account: k + 1,
      clOrdId: `f${this.tag}-${n}`,
      symbol: 'BTC-USD',
      side: k % 2 === 0 ? 'BUY' : 'SELL',
      ordType: 'LIMIT',
      tif: 'GTC',
      price: 5_000_000,
      qty: 1,
    };
    this.pending++;
    this.clients[k]!.submit(order).then(
      (r) => {
        this.pending--;
        this.acks.push({ scheduledMs, doneMs: performance.now(), node: r.node });
      },
      () => {
        this.pending--;
        this.failed++;
      },
    );
  }

  /** Stops sending and waits (bounded) for the answers; returns how many are still unanswered. */
  async stop(): Promise<number> {
    clearInterval(this.timer);
    const deadline = Date.now() + DRAIN_MS;
    while (this.pending > 0 && Date.now() < deadline) await sleep(20);
    for (const c of this.clients) c.close();
    return this.pending;
  }
}

/** The q-quantile (nearest rank) of some latencies (ms, 0.01 ms precision); null if none. */
function quantileMs(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((x, y) => x - y);
  return Math.round(100 * sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!) / 100;
}

interface LatencyPhase {
  measured: number;
  unanswered: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/** Steady load for LATENCY_MS; latencies of the orders scheduled after the warm-up. */
async function latencyPhase(cluster: ProcessCluster, tag: number): Promise<LatencyPhase> {
  const load = new SteadyLoad(cluster.endpoints, tag);
  const from = performance.now() + WARMUP_MS;
  load.start();
  await sleep(LATENCY_MS);
  const unanswered = await load.stop();
  const ms = load.acks.filter((a) => a.scheduledMs >= from).map((a) => a.doneMs - a.scheduledMs);
  return {
    measured: ms.length,
    unanswered: unanswered + load.failed,
    p50Ms: quantileMs(ms, 0.5),
    p99Ms: quantileMs(ms, 0.99),
    maxMs: quantileMs(ms, 1),
  };
}

interface FailoverTrial {
  leader: NodeId;
  /** Kill → a survivor says it leads (polled every STATUS_POLL_MS). */
  electedMs: number | null;
  /** Kill → the first acknowledgement by another replica. */
  failoverMs: number | null;
}

/** Kill → the first status in which a survivor says it leads (performance.now() time), or undefined. */
async function firstSurvivorLeading(
  cluster: ProcessCluster,
  killed: NodeId,
  deadline: number,
): Promise<number | undefined> {
  const survivors = cluster.ids.filter((id) => id !== killed);
  while (performance.now() < deadline) {
    const st = await Promise.all(survivors.map((id) => cluster.status(id, false, 1_000)));
    if (st.some((s) => s?.role === 'LEADER')) return performance.now();
    await sleep(STATUS_POLL_MS);
  }
  return undefined;
}

/** The leader SIGKILLed under steady load; see the file's head. */
async function failoverTrial(cluster: ProcessCluster, tag: number): Promise<FailoverTrial> {
  const leader = await cluster.waitForLeader(30_000);
  const load = new SteadyLoad(cluster.endpoints, tag);
  load.start();
  await sleep(BEFORE_KILL_MS);
  const killedAt = performance.now();
  await cluster.kill(leader);
  const deadline = killedAt + FAILOVER_WAIT_MS;
  const electedAt = await firstSurvivorLeading(cluster, leader, deadline);
  const firstAck = () => load.acks.find((a) => a.node !== leader && a.doneMs >= killedAt);
  while (firstAck() === undefined && performance.now() < deadline) await sleep(STATUS_POLL_MS);
  await load.stop();
  const ack = firstAck();
  return {
    leader,
    electedMs: electedAt === undefined ? null : Math.round(electedAt - killedAt),
    failoverMs: ack === undefined ? null : Math.round(ack.doneMs - killedAt),
  };
}

interface RunResult {
  consensus: string;
  run: number;
  clean: LatencyPhase;
  lossy: LatencyPhase & { resets: number };
  failover: FailoverTrial;
}

/** One run on a fresh cluster: clean latency, lossy latency, failover. */
async function runOne(consensus: string, run: number): Promise<RunResult> {
  const rng = new Prng(SEED * 1_000 + run);
  const network = new ChaosNetwork(rng.fork(1));
  const cluster = await ProcessCluster.create({
    size: REPLICAS,
    fsync: true,
    consensus,
    seed: rng.int(1_000_000) + 1,
    linkAddress: (from, to, real) => network.link(from, to, real),
    env: { LOG_LEVEL: 'warn' },
  });
  try {
    await cluster.startAll();
    await cluster.waitForLeader(30_000);
    const clean = await latencyPhase(cluster, run * 10 + 1);
    network.degrade(LOSSY);
    const resetsBefore = network.stats().resets;
    const lossyPhase = await latencyPhase(cluster, run * 10 + 2);
    const resets = network.stats().resets - resetsBefore;
    network.heal();
    const failover = await failoverTrial(cluster, run * 10 + 3);
    return { consensus, run, clean, lossy: { ...lossyPhase, resets }, failover };
  } catch (err) {
    for (const id of cluster.ids) console.error(cluster.tail(id, 20));
    throw err;
  } finally {
    await cluster.stop(false);
    await network.close();
  }
}

function median(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[m]! : Math.round(100 * ((v[m - 1]! + v[m]!) / 2)) / 100;
}

/** Medians over one protocol's runs. */
function mediansOf(rs: RunResult[]) {
  return {
    runs: rs.length,
    failoverMs: median(rs.map((r) => r.failover.failoverMs)),
    electedMs: median(rs.map((r) => r.failover.electedMs)),
    cleanP50Ms: median(rs.map((r) => r.clean.p50Ms)),
    cleanP99Ms: median(rs.map((r) => r.clean.p99Ms)),
    lossyP50Ms: median(rs.map((r) => r.lossy.p50Ms)),
    lossyP99Ms: median(rs.map((r) => r.lossy.p99Ms)),
    lossyResets: median(rs.map((r) => r.lossy.resets)),
    unanswered: rs.reduce((s, r) => s + r.clean.unanswered + r.lossy.unanswered, 0),
  };
}

const cell = (x: number | null, w: number) => String(x ?? '-').padStart(w);

function printRow(name: string, m: ReturnType<typeof mediansOf>): void {
  console.log(
    `${name.padEnd(24)} ${cell(m.failoverMs, 11)} ${cell(m.electedMs, 10)} ${cell(m.cleanP50Ms, 9)} ${cell(m.cleanP99Ms, 9)} ${cell(m.lossyP50Ms, 9)} ${cell(m.lossyP99Ms, 9)} ${cell(m.lossyResets, 7)}`,
  );
}

async function main(): Promise<void> {
  console.error(
    `bench:failover — ${REPLICAS} replicas, fsync on, ${RATE_PER_SEC} orders/s over ${CLIENTS} clients, latency phases ${LATENCY_MS / 1000} s, lossy links ${LOSSY.delayMs} ms + U[0, ${LOSSY.jitterMs}) ms, ${100 * LOSSY.dropRate}% chunk loss; ${RUNS} runs per protocol, alternating; node ${process.version}, ${os.cpus().length} CPUs, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  const results: RunResult[] = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const p of PROTOCOLS) {
      const r = await runOne(p, run);
      results.push(r);
      console.error(
        `run ${run} ${p}: failover ${r.failover.failoverMs ?? '-'} ms (leader elected ${r.failover.electedMs ?? '-'} ms), clean p50/p99 ${r.clean.p50Ms}/${r.clean.p99Ms} ms, lossy p50/p99 ${r.lossy.p50Ms}/${r.lossy.p99Ms} ms (${r.lossy.resets} resets), unanswered ${r.clean.unanswered + r.lossy.unanswered}`,
      );
    }
  }
  const byConsensus = Object.fromEntries(
    PROTOCOLS.map((p) => [p, mediansOf(results.filter((r) => r.consensus === p))]),
  );
  console.log(`\nmedians of ${RUNS} runs  failover ms  elected ms  clean p50  clean p99  lossy p50  lossy p99  resets`);
  for (const p of PROTOCOLS) printRow(p, byConsensus[p]!);
  const summary = {
    bench: 'failover',
    date: new Date().toISOString(),
    replicas: REPLICAS,
    ratePerSec: RATE_PER_SEC,
    latencySeconds: LATENCY_MS / 1000,
    lossy: LOSSY,
    machine: { cpus: os.cpus().length, node: process.version, loadAverageAtEnd: os.loadavg() },
    byConsensus,
    runs: results,
  };
  if (args.out !== undefined) writeFileSync(args.out, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(JSON.stringify(summary));
  const failed = results.some((r) => r.failover.failoverMs === null);
  process.exit(failed ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
