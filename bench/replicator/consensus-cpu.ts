// CPU per committed command of each replica, Raft against Multi-Paxos, at the same offered rate:
// where the replicas' cycles go, apart from the gateway and the events stack that the paper
// bench (bench/seed/) also counts. Replica processes (processes/replica.ts) on loopback, fsync
// on, the same open-loop client-protocol load for each protocol, protocols alternated per trial.
//
//   npm run bench:consensus-cpu [-- --consensus raft,multipaxos --replicas 3 --rate 3000 --seconds 8 --trials 3]
//   npm run bench:consensus-cpu -- --cpu-prof /tmp/prof --trials 1   # V8 profiles of every replica
//
// Prints per protocol the median over trials of the leader's and the mean follower's CPU µs per
// acknowledged command, the whole cluster's, and the latency from scheduled send to
// acknowledgement (p50, p99); the last line is JSON.

import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ReplicaClient } from '../../replicator/client/client.js';
import { ProcessCluster, sleep } from '../../replicator/process-cluster.js';
import type { NodeId } from '../../replicator/log.js';
import * as hdr from 'hdr-histogram-js';
import { processCpuMs } from '../cpu.js';
import { buyCancelCommand } from './buy-cancel-flow.js';

const { values: args } = parseArgs({
  options: {
    consensus: { type: 'string', default: 'raft,multipaxos' },
    replicas: { type: 'string', default: '3' },
    rate: { type: 'string', default: '3000' },
    seconds: { type: 'string', default: '8' },
    trials: { type: 'string', default: '3' },
    clients: { type: 'string', default: '4' },
    'cpu-prof': { type: 'string' },
  },
});
const PROTOCOLS = args.consensus.split(',').filter((s) => s !== '');
const REPLICAS = Number(args.replicas);
const RATE_PER_S = Number(args.rate);
const SECONDS = Number(args.seconds);
const TRIALS = Number(args.trials);
const CLIENTS = Number(args.clients);
/** Commands in flight per client session (the client protocol's window). */
const WINDOW = 256;
/** Load before the measured window, so connections, JIT and batching have settled (ms). */
const WARMUP_MS = 1_500;
/** Generator timer period (ms): every command due since the last tick is sent together. */
const GENERATOR_TICK_MS = 1;
/** How long the commands still in flight after the window may take to be acknowledged (ms). */
const DRAIN_MS_MAX = 20_000;

interface TrialResult {
  consensus: string;
  acked: number;
  leaderUsPerCmd: number;
  followerUsPerCmd: number;
  replicasUsPerCmd: number;
  /** Latency from a command's scheduled send to its acknowledgement, commands scheduled in the window (ms). */
  p50Ms: number;
  p99Ms: number;
}

/** Open-loop load at RATE_PER_S for the warm-up plus `SECONDS`; counts acks of the measured window. */
async function drive(
  cluster: ProcessCluster,
  leader: NodeId,
  onWindow: (phase: 'start' | 'end') => void,
): Promise<{ acked: number; p50Ms: number; p99Ms: number }> {
  const endpoints = [...cluster.endpoints].sort((a, b) => Number(b.id === leader) - Number(a.id === leader));
  const clients = Array.from({ length: CLIENTS }, () => new ReplicaClient({ endpoints, windowMax: WINDOW }));
  const counts = clients.map(() => 0);
  const t0 = performance.now();
  const from = t0 + WARMUP_MS;
  const end = from + SECONDS * 1000;
  let acked = 0;
  let inFlight = 0;
  let sent = 0;
  let windowStarted = false;
  const latencyUs = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000 });
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (!windowStarted && now >= from) {
        windowStarted = true;
        onWindow('start');
      }
      while (t0 + (sent * 1000) / RATE_PER_S <= Math.min(now, end)) {
        const scheduled = t0 + (sent * 1000) / RATE_PER_S;
        const k = sent++ % CLIENTS;
        inFlight++;
        clients[k]!.submit(buyCancelCommand(k + 1, counts[k]!++)).then(
          () => {
            inFlight--;
            const t = performance.now();
            if (t >= from && t < end) acked++;
            if (scheduled >= from && scheduled < end)
              latencyUs.recordValue(Math.max(1, Math.round((t - scheduled) * 1000)));
          },
          () => inFlight--,
        );
      }
      if (now >= end) {
        clearInterval(timer);
        onWindow('end');
        resolve();
      }
    }, GENERATOR_TICK_MS);
  });
  const drainBy = performance.now() + DRAIN_MS_MAX;
  while (inFlight > 0 && performance.now() < drainBy) await sleep(20);
  for (const c of clients) c.close();
  const ms = (us: number) => Math.round(us / 10) / 100;
  return { acked, p50Ms: ms(latencyUs.getValueAtPercentile(50)), p99Ms: ms(latencyUs.getValueAtPercentile(99)) };
}

