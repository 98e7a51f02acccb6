// gRPC order-entry benchmark: the exchange as processes (3 replicas with fsync on, the gateway)
// and, in this process, load over OrderSession streams.
//
//   npm run bench:grpc [-- --seconds 5 --rates 5000,10000 --batch-rates 20000,30000,50000 --batch 50 --streams 4]
//
// - single: open loop at a fixed rate, one order per stream message (the latency target's case);
// - batched: open loop at a fixed rate, orders sent in messages of `--batch` commands;
// - max: closed loop, every stream keeps `--window` messages of `--batch` orders in flight.
// Latency runs from each message's SCHEDULED send time to its response (the orders it carries
// committed on a majority, applied, reports signed), so a stall is charged to everything
// scheduled during it. Orders: alternate BUY/SELL limits far from each other (rarely crossing),
// quantity 1, each stream its own account session; a mass cancel empties the book before each
// step. Each step also reports CPU µs per order of every process (bench/cpu.ts). Last line: one
// JSON object.

import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { OrderEntryGrpcClient } from '../../gateway/client/grpc-client.js';
import { cpuPerUnit, sampleCpu, type CpuTargets } from '../cpu.js';
import { startExchangeProcesses } from './exchange-procs.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rates: { type: 'string', default: '5000,10000' },
    'batch-rates': { type: 'string', default: '20000,30000,50000' },
    batch: { type: 'string', default: '50' },
    streams: { type: 'string', default: '4' },
    window: { type: 'string', default: '8' },
    max: { type: 'boolean', default: true },
    'no-max': { type: 'boolean', default: false },
    url: { type: 'string' },
  },
});
const SECONDS = Number(args.seconds);
const BATCH = Number(args.batch);
const STREAMS = Number(args.streams);
const WINDOW = Number(args.window);
const WARMUP_S = 1;
const TICK_MS = 1;
const DRAIN_MS = 20_000;
const KEYS = [
  { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' },
  { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' },
];

interface Step {
  mode: 'single' | 'batched' | 'max';
  offered: number | 'max';
  batch: number;
  ordersPerSec: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** CPU µs per acknowledged order of each process over the whole step (warm-up included; generator = this process). */
  cpuUsPerOrder: Record<string, number | null>;
  coresBusy: number | null;
}

let orderNo = 0;
/** Error kinds seen (code or message → count), reported with the step. */
const errorKinds = new Map<string, number>();
function noteError(e: unknown): void {
  const o = e as { code?: unknown; errorCode?: unknown; message?: unknown } | undefined;
  const k = String(o?.errorCode ?? o?.code ?? o?.message ?? e).slice(0, 80);
  errorKinds.set(k, (errorKinds.get(k) ?? 0) + 1);
}
function order(): Record<string, unknown> {
  const n = orderNo++;
  const buy = n % 2 === 0;
  return {
    place: {
      client_order_id: `g${n}`,
      symbol: 'BTC-USD',
      side: buy ? 'BUY' : 'SELL',
      order_type: 'LIMIT',
      price: buy ? 4_900_000 + (n % 500) : 5_100_000 - (n % 500),
      quantity: 1,
    },
  };
}

/** Mass-cancels the orders of every key's account, so that each step starts from an empty book (the orders rarely cross: without this, later steps run against hundreds of thousands of resting orders). */
async function clearBook(address: string): Promise<void> {
  for (const key of KEYS) {
    const c = new OrderEntryGrpcClient({ address, key });
    try {
      await c.massCancel({ symbol: 'BTC-USD' });
    } catch (err) {
      console.error(`mass cancel failed: ${String(err)}`);
    } finally {
      c.close();
    }
  }
}

/**
 * Offers the step's load from t0 until end through `send(stream, scheduled)`: with rate 'max' a closed loop of WINDOW
 * messages in flight per stream, else an open loop of rate/batch messages per second spread over the streams in turn.
 */
async function offerLoad(
  rate: number | 'max',
  batch: number,
  streams: number,
  t0: number,
  end: number,
  send: (k: number, scheduled: number) => Promise<void>,
): Promise<void> {
  if (rate === 'max') {
    await new Promise((r) => setTimeout(r, Math.max(0, t0 - performance.now())));
    const loop = async (k: number) => {
      while (performance.now() < end) await send(k, performance.now());
    };
    await Promise.all(Array.from({ length: streams }, (_, k) => Array.from({ length: WINDOW }, () => loop(k))).flat());
  } else {
    const msgsPerSec = rate / batch;
    const interval = 1000 / msgsPerSec;
    let i = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        for (;;) {
          const scheduled = t0 + i * interval;
          if (scheduled > now || scheduled >= end) break;
          void send(i % streams, scheduled);
          i++;
        }
        if (t0 + i * interval >= end) {
          clearInterval(timer);
          resolve();
        }
      }, TICK_MS);
    });
  }
}

