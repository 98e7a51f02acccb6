// The whole exchange over real sockets with Multi-Paxos replicas: startLocalExchange with a
// temporary 3-replica cluster whose "consensus" is "multipaxos" (processes/replica.ts building
// PaxosNodes), the gateway in front unchanged. One order crossing another through REST: the
// resting order, the fill on both sides, and the replicas agreeing on the book.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GetOrderResponse, OrderResultResponse } from '../../gateway/client/grpc-client.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { requestOnce } from '../../replicator/client/client.js';
import type { OrdersDump } from '../../replicator/client/protocol.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
const RISK = {
  maxOrderQty: 1_000_000,
  maxNotional: 10_000_000_000_000,
  maxOpenOrders: 1_000,
  ratePerSec: 100_000,
  burst: 100_000,
};

let ex: LocalExchange;

beforeAll(async () => {
  ex = await startLocalExchange({
    consensus: 'multipaxos',
    gatewayOverrides: {
      slowOrderMs: 0,
      accounts: [
        { account: 1, apiKeys: [K1], risk: RISK },
        { account: 2, apiKeys: [K2], risk: RISK },
      ],
    },
  });
}, 90_000);

afterAll(async () => {
  await ex?.stop();
}, 60_000);

const order = (clOrdId: string, side: 'BUY' | 'SELL', quantity: number) => ({
  client_order_id: clOrdId,
  symbol: 'BTC-USD',
  side,
  order_type: 'LIMIT',
  time_in_force: 'GTC',
  price: 4_995_000,
  quantity,
});

describe('the exchange on Multi-Paxos replicas', () => {
  it('rests a buy, fills it with a crossing sell, and every replica holds the same book', async () => {
    const leader = await ex.cluster.waitForLeader(30_000);
    expect((await ex.cluster.status(leader))?.consensus).toBe('multipaxos');
    const rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
    const rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });

    const placed = await rest1.placeOrder(order('mp-buy-1', 'BUY', 20));
    expect(placed.status).toBe(201);
    const buy = (placed.body as OrderResultResponse).result.reports[0]!;
    expect(buy).toMatchObject({ exec_type: 'NEW', order_status: 'NEW', account: 1, leaves_qty: 20 });

    const hit = await rest2.placeOrder(order('mp-sell-1', 'SELL', 5));
    expect(hit.status).toBe(201);
    const reports = (hit.body as OrderResultResponse).result.reports;
    expect(reports.some((r) => r.exec_type === 'TRADE' && r.last_qty === 5 && r.account === 2)).toBe(true);
    expect(reports.every((r) => r.account === 2)).toBe(true);

    const got = await rest1.getOrder(buy.order_id as number);
    expect(got.status).toBe(200);
    expect((got.body as GetOrderResponse).order).toMatchObject({ leaves_qty: 15, order_status: 'PARTIALLY_FILLED' });

    // Every replica applies the same slots: poll until all three agree on the state hash.
    let agreed = false;
    for (const deadline = Date.now() + 30_000; !agreed && Date.now() < deadline; ) {
      const st = await Promise.all(ex.cluster.ids.map((id) => ex.cluster.status(id, true)));
      agreed = st.every((s) => s !== undefined && s.applied === st[0]?.applied && s.stateHash === st[0]?.stateHash);
      if (!agreed) await new Promise((r) => setTimeout(r, 50));
    }
    expect(agreed).toBe(true);
    const dump = (await requestOnce(ex.cluster.endpoint(leader), { op: 'orders' })) as unknown as OrdersDump;
    expect(dump.orders.map((o) => [o.account, o.clOrdId, o.side, o.leavesQty])).toEqual([[1, 'mp-buy-1', 'BUY', 15]]);
  }, 120_000);
});
