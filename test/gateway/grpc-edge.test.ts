// The gRPC edge (gateway/grpc-server.ts) and its client (gateway/client/grpc-client.ts) against a
// FAKE GatewayCore that records what the edge hands it and answers canned replies: bodies reach
// the core byte for byte as signed; every ErrorCode gives its gRPC status and x-mb-error-code;
// deadlines; the session stream (order, batches, auth failure, close on cancel, backpressure);
// health and reflection. Loopback only, every wait bounded.

import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OrderEntryError, OrderEntryGrpcClient } from '../../gateway/client/grpc-client.js';
import { GrpcGateway, OrderEntryCodec, SERVICE_NAME, methodPath } from '../../gateway/grpc-server.js';
import { SESSION_INFLIGHT_MAX } from '../../gateway/limits.js';
import {
  HEADER_API_KEY,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  canonicalRequest,
  ed25519PrivateKeyFromSeed,
  ed25519PublicKeyFromRaw,
  ed25519RawPublicKey,
  ed25519Verify,
  hmacVerify,
  signRequest,
} from '../../api/signing.js';
import type { AuthHeaders } from '../../api/auth.js';
import { ERROR_STATUS, ErrorCode, type GatewayError } from '../../api/errors.js';
import { withDecimals, type ExecutionReportOut } from '../../api/execution-report.js';
import { linesLog } from '../../ops/log.js';
import type {
  GatewayCore,
  GatewayReply,
  GatewaySession,
  OrderOut,
  RawRequest,
  SessionOptions,
} from '../../gateway/types.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const HMAC_KEY = { key: 'k-hmac', hmacSecret: 'test-secret-1' };
const ED_SEED = randomBytes(32).toString('base64');
const ED_PRIV = ed25519PrivateKeyFromSeed(ED_SEED);
const ED_PUB = ed25519PublicKeyFromRaw(ed25519RawPublicKey(ED_PRIV));
const ED_KEY = { key: 'k-ed', ed25519PrivateKey: ED_SEED };

const codec = OrderEntryCodec.get();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, what: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Verifies the auth headers of a request the way the gateway's workers do. */
function verifies(auth: AuthHeaders, target: string, body: Uint8Array): boolean {
  const canonical = canonicalRequest(auth.timestamp, target, body);
  if (auth.apiKey === HMAC_KEY.key) return hmacVerify(HMAC_KEY.hmacSecret, canonical, auth.signature);
  if (auth.apiKey === ED_KEY.key) return ed25519Verify(ED_PUB, canonical, auth.signature);
  return false;
}

/** A report as the gateway sends it: with its decimal strings (BTC-USD: 2 price, 4 quantity decimals). */
function report(over: Partial<ExecutionReportOut> = {}): ExecutionReportOut {
  return withDecimals(reportFields(over), { priceDecimals: 2, qtyDecimals: 4 });
}

function reportFields(over: Partial<ExecutionReportOut>): ExecutionReportOut {
  return {
    exec_id: 77,
    order_id: 3 * 2 ** 44 + 12_345, // shard 3: above 2^32, below 2^53
    client_order_id: 'c-1',
    orig_client_order_id: '',
    account: 7,
    symbol: 'BTC-USD',
    side: 'BUY',
    order_type: 'LIMIT',
    time_in_force: 'GTC',
    exec_type: 'TRADE',
    order_status: 'PARTIALLY_FILLED',
    price: 4_960_000,
    stop_price: 0,
    order_qty: 3,
    cum_qty: 1,
    leaves_qty: 2,
    last_qty: 1,
    last_px: 4_959_000,
    cum_notional: 4_959_000,
    avg_px: '4959000.00000000',
    display_qty: 0,
    reason: '',
    trade_id: 901,
    last_liquidity_ind: 'REMOVED_LIQUIDITY',
    seq: 12_345,
    ts_us: 1_790_000_000_123_456,
    chain_seq: 42,
    chain_hash: 'ab'.repeat(32),
    signature: 'cd'.repeat(32),
    ...over,
  };
}

function orderResult(seq: number, reports: ExecutionReportOut[]): Record<string, unknown> {
  return { seq, log_index: seq + 1000, shard: 3, reports };
}

// ---------------------------------------------------------------------------------------------
// The fake core

class FakeSession implements GatewaySession {
  onUnsolicited: ((reply: Record<string, unknown>) => void) | undefined = undefined;
  readonly account = 7;
  closeCalls = 0;
  /** Decoded requests, in submission order. */
  readonly received: Record<string, unknown>[] = [];
  /** manual mode: the replies not given yet, in submission order. */
  readonly held: { request: Record<string, unknown>; d: Deferred<Record<string, unknown>> }[] = [];

