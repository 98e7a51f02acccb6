// Errors and limits as an outside client sees them, over real sockets (one replica and the real
// gateway with its REST and gRPC servers, test/fuzz/harness.ts): a REST reject's body carries
// code, reason and message (and order_id / seq when the engine refused a sequenced command); a
// gRPC reject's grpc-status-details-bin decodes — with protobufjs from the shipped
// proto/google/rpc/*.proto, not with the project's own code — to a google.rpc.Status with
// ErrorInfo and, when rate limited, RetryInfo; the RateLimit-* headers count down and the bucket
// resets; GET /v1/time; an OrderSession request over the batch limit is answered with its own
// request_id (issue 18, bug 3: it was 0, the id of unsolicited reports).

import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { OrderEntryError, OrderEntryGrpcClient } from '../../gateway/client/grpc-client.js';
import { OrderEntryCodec, methodPath } from '../../gateway/grpc-server.js';
import { SESSION_BATCH_COMMANDS_MAX } from '../../gateway/limits.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../../api/signing.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';
import { KEY1, sleep, startInProcessExchange, type InProcessExchange } from '../fuzz/harness.js';

/** One token per 1,000 s: once the burst is spent, nothing refills during the test. */
const SLOW_KEY = { key: 'errors-slow-key', hmacSecret: 'errors-slow-secret' };
const SLOW_BURST = 3;
/** Refills fast (5 tokens/s): used to watch the bucket reset. */
const FAST_KEY = { key: 'errors-fast-key', hmacSecret: 'errors-fast-secret' };
const FAST_BURST = 4;
const OPEN_RISK = { maxOrderQty: 1_000_000, maxNotional: 1e15, maxOpenOrders: 100_000 };

let ex: InProcessExchange;
let rest: OrderEntryRestClient;
let grpcClient: OrderEntryGrpcClient;
let seq = 0;
const cid = (p: string) => `${p}-${++seq}`;

/** google.rpc.Status, ErrorInfo, RetryInfo from the shipped .proto files (protobufjs resolves google/protobuf/* itself). */
let rpc: { Status: protobuf.Type; ErrorInfo: protobuf.Type; RetryInfo: protobuf.Type };

beforeAll(async () => {
  ex = await startInProcessExchange({
    accounts: [
      { account: 3, apiKeys: [SLOW_KEY], risk: { ...OPEN_RISK, ratePerSec: 0.001, burst: SLOW_BURST } },
      { account: 4, apiKeys: [FAST_KEY], risk: { ...OPEN_RISK, ratePerSec: 5, burst: FAST_BURST } },
    ],
  });
  rest = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: KEY1 });
  grpcClient = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: KEY1 });
  const root = new protobuf.Root();
  root.loadSync(
    [
      path.join(REPO_ROOT, 'proto/google/rpc/status.proto'),
      path.join(REPO_ROOT, 'proto/google/rpc/error_details.proto'),
    ],
    { keepCase: true },
  );
  root.resolveAll();
  rpc = {
    Status: root.lookupType('google.rpc.Status'),
    ErrorInfo: root.lookupType('google.rpc.ErrorInfo'),
    RetryInfo: root.lookupType('google.rpc.RetryInfo'),
  };
}, 60_000);

afterAll(async () => {
  grpcClient?.close();
  await ex?.stop();
}, 60_000);

const limitBuy = (over: Record<string, unknown> = {}) => ({
  client_order_id: cid('b'),
  symbol: 'BTC-USD',
  side: 'BUY',
  order_type: 'LIMIT',
  time_in_force: 'GTC',
  price: 4_990_000,
  quantity: 10,
  ...over,
});

