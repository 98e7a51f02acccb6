// The whole exchange over real sockets: three replica processes (fsync on), the gateway with
// its REST and gRPC servers. Orders through both protocols; every auth failure and a set of
// validation and risk rejects give their documented code and change nothing; the session
// stream with batches; a leader change during a stream loses and duplicates nothing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import {
  type GetOrderResponse,
  OrderEntryGrpcClient,
  type OrderResultResponse,
} from '../../gateway/client/grpc-client.js';
import {
  HEADER_API_KEY,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  hmacSign,
  canonicalRequest,
  signRequest,
} from '../../api/signing.js';
import { CANONICAL_FIELDS, canonicalReport } from '../../api/report-canonical.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import type { OrdersDump } from '../../replicator/client/protocol.js';
import { requestOnce } from '../../replicator/client/client.js';
import { until } from '../feed/harness.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };

let ex: LocalExchange;
let rest1: OrderEntryRestClient;
let rest2: OrderEntryRestClient;
let seq = 0;
const cid = (p: string) => `${p}-${++seq}`;

beforeAll(async () => {
  ex = await startLocalExchange({
    gatewayOverrides: {
      slowOrderMs: 0,
      accounts: [
        {
          account: 1,
          apiKeys: [K1],
          risk: {
            maxOrderQty: 1_000_000,
            maxNotional: 10_000_000_000_000,
            maxOpenOrders: 1_000,
            ratePerSec: 100_000,
            burst: 100_000,
          },
        },
        {
          account: 2,
          apiKeys: [K2],
          risk: {
            maxOrderQty: 1_000_000,
            maxNotional: 10_000_000_000_000,
            maxOpenOrders: 1_000,
            ratePerSec: 100_000,
            burst: 100_000,
          },
        },
        // ratePerSec 0.001 is the smallest the config allows: one token per 1,000 s, so once the
        // burst of 3 is spent the next request is refused however slowly the test runs.
        {
          account: 3,
          apiKeys: [{ key: 'slow-key', hmacSecret: 'slow' }],
          risk: { maxOrderQty: 100, maxNotional: 1_000_000_000, maxOpenOrders: 2, ratePerSec: 0.001, burst: 3 },
        },
      ],
    },
  });
  rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
  rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
}, 90_000);

afterAll(async () => {
  await ex?.stop();
}, 60_000);

/** The books of the leader (live orders) — to prove a rejected request changed nothing. */
async function books(): Promise<{ execIdLast: number; orders: string }> {
  const leader = await ex.cluster.waitForLeader(10_000);
  const r = (await requestOnce(ex.cluster.endpoint(leader), { op: 'orders' })) as unknown as OrdersDump;
  return { execIdLast: r.execIdLast, orders: JSON.stringify(r.orders) };
}

const buy = (price = 4_990_000, quantity = 10) => ({
  client_order_id: cid('b'),
  symbol: 'BTC-USD',
  side: 'BUY',
  order_type: 'LIMIT',
  time_in_force: 'GTC',
  price,
  quantity,
});
const sell = (price = 5_010_000, quantity = 10) => ({
  client_order_id: cid('s'),
  symbol: 'BTC-USD',
  side: 'SELL',
  order_type: 'LIMIT',
  time_in_force: 'GTC',
  price,
  quantity,
});

