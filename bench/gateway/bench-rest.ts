// REST edge benchmark: autocannon drives `POST /v1/orders` against a running gateway (the
// harness starts the exchange; this script only sends load).
//
//   npm run bench:rest [-- --url http://127.0.0.1:8080 --rates 5000,10000,20000,30000,max --seconds 5
//                          --connections 64 --pipelining 1 --key demo-key-1 --secret demo-secret-1-change-me]
//
// Every request is built and signed afresh in autocannon's setupRequest (unique
// client_order_id, the gateway rejects replays). Orders: BUY and SELL limits in turn, GTC,
// BTC-USD, quantity 1, resting 1..spread ticks either side of the mid price; every
// `cross-every`-th one is marketable (priced through the other side), so trades are rare and
// the book grows by about one order per request: a mass cancel of the symbol runs before each
// step and at the end (disable with --keep-book). Mind the account's maxOpenOrders (100,000 for
// demo-key-1 in gateway/examples/gateway-local.json): 30,000/s for more than ~3 s exceeds it and
// the excess answers 403 RISK_MAX_OPEN_ORDERS (counted in non-2xx, by status in the JSON).
//
// Fixed rates use autocannon's `overallRate`. Caveats of autocannon 9 found in its source:
//  - the rate is a budget per connection per second (rate / connections), reset by a 1 s
//    timer: each connection sends back to back until its budget is spent, then waits for the
//    next second. Offered load is bursty at the start of each second, not evenly spaced.
//  - its own latency histogram has 1 ms resolution and corrects coordinated omission with an
//    expected interval of ceil(1 / rate) = 1 ms whatever the rate. This script therefore keeps
//    its own histogram (µs, 2xx responses only, like autocannon's) from the per-response
//    timings, corrected with the per-connection interval connections / rate.
//  - `max` is closed loop: every connection keeps `pipelining` requests outstanding.
// uWebSockets.js 20.30 closes a connection that sends a request while an earlier one on it is
// still waiting for its (asynchronous) answer, so --pipelining above 1 shows up as errors and
// reconnects, not as throughput.
//
// Output: a table on stderr, then one JSON line on stdout ({"bench":"rest",…,"steps":[…]}).

import { createRequire } from 'node:module';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { cpuPerUnit, sampleCpu } from '../cpu.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../../api/signing.js';

// autocannon ships no typings: the part of its API this script uses.
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  setupRequest?: (req: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest | null;
}
interface AutocannonOptions {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
  timeout: number;
  overallRate?: number;
  requests: AutocannonRequest[];
}
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  resets: number;
  '2xx': number;
  requests: { total: number };
  statusCodeStats: Record<string, { count: number }>;
}
interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  on(
    event: 'response',
    fn: (client: unknown, statusCode: number, resBytes: number, responseTimeMs: number) => void,
  ): void;
  on(event: 'reqError', fn: (err: Error) => void): void;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: AutocannonOptions) => AutocannonInstance;

export interface BenchRestOptions {
  url: string;
  key: string;
  secret: string;
  /** Offered orders/s per step; 'max' = closed loop. */
  rates: (number | 'max')[];
  seconds: number;
  /** Unreported warm-up at the first fixed rate (s); 0 = none. */
  warmupSeconds: number;
  connections: number;
  /** Requests outstanding per connection in the `max` step (fixed-rate steps use 1). */
  pipelining: number;
  symbol: string;
  midPrice: number;
  /** Resting orders are 1..spreadTicks ticks from the mid. */
  spreadTicks: number;
  /** Every n-th order is marketable; 0 = never. */
  crossEvery: number;
  /** Mass cancel the symbol before each step and at the end. */
  massCancel: boolean;
  /** autocannon request timeout (s). */
  timeoutSeconds: number;
  /** Other processes whose CPU time to account per order (bench/cpu.ts); this one is `generator`. */
  cpuTargets?: Record<string, number>;
  log: (line: string) => void;
}

export interface StepResult {
  offered: number | 'max';
  seconds: number;
  /** Requests built and sent (the last few may be cut off by the end of the step). */
  sent: number;
  /** Responses received. */
  requests: number;
  /** 2xx responses per second. */
  ordersPerSec: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  maxMs: number | null;
  /** CPU µs per 2xx order of each process (generator = this process: autocannon + signing), and the cores busy on average. */
  cpuUsPerOrder: Record<string, number | null>;
  coresBusy: number | null;
}

export interface BenchRestResult {
  bench: 'rest';
  node: string;
  cpus: number;
  url: string;
  connections: number;
  pipelining: number;
  seconds: number;
  steps: StepResult[];
}

export const BENCH_REST_DEFAULTS: BenchRestOptions = {
  url: 'http://127.0.0.1:8080',
  key: 'demo-key-1',
  secret: 'demo-secret-1-change-me',
  rates: [5000, 10000, 20000, 30000, 'max'],
  seconds: 5,
  warmupSeconds: 1,
  connections: 64,
  pipelining: 1,
  symbol: 'BTC-USD',
  midPrice: 5_000_000,
  spreadTicks: 100,
  crossEvery: 100,
  massCancel: true,
  timeoutSeconds: 10,
  log: (line) => console.error(line),
};

