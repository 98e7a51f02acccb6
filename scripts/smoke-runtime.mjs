#!/usr/bin/env node
// Smoke run of the whole exchange on the Node binary that runs this script (issue 21: CI runs it
// on Node 20, 22 and 24). Plain JavaScript with no imports of ours, so any Node can run it:
//
//   <node> scripts/smoke-runtime.mjs [--port-offset N] [--data-dir DIR] [--attach]
//
// 1. Starts the exchange as `npm start` does (processes/exchange.ts, or dist/processes/exchange.js
//    when the build has made it) with this Node, a temporary data root and a port offset (default:
//    one whose ports are all free and outside the ephemeral port range), and waits for its banner ("Ctrl-C to stop.").
//    --attach uses an exchange already running at the offset instead (nothing started or stopped).
// 2. Over real sockets: subscribes to BTC-USD trades on a replica's feed (WebSocket), places a
//    resting buy (account 1) and a crossing sell (account 2) over REST, signed by hand as
//    gateway/README.md describes, checks both replies and GET /v1/orders/{id}; waits for the trade
//    on the feed; polls the query service (REST) until account 2's fill is there; reads every
//    uWS-serving process's `matchbook_runtime_info` (gateway, replica feed, query service).
// 3. Stops the exchange (SIGINT; it must exit 0) and removes the temporary data root.
// Exit 0 if all of it held, else 1 with what failed. Last stdout line: one JSON object
// {"node","abi","uws",…,"ok"}. Every wait polls with a generous bound (a loaded 2-core machine).