describe('REST', () => {
  it('place, amend, get, cancel an order; a cross makes signed, chained fills', async () => {
    const placed = await rest1.placeOrder(buy(4_995_000, 20));
    expect(placed.status).toBe(201);
    const result = (placed.body as OrderResultResponse).result;
    expect(result.reports).toHaveLength(1);
    const rep = result.reports[0]!;
    expect(rep).toMatchObject({
      exec_type: 'NEW',
      order_status: 'NEW',
      account: 1,
      price: 4_995_000,
      order_qty: 20,
      leaves_qty: 20,
    });
    expect(rep.signature).toBe(hmacSign(K1.hmacSecret, JSON.stringify(pick(rep))));
    const id = rep.order_id as number;

    const amended = await rest1.amendOrder(id, { quantity: 15 });
    expect(amended.status).toBe(200);
    expect(
      (amended.body as { result: { reports: { exec_type: string; order_qty: number }[] } }).result.reports[0],
    ).toMatchObject({ exec_type: 'REPLACED', order_qty: 15 });

    const got = await rest1.getOrder(id);
    expect(got.status).toBe(200);
    expect((got.body as GetOrderResponse).order).toMatchObject({
      order_id: id,
      order_qty: 15,
      leaves_qty: 15,
      order_status: 'NEW',
      side: 'BUY',
    });

    // Account 2 sells into it: a fill for both (account 2's report in its own reply).
    const hit = await rest2.placeOrder({ ...sell(4_995_000, 5), time_in_force: 'IOC' });
    expect(hit.status).toBe(201);
    const hitReports = (hit.body as { result: { reports: { exec_type: string; last_qty: number; account: number }[] } })
      .result.reports;
    expect(hitReports.some((r) => r.exec_type === 'TRADE' && r.last_qty === 5 && r.account === 2)).toBe(true);
    expect(hitReports.every((r) => r.account === 2)).toBe(true);

    const canceled = await rest1.cancelOrder(id);
    expect(canceled.status).toBe(200);
    expect(
      (canceled.body as { result: { reports: { exec_type: string; cum_qty: number }[] } }).result.reports[0],
    ).toMatchObject({ exec_type: 'CANCELED', cum_qty: 5 });
    // Gone from the book: a second cancel is NOT_FOUND.
    expect((await rest1.cancelOrder(id)).status).toBe(404);
  });

  it("mass cancel removes only the account's orders", async () => {
    await rest1.placeOrder(buy(4_980_000));
    await rest1.placeOrder(buy(4_981_000));
    const other = await rest2.placeOrder(buy(4_982_000));
    const r = await rest1.massCancel({ symbol: 'BTC-USD' });
    expect(r.status).toBe(200);
    expect((r.body as { canceled_count: number }).canceled_count).toBeGreaterThanOrEqual(2);
    const otherId = (other.body as { result: { reports: { order_id: number }[] } }).result.reports[0]!.order_id;
    expect((await rest2.getOrder(otherId)).status).toBe(200);
    await rest2.massCancel({});
  });

  it('every auth failure is refused with its code and changes nothing', async () => {
    const before = await books();
    const body = Buffer.from(JSON.stringify(buy()));
    const target = 'POST /v1/orders';
    const post = (headers: Record<string, string>) =>
      fetch(`${ex.restUrl}/v1/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
    const good = signRequest(K1, target, body);
    const h = (a: { apiKey: string; timestamp: string; signature: string }) => ({
      [HEADER_API_KEY]: a.apiKey,
      [HEADER_TIMESTAMP]: a.timestamp,
      [HEADER_SIGNATURE]: a.signature,
    });
    const cases: [string, Record<string, string>, number, string][] = [
      ['no headers', {}, 401, 'UNAUTHENTICATED'],
      ['unknown key', h({ ...good, apiKey: 'nobody' }), 401, 'UNAUTHENTICATED'],
      [
        'bad signature',
        h({ ...good, signature: hmacSign('wrong-secret', canonicalRequest(good.timestamp, target, body)) }),
        401,
        'UNAUTHENTICATED',
      ],
      ['stale timestamp', h(signRequest(K1, target, body, Date.now() - 60_000)), 401, 'STALE_REQUEST'],
      ['future timestamp', h(signRequest(K1, target, body, Date.now() + 60_000)), 401, 'STALE_REQUEST'],
      ['signed for another path', h(signRequest(K1, 'POST /v1/orders/cancel-all', body)), 401, 'UNAUTHENTICATED'],
    ];
    for (const [what, headers, status, code] of cases) {
      const r = await post(headers);
      expect(r.status, what).toBe(status);
      expect(((await r.json()) as { code: string }).code, what).toBe(code);
    }
    // Replay: the same signed request twice — the first is accepted, the second refused.
    const once = signRequest(K1, target, body);
    const first = await post(h(once));
    expect(first.status).toBe(201);
    const again = await post(h(once));
    expect(again.status).toBe(401);
    expect(((await again.json()) as { code: string }).code).toBe('REPLAYED_REQUEST');
    const firstId = ((await first.json()) as { result: { reports: { order_id: number }[] } }).result.reports[0]!
      .order_id;
    await rest1.cancelOrder(firstId);
    const after = await books();
    expect(after.orders).toBe(before.orders);
  });

  it('a foreign account can neither see nor cancel an order', async () => {
    const placed = await rest1.placeOrder(buy(4_970_000));
    const id = (placed.body as { result: { reports: { order_id: number }[] } }).result.reports[0]!.order_id;
    const before = await books();
    const seen = await rest2.getOrder(id);
    expect(seen.status).toBe(403);
    expect((seen.body as { code: string }).code).toBe('PERMISSION_DENIED');
    const cancel = await rest2.cancelOrder(id);
    expect(cancel.status).toBe(403);
    const amend = await rest2.amendOrder(id, { quantity: 1 });
    expect(amend.status).toBe(403);
    expect((await books()).orders).toBe(before.orders);
    await rest1.cancelOrder(id);
  });

  it('validation rejects give INVALID_ARGUMENT and change nothing', async () => {
    const before = await books();
    const bad: [string, Record<string, unknown>][] = [
      ['price off the tick (ETH tick 5)', { ...buy(), symbol: 'ETH-USD', price: 300_001, quantity: 10 }],
      ['quantity off the lot (ETH lot 10)', { ...buy(), symbol: 'ETH-USD', price: 300_000, quantity: 15 }],
      ['zero quantity', { ...buy(), quantity: 0 }],
      ['fractional price', { ...buy(), price: 4_990_000.5 }],
      ['unknown symbol', { ...buy(), symbol: 'DOGE-USD' }],
      ['limit without price', { ...buy(), price: undefined }],
      ['bad side', { ...buy(), side: 'LONG' }],
      ['bad client order id', { ...buy(), client_order_id: 'has space' }],
      ['unknown field', { ...buy(), leverage: 100 }],
    ];
    for (const [what, body] of bad) {
      const r = await rest1.placeOrder(body);
      expect(r.status, what).toBe(400);
      expect((r.body as { code: string }).code, what).toBe('INVALID_ARGUMENT');
    }
    expect(await books()).toEqual(before);
  });

  it('risk limits and the rate limit refuse with their codes (429 with Retry-After)', async () => {
    const slow = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: { key: 'slow-key', hmacSecret: 'slow' } });
    const tooBig = await slow.placeOrder({ ...buy(4_990_000, 101) });
    expect(tooBig.status).toBe(403);
    expect((tooBig.body as { code: string }).code).toBe('RISK_MAX_QTY');
    const outOfBand = await slow.placeOrder({ ...buy(4_000_000, 1) });
    expect((outOfBand.body as { code: string }).code).toBe('RISK_PRICE_BAND');
    // Burst 3: the two requests above took a token each (the rate limit is checked before the
    // risk limits), this one takes the last; the refill (0.001/s) gives the next token only
    // after 1,000 s, so the request after it is refused.
    const lastToken = await slow.placeOrder(buy(4_990_000, 1));
    expect(lastToken.status).toBe(201);
    const limited = await slow.placeOrder(buy(4_990_000, 1));
    expect(limited.status).toBe(429);
    expect((limited.body as { code: string }).code).toBe('RATE_LIMITED');
    // Retry-After is the time until the next token: at most 1,000 s (a whole token at 0.001/s),
    // and at least 1,000 s minus what refilled while this test ran (bounded by its timeout).
    const retryAfter = Number(limited.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(500);
    expect(retryAfter).toBeLessThanOrEqual(1_000);
  });
});

describe('latency trace', () => {
  it("the slow-order dump gives each stage of a request, joined with the leader's stages of its log entry; /metrics has the stage histograms", async () => {
    // slowOrderMs 0 (beforeAll): every request is kept.
    const placed = await rest1.placeOrder(buy(4_980_000, 1));
    expect(placed.status).toBe(201);
    const logIndex = (placed.body as { result: { log_index: number } }).result.log_index;
    const admin = new OrderEntryRestClient({
      baseUrl: ex.restUrl,
      key: { key: 'demo-admin', hmacSecret: 'demo-admin-secret-change-me' },
    });
    const dump = await admin.admin('slow-orders', { limit: 10 });
    expect(dump.status).toBe(200);
    const body = dump.body as {
      slowOrderMs: number;
      slowOrders: {
        op: string;
        protocol: string;
        logIndex: number;
        totalMs: number;
        stagesMs: Record<string, number>;
        leader?: Record<string, unknown>;
      }[];
    };
    expect(body.slowOrderMs).toBe(0);
    const mine = body.slowOrders.find((o) => o.logIndex === logIndex && o.op === 'PlaceOrder');
    expect(mine).toBeDefined();
    expect(mine!.protocol).toBe('rest');
    const st = mine!.stagesMs;
    const order = ['validated', 'checked', 'sent', 'replied', 'signed', 'written'].map((k) => st[k]);
    expect(order.every((v) => typeof v === 'number' && v >= 0)).toBe(true);
    for (let k = 1; k < order.length; k++) expect(order[k]!).toBeGreaterThanOrEqual(order[k - 1]!);
    expect(mine!.totalMs).toBe(st.written);
    // The leader's side of the same entry: proposed ≤ committed ≤ applied, durable here and acknowledged by a follower.
    const leader = mine!.leader as {
      index: number;
      node: number;
      proposedMs: number;
      durableMs: number;
      committedMs: number;
      appliedMs: number;
      acksMs: Record<string, number>;
    };
    expect(leader.index).toBe(logIndex);
    expect(leader.node).toBe(await ex.cluster.waitForLeader(10_000));
    expect(leader.proposedMs).toBeGreaterThanOrEqual(0);
    expect(leader.durableMs).toBeGreaterThanOrEqual(leader.proposedMs);
    expect(leader.committedMs).toBeGreaterThanOrEqual(leader.proposedMs);
    expect(leader.appliedMs).toBeGreaterThanOrEqual(leader.committedMs);
    expect(Object.keys(leader.acksMs).length).toBeGreaterThanOrEqual(1);
    // An order key may not read the dump.
    expect((await rest1.request('POST', '/v1/admin/slow-orders', {})).status).toBe(403);
    const metrics = await (await fetch(`${ex.restUrl}/metrics`)).text();
    expect(metrics).toMatch(/matchbook_gateway_stage_seconds_count\{[^}]*stage="replied"[^}]*\} [1-9]/);
  });
});

describe('gRPC', () => {
  it('unary place and cancel; errors carry their status', async () => {
    const g = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: K1 });
    try {
      const placed = await g.placeOrder({
        client_order_id: cid('g'),
        symbol: 'BTC-USD',
        side: 'BUY',
        order_type: 'LIMIT',
        price: 4_960_000,
        quantity: 3,
      });
      const rep = placed.result.reports[0]!;
      expect(rep).toMatchObject({ exec_type: 'NEW', order_qty: 3, account: 1 });
      const canceled = await g.cancelOrder({ order_id: rep.order_id });
      expect(canceled.result.reports[0]).toMatchObject({ exec_type: 'CANCELED' });
      await expect(
        g.placeOrder({
          client_order_id: cid('g'),
          symbol: 'BTC-USD',
          side: 'BUY',
          order_type: 'LIMIT',
          price: 4_960_001,
          quantity: 0,
        }),
      ).rejects.toMatchObject({ code: 3 });
    } finally {
      g.close();
    }
  });

  it('a maker with an open session is sent its fills, unsolicited, signed and chained', async () => {
    const g = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: K2 });
    const s = g.openSession({});
    const pushed: Record<string, unknown>[] = [];
    s.onReports((reports) => pushed.push(...(reports as unknown as Record<string, unknown>[])));
    try {
      const makerId = cid('mk');
      const placed = await s.send({
        request_id: 1,
        commands: [
          {
            place: {
              client_order_id: makerId,
              symbol: 'BTC-USD',
              side: 'SELL',
              order_type: 'LIMIT',
              price: 5_002_000,
              quantity: 3,
            },
          },
        ],
      });
      expect(placed.outcomes[0]!.error).toBeUndefined();
      // Account 1 takes it over REST.
      const taker = await rest1.placeOrder({ ...buy(5_002_000, 3) });
      expect(taker.status).toBe(201);
      // The push is signed asynchronously after the taker's command: it may come after the
      // taker's reply. All reports of the taker's command reach a session in ONE message, so
      // once anything has arrived the count is final for this command.
      await until('the maker fill to be pushed to the session', () => pushed.length >= 1, 30_000);
      expect(pushed).toHaveLength(1);
      const r = pushed[0]!;
      expect(r).toMatchObject({
        client_order_id: makerId,
        account: 2,
        exec_type: 'TRADE',
        order_status: 'FILLED',
        last_qty: 3,
        last_px: 5_002_000,
      });
      expect(r.signature).toBe(hmacSign(K2.hmacSecret, canonicalReport(r as unknown as ExecutionReportOut)));
      expect(r.chain_seq).toBeGreaterThan(0);
    } finally {
      s.close();
      g.close();
    }
  });

  it('a session stream with batches answers in order; a leader change loses and duplicates nothing', async () => {
    const g = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: K2 });
    const s = g.openSession({});
    const placedIds = new Set<number>();
    const clOrdIds: string[] = [];
    try {
      const batch = (n: number) =>
        Array.from({ length: n }, () => {
          const id = cid('sess');
          clOrdIds.push(id);
          return {
            place: {
              client_order_id: id,
              symbol: 'BTC-USD',
              side: 'BUY',
              order_type: 'LIMIT',
              price: 4_900_000,
              quantity: 1,
            },
          };
        });
      let requestId = 0;
      const sendBatch = async () => {
        const rid = ++requestId;
        const resp = await s.send({ request_id: rid, commands: batch(20) });
        expect(resp.request_id).toBe(rid);
        expect(resp.outcomes).toHaveLength(20);
        for (const o of resp.outcomes) {
          expect(o.error, JSON.stringify(o.error)).toBeUndefined();
          placedIds.add(o.result!.reports[0]!.order_id);
        }
      };
      await sendBatch();
      // Kill the leader while batches are in flight; the gateway's replica clients resend to
      // the new leader with the same (clientId, requestSeq).
      const leader = await ex.cluster.waitForLeader(10_000);
      const inflight = [sendBatch(), sendBatch(), sendBatch()];
      await ex.cluster.kill(leader);
      await Promise.all(inflight);
      await sendBatch();
      expect(placedIds.size).toBe(100);
      await ex.cluster.start(leader);
      // Every acknowledged order is in the book exactly once.
      const newLeader = await ex.cluster.waitForLeader(20_000);
      const dump = (await requestOnce(ex.cluster.endpoint(newLeader), { op: 'orders' })) as unknown as OrdersDump;
      const mine = dump.orders.filter((o) => o.account === 2 && o.clOrdId.startsWith('sess-'));
      expect(mine.map((o) => o.clOrdId).sort()).toEqual([...clOrdIds].sort());
    } finally {
      s.close();
      g.close();
    }
  }, 60_000);
});

function pick(r: ExecutionReportOut): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of CANONICAL_FIELDS) o[f] = r[f];
  return o;
}
