// npx tsx bench/gateway/bench-validation.ts [-- --requests N] [--threads T] [--batches 1,8,32,64,128,256]
//                                           [--window W] [--rates 20000,50000] [--open-seconds S] [--warmup N]
//                                           [--repeats R] [--no-inline] [--quick]
//
// The gateway's validation pool (gateway/worker-pool.ts) with each batchMax in --batches: N
// signed JSON PlaceOrder requests (HMAC-SHA256, distinct client order ids) through
// ValidationPool.validate() — signature check, replay cache, JSON decode, validation, engine
// command encoding — on T worker threads. Per batchMax, a fresh pool, a warm-up, then:
//   closed loop   W requests outstanding until all N are answered:
//                   req/s     N / wall time
//                   p50/p99   submit → answer, per request (mostly queueing: ≈ W / throughput)
//   open loop     for each rate R: R requests/s offered for S seconds on a fixed schedule
//                 (1 ms timer ticks, so a request waits up to ~1 ms for its tick: included),
//                   p50/p99   from the scheduled time to the answer (a stall is charged to
//                             everything scheduled during it)
//                   batch     mean items per piscina task (the adaptive batches at that load)
//   tasks         piscina tasks of the closed loop, and the mean batch size
// R rounds (default 3), each running every batchMax once (order rotated per round); the summary
// table gives the medians. Plus one reference figure: the same work inline on the main thread
// (validation-worker runTask, batches of 64), i.e. the CPU cost of one request, no thread hop.
// The receive window is set to 1 hour so that requests signed before the runs stay valid. The
// machine's cores are shared by the main thread (queueing, replay cache, promise plumbing) and
// the workers. Prints a table, then as the last line one JSON object.

import os from 'node:os';
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { signRequest } from '../../api/signing.js';
import type { RawRequest } from '../../gateway/types.js';
import { createWorkerState, runTask } from '../../gateway/validation-worker.js';
import { ValidationPool } from '../../gateway/worker-pool.js';

interface Options {
  requests: number;
  threads: number;
  batches: number[];
  window: number;
  rates: number[];
  openSeconds: number;
  warmup: number;
  inline: boolean;
  repeats: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    requests: 200_000,
    threads: 2,
    batches: [1, 8, 32, 64, 128, 256],
    window: 4096,
    rates: [20_000, 50_000],
    openSeconds: 3,
    warmup: 20_000,
    inline: true,
    repeats: 3,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`missing value for ${a}`);
      return v;
    };
    const num = (): number => {
      const v = Number(next().replace(/_/g, ''));
      if (!Number.isFinite(v) || v <= 0) throw new Error(`bad value for ${a}`);
      return v;
    };
    if (a === '--') continue;
    else if (a === '--requests') o.requests = Math.floor(num());
    else if (a === '--threads') o.threads = Math.floor(num());
    else if (a === '--batches')
      o.batches = next()
        .split(',')
        .map((s) => Math.floor(Number(s)));
    else if (a === '--window') o.window = Math.floor(num());
    else if (a === '--rates')
      o.rates = next()
        .split(',')
        .map((x) => Number(x.replace(/_/g, '')));
    else if (a === '--open-seconds') o.openSeconds = num();
    else if (a === '--warmup') o.warmup = Math.floor(num());
    else if (a === '--no-inline') o.inline = false;
    else if (a === '--repeats') o.repeats = Math.floor(num());
    else if (a === '--quick') {
      o.requests = 50_000;
      o.openSeconds = 1;
      o.warmup = 5_000;
      o.repeats = 1;
    } else if (a === '--help' || a === '-h') {
      console.log(
        'usage: npx tsx bench/gateway/bench-validation.ts [--requests N] [--threads T] [--batches 1,8,32,64,128,256] [--window W] [--rates 20000,50000] [--open-seconds S] [--warmup N] [--repeats R] [--no-inline] [--quick]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.batches.some((b) => !Number.isSafeInteger(b) || b < 1)) throw new Error('bad --batches');
  if (o.rates.some((r) => !Number.isFinite(r) || r <= 0)) throw new Error('bad --rates');
  return o;
}

const KEY = { key: 'bench-key', hmacSecret: 'bench-secret-0123456789' };
const WINDOW_MS = 3_600_000;
const config = {
  receiveWindowMs: WINDOW_MS,
  shards: [
    {
      id: 0,
      instruments: [
        {
          symbol: 'BTC-USD',
          tickSize: 1,
          lotSize: 1,
          minQty: 1,
          maxQty: 1_000_000,
          maxPrice: 1_000_000_000,
          priceDecimals: 2,
          qtyDecimals: 4,
        },
      ],
    },
  ],
  accounts: [{ account: 1, apiKeys: [{ key: KEY.key, hmacSecret: KEY.hmacSecret }] }],
  adminKeys: [],
};
const TARGET = 'POST /v1/orders';
const enc = new TextEncoder();

function makeRequests(prefix: string, n: number): RawRequest[] {
  const out: RawRequest[] = new Array(n);
  const ts = Date.now();
  for (let i = 0; i < n; i++) {
    const body = enc.encode(
      JSON.stringify({
        client_order_id: `${prefix}-${i}`,
        symbol: 'BTC-USD',
        side: i % 2 === 0 ? 'BUY' : 'SELL',
        order_type: 'LIMIT',
        time_in_force: 'GTC',
        price: 5_000_000 + (i % 200) * 10,
        quantity: 1 + (i % 100),
      }),
    );
    out[i] = { op: 'PlaceOrder', encoding: 'json', body, target: TARGET, auth: signRequest(KEY, TARGET, body, ts) };
  }
  return out;
}

interface Lat {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function histogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

function lat(h: hdr.Histogram): Lat {
  const r = (us: number) => Math.round(us / 10) / 100;
  return { p50Ms: r(h.getValueAtPercentile(50)), p99Ms: r(h.getValueAtPercentile(99)), maxMs: r(h.maxValue) };
}

function check(ok: boolean, what: string): void {
  if (!ok) {
    console.error(`bench failure: ${what}`);
    process.exit(1);
  }
}

/** Closed loop: `window` outstanding until every request is answered. */
async function closedLoop(
  pool: ValidationPool,
  reqs: RawRequest[],
  window: number,
): Promise<{ seconds: number; lat: Lat }> {
  const h = histogram();
  let next = 0;
  let done = 0;
  let failed = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const submit = (): void => {
      const req = reqs[next++]!;
      const start = performance.now();
      void pool.validate(req).then((r) => {
        h.recordValue(Math.max(1, Math.round((performance.now() - start) * 1000)));
        if (!r.ok) failed++;
        done++;
        if (next < reqs.length) submit();
        else if (done === reqs.length) resolve();
      });
    };
    for (let k = 0; k < Math.min(window, reqs.length); k++) submit();
  });
  const seconds = (performance.now() - t0) / 1000;
  check(failed === 0, `${failed} requests refused in the closed loop`);
  return { seconds, lat: lat(h) };
}