import { spawn } from 'node:child_process';
import { createHash, createHmac, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Bounds (ms): the start boots seven processes (and compiles TypeScript without a build). */
const START_TIMEOUT_MS = 240_000;
const CHECK_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 90_000;
const POLL_MS = 250;
/** Starts tried when a port is taken between choosing the offset and binding it. */
const START_ATTEMPTS_MAX = 3;
/** Output of the exchange kept for a failure message. */
const OUTPUT_TAIL_CHARS = 4_000;
/** Ports relative to the offset (processes/exchange-layout.ts; README "npm start"). */
const PORT = { rest: 8080, query: 8081, feed: 8091, replicaOps: 9101 };
/**
 * Every port one shard's exchange listens on at offset 0 (the example cluster and gateway files
 * and the events ports of processes/exchange-layout.ts; test/scripts/smoke-runtime.test.ts checks
 * the list against them).
 */
const EXCHANGE_PORTS = [
  7101, 7102, 7103, 7201, 7202, 7203, 8091, 8092, 8093, 9101, 9102, 9103, 8080, 50051, 9092, 9104, 9105, 8081, 50052,
  9878,
];
const ACCOUNTS = {
  1: { key: 'demo-key-1', secret: 'demo-secret-1-change-me' },
  2: { key: 'demo-key-2', secret: 'demo-secret-2-change-me' },
};
const SYMBOL = 'BTC-USD';
const PRICE = 4_999_000;
const BUY_QTY = 10;
const SELL_QTY = 4;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const steps = [];
let output = '';

function step(name, detail) {
  steps.push(name);
  console.log(`smoke: ${name}${detail !== undefined ? ` — ${detail}` : ''}`);
}

async function waitFor(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${String(last)})`);
    await sleep(POLL_MS);
  }
}

const portFree = (port) =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** Where the kernel takes the local ports of outgoing connections from (Linux's default if unreadable). */
function ephemeralPortRange() {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isSafeInteger(lo) && Number.isSafeInteger(hi) && lo <= hi) return { lo, hi };
  } catch {
    // not Linux
  }
  return { lo: 32_768, hi: 60_999 };
}

/**
 * An offset (a multiple of 10, 2000 and up: the usual ports stay for a developer's `npm start`)
 * whose ports are free now and all outside the ephemeral range: a listener there can find its port
 * taken as the local end of some client's connection (a CI run's query service died with
 * EADDRINUSE on 50052 + offset). The same rule as test/processes/npm-start-child.ts pickOffset.
 */
async function pickOffset() {
  const { lo, hi } = ephemeralPortRange();
  const candidates = [];
  for (let offset = 2_000; offset <= 65_535; offset += 10) {
    const ok = EXCHANGE_PORTS.every(
      (p) => p + offset >= 1_024 && p + offset <= 65_535 && (p + offset < lo || p + offset > hi),
    );
    if (ok) candidates.push(offset);
  }
  if (candidates.length === 0) throw new Error('no port offset keeps the exchange out of the ephemeral port range');
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = candidates[randomInt(candidates.length)];
    const free = await Promise.all(EXCHANGE_PORTS.map((p) => portFree(p + offset)));
    if (free.every(Boolean)) return offset;
  }
  throw new Error('no port offset with every port free');
}

/** The entry `npm start` runs: compiled if the build made it, else the TypeScript through tsx. */
function exchangeArgs(dataDir, offset) {
  const compiled = path.join(REPO_ROOT, 'dist/processes/exchange.js');
  const entry = existsSync(compiled) ? [compiled] : ['--import', 'tsx', path.join(REPO_ROOT, 'processes/exchange.ts')];
  return [...entry, '--data-dir', dataDir, '--port-offset', String(offset)];
}

function startExchange(dataDir, offset) {
  const env = { ...process.env };
  delete env.KAFKA_BROKERS; // the embedded broker
  const proc = spawn(process.execPath, exchangeArgs(dataDir, offset), {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: a forced stop reaches the replicas it spawned
    env,
  });
  const keep = (d) => {
    output = (output + d.toString('utf8')).slice(-20 * OUTPUT_TAIL_CHARS);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  return { proc, exited };
}

/** Whether the exchange stopped because a port it wanted was in use. */
const portTaken = () => /EADDRINUSE|cannot listen on/.test(output);

/** The line of the exchange's output that says why it stopped (its startup refusal, else its last line). */
function whyExited() {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  // A refusal of ops/uws-runtime.ts (MATCHBOOK_UWS=native without a binary, or a bad MATCHBOOK_UWS).
  const refusal = lines.find((l) => l.includes('MATCHBOOK_UWS'));
  // Else the exchange's own failure line (its last line is often a stack frame), else its last line.
  const failure = lines.find((l) => l.startsWith('npm start failed:') || l.startsWith('FATAL:'));
  const line = refusal ?? failure ?? lines[lines.length - 1] ?? '(no output)';
  const msg = /"(?:err|msg)":"([^"]*MATCHBOOK_UWS[^"]*)"/.exec(line)?.[1] ?? line;
  return msg.slice(0, 400);
}

async function waitUp(ex) {
  const early = ex.exited.then(({ code, signal }) => {
    throw new Error(`the exchange exited (code ${code}, signal ${signal}) before it was up: ${whyExited()}`);
  });
  early.catch(() => undefined);
  await Promise.race([
    early,
    waitFor('the exchange banner', START_TIMEOUT_MS, async () =>
      output.includes('Ctrl-C to stop.') ? true : undefined,
    ),
  ]);
}

async function stopExchange(ex) {
  ex.proc.kill('SIGINT');
  const res = await Promise.race([ex.exited, sleep(STOP_TIMEOUT_MS).then(() => undefined)]);
  if (res === undefined || res.code !== 0) {
    try {
      process.kill(-ex.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    throw new Error(
      res === undefined ? `the exchange did not stop within ${STOP_TIMEOUT_MS} ms` : `the exchange exited ${res.code}`,
    );
  }
}

/** A signed REST request (gateway/README.md): hex HMAC-SHA256 of `ts \n METHOD path \n sha256 hex of the body`. */
async function signed(base, account, method, target, body) {
  const bytes = body === undefined ? '' : JSON.stringify(body);
  const ts = String(Date.now());
  const canonical = `${ts}\n${method} ${target}\n${createHash('sha256').update(bytes).digest('hex')}`;
  const { key, secret } = ACCOUNTS[account];
  const res = await fetch(base + target, {
    method,
    headers: {
      'x-mb-apikey': key,
      'x-mb-timestamp': ts,
      'x-mb-signature': createHmac('sha256', secret).update(canonical).digest('hex'),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: bytes } : {}),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text };
}

/** The message and its causes: fetch() says only "fetch failed" and puts the socket error in `cause`. */
function describeError(err) {
  const parts = [];
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 4; e = e.cause, depth++) {
    parts.push(e instanceof Error ? `${e.message}${e.code !== undefined ? ` (${e.code})` : ''}` : String(e));
  }
  const at = steps.length === 0 ? '' : ` [after step "${steps[steps.length - 1]}"]`;
  return parts.join(': ') + at;
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

/** Places the buy and the crossing sell; checks the replies and the buy's state. */
async function trade(offset, tag) {
  const base = `http://127.0.0.1:${PORT.rest + offset}`;
  const order = (side, quantity) => ({
    client_order_id: `${tag}-${side.toLowerCase()}`,
    symbol: SYMBOL,
    side,
    order_type: 'LIMIT',
    time_in_force: 'GTC',
    price: PRICE,
    quantity,
  });
  const buy = await signed(base, 1, 'POST', '/v1/orders', order('BUY', BUY_QTY));
  expect(buy.status === 201, `POST /v1/orders (buy) answered ${buy.status}: ${buy.text.slice(0, 300)}`);
  const sell = await signed(base, 2, 'POST', '/v1/orders', order('SELL', SELL_QTY));
  expect(sell.status === 201, `POST /v1/orders (sell) answered ${sell.status}: ${sell.text.slice(0, 300)}`);
  const reports = sell.body.result.reports;
  expect(
    reports.some((r) => r.exec_type === 'TRADE' && r.last_qty === SELL_QTY && r.last_px === PRICE),
    `the sell's reports have no TRADE of ${SELL_QTY} at ${PRICE}: ${sell.text.slice(0, 300)}`,
  );
  const buyId = buy.body.result.reports[0].order_id;
  const got = await signed(base, 1, 'GET', `/v1/orders/${buyId}`);
  expect(
    got.status === 200 && got.body.order.cum_qty === SELL_QTY && got.body.order.client_order_id === `${tag}-buy`,
    `GET /v1/orders/${buyId} answered ${got.status}: ${got.text.slice(0, 300)}`,
  );
  step('orders placed and matched over REST', `buy ${buyId} filled ${SELL_QTY} of ${BUY_QTY}`);
  return { sellSeq: sell.body.result.seq };
}

