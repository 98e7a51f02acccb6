// What the uWebSockets.js compat layer (ops/uws-compat/) costs against the native binary (issue
// 21), on what the exchange's servers do (bench/runtimes/uws-bench-server.ts). Variants: `native`
// (this Node, 20: the binary), `compat` (this Node with MATCHBOOK_UWS=compat: same Node, so the
// ratio is the layer's own cost), and with --other a later Node (22/24: compat, as it runs there).
// Rounds alternate the variants so the drift of a shared machine hits all; medians over rounds.
//
//   npx tsx bench/runtimes/compare.ts [--other /path/to/node24] [--rounds 3] [--http-seconds 5]
//     [--connections 32] [--subs 100] [--fanout-rate 1000] [--fanout-seconds 5] [--bytes 400]
//     [--out bench/results/uws-compat-DATE.json]
//
// Per variant and round: (1) HTTP: autocannon, `--connections` keep-alive connections, as fast
// as they go, GET /v1/time for `--http-seconds`: requests/s, latency p50/p99 (autocannon's, ms),
// the server's CPU µs per request; (2) WebSocket fan-out: `--subs` subscribers (ws clients in
// this process) of one topic, the server publishes `--fanout-rate` messages/s of `--bytes` for
// `--fanout-seconds`: messages delivered per second, latency from the send stamp to receipt
// (p50/p99/max µs), the server's CPU µs per delivered message. The load generator always runs on
// this process's Node; only the server's runtime changes. Last line: one JSON object (also
// written to --out when given).

import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { processCpuMs } from '../cpu.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '../..');
const require = createRequire(import.meta.url);
/** Bounds (ms) for a loaded machine. */
const READY_TIMEOUT_MS = 60_000;
const FANOUT_DRAIN_MS = 30_000;
const LATENCY_US_MAX = 60_000_000;

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
const autocannon = require('autocannon') as (o: Record<string, unknown>) => PromiseLike<AutocannonResult>;

const { values: a } = parseArgs({
  options: {
    other: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    'http-seconds': { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    subs: { type: 'string', default: '100' },
    'fanout-rate': { type: 'string', default: '1000' },
    'fanout-seconds': { type: 'string', default: '5' },
    bytes: { type: 'string', default: '400' },
    out: { type: 'string' },
  },
});

interface Server {
  proc: ChildProcess;
  port: number;
  info: Record<string, unknown>;
  events: AsyncIterator<string>;
}

interface Variant {
  node: string;
  /** MATCHBOOK_UWS for the server (undefined: unset, the automatic choice). */
  uwsMode: string | undefined;
}

async function startServer(v: Variant): Promise<Server> {
  const env = { ...process.env };
  if (v.uwsMode === undefined) delete env.MATCHBOOK_UWS;
  else env.MATCHBOOK_UWS = v.uwsMode;
  const proc = spawn(v.node, ['--import', 'tsx', path.join(HERE, 'uws-bench-server.ts')], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'ignore'],
    env,
  });
  const events = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const timer = setTimeout(() => proc.kill('SIGKILL'), READY_TIMEOUT_MS);
  const first = await events.next();
  clearTimeout(timer);
  if (first.done === true) throw new Error(`${v.node}: the bench server exited before it was ready`);
  const info = JSON.parse(first.value) as Record<string, unknown>;
  return { proc, port: info.port as number, info, events };
}

async function stopServer(s: Server): Promise<void> {
  const exited = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGKILL');
  await exited;
}

const cpuMs = (s: Server) => processCpuMs(s.proc.pid!) ?? Number.NaN;
const round1 = (x: number) => Math.round(x * 10) / 10;