/** Open loop: `rate` requests/s on a fixed schedule; latency from the scheduled time. */
async function openLoop(pool: ValidationPool, reqs: RawRequest[], rate: number): Promise<{ perSec: number; lat: Lat }> {
  const h = histogram();
  const n = reqs.length;
  let sent = 0;
  let done = 0;
  let failed = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(n, Math.floor(((now - t0) / 1000) * rate) + 1);
      while (sent < due) {
        const scheduled = t0 + (sent / rate) * 1000;
        void pool.validate(reqs[sent++]!).then((r) => {
          h.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1000)));
          if (!r.ok) failed++;
          if (++done === n) resolve();
        });
      }
      if (sent < n) setTimeout(tick, 1);
    };
    tick();
  });
  const seconds = (performance.now() - t0) / 1000;
  check(failed === 0, `${failed} requests refused in the open loop`);
  return { perSec: n / seconds, lat: lat(h) };
}

interface OpenRow {
  rate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  perSec: number;
  meanBatch: number;
}
type Row = {
  batchMax: number;
  closedPerSec: number;
  closedP50Ms: number;
  closedP99Ms: number;
  tasks: number;
  meanBatch: number;
  open: OpenRow[];
};

/** The reference figure: µs per request with the same work inline on this thread (no pool, no replay cache); 0 with --no-inline. */
function inlineUsPerRequest(o: Options, warm: RawRequest[], closed: RawRequest[]): number {
  const state = createWorkerState(config);
  const nowMs = Date.now();
  const inlineN = o.inline ? Math.min(o.requests, 50_000) : 0;
  for (let i = 0; i < Math.min(inlineN, 5_000); i += 64)
    runTask(state, { kind: 'requests', items: warm.slice(i, i + 64).map((req) => ({ req, nowMs })) });
  const ti = performance.now();
  for (let i = 0; i < inlineN; i += 64) {
    const out = runTask(state, { kind: 'requests', items: closed.slice(i, i + 64).map((req) => ({ req, nowMs })) }) as {
      ok: boolean;
    }[];
    check(
      out.every((x) => x.ok),
      'inline validation refused a request',
    );
  }
  const inlineUs = inlineN === 0 ? 0 : ((performance.now() - ti) * 1000) / inlineN;
  if (inlineN > 0)
    console.log(
      `inline (main thread, no pool): ${inlineUs.toFixed(1)} µs per request → ${Math.round(1e6 / inlineUs).toLocaleString('en-US')} req/s on one core`,
    );
  return inlineUs;
}

