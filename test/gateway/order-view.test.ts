// The gateway's view of orders over real sockets (three replica processes, the gateway with its
// REST and gRPC servers): orders canceled by the cancels the gateway sends itself —
// cancel-on-disconnect, a session's dead-man's switch, the REST dead-man's switch
// (cancel-all-after), the admin kill switch — read CANCELED through gRPC GetOrder and REST GET,
// and their reports reach the account's open sessions; an order that ended where this gateway
// could not see it reads ENDED, never NEW; cancel-on-disconnect with scope SESSION cancels only
// the session's orders; GetOrder by client order id over both protocols.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import {
  type CancelAllAfterResponse,
  type GetOrderResponse,
  OrderEntryGrpcClient,
  type OrderResultResponse,
  type OrderSessionHandle,
} from '../../gateway/client/grpc-client.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import type { OrdersDump } from '../../replicator/client/protocol.js';
import { ReplicaClient, requestOnce } from '../../replicator/client/client.js';
import { main } from '../../cli/matchbook.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
const ADMIN = { key: 'demo-admin', hmacSecret: 'demo-admin-secret-change-me' };
/** Generous: a loaded 2-core machine with other suites running. */
const WAIT_MS = 60_000;

let ex: LocalExchange;
let rest1: OrderEntryRestClient;
let rest2: OrderEntryRestClient;
let admin: OrderEntryRestClient;
let grpc1: OrderEntryGrpcClient;
let grpc2: OrderEntryGrpcClient;
let seq = 0;
const cid = (p: string) => `${p}-${++seq}`;
let price = 4_900_000;

beforeAll(async () => {
  ex = await startLocalExchange({ gatewayOverrides: { slowOrderMs: 1_000 } });
  rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
  rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
  admin = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: ADMIN });
  grpc1 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: K1 });
  grpc2 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: K2 });
}, 120_000);

afterAll(async () => {
  grpc1?.close();
  grpc2?.close();
  await ex?.stop();
}, 60_000);

/** A resting buy, each at its own price (nothing here ever crosses: the asks stay empty). */
function buy(clOrdId = cid('b')) {
  price -= 100;
  return { client_order_id: clOrdId, symbol: 'BTC-USD', side: 'BUY', order_type: 'LIMIT', price, quantity: 1 };
}

async function poll<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The ids of the live orders in the leader's book (the authoritative state the view must agree with). */
async function bookIds(): Promise<Set<number>> {
  const leader = await ex.cluster.waitForLeader(WAIT_MS);
  const r = (await requestOnce(ex.cluster.endpoint(leader), { op: 'orders' })) as unknown as OrdersDump;
  return new Set(r.orders.map((o) => o.orderId));
}

const gone = (id: number) => poll(`order ${id} to leave the book`, async () => !(await bookIds()).has(id));

async function restPlace(client: OrderEntryRestClient, body = buy()): Promise<number> {
  const r = await client.placeOrder(body);
  expect(r.status).toBe(201);
  return (r.body as OrderResultResponse).result.reports[0]!.order_id;
}

async function sessionPlace(s: OrderSessionHandle, requestId: number, body = buy()): Promise<number> {
  const r = await s.send({ request_id: requestId, commands: [{ place: body }] });
  expect(r.outcomes[0]!.error).toBeUndefined();
  return r.outcomes[0]!.result!.reports[0]!.order_id;
}

/** GetOrder's status through both protocols (they must agree). */
async function statusOf(grpc: OrderEntryGrpcClient, rest: OrderEntryRestClient, id: number): Promise<string> {
  const viaGrpc = (await grpc.getOrder({ order_id: id })).order.order_status;
  const r = await rest.getOrder(id);
  expect(r.status).toBe(200);
  expect((r.body as GetOrderResponse).order.order_status).toBe(viaGrpc);
  return viaGrpc;
}

/** Unsolicited reports a session receives, collected. */
function collect(s: OrderSessionHandle): ExecutionReportOut[] {
  const got: ExecutionReportOut[] = [];
  s.onReports((reports) => got.push(...reports));
  return got;
}

const canceledReport = (got: ExecutionReportOut[], id: number) =>
  got.find((r) => r.order_id === id && r.exec_type === 'CANCELED' && r.order_status === 'CANCELED');