async function trial(consensus: string, n: number): Promise<TrialResult> {
  const profDir = args['cpu-prof'] === undefined ? undefined : path.join(args['cpu-prof'], `${consensus}-${n}`);
  if (profDir !== undefined) mkdirSync(profDir, { recursive: true });
  const cluster = await ProcessCluster.create({
    size: REPLICAS,
    consensus,
    ...(profDir !== undefined ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] } : {}),
  });
  try {
    await cluster.startAll();
    const leader = await cluster.waitForLeader();
    const ids = cluster.endpoints.map((e) => e.id);
    const cpu = (id: NodeId) => processCpuMs(cluster.pid(id) ?? -1) ?? Number.NaN;
    let before = new Map<NodeId, number>();
    let after = new Map<NodeId, number>();
    const { acked, p50Ms, p99Ms } = await drive(cluster, leader, (phase) => {
      const m = new Map(ids.map((id) => [id, cpu(id)]));
      if (phase === 'start') before = m;
      else after = m;
    });
    const us = (id: NodeId) => ((after.get(id)! - before.get(id)!) * 1000) / Math.max(1, acked);
    const followers = ids.filter((id) => id !== leader);
    const followerUs = followers.reduce((s, id) => s + us(id), 0) / followers.length;
    return {
      consensus,
      acked,
      leaderUsPerCmd: Math.round(us(leader)),
      followerUsPerCmd: Math.round(followerUs),
      replicasUsPerCmd: Math.round(ids.reduce((s, id) => s + us(id), 0)),
      p50Ms,
      p99Ms,
    };
  } finally {
    // SIGTERM: a clean exit, so --cpu-prof writes its profiles.
    for (const id of cluster.endpoints.map((e) => e.id)) await cluster.terminate(id).catch(() => undefined);
    await cluster.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const results: TrialResult[] = [];
  for (let t = 0; t < TRIALS; t++)
    for (const c of PROTOCOLS) {
      const r = await trial(c, t);
      results.push(r);
      console.error(
        `trial ${t + 1} ${c}: ${r.acked} acked; leader ${r.leaderUsPerCmd} µs/cmd, follower ${r.followerUsPerCmd}, all replicas ${r.replicasUsPerCmd}; p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`,
      );
    }
  const summary = PROTOCOLS.map((c) => {
    const rs = results.filter((r) => r.consensus === c);
    return {
      consensus: c,
      ackedPerSec: Math.round(median(rs.map((r) => r.acked)) / SECONDS),
      leaderUsPerCmd: median(rs.map((r) => r.leaderUsPerCmd)),
      followerUsPerCmd: median(rs.map((r) => r.followerUsPerCmd)),
      replicasUsPerCmd: median(rs.map((r) => r.replicasUsPerCmd)),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
    };
  });
  for (const s of summary)
    console.log(
      `${s.consensus.padEnd(11)} ${String(s.ackedPerSec).padStart(6)}/s  leader ${s.leaderUsPerCmd} µs/cmd  follower ${s.followerUsPerCmd} µs/cmd  all ${REPLICAS} replicas ${s.replicasUsPerCmd} µs/cmd  p50 ${s.p50Ms} ms  p99 ${s.p99Ms} ms`,
    );
  console.log(
    JSON.stringify({
      bench: 'consensus-cpu',
      date: new Date().toISOString(),
      cpus: os.cpus().length,
      loadAverage: os.loadavg(),
      replicas: REPLICAS,
      offeredPerSec: RATE_PER_S,
      seconds: SECONDS,
      trials: TRIALS,
      summary,
      results,
    }),
  );
}

await main();