/** One batchMax on a fresh pool: warm-up, the closed loop, then the open loop at each rate. */
async function measureBatchMax(
  o: Options,
  b: number,
  warm: RawRequest[],
  closed: RawRequest[],
  opens: RawRequest[][],
): Promise<Row> {
  const pool = new ValidationPool({ config, threads: o.threads, batchMax: b, queueMax: 1 << 22 });
  try {
    await closedLoop(pool, warm, Math.min(o.window, warm.length));
    const s0 = pool.stats();
    const c = await closedLoop(pool, closed, o.window);
    const s1 = pool.stats();
    const open: OpenRow[] = [];
    for (let k = 0; k < o.rates.length; k++) {
      const before = pool.stats();
      const op = await openLoop(pool, opens[k]!, o.rates[k]!);
      const after = pool.stats();
      open.push({
        rate: o.rates[k]!,
        ...op.lat,
        perSec: Math.round(op.perSec),
        meanBatch: Math.round(((after.items - before.items) / (after.tasks - before.tasks)) * 10) / 10,
      });
    }
    const tasks = s1.tasks - s0.tasks;
    return {
      batchMax: b,
      closedPerSec: Math.round(o.requests / c.seconds),
      closedP50Ms: c.lat.p50Ms,
      closedP99Ms: c.lat.p99Ms,
      tasks,
      meanBatch: Math.round(((s1.items - s0.items) / tasks) * 10) / 10,
      open,
    };
  } finally {
    await pool.close();
  }
}

/** Per batchMax, the median of each figure over the rounds. */
function medianRows(o: Options, runs: Map<number, Row[]>): Row[] {
  const median = (xs: number[]): number => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length % 2 === 1 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  };
  return o.batches.map((b) => {
    const rs = runs.get(b)!;
    const m = (f: (r: Row) => number) => Math.round(median(rs.map(f)) * 100) / 100;
    return {
      batchMax: b,
      closedPerSec: Math.round(m((r) => r.closedPerSec)),
      closedP50Ms: m((r) => r.closedP50Ms),
      closedP99Ms: m((r) => r.closedP99Ms),
      tasks: m((r) => r.tasks),
      meanBatch: m((r) => r.meanBatch),
      open: o.rates.map((rate, k) => ({
        rate,
        p50Ms: m((r) => r.open[k]!.p50Ms),
        p99Ms: m((r) => r.open[k]!.p99Ms),
        maxMs: m((r) => r.open[k]!.maxMs),
        perSec: Math.round(m((r) => r.open[k]!.perSec)),
        meanBatch: m((r) => r.open[k]!.meanBatch),
      })),
    };
  });
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const openNs = o.rates.map((r) => Math.round(r * o.openSeconds));
  const tGen = performance.now();
  const warm = makeRequests('w', o.warmup);
  const closed = makeRequests('c', o.requests);
  const opens = openNs.map((n, k) => makeRequests(`o${k}`, n));
  console.log(
    `node ${process.version}, ${os.cpus().length} cpus (${os.cpus()[0]?.model ?? '?'}), ${o.threads} worker threads`,
  );
  console.log(
    `signed ${o.warmup + o.requests + openNs.reduce((a, b) => a + b, 0)} requests in ${((performance.now() - tGen) / 1000).toFixed(1)} s; ` +
      `closed loop: ${o.requests} requests, ${o.window} outstanding; open loop: ${o.rates.join(', ')} req/s for ${o.openSeconds} s each`,
  );

  // Reference: the same work inline on this thread (no pool, no replay cache).
  const inlineUs = inlineUsPerRequest(o, warm, closed);
  console.log('');

  const runs = new Map<number, Row[]>(o.batches.map((b) => [b, []]));
  const header = [
    'batchMax',
    'closed req/s',
    'p50 ms',
    'p99 ms',
    'tasks',
    'batch',
    ...o.rates.flatMap((r) => [`open ${r}/s p50 ms`, 'p99 ms', 'batch']),
  ];
  const line = (row: Row): string =>
    [
      row.batchMax,
      row.closedPerSec.toLocaleString('en-US'),
      row.closedP50Ms,
      row.closedP99Ms,
      row.tasks,
      row.meanBatch,
      ...row.open.flatMap((x) => [x.p50Ms, x.p99Ms, x.meanBatch]),
    ].join(' | ');
  console.log(header.join(' | '));
  // Rounds: every batchMax once per round, the order rotated each round, so that a noisy
  // stretch of a shared machine does not hit one setting only; the summary takes medians.
  for (let round = 0; round < o.repeats; round++) {
    console.log(`-- round ${round + 1}/${o.repeats}`);
    for (let j = 0; j < o.batches.length; j++) {
      const b = o.batches[(j + round) % o.batches.length]!;
      const row = await measureBatchMax(o, b, warm, closed, opens);
      runs.get(b)!.push(row);
      console.log(line(row));
    }
  }
  const rows = medianRows(o, runs);
  console.log('');
  console.log(`medians of ${o.repeats} rounds:`);
  console.log(header.join(' | '));
  for (const row of rows) console.log(line(row));
  console.log(
    JSON.stringify({
      bench: 'gateway-validation',
      node: process.version,
      cpus: os.cpus().length,
      threads: o.threads,
      requests: o.requests,
      window: o.window,
      openRates: o.rates,
      openSeconds: o.openSeconds,
      repeats: o.repeats,
      inlineUsPerRequest: Math.round(inlineUs * 100) / 100,
      rows,
      runs: Object.fromEntries(runs),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
