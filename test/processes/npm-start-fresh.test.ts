// The README's quickstart followed literally twice, with `rm -rf data` in between (issue 18):
// the real `npm start` entry (processes/exchange.ts, as a child process) runs with a temporary
// working directory, so its data root ./data is a temp dir (never the repo's), and with
// --port-offset so it does not clash with an exchange on the usual ports. Each run places a
// resting buy and a sell that partly fills it, and checks every part: the gateway (REST), the
// feed (GET /v1/book on a follower), Kafka (the fills topic read with kafkajs), the read models
// through the query API (fills, orders, /readyz). After SIGINT and `rm -rf data` the second run
// must show a fresh exchange everywhere: none of the first run's orders, fills, book levels or
// records. Nothing may be written into the source tree. Every wait polls with a generous bound.

import { watch } from '../../feed/client/watch.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { EventsCodec } from '../../events/codec.js';
import { QueryRestClient } from '../../events/query/client.js';
import { TOPIC_FILLS } from '../../events/topics.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import type { OrderResultResponse } from '../../gateway/client/grpc-client.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';
import { embeddedBrokerEnv, exchangeArgs, killExchangeGroup, pickOffset, pollFor, sleep } from './npm-start-child.js';

/** Bounds (ms) for a loaded 2-core machine: the start compiles and boots seven processes. */
const START_MS = 240_000;
/** The whole test: two starts, two stops and the checks, each bounded above. */
const TEST_MS = 2 * (START_MS + 90_000) + 4 * 120_000;
const STOP_MS = 90_000;
const CHECK_MS = 120_000;
/** Source folders that must not change while the exchange runs (issue 18: the query wrote under gateway/examples/). */
const SOURCE_DIRS = ['gateway', 'replicator', 'events', 'processes', 'engine', 'config', 'feed', 'api', 'shard', 'ops'];

const workDir = mkdtempSync(path.join(os.tmpdir(), 'mb-npm-start-'));
const dataRoot = path.join(workDir, 'data');
let exchange: ChildProcess | undefined;
let output = '';
/** pollFor with the exchange's last output in the timeout's message. */
const waitFor = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>) =>
  pollFor(what, timeoutMs, probe, () => output.slice(-3000));

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) filesUnder(p, out);
    else out.push(path.relative(REPO_ROOT, p));
  }
  return out;
}
const sourceFiles = () => SOURCE_DIRS.flatMap((d) => filesUnder(path.join(REPO_ROOT, d))).sort();

async function startExchange(offset: number): Promise<void> {
  output = '';
  exchange = spawn(process.execPath, exchangeArgs(['--port-offset', String(offset)]), {
    cwd: workDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: the cleanup can reach the replicas it spawns
    env: embeddedBrokerEnv(),
  });
  exchange.stdout!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  exchange.stderr!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const proc = exchange;
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) =>
      reject(new Error(`the exchange exited (${code}) before it was up\n${output.slice(-3000)}`)),
    ),
  );
  exited.catch(() => undefined); // a later exit (the stop) is not an error
  await Promise.race([
    exited,
    waitFor('the exchange to start', START_MS, async () => (output.includes('Ctrl-C to stop.') ? true : undefined)),
  ]);
}

async function stopExchange(): Promise<void> {
  const proc = exchange!;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGINT');
  await Promise.race([exited, sleep(STOP_MS)]);
  expect(proc.exitCode).toBe(0);
  exchange = undefined;
}

afterAll(async () => {
  await killExchangeGroup(exchange);
  rmSync(workDir, { recursive: true, force: true });
});

interface Run {
  buyId: number;
  sellSeq: number;
}

/** Places a resting buy (account 1) and a sell (account 2) that fills `fillQty` of it. */
async function trade(offset: number, tag: string, price: number, fillQty: number): Promise<Run> {
  const baseUrl = `http://127.0.0.1:${8080 + offset}`;
  const rest1 = new OrderEntryRestClient({
    baseUrl,
    key: { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' },
  });
  const rest2 = new OrderEntryRestClient({
    baseUrl,
    key: { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' },
  });
  const order = (side: string, quantity: number) => ({
    client_order_id: `${tag}-${side.toLowerCase()}`,
    symbol: 'BTC-USD',
    side,
    order_type: 'LIMIT',
    time_in_force: 'GTC',
    price,
    quantity,
  });
  const buy = await rest1.placeOrder(order('BUY', 10));
  expect(buy.status).toBe(201);
  const sell = await rest2.placeOrder(order('SELL', fillQty));
  expect(sell.status).toBe(201);
  const sellResult = (sell.body as OrderResultResponse).result;
  expect(sellResult.reports.some((r) => r.exec_type === 'TRADE' && r.last_qty === fillQty)).toBe(true);
  const buyId = (buy.body as OrderResultResponse).result.reports[0]!.order_id;
  const got = await rest1.getOrder(buyId);
  expect(got.status).toBe(200);
  expect(got.body).toMatchObject({ order: { client_order_id: `${tag}-buy`, cum_qty: fillQty } });
  return { buyId, sellSeq: sellResult.seq };
}

/** The follower feeds' book: exactly one bid level, this run's. */
async function checkFeed(offset: number, price: number, qty: number): Promise<void> {
  await waitFor('the feed to show the book', CHECK_MS, async () => {
    const res = await fetch(`http://127.0.0.1:${8092 + offset}/v1/book/BTC-USD`);
    const book = (await res.json()) as { bids: number[][]; asks: number[][] };
    return JSON.stringify(book.bids) === JSON.stringify([[price, qty, 1]]) && book.asks.length === 0 ? true : undefined;
  });
}

/** The client order ids of every record in the fills topic (read to its end with kafkajs). */
async function fillsInKafka(offset: number): Promise<string[]> {
  const kafka = new Kafka({
    brokers: [`127.0.0.1:${9092 + offset}`],
    clientId: 'npm-start-test',
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(TOPIC_FILLS);
  await admin.disconnect();
  const total = ends.reduce((s, o) => s + Number(o.high), 0);
  const consumer = kafka.consumer({ groupId: `npm-start-test-${randomInt(1e9)}`, maxWaitTimeInMs: 200 });
  const ids: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [TOPIC_FILLS], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        ids.push(EventsCodec.get().decodeExec(message.value!).client_order_id);
      },
    });
    await waitFor(`${total} fill records`, CHECK_MS, async () => (ids.length >= total ? true : undefined));
  } finally {
    await consumer.disconnect();
  }
  return ids.sort();
}

