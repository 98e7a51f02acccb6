// Two shards × three replica processes over real sockets (issue 21): startLocalExchange with
// `shards: 2` deals engine/examples/instruments.json round-robin (BTC-USD on shard 0, ETH-USD on
// shard 1), each shard its own Raft group; the gateway in this process; the events side as child
// processes with one publisher per shard (startLocalEvents `shards`). Checked, each over the
// gateway's real REST/gRPC/WebSocket edges or the query service's REST API:
//   - orders on a symbol of each shard fill; their order ids carry their shard; GetOrder by id
//     and by client order id (without a symbol: asked on every shard) finds both;
//   - the account's user stream gets the reports of both shards;
//   - mass cancel, the admin kill switch and a gRPC session's cancel-on-disconnect each cancel
//     the account's orders on BOTH shards;
//   - the query API shows fills and positions of both symbols, and as_of for both shards;
//   - killing shard 1's leader does not stop shard 0's order flow, and shard 1 recovers;
//   - `matchbook cluster status --config` shows both shards, `matchbook replay --verify` replays
//     both shards and the report chain across them, and passes.
// Every wait polls with a generous bound; nothing depends on timing.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardOfOrderId } from '../../api/order-ids.js';
import { signRequest } from '../../api/signing.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { startLocalEvents, type LocalEvents } from '../../events/local-events.js';
import { QueryRestClient } from '../../events/query/client.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { OrderEntryGrpcClient, type OrderResultResponse } from '../../gateway/client/grpc-client.js';
import { runMatchbookCaptured } from '../cli/run-operator.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { freePort } from '../../replicator/process-cluster.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
const ADMIN = { key: 'demo-admin', hmacSecret: 'demo-admin-secret-change-me' };
/** Bound on every wait (ms): generous for a loaded 2-core machine. */
const WAIT_MS = 90_000;
/** The example instruments dealt over two shards, with a price inside each band, tick and lot. */
const SYMBOLS = {
  'BTC-USD': { shard: 0, px: 5_000_000, tick: 1, lot: 1 },
  'ETH-USD': { shard: 1, px: 300_000, tick: 5, lot: 10 },
} as const;
type Sym = keyof typeof SYMBOLS;

let ex: LocalExchange;
let events: LocalEvents;
let dir: string;
let rest1: OrderEntryRestClient;
let rest2: OrderEntryRestClient;
let admin: OrderEntryRestClient;
let grpc1: OrderEntryGrpcClient;
let query1: QueryRestClient;
const sockets: WsConnection[] = [];
let n = 0;

async function poll<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${String(lastErr)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mb-two-shards-'));
  ex = await startLocalExchange({ shards: 2 });
  events = await startLocalEvents({
    clusterConfigPath: ex.clusters[0]!.configPath,
    gatewayConfigPath: ex.gatewayConfigPath,
    dataDir: dir,
    brokerPort: 0,
    brokerOps: '127.0.0.1:0',
    publisherOps: '127.0.0.1:0',
    queryRest: `127.0.0.1:${await freePort()}`,
    queryGrpc: `127.0.0.1:${await freePort()}`,
    shards: ex.clusters.map((c) => ({ clusterConfigPath: c.configPath })),
  });
  rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
  rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
  admin = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: ADMIN });
  grpc1 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: K1 });
  query1 = new QueryRestClient(`http://${events.queryRest}`, K1);
}, 300_000);

