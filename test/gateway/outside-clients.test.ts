// What outside clients hit (issue 18), over the real exchange (three replica processes, the
// gateway's REST and gRPC servers): an API that explains itself — GET /v1/instruments and
// ListInstruments with the engine's halt state and band, whoever changed them; health and server
// reflection on the gRPC port — and what the edges accept: an unknown protobuf field is ignored
// (the order acts exactly as without it), a JSON number with a fraction, an exponent or a sign is
// refused for an integer field, an unknown JSON field is refused by name.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main as cliMain } from '../../cli/matchbook.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { OrderEntryGrpcClient, type OrderResultResponse } from '../../gateway/client/grpc-client.js';
import { OrderEntryCodec, methodPath } from '../../gateway/grpc-server.js';
import type { InstrumentOut } from '../../gateway/instruments.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../../api/signing.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { ReplicaClient, requestOnce } from '../../replicator/client/client.js';
import type { OrdersDump } from '../../replicator/client/protocol.js';
import { encodeJsonCommand } from '../../shard/json-command.js';
import { files, healthCheck, listServices, type ReflectionVersion } from './grpc-reflection-client.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The shard config the temporary cluster runs (replicator/process-cluster.ts), read as raw JSON. */
const ENGINE_CONFIG = JSON.parse(readFileSync(path.join(REPO_ROOT, 'engine/examples/instruments.json'), 'utf8')) as {
  instruments: Record<string, number | string>[];
};
const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const ADMIN = { key: 'demo-admin', hmacSecret: 'demo-admin-secret-change-me' };

let ex: LocalExchange;
let rest: OrderEntryRestClient;
let admin: OrderEntryRestClient;
let grpcClient: OrderEntryGrpcClient;
let seq = 0;
const cid = (p: string) => `${p}-${++seq}-${process.pid}`;

beforeAll(async () => {
  ex = await startLocalExchange({ fsync: false });
  rest = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
  admin = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: ADMIN });
  grpcClient = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: K1 });
}, 90_000);

afterAll(async () => {
  grpcClient?.close();
  await ex?.stop();
}, 60_000);

/** The leader's live book — to prove a refused request changed nothing. */
async function book(): Promise<string> {
  const leader = await ex.cluster.waitForLeader(10_000);
  const r = (await requestOnce(ex.cluster.endpoint(leader), { op: 'orders' })) as unknown as OrdersDump;
  return JSON.stringify({ execIdLast: r.execIdLast, orders: r.orders });
}

/** What the spec (proto/exchange/v1/order_entry.proto, Instrument) says each instrument must be, from the engine config. */
function expectedInstrument(raw: Record<string, number | string>, status: string, reference?: number): InstrumentOut {
  const tick = Number(raw.tickSize);
  const ticks = Number(raw.priceBandTicks);
  const ref = reference ?? Number(raw.referencePrice);
  return {
    symbol: String(raw.symbol),
    shard: 0,
    status: status as InstrumentOut['status'],
    tick_size: tick,
    lot_size: Number(raw.lotSize),
    min_quantity: Number(raw.minQty),
    max_quantity: Number(raw.maxQty),
    max_price: Number(raw.maxPrice),
    price_decimals: Number(raw.priceDecimals),
    quantity_decimals: Number(raw.qtyDecimals),
    reference_price: ref,
    price_band_ticks: ticks,
    band_low_price: ref - ticks * tick,
    band_high_price: ref + ticks * tick,
    session_close_utc_us: Number(raw.sessionCloseUtcUs),
  };
}

async function restInstruments(): Promise<InstrumentOut[]> {
  const r = await rest.instruments();
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return (r.body as { instruments: InstrumentOut[] }).instruments;
}

/** Both protocols agree; the list. */
async function instruments(): Promise<InstrumentOut[]> {
  const [viaRest, viaGrpc] = await Promise.all([restInstruments(), grpcClient.listInstruments({ deadlineMs: 30_000 })]);
  expect(viaGrpc.instruments).toEqual(viaRest);
  return viaRest;
}

const statusOf = (list: InstrumentOut[], symbol: string) => list.find((i) => i.symbol === symbol)?.status;