/** The query API: account 2's fills and account 1's orders are this run's only; /readyz says ready. */
async function checkQuery(offset: number, tag: string, run: Run, fillQty: number): Promise<void> {
  const base = `http://127.0.0.1:${8081 + offset}`;
  const q2 = new QueryRestClient(base, { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' });
  const q1 = new QueryRestClient(base, { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' });
  await waitFor('/readyz of the query service', CHECK_MS, async () =>
    (await fetch(`${base}/readyz`)).status === 200 ? true : undefined,
  );
  const fills = await waitFor('the fill in the query API', CHECK_MS, async () => {
    const r = await q2.get(`/v1/accounts/2/fills?limit=100&min_seq=${run.sellSeq}&wait_ms=5000`);
    return r.status === 200 ? r.body : undefined;
  });
  expect(
    (fills.fills as { client_order_id: string; last_qty: number }[]).map((f) => [f.client_order_id, f.last_qty]),
  ).toEqual([[`${tag}-sell`, fillQty]]);
  expect(fills.total).toBe(1);
  expect((fills.as_of as { seq: number }[])[0]!.seq).toBeGreaterThanOrEqual(run.sellSeq);
  const orders = await q1.get('/v1/accounts/1/orders?state=all');
  expect((orders.body.orders as { client_order_id: string }[]).map((o) => o.client_order_id)).toEqual([`${tag}-buy`]);
}

/**
 * The banner's `matchbook watch` line, run as printed (at a port offset it names a follower's feed
 * with --url; the default feeds 8091–8093 are another exchange's): one screen with this run's bid.
 */
async function watchAsTheBannerSays(offset: number): Promise<void> {
  const line = output.split('\n').find((l) => l.trim().startsWith('npx matchbook watch '));
  const args = line?.trim().split(/\s+/).slice(3) ?? []; // after `npx matchbook watch`
  const url = args[args.indexOf('--url') + 1] ?? '';
  expect(
    args.includes('--url') && [8091, 8092, 8093].some((p) => url === `ws://127.0.0.1:${p + offset}/v1/ws`),
    line,
  ).toBe(true);
  let screen = '';
  expect(await watch([...args, '--count', '1'], (s) => (screen += s))).toBe(0);
  expect(screen).toContain('bid 6@4999000');
}

describe('npm start, rm -rf data, npm start', () => {
  it(
    'gives a fresh exchange in every part, all of it under the data root',
    async () => {
      const sourcesBefore = sourceFiles();
      const offset = await pickOffset(dataRoot);

      await startExchange(offset);
      expect(output).toContain(`data root ${dataRoot}`);
      const first = await trade(offset, 'r1', 4_999_000, 4);
      await checkFeed(offset, 4_999_000, 6);
      await watchAsTheBannerSays(offset);
      await checkQuery(offset, 'r1', first, 4);
      expect(await fillsInKafka(offset)).toEqual(['r1-buy', 'r1-sell']);
      await stopExchange();
      for (const p of [
        'cluster-3-local/node-1',
        'gateway/exchange-ed25519.pem',
        'events/broker/meta.json',
        'events/query/read-models.json',
      ])
        expect(existsSync(path.join(dataRoot, p)), p).toBe(true);

      rmSync(dataRoot, { recursive: true, force: true });
      await startExchange(offset);
      const second = await trade(offset, 'r2', 4_998_000, 3);
      await checkFeed(offset, 4_998_000, 7);
      await checkQuery(offset, 'r2', second, 3);
      expect(await fillsInKafka(offset)).toEqual(['r2-buy', 'r2-sell']);
      // The first run's order is gone from the gateway's (the engine's) view. Order ids are log
      // sequence numbers, so its id may name an order of the new exchange — account 1's own (200,
      // an r2- order) or account 2's (403: the time ticks shift which command gets which seq, so
      // either may happen) — or nothing (404); never the first run's order.
      const old = await new OrderEntryRestClient({
        baseUrl: `http://127.0.0.1:${8080 + offset}`,
        key: { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' },
      }).getOrder(first.buyId);
      if (old.status === 200)
        expect((old.body as { order: { client_order_id: string } }).order.client_order_id).toMatch(/^r2-/);
      else if (old.status === 403) expect(old.body).toMatchObject({ code: 'PERMISSION_DENIED' });
      else expect(old.status).toBe(404);
      await stopExchange();

      expect(sourceFiles()).toEqual(sourcesBefore);
      expect(existsSync(path.join(REPO_ROOT, 'gateway/examples/data'))).toBe(false);
    },
    TEST_MS,
  );
});