afterAll(async () => {
  for (const ws of sockets) ws.destroy();
  grpc1?.close();
  await events?.stop();
  await ex?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 120_000);

function order(symbol: Sym, side: string, qtyLots: number, ticksAway = 0) {
  const s = SYMBOLS[symbol];
  return {
    client_order_id: `two-${++n}`,
    symbol,
    side,
    order_type: 'LIMIT',
    price: s.px + ticksAway * s.tick,
    quantity: qtyLots * s.lot,
  };
}

/** Places; 201 expected; the order's last report (its NEW, or its fill after it). */
async function place(client: OrderEntryRestClient, body: Record<string, unknown>): Promise<ExecutionReportOut> {
  const r = await client.placeOrder(body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const reports = (r.body as OrderResultResponse).result.reports;
  return reports.filter((x) => x.client_order_id === body.client_order_id).at(-1)!;
}

async function statusOf(client: OrderEntryRestClient, id: number): Promise<string> {
  const r = await client.getOrder(id);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return (r.body as { order: { order_status: string } }).order.order_status;
}

/** A resting buy far below the price (nothing crosses it) on each shard's symbol; their order ids. */
async function restOnBothShards(client: OrderEntryRestClient): Promise<number[]> {
  const ids: number[] = [];
  for (const sym of Object.keys(SYMBOLS) as Sym[]) ids.push((await place(client, order(sym, 'BUY', 1, -500))).order_id);
  expect(ids.map(shardOfOrderId)).toEqual([0, 1]);
  for (const id of ids) expect(await statusOf(client, id)).toBe('NEW');
  return ids;
}

const allCanceled = (client: OrderEntryRestClient, ids: number[], what: string) =>
  poll(what, async () => {
    for (const id of ids) if ((await statusOf(client, id)) !== 'CANCELED') return undefined;
    return true;
  });

/** A logged-in user stream of account 1; the reports it has received so far, on demand. */
async function openStream(): Promise<() => ExecutionReportOut[]> {
  const msgs: Record<string, unknown>[] = [];
  const ws = await WsConnection.connect(`${ex.restUrl.replace(/^http/, 'ws')}/v1/user-stream`, {
    onMessage: (d) => msgs.push(JSON.parse(d.toString('utf8')) as Record<string, unknown>),
    onClose: () => {},
  });
  sockets.push(ws);
  const a = signRequest(K1, 'GET /v1/user-stream', new Uint8Array(0));
  ws.send(JSON.stringify({ op: 'login', api_key: a.apiKey, timestamp: a.timestamp, signature: a.signature }));
  const login = await poll('the login answer', () => msgs.find((m) => m.type === 'login' || m.type === 'error'));
  expect(login.type, JSON.stringify(login)).toBe('login');
  return () => msgs.filter((m) => m.type === 'report').map((m) => m.report as ExecutionReportOut);
}

/** `matchbook …` in this process; its exit code and what it printed. */
const cli = runMatchbookCaptured;

describe('two shards × three replica processes', () => {
  it('the instruments are dealt round-robin (BTC-USD on shard 0, ETH-USD on shard 1); ListInstruments and readiness cover both', async () => {
    expect(ex.clusters).toHaveLength(2);
    expect(ex.config.shards.map((s) => [s.id, s.instruments.map((i) => i.symbol)])).toEqual([
      [0, ['BTC-USD']],
      [1, ['ETH-USD']],
    ]);
    const list = await rest1.instruments();
    expect(list.status).toBe(200);
    const instruments = (list.body as { instruments: { symbol: string; shard: number }[] }).instruments;
    expect(instruments.map((i) => [i.symbol, i.shard])).toEqual([
      ['BTC-USD', 0],
      ['ETH-USD', 1],
    ]);
    const ready = await ex.gateway.ready();
    expect(ready.ready).toBe(true);
    expect(ready.shards.map((s) => [s.shard, s.leader !== null])).toEqual([
      [0, true],
      [1, true],
    ]);
  });

  it('orders on each shard fill; GetOrder by id and by client order id finds both; the user stream has both shards', async () => {
    const stream = await openStream();
    const makers: ExecutionReportOut[] = [];
    for (const sym of Object.keys(SYMBOLS) as Sym[]) {
      const maker = order(sym, 'BUY', 10);
      const m = await place(rest1, maker);
      expect(shardOfOrderId(m.order_id)).toBe(SYMBOLS[sym].shard);
      const t = await place(rest2, order(sym, 'SELL', 4));
      expect(t.order_status).toBe('FILLED');
      makers.push(m);
      expect(await statusOf(rest1, m.order_id)).toBe('PARTIALLY_FILLED');
      // By client order id without a symbol: the gateway asks both shards.
      const byClient = await rest1.getOrder({ client_order_id: maker.client_order_id });
      expect(byClient.status, JSON.stringify(byClient.body)).toBe(200);
      expect(byClient.body).toMatchObject({ order: { order_id: m.order_id, symbol: sym } });
    }
    await poll('fills of both shards on the user stream', () => {
      const filled = stream()
        .filter((r) => r.exec_type === 'TRADE')
        .map((r) => shardOfOrderId(r.order_id));
      return filled.includes(0) && filled.includes(1);
    });
    for (const m of makers) expect((await rest1.massCancel({ symbol: m.symbol })).status).toBe(200);
  });

  it('the query API shows fills and positions of both shards, as_of for both', async () => {
    let last: unknown;
    const body = await poll('fills of both symbols in the read models', async () => {
      const r = await query1.get('/v1/accounts/1/fills');
      last = r;
      const symbols = new Set((r.body.fills as { symbol: string }[] | undefined)?.map((f) => f.symbol));
      return r.status === 200 && symbols.has('BTC-USD') && symbols.has('ETH-USD') ? r.body : undefined;
    }).catch((err: unknown) => {
      throw new Error(`${String(err)}; last answer ${JSON.stringify(last)}`);
    });
    expect((body.as_of as { shard: number }[]).map((a) => a.shard)).toEqual([0, 1]);
    const pos = await query1.get('/v1/accounts/1/positions');
    expect(pos.status).toBe(200);
    const qty = Object.fromEntries(
      (pos.body.positions as { symbol: string; position_qty: number }[]).map((p) => [p.symbol, p.position_qty]),
    );
    expect(qty).toEqual({ 'BTC-USD': 4, 'ETH-USD': 40 });
    const lag = await query1.get('/v1/lag');
    expect(lag.status).toBe(200);
    for (const a of lag.body.as_of as { shard: number; seq: number }[]) expect(a.seq).toBeGreaterThan(0);
  });

  it("an account's mass cancel cancels on both shards", async () => {
    const ids = await restOnBothShards(rest1);
    const r = await rest1.massCancel({});
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((r.body as { canceled_count: number }).canceled_count).toBe(2);
    await allCanceled(rest1, ids, 'both orders canceled by the mass cancel');
  });

  it('the admin kill switch cancels on both shards (and blocks the account until released)', async () => {
    const ids = await restOnBothShards(rest2);
    const on = await admin.admin('kill-switch', { account: 2, active: true });
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    expect((on.body as { shards: number[] }).shards).toEqual([0, 1]);
    await allCanceled(rest2, ids, 'both orders canceled by the kill switch');
    expect((await rest2.placeOrder(order('ETH-USD', 'BUY', 1, -500))).status).not.toBe(201);
    expect((await admin.admin('kill-switch', { account: 2, active: false })).status).toBe(200);
    await place(rest2, order('ETH-USD', 'BUY', 1, -500));
    expect((await rest2.massCancel({})).status).toBe(200);
  });

  it("a gRPC session's cancel-on-disconnect cancels its orders on both shards", async () => {
    const s = grpc1.openSession({ cancelOnDisconnect: true });
    await s.ready;
    const ids: number[] = [];
    for (const [k, sym] of (Object.keys(SYMBOLS) as Sym[]).entries()) {
      const r = await s.send({ request_id: k + 1, commands: [{ place: order(sym, 'BUY', 1, -500) }] });
      expect(r.outcomes[0]!.error).toBeUndefined();
      ids.push(r.outcomes[0]!.result!.reports[0]!.order_id);
    }
    expect(ids.map(shardOfOrderId)).toEqual([0, 1]);
    s.cancel();
    await allCanceled(rest1, ids, 'both orders canceled on disconnect');
  });

  it("CancelAllAfter (the REST dead-man's switch) cancels on both shards when it fires", async () => {
    const ids = await restOnBothShards(rest1);
    const armed = await rest1.cancelAllAfter(1_000);
    expect(armed.status, JSON.stringify(armed.body)).toBe(200);
    await allCanceled(rest1, ids, 'both orders canceled by cancel-all-after');
  });

  it("killing shard 1's leader does not stop shard 0's order flow; shard 1 recovers", async () => {
    const c1 = ex.clusters[1]!;
    const leader = await c1.waitForLeader(WAIT_MS);
    await c1.kill(leader);
    // Shard 0 at once, while shard 1 may still be electing.
    for (let i = 0; i < 3; i++) {
      await place(rest1, order('BTC-USD', 'BUY', 2, -1));
      expect((await place(rest2, order('BTC-USD', 'SELL', 2, -1))).order_status).toBe('FILLED');
    }
    // Shard 1 elects another leader among its two live replicas and takes orders again.
    await poll(
      'shard 1 taking orders again',
      async () => (await rest1.placeOrder(order('ETH-USD', 'BUY', 1, -500))).status === 201,
    );
    await c1.start(leader);
    expect((await rest1.massCancel({})).status).toBe(200);
  });

  it('cluster status and replay --verify cover both shards and pass', async () => {
    const status = await poll('every member of both shards answering', async () => {
      const r = await cli(['cluster', 'status', '--config', ex.gatewayConfigPath, '--json']);
      const doc = JSON.parse(r.out) as {
        shards: { shard: number; members: { reachable: boolean; role?: string }[] }[];
      };
      return r.code === 0 && doc.shards.every((s) => s.members.every((m) => m.reachable)) ? doc : undefined;
    });
    expect(status.shards.map((s) => s.shard)).toEqual([0, 1]);
    for (const s of status.shards) expect(s.members.filter((m) => m.role === 'LEADER')).toHaveLength(1);
    const one = await cli(['cluster', 'status', '--config', ex.gatewayConfigPath, '--shard', '1', '--json']);
    expect((JSON.parse(one.out) as { shards: { shard: number }[] }).shards.map((s) => s.shard)).toEqual([1]);

    // The restarted replica catches up before the replay compares the replicas' logs.
    await poll('shard 1 replicas caught up', async () => {
      const r = await cli(['cluster', 'status', '--config', ex.gatewayConfigPath, '--shard', '1', '--json']);
      const m = (JSON.parse(r.out) as { shards: { members: { behindLeader?: number }[] }[] }).shards[0]!.members;
      return m.every((x) => x.behindLeader === 0);
    });
    const replay = await cli(['replay', '--verify', '--config', ex.gatewayConfigPath]);
    expect(replay.code, replay.out).toBe(0);
    const last = JSON.parse(replay.out.trim().split('\n').at(-1)!) as {
      replay: string;
      shards: { shard: number; end: number }[];
      chain?: { reportsCovered: number };
    };
    expect(last.replay).toBe('ok');
    expect(last.shards.map((s) => s.shard)).toEqual([0, 1]);
    for (const s of last.shards) expect(s.end).toBeGreaterThan(0);
  });
});