  constructor(public mode: 'auto' | 'manual' | 'reject') {}

  submit(body: Uint8Array): Promise<Record<string, unknown>> {
    const request = codec.decode('OrderSessionRequest', body);
    this.received.push(request);
    if (this.mode === 'reject') return Promise.reject(new Error('core exploded'));
    if (this.mode === 'auto') return Promise.resolve(FakeSession.answer(request));
    const d = deferred<Record<string, unknown>>();
    this.held.push({ request, d });
    return d.promise;
  }

  /** Gives the held replies, in the order of `order` (indexes into `held`), and forgets them. */
  release(order?: number[]): void {
    const items = this.held.splice(0, this.held.length);
    for (const i of order ?? items.map((_, k) => k)) items[i]!.d.resolve(FakeSession.answer(items[i]!.request));
  }

  close(): void {
    this.closeCalls++;
  }

  /** One outcome per command: place → a result, cancel → NOT_FOUND, mass_cancel → an empty result. */
  static answer(request: Record<string, unknown>): Record<string, unknown> {
    const rid = request.request_id as number;
    // Like the core for a request it cannot read: no request id.
    if (rid === 999)
      return { request_id: 0, outcomes: [], error: { code: 'INVALID_ARGUMENT', message: 'malformed request' } };
    const commands = request.commands as Record<string, unknown>[];
    const outcomes = commands.map((c, i) => {
      if (c.place !== undefined) {
        const p = c.place as Record<string, unknown>;
        return {
          result: orderResult(rid * 100 + i, [
            report({
              client_order_id: p.client_order_id as string,
              exec_type: 'NEW',
              order_status: 'NEW',
              cum_qty: 0,
              leaves_qty: 3,
              last_qty: 0,
              last_px: 0,
              cum_notional: 0,
            }),
          ]),
        };
      }
      if (c.cancel !== undefined)
        return { error: { code: 'NOT_FOUND', reason: 'ORDER_NOT_FOUND', message: 'no such order', order_id: 5 } };
      return { result: orderResult(rid * 100 + i, []) };
    });
    return { request_id: rid, outcomes };
  }
}

class FakeCore implements GatewayCore {
  readonly requests: RawRequest[] = [];
  readonly opens: { auth: AuthHeaders; target: string; opts: SessionOptions }[] = [];
  readonly sessions: FakeSession[] = [];
  reply: (req: RawRequest) => Promise<GatewayReply> = async () => ({ ok: true, body: {} });
  sessionMode: 'auto' | 'manual' | 'reject' = 'auto';
  openError: GatewayError | null = null;

  handle(req: RawRequest): Promise<GatewayReply> {
    this.requests.push({ ...req, body: Buffer.from(req.body) });
    return this.reply(req);
  }

  async openSession(auth: AuthHeaders, target: string, opts: SessionOptions): Promise<GatewaySession | GatewayError> {
    this.opens.push({ auth, target, opts });
    if (this.openError !== null) return this.openError;
    if (!verifies(auth, target, new Uint8Array(0)))
      return { code: ErrorCode.UNAUTHENTICATED, reason: 'BAD_SIGNATURE', message: 'bad signature' };
    const s = new FakeSession(this.sessionMode);
    this.sessions.push(s);
    return s;
  }

  instrumentsCalls = 0;
  instruments: () => Promise<GatewayReply> = async () => ({ ok: true, body: { instruments: [] } });
  listInstruments(): Promise<GatewayReply> {
    this.instrumentsCalls++;
    return this.instruments();
  }

  reset(): void {
    this.requests.length = 0;
    this.opens.length = 0;
    this.sessions.length = 0;
    this.reply = async () => ({ ok: true, body: {} });
    this.sessionMode = 'auto';
    this.openError = null;
  }
}

// ---------------------------------------------------------------------------------------------

const core = new FakeCore();
let gw: GrpcGateway;
let port: number;
let address: string;
let client: OrderEntryGrpcClient;
const logLines: string[] = [];

beforeAll(async () => {
  gw = new GrpcGateway({
    core,
    host: '127.0.0.1',
    port: 0,
    log: linesLog((l) => logLines.push(l)),
    stopGraceMs: 2_000,
  });
  port = await within(gw.start(), 5_000, 'gateway start');
  address = `127.0.0.1:${port}`;
  client = new OrderEntryGrpcClient({ address, key: HMAC_KEY });
  await client.waitForReady(5_000);
});

