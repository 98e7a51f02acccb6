// Feed benchmark: N WebSocket subscribers on one feed process while orders flow.
//
//   npm run bench:feed
//   npm run bench:feed -- --steps 100x10000/10,1000x10000/10 --seconds 5 --workers 2 --channels l2
//   npm run bench:feed -- --numbers decimal     # every subscriber with ?numbers=decimal (mixed: every second one)
//
// Processes: the feed process (bench/feed/feed-process.ts: a ShardStateMachine applying log
// entries at a fixed rate and a MarketDataFeed on uWebSockets.js, wired as in a replica) and
// this one, whose worker threads (bench/feed/load-worker.ts) hold the subscriber connections
// over loopback. A step `SUBSxRATE/PER` runs SUBS subscribers while RATE commands/s (engine
// mix 1: book updates) are applied in entries of PER commands, i.e. RATE/PER log entries/s;
// every entry that changes the book is one l2 message to every subscriber.
//
// Measured per step, over `--seconds` after `--warmup`: messages delivered per second (summed
// over subscribers, counted by the subscribers), latency from each entry's scheduled time to a
// subscriber's receipt (p50/p99/p99.9/max, HDR histogram; open loop: a stall of the feed
// process counts against everything scheduled during it), seq gaps (must be 0), the feed
// process's CPU and event-loop utilisation, the generator threads' utilisation (near 1: the
// generator, not the feed, was the limit). Plus, in this process, the client library's cost
// per l2 update (JSON parse, book update, checksum) on the same workload.
//
// Everything shares this machine's cores (2 here): the feed process, the generator threads
// and the kernel's loopback work. Figures are for this machine. Last line: one JSON object;
// also written to bench/results/feed-<date>.json.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { Engine } from '../../engine/engine.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import { LocalL2Book } from '../../feed/client/local-book.js';
import { fromDecimalForm, toDecimalForm } from '../../feed/decimal-form.js';
import { MarketDataProjector } from '../../feed/projector.js';
import type { L2Message } from '../../feed/types.js';
import { SYMBOL, generateMix1 } from '../engine/workloads.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '../..');

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '100x10000/10,100x10000/1,1000x10000/100,1000x10000/10,1000x20000/10' },
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
    channels: { type: 'string', default: 'l2' },
    numbers: { type: 'string', default: 'units' },
    'publish-us-per-connection': { type: 'string', default: '' },
    out: { type: 'string' },
  },
});
const SECONDS = Number(args.seconds);
const WARMUP_S = Number(args.warmup);
const WORKERS = Number(args.workers);
const CHANNELS = args.channels.split(',');
/** units | decimal (every subscriber with ?numbers=decimal) | mixed (every second one). */
const NUMBERS = args.numbers;
if (!['units', 'decimal', 'mixed'].includes(NUMBERS)) throw new Error('--numbers: units, decimal or mixed');
/** Between steps: let buffers drain (ms). */
const SETTLE_MS = 500;
/** Any single wait of the orchestrator (ms). */
const WAIT_MS = 120_000;

interface Step {
  subscribers: number;
  commandsPerSec: number;
  commandsPerEntry: number;
}

const steps: Step[] = args.steps.split(',').map((s) => {
  const m = /^(\d+)x(\d+)\/(\d+)$/.exec(s.trim());
  if (m === null) throw new Error(`--steps: expected SUBSxRATE/PER, got ${s}`);
  return { subscribers: Number(m[1]), commandsPerSec: Number(m[2]), commandsPerEntry: Number(m[3]) };
});

