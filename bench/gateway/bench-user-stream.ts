// What the private user stream costs on the command path: gateway CPU per order and latency at a
// fixed rate, with no user stream ever logged in ("off") against one logged-in, reading user
// stream per trading account ("on": every report of both accounts journaled with one write(2)
// and sent, each fill's position update too).
//
//   npx tsx bench/gateway/bench-user-stream.ts [--rate 2000 --seconds 10 --warmup-seconds 2 --rounds 5]
//   BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npx tsx bench/gateway/bench-user-stream.ts --rounds 1
//
// Each phase runs on a fresh exchange (bench/gateway/exchange-procs.ts: 3 replicas with fsync on,
// the gateway process with a data dir, so the stream is journaled): an account's stream, once
// opened by a login, is journaled for the rest of the gateway's run, so "off" after "on" on the
// same gateway would not be off. The two modes alternate (off, on; then on, off; …) so that the
// drift of a shared machine hits both alike; medians over the rounds, and their ratio.
// Load: two OrderSession streams (accounts 1 and 2), one order per message, open loop at --rate:
// account 1 buys and account 2 sells 1 lot at one price, so every second order trades (each
// trade: a taker and a maker fill report, each followed by a position update on its stream).
// Latency from each order's scheduled send time to its reply. Last line: one JSON object.