afterAll(async () => {
  client?.close();
  await within(gw.stop(), 10_000, 'gateway stop');
});

beforeEach(() => core.reset());

// ---------------------------------------------------------------------------------------------

describe('unary', () => {
  const place = {
    client_order_id: 'c-1',
    symbol: 'BTC-USD',
    side: 'BUY',
    order_type: 'LIMIT',
    time_in_force: 'GTC',
    price: 4_960_000,
    quantity: 3,
    self_trade_prevention: 'EXPIRE_TAKER',
  };

  it('PlaceOrder: the core gets exactly the signed bytes; the reply round-trips', async () => {
    const body = { result: orderResult(12_345, [report()]) };
    core.reply = async (req) => {
      expect(verifies(req.auth, req.target, req.body)).toBe(true);
      return { ok: true, body };
    };
    const res = await within(client.placeOrder(place), 5_000, 'placeOrder');
    expect(res).toEqual(body);

    expect(core.requests).toHaveLength(1);
    const req = core.requests[0]!;
    expect(req.op).toBe('PlaceOrder');
    expect(req.encoding).toBe('protobuf');
    expect(req.target).toBe('/exchange.v1.OrderEntryService/PlaceOrder');
    expect(req.auth.apiKey).toBe(HMAC_KEY.key);
    expect(Buffer.from(req.body).equals(codec.encode('PlaceOrderRequest', place))).toBe(true);
    expect(codec.decode('PlaceOrderRequest', req.body)).toMatchObject(place);
  });

  it('the response on the wire carries the prefixed proto enum names', async () => {
    core.reply = async () => ({ ok: true, body: { result: orderResult(1, [report()]) } });
    const raw = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      const target = methodPath('PlaceOrder');
      const bytes = codec.encode('PlaceOrderRequest', place);
      const h = signRequest(HMAC_KEY, target, bytes);
      const md = new grpc.Metadata();
      md.set(HEADER_API_KEY, h.apiKey);
      md.set(HEADER_TIMESTAMP, h.timestamp);
      md.set(HEADER_SIGNATURE, h.signature);
      const wire = await within(
        new Promise<Buffer>((resolve, reject) =>
          raw.makeUnaryRequest(
            target,
            (b: Buffer) => b,
            (b: Buffer) => b,
            bytes,
            md,
            (err, v) => (err ? reject(err) : resolve(v!)),
          ),
        ),
        5_000,
        'raw PlaceOrder',
      );
      const T = codec.root.lookupType('exchange.v1.PlaceOrderResponse');
      const obj = T.toObject(T.decode(wire), { enums: String, longs: Number }) as {
        result: { reports: Record<string, unknown>[] };
      };
      expect(obj.result.reports[0]).toMatchObject({
        side: 'SIDE_BUY',
        order_type: 'ORDER_TYPE_LIMIT',
        exec_type: 'EXEC_TYPE_TRADE',
        order_status: 'ORDER_STATUS_PARTIALLY_FILLED',
        order_id: 3 * 2 ** 44 + 12_345,
      });
    } finally {
      raw.close();
    }
  });

  it('every method reaches the core with its op and target; Ed25519 signatures verify', async () => {
    const order: OrderOut = {
      order_id: 5,
      client_order_id: 'c-5',
      account: 7,
      symbol: 'ETH-USD',
      side: 'SELL',
      order_type: 'STOP_LIMIT',
      order_status: 'PENDING_TRIGGER',
      price: 100,
      stop_price: 90,
      order_qty: 10,
      cum_qty: 0,
      leaves_qty: 10,
      display_qty: 0,
      time_in_force: 'GTC',
      price_decimal: '1.00',
      stop_price_decimal: '0.90',
      order_qty_decimal: '0.010',
      cum_qty_decimal: '0.000',
      leaves_qty_decimal: '0.010',
      display_qty_decimal: '0.000',
    };
    core.reply = async (req) => {
      if (!verifies(req.auth, req.target, req.body))
        return {
          ok: false,
          error: { code: ErrorCode.UNAUTHENTICATED, reason: 'BAD_SIGNATURE', message: 'bad signature' },
        };
      switch (req.op) {
        case 'GetOrder':
          return { ok: true, body: { order } };
        case 'MassCancel':
          return { ok: true, body: { result: orderResult(9, []), canceled_count: 4 } };
        default:
          return {
            ok: true,
            body: {
              result: orderResult(8, [report({ exec_type: req.op === 'CancelOrder' ? 'CANCELED' : 'REPLACED' })]),
            },
          };
      }
    };
    const ed = new OrderEntryGrpcClient({ address, key: ED_KEY });
    try {
      for (const c of [client, ed]) {
        expect((await c.getOrder({ order_id: 5 })).order).toEqual(order);
        expect((await c.massCancel({ symbol: 'ETH-USD', side: 'SELL' })).canceled_count).toBe(4);
        expect((await c.cancelOrder({ order_id: 5 })).result.reports[0]!.exec_type).toBe('CANCELED');
        expect((await c.amendOrder({ order_id: 5, quantity: 8 })).result.reports[0]!.exec_type).toBe('REPLACED');
      }
    } finally {
      ed.close();
    }
    expect(core.requests.map((r) => `${r.op} ${r.target} ${r.auth.apiKey}`)).toEqual(
      [HMAC_KEY.key, ED_KEY.key].flatMap((k) =>
        ['GetOrder', 'MassCancel', 'CancelOrder', 'AmendOrder'].map(
          (m) => `${m} /exchange.v1.OrderEntryService/${m} ${k}`,
        ),
      ),
    );
    expect(codec.decode('MassCancelRequest', core.requests[1]!.body)).toEqual({ symbol: 'ETH-USD', side: 'SELL' });
  });

  it('an unset enum from the core ("") encodes as UNSPECIFIED', async () => {
    core.reply = async () => ({ ok: true, body: { order: { order_id: 1, side: 'BUY', time_in_force: '' } } });
    const res = await within(client.getOrder({ order_id: 1 }), 5_000, 'getOrder');
    expect(res.order).toMatchObject({
      order_id: 1,
      side: 'BUY',
      time_in_force: 'UNSPECIFIED',
      order_type: 'UNSPECIFIED',
    });
  });

  it('the client refuses unknown fields and enum names before sending', async () => {
    await expect(client.placeOrder({ ...place, ...({ clientOrderId: 'x' } as object) })).rejects.toThrow(
      /unknown field "clientOrderId"/,
    );
    await expect(client.placeOrder({ ...place, side: 'UP' })).rejects.toThrow(/unknown Side value "UP"/);
    expect(core.requests).toHaveLength(0);
  });

  it('each ErrorCode maps to its gRPC status, details and x-mb-error-code (and retry-after-ms)', async () => {
    core.reply = async (req) => {
      const code = codec.decode('GetOrderRequest', req.body).order_id as number;
      const ec = Object.values(ErrorCode)[code]!;
      const error: GatewayError = { code: ec, reason: 'INTERNAL', message: `because ${ec}` };
      if (ec === ErrorCode.RATE_LIMITED || ec === ErrorCode.OVERLOADED) error.retry_after_ms = 250;
      return { ok: false, error };
    };
    const codes = Object.values(ErrorCode);
    for (let i = 0; i < codes.length; i++) {
      const ec = codes[i]!;
      const err = await within(
        client.getOrder({ order_id: i }).then(
          () => null,
          (e: unknown) => e,
        ),
        5_000,
        ec,
      );
      expect(err, ec).toBeInstanceOf(OrderEntryError);
      const e = err as OrderEntryError;
      expect(e.code, ec).toBe(ERROR_STATUS[ec].grpc);
      expect(e.details, ec).toBe(`${ec}: because ${ec}`);
      expect(e.errorCode, ec).toBe(ec);
      expect(e.retryAfterMs, ec).toBe(ec === ErrorCode.RATE_LIMITED || ec === ErrorCode.OVERLOADED ? 250 : undefined);
      expect(e.reason, ec).toBe('INTERNAL');
      expect(e.metadata.get('x-mb-error-reason'), ec).toEqual(['INTERNAL']);
      expect(e.errorInfo?.code, ec).toBe(ec);
    }
    expect(core.requests).toHaveLength(codes.length);
  });

  it('a core that throws gives INTERNAL', async () => {
    core.reply = () => Promise.reject(new Error('boom'));
    await expect(within(client.getOrder({ order_id: 1 }), 5_000, 'getOrder')).rejects.toMatchObject({
      code: grpc.status.INTERNAL,
      errorCode: 'INTERNAL',
    });
  });
});