function within<T>(p: Promise<T>, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`bench-feed: ${what} took over ${WAIT_MS} ms`)), WAIT_MS);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function nextMessage<T>(emitter: ChildProcess | Worker, type: string): Promise<T> {
  return within(
    new Promise<T>((resolve, reject) => {
      const on = (m: { type: string; error?: string }) => {
        if (m.type === 'failed') {
          emitter.off('message', on);
          reject(new Error(m.error));
        } else if (m.type === type) {
          emitter.off('message', on);
          resolve(m as T);
        }
      };
      emitter.on('message', on);
    }),
    `waiting for ${type}`,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface WorkerReport {
  messages: number;
  bytes: number;
  gaps: number;
  closed: number;
  elu: number;
  hist: string;
}

interface FeedDone {
  entries: number;
  commands: number;
  seconds: number;
  lagMaxMs: number;
  cpuMs: number;
  elu: number;
  published: number;
  deliveries: number;
  lagging: number;
  closedSlow: number;
  exhausted: boolean;
  publishIntervalMs: number;
}

/** The client library's cost: JSON.parse + book update + checksum per l2 update, one core. */
/** The decimals the feed process gives SYMBOL (feed-process.ts): issue 19's BTC-USD. */
const BENCH_DECIMALS = { priceDecimals: 2, qtyDecimals: 8 };

/** Mix 1's l2 messages in entries of 10 commands, after 10,000 commands of warm-up: a snapshot, then the updates. */
function l2Messages(): { messages: L2Message[]; levels: number } {
  const w = generateMix1(210_000, 2);
  const engine = new Engine(w.config);
  const projector = MarketDataProjector.fromEngine(engine);
  const buf = new EventBuffer();
  const messages: L2Message[] = [];
  let levels = 0;
  for (let k = 0; k < w.commands.length; k += 10) {
    buf.clear();
    for (let j = k; j < k + 10 && j < w.commands.length; j++) engine.apply(w.commands[j]!, buf);
    projector.apply(buf, 0, buf.count);
    projector.flush((m) => {
      if (m.channel === 'l2' && k >= 10_000) {
        messages.push(m);
        levels += m.bids.length + m.asks.length;
      }
    });
    if (k === 10_000 - 10) messages.push(projector.snapshot(SYMBOL, 'l2') as L2Message);
  }
  return { messages, levels };
}

/** Best of three runs of fn (ms), after one to warm up. */
function bestMs(fn: () => void): number {
  const run = () => {
    const t = performance.now();
    fn();
    return performance.now() - t;
  };
  run();
  return Math.min(run(), run(), run());
}

const usEach = (ms: number, n: number) => Math.round((ms * 1000 * 100) / n) / 100;

/**
 * The client library's cost per l2 update (JSON.parse, book update, checksum), in units and in
 * decimal form (plus fromDecimalForm); and the server's cost per published message of each form
 * (JSON.stringify; toDecimalForm + JSON.stringify): paid once per message and topic, whatever
 * the number of subscribers.
 */
function clientCost() {
  const { messages, levels } = l2Messages();
  const texts = messages.map((m) => JSON.stringify(m));
  const decimalTexts = messages.map((m) => JSON.stringify(toDecimalForm(m, BENCH_DECIMALS)));
  const follow = (ts: string[], parse: (t: string) => L2Message) => () => {
    const book = new LocalL2Book(SYMBOL);
    book.applySnapshot(parse(ts[0]!));
    for (let i = 1; i < ts.length; i++) {
      const m = parse(ts[i]!);
      book.applyUpdate(m);
      if (book.checksum() !== m.checksum) throw new Error('client cost: checksum mismatch');
    }
  };
  const ms = bestMs(follow(texts, (t) => JSON.parse(t) as L2Message));
  const decimalMs = bestMs(
    follow(decimalTexts, (t) => fromDecimalForm(JSON.parse(t) as L2Message<string>, BENCH_DECIMALS) as L2Message),
  );
  const encodeMs = bestMs(() => {
    for (const m of messages) JSON.stringify(m);
  });
  const encodeDecimalMs = bestMs(() => {
    for (const m of messages) JSON.stringify(toDecimalForm(m, BENCH_DECIMALS));
  });
  const n = texts.length - 1;
  return {
    updates: n,
    perSec: Math.round(n / (ms / 1000)),
    usPerUpdate: usEach(ms, n),
    usPerUpdateDecimal: usEach(decimalMs, n),
    levelsPerUpdate: Math.round((levels / n) * 10) / 10,
    serverUsPerMessage: usEach(encodeMs, n + 1),
    serverUsPerMessageDecimal: usEach(encodeDecimalMs, n + 1),
    bytesPerMessage: Math.round(texts.reduce((b, t) => b + t.length, 0) / texts.length),
    bytesPerMessageDecimal: Math.round(decimalTexts.reduce((b, t) => b + t.length, 0) / decimalTexts.length),
  };
}

/** A step's figures from the subscribers' reports over a measuring window of windowS seconds and the feed process's own. */
function stepFigures(step: Step, rs: WorkerReport[], f: FeedDone, windowS: number) {
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const r of rs) h.add(hdr.decodeFromCompressedBase64(r.hist));
  const messages = rs.reduce((n, r) => n + r.messages, 0);
  const ms = (p: number) => Math.round(h.getValueAtPercentile(p) / 10) / 100;
  return {
    subscribers: step.subscribers,
    commandsPerSec: step.commandsPerSec,
    commandsPerEntry: step.commandsPerEntry,
    entriesPerSec: Math.round(f.entries / f.seconds),
    appliedCommandsPerSec: Math.round(f.commands / f.seconds),
    publishedPerSec: Math.round(f.published / f.seconds),
    deliveredPerSec: Math.round(messages / windowS),
    bytesPerSec: Math.round(rs.reduce((n, r) => n + r.bytes, 0) / windowS),
    p50Ms: ms(50),
    p99Ms: ms(99),
    p999Ms: ms(99.9),
    maxMs: Math.round(h.maxValue / 10) / 100,
    gaps: rs.reduce((n, r) => n + r.gaps, 0),
    closed: rs.reduce((n, r) => n + r.closed, 0),
    lagging: f.lagging,
    feedCpu: Math.round((f.cpuMs / 1000 / f.seconds) * 100) / 100,
    feedElu: f.elu,
    generatorLagMaxMs: f.lagMaxMs,
    loadgenElu: rs.map((r) => Math.round(r.elu * 100) / 100),
    publishIntervalMs: f.publishIntervalMs,
    exhausted: f.exhausted,
  };
}

/** The feed process's first message: its port, the generated stream and its publish interval. */
interface FeedReady {
  port: number;
  generateMs: number;
  commands: number;
  publishIntervalUsPerConnection: number;
  publishIntervalMaxMs: number;
}

/** Spawns the feed process (bench/feed/feed-process.ts) with enough commands for every step and waits until it listens. */
async function startFeedProcess(needed: number): Promise<{ feed: ChildProcess; ready: FeedReady }> {
  // BENCH_FEED_NODE_ARGS: extra node flags for the feed process (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
  const feedNodeArgs = (process.env.BENCH_FEED_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const feed = spawn(
    process.execPath,
    [
      ...feedNodeArgs,
      '--import',
      'tsx',
      path.join(HERE, 'feed-process.ts'),
      String(needed),
      args['publish-us-per-connection'],
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const ready = await nextMessage<FeedReady>(feed, 'ready');
  return { feed, ready };
}

/**
 * Closes the current subscribers and opens `subscribers` connections spread over the generator threads.
 * Edits `workers` in place so that main's finally terminates whatever was started, even on a failure half-way.
 */
async function replaceSubscribers(
  workers: Worker[],
  subscribers: number,
  workerCode: string,
  url: string,
): Promise<void> {
  for (const w of workers) {
    w.postMessage({ type: 'close' });
    await nextMessage(w, 'closed');
    await w.terminate();
  }
  workers.length = 0;
  await sleep(SETTLE_MS);
  const per = Math.ceil(subscribers / WORKERS);
  for (let i = 0; i < WORKERS && i * per < subscribers; i++) {
    const n = Math.min(per, subscribers - i * per);
    workers.push(
      new Worker(workerCode, {
        eval: true,
        workerData: { url, connections: n, symbol: SYMBOL, channels: CHANNELS, numbers: NUMBERS },
      }),
    );
  }
  for (const w of workers) w.postMessage({ type: 'connect' });
  await Promise.all(workers.map((w) => nextMessage(w, 'connected')));
}

async function main(): Promise<void> {
  const needed = steps.reduce((n, s) => n + s.commandsPerSec * (SECONDS + WARMUP_S + 1), 0) + 20_000;
  const { feed, ready } = await startFeedProcess(needed);
  const url = `ws://127.0.0.1:${ready.port}/v1/ws`;
  console.log(
    `feed process up on :${ready.port} (${ready.commands.toLocaleString()} mix 1 commands generated in ${ready.generateMs} ms); publish interval ${ready.publishIntervalUsPerConnection} µs per connection, at most ${ready.publishIntervalMaxMs} ms; ${WORKERS} generator threads; channels ${CHANNELS.join(',')}; numbers ${NUMBERS}`,
  );

  // A worker's main module is not loaded through tsx's ESM hooks in Node 20: load it through
  // tsx's require hook instead (as piscina does for the gateway's workers).
  const tsxCjs = createRequire(import.meta.url).resolve('tsx/cjs');
  const workerCode = `require(${JSON.stringify(tsxCjs)}); require(${JSON.stringify(path.join(HERE, 'load-worker.ts'))});`;
  const workers: Worker[] = [];
  let connected = 0;
  const results = [];
  try {
    for (const step of steps) {
      if (connected !== step.subscribers) {
        await replaceSubscribers(workers, step.subscribers, workerCode, url);
        connected = step.subscribers;
      }
      feed.send({
        type: 'run',
        commandsPerSec: step.commandsPerSec,
        commandsPerEntry: step.commandsPerEntry,
        seconds: WARMUP_S + SECONDS,
      });
      const done = nextMessage<FeedDone>(feed, 'done');
      await sleep(WARMUP_S * 1000 + 10);
      for (const w of workers) w.postMessage({ type: 'measure' });
      const t0 = performance.now();
      await sleep(SECONDS * 1000 - 20);
      const reports = workers.map((w) => nextMessage<WorkerReport>(w, 'report'));
      for (const w of workers) w.postMessage({ type: 'report' });
      const window = (performance.now() - t0) / 1000;
      const rs = await Promise.all(reports);
      const f = await done;
      await sleep(SETTLE_MS);
      const res = stepFigures(step, rs, f, window);
      results.push(res);
      console.log(
        `${String(step.subscribers).padStart(5)} subs  ${String(step.commandsPerSec).padStart(6)} cmd/s in ${String(res.entriesPerSec).padStart(5)} entries/s:  ` +
          `${res.deliveredPerSec.toLocaleString().padStart(10)} msg/s delivered  p50 ${res.p50Ms} ms  p99 ${res.p99Ms} ms  p99.9 ${res.p999Ms} ms  max ${res.maxMs} ms  ` +
          `gaps ${res.gaps}  feed cpu ${res.feedCpu}  loadgen elu ${res.loadgenElu.join('/')}`,
      );
    }
  } finally {
    for (const w of workers) await w.terminate();
    feed.send({ type: 'exit' });
  }
  const client = clientCost();
  console.log(
    `client library: ${client.perSec.toLocaleString()} l2 updates/s on one core (${client.usPerUpdate} µs each: JSON.parse, book update, checksum; ${client.levelsPerUpdate} levels per update); decimal form ${client.usPerUpdateDecimal} µs`,
  );
  console.log(
    `server, per published message and form: units ${client.serverUsPerMessage} µs (${client.bytesPerMessage} bytes), decimal ${client.serverUsPerMessageDecimal} µs (${client.bytesPerMessageDecimal} bytes)`,
  );
  const out = {
    bench: 'feed',
    node: process.version,
    cpus: os.cpus().length,
    channels: CHANNELS,
    numbers: NUMBERS,
    workers: WORKERS,
    publishIntervalUsPerConnection: ready.publishIntervalUsPerConnection,
    publishIntervalMaxMs: ready.publishIntervalMaxMs,
    seconds: SECONDS,
    steps: results,
    client,
  };
  const file = args.out ?? path.join(REPO_ROOT, 'bench/results', `feed-${new Date().toISOString().slice(0, 10)}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(out)}\n`);
  console.log(JSON.stringify(out));
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(`bench-feed failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