/** The google.rpc.Status of a failed call, decoded from its grpc-status-details-bin trailer with the shipped protos. */
function richStatus(e: OrderEntryError): {
  code: number;
  message: string;
  info: { reason: string; domain: string; metadata: Record<string, string> } | undefined;
  retryDelayMs: number | undefined;
} {
  const bin = e.metadata.get('grpc-status-details-bin')[0];
  expect(Buffer.isBuffer(bin)).toBe(true);
  const st = rpc.Status.toObject(rpc.Status.decode(bin as Buffer), { longs: Number, defaults: true }) as {
    code: number;
    message: string;
    details: { type_url: string; value: Uint8Array }[];
  };
  let info: { reason: string; domain: string; metadata: Record<string, string> } | undefined;
  let retryDelayMs: number | undefined;
  for (const d of st.details) {
    if (d.type_url === 'type.googleapis.com/google.rpc.ErrorInfo')
      info = rpc.ErrorInfo.toObject(rpc.ErrorInfo.decode(d.value), { defaults: true }) as typeof info;
    if (d.type_url === 'type.googleapis.com/google.rpc.RetryInfo') {
      const r = rpc.RetryInfo.toObject(rpc.RetryInfo.decode(d.value), { longs: Number, defaults: true }) as {
        retry_delay: { seconds: number; nanos: number };
      };
      retryDelayMs = r.retry_delay.seconds * 1000 + r.retry_delay.nanos / 1e6;
    }
  }
  return { code: st.code, message: st.message, info, retryDelayMs };
}

async function grpcError(p: Promise<unknown>): Promise<OrderEntryError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OrderEntryError);
  return e as OrderEntryError;
}

describe('REST error bodies', () => {
  it('a validation reject: {code, reason, message, field}, rate-limit headers, nothing changed', async () => {
    const before = await ex.book();
    const r = await rest.placeOrder(limitBuy({ symbol: 'ETH-USD', price: 300_003, quantity: 10 }));
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      code: 'INVALID_ARGUMENT',
      reason: 'PRICE_NOT_TICK_MULTIPLE',
      message: 'price must be a multiple of the tick size 5',
      field: 'price',
    });
    expect(Number(r.headers['ratelimit-limit'])).toBeGreaterThan(0);
    expect(r.headers['ratelimit-remaining']).toMatch(/^\d+$/);
    const missing = await rest.placeOrder({ client_order_id: cid('m'), symbol: 'BTC-USD', side: 'BUY' });
    expect(missing.body).toMatchObject({ code: 'INVALID_ARGUMENT', reason: 'FIELD_MISSING', field: 'order_type' });
    expect(await ex.book()).toEqual(before);
  });

  it('an engine reject after sequencing: ORDER_REJECTED with the engine reason, its seq and order_id', async () => {
    const id = cid('dup');
    const first = await rest.placeOrder(limitBuy({ client_order_id: id }));
    expect(first.status).toBe(201);
    const firstSeq = (first.body as { result: { seq: number } }).result.seq;
    const again = await rest.placeOrder(limitBuy({ client_order_id: id }));
    expect(again.status).toBe(409);
    const body = again.body as unknown as Record<string, unknown>;
    expect(body).toMatchObject({ code: 'ORDER_REJECTED', reason: 'DUPLICATE_CLIENT_ORDER_ID' });
    expect(body.seq).toBeGreaterThan(firstSeq);
    expect(body.order_id).toBe(body.seq); // one shard (shard 0): the order id is the command's seq
    // A cancel of an order that is not live: the engine's ORDER_NOT_FOUND, sequenced.
    const gone = await rest.cancelOrder(123_456_789);
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ code: 'NOT_FOUND', reason: 'ORDER_NOT_FOUND', order_id: 123_456_789 });
    expect((gone.body as { seq: number }).seq).toBeGreaterThan(body.seq as number);
  });

  it('authentication failures say which: unknown key, bad signature, timestamp outside the window', async () => {
    const send = async (headers: Record<string, string>) => {
      const res = await fetch(`${ex.restUrl}/v1/orders/1`, { headers });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const good = signRequest(KEY1, 'GET /v1/orders/1', new Uint8Array(0));
    const h = (a: { apiKey: string; timestamp: string; signature: string }) => ({
      [HEADER_API_KEY]: a.apiKey,
      [HEADER_TIMESTAMP]: a.timestamp,
      [HEADER_SIGNATURE]: a.signature,
    });
    expect(await send(h({ ...good, apiKey: 'nobody' }))).toMatchObject({
      status: 401,
      body: { code: 'UNAUTHENTICATED', reason: 'UNKNOWN_API_KEY' },
    });
    expect(await send(h({ ...good, signature: '0'.repeat(64) }))).toMatchObject({
      status: 401,
      body: { code: 'UNAUTHENTICATED', reason: 'BAD_SIGNATURE' },
    });
    expect(await send({})).toMatchObject({ status: 401, body: { reason: 'AUTH_HEADERS_MISSING' } });
    const old = signRequest(KEY1, 'GET /v1/orders/1', new Uint8Array(0), Date.now() - 60_000);
    expect(await send(h(old))).toMatchObject({
      status: 401,
      body: { code: 'STALE_REQUEST', reason: 'TIMESTAMP_OUTSIDE_WINDOW' },
    });
  });

  it('GET /v1/time: the server clock and the receive window, without auth', async () => {
    const before = Date.now();
    const res = await fetch(`${ex.restUrl}/v1/time`);
    const after = Date.now();
    expect(res.status).toBe(200);
    const t = (await res.json()) as { server_time_ms: number; receive_window_ms: number };
    expect(t.receive_window_ms).toBe(ex.config.receiveWindowMs);
    expect(t.server_time_ms).toBeGreaterThanOrEqual(before);
    expect(t.server_time_ms).toBeLessThanOrEqual(after);
  });
});

