// Replication benchmark: 3 replica processes (processes/replica.ts) on loopback, fsync on, the
// TCP transport between them, and an open-loop load generator in this process speaking the
// client protocol (replicator/client/client.ts).
//
//   npm run bench:replicator [-- --seconds 5 --rates 10000,20000,50000,100000,max --clients 8 --trials 10]
//
// Per offered rate: commands are scheduled at fixed intervals whatever happens to earlier ones
// (open loop), spread over `clients` sessions; latency is measured from the SCHEDULED send
// time to the acknowledgement (command committed on a majority and applied by the leader), so
// a stall shows up in the latency of everything scheduled during it (no coordinated
// omission). `max` is closed-loop: every client keeps its window full. Committed commands/s
// counts acknowledgements within the measured window.
//
// Failover: under a steady load, SIGKILL the leader, and measure the time to the first
// acknowledgement by another replica (detection by election timeout, election, the client's
// reconnect). The killed node is restarted and caught up between trials.
//
// Workload: per client, a GTC buy limit, then the cancel of the order it placed 50 orders
// earlier, alternately (the book stays small, so snapshots stay small).
//
// Caveat: everything (3 replicas, each fdatasyncing, and the generator) shares this machine's
// cores; the figures are for this machine, not for a 3-host deployment.

import os from 'node:os';
import { parseArgs } from 'node:util';
import { ReplicaClient, type SubmitResult } from '../../replicator/client/client.js';
import { ProcessCluster, sleep } from '../../replicator/process-cluster.js';
import * as hdr from 'hdr-histogram-js';
import type { NodeId } from '../../replicator/log.js';
import { buyCancelCommand } from './buy-cancel-flow.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    rates: { type: 'string', default: '10000,20000,50000,100000,max' },
    clients: { type: 'string', default: '8' },
    window: { type: 'string', default: '256' },
    trials: { type: 'string', default: '10' },
    'failover-rate': { type: 'string', default: '2000' },
    fsync: { type: 'string', default: 'on' },
    echo: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const WARMUP_S = Number(args.warmup);
const CLIENTS = Number(args.clients);
const WINDOW = Number(args.window);
const TRIALS = Number(args.trials);
const FAILOVER_RATE = Number(args['failover-rate']);
/** Generator timer period (ms): commands due since the last tick are sent together. */
const GENERATOR_TICK_MS = 1;
/** A rate step whose backlog is still not drained this long after its end is cut short (ms). */
const DRAIN_TIMEOUT_MS = 30_000;

/** Each client trades on its own account, fresh per step (so clOrdIds never meet a previous step's). */
let accountNext = 1;

class Load {
  readonly clients: ReplicaClient[];
  private readonly accounts: number[];
  private readonly n: number[];
  constructor(cluster: ProcessCluster, leader: NodeId) {
    // The known leader first, so a step does not start with a redirect.
    const endpoints = [...cluster.endpoints].sort((a, b) => Number(b.id === leader) - Number(a.id === leader));
    this.clients = Array.from(
      { length: CLIENTS },
      () => new ReplicaClient({ endpoints, windowMax: WINDOW, requestTimeoutMs: 2_000 }),
    );
    this.accounts = this.clients.map(() => accountNext++);
    this.n = this.clients.map(() => 0);
  }
  /** The next command of client k: buy, cancel, buy, cancel, … */
  command(k: number): Record<string, unknown> {
    return buyCancelCommand(this.accounts[k]!, this.n[k]!++);
  }
  close(): void {
    for (const c of this.clients) c.close();
  }
}

interface StepResult {
  offered: number | 'max';
  seconds: number;
  sent: number;
  /** Commands scheduled inside the measured window (their latencies are the percentiles). */
  measured: number;
  committedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  failovers: number;
}

function histogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