import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { signRequest } from '../../api/signing.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { OrderEntryGrpcClient, type OrderSessionHandle } from '../../gateway/client/grpc-client.js';
import { cpuPerUnit, sampleCpu } from '../cpu.js';
import { startExchangeProcesses, type ExchangeProcs } from './exchange-procs.js';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
    /** The modes of a round, in the order of its even rounds (odd rounds reverse it): comparing builds, `--modes on`. */
    modes: { type: 'string', default: 'off,on' },
  },
});
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const WARMUP_S = Number(args['warmup-seconds']);
const ROUNDS = Number(args.rounds);
const MODES = args.modes!.split(',') as Phase['mode'][];
/** Replies still outstanding after the load are awaited at most this long (ms). */
const DRAIN_MS = 30_000;
/** The stream is done when no message arrived for this long (ms) after the last reply, or at DRAIN_MS. */
const STREAM_QUIET_MS = 500;
const KEYS = [
  { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' },
  { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' },
];
const PRICE = 5_000_000;

interface Phase {
  mode: 'off' | 'on';
  round: number;
  ordersPerSec: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU µs per order of each process over the measured part (generator = this process). */
  cpuUsPerOrder: Record<string, number | null>;
  /** Received on the user streams over the whole phase (0 when off). */
  streamReports: number;
  streamPositionUpdates: number;
}

/** A logged-in user stream counting what it receives. */
interface StreamCounter {
  reports: number;
  updates: number;
  lastAtMs: number;
  ws: WsConnection;
}

async function openStream(restUrl: string, key: (typeof KEYS)[number]): Promise<StreamCounter> {
  const c = { reports: 0, updates: 0, lastAtMs: 0 } as StreamCounter;
  let login: ((ok: boolean) => void) | undefined;
  const loggedIn = new Promise<boolean>((r) => (login = r));
  c.ws = await WsConnection.connect(`${restUrl.replace(/^http/, 'ws')}/v1/user-stream`, {
    onMessage: (d) => {
      c.lastAtMs = performance.now();
      // The type is the first field of every message: no need to parse the rest.
      const head = d.toString('utf8', 0, 32);
      if (head.startsWith('{"type":"report"')) c.reports++;
      else if (head.startsWith('{"type":"position_update"')) c.updates++;
      else login?.(head.startsWith('{"type":"login"'));
    },
    onClose: () => login?.(false),
  });
  const a = signRequest(key, 'GET /v1/user-stream', new Uint8Array(0));
  c.ws.send(JSON.stringify({ op: 'login', api_key: a.apiKey, timestamp: a.timestamp, signature: a.signature }));
  if (!(await loggedIn)) throw new Error(`user stream login of ${key.key} refused`);
  return c;
}

/** Calls fire(scheduledMs) `rate` times a second for `seconds`, catching up after a late timer. */
async function openLoop(rate: number, seconds: number, fire: (scheduledMs: number) => void): Promise<void> {
  const t0 = performance.now();
  const total = Math.round(rate * seconds);
  let fired = 0;
  while (fired < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
    for (; fired < due; fired++) fire(t0 + (fired * 1000) / rate);
    await new Promise((r) => setTimeout(r, 1));
  }
}

function orderOf(n: number): Record<string, unknown> {
  const buy = n % 2 === 0;
  return {
    place: {
      client_order_id: `us${n}`,
      symbol: 'BTC-USD',
      side: buy ? 'BUY' : 'SELL',
      order_type: 'LIMIT',
      price: PRICE,
      quantity: 1,
    },
  };
}

async function runPhase(ex: ExchangeProcs, mode: Phase['mode'], round: number): Promise<Phase> {
  const clients = KEYS.map((key) => new OrderEntryGrpcClient({ address: ex.grpcAddress, key }));
  const sessions: OrderSessionHandle[] = clients.map((c) => c.openSession({}));
  await Promise.all(sessions.map((s) => s.ready));
  const streams = mode === 'on' ? await Promise.all(KEYS.map((k) => openStream(ex.restUrl, k))) : [];
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000 });
  const targets = { generator: 'self' as const, ...ex.cpuTargets() };
  const outstanding = new Set<Promise<void>>();
  let n = 0;
  let measured = 0;
  let errors = 0;
  let measureFrom = Number.POSITIVE_INFINITY;
  const fire = (scheduled: number) => {
    const k = n % 2;
    const p = sessions[k]!.send({ request_id: n + 1, commands: [orderOf(n)] } as never).then(
      (resp) => {
        if (resp.error != null || resp.outcomes?.[0]?.error != null) errors++;
        else if (scheduled >= measureFrom) {
          measured++;
          hist.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1000)));
        }
      },
      () => void errors++,
    );
    n++;
    const q = p.finally(() => outstanding.delete(q));
    outstanding.add(q);
  };
  await openLoop(RATE, WARMUP_S, fire);
  const before = sampleCpu(targets);
  const wallStart = performance.now();
  measureFrom = wallStart;
  await openLoop(RATE, SECONDS, fire);
  const drainBy = performance.now() + DRAIN_MS;
  while (outstanding.size > 0 && performance.now() < drainBy) await new Promise((r) => setTimeout(r, 20));
  const quiet = () => streams.every((s) => performance.now() - s.lastAtMs > STREAM_QUIET_MS);
  while (!quiet() && performance.now() < drainBy) await new Promise((r) => setTimeout(r, 50));
  const cpu = cpuPerUnit(before, sampleCpu(targets), measured, performance.now() - wallStart);
  for (const s of streams) s.ws.destroy();
  await Promise.all(sessions.map((s) => s.close()));
  for (const c of clients) c.close();
  const ms = (us: number) => Math.round(us / 10) / 100;
  return {
    mode,
    round,
    ordersPerSec: Math.round(measured / SECONDS),
    errors,
    p50Ms: ms(hist.getValueAtPercentile(50)),
    p99Ms: ms(hist.getValueAtPercentile(99)),
    cpuUsPerOrder: cpu.usPerUnit,
    streamReports: streams.reduce((a, s) => a + s.reports, 0),
    streamPositionUpdates: streams.reduce((a, s) => a + s.updates, 0),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Medians of a mode's phases: gateway and total CPU µs per order, p50 and p99 ms. */
function summary(phases: Phase[]): Record<string, number> {
  return {
    gatewayCpuUsPerOrder: median(phases.map((p) => p.cpuUsPerOrder.gateway ?? Number.NaN)),
    totalCpuUsPerOrder: median(phases.map((p) => p.cpuUsPerOrder.total ?? Number.NaN)),
    p50Ms: median(phases.map((p) => p.p50Ms)),
    p99Ms: median(phases.map((p) => p.p99Ms)),
  };
}

async function main(): Promise<void> {
  const nodeArgs = process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ');
  const phases: Phase[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? MODES : [...MODES].reverse();
    for (const mode of order) {
      const ex = await startExchangeProcesses(nodeArgs === undefined ? {} : { nodeArgs });
      try {
        const p = await runPhase(ex, mode, round);
        phases.push(p);
        console.log(
          `round ${round} ${mode.padEnd(3)}  ${p.ordersPerSec} orders/s  errors ${p.errors}  p50 ${p.p50Ms} ms  p99 ${p.p99Ms} ms` +
            `  CPU µs/order ${JSON.stringify(p.cpuUsPerOrder)}  stream: ${p.streamReports} reports, ${p.streamPositionUpdates} position updates`,
        );
      } finally {
        await ex.stop();
      }
    }
  }
  const off = summary(phases.filter((p) => p.mode === 'off'));
  const on = summary(phases.filter((p) => p.mode === 'on'));
  const ratio = Object.fromEntries(Object.keys(off).map((k) => [k, Math.round((on[k]! / off[k]!) * 1000) / 1000]));
  // Each round's on/off of the gateway's CPU per order (its two phases ran back to back): the median is less exposed to drift.
  const roundRatios = [...new Set(phases.map((p) => p.round))].flatMap((r) => {
    const g = (m: string) => phases.find((p) => p.round === r && p.mode === m)?.cpuUsPerOrder.gateway;
    const a = g('on');
    const b = g('off');
    return a == null || b == null ? [] : [Math.round((a / b) * 1000) / 1000];
  });
  const gatewayCpuRoundRatioMedian = roundRatios.length === 0 ? null : median(roundRatios);
  console.log(
    `medians: off ${JSON.stringify(off)}  on ${JSON.stringify(on)}  on/off ${JSON.stringify(ratio)}  gateway CPU on/off per round ${JSON.stringify(roundRatios)} (median ${gatewayCpuRoundRatioMedian})`,
  );
  console.log(
    JSON.stringify({
      bench: 'user-stream',
      node: process.version,
      fsync: true,
      rate: RATE,
      seconds: SECONDS,
      rounds: ROUNDS,
      off,
      on,
      onOverOff: ratio,
      gatewayCpuRoundRatios: roundRatios,
      gatewayCpuRoundRatioMedian,
      phases,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