describe('deadlines', () => {
  it('DEADLINE_EXCEEDED when the core does not answer in time; a late answer is dropped', async () => {
    // The core answers only when the test says so (after the deadline), so the deadline always
    // passes first. The deadline is long enough for the request to reach the handler on a
    // loaded machine (client and server share this event loop); a short one could expire
    // before the handler runs and the call would never reach the core.
    const late = deferred<GatewayReply>();
    core.reply = () => late.promise;
    const err = await within(
      client.getOrder({ order_id: 1 }, { deadlineMs: 2_000 }).then(
        () => null,
        (e: unknown) => e,
      ),
      30_000,
      'getOrder',
    );
    expect(err).toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    expect(core.requests).toHaveLength(1); // it reached the core: it may have executed
    late.resolve({ ok: true, body: { order: { order_id: 1 } } });
    // The edge's own continuation on the core's promise was registered before this one: once
    // this await returns, the late answer has been handed to the (finished) call.
    await late.promise;
    core.reply = async () => ({ ok: true, body: { order: { order_id: 2 } } });
    expect((await within(client.getOrder({ order_id: 2 }), 5_000, 'getOrder after')).order.order_id).toBe(2);
  });

  it('the server itself ends the call at the deadline, with x-mb-error-code (no client-side timer)', async () => {
    core.reply = () => new Promise<GatewayReply>(() => {});
    const target = methodPath('GetOrder');
    const body = codec.encode('GetOrderRequest', { order_id: 1 });
    const h = signRequest(HMAC_KEY, target, body);
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    try {
      const req = session.request({
        ':method': 'POST',
        ':path': target,
        'content-type': 'application/grpc',
        te: 'trailers',
        // Long enough that the handler runs (and arms its timer) before the deadline even on a
        // loaded machine; the core never answers, so the deadline always ends the call.
        'grpc-timeout': '2S',
        [HEADER_API_KEY]: h.apiKey,
        [HEADER_TIMESTAMP]: h.timestamp,
        [HEADER_SIGNATURE]: h.signature,
      });
      const headers: Record<string, unknown> = {};
      const done = new Promise<void>((resolve) => {
        req.on('response', (hd) => Object.assign(headers, hd));
        req.on('trailers', (t) => Object.assign(headers, t));
        req.on('close', () => resolve());
        req.resume();
      });
      req.end(frame);
      await within(done, 30_000, 'raw call');
      expect(headers['grpc-status']).toBe(String(grpc.status.DEADLINE_EXCEEDED));
      expect(headers['x-mb-error-code']).toBe('DEADLINE_EXCEEDED');
    } finally {
      session.close();
    }
  });
});