async function runStep(cluster: ProcessCluster, rate: number | 'max'): Promise<StepResult> {
  const load = new Load(cluster, await cluster.waitForLeader());
  const h = histogram();
  const t0 = performance.now() + 50;
  const measureFrom = t0 + WARMUP_S * 1000;
  const end = measureFrom + SECONDS * 1000;
  let sent = 0;
  let ackedInWindow = 0;
  const outstanding = new Set<Promise<void>>();
  const issue = (k: number, scheduled: number) => {
    sent++;
    const p: Promise<void> = load.clients[k]!.submit(load.command(k)).then(
      () => {
        const now = performance.now();
        if (scheduled >= measureFrom && scheduled < end) {
          h.recordValue(Math.max(1, Math.round((now - scheduled) * 1000)));
          if (now < end) ackedInWindow++;
        } else if (now >= measureFrom && now < end) ackedInWindow++;
        outstanding.delete(p);
      },
      () => {
        outstanding.delete(p);
      },
    );
    outstanding.add(p);
    return p;
  };
  if (rate === 'max') {
    // Closed loop: each client keeps WINDOW requests outstanding until the end.
    await sleep(Math.max(0, t0 - performance.now()));
    const loop = async (k: number) => {
      for (;;) {
        const now = performance.now();
        if (now >= end) return;
        await issue(k, now);
      }
    };
    const loops: Promise<void>[] = [];
    for (let k = 0; k < CLIENTS; k++) for (let w = 0; w < WINDOW; w++) loops.push(loop(k));
    await Promise.all(loops);
  } else {
    const intervalMs = 1000 / rate;
    let i = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        // Everything due up to now, each stamped with its own scheduled time.
        for (;;) {
          const scheduled = t0 + i * intervalMs;
          if (scheduled > now || scheduled >= end) break;
          issue(i % CLIENTS, scheduled);
          i++;
        }
        if (t0 + i * intervalMs >= end) {
          clearInterval(timer);
          resolve();
        }
      }, GENERATOR_TICK_MS);
    });
  }
  const drainBy = performance.now() + DRAIN_TIMEOUT_MS;
  while (outstanding.size > 0 && performance.now() < drainBy) await sleep(20);
  const failovers = load.clients.reduce((n, c) => n + c.stats.failovers, 0);
  const unfinished = outstanding.size;
  load.close();
  if (unfinished > 0)
    console.error(
      `  ${unfinished} commands still unacknowledged ${DRAIN_TIMEOUT_MS} ms after the step (counted as not committed)`,
    );
  const ms = (v: number) => Math.round(v / 10) / 100;
  return {
    offered: rate,
    seconds: SECONDS,
    sent,
    measured: h.totalCount,
    committedPerSec: Math.round(ackedInWindow / SECONDS),
    p50Ms: ms(h.getValueAtPercentile(50)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue),
    failovers,
  };
}

async function waitCaughtUp(cluster: ProcessCluster, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const st = await Promise.all(cluster.ids.map((id) => cluster.status(id)));
    // Against the highest commit any replica knows, not node 1's: when node 1 is the one just
    // restarted, its own (stale) commit made this true at once.
    const commit = Math.max(...st.map((s) => s?.commit ?? Infinity));
    if (st.every((s) => s !== undefined) && st.every((s) => s!.applied >= commit - 5 && s!.commit >= commit - 5))
      return;
    await sleep(100);
  }
  throw new Error('replicas did not catch up');
}

interface Trial {
  /** SIGKILL → a surviving replica reports itself leader (status polled every FAILOVER_POLL_MS). */
  electedMs: number;
  /** SIGKILL → the first client acknowledgement by another replica (a command committed and applied by the new leader). */
  firstCommitMs: number;
}

/** Status polling period while waiting for the new leader (ms). */
const FAILOVER_POLL_MS = 5;