describe("the gateway's own cancels reach its view and the account's sessions", () => {
  it('cancel-on-disconnect: GetOrder says CANCELED (gRPC and REST); another session of the account gets the report', async () => {
    const a = grpc1.openSession({ cancelOnDisconnect: true });
    const b = grpc1.openSession({});
    const onB = collect(b);
    await Promise.all([a.ready, b.ready]);
    const id = await sessionPlace(a, 1);
    expect(await statusOf(grpc1, rest1, id)).toBe('NEW');
    a.cancel();
    await gone(id);
    expect(await statusOf(grpc1, rest1, id)).toBe('CANCELED');
    const rep = await poll('the cancel report on the other session', () => canceledReport(onB, id));
    expect(rep).toMatchObject({ account: 1, reason: 'MASS_CANCELED' });
    expect(rep.chain_seq).toBeGreaterThan(0);
    await b.close();
  });

  it("dead-man's switch: GetOrder says CANCELED; the session itself gets the report", async () => {
    const s = grpc2.openSession({ deadManMs: 1_500 });
    const got = collect(s);
    await s.ready;
    const id = await sessionPlace(s, 1);
    // Nothing more is sent on the session: the switch fires.
    await gone(id);
    expect(await statusOf(grpc2, rest2, id)).toBe('CANCELED');
    await poll('the cancel report on the session', () => canceledReport(got, id));
    await s.close();
  });

  it('admin kill switch: GetOrder says CANCELED; an open session of the account gets the report', async () => {
    const s = grpc2.openSession({});
    const got = collect(s);
    await s.ready;
    const id = await restPlace(rest2);
    try {
      expect((await admin.admin('kill-switch', { account: 2, active: true })).status).toBe(200);
      expect((await bookIds()).has(id)).toBe(false);
      expect(await statusOf(grpc2, rest2, id)).toBe('CANCELED');
      const rep = await poll('the kill switch report on the session', () => canceledReport(got, id));
      expect(rep.reason).toBe('KILL_SWITCH');
    } finally {
      expect((await admin.admin('kill-switch', { account: 2, active: false })).status).toBe(200);
      await s.close();
    }
  });

  it('an order that ended where this gateway could not see it reads ENDED, never NEW', async () => {
    const id = await restPlace(rest1);
    // Canceled straight on the replicas (as through another gateway): no report reaches this one.
    const endpoints = ex.config.shards[0]!.replicas.map((r) => ({ id: r.id, host: r.host, port: r.port }));
    const other = new ReplicaClient({ endpoints });
    try {
      const r = await other.submit({ type: 'cancel', account: 1, orderId: id });
      expect(r.outcome).toBe('APPLIED');
    } finally {
      other.close();
    }
    await gone(id);
    expect(await statusOf(grpc1, rest1, id)).toBe('ENDED');
    const order = (await grpc1.getOrder({ order_id: id })).order;
    expect(order).toMatchObject({ order_id: id, leaves_qty: 0, account: 1 });
  });
});

describe('cancel-on-disconnect scope', () => {
  it("SESSION cancels only the session's orders and leaves the account's others; its reports reach the other session", async () => {
    const s = grpc1.openSession({ cancelOnDisconnect: true, cancelScope: 'SESSION' });
    const t = grpc1.openSession({});
    const onT = collect(t);
    await Promise.all([s.ready, t.ready]);
    const mine = [await sessionPlace(s, 1), await sessionPlace(s, 2)];
    const viaRest = await restPlace(rest1);
    const viaOther = await sessionPlace(t, 1);
    s.cancel();
    for (const id of mine) await poll(`the report of ${id} on the other session`, () => canceledReport(onT, id));
    for (const id of mine) expect(await statusOf(grpc1, rest1, id)).toBe('CANCELED');
    const live = await bookIds();
    expect(live.has(viaRest) && live.has(viaOther)).toBe(true);
    expect(await statusOf(grpc1, rest1, viaRest)).toBe('NEW');
    expect(await statusOf(grpc1, rest1, viaOther)).toBe('NEW');
    await t.close();
  });

  it('refuses an unknown scope at open', async () => {
    const s = grpc1.openSession({ cancelScope: 'SHARD' as 'SESSION' });
    await expect(s.ready).rejects.toMatchObject({ errorCode: 'INVALID_ARGUMENT' });
  });
});