describe('OrderSession', () => {
  it('authenticates at open with the metadata and options; replies come in order even when the core answers out of order', async () => {
    core.sessionMode = 'manual';
    const s = client.openSession({ cancelOnDisconnect: true, deadManMs: 5_000 });
    try {
      expect(await within(s.ready, 5_000, 'ready')).toEqual({ account: 7 });
      expect(core.opens).toHaveLength(1);
      const open = core.opens[0]!;
      // The signed target carries the client's per-open nonce (two opens in one ms are not a replay).
      expect(open.target).toMatch(/^\/exchange\.v1\.OrderEntryService\/OrderSession#[0-9a-f]{24}$/);
      expect(open.opts).toEqual({ cancelOnDisconnect: true, deadManMs: 5_000, cancelScope: 'ACCOUNT' });
      expect(verifies(open.auth, open.target, new Uint8Array(0))).toBe(true);

      const arrived: number[] = [];
      const sends = [1, 2, 3, 4, 5].map((id) =>
        s
          .send({
            request_id: id,
            commands: [
              {
                place: {
                  client_order_id: `o${id}`,
                  symbol: 'BTC-USD',
                  side: 'BUY',
                  order_type: 'LIMIT',
                  price: 1,
                  quantity: 3,
                },
              },
            ],
          })
          .then((r) => {
            arrived.push(r.request_id);
            return r;
          }),
      );
      const fake = core.sessions[0]!;
      await waitFor(() => fake.held.length === 5, '5 submitted');
      fake.release([4, 2, 3, 0, 1]);
      const replies = await within(Promise.all(sends), 5_000, 'replies');
      expect(arrived).toEqual([1, 2, 3, 4, 5]);
      expect(replies.map((r) => r.outcomes[0]!.result!.reports[0]!.client_order_id)).toEqual([
        'o1',
        'o2',
        'o3',
        'o4',
        'o5',
      ]);
    } finally {
      s.cancel();
    }
  });

  it('a batch of commands travels as one message and gets one outcome per command', async () => {
    const s = client.openSession();
    try {
      const resp = await within(
        s.send({
          request_id: 42,
          heartbeat: true,
          commands: [
            { place: { client_order_id: 'b1', symbol: 'BTC-USD', side: 'SELL', order_type: 'MARKET', quantity: 2 } },
            { cancel: { order_id: 17 } },
            { mass_cancel: { symbol: 'BTC-USD' } },
          ],
        }),
        5_000,
        'batch',
      );
      const fake = core.sessions[0]!;
      expect(fake.received).toHaveLength(1);
      expect(fake.received[0]).toMatchObject({
        request_id: 42,
        heartbeat: true,
        commands: [
          { place: { client_order_id: 'b1', side: 'SELL', order_type: 'MARKET', quantity: 2 } },
          { cancel: { order_id: 17 } },
          { mass_cancel: { symbol: 'BTC-USD' } },
        ],
      });
      expect(resp.request_id).toBe(42);
      expect(resp.error).toBeUndefined();
      expect(resp.outcomes).toHaveLength(3);
      expect(resp.outcomes[0]!.result!.reports[0]).toMatchObject({
        client_order_id: 'b1',
        exec_type: 'NEW',
        order_status: 'NEW',
      });
      expect(resp.outcomes[1]).toEqual({
        error: {
          code: 'NOT_FOUND',
          reason: 'ORDER_NOT_FOUND',
          message: 'no such order',
          retry_after_ms: 0,
          order_id: 5,
          seq: 0,
          field: '',
        },
      });
      expect(resp.outcomes[2]!.result).toEqual({ seq: 4202, log_index: 5202, shard: 3, reports: [] });
      // A heartbeat alone.
      expect(await within(s.send({ request_id: 43, heartbeat: true }), 5_000, 'heartbeat')).toEqual({
        request_id: 43,
        outcomes: [],
        reports: [],
      });
      await expect(
        s.send({ request_id: 44, commands: [{ cancel: { order_id: 1 }, mass_cancel: {} }] }),
      ).rejects.toThrow(/only one of/);
      // A whole-request error without a request id goes to the oldest pending request.
      const [bad, next] = await within(
        Promise.all([s.send({ request_id: 999, heartbeat: true }), s.send({ request_id: 1000, heartbeat: true })]),
        5_000,
        'bad',
      );
      expect(bad).toEqual({
        request_id: 0,
        outcomes: [],
        reports: [],
        error: {
          code: 'INVALID_ARGUMENT',
          reason: '',
          message: 'malformed request',
          retry_after_ms: 0,
          order_id: 0,
          seq: 0,
          field: '',
        },
      });
      expect(next.request_id).toBe(1000);
    } finally {
      s.cancel();
    }
  });

  it('an authentication failure ends the stream with UNAUTHENTICATED', async () => {
    const bad = new OrderEntryGrpcClient({ address, key: { key: HMAC_KEY.key, hmacSecret: 'wrong' } });
    try {
      const s = bad.openSession();
      const pending = s.send({ request_id: 1, heartbeat: true });
      const status = await within(s.closed, 5_000, 'closed');
      expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(status.details).toBe('UNAUTHENTICATED: bad signature');
      expect(status.metadata.get('x-mb-error-code')).toEqual(['UNAUTHENTICATED']);
      await expect(pending).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, errorCode: 'UNAUTHENTICATED' });
      await expect(s.ready).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      expect(core.sessions).toHaveLength(0);
    } finally {
      bad.close();
    }
  });

  it('the core refusing the session (e.g. OVERLOADED) gives its status and retry hint', async () => {
    core.openError = {
      code: ErrorCode.OVERLOADED,
      reason: 'SESSIONS_MAX',
      message: 'too many sessions',
      retry_after_ms: 1000,
    };
    const s = client.openSession();
    const status = await within(s.closed, 5_000, 'closed');
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.metadata.get('retry-after-ms')).toEqual(['1000']);
  });

  it('malformed session options are refused with INVALID_ARGUMENT without reaching the core', async () => {
    const s = client.openSession({ deadManMs: -1 });
    const status = await within(s.closed, 5_000, 'closed');
    expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(core.opens).toHaveLength(0);
  });

  it('client cancel closes the core session (pending replies are dropped)', async () => {
    core.sessionMode = 'manual';
    const s = client.openSession({ cancelOnDisconnect: true });
    await within(s.ready, 5_000, 'ready');
    const pending = s.send({ request_id: 1, heartbeat: true });
    const fake = core.sessions[0]!;
    await waitFor(() => fake.held.length === 1, 'submitted');
    s.cancel();
    await expect(within(pending, 5_000, 'pending')).rejects.toMatchObject({ code: grpc.status.CANCELLED });
    await waitFor(() => fake.closeCalls > 0, 'session.close()');
    fake.release(); // the core answers late: nothing breaks
    await sleep(20);
    expect(fake.closeCalls).toBe(1);
  });

  it('client half-close: the pending replies are delivered, then OK, then session.close()', async () => {
    core.sessionMode = 'manual';
    const s = client.openSession();
    await within(s.ready, 5_000, 'ready');
    const pending = [1, 2, 3].map((id) => s.send({ request_id: id, heartbeat: true }));
    const fake = core.sessions[0]!;
    await waitFor(() => fake.held.length === 3, 'submitted');
    const closing = s.close();
    await sleep(30);
    expect(fake.closeCalls).toBe(0);
    fake.release([2, 1, 0]);
    expect((await within(Promise.all(pending), 5_000, 'replies')).map((r) => r.request_id)).toEqual([1, 2, 3]);
    expect((await within(closing, 5_000, 'closed')).code).toBe(grpc.status.OK);
    await waitFor(() => fake.closeCalls === 1, 'session.close()');
  });

  it('a failing submit ends the stream with INTERNAL and closes the session', async () => {
    core.sessionMode = 'reject';
    const s = client.openSession();
    const p = s.send({ request_id: 1, heartbeat: true });
    await expect(within(p, 5_000, 'send')).rejects.toMatchObject({ code: grpc.status.INTERNAL });
    await waitFor(() => core.sessions[0]?.closeCalls === 1, 'session.close()');
  });

  it(`at most SESSION_INFLIGHT_MAX (${SESSION_INFLIGHT_MAX}) messages await replies; reading resumes as replies go out`, async () => {
    core.sessionMode = 'manual';
    const s = client.openSession();
    try {
      await within(s.ready, 5_000, 'ready');
      const N = SESSION_INFLIGHT_MAX + 600;
      const arrived: number[] = [];
      const sends = Array.from({ length: N }, (_, i) =>
        s.send({ request_id: 10_000 + i, heartbeat: true }).then((r) => void arrived.push(r.request_id)),
      );
      const fake = core.sessions[0]!;
      await waitFor(() => fake.received.length >= SESSION_INFLIGHT_MAX, `${SESSION_INFLIGHT_MAX} submitted`, 10_000);
      await sleep(200);
      expect(fake.received.length).toBe(SESSION_INFLIGHT_MAX);
      // Answer a few: still above half, so reading stays paused.
      const first = fake.held.splice(0, 100);
      for (const h of first) h.d.resolve(FakeSession.answer(h.request));
      await waitFor(() => arrived.length === 100, '100 replies');
      await sleep(100);
      expect(fake.received.length).toBe(SESSION_INFLIGHT_MAX);
      // Answer everything as it comes: all N get through, in order.
      const deadline = Date.now() + 20_000;
      while (arrived.length < N) {
        if (Date.now() > deadline) throw new Error(`only ${arrived.length}/${N} replies`);
        fake.release();
        await sleep(5);
      }
      await within(Promise.all(sends), 5_000, 'all sends');
      expect(arrived).toEqual(Array.from({ length: N }, (_, i) => 10_000 + i));
      expect(fake.received).toHaveLength(N);
    } finally {
      s.cancel();
    }
  });
});