/** One failover trial under steady load. */
async function failoverTrial(cluster: ProcessCluster): Promise<Trial> {
  const leader = await cluster.waitForLeader();
  const load = new Load(cluster, leader);
  let killedAt = 0;
  let firstAfter = 0;
  let stop = false;
  const intervalMs = 1000 / FAILOVER_RATE;
  const t0 = performance.now();
  let i = 0;
  const onAck = (r: SubmitResult) => {
    if (killedAt > 0 && firstAfter === 0 && r.node !== leader) firstAfter = performance.now();
  };
  const timer = setInterval(() => {
    if (stop) return;
    const now = performance.now();
    while (t0 + i * intervalMs <= now) {
      const k = i % CLIENTS;
      load.clients[k]!.submit(load.command(k)).then(onAck, () => undefined);
      i++;
    }
  }, GENERATOR_TICK_MS);
  await sleep(500); // steady state
  killedAt = performance.now();
  await cluster.kill(leader);
  const deadline = Date.now() + 30_000;
  let electedAt = 0;
  const survivors = cluster.ids.filter((id) => id !== leader);
  while (electedAt === 0 && Date.now() < deadline) {
    const st = await Promise.all(survivors.map((id) => cluster.status(id, false, 1_000)));
    if (st.some((s) => s?.role === 'LEADER')) electedAt = performance.now();
    else await sleep(FAILOVER_POLL_MS);
  }
  while (firstAfter === 0 && Date.now() < deadline) await sleep(FAILOVER_POLL_MS);
  stop = true;
  clearInterval(timer);
  // Let the clients finish what they sent, then bring the node back.
  const drainBy = Date.now() + 10_000;
  while (load.clients.some((c) => c.outstanding > 0) && Date.now() < drainBy) await sleep(20);
  load.close();
  await cluster.start(leader);
  await waitCaughtUp(cluster);
  if (firstAfter === 0 || electedAt === 0) throw new Error('no new leader / acknowledgement within 30 s');
  return { electedMs: Math.round(electedAt - killedAt), firstCommitMs: Math.round(firstAfter - killedAt) };
}

async function main(): Promise<void> {
  const fsync = args.fsync !== 'off';
  const cluster = await ProcessCluster.create({
    fsync,
    echo: args.echo,
    ...(process.env.BENCH_NODE_ARGS ? { nodeArgs: process.env.BENCH_NODE_ARGS.split(' ') } : {}),
  });
  const rates = (args.rates ?? '').split(',').map((r) => (r.trim() === 'max' ? ('max' as const) : Number(r)));
  console.error(
    `bench:replicator — 3 replicas on loopback, fsync ${fsync ? 'on' : 'OFF'}, ${CLIENTS} clients (window ${WINDOW}), ${SECONDS} s per rate after ${WARMUP_S} s warm-up; node ${process.version}, ${os.cpus().length} CPUs`,
  );
  const steps: StepResult[] = [];
  const trials: Trial[] = [];
  try {
    await cluster.startAll();
    await cluster.waitForLeader();
    console.error('offered/s   committed/s    p50 ms   p99 ms  p99.9 ms   max ms  failovers');
    for (const rate of rates) {
      const r = await runStep(cluster, rate);
      steps.push(r);
      console.error(
        `${String(r.offered).padStart(9)} ${String(r.committedPerSec).padStart(13)} ${r.p50Ms.toFixed(2).padStart(9)} ${r.p99Ms.toFixed(2).padStart(8)} ${r.p999Ms.toFixed(2).padStart(9)} ${r.maxMs.toFixed(2).padStart(8)} ${String(r.failovers).padStart(10)}`,
      );
      await waitCaughtUp(cluster);
    }
    for (let t = 0; t < TRIALS; t++) {
      const tr = await failoverTrial(cluster);
      trials.push(tr);
      console.error(
        `failover trial ${t + 1}: new leader after ${tr.electedMs} ms, first commit by it acknowledged after ${tr.firstCommitMs} ms`,
      );
    }
  } catch (err) {
    for (const id of cluster.ids) console.error(cluster.tail(id, 20));
    throw err;
  } finally {
    if (process.env.BENCH_NODE_ARGS) await Promise.all(cluster.endpoints.map((e) => cluster.terminate(e.id))); // let profilers write
    await cluster.stop();
  }
  const summary = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { p50Ms: s[Math.floor((s.length - 1) / 2)]!, minMs: s[0]!, maxMs: s[s.length - 1]!, allMs: xs };
  };
  const failover =
    trials.length === 0
      ? null
      : {
          trials: trials.length,
          firstCommit: summary(trials.map((t) => t.firstCommitMs)),
          elected: summary(trials.map((t) => t.electedMs)),
        };
  console.log(
    JSON.stringify({
      bench: 'replicator',
      node: process.version,
      cpus: os.cpus().length,
      fsync,
      clients: CLIENTS,
      window: WINDOW,
      seconds: SECONDS,
      steps,
      failover,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