const ORDER_PATH = '/v1/orders';
const ORDER_TARGET = `POST ${ORDER_PATH}`;
/** Latencies above this (µs) are clamped into the histogram's top bucket. */
const LATENCY_US_MAX = 60_000_000;

/** Builds the order stream: unique ids across runs and steps, signed per request. */
class OrderSource {
  /** Requests built so far. */
  n = 0;
  private readonly idPrefix = `b${Date.now().toString(36)}${process.pid.toString(36)}-`;
  private readonly signingKey: { key: string; hmacSecret: string };

  constructor(private readonly o: BenchRestOptions) {
    this.signingKey = { key: o.key, hmacSecret: o.secret };
  }

  next(req: AutocannonRequest): AutocannonRequest {
    const i = this.n++;
    const buy = (i & 1) === 0;
    const ticks = 1 + (Math.floor(i / 2) % this.o.spreadTicks);
    const marketable = this.o.crossEvery > 0 && i % this.o.crossEvery === this.o.crossEvery - 1;
    const offset = marketable ? -(this.o.spreadTicks + 1) : ticks;
    const price = buy ? this.o.midPrice - offset : this.o.midPrice + offset;
    const body = Buffer.from(
      `{"client_order_id":"${this.idPrefix}${i.toString(36)}","symbol":"${this.o.symbol}","side":"${buy ? 'BUY' : 'SELL'}","order_type":"LIMIT","time_in_force":"GTC","price":${price},"quantity":1}`,
    );
    const auth = signRequest(this.signingKey, ORDER_TARGET, body);
    req.method = 'POST';
    req.path = ORDER_PATH;
    req.body = body;
    req.headers = {
      'content-type': 'application/json',
      [HEADER_API_KEY]: auth.apiKey,
      [HEADER_TIMESTAMP]: auth.timestamp,
      [HEADER_SIGNATURE]: auth.signature,
    };
    return req;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

async function runStep(
  o: BenchRestOptions,
  source: OrderSource,
  offered: number | 'max',
  seconds: number,
): Promise<StepResult> {
  const fixed = offered !== 'max';
  const connections = fixed ? Math.min(o.connections, offered) : o.connections;
  const pipelining = fixed ? 1 : o.pipelining;
  const latencyUs = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: LATENCY_US_MAX,
    numberOfSignificantValueDigits: 3,
  });
  // Per connection, a fixed-rate step sends one request every connections / rate seconds.
  const expectedIntervalUs = fixed ? Math.max(1, Math.round((connections * 1e6) / offered)) : 0;
  const sentBefore = source.n;
  const cpuTargets = { generator: 'self' as const, ...(o.cpuTargets ?? {}) };
  const cpuBefore = sampleCpu(cpuTargets);
  const wallStart = performance.now();
  const instance = autocannon({
    url: o.url,
    connections,
    pipelining,
    duration: seconds,
    timeout: o.timeoutSeconds,
    ...(fixed ? { overallRate: offered } : {}),
    requests: [{ setupRequest: (req) => source.next(req) }],
  });
  instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
    if (statusCode < 200 || statusCode > 299) return;
    const us = Math.min(LATENCY_US_MAX, Math.max(1, Math.round(responseTimeMs * 1000)));
    if (fixed) latencyUs.recordValueWithExpectedInterval(us, expectedIntervalUs);
    else latencyUs.recordValue(us);
  });
  const r = await instance;
  const cpu = cpuPerUnit(cpuBefore, sampleCpu(cpuTargets), r['2xx'], performance.now() - wallStart);
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = s.count;
  const have = latencyUs.totalCount > 0;
  const ms = (us: number) => (have ? round2(us / 1000) : null);
  const step: StepResult = {
    offered,
    seconds: r.duration,
    sent: source.n - sentBefore,
    requests: r.requests.total,
    ordersPerSec: Math.round(r['2xx'] / r.duration),
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes,
    p50Ms: ms(latencyUs.getValueAtPercentile(50)),
    p99Ms: ms(latencyUs.getValueAtPercentile(99)),
    p999Ms: ms(latencyUs.getValueAtPercentile(99.9)),
    maxMs: ms(latencyUs.maxValue),
    cpuUsPerOrder: cpu.usPerUnit,
    coresBusy: cpu.coresBusy,
  };
  latencyUs.destroy();
  return step;
}