async function httpPhase(s: Server) {
  const cpu0 = cpuMs(s);
  const r = await autocannon({
    url: `http://127.0.0.1:${s.port}/v1/time`,
    connections: Number(a.connections),
    duration: Number(a['http-seconds']),
  });
  const cpu = cpuMs(s) - cpu0;
  return {
    requestsPerSec: Math.round(r.requests.average),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    serverCpuUsPerRequest: round1((cpu * 1000) / Math.max(1, r.requests.total)),
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

async function connectSubscribers(port: number, n: number, onMessage: (data: string) => void) {
  // The feed client's dependency-free WebSocket (feed/client/ws-connection.ts): the same on every Node.
  const handlers = { onMessage: (d: Buffer) => onMessage(d.toString('latin1')), onClose: () => undefined };
  return Promise.all(Array.from({ length: n }, () => WsConnection.connect(`ws://127.0.0.1:${port}/ws`, handlers)));
}

async function fanoutPhase(s: Server) {
  const latencyUs = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_US_MAX });
  let received = 0;
  const subs = await connectSubscribers(s.port, Number(a.subs), (data) => {
    const t = BigInt(/"t":"(\d+)"/.exec(data)![1]!);
    latencyUs.recordValue(Math.min(LATENCY_US_MAX, Math.max(1, Number((process.hrtime.bigint() - t) / 1000n))));
    received++;
  });
  const cpu0 = cpuMs(s);
  const t0 = performance.now();
  s.proc.stdin!.write(`fanout ${a['fanout-rate']} ${a['fanout-seconds']} ${a.bytes}\n`);
  const done = JSON.parse((await s.events.next()).value as string) as { delivered: number };
  const deadline = Date.now() + FANOUT_DRAIN_MS;
  while (received < done.delivered && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const wallS = (performance.now() - t0) / 1000;
  const cpu = cpuMs(s) - cpu0;
  for (const ws of subs) ws.destroy();
  return {
    subscribers: subs.length,
    delivered: done.delivered,
    received,
    messagesPerSec: Math.round(received / wallS),
    p50Us: latencyUs.getValueAtPercentile(50),
    p99Us: latencyUs.getValueAtPercentile(99),
    maxUs: latencyUs.maxValue,
    serverCpuUsPerMessage: round1((cpu * 1000) / Math.max(1, done.delivered)),
  };
}

async function oneRun(v: Variant) {
  const s = await startServer(v);
  try {
    return { server: s.info, http: await httpPhase(s), fanout: await fanoutPhase(s) };
  } finally {
    await stopServer(s);
  }
}

function median(xs: number[]): number {
  const v = [...xs].sort((x, y) => x - y);
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

type Run = Awaited<ReturnType<typeof oneRun>>;

function medians(runs: Run[]) {
  const of = <K extends 'http' | 'fanout'>(k: K) => {
    const keys = Object.keys(runs[0]![k]) as (keyof Run[K])[];
    return Object.fromEntries(keys.map((f) => [f, median(runs.map((r) => Number(r[k][f])))]));
  };
  return { server: runs[0]!.server, http: of('http'), fanout: of('fanout') };
}

const variants: Record<string, Variant> = {
  native: { node: process.execPath, uwsMode: 'native' },
  compat: { node: process.execPath, uwsMode: 'compat' },
  ...(a.other !== undefined ? { other: { node: a.other, uwsMode: undefined } } : {}),
};
const runs: Record<string, Run[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let round = 0; round < Number(a.rounds); round++) {
  for (const [name, v] of Object.entries(variants)) {
    const r = await oneRun(v);
    runs[name]!.push(r);
    console.log(`round ${round + 1} ${name} ${String(r.server.node)} (${String(r.server.uws)}): ${JSON.stringify(r)}`);
  }
}
const med = Object.fromEntries(Object.entries(runs).map(([k, rs]) => [k, medians(rs)]));
/** compat ÷ native on the same Node: what the layer costs (CPU) and gives up (throughput). */
const ratio = (k: 'http' | 'fanout', f: string) =>
  Math.round((Number(med.compat![k][f]) / Number(med.native![k][f])) * 100) / 100;
const load = os.loadavg().map((x) => Math.round(x * 100) / 100);
const result = {
  bench: 'uws-compat',
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavgAfter: load },
  options: a,
  medians: med,
  compatOverNative: {
    httpRequestsPerSec: ratio('http', 'requestsPerSec'),
    httpServerCpuUsPerRequest: ratio('http', 'serverCpuUsPerRequest'),
    fanoutServerCpuUsPerMessage: ratio('fanout', 'serverCpuUsPerMessage'),
  },
  runs,
};
if (a.out !== undefined) writeFileSync(a.out, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result));