describe('rate-limit state', () => {
  it('RateLimit-* headers count down to 0, then 429 with Retry-After and the same headers', async () => {
    const slow = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: SLOW_KEY });
    const remaining: number[] = [];
    for (let i = 0; i < SLOW_BURST; i++) {
      const r = await slow.getOrder(1 + i); // any authenticated request takes a token
      expect(r.headers['ratelimit-limit']).toBe(String(SLOW_BURST));
      remaining.push(Number(r.headers['ratelimit-remaining']));
    }
    expect(remaining).toEqual([2, 1, 0]);
    expect((await slow.getOrder(98)).rateLimit).toMatchObject({ limit: SLOW_BURST, remaining: 0 });
    const limited = await slow.getOrder(99); // still refused: nothing refilled
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ code: 'RATE_LIMITED', reason: 'API_KEY_RATE' });
    expect(limited.headers['ratelimit-remaining']).toBe('0');
    // Empty at 0.001 tokens/s: full again in about 3,000 s.
    const resetS = Number(limited.headers['ratelimit-reset']);
    expect(resetS).toBeGreaterThan(2_900);
    expect(resetS).toBeLessThanOrEqual(SLOW_BURST * 1000);
    expect(Number(limited.headers['x-mb-ratelimit-reset-ms'])).toBeLessThanOrEqual(resetS * 1000);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(900);
  });

  it('the bucket resets: once drained, the headers show it full again after ratelimit-reset', async () => {
    const fast = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: FAST_KEY });
    let last = await fast.getOrder(1);
    for (let i = 0; i < 200 && last.status !== 429; i++) last = await fast.getOrder(1);
    expect(last.status).toBe(429);
    expect(Number(last.headers['ratelimit-reset'])).toBeGreaterThan(0);
    const deadline = Date.now() + 30_000;
    let r = last;
    do {
      await sleep(Math.max(100, Number(r.headers['x-mb-ratelimit-reset-ms'])));
      r = await fast.getOrder(1);
    } while (r.headers['ratelimit-remaining'] !== String(FAST_BURST - 1) && Date.now() < deadline);
    expect(r.headers['ratelimit-remaining']).toBe(String(FAST_BURST - 1)); // full before this request took one
  });
});