async function runStep(
  address: string,
  mode: Step['mode'],
  rate: number | 'max',
  batch: number,
  cpuTargets: CpuTargets,
): Promise<Step> {
  await clearBook(address);
  const clients = Array.from(
    { length: STREAMS },
    (_, k) => new OrderEntryGrpcClient({ address, key: KEYS[k % KEYS.length]! }),
  );
  const sessions = clients.map((c) => c.openSession({}));
  const hist = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let acked = 0;
  let ackedAll = 0;
  let errors = 0;
  const cpuBefore = sampleCpu(cpuTargets);
  const wallStart = performance.now();
  let requestId = 0;
  const outstanding = new Set<Promise<void>>();
  const t0 = performance.now() + 50;
  const measureFrom = t0 + WARMUP_S * 1000;
  const end = measureFrom + SECONDS * 1000;
  const send = (k: number, scheduled: number): Promise<void> => {
    const rid = ++requestId;
    const commands = Array.from({ length: batch }, order);
    const p = sessions[k]!.send({ request_id: rid, commands }).then(
      (resp: { outcomes?: { error?: unknown }[]; error?: unknown }) => {
        const done = performance.now();
        const bad =
          resp.error !== undefined && resp.error !== null
            ? batch
            : (resp.outcomes ?? []).filter((o) => o.error !== undefined && o.error !== null).length;
        if (bad > 0)
          noteError(resp.error ?? (resp.outcomes ?? []).find((o) => o.error !== undefined && o.error !== null)?.error);
        errors += bad;
        ackedAll += batch - bad;
        if (scheduled >= measureFrom && scheduled < end) {
          acked += batch - bad;
          hist.recordValue(Math.max(1, Math.round((done - scheduled) * 1000)));
        }
      },
      (err: unknown) => {
        errors += batch;
        noteError(err);
      },
    );
    const q = p.finally(() => outstanding.delete(q));
    outstanding.add(q);
    return q;
  };
  await offerLoad(rate, batch, sessions.length, t0, end, send);
  const drainBy = performance.now() + DRAIN_MS;
  while (outstanding.size > 0 && performance.now() < drainBy) await new Promise((r) => setTimeout(r, 20));
  const cpu = cpuPerUnit(cpuBefore, sampleCpu(cpuTargets), ackedAll, performance.now() - wallStart);
  for (const s of sessions) s.close();
  for (const c of clients) c.close();
  if (errorKinds.size > 0) console.error(`  ${mode} ${rate}: errors ${JSON.stringify(Object.fromEntries(errorKinds))}`);
  errorKinds.clear();
  const ms = (us: number) => Math.round(us / 10) / 100;
  return {
    mode,
    offered: rate,
    batch,
    ordersPerSec: Math.round(acked / SECONDS),
    errors,
    p50Ms: ms(hist.getValueAtPercentile(50)),
    p99Ms: ms(hist.getValueAtPercentile(99)),
    p999Ms: ms(hist.getValueAtPercentile(99.9)),
    maxMs: ms(hist.maxValue),
    cpuUsPerOrder: cpu.usPerUnit,
    coresBusy: cpu.coresBusy,
  };
}

async function main(): Promise<void> {
  const ex =
    args.url === undefined
      ? await startExchangeProcesses(
          process.env.BENCH_GATEWAY_NODE_ARGS ? { nodeArgs: process.env.BENCH_GATEWAY_NODE_ARGS.split(' ') } : {},
        )
      : undefined;
  const address = args.url ?? ex!.grpcAddress;
  const steps: Step[] = [];
  const cpuTargets: CpuTargets = { generator: 'self', ...(ex?.cpuTargets() ?? {}) };
  try {
    const list = (s: string) =>
      s
        .split(',')
        .filter((x) => x.length > 0)
        .map(Number);
    for (const r of list(args.rates!)) steps.push(await runStep(address, 'single', r, 1, cpuTargets));
    for (const r of list(args['batch-rates']!)) steps.push(await runStep(address, 'batched', r, BATCH, cpuTargets));
    if (args.max && !args['no-max']) steps.push(await runStep(address, 'max', 'max', BATCH, cpuTargets));
  } finally {
    await ex?.stop();
  }
  console.log('mode      offered/s  batch   orders/s  errors   p50 ms   p99 ms  p99.9 ms   max ms');
  for (const s of steps) {
    console.log(
      `${s.mode.padEnd(8)} ${String(s.offered).padStart(10)} ${String(s.batch).padStart(6)} ${String(s.ordersPerSec).padStart(10)} ${String(s.errors).padStart(7)} ${s.p50Ms.toFixed(2).padStart(8)} ${s.p99Ms.toFixed(2).padStart(8)} ${s.p999Ms.toFixed(2).padStart(9)} ${s.maxMs.toFixed(2).padStart(8)}` +
        `   CPU µs/order ${Object.entries(s.cpuUsPerOrder)
          .map(([k, v]) => `${k} ${v ?? '-'}`)
          .join(', ')}; cores busy ${s.coresBusy ?? '-'}`,
    );
  }
  console.log(
    JSON.stringify({ bench: 'grpc', node: process.version, fsync: true, streams: STREAMS, seconds: SECONDS, steps }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