describe('REST cancel-all-after', () => {
  const arm = async (client: OrderEntryRestClient, timeoutMs: number): Promise<CancelAllAfterResponse> => {
    const r = await client.cancelAllAfter(timeoutMs);
    expect(r.status).toBe(200);
    const body = r.body as CancelAllAfterResponse;
    expect(body.trigger_time_ms).toBe(timeoutMs === 0 ? 0 : body.current_time_ms + timeoutMs);
    return body;
  };

  it('re-arms at each call, cancels after the timeout (not before), and 0 disarms', async () => {
    const s = grpc2.openSession({});
    const got = collect(s);
    await s.ready;
    const id = await restPlace(rest2);
    const first = await arm(rest2, 5_000);
    // Re-armed before the first trigger: the first trigger time passes with the order live.
    const again = await arm(rest2, 600_000);
    expect(again.current_time_ms).toBeLessThan(first.trigger_time_ms);
    await sleep(Math.max(0, first.trigger_time_ms - Date.now()) + 2_000);
    expect((await bookIds()).has(id)).toBe(true);
    expect(await statusOf(grpc2, rest2, id)).toBe('NEW');
    // Short now: it fires.
    await arm(rest2, 500);
    await gone(id);
    expect(await statusOf(grpc2, rest2, id)).toBe('CANCELED');
    await poll('the cancel report on the session', () => canceledReport(got, id));
    // Disarmed before its trigger: nothing fires.
    const id2 = await restPlace(rest2);
    const armed = await arm(rest2, 5_000);
    const off = await arm(rest2, 0);
    expect(off.current_time_ms).toBeLessThan(armed.trigger_time_ms);
    await sleep(Math.max(0, armed.trigger_time_ms - Date.now()) + 2_000);
    expect((await bookIds()).has(id2)).toBe(true);
    expect(await statusOf(grpc2, rest2, id2)).toBe('NEW');
    await s.close();
  });

  it('over gRPC too; a timeout beyond the largest is refused and changes nothing', async () => {
    const r = await grpc2.cancelAllAfter({ timeout_ms: 1_000_000 });
    expect(r.trigger_time_ms).toBe(r.current_time_ms + 1_000_000);
    expect((await grpc2.cancelAllAfter({ timeout_ms: 0 })).trigger_time_ms).toBe(0);
    const bad = await rest2.request('POST', '/v1/orders/cancel-all-after', { timeout_ms: 2 ** 31 });
    expect(bad.status).toBe(400);
    expect((bad.body as { code: string }).code).toBe('INVALID_ARGUMENT');
  });
});

describe('GetOrder by client order id', () => {
  it('finds the live order, then the most recent one that carried the id, over both protocols', async () => {
    const clOrdId = cid('by-cl');
    const first = await restPlace(rest1, buy(clOrdId));
    const byGrpc = async () => (await grpc1.getOrder({ client_order_id: clOrdId })).order;
    const byRest = async () => {
      const r = await rest1.getOrder({ client_order_id: clOrdId, symbol: 'BTC-USD' });
      expect(r.status).toBe(200);
      return (r.body as GetOrderResponse).order;
    };
    expect(await byGrpc()).toMatchObject({ order_id: first, client_order_id: clOrdId, order_status: 'NEW' });
    expect(await byRest()).toMatchObject({ order_id: first, order_status: 'NEW' });
    expect((await rest1.cancelOrder(first)).status).toBe(200);
    expect(await byGrpc()).toMatchObject({ order_id: first, order_status: 'CANCELED' });
    expect(await byRest()).toMatchObject({ order_id: first, order_status: 'CANCELED' });
    // The id is free again: reused, it names the new order.
    const second = await restPlace(rest1, buy(clOrdId));
    expect(second).not.toBe(first);
    expect(await byGrpc()).toMatchObject({ order_id: second, order_status: 'NEW' });
    expect(await byRest()).toMatchObject({ order_id: second, order_status: 'NEW' });
    // Another account's client order ids are its own.
    expect((await rest2.getOrder({ client_order_id: clOrdId })).status).toBe(404);
    await expect(grpc2.getOrder({ client_order_id: clOrdId })).rejects.toMatchObject({ errorCode: 'NOT_FOUND' });
    // Both ids at once, or neither, is a malformed request.
    // The CLI: `npx matchbook orders --client-order-id X`.
    const cli = (id: string) =>
      main(['orders', '--client-order-id', id, '--url', ex.restUrl, '--key', K1.key, '--secret', K1.hmacSecret]);
    const log = console.log;
    const printed: string[] = [];
    console.log = (line: string) => printed.push(line);
    try {
      expect(await cli(clOrdId)).toBe(0);
      expect(JSON.parse(printed[0]!).body.order).toMatchObject({ order_id: second, order_status: 'NEW' });
      expect(await cli('never-used')).toBe(1);
    } finally {
      console.log = log;
    }
    const both = await rest1.request('GET', `/v1/orders?client_order_id=${clOrdId}&order_id=${second}`);
    expect(both.status).toBe(400);
    expect((await rest1.request('GET', '/v1/orders?unknown=1')).status).toBe(400);
  });
});

// Last: it stops the gateway (the replicas keep running; afterAll stops the rest).
describe('gateway stop', () => {
  it("a session ended by the gateway's stop still gets its cancel-on-disconnect before the shard links close", async () => {
    const s = grpc1.openSession({ cancelOnDisconnect: true, cancelScope: 'SESSION' });
    await s.ready;
    const id = await sessionPlace(s, 1);
    // The core first: it closes its open sessions itself, then its shard links.
    await ex.gateway.stop();
    expect((await bookIds()).has(id)).toBe(false);
    await ex.rest.stop();
    await ex.grpc.stop();
  });
});