describe('gRPC rich errors', () => {
  it('a validation reject: google.rpc.Status with ErrorInfo (reason, domain, field); trailers kept', async () => {
    const e = await grpcError(grpcClient.placeOrder(limitBuy({ quantity: 0 }) as never));
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e.metadata.get('x-mb-error-code')).toEqual(['INVALID_ARGUMENT']);
    const st = richStatus(e);
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.message).toBe(e.details);
    expect(st.info).toEqual({
      reason: 'FIELD_MISSING',
      domain: 'matchbook.exchange',
      metadata: { code: 'INVALID_ARGUMENT', field: 'quantity' },
    });
    expect(st.retryDelayMs).toBeUndefined();
    expect(e.reason).toBe('FIELD_MISSING');
  });

  it('an engine reject carries order_id and seq in ErrorInfo.metadata', async () => {
    const e = await grpcError(grpcClient.cancelOrder({ order_id: 987_654_321 }));
    expect(e.code).toBe(grpc.status.NOT_FOUND);
    const st = richStatus(e);
    expect(st.info?.reason).toBe('ORDER_NOT_FOUND');
    expect(st.info?.metadata.order_id).toBe('987654321');
    expect(Number(st.info?.metadata.seq)).toBeGreaterThan(0);
  });

  it('RATE_LIMITED: ErrorInfo API_KEY_RATE and RetryInfo with the delay; success replies carry the rate-limit trailers', async () => {
    const SLOW2 = { key: 'errors-slow-key', hmacSecret: 'errors-slow-secret' };
    const slow = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: SLOW2 });
    try {
      // The REST test above spent this key's burst; a raw call first shows the trailers of a success elsewhere.
      const e = await grpcError(slow.getOrder({ order_id: 1 }));
      expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      const st = richStatus(e);
      expect(st.info?.reason).toBe('API_KEY_RATE');
      expect(st.info?.metadata.code).toBe('RATE_LIMITED');
      expect(st.retryDelayMs).toBeGreaterThan(900_000);
      expect(String(e.metadata.get('retry-after-ms')[0])).toBe(st.info?.metadata.retry_after_ms);
      expect(e.metadata.get('ratelimit-remaining')).toEqual(['0']);
      expect(e.rateLimit?.limit).toBe(SLOW_BURST);
    } finally {
      slow.close();
    }
    // A successful unary call: its trailing metadata holds the RateLimit-* keys.
    const codec = OrderEntryCodec.get();
    const body = codec.encode('MassCancelRequest', {});
    const target = methodPath('MassCancel');
    const auth = signRequest(KEY1, target, body);
    const md = new grpc.Metadata();
    md.set(HEADER_API_KEY, auth.apiKey);
    md.set(HEADER_TIMESTAMP, auth.timestamp);
    md.set(HEADER_SIGNATURE, auth.signature);
    const raw = new grpc.Client(ex.grpcAddress, grpc.credentials.createInsecure());
    try {
      const trailers = await new Promise<grpc.Metadata>((resolve, reject) => {
        const call = raw.makeUnaryRequest(
          target,
          (b: Buffer) => b,
          (b: Buffer) => b,
          body,
          md,
          (err) => {
            if (err) reject(err);
          },
        );
        call.on('status', (s: grpc.StatusObject) => resolve(s.metadata));
      });
      expect(Number(String(trailers.get('ratelimit-limit')[0]))).toBeGreaterThan(0);
      expect(String(trailers.get('ratelimit-remaining')[0])).toMatch(/^\d+$/);
      expect(String(trailers.get('x-mb-ratelimit-reset-ms')[0])).toMatch(/^\d+$/);
    } finally {
      raw.close();
    }
  });
});

describe('OrderSession', () => {
  it('a request over the batch limit is refused with its own request_id (not 0, the unsolicited reports id)', async () => {
    const s = grpcClient.openSession();
    try {
      await s.ready;
      const commands = Array.from({ length: SESSION_BATCH_COMMANDS_MAX + 1 }, () => ({
        mass_cancel: { symbol: 'BTC-USD' },
      }));
      const over = await s.send({ request_id: 77, commands });
      expect(over.request_id).toBe(77);
      expect(over.outcomes).toEqual([]);
      expect(over.error).toMatchObject({
        code: 'INVALID_ARGUMENT',
        reason: 'SESSION_BATCH_COMMANDS_MAX',
        field: 'commands',
      });
      // The session goes on: the next request is answered under its own id.
      const next = await s.send({ request_id: 78, commands: [{ mass_cancel: { symbol: 'BTC-USD' } }] });
      expect(next.request_id).toBe(78);
      expect(next.outcomes).toHaveLength(1);
      // An engine reject inside a batch: the outcome's error has the engine reason and the seq.
      const reject = await s.send({ request_id: 79, commands: [{ cancel: { order_id: 55_555_555 } }] });
      expect(reject.outcomes[0]?.error).toMatchObject({ code: 'NOT_FOUND', reason: 'ORDER_NOT_FOUND' });
      expect(reject.outcomes[0]?.error?.seq).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });
});
