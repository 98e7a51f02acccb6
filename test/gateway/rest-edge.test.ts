// The REST edge (gateway/rest-server.ts) against a fake GatewayCore: routing, the RawRequest
// it builds (op, target, path id, exact body bytes, auth headers), the HTTP mapping of every
// error code, limits (body size, requests in progress), aborted requests, health.
// Loopback and port 0 only; every wait is bounded.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { RestGateway, type AdminRequest } from '../../gateway/rest-server.js';
import {
  HEADER_API_KEY,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  canonicalRequest,
  ed25519Verify,
  hmacVerify,
  signRequest,
} from '../../api/signing.js';
import { ERROR_STATUS, ErrorCode, type GatewayError } from '../../api/errors.js';
import type { GatewayCore, GatewayReply, GatewaySession, RawRequest } from '../../gateway/types.js';
import { NO_LOG } from '../../ops/log.js';

const HOST = '127.0.0.1';
const WAIT_MS = 5_000;
const HMAC_KEY = { key: 'k-hmac', hmacSecret: 'secret-of-k-hmac' };
const ED_KEYS = generateKeyPairSync('ed25519');
const ED_KEY = { key: 'k-ed', ed25519PrivateKey: ED_KEYS.privateKey };

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
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

async function waitFor(cond: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A core that records what it is handed, checks signatures like the real one would, and answers as told. */
class FakeCore implements GatewayCore {
  seen: RawRequest[] = [];
  respond: (req: RawRequest) => Promise<GatewayReply> = (req) => Promise.resolve(echo(req));

  handle(req: RawRequest): Promise<GatewayReply> {
    this.seen.push(req);
    return this.respond(req);
  }

  openSession(): Promise<GatewaySession | GatewayError> {
    return Promise.resolve({
      code: ErrorCode.UNAVAILABLE,
      reason: 'GATEWAY_STOPPING',
      message: 'no sessions in the fake',
    });
  }

  instruments: () => Promise<GatewayReply> = () => Promise.resolve({ ok: true, body: { instruments: [] } });
  listInstruments(): Promise<GatewayReply> {
    return this.instruments();
  }

  last(): RawRequest {
    const r = this.seen[this.seen.length - 1];
    if (r === undefined) throw new Error('the core saw no request');
    return r;
  }
}

function signatureValid(req: Pick<RawRequest, 'auth' | 'target' | 'body'>): boolean {
  const canonical = canonicalRequest(req.auth.timestamp, req.target, req.body);
  if (req.auth.apiKey === HMAC_KEY.key) return hmacVerify(HMAC_KEY.hmacSecret, canonical, req.auth.signature);
  if (req.auth.apiKey === ED_KEY.key) return ed25519Verify(ED_KEYS.publicKey, canonical, req.auth.signature);
  return false;
}

function echo(req: RawRequest): GatewayReply {
  if (!signatureValid(req))
    return { ok: false, error: { code: ErrorCode.UNAUTHENTICATED, reason: 'BAD_SIGNATURE', message: 'bad signature' } };
  return {
    ok: true,
    body: { op: req.op, target: req.target, path_order_id: req.pathOrderId ?? null, body_bytes: req.body.length },
  };
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with node:http on a fresh connection (lets a test choose chunked bodies and headers freely). */
function httpRequest(
  port: number,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; chunks?: Uint8Array[] } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port, method, path, headers: opts.headers, agent: false, timeout: WAIT_MS },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('http request timed out')));
    req.on('error', reject);
    for (const c of opts.chunks ?? []) req.write(c);
    req.end();
  });
}

function signedHeaders(target: string, body: Uint8Array, key: typeof HMAC_KEY = HMAC_KEY): Record<string, string> {
  const a = signRequest(key, target, body);
  return { [HEADER_API_KEY]: a.apiKey, [HEADER_TIMESTAMP]: a.timestamp, [HEADER_SIGNATURE]: a.signature };
}

/** Opens a connection and writes `text`; resolves once connected and written. */
function rawSocket(port: number, text: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, HOST, () => s.write(text, () => resolve(s)));
    s.setTimeout(WAIT_MS, () => s.destroy(new Error('socket timed out')));
    s.on('error', reject);
  });
}

