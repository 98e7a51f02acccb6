// The whole exchange as `npm start` runs it (three replica processes with feeds, the gateway),
// on free ports: orders placed through the REST gateway appear on a follower's feed (book,
// trades), each feed's /healthz names its replica's role, and `matchbook watch` picks a
// follower by itself and prints the top of book.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedClient } from '../../feed/client/feed-client.js';
import { watch } from '../../feed/client/watch.js';
import { Channel, type TradesMessage } from '../../feed/types.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { until } from './harness.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
let ex: LocalExchange;
let client: FeedClient | undefined;

beforeAll(async () => {
  ex = await startLocalExchange({ feed: true });
}, 90_000);

afterAll(async () => {
  await client?.close();
  await ex?.stop();
}, 60_000);

describe('the exchange with market data', () => {
  it('orders through the gateway show on a follower feed; watch picks a follower', async () => {
    const leader = await ex.cluster.waitForLeader(10_000);
    expect(ex.feedUrls.size).toBe(3);
    const roles = new Map<number, string>();
    for (const [id, url] of ex.feedUrls) {
      const h = (await (await fetch(`${url.replace('ws://', 'http://').replace('/v1/ws', '')}/healthz`)).json()) as {
        info: { node: number; role: string };
      };
      expect(h.info.node).toBe(id);
      roles.set(id, h.info.role);
    }
    expect(roles.get(leader)).toBe('LEADER');
    const follower = [...roles].find(([, r]) => r === 'FOLLOWER')![0];

    client = await FeedClient.connect({ url: ex.feedUrls.get(follower)! });
    const trades: TradesMessage[] = [];
    client.on('trades', (m: TradesMessage) => trades.push(m));
    await client.subscribe(['BTC-USD'], [Channel.L2, Channel.L3, Channel.TRADES]);
    const rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
    const rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
    const order = (side: string, price: number, quantity: number, n: number) => ({
      client_order_id: `feed-${side}-${n}`,
      symbol: 'BTC-USD',
      side,
      order_type: 'LIMIT',
      time_in_force: 'GTC',
      price,
      quantity,
    });
    expect((await rest1.placeOrder(order('BUY', 4_990_000, 10, 1))).status).toBe(201);
    expect((await rest1.placeOrder(order('BUY', 4_990_000, 5, 2))).status).toBe(201);
    expect((await rest1.placeOrder(order('BUY', 4_980_000, 7, 3))).status).toBe(201);
    expect((await rest2.placeOrder(order('SELL', 5_010_000, 8, 4))).status).toBe(201);
    expect((await rest2.placeOrder(order('SELL', 4_990_000, 12, 5))).status).toBe(201); // trades 10 + 2 at 4,990,000
    await until(
      'book on the follower feed',
      () =>
        JSON.stringify(client!.book('BTC-USD')!.levels('BUY')) ===
        JSON.stringify([
          [4_990_000, 3, 1],
          [4_980_000, 7, 1],
        ]),
    );
    expect(client.book('BTC-USD')!.levels('SELL')).toEqual([[5_010_000, 8, 1]]);
    expect(
      client
        .l3('BTC-USD')!
        .ordersOf('BUY')
        .map((o) => o.slice(1)),
    ).toEqual([
      [4_990_000, 3],
      [4_980_000, 7],
    ]);
    await until('trades', () => trades.flatMap((m) => m.trades).filter((t) => t.side === 'SELL').length === 2);
    expect(
      trades
        .flatMap((m) => m.trades)
        .filter((t) => t.side === 'SELL')
        .map((t) => [t.price, t.qty]),
    ).toEqual([
      [4_990_000, 10],
      [4_990_000, 2],
    ]);
    expect(client.stats.gaps + client.stats.checksumMismatches + client.stats.errors).toBe(0);

    // watch, non-TTY: one line per screen; it finds a follower among the feeds by itself.
    const lines: string[] = [];
    process.env.MATCHBOOK_FEED_URLS = [...ex.feedUrls.values()].join(',');
    try {
      expect(await watch(['BTC-USD', '--count', '1'], (s) => lines.push(s))).toBe(0);
    } finally {
      delete process.env.MATCHBOOK_FEED_URLS;
    }
    expect(lines[0]).toMatch(/^BTC-USD seq \d+ bid 3@4990000 ask 8@5010000 last 2@4990000\n$/);
  }, 60_000);
});