describe('instruments', () => {
  it('GET /v1/instruments (no auth) and ListInstruments: every instrument as the engine config has it, TRADING', async () => {
    const list = await instruments();
    expect(list).toEqual(ENGINE_CONFIG.instruments.map((raw) => expectedInstrument(raw, 'TRADING')));
    // Unsigned gRPC works too (public reference data), and nothing needed the config file.
    const bare = new grpc.Client(ex.grpcAddress, grpc.credentials.createInsecure());
    const codec = OrderEntryCodec.get();
    try {
      const reply = await new Promise<Record<string, unknown>>((resolve, reject) =>
        bare.makeUnaryRequest(
          methodPath('ListInstruments'),
          (b: Buffer) => b,
          (b: Buffer) => codec.decode('ListInstrumentsResponse', b),
          Buffer.alloc(0),
          (err, v) => (err ? reject(err) : resolve(v!)),
        ),
      );
      expect(reply.instruments).toEqual(list);
    } finally {
      bare.close();
    }
  });

  it('what it says is what the engine takes: the band edges are accepted, one tick beyond is refused', async () => {
    const eth = (await instruments()).find((i) => i.symbol === 'ETH-USD')!;
    const order = (price: number) => ({
      client_order_id: cid('band'),
      symbol: eth.symbol,
      side: 'BUY',
      order_type: 'LIMIT',
      time_in_force: 'IOC',
      price,
      quantity: eth.min_quantity,
    });
    expect((await rest.placeOrder(order(eth.band_low_price))).status).toBe(201);
    expect((await rest.placeOrder(order(eth.band_high_price))).status).toBe(201);
    const before = await book();
    const beyond = await rest.placeOrder(order(eth.band_high_price + eth.tick_size));
    expect(beyond.status).toBe(403);
    expect((beyond.body as { code: string }).code).toBe('RISK_PRICE_BAND');
    const offTick = await rest.placeOrder(order(eth.band_low_price + 1));
    expect(offTick.status).toBe(400);
    expect(await book()).toBe(before);
  });

  it('status follows an admin halt and resume, also when another client of the shard (another gateway) halts', async () => {
    expect((await admin.admin('halt', { symbol: 'ETH-USD' })).status).toBe(200);
    let list = await instruments();
    expect(statusOf(list, 'ETH-USD')).toBe('HALTED');
    expect(statusOf(list, 'BTC-USD')).toBe('TRADING');
    const refused = await rest.placeOrder({
      client_order_id: cid('halted'),
      symbol: 'ETH-USD',
      side: 'BUY',
      order_type: 'LIMIT',
      price: 300_000,
      quantity: 10,
    });
    expect(refused.status).toBe(409);

    expect((await admin.admin('resume', { symbol: 'ETH-USD' })).status).toBe(200);
    expect(statusOf(await instruments(), 'ETH-USD')).toBe('TRADING');

    // Another gateway: a session of its own on the replicas; this gateway sees none of its commands.
    const other = new ReplicaClient({ endpoints: ex.cluster.ids.map((id) => ex.cluster.endpoint(id)) });
    try {
      await other.submitEncoded(encodeJsonCommand({ type: 'halt', symbol: 'BTC-USD' }));
      list = await instruments();
      expect(statusOf(list, 'BTC-USD')).toBe('HALTED');
      expect(statusOf(list, 'ETH-USD')).toBe('TRADING');
      await other.submitEncoded(
        encodeJsonCommand({ type: 'set_reference_price', symbol: 'BTC-USD', price: 4_000_000 }),
      );
      await other.submitEncoded(encodeJsonCommand({ type: 'resume', symbol: 'BTC-USD' }));
    } finally {
      other.close();
    }
    list = await instruments();
    const btcRaw = ENGINE_CONFIG.instruments.find((i) => i.symbol === 'BTC-USD')!;
    expect(list.find((i) => i.symbol === 'BTC-USD')).toEqual(expectedInstrument(btcRaw, 'TRADING', 4_000_000));
    // Back to the configured band for the tests below.
    const configured = Number(btcRaw.referencePrice);
    expect((await admin.admin('reference-price', { symbol: 'BTC-USD', price: configured })).status).toBe(200);
    expect(statusOf(await instruments(), 'BTC-USD')).toBe('TRADING');
  });

  it('npx matchbook instruments prints the same list', async () => {
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void printed.push(line));
    let code: number;
    try {
      code = await cliMain(['instruments', '--url', ex.restUrl]);
    } finally {
      log.mockRestore();
    }
    expect(code).toBe(0);
    expect(JSON.parse(printed.join('\n'))).toEqual({ status: 200, body: { instruments: await restInstruments() } });
  });

  it('only GET: other methods get 405 with Allow', async () => {
    const r = await rest.request('POST', '/v1/instruments', {});
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET');
  });
});

describe('gRPC port: health and reflection', () => {
  it('health: SERVING for the server and OrderEntryService', async () => {
    expect(await healthCheck(ex.grpcAddress, '')).toBe('SERVING');
    expect(await healthCheck(ex.grpcAddress, 'exchange.v1.OrderEntryService')).toBe('SERVING');
  });

  for (const version of ['v1', 'v1alpha'] as ReflectionVersion[]) {
    it(`reflection ${version}: every service, and order_entry.proto under its real name`, async () => {
      expect(await listServices(ex.grpcAddress, version)).toEqual([
        'exchange.v1.OrderEntryService',
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
      ]);
      const byName = await files(ex.grpcAddress, version, { file_by_filename: 'exchange/v1/order_entry.proto' });
      expect(byName.map((f) => f.name)).toEqual(['exchange/v1/order_entry.proto']);
      const svc = byName[0]!.service.find((s) => s.name === 'OrderEntryService')!;
      expect(svc.method.map((m) => m.name)).toContain('ListInstruments');
      const bySymbol = await files(ex.grpcAddress, version, { file_containing_symbol: 'exchange.v1.TradingStatus' });
      expect(bySymbol[0]!.name).toBe('exchange/v1/order_entry.proto');
      const reflection = await files(ex.grpcAddress, version, {
        file_containing_symbol: `grpc.reflection.${version}.ServerReflection`,
      });
      expect(reflection[0]!.name).toBe(`grpc/reflection/${version}/reflection.proto`);
    });
  }
});