/**
 * Everything the server sends on `s` until it closes the connection (FIN), parsed as one HTTP
 * response. Rejects if the connection is reset or stays open (the socket's idle timeout).
 */
function responseThenClose(s: net.Socket): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', reject);
    s.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) {
        reject(new Error(`no complete response before the close: ${JSON.stringify(text)}`));
        return;
      }
      const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine!);
      if (status === null) {
        reject(new Error(`not an HTTP response: ${JSON.stringify(text)}`));
        return;
      }
      const headers: http.IncomingHttpHeaders = {};
      for (const l of lines) {
        const colon = l.indexOf(':');
        headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
      }
      resolve({ status: Number(status[1]), headers, body: text.slice(split + 4) });
    });
  });
}

describe('REST edge', () => {
  const core = new FakeCore();
  const adminSeen: AdminRequest[] = [];
  let gw: RestGateway;
  let port: number;
  let base: string;
  let client: OrderEntryRestClient;

  beforeAll(async () => {
    gw = new RestGateway({
      core,
      host: HOST,
      port: 0,
      log: NO_LOG,
      admin: (req) => {
        adminSeen.push(req);
        return Promise.resolve(
          signatureValid(req)
            ? { ok: true, body: { op: req.op } }
            : {
                ok: false,
                error: { code: ErrorCode.UNAUTHENTICATED, reason: 'BAD_SIGNATURE', message: 'bad signature' },
              },
        );
      },
    });
    port = await gw.start();
    base = `http://${HOST}:${port}`;
    client = new OrderEntryRestClient({ baseUrl: base, key: HMAC_KEY, timeoutMs: WAIT_MS });
  });

  afterAll(async () => {
    await gw.stop();
  });

  afterEach(() => {
    core.respond = (req) => Promise.resolve(echo(req));
  });

  it('listens on the real port when asked for port 0', async () => {
    expect(port).toBeGreaterThan(0);
    const h = await client.health();
    expect(h.status).toBe(200);
    expect(h.body).toBe('ok');
  });

  it('answers /healthz without auth and without calling the core', async () => {
    const n = core.seen.length;
    const r = await httpRequest(port, 'GET', '/healthz');
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
    expect(core.seen.length).toBe(n);
  });

  it('POST /v1/orders → PlaceOrder with the exact body, target and auth; 201', async () => {
    const order = {
      client_order_id: 'c-1',
      symbol: 'BTC-USD',
      side: 'BUY',
      order_type: 'LIMIT',
      time_in_force: 'GTC',
      price: 5_000_000,
      quantity: 1,
    };
    const r = await client.placeOrder(order);
    expect(r.status).toBe(201);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.body).toEqual({
      op: 'PlaceOrder',
      target: 'POST /v1/orders',
      path_order_id: null,
      body_bytes: Buffer.byteLength(JSON.stringify(order)),
    });
    const seen = core.last();
    expect(seen.op).toBe('PlaceOrder');
    expect(seen.encoding).toBe('json');
    expect(seen.pathOrderId).toBeUndefined();
    expect(Buffer.from(seen.body).toString('utf8')).toBe(JSON.stringify(order));
    expect(seen.auth.apiKey).toBe(HMAC_KEY.key);
    expect(seen.auth.timestamp).toMatch(/^\d+$/);
    expect(signatureValid(seen)).toBe(true);
  });

  it('DELETE /v1/orders/:id → CancelOrder with pathOrderId and an empty body', async () => {
    const r = await client.cancelOrder(42);
    expect(r.status).toBe(200);
    const seen = core.last();
    expect(seen).toMatchObject({ op: 'CancelOrder', target: 'DELETE /v1/orders/42', pathOrderId: '42' });
    expect(seen.body.length).toBe(0);
    expect(signatureValid(seen)).toBe(true);
  });

  it('DELETE /v1/orders/:id with an optional body', async () => {
    const r = await client.request('DELETE', '/v1/orders/43', { symbol: 'BTC-USD' });
    expect(r.status).toBe(200);
    const seen = core.last();
    expect(seen).toMatchObject({ op: 'CancelOrder', target: 'DELETE /v1/orders/43', pathOrderId: '43' });
    expect(Buffer.from(seen.body).toString('utf8')).toBe('{"symbol":"BTC-USD"}');
    expect(signatureValid(seen)).toBe(true);
  });

  it('DELETE /v1/orders → CancelOrder by client order id (body, no path id)', async () => {
    const r = await client.cancelOrder({ client_order_id: 'c-9', symbol: 'BTC-USD' });
    expect(r.status).toBe(200);
    const seen = core.last();
    expect(seen).toMatchObject({ op: 'CancelOrder', target: 'DELETE /v1/orders' });
    expect(seen.pathOrderId).toBeUndefined();
    expect(JSON.parse(Buffer.from(seen.body).toString('utf8'))).toEqual({ client_order_id: 'c-9', symbol: 'BTC-USD' });
    expect(signatureValid(seen)).toBe(true);
  });

  it('PATCH /v1/orders → AmendOrder by orig client order id (body, no path id)', async () => {
    const r = await client.amendOrder(undefined, { orig_client_order_id: 'c-9', quantity: 3 });
    expect(r.status).toBe(200);
    const seen = core.last();
    expect(seen).toMatchObject({ op: 'AmendOrder', target: 'PATCH /v1/orders' });
    expect(seen.pathOrderId).toBeUndefined();
    expect(signatureValid(seen)).toBe(true);
  });

  it('PATCH /v1/orders/:id → AmendOrder', async () => {
    const r = await client.amendOrder(77, { price: 5_000_010 });
    expect(r.status).toBe(200);
    const seen = core.last();
    expect(seen).toMatchObject({ op: 'AmendOrder', target: 'PATCH /v1/orders/77', pathOrderId: '77' });
    expect(Buffer.from(seen.body).toString('utf8')).toBe('{"price":5000010}');
    expect(signatureValid(seen)).toBe(true);
  });

  it('POST /v1/orders/cancel-all → MassCancel (not an order id)', async () => {
    const r = await client.massCancel({ symbol: 'BTC-USD', side: 'SELL' });
    expect(r.status).toBe(200);
    const seen = core.last();
    expect(seen).toMatchObject({ op: 'MassCancel', target: 'POST /v1/orders/cancel-all' });
    expect(seen.pathOrderId).toBeUndefined();
    expect(signatureValid(seen)).toBe(true);
  });

  it('GET /v1/orders?client_order_id=… → GetOrder with the query; POST /v1/orders/cancel-all-after → CancelAllAfter', async () => {
    const r = await client.request('GET', '/v1/orders?client_order_id=a-1&symbol=BTC-USD');
    expect(r.status).toBe(200);
    const seen = core.last();
    expect(seen).toMatchObject({
      op: 'GetOrder',
      target: 'GET /v1/orders?client_order_id=a-1&symbol=BTC-USD',
      query: 'client_order_id=a-1&symbol=BTC-USD',
    });
    expect(seen.pathOrderId).toBeUndefined();
    expect(signatureValid(seen)).toBe(true);
    const after = await client.request('POST', '/v1/orders/cancel-all-after', { timeout_ms: 5000 });
    expect(after.status).toBe(200);
    expect(core.last()).toMatchObject({ op: 'CancelAllAfter', target: 'POST /v1/orders/cancel-all-after' });
    expect(signatureValid(core.last())).toBe(true);
  });

  it('GET /v1/orders/:id → GetOrder; the target keeps the query string and escapes exactly as sent', async () => {
    const r = await client.request('GET', '/v1/orders/12%33?verbose=1&x=%20');
    expect(r.status).toBe(200);
    const seen = core.last();
    expect(seen).toMatchObject({ op: 'GetOrder', target: 'GET /v1/orders/12%33?verbose=1&x=%20', pathOrderId: '123' });
    expect(seen.query, 'a path id: the query is not read').toBeUndefined();
    expect(signatureValid(seen)).toBe(true);
    // An empty query ("?" alone) is part of what was sent, hence of the target.
    // (fetch drops a lone "?", so this one goes through node:http.)
    const r2 = await httpRequest(port, 'GET', '/v1/orders/5?', {
      headers: signedHeaders('GET /v1/orders/5?', new Uint8Array(0)),
    });
    expect(r2.status).toBe(200);
    expect(core.last().target).toBe('GET /v1/orders/5?');
    expect(signatureValid(core.last())).toBe(true);
  });

  it('passes the body bytes through untouched (whitespace, unicode, invalid JSON)', async () => {
    for (const text of ['{ "symbol" :  "BTC-USD",\n"note":"é€😀" }', 'not json at all', '']) {
      const bytes = Buffer.from(text, 'utf8');
      const r = await client.request('POST', '/v1/orders', bytes);
      expect(r.status).toBe(201);
      expect(Buffer.from(core.last().body).equals(bytes)).toBe(true);
      expect(signatureValid(core.last())).toBe(true);
    }
  });

  it('copies every chunk of a large body (uWS reuses its buffer)', async () => {
    const a = randomBytes(60 * 1024);
    const b = randomBytes(60 * 1024);
    await client.request('POST', '/v1/orders', a);
    const first = core.last();
    await client.request('POST', '/v1/orders', b);
    const second = core.last();
    expect(Buffer.from(first.body).equals(a)).toBe(true);
    expect(Buffer.from(second.body).equals(b)).toBe(true);
    expect(signatureValid(first) && signatureValid(second)).toBe(true);
  });

  it('collects a chunked (Transfer-Encoding) body', async () => {
    const parts = [randomBytes(1000), randomBytes(5000), randomBytes(3)];
    const whole = Buffer.concat(parts);
    const r = await httpRequest(port, 'POST', '/v1/orders', {
      headers: { 'transfer-encoding': 'chunked', ...signedHeaders('POST /v1/orders', whole) },
      chunks: parts,
    });
    expect(r.status).toBe(201);
    expect(Buffer.from(core.last().body).equals(whole)).toBe(true);
    expect(signatureValid(core.last())).toBe(true);
  });

  it('signs and verifies with Ed25519 keys too', async () => {
    const ed = new OrderEntryRestClient({ baseUrl: base, key: ED_KEY, timeoutMs: WAIT_MS });
    const r = await ed.placeOrder({
      client_order_id: 'e-1',
      symbol: 'BTC-USD',
      side: 'SELL',
      order_type: 'LIMIT',
      price: 5_000_100,
      quantity: 1,
    });
    expect(r.status).toBe(201);
    expect(core.last().auth.apiKey).toBe(ED_KEY.key);
  });

  it('passes missing auth headers on as empty strings (the core answers UNAUTHENTICATED)', async () => {
    const r = await httpRequest(port, 'GET', '/v1/orders/1');
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toEqual({ code: 'UNAUTHENTICATED', reason: 'BAD_SIGNATURE', message: 'bad signature' });
    expect(core.last().auth).toEqual({ apiKey: '', timestamp: '', signature: '' });
  });

  it('a tampered body fails the signature check in the core', async () => {
    const body = Buffer.from('{"quantity":1}');
    const headers = signedHeaders('POST /v1/orders', body);
    const r = await httpRequest(port, 'POST', '/v1/orders', { headers, chunks: [Buffer.from('{"quantity":9}')] });
    expect(r.status).toBe(401);
  });

  it('maps every error code to its HTTP status and a {code, reason, message, order_id?, seq?, field?} body', async () => {
    core.respond = (req) => {
      const { code } = JSON.parse(Buffer.from(req.body).toString('utf8')) as { code: ErrorCode };
      const extra = code === ErrorCode.ORDER_REJECTED ? { order_id: 7, seq: 9 } : {};
      return Promise.resolve({ ok: false, error: { code, reason: 'INTERNAL', message: `because ${code}`, ...extra } });
    };
    for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
      const r = await client.placeOrder({ code });
      expect(r.status, code).toBe(ERROR_STATUS[code].http);
      const extra = code === ErrorCode.ORDER_REJECTED ? { order_id: 7, seq: 9 } : {};
      expect(r.body, code).toEqual({ code, reason: 'INTERNAL', message: `because ${code}`, ...extra });
      expect(r.headers['content-type']).toBe('application/json');
      if (r.status !== 429 && r.status !== 503) expect(r.headers['retry-after'], code).toBeUndefined();
    }
  });

  it('429 and 503 carry Retry-After in whole seconds, rounded up, at least 1', async () => {
    core.respond = (req) =>
      Promise.resolve({ ok: false, error: JSON.parse(Buffer.from(req.body).toString('utf8')) as GatewayError });
    const cases: [ErrorCode, number | undefined, string][] = [
      [ErrorCode.RATE_LIMITED, 1500, '2'],
      [ErrorCode.RATE_LIMITED, 1, '1'],
      [ErrorCode.RATE_LIMITED, 0, '1'],
      [ErrorCode.RATE_LIMITED, 3000, '3'],
      [ErrorCode.OVERLOADED, 100, '1'],
      [ErrorCode.OVERLOADED, undefined, '1'],
      [ErrorCode.UNAVAILABLE, 2001, '3'],
    ];
    for (const [code, ms, header] of cases) {
      const retry = ms === undefined ? {} : { retry_after_ms: ms };
      const r = await client.placeOrder({ code, reason: 'API_KEY_RATE', message: 'later', ...retry });
      expect(r.status).toBe(ERROR_STATUS[code].http);
      expect(r.headers['retry-after'], `${code} ${ms}`).toBe(header);
      expect(r.body).toEqual({ code, reason: 'API_KEY_RATE', message: 'later', ...retry });
    }
  });

  it('a core that throws or rejects gives 500 INTERNAL', async () => {
    core.respond = () => Promise.reject(new Error('boom'));
    const r1 = await client.getOrder(1);
    expect(r1.status).toBe(500);
    expect(r1.body).toEqual({ code: 'INTERNAL', reason: 'INTERNAL', message: 'internal error' });
    core.respond = () => {
      throw new Error('sync boom');
    };
    const r2 = await client.getOrder(1);
    expect(r2.status).toBe(500);
    // A reply JSON cannot write (a cycle) is INTERNAL; a bigint (a wide instrument's notional) is
    // not an error: it is written as its exact integer literal.
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    core.respond = () => Promise.resolve({ ok: true, body: cyclic });
    const r3 = await client.getOrder(1);
    expect(r3.status).toBe(500);
    core.respond = () => Promise.resolve({ ok: true, body: { n: 2n ** 64n - 1n } as Record<string, unknown> });
    const r4 = await client.getOrder(1);
    expect(r4.status).toBe(200);
    expect(r4.body).toEqual({ n: 18_446_744_073_709_551_615n });
  });

  it('404 for unknown routes, 405 with Allow for a wrong method on a known path', async () => {
    const n = core.seen.length;
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/v1/order'],
      ['GET', '/v1/orders/'],
      ['GET', '/v1/orders/1/fills'],
      ['POST', '/v1/admin/unknown'],
      ['GET', '/v2/orders'],
    ] as const) {
      const r = await httpRequest(port, method, path);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(JSON.parse(r.body).code).toBe('NOT_FOUND');
      expect(JSON.parse(r.body).reason).toBe('ROUTE_NOT_FOUND');
    }
    for (const [method, path, allow] of [
      ['PUT', '/v1/orders', 'GET, POST, DELETE, PATCH'],
      ['GET', '/v1/orders/cancel-all-after', 'POST'],
      ['PUT', '/v1/orders/1', 'GET, DELETE, PATCH'],
      ['POST', '/v1/orders/1', 'GET, DELETE, PATCH'],
      ['GET', '/v1/orders/cancel-all', 'POST'],
      ['DELETE', '/v1/orders/cancel-all', 'POST'],
      ['POST', '/healthz', 'GET'],
      ['GET', '/v1/admin/halt', 'POST'],
      ['POST', '/v1/time', 'GET'],
    ] as const) {
      const r = await httpRequest(port, method, path);
      expect(r.status, `${method} ${path}`).toBe(405);
      expect(r.headers.allow).toBe(allow);
      expect(JSON.parse(r.body).code).toBe('METHOD_NOT_ALLOWED');
      expect(JSON.parse(r.body).reason).toBe('METHOD_NOT_ALLOWED');
    }
    expect(core.seen.length).toBe(n);
  });

  it('hands the admin routes to the admin callback with their operation names', async () => {
    const n = core.seen.length;
    for (const [route, op] of [
      ['kill-switch', 'KillSwitch'],
      ['halt', 'Halt'],
      ['resume', 'Resume'],
      ['reference-price', 'SetReferencePrice'],
    ] as const) {
      const body = { symbol: 'BTC-USD', price: 5_000_000 };
      const r = await client.admin(route, body);
      expect(r.status, route).toBe(200);
      expect(r.body).toEqual({ op });
      const seen = adminSeen[adminSeen.length - 1]!;
      expect(seen).toMatchObject({ op, encoding: 'json', target: `POST /v1/admin/${route}` });
      expect(Buffer.from(seen.body).toString('utf8')).toBe(JSON.stringify(body));
      expect(seen.auth.apiKey).toBe(HMAC_KEY.key);
    }
    expect(core.seen.length).toBe(n);
  });

  it('survives clients that disconnect while the core works, and keeps serving', async () => {
    for (let i = 0; i < 5; i++) {
      const gate = deferred<GatewayReply>();
      core.respond = () => gate.promise;
      const n = core.seen.length;
      const s = await rawSocket(port, `GET /v1/orders/${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await waitFor(() => core.seen.length === n + 1, 'the core to get the request');
      s.destroy();
      await sleep(20);
      // Answer after the disconnect: ok, error, or a rejection.
      if (i % 3 === 0) gate.resolve({ ok: true, body: { late: true } });
      else if (i % 3 === 1)
        gate.resolve({
          ok: false,
          error: { code: ErrorCode.RATE_LIMITED, reason: 'API_KEY_RATE', message: 'late', retry_after_ms: 10 },
        });
      else gate.reject(new Error('late failure'));
      await sleep(5);
    }
    core.respond = (req) => Promise.resolve(echo(req));
    await waitFor(() => gw.inflightCount === 0, 'nothing in progress');
    const r = await client.getOrder(9);
    expect(r.status).toBe(200);
  });

  it('a client that disconnects mid-body never reaches the core', async () => {
    const n = core.seen.length;
    const s = await rawSocket(
      port,
      `POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(100)}`,
    );
    await waitFor(() => gw.inflightCount === 1, 'the request to be read');
    s.destroy();
    await waitFor(() => gw.inflightCount === 0, 'the aborted request to be released');
    expect(core.seen.length).toBe(n);
    expect((await client.getOrder(3)).status).toBe(200);
  });

  it('pipelining: answered in order when the answers are immediate; uWS closes the connection when a request comes while one is pending', async () => {
    // Immediate answers (health, 404): one connection, in order.
    const quick = await rawSocket(
      port,
      'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    let text = '';
    quick.on('data', (d: Buffer) => (text += d.toString('utf8')));
    await waitFor(() => (text.match(/HTTP\/1\.1 \d+/g) ?? []).length === 3, 'three responses');
    quick.destroy();
    expect(text.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 404', 'HTTP/1.1 200']);

    // A second request while the core still works on the first: uWS (20.30) closes the
    // connection and aborts the pending response. The late answer must not crash the server.
    const gate = deferred<GatewayReply>();
    core.respond = () => gate.promise;
    const n = core.seen.length;
    const s = await rawSocket(port, 'GET /v1/orders/1 HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => core.seen.length === n + 1, 'the core to get the request');
    let closed = false;
    s.on('close', () => (closed = true));
    s.write('GET /v1/orders/2 HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => closed, 'the server to close the connection');
    gate.resolve({ ok: true, body: { late: true } });
    core.respond = (req) => Promise.resolve(echo(req));
    await waitFor(() => gw.inflightCount === 0, 'nothing in progress');
    expect((await client.getOrder(5)).status).toBe(200);
  });
});

describe('REST edge limits', () => {
  const core = new FakeCore();
  const BODY_MAX = 1024;
  const INFLIGHT_MAX = 2;
  let gw: RestGateway;
  let port: number;
  let client: OrderEntryRestClient;

  beforeAll(async () => {
    gw = new RestGateway({ core, host: HOST, port: 0, log: NO_LOG, bodyBytesMax: BODY_MAX, inflightMax: INFLIGHT_MAX });
    port = await gw.start();
    client = new OrderEntryRestClient({ baseUrl: `http://${HOST}:${port}`, key: HMAC_KEY, timeoutMs: WAIT_MS });
  });

  afterAll(async () => {
    await gw.stop();
  });

  // The server refuses an over-long declared body on the headers alone and closes the
  // connection without reading the body. A client still sending that body then gets a reset,
  // and whether it reads the 413 before the reset is a race; so these requests send only the
  // headers (nothing unread is left on the server side) and read the 413 and then the close.
  it('413 for a body over the limit, on the declared length alone, without calling the core; exactly the limit passes', async () => {
    const n = core.seen.length;
    for (const declared of [BODY_MAX + 1, 1024 * 1024]) {
      const s = await rawSocket(
        port,
        `POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`,
      );
      try {
        const r = await responseThenClose(s);
        expect(r.status, `Content-Length ${declared}`).toBe(413);
        expect(r.headers['content-type']).toBe('application/json');
        expect(JSON.parse(r.body)).toEqual({
          code: 'PAYLOAD_TOO_LARGE',
          reason: 'REST_BODY_BYTES_MAX',
          message: `body over ${BODY_MAX} bytes`,
        });
      } finally {
        s.destroy();
      }
    }
    expect(core.seen.length).toBe(n);
    await waitFor(() => gw.inflightCount === 0, 'nothing in progress');
    const at = await client.request('POST', '/v1/orders', randomBytes(BODY_MAX));
    expect(at.status).toBe(201);
    expect(core.seen.length).toBe(n + 1);
  });

  it('413 for a chunked body that grows over the limit', async () => {
    const n = core.seen.length;
    // A chunk of exactly the limit, then the byte that goes over it — the last byte sent (no
    // chunk end, no terminator follow): the server can only decide once it has read everything,
    // so its close leaves nothing unread and the 413 arrives before a clean close.
    const s = await rawSocket(
      port,
      `POST /v1/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${BODY_MAX.toString(16)}\r\n${'x'.repeat(BODY_MAX)}\r\n1\r\ny`,
    );
    try {
      const r = await responseThenClose(s);
      expect(r.status).toBe(413);
      expect(JSON.parse(r.body).code).toBe('PAYLOAD_TOO_LARGE');
    } finally {
      s.destroy();
    }
    expect(core.seen.length).toBe(n);
    await waitFor(() => gw.inflightCount === 0, 'nothing in progress');
  });

  it('503 OVERLOADED with Retry-After 1 beyond the requests in progress bound', async () => {
    const gates = [deferred<GatewayReply>(), deferred<GatewayReply>()];
    let i = 0;
    core.respond = () => gates[i++]!.promise;
    const pending = [client.getOrder(1), client.getOrder(2)];
    await waitFor(() => gw.inflightCount === INFLIGHT_MAX, 'two requests at the core');
    const n = core.seen.length;
    const third = await client.getOrder(3);
    expect(third.status).toBe(503);
    expect(third.headers['retry-after']).toBe('1');
    expect((third.body as GatewayError).code).toBe('OVERLOADED');
    expect(core.seen.length).toBe(n);
    for (const g of gates) g.resolve({ ok: true, body: {} });
    expect((await Promise.all(pending)).map((r) => r.status)).toEqual([200, 200]);
    core.respond = (req) => Promise.resolve(echo(req));
    expect((await client.getOrder(4)).status).toBe(200);
    expect(gw.inflightCount).toBe(0);
  });

  it('GET /v1/instruments: no auth, the core’s list or error; counted in the requests in progress bound', async () => {
    const gate = deferred<GatewayReply>();
    const held = deferred<GatewayReply>();
    core.instruments = () => gate.promise;
    core.respond = () => held.promise;
    // OrderEntryRestClient.instruments() sends no auth headers.
    const listing = client.instruments();
    const order = client.getOrder(1);
    try {
      await waitFor(() => gw.inflightCount === INFLIGHT_MAX, 'an instruments request and an order at the core');
      const third = await client.instruments();
      expect(third.status).toBe(503);
      expect((third.body as GatewayError).code).toBe('OVERLOADED');
      gate.resolve({ ok: true, body: { instruments: [{ symbol: 'X' }] } });
      const r = await listing;
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ instruments: [{ symbol: 'X' }] });
    } finally {
      held.resolve({ ok: true, body: {} });
      core.respond = (req) => Promise.resolve(echo(req));
    }
    expect((await order).status).toBe(200);
    core.instruments = () =>
      Promise.resolve({
        ok: false,
        error: {
          code: ErrorCode.UNAVAILABLE,
          reason: 'NO_REPLICA_ANSWERED',
          message: 'no replica',
          retry_after_ms: 100,
        },
      });
    const down = await client.instruments();
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('1');
    expect(down.body).toEqual({
      code: 'UNAVAILABLE',
      reason: 'NO_REPLICA_ANSWERED',
      message: 'no replica',
      retry_after_ms: 100,
    });
    core.instruments = () => Promise.reject(new Error('boom'));
    expect((await client.instruments()).status).toBe(500);
    expect(gw.inflightCount).toBe(0);
    core.instruments = () => Promise.resolve({ ok: true, body: { instruments: [] } });
  });

  it('serves /readyz (503 when not ready) and /metrics from the given callbacks, without auth or the core', async () => {
    let ready = false;
    const other = new RestGateway({
      core,
      host: HOST,
      port: 0,
      log: NO_LOG,
      ready: () => Promise.resolve({ ready, shards: [{ shard: 0, leader: ready ? 1 : null }] }),
      metrics: () => Promise.resolve({ body: 'matchbook_test_total 1\n', contentType: 'text/plain; version=0.0.4' }),
    });
    const p = await other.start();
    try {
      const n = core.seen.length;
      const notReady = await httpRequest(p, 'GET', '/readyz');
      expect(notReady.status).toBe(503);
      expect(JSON.parse(notReady.body as string)).toEqual({ ready: false, shards: [{ shard: 0, leader: null }] });
      ready = true;
      expect((await httpRequest(p, 'GET', '/readyz')).status).toBe(200);
      const m = await httpRequest(p, 'GET', '/metrics');
      expect(m.status).toBe(200);
      expect(m.headers['content-type']).toBe('text/plain; version=0.0.4');
      expect(m.body).toBe('matchbook_test_total 1\n');
      expect((await httpRequest(p, 'POST', '/metrics')).status).toBe(405);
      expect(core.seen.length).toBe(n);
      // Without a metrics callback: 404.
      expect((await httpRequest(port, 'GET', '/metrics')).status).toBe(404);
    } finally {
      await other.stop();
    }
  });

  it('stop() closes the listener and the connections', async () => {
    const other = new RestGateway({ core, host: HOST, port: 0, log: NO_LOG });
    const p = await other.start();
    const c = new OrderEntryRestClient({ baseUrl: `http://${HOST}:${p}`, key: HMAC_KEY, timeoutMs: WAIT_MS });
    expect((await c.health()).status).toBe(200);
    const gate = deferred<GatewayReply>();
    core.respond = () => gate.promise;
    const pending = c.getOrder(1).then(
      (r) => r.status,
      () => 'failed',
    );
    await waitFor(() => other.inflightCount === 1, 'a request at the core');
    await other.stop();
    expect(await pending).toBe('failed');
    gate.resolve({ ok: true, body: {} }); // answering after stop must not touch the closed response
    await sleep(10);
    await expect(c.health()).rejects.toThrow();
    core.respond = (req) => Promise.resolve(echo(req));
  });
});
