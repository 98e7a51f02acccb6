// `npm run bench:fix`: orders through the FIX 4.4 acceptor (fix/) against the same orders through
// gRPC sessions, on the exchange bench:latency uses (bench/latency/exchange-proc.ts: 3 replica
// processes with fsync on and feeds, the gateway with its FIX port, the embedded broker, the
// publisher, the query service, on temporary directories). Orders alternate a buy (account 1)
// and a sell (account 2) at one price, so every second order trades (bench/latency/clients.ts).
//   1. round trip: `--orders` sequential orders per protocol (one in flight: NewOrderSingle to
//      its first ExecutionReport; gRPC: a one-command OrderSession request to its response), after
//      a warm-up, in `--rounds` alternating rounds: p50/p90/p99/max per round and their medians.
//   2. throughput: a closed loop keeping `--inflight` orders in flight for `--seconds`, spread over
//      `--sessions` FIX sessions per account (each acceptor connection takes at most
//      FIX_INBOUND_MESSAGES_PER_S_MAX messages/s) and as many gRPC sessions: orders/s, latency, and
//      the CPU each process spent per order; alternating rounds, medians.
// Last line: one JSON object (README "Benchmarks", bench/README.md).

import { parseArgs } from 'node:util';
import { cpuPerUnit, sampleCpu, type CpuTargets } from '../cpu.js';
import { spawnTsx, terminate } from '../../ops/child-process.js';
import { fixSender, grpcSessionSender, type Sender } from '../latency/clients.js';
import { type Summary, summarize } from '../latency/summary.js';

const { values: a } = parseArgs({
  options: {
    orders: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    inflight: { type: 'string', default: '64' },
    sessions: { type: 'string', default: '2' },
  },
});
const ORDERS = Number(a.orders);
const ROUNDS = Number(a.rounds);
const SECONDS = Number(a.seconds);
const INFLIGHT = Number(a.inflight);
const SESSIONS = Number(a.sessions);
/** Orders sent first on each new sender and not counted (connections, JIT). */
const WARMUP_ORDERS = 200;
const PROTOCOLS = ['fix', 'grpc-session'] as const;
type Protocol = (typeof PROTOCOLS)[number];

const child = spawnTsx('bench/latency/exchange-proc.ts', [], { name: 'exchange', readyTimeoutMs: 120_000 });
const ready = (await child.ready) as { grpcAddress: string; fixAddress: string; pids: Record<string, number> };
const targets: CpuTargets = ready.pids;
let next = 0; // order numbers are never reused: client order ids stay unique

function sender(p: Protocol, tag: string, sessions: number): Promise<Sender> {
  return p === 'fix' ? fixSender(ready.fixAddress, tag, sessions) : grpcSessionSender(ready.grpcAddress, tag);
}

async function roundTrip(p: Protocol, round: number): Promise<Summary> {
  const s = await sender(p, `rt${round}${p === 'fix' ? 'f' : 'g'}${Date.now()}`, 1);
  for (let i = 0; i < WARMUP_ORDERS; i++) await s.place(next++);
  const ms: number[] = [];
  for (let i = 0; i < ORDERS; i++) {
    const t0 = process.hrtime.bigint();
    await s.place(next++);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await s.close();
  return summarize(ms);
}

/** Keeps INFLIGHT orders in flight for SECONDS; each order timed from its send. */
async function closedLoop(p: Protocol, round: number) {
  // gRPC: one session per account (a session takes batches; its queue is bounded in bytes, not rate).
  const s = await sender(p, `tp${round}${p === 'fix' ? 'f' : 'g'}${Date.now()}`, SESSIONS);
  for (let i = 0; i < WARMUP_ORDERS; i++) await s.place(next++);
  const ms: number[] = [];
  let failed = 0;
  const c0 = sampleCpu(targets);
  const t0 = performance.now();
  const endAt = t0 + SECONDS * 1000;
  const worker = async () => {
    while (performance.now() < endAt) {
      const start = performance.now();
      try {
        await s.place(next++);
        ms.push(performance.now() - start);
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
  const wallMs = performance.now() - t0;
  const cpu = cpuPerUnit(c0, sampleCpu(targets), ms.length, wallMs);
  await s.close();
  return {
    ordersPerS: Math.round((ms.length * 1000) / wallMs),
    failed,
    latency: summarize(ms),
    cpuUsPerOrder: cpu.usPerUnit,
    coresBusy: cpu.coresBusy,
  };
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const result: Record<string, unknown> = {
  bench: 'fix',
  orders: ORDERS,
  rounds: ROUNDS,
  seconds: SECONDS,
  inflight: INFLIGHT,
  fixSessionsPerAccount: SESSIONS,
  fsync: true,
  replicas: 3,
};
try {
  const rt: Record<Protocol, Summary[]> = { fix: [], 'grpc-session': [] };
  const tp: Record<Protocol, Awaited<ReturnType<typeof closedLoop>>[]> = { fix: [], 'grpc-session': [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const p of r % 2 === 0 ? PROTOCOLS : [...PROTOCOLS].reverse()) {
      rt[p].push(await roundTrip(p, r));
      console.error(`round trip ${p} round ${r}: ${JSON.stringify(rt[p].at(-1))}`);
    }
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const p of r % 2 === 0 ? PROTOCOLS : [...PROTOCOLS].reverse()) {
      tp[p].push(await closedLoop(p, r));
      console.error(`throughput ${p} round ${r}: ${JSON.stringify(tp[p].at(-1))}`);
    }
  }
  const roundTripOut: Record<string, unknown> = {};
  const throughputOut: Record<string, unknown> = {};
  for (const p of PROTOCOLS) {
    roundTripOut[p] = {
      rounds: rt[p],
      medianP50: median(rt[p].map((x) => x.p50)),
      medianP99: median(rt[p].map((x) => x.p99)),
    };
    throughputOut[p] = {
      rounds: tp[p],
      medianOrdersPerS: median(tp[p].map((x) => x.ordersPerS)),
      medianP50: median(tp[p].map((x) => x.latency.p50)),
      medianP99: median(tp[p].map((x) => x.latency.p99)),
      medianCpuUsPerOrder: median(tp[p].map((x) => x.cpuUsPerOrder.total ?? Number.NaN)),
      medianGatewayCpuUsPerOrder: median(tp[p].map((x) => x.cpuUsPerOrder.gateway ?? Number.NaN)),
    };
  }
  result.roundTrip = roundTripOut;
  result.throughput = throughputOut;
} finally {
  await terminate(child, 20_000);
}
console.log(JSON.stringify(result));