describe('health and reflection', () => {
  it('grpc.health.v1 reports SERVING for "" and the service; setServing(false) flips it', async () => {
    const def = healthService as unknown as grpc.ServiceDefinition;
    const check = def.Check!;
    const hc = new grpc.Client(address, grpc.credentials.createInsecure());
    const ask = (service: string) =>
      within(
        new Promise<{ status: string }>((resolve, reject) =>
          hc.makeUnaryRequest(check.path, check.requestSerialize, check.responseDeserialize, { service }, (err, v) =>
            err ? reject(err) : resolve(v as { status: string }),
          ),
        ),
        5_000,
        `health ${service}`,
      );
    try {
      expect((await ask('')).status).toBe('SERVING');
      expect((await ask(SERVICE_NAME)).status).toBe('SERVING');
      gw.setServing(false);
      expect((await ask('')).status).toBe('NOT_SERVING');
      expect((await ask(SERVICE_NAME)).status).toBe('NOT_SERVING');
    } finally {
      gw.setServing(true);
      hc.close();
    }
  });

  it('server reflection lists the service', async () => {
    const require = createRequire(import.meta.url);
    const protoPath = path.join(
      path.dirname(require.resolve('@grpc/reflection')),
      '../proto/grpc/reflection/v1/reflection.proto',
    );
    const pkg = protoLoader.loadSync(protoPath, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const info = (pkg['grpc.reflection.v1.ServerReflection'] as grpc.ServiceDefinition).ServerReflectionInfo!;
    const rc = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      const call = rc.makeBidiStreamRequest(
        info.path,
        info.requestSerialize,
        info.responseDeserialize,
        new grpc.Metadata(),
      );
      const got = new Promise<string[]>((resolve, reject) => {
        call.on('data', (r: { list_services_response?: { service: { name: string }[] } }) =>
          resolve((r.list_services_response?.service ?? []).map((x) => x.name)),
        );
        call.on('error', reject);
      });
      call.write({ list_services: '' });
      const names = await within(got, 5_000, 'reflection');
      call.end();
      expect(names).toContain(SERVICE_NAME);
    } finally {
      rc.close();
    }
  });
});