/** Opens a feed connection subscribed to the symbol's trades; `sawTrade()` says whether our trade came. */
async function subscribeFeed(offset) {
  const ws = new WebSocket(`ws://127.0.0.1:${PORT.feed + offset}/v1/ws`);
  const messages = [];
  ws.onmessage = (ev) => messages.push(JSON.parse(String(ev.data)));
  // A refused or failed connection fails the run at once: the exchange said it was up.
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no feed connection within ${CHECK_TIMEOUT_MS} ms`)),
      CHECK_TIMEOUT_MS,
    );
    ws.onopen = () => {
      clearTimeout(timer);
      resolve();
    };
    ws.onerror = (ev) => {
      clearTimeout(timer);
      reject(new Error(`the feed connection failed: ${ev.message ?? ev.error?.message ?? 'WebSocket error'}`));
    };
  });
  ws.send(JSON.stringify({ op: 'subscribe', id: 1, channels: ['trades'], symbols: [SYMBOL] }));
  await waitFor('the feed snapshot', CHECK_TIMEOUT_MS, async () =>
    messages.some((m) => m.channel === 'trades' && m.type === 'snapshot') ? true : undefined,
  );
  const sawTrade = () =>
    messages.some(
      (m) =>
        m.channel === 'trades' &&
        m.type === 'update' &&
        m.trades.some((t) => t.price === PRICE && t.qty === SELL_QTY && t.side === 'SELL'),
    );
  return { ws, sawTrade };
}

/** Polls the query service until account 2's fill of this run is in its read models. */
async function checkQuery(offset, tag, sellSeq) {
  const base = `http://127.0.0.1:${PORT.query + offset}`;
  const fills = await waitFor("account 2's fill in the query API", CHECK_TIMEOUT_MS, async () => {
    const r = await signed(base, 2, 'GET', `/v1/accounts/2/fills?limit=100&min_seq=${sellSeq}`);
    if (r.status !== 200) throw new Error(`GET fills answered ${r.status}: ${r.text.slice(0, 200)}`);
    return r.body.fills.some((f) => f.client_order_id === `${tag}-sell` && f.last_qty === SELL_QTY) ? r : undefined;
  });
  step('fill read from the query API', `${fills.body.fills.length} fill(s) of account 2`);
}

