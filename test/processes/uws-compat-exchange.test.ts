// The exchange on the uWebSockets.js compat layer (ops/uws-compat/, issue 21): what Node 22 and 24
// run, forced here on Node 20 with MATCHBOOK_UWS=compat for the replica processes (they inherit
// this environment) and the in-process gateway. Over real sockets: every uWS-serving process says
// compat in matchbook_runtime_info; orders placed, cancelled and read over REST; the feed's
// snapshots and updates on book, trades and l3; the user stream's login and reports; an oversize
// feed frame drops only that connection; malformed upgrades are refused and the feed keeps
// serving. On the old code MATCHBOOK_UWS did not exist: everything ran native and the first test
// failed (uws="native").

process.env.MATCHBOOK_UWS = 'compat';

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequest } from '../../api/signing.js';
import { FeedClient } from '../../feed/client/feed-client.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { Channel, type TradesMessage } from '../../feed/types.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { exposition } from '../../ops/metrics.js';
import { type LocalExchange, startLocalExchange } from '../../processes/local-exchange.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
let ex: LocalExchange;
const toClose: { close(): unknown }[] = [];

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => resolve(out));
    setTimeout(() => s.destroy(), 20_000).unref();
  });
}

const order = (side: string, price: number, quantity: number, id: string) => ({
  client_order_id: id,
  symbol: 'BTC-USD',
  side,
  order_type: 'LIMIT',
  time_in_force: 'GTC',
  price,
  quantity,
});

beforeAll(async () => {
  ex = await startLocalExchange({ feed: true, ops: true });
}, 180_000);

afterAll(async () => {
  for (const c of toClose) await c.close();
  await ex?.stop();
}, 90_000);

describe('the exchange on the compat layer (MATCHBOOK_UWS=compat)', () => {
  it('every uWS-serving process reports uws="compat"', async () => {
    expect((await exposition(ex.gateway.metrics.registry)).body).toMatch(/matchbook_runtime_info\{[^}]*uws="compat"/);
    expect(ex.cluster.opsPorts.size).toBe(3);
    for (const port of ex.cluster.opsPorts.values()) {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(body).toMatch(/matchbook_runtime_info\{[^}]*uws="compat"/);
    }
  });

  it('REST orders, the feed (snapshots and updates on l2, l3, trades) and the user stream', async () => {
    const feedUrl = [...ex.feedUrls.values()][0]!;
    const feed = await FeedClient.connect({ url: feedUrl });
    toClose.push(feed);
    const trades: TradesMessage[] = [];
    feed.on('trades', (m: TradesMessage) => trades.push(m));
    await feed.subscribe(['BTC-USD'], [Channel.L2, Channel.L3, Channel.TRADES]);

    // The user stream of account 1: login signed as REST is, then every report of its orders.
    const msgs: { type: string; report?: { client_order_id?: string; order_status?: string } }[] = [];
    const us = await WsConnection.connect(`${ex.restUrl.replace(/^http/, 'ws')}/v1/user-stream`, {
      onMessage: (d) => msgs.push(JSON.parse(d.toString('utf8')) as (typeof msgs)[number]),
      onClose: () => undefined,
    });
    toClose.push(us);
    const a = signRequest(K1, 'GET /v1/user-stream', new Uint8Array(0));
    us.send(JSON.stringify({ op: 'login', api_key: a.apiKey, timestamp: a.timestamp, signature: a.signature }));
    await until('the login', () => msgs.find((m) => m.type === 'login'));

    const rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
    const rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
    expect((await rest1.placeOrder(order('BUY', 4_990_000, 10, 'c-b1'))).status).toBe(201);
    const resting = await rest1.placeOrder(order('BUY', 4_980_000, 7, 'c-b2'));
    expect(resting.status).toBe(201);
    expect((await rest2.placeOrder(order('SELL', 4_990_000, 4, 'c-s1'))).status).toBe(201);
    const id = (resting.body as { result: { reports: { order_id: string | number }[] } }).result.reports[0]!.order_id;
    const got = await rest1.getOrder(id);
    expect(got.status, JSON.stringify(got.body)).toBe(200);
    expect((await rest1.cancelOrder(id)).status).toBe(200);

    await until('the book on the feed', () =>
      JSON.stringify(feed.book('BTC-USD')?.levels('BUY')) === JSON.stringify([[4_990_000, 6, 1]]) ? true : undefined,
    );
    expect(
      feed
        .l3('BTC-USD')!
        .ordersOf('BUY')
        .map((o) => o.slice(1)),
    ).toEqual([[4_990_000, 6]]);
    await until('the trade on the feed', () =>
      trades.some((t) => t.trades.some((x) => x.qty === 4 && x.side === 'SELL')),
    );
    const reports = await until('account 1 reports', () => {
      const r = msgs.filter((m) => m.type === 'report');
      return r.length >= 4 ? r : undefined;
    });
    expect(reports.map((m) => m.report?.client_order_id)).toEqual(expect.arrayContaining(['c-b1', 'c-b2']));
    expect(reports.some((m) => m.report?.order_status === 'CANCELED')).toBe(true);
  });

  it('an oversize feed frame drops only that connection; malformed upgrades are refused; the feed serves on', async () => {
    const feedUrl = [...ex.feedUrls.values()][1]!;
    const port = Number(new URL(feedUrl).port);
    let bigClosed: number | undefined;
    const big = await WsConnection.connect(feedUrl, { onMessage: () => undefined, onClose: (c) => (bigClosed = c) });
    const other = await FeedClient.connect({ url: feedUrl });
    toClose.push(other);
    big.send('x'.repeat(64 * 1024));
    expect(await until('the oversize frame closed', () => bigClosed)).toBe(1006);
    const noKey = await rawExchange(
      port,
      'GET /v1/ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\n\r\n',
    );
    expect(noKey).toMatch(/^HTTP\/1\.1 400 /);
    const badEncoding = await rawExchange(
      port,
      'GET /v1/ws?encoding=xml HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n',
    );
    expect(badEncoding).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(badEncoding).toContain('encoding must be json or protobuf');
    const sub = await other.subscribe(['BTC-USD'], [Channel.L2]);
    expect(sub.type).toBe('subscribed');
    const h = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(h.status).toBe(200);
  });
});