describe('ListInstruments', () => {
  it('needs no auth; the core’s list, or its error as a status; undecodable bytes are INVALID_ARGUMENT without the core', async () => {
    const list = {
      instruments: [
        {
          symbol: 'BTC-USD',
          shard: 0,
          status: 'HALTED',
          tick_size: 5,
          lot_size: 10,
          min_quantity: 10,
          max_quantity: 1000,
          max_price: 100_000,
          price_decimals: 2,
          quantity_decimals: 3,
          reference_price: 50_000,
          price_band_ticks: 100,
          band_low_price: 49_500,
          band_high_price: 50_500,
          session_close_utc_us: 0,
        },
      ],
    };
    core.instruments = async () => ({ ok: true, body: list });
    const bare = new grpc.Client(address, grpc.credentials.createInsecure());
    const call = (body: Buffer) =>
      within(
        new Promise<Record<string, unknown>>((resolve, reject) =>
          bare.makeUnaryRequest(
            methodPath('ListInstruments'),
            (b: Buffer) => b,
            (b: Buffer) => codec.decode('ListInstrumentsResponse', b),
            body,
            (err, v) => (err ? reject(err) : resolve(v!)),
          ),
        ),
        5_000,
        'ListInstruments',
      );
    try {
      const calls = core.instrumentsCalls;
      expect(await call(Buffer.alloc(0))).toEqual(list); // no metadata at all
      expect((await client.listInstruments()).instruments).toEqual(list.instruments); // signed: ignored
      expect(core.instrumentsCalls).toBe(calls + 2);
      await expect(call(Buffer.from([0xff, 0xff, 0xff]))).rejects.toMatchObject({
        code: grpc.status.INVALID_ARGUMENT,
        details: expect.stringMatching(/^INVALID_ARGUMENT: /),
      });
      expect(core.instrumentsCalls).toBe(calls + 2);
      core.instruments = async () => ({
        ok: false,
        error: {
          code: ErrorCode.UNAVAILABLE,
          reason: 'NO_REPLICA_ANSWERED',
          message: 'no replica of shard 0 answered',
          retry_after_ms: 100,
        },
      });
      await expect(call(Buffer.alloc(0))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
      core.instruments = () => Promise.reject(new Error('boom'));
      await expect(call(Buffer.alloc(0))).rejects.toMatchObject({ code: grpc.status.INTERNAL });
    } finally {
      bare.close();
      core.instruments = async () => ({ ok: true, body: { instruments: [] } });
    }
  });
});

describe('stop', () => {
  it('stop(): open sessions get their pending replies, end with UNAVAILABLE and are closed', async () => {
    const core2 = new FakeCore();
    core2.sessionMode = 'manual';
    const gw2 = new GrpcGateway({ core: core2, host: '127.0.0.1', port: 0, stopGraceMs: 3_000 });
    const p2 = await within(gw2.start(), 5_000, 'start');
    const c2 = new OrderEntryGrpcClient({ address: `127.0.0.1:${p2}`, key: HMAC_KEY });
    try {
      const s = c2.openSession();
      await within(s.ready, 5_000, 'ready');
      const pending = s.send({ request_id: 1, heartbeat: true });
      const fake = core2.sessions[0]!;
      await waitFor(() => fake.held.length === 1, 'submitted');
      const stopping = gw2.stop();
      await sleep(20);
      fake.release();
      expect((await within(pending, 5_000, 'pending')).request_id).toBe(1);
      const status = await within(s.closed, 5_000, 'closed');
      expect(status.code).toBe(grpc.status.UNAVAILABLE);
      expect(status.metadata.get('x-mb-error-code')).toEqual(['UNAVAILABLE']);
      await within(stopping, 5_000, 'stop');
      expect(fake.closeCalls).toBe(1);
    } finally {
      c2.close();
      await within(gw2.stop(), 5_000, 'stop again');
    }
  });
});