/** `matchbook_runtime_info` labels from a /metrics page. */
async function runtimeInfo(url) {
  const text = await (await fetch(url)).text();
  const line = text.split('\n').find((l) => l.startsWith('matchbook_runtime_info{'));
  expect(line !== undefined, `${url} has no matchbook_runtime_info`);
  return Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

async function readRuntimes(offset) {
  const urls = {
    gateway: `http://127.0.0.1:${PORT.rest + offset}/metrics`,
    feed: `http://127.0.0.1:${PORT.replicaOps + offset}/metrics`,
    query: `http://127.0.0.1:${PORT.query + offset}/metrics`,
  };
  const out = {};
  for (const [name, url] of Object.entries(urls)) {
    const info = await runtimeInfo(url);
    expect(info.node === process.version, `${name} runs on Node ${info.node}, not ${process.version}`);
    out[name] = info.uws;
  }
  step('runtime reported by the gateway, a replica and the query service', JSON.stringify(out));
  return out;
}

async function smoke(offset, tag) {
  const { ws, sawTrade } = await subscribeFeed(offset);
  step('subscribed to the feed', `trades ${SYMBOL}`);
  try {
    const { sellSeq } = await trade(offset, tag);
    await waitFor('the trade on the feed', CHECK_TIMEOUT_MS, async () => (sawTrade() ? true : undefined));
    step('trade seen on the feed');
    await checkQuery(offset, tag, sellSeq);
  } finally {
    ws.close();
  }
  return readRuntimes(offset);
}

function parse() {
  const { values } = parseArgs({
    options: { 'port-offset': { type: 'string' }, 'data-dir': { type: 'string' }, attach: { type: 'boolean' } },
  });
  const offset = values['port-offset'] === undefined ? undefined : Number(values['port-offset']);
  if (offset !== undefined && !Number.isSafeInteger(offset)) throw new Error('--port-offset must be an integer');
  if (values.attach === true && offset === undefined) throw new Error('--attach needs --port-offset');
  return { offset, dataDir: values['data-dir'], attach: values.attach === true };
}

async function main() {
  const result = { node: process.version, abi: process.versions.modules, uws: 'unknown', ok: false };
  const started = Date.now();
  let ex;
  let tmp;
  try {
    const opts = parse();
    result.offset = opts.offset ?? (await pickOffset());
    if (!opts.attach) {
      tmp = opts.dataDir === undefined ? mkdtempSync(path.join(os.tmpdir(), 'mb-smoke-')) : undefined;
      for (let attempt = 1; ; attempt++) {
        ex = startExchange(opts.dataDir ?? tmp, result.offset);
        try {
          await waitUp(ex);
          break;
        } catch (err) {
          // Another program took one of the ports between pickOffset's check and the exchange's
          // bind (every listen is exclusive): a new offset and data root, when we chose them.
          if (!portTaken() || opts.offset !== undefined || tmp === undefined || attempt >= START_ATTEMPTS_MAX)
            throw err;
          ex = undefined;
          console.error(`smoke: a port was taken at offset ${result.offset} (${whyExited()}); another offset`);
          output = '';
          rmSync(tmp, { recursive: true, force: true });
          tmp = mkdtempSync(path.join(os.tmpdir(), 'mb-smoke-'));
          result.offset = await pickOffset();
        }
      }
      step('exchange up', `${process.version}, port offset ${result.offset}`);
    }
    result.uwsByProcess = await smoke(result.offset, `smoke${randomInt(1e9)}`);
    result.uws = result.uwsByProcess.gateway;
    if (ex !== undefined) {
      const proc = ex;
      ex = undefined;
      await stopExchange(proc);
      step('exchange stopped', 'exit 0');
    }
    result.ok = true;
  } catch (err) {
    result.error = describeError(err);
    console.error(`smoke FAILED on Node ${process.version}: ${result.error}`);
    if (output !== '') console.error(`--- the exchange's last output:\n${output.slice(-OUTPUT_TAIL_CHARS)}`);
  } finally {
    if (ex !== undefined) await stopExchange(ex).catch(() => undefined);
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  }
  result.steps = steps;
  result.seconds = Math.round((Date.now() - started) / 100) / 10;
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

// Node 20 has the WebSocket client behind a flag (global from Node 22): run again with it.
if (typeof WebSocket === 'undefined' && !process.execArgv.includes('--experimental-websocket')) {
  const child = spawn(process.execPath, ['--experimental-websocket', ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  const forward = (sig) => child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.once('exit', (code) => process.exit(code ?? 1));
} else {
  await main();
}
