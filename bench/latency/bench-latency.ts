// `npm run bench:latency`: what one client sees of a fresh exchange started as `npm start` starts
// it (bench/latency/exchange-proc.ts: 3 replicas with fsync on and feeds, the gateway, the
// embedded broker, the publisher, the query service). Phases:
//   1. sequential: N single orders one after another per protocol (REST keep-alive, gRPC unary,
//      gRPC OrderSession with one order per message; `--protocols fix`: FIX 4.4 NewOrderSingle): p50/p90/p99/max.
//   2. open loop: a fixed rate (default 1,000 orders/s) over gRPC sessions for S seconds, each
//      order timed from its scheduled send time (no coordinated omission); the CPU of every
//      exchange process over the step.
//   3. idle: the CPU of every exchange process over I seconds with no orders.
// Each phase also reads the stage breakdown the gateway and the leader keep (trace, ops/trace).
// Last line: one JSON object.

import { parseArgs } from 'node:util';
import { cpuPerUnit, sampleCpu, type CpuTargets } from '../cpu.js';
import { spawnTsx, terminate } from '../../ops/child-process.js';
import { fixSender, grpcSessionSender, grpcUnarySender, restSender, type Sender } from './clients.js';
import { scrape, stageDelta } from './stages.js';
import { type Summary, summarize } from './summary.js';

const { values: a } = parseArgs({
  options: {
    orders: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    'idle-seconds': { type: 'string', default: '30' },
    protocols: { type: 'string', default: 'rest,grpc-unary,grpc-session' },
  },
});
const ORDERS = Number(a.orders);
const RATE = Number(a.rate);
const SECONDS = Number(a.seconds);
const IDLE_S = Number(a['idle-seconds']);
/** Sequential orders sent first on each connection and not counted (connections, JIT). */
const WARMUP_ORDERS = 200;

async function sequential(sender: Sender, n: number, offset: number): Promise<Summary> {
  for (let i = 0; i < WARMUP_ORDERS; i++) await sender.place(offset + i);
  const ms: number[] = [];
  for (let i = WARMUP_ORDERS; i < WARMUP_ORDERS + n; i++) {
    const t0 = process.hrtime.bigint();
    await sender.place(offset + i);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return summarize(ms);
}

/** Open loop at `rate`/s for `seconds`: every order timed from when it was due. */
async function openLoop(
  sender: Sender,
  rate: number,
  seconds: number,
  offset: number,
): Promise<{ sent: number; failed: number; latency: Summary; wallMs: number }> {
  const total = rate * seconds;
  const ms: number[] = [];
  let failed = 0;
  const start = performance.now();
  const inflight = new Set<Promise<void>>();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const p = sender.place(offset + i).then(
      () => void ms.push(performance.now() - due),
      () => void failed++,
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  return { sent: total, failed, latency: summarize(ms), wallMs: performance.now() - start };
}

// BENCH_EXCHANGE_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"): node flags of the gateway's process.
const nodeArgs = process.env.BENCH_EXCHANGE_NODE_ARGS?.split(' ').filter((x) => x.length > 0);
const child = spawnTsx('bench/latency/exchange-proc.ts', [], {
  name: 'exchange',
  readyTimeoutMs: 120_000,
  ...(nodeArgs !== undefined ? { nodeArgs } : {}),
});
const ready = (await child.ready) as {
  restUrl: string;
  grpcAddress: string;
  fixAddress: string;
  pids: Record<string, number>;
  metrics: { replicas: string[] };
};
const stagesNow = () =>
  scrape(
    `${ready.restUrl}/metrics`,
    ready.metrics.replicas.map((a) => `http://${a}/metrics`),
  );
const targets: CpuTargets = ready.pids;
const result: Record<string, unknown> = { bench: 'latency', orders: ORDERS, fsync: true, replicas: 3 };
try {
  const tag = `lat${Date.now()}`;
  const seq: Record<
    string,
    Summary & { cpuUsPerOrder: Record<string, number | null>; stages: ReturnType<typeof stageDelta> }
  > = {};
  const protocols = a.protocols!.split(',');
  let offset = 0;
  for (const p of protocols) {
    const sender =
      p === 'rest'
        ? restSender(ready.restUrl, tag)
        : p === 'grpc-unary'
          ? await grpcUnarySender(ready.grpcAddress, tag)
          : p === 'fix'
            ? await fixSender(ready.fixAddress, tag)
            : await grpcSessionSender(ready.grpcAddress, tag);
    const before = await stagesNow();
    const c0 = sampleCpu(targets);
    const t0 = performance.now();
    const s = await sequential(sender, ORDERS, offset);
    const cpu = cpuPerUnit(c0, sampleCpu(targets), ORDERS + WARMUP_ORDERS, performance.now() - t0);
    seq[p] = { ...s, cpuUsPerOrder: cpu.usPerUnit, stages: stageDelta(before, await stagesNow()) };
    offset += ORDERS + WARMUP_ORDERS;
    await sender.close();
    console.error(`sequential ${p}: ${JSON.stringify(seq[p])}`);
  }
  result.sequential = seq;

  if (RATE > 0 && SECONDS > 0) {
    const sender = await grpcSessionSender(ready.grpcAddress, `${tag}o`);
    const before = await stagesNow();
    const c0 = sampleCpu(targets);
    const t0 = performance.now();
    const ol = await openLoop(sender, RATE, SECONDS, 0);
    const cpu = cpuPerUnit(c0, sampleCpu(targets), ol.sent, performance.now() - t0);
    const stages = stageDelta(before, await stagesNow());
    await sender.close();
    result.openLoop = {
      rate: RATE,
      seconds: SECONDS,
      ...ol,
      cpuUsPerOrder: cpu.usPerUnit,
      coresBusy: cpu.coresBusy,
      stages,
    };
    console.error(`open loop ${RATE}/s: ${JSON.stringify(result.openLoop)}`);
  }

  if (IDLE_S > 0) {
    await new Promise((r) => setTimeout(r, 2_000)); // let the open loop's tail settle
    const c0 = sampleCpu(targets);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const wall = performance.now() - t0;
    const c1 = sampleCpu(targets);
    const perProcess: Record<string, number> = {};
    let total = 0;
    for (const k of Object.keys(c1.at)) {
      const d = (c1.at[k] ?? 0) - (c0.at[k] ?? 0);
      perProcess[k] = Math.round((d / wall) * 10000) / 100;
      total += d;
    }
    result.idle = { seconds: IDLE_S, percentOfOneCore: Math.round((total / wall) * 10000) / 100, perProcess };
    console.error(`idle: ${JSON.stringify(result.idle)}`);
  }
} finally {
  await terminate(child, 20_000);
}
console.log(JSON.stringify(result));