async function clearBook(o: BenchRestOptions, client: OrderEntryRestClient): Promise<void> {
  if (!o.massCancel) return;
  try {
    const r = await client.massCancel({ symbol: o.symbol });
    if (r.status !== 200) o.log(`mass cancel: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  } catch (err) {
    o.log(`mass cancel failed: ${String(err)}`);
  }
}

function fmt(x: number | null, width: number): string {
  return (x === null ? '-' : x.toFixed(2)).padStart(width);
}

/** Runs the steps against a gateway that is already up. */
export async function benchRest(opts: Partial<BenchRestOptions> = {}): Promise<BenchRestResult> {
  const o: BenchRestOptions = { ...BENCH_REST_DEFAULTS, ...opts };
  const client = new OrderEntryRestClient({
    baseUrl: o.url,
    key: { key: o.key, hmacSecret: o.secret },
    timeoutMs: o.timeoutSeconds * 1000,
  });
  const health = await client.health().catch((err: unknown) => {
    throw new Error(`no gateway at ${o.url}: ${String(err)}`);
  });
  if (health.status !== 200) throw new Error(`gateway at ${o.url}: /healthz answered ${health.status}`);
  o.log(
    `bench:rest — POST ${ORDER_PATH} at ${o.url}, ${o.connections} connections (pipelining ${o.pipelining} at max), ${o.seconds} s per step; node ${process.version}, ${os.cpus().length} CPUs`,
  );
  if (o.pipelining > 1)
    o.log(
      'note: uWebSockets.js closes a connection that pipelines behind a pending answer; expect errors with --pipelining > 1',
    );

  const source = new OrderSource(o);
  const firstRate = o.rates.find((r): r is number => r !== 'max');
  if (o.warmupSeconds > 0 && firstRate !== undefined) {
    await clearBook(o, client);
    await runStep(o, source, firstRate, o.warmupSeconds);
  }

  const steps: StepResult[] = [];
  o.log('offered/s    orders/s    non-2xx   errors    p50 ms    p99 ms  p99.9 ms    max ms');
  for (const rate of o.rates) {
    await clearBook(o, client);
    const s = await runStep(o, source, rate, o.seconds);
    steps.push(s);
    o.log(
      `${String(s.offered).padStart(9)} ${String(s.ordersPerSec).padStart(11)} ${String(s.non2xx).padStart(10)} ${String(s.errors + s.timeouts).padStart(8)} ${fmt(s.p50Ms, 9)} ${fmt(s.p99Ms, 9)} ${fmt(s.p999Ms, 9)} ${fmt(s.maxMs, 9)}`,
    );
    const unanswered = s.sent - s.requests - s.errors - s.timeouts;
    if (unanswered > o.connections * o.pipelining)
      o.log(`          ${unanswered} requests sent without an answer (connections closed by the server?)`);
    const other = Object.entries(s.statusCodes).filter(([c]) => !c.startsWith('2'));
    if (other.length > 0) o.log(`          non-2xx by status: ${other.map(([c, n]) => `${c}×${n}`).join(', ')}`);
    o.log(
      `          CPU µs per order: ${Object.entries(s.cpuUsPerOrder)
        .map(([k, v]) => `${k} ${v ?? '-'}`)
        .join(', ')}; cores busy ${s.coresBusy ?? '-'}`,
    );
  }
  await clearBook(o, client);
  return {
    bench: 'rest',
    node: process.version,
    cpus: os.cpus().length,
    url: o.url,
    connections: o.connections,
    pipelining: o.pipelining,
    seconds: o.seconds,
    steps,
  };
}

function positive(name: string, v: string | undefined, integer = true): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
    throw new Error(`--${name}: not a valid number: ${v}`);
  return n;
}

async function main(): Promise<void> {
  const d = BENCH_REST_DEFAULTS;
  const { values: a } = parseArgs({
    options: {
      url: { type: 'string', default: d.url },
      key: { type: 'string', default: d.key },
      secret: { type: 'string', default: d.secret },
      rates: { type: 'string', default: d.rates.join(',') },
      seconds: { type: 'string', default: String(d.seconds) },
      warmup: { type: 'string', default: String(d.warmupSeconds) },
      connections: { type: 'string', default: String(d.connections) },
      pipelining: { type: 'string', default: String(d.pipelining) },
      symbol: { type: 'string', default: d.symbol },
      mid: { type: 'string', default: String(d.midPrice) },
      spread: { type: 'string', default: String(d.spreadTicks) },
      'cross-every': { type: 'string', default: String(d.crossEvery) },
      'keep-book': { type: 'boolean', default: false },
      timeout: { type: 'string', default: String(d.timeoutSeconds) },
    },
  });
  const rates = (a.rates ?? '')
    .split(',')
    .map((r) => (r.trim() === 'max' ? ('max' as const) : positive('rates', r.trim())));
  if (rates.some((r) => r === 0)) throw new Error('--rates: a rate must be positive');
  const result = await benchRest({
    url: a.url!,
    key: a.key!,
    secret: a.secret!,
    rates,
    seconds: positive('seconds', a.seconds, false),
    warmupSeconds: positive('warmup', a.warmup, false),
    connections: Math.max(1, positive('connections', a.connections)),
    pipelining: Math.max(1, positive('pipelining', a.pipelining)),
    symbol: a.symbol!,
    midPrice: positive('mid', a.mid),
    spreadTicks: Math.max(1, positive('spread', a.spread)),
    crossEvery: positive('cross-every', a['cross-every']),
    massCancel: !a['keep-book'],
    timeoutSeconds: Math.max(1, positive('timeout', a.timeout)),
  });
  console.log(JSON.stringify(result));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