/** A PlaceOrderRequest as raw protobuf bytes, signed, through a bare grpc-js client (no codec on the way). */
async function placeRaw(body: Buffer): Promise<OrderResultResponse> {
  const codec = OrderEntryCodec.get();
  const c = new grpc.Client(ex.grpcAddress, grpc.credentials.createInsecure());
  const path = methodPath('PlaceOrder');
  const auth = signRequest(K1, path, body);
  const md = new grpc.Metadata();
  md.set(HEADER_API_KEY, auth.apiKey);
  md.set(HEADER_TIMESTAMP, auth.timestamp);
  md.set(HEADER_SIGNATURE, auth.signature);
  try {
    return await new Promise((resolve, reject) =>
      c.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => codec.decode('PlaceOrderResponse', b),
        body,
        md,
        (err, v) => (err ? reject(err) : resolve(v as unknown as OrderResultResponse)),
      ),
    );
  } finally {
    c.close();
  }
}

/** A report without what differs between two otherwise equal orders (ids, time, chain and signature). */
function comparable(r: ExecutionReportOut): Record<string, unknown> {
  const {
    exec_id: _e,
    order_id: _o,
    client_order_id: _c,
    seq: _s,
    ts_us: _t,
    chain_seq: _cs,
    chain_hash: _ch,
    signature: _sig,
    ...rest
  } = r;
  return rest;
}

describe('what the edges accept', () => {
  it('gRPC: an order with fields the proto does not define is accepted and acts exactly as without them', async () => {
    const codec = OrderEntryCodec.get();
    const order = (id: string) => ({
      client_order_id: id,
      symbol: 'BTC-USD',
      side: 'SELL',
      order_type: 'LIMIT',
      time_in_force: 'GTC',
      price: 5_100_000,
      quantity: 7,
    });
    // Field 99 (varint) and field 100 (bytes): what a newer client might send.
    const unknown = Buffer.from([0x98, 0x06, 0x2a, 0xa2, 0x06, 0x03, 0x61, 0x62, 0x63]);
    const plain = await placeRaw(codec.encode('PlaceOrderRequest', order(cid('plain'))));
    const withUnknown = await placeRaw(
      Buffer.concat([codec.encode('PlaceOrderRequest', order(cid('unknown'))), unknown]),
    );
    expect(withUnknown.result.reports.map(comparable)).toEqual(plain.result.reports.map(comparable));
    expect(withUnknown.result.reports[0]).toMatchObject({ exec_type: 'NEW', order_qty: 7, price: 5_100_000 });
    // Both rest in the book, the same.
    const got = await grpcClient.getOrder({ order_id: withUnknown.result.reports[0]!.order_id });
    expect(got.order).toMatchObject({ order_status: 'NEW', leaves_qty: 7, price: 5_100_000, side: 'SELL' });
  });

  it('REST: a number with a fraction, an exponent or a sign is refused INVALID_ARGUMENT naming the field; nothing changes', async () => {
    const body = (field: string, literal: string) =>
      `{"client_order_id":"${cid('num')}","symbol":"BTC-USD","side":"BUY","order_type":"LIMIT","price":4990000,"quantity":5,"${field}":${literal}}`;
    const before = await book();
    for (const [field, literal] of [
      ['price', '4990000.0'],
      ['price', '4.99e6'],
      ['price', '499E4'],
      ['quantity', '5.0'],
      ['quantity', '5e0'],
      ['quantity', '-0.0'],
      ['quantity', '-0'],
    ] as const) {
      const r = await rest.request('POST', '/v1/orders', body(field, literal));
      expect(r.status, `${field}: ${literal}`).toBe(400);
      expect(r.body).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect((r.body as { message: string }).message).toContain(`${field} must be an integer`);
      expect((r.body as { message: string }).message).toContain(literal);
    }
    // A misspelt field is refused by name, not ignored (the order would go without it).
    const misspelt = await rest.request(
      'POST',
      '/v1/orders',
      `{"clientorderid":"${cid('typo')}","symbol":"BTC-USD","side":"BUY","order_type":"LIMIT","price":4990000,"quantity":5}`,
    );
    expect(misspelt.status).toBe(400);
    expect((misspelt.body as { message: string }).message).toBe('unknown field clientorderid');
    // Admin: a reference price with an exponent is refused like an order's.
    const ref = await admin.request('POST', '/v1/admin/reference-price', '{"symbol":"BTC-USD","price":5e6}');
    expect(ref.status).toBe(400);
    expect(await book()).toBe(before);
    // The same order in plain digits is taken.
    expect((await rest.request('POST', '/v1/orders', body('price', '4990000'))).status).toBe(201);
  });
});
