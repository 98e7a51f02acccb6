// Fuzz of the REST order-entry edge (gateway/rest-server.ts → Gateway) over real sockets, each
// request hand-written on its own TCP connection (so paths, methods and header bytes go out
// exactly as generated): signed bodies that are mutated valid orders (wrong types, extreme
// numbers, unicode, unknown fields, integers written with a fraction, an exponent or a sign),
// byte-mutated JSON, random JSON, invalid UTF-8, deep nesting and oversize bodies; random methods and paths (order ids that do not exist, or are
// another account's); garbage auth headers; and raw garbage / mutated HTTP request bytes.
//
// After every batch: each answer had the documented shape (a status of the table in
// gateway/README.md with a matching {code, reason, message} body — reason one of docs/errors.md — never 500); if every answer was a
// refusal before sequencing, the replica's applied index and state hash did not move; account
// 2's resting orders (the bystander: the fuzz signs as account 1) are untouched; a well-formed
// place + cancel still works; heapUsed does not keep growing.
//
// Reproduce a failure: FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/fuzz/rest.fuzz.test.ts
// (seed and path are printed by fast-check); FUZZ_RUNS_SCALE=10 for a longer run.

import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../../api/signing.js';
import { ALL_REASONS, ERROR_STATUS, ErrorCode } from '../../api/errors.js';
import {
  HeapWatch,
  KEY1,
  KEY2,
  fcParams,
  mutationsArb,
  mutate,
  nastyJsonValue,
  startInProcessExchange,
  type InProcessExchange,
} from './harness.js';

let ex: InProcessExchange;
let rest1: OrderEntryRestClient;
let rest2: OrderEntryRestClient;
/** Account 2's resting ETH-USD orders: the fuzz (account 1, BTC-USD) must never touch them. */
const victimIds: number[] = [];
let victimOrders = '';
const heap = new HeapWatch();
let seq = 0;

const BODY_MAX = 64 * 1024;

beforeAll(async () => {
  ex = await startInProcessExchange();
  rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: KEY1 });
  rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: KEY2 });
  for (const price of [299_000, 298_000, 301_000]) {
    const r = await rest2.placeOrder({
      client_order_id: `victim-${price}`,
      symbol: 'ETH-USD',
      side: price < 300_000 ? 'BUY' : 'SELL',
      order_type: 'LIMIT',
      time_in_force: 'GTC',
      price,
      quantity: 50,
    });
    expect(r.status).toBe(201);
    victimIds.push((r.body as { result: { reports: { order_id: number }[] } }).result.reports[0]!.order_id);
  }
  victimOrders = await ordersOf(2);
}, 30_000);

afterAll(async () => {
  await ex?.stop();
});

async function ordersOf(account: number): Promise<string> {
  const b = await ex.book();
  return JSON.stringify(b.orders.filter((o) => o.account === account));
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 exchange on its own connection

interface HttpAnswer {
  kind: 'answer';
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}
type HttpOutcome = HttpAnswer | { kind: 'closed'; bytes: number } | { kind: 'timeout' };

function httpRaw(bytes: Uint8Array, timeoutMs = 3_000, headRequest = false): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port: ex.restPort });
    let buf = Buffer.alloc(0);
    let finished = false;
    const finish = (o: HttpOutcome) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      s.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    s.on('error', () => undefined);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '');
      if (m === null) return finish({ kind: 'closed', bytes: buf.length });
      const headers = new Map<string, string>();
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
      }
      const len = headRequest ? 0 : Number(headers.get('content-length') ?? '0');
      if (buf.length - end - 4 < len) return;
      finish({ kind: 'answer', status: Number(m[1]), headers, body: buf.subarray(end + 4, end + 4 + len) });
    });
    s.on('close', () => finish({ kind: 'closed', bytes: buf.length }));
  });
}

function requestBytes(method: string, target: string, headers: [string, string][], body: Uint8Array): Uint8Array {
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', ...headers.map(([k, v]) => `${k}: ${v}`)];
  if (body.byteLength > 0 || method === 'POST' || method === 'PATCH') lines.push(`Content-Length: ${body.byteLength}`);
  return new Uint8Array(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]));
}

function signedHeaders(method: string, path: string, body: Uint8Array, key = KEY1): [string, string][] {
  const a = signRequest(key, `${method} ${path}`, body);
  return [
    ['Content-Type', 'application/json'],
    [HEADER_API_KEY, a.apiKey],
    [HEADER_TIMESTAMP, a.timestamp],
    [HEADER_SIGNATURE, a.signature],
  ];
}

// ---------------------------------------------------------------------------------------------
// What an answer may be

/** Codes refused before a command is sequenced: such a request changes nothing anywhere. */
const PRE_SEQUENCING = new Set<string>([
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.UNAUTHENTICATED,
  ErrorCode.STALE_REQUEST,
  ErrorCode.REPLAYED_REQUEST,
  ErrorCode.PERMISSION_DENIED,
  ErrorCode.RISK_MAX_QTY,
  ErrorCode.RISK_MAX_NOTIONAL,
  ErrorCode.RISK_MAX_OPEN_ORDERS,
  ErrorCode.RISK_PRICE_BAND,
  ErrorCode.ACCOUNT_BLOCKED,
  ErrorCode.RATE_LIMITED,
  ErrorCode.OVERLOADED,
  'PAYLOAD_TOO_LARGE',
  'METHOD_NOT_ALLOWED',
]);
/** The edge's own codes (not in ERROR_STATUS). */

interface Verdict {
  /** The request may have reached the shard (a success, an engine refusal, or a NOT_FOUND that may be the engine's). */
  mayHaveSequenced: boolean;
}

/** Checks one answer against the documented shapes; returns whether it may have changed state. */
function checkAnswer(what: string, o: HttpOutcome, opts: { allowClose?: boolean } = {}): Verdict {
  if (o.kind !== 'answer') {
    // Only the edge's 413 closes, and it answers first; a request is never left hanging.
    expect(opts.allowClose === true && o.kind === 'closed', `${what}: ${o.kind}`).toBe(true);
    return { mayHaveSequenced: false };
  }
  expect(o.status, `${what}: status`).not.toBe(500);
  expect(o.headers.get('content-type'), what).toBe('application/json');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(o.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new Error(
      `${what}: ${o.status} with a body that is not JSON: ${JSON.stringify(o.body.toString('latin1').slice(0, 200))} headers ${JSON.stringify([...o.headers])}`,
    );
  }
  if (o.status === 200 || o.status === 201) {
    expect('result' in body || 'order' in body, `${what}: success body ${o.body.toString().slice(0, 200)}`).toBe(true);
    return { mayHaveSequenced: true };
  }
  expect(typeof body.code, what).toBe('string');
  expect(typeof body.message, what).toBe('string');
  expect(ALL_REASONS.has(body.reason as string), `${what}: reason ${String(body.reason)}`).toBe(true);
  const code = body.code as string;
  // The edge's own 404/405/413 are ErrorCodes too (NOT_FOUND, METHOD_NOT_ALLOWED, PAYLOAD_TOO_LARGE).
  const expected = (ERROR_STATUS as Record<string, { http: number } | undefined>)[code]?.http;
  expect(expected, `${what}: unknown code ${code}`).toBeDefined();
  expect(o.status, `${what}: status of ${code}`).toBe(expected);
  expect(code, what).not.toBe(ErrorCode.INTERNAL);
  if (o.status === 429 || o.status === 503)
    expect(Number(o.headers.get('retry-after')), what).toBeGreaterThanOrEqual(1);
  return { mayHaveSequenced: !PRE_SEQUENCING.has(code) };
}

/** After a batch: the bystander's orders, a well-formed round trip, and (if nothing could have been sequenced) the state. */
async function afterBatch(before: { applied: number; stateHash: string }, mayHaveSequenced: boolean): Promise<void> {
  const now = await ex.book();
  if (!mayHaveSequenced) {
    expect(now.applied, 'applied index after refusals only').toBe(before.applied);
    expect(now.stateHash, 'state hash after refusals only').toBe(before.stateHash);
  }
  expect(await ordersOf(2), "account 2's orders").toBe(victimOrders);
  const placed = await rest1.placeOrder({
    client_order_id: `ok-${++seq}`,
    symbol: 'BTC-USD',
    side: 'BUY',
    order_type: 'LIMIT',
    time_in_force: 'GTC',
    price: 4_900_000,
    quantity: 1,
  });
  expect(placed.status, JSON.stringify(placed.body)).toBe(201);
  const id = (placed.body as { result: { reports: { order_id: number }[] } }).result.reports[0]!.order_id;
  expect((await rest1.cancelOrder(id)).status).toBe(200);
  // Keep the book small: whatever valid orders the fuzz placed go.
  expect((await rest1.massCancel({})).status).toBe(200);
  expect(ex.fatal).toEqual([]);
  heap.sample();
}

// ---------------------------------------------------------------------------------------------
// Inputs

const VALID_ORDER = {
  client_order_id: 'fz-1',
  symbol: 'BTC-USD',
  side: 'BUY',
  order_type: 'LIMIT',
  time_in_force: 'GTC',
  price: 4_950_000,
  quantity: 2,
};
const ORDER_FIELDS = [
  ...Object.keys(VALID_ORDER),
  'stop_price',
  'expire_time_us',
  'post_only',
  'display_quantity',
  'self_trade_prevention',
];

/** A valid order with fields replaced by nasty values, removed, or unknown ones added. */
const mutatedOrderArb = fc
  .record({
    replace: fc.array(fc.tuple(fc.constantFrom(...ORDER_FIELDS), nastyJsonValue), { maxLength: 3 }),
    remove: fc.array(fc.constantFrom(...Object.keys(VALID_ORDER)), { maxLength: 2 }),
    extra: fc.option(fc.tuple(fc.string({ maxLength: 12 }), nastyJsonValue), { nil: undefined }),
  })
  .map(({ replace, remove, extra }) => {
    const o: Record<string, unknown> = { ...VALID_ORDER };
    for (const [k, v] of replace) o[k] = v;
    for (const k of remove) delete o[k];
    if (extra !== undefined) o[extra[0]] = extra[1];
    return Buffer.from(JSON.stringify(o));
  });

const validBody = Buffer.from(JSON.stringify(VALID_ORDER));

/**
 * A valid order whose integer field is written with a fraction, an exponent or a sign — the
 * same value once JSON.parse has read it, but not an integer as written: always refused.
 */
const inexactLiteralArb = fc
  .tuple(fc.constantFrom('price', 'quantity'), fc.constantFrom('.0', '.000', 'e0', 'E0', '.0e0', 'e+0', 'neg'))
  .map(([field, form]) => {
    const v = VALID_ORDER[field as 'price' | 'quantity'];
    const literal = form === 'neg' ? '-0' : `${v}${form}`;
    const text = JSON.stringify({ ...VALID_ORDER, [field]: 0 }).replace(`"${field}":0`, `"${field}":${literal}`);
    return bodyCase('integer written inexactly', Buffer.from(text));
  });
/** An integer field whose number, as written, has a fraction, an exponent or a sign: never accepted. */
const INEXACT_INTEGER_RE = /"(price|stop_price|quantity|expire_time_us|display_quantity|order_id)"\s*:\s*(-|\d+[.eE])/;

type BodyCase = { what: string; body: Uint8Array };
/** Printed by fast-check as its name and first bytes (some bodies are 64 KiB). */
function bodyCase(what: string, body: Uint8Array): BodyCase {
  return {
    what,
    body,
    [fc.toStringMethod]: () =>
      `${what}: ${JSON.stringify(Buffer.from(body.subarray(0, 100)).toString('latin1'))}${body.byteLength > 100 ? `… (${body.byteLength} bytes)` : ''}`,
  } as BodyCase;
}
const bodyArb: fc.Arbitrary<BodyCase> = fc.oneof(
  { weight: 4, arbitrary: mutatedOrderArb.map((body) => bodyCase('mutated order', body)) },
  { weight: 3, arbitrary: mutationsArb.map((ms) => bodyCase('byte-mutated JSON', mutate(validBody, ms))) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }).map((j) => bodyCase('random JSON', Buffer.from(j))) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => bodyCase('random bytes', b)) },
  { weight: 1, arbitrary: inexactLiteralArb },
  {
    weight: 1,
    arbitrary: fc.constantFrom<BodyCase>(
      bodyCase('deep array', Buffer.from(`${'['.repeat(30_000)}${']'.repeat(30_000)}`)),
      bodyCase('deep object', Buffer.from(`${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`)),
      bodyCase(
        'huge repeated field',
        Buffer.from(JSON.stringify({ ...VALID_ORDER, client_order_id: Array.from({ length: 8000 }, () => 'x') })),
      ),
      bodyCase(
        'exactly the limit',
        Buffer.from(JSON.stringify({ ...VALID_ORDER, pad: 'x'.repeat(BODY_MAX - 200) })).subarray(0, BODY_MAX),
      ),
      bodyCase('number with 60k digits', Buffer.from(`{"quantity":${'9'.repeat(60_000)}}`)),
      bodyCase('BOM + JSON', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), validBody])),
      bodyCase('UTF-16 JSON', Buffer.from(JSON.stringify(VALID_ORDER), 'utf16le')),
      bodyCase('duplicate keys', Buffer.from('{"quantity":2,"quantity":"x","symbol":"BTC-USD"}')),
      bodyCase('__proto__ key', Buffer.from('{"__proto__":{"quantity":5},"constructor":{"prototype":{"x":1}}}')),
    ),
  },
);

const nastySegment = fc.oneof(
  fc.constantFrom(
    '0',
    '-1',
    '1.5',
    '1e3',
    '9'.repeat(30),
    String(2 ** 53),
    String(2 ** 53 - 1),
    String(2 ** 44 * 7 + 5),
    '999999',
    '%zz',
    '%00',
    '%2F',
    '..',
    '%E2%82%AC',
    'cancel-all',
    '',
  ),
  fc.nat().map(String),
  fc.stringMatching(/^[A-Za-z0-9%._~-]{1,40}$/),
);

const STANDARD_METHODS = new Set(['GET', 'POST', 'DELETE', 'PATCH', 'PUT', 'HEAD', 'OPTIONS']);
type RouteCase = { method: string; path: string; body: Uint8Array; victim: boolean };
const routeArb: fc.Arbitrary<RouteCase> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH', 'PUT', 'HEAD', 'OPTIONS', 'get', 'TRACE', 'X'),
    shape: fc.constantFrom(
      '/v1/orders/',
      '/v1/orders',
      '/v1/orders/cancel-all',
      '/v1/admin/',
      '/v1/',
      '/',
      '/healthz/',
      '/v1/orders//',
    ),
    segment: fc.oneof({ weight: 2, arbitrary: nastySegment }, { weight: 1, arbitrary: fc.constant('VICTIM') }),
    query: fc.option(fc.stringMatching(/^[A-Za-z0-9=&%]{0,20}$/), { nil: undefined }),
    body: fc.oneof(
      fc.constant(new Uint8Array(0)),
      mutatedOrderArb,
      fc.json({ maxDepth: 2 }).map((j) => Buffer.from(j)),
    ),
    victimPick: fc.nat(),
  })
  .map((r) => {
    const victim = r.segment === 'VICTIM';
    const segment = victim ? String(victimIds[r.victimPick % victimIds.length]) : r.segment;
    const path = `${r.shape}${r.shape.endsWith('/') ? segment : ''}${r.query !== undefined ? `?${r.query}` : ''}`;
    return {
      method: r.method,
      path,
      body: r.method === 'GET' || r.method === 'HEAD' ? new Uint8Array(0) : r.body,
      victim,
    };
  });

/** Auth headers with nasty values (printable ASCII: what an HTTP header can carry without uWS refusing the request line). */
const asciiNasty = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '0',
    '-1',
    '1e12',
    '99999999999999999999',
    String(Date.now()),
    'ff'.repeat(32),
    'GG'.repeat(32),
    'fuzz-key-1',
    'fuzz-key-2',
    'fuzz-admin',
  ),
  fc.stringMatching(/^[\x21-\x7e]{0,80}$/),
);
const authArb = fc.record({
  apiKey: fc.option(asciiNasty, { nil: undefined }),
  timestamp: fc.option(asciiNasty, { nil: undefined }),
  signature: fc.option(asciiNasty, { nil: undefined }),
  staleMs: fc.option(fc.integer({ min: -10_000_000, max: 10_000_000 }), { nil: undefined }),
});

// ---------------------------------------------------------------------------------------------

describe('REST fuzz', () => {
  it('signed request bodies: mutated orders, mutated bytes, random JSON and bytes, deep and oversize bodies', async () => {
    heap.sample();
    await fc.assert(
      fc.asyncProperty(fc.array(bodyArb, { minLength: 10, maxLength: 25 }), async (batch) => {
        const before = await ex.book();
        const outcomes = await Promise.all(
          batch.map((c) =>
            httpRaw(requestBytes('POST', '/v1/orders', signedHeaders('POST', '/v1/orders', c.body), c.body)),
          ),
        );
        let sequenced = false;
        outcomes.forEach((o, k) => {
          const c = batch[k]!;
          const v = checkAnswer(`${c.what} ${Buffer.from(c.body.subarray(0, 120)).toString('latin1')}`, o);
          if (c.body.byteLength > BODY_MAX) expect(o.kind === 'answer' && o.status, c.what).toBe(413);
          if (INEXACT_INTEGER_RE.test(Buffer.from(c.body).toString('latin1')))
            expect(o.kind === 'answer' && o.status < 300, `${c.what}: accepted`).toBe(false);
          sequenced ||= v.mayHaveSequenced;
        });
        await afterBatch(before, sequenced);
      }),
      fcParams(16),
    );
  });

  it('oversize bodies (Content-Length, chunked) are refused 413 without reaching the core', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: BODY_MAX + 1, max: 4 * BODY_MAX }), fc.boolean(), async (size, chunked) => {
        const before = await ex.book();
        const body = Buffer.alloc(size, 0x20);
        const headers = signedHeaders('POST', '/v1/orders', body);
        let bytes: Uint8Array;
        if (chunked) {
          const head = [
            'POST /v1/orders HTTP/1.1',
            'Host: x',
            'Transfer-Encoding: chunked',
            ...headers.map(([k, v]) => `${k}: ${v}`),
          ].join('\r\n');
          const chunks: Buffer[] = [Buffer.from(`${head}\r\n\r\n`)];
          for (let at = 0; at < size; at += 16_384) {
            const part = body.subarray(at, at + 16_384);
            chunks.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
          }
          chunks.push(Buffer.from('0\r\n\r\n'));
          bytes = Buffer.concat(chunks);
        } else {
          bytes = requestBytes('POST', '/v1/orders', headers, body);
        }
        const o = await httpRaw(bytes);
        expect(o.kind === 'answer' && o.status, `${size} bytes, chunked ${chunked}`).toBe(413);
        await afterBatch(before, false);
      }),
      fcParams(6),
    );
  });

  it('methods and paths: unknown routes, malformed and nonexistent order ids, other accounts’ orders', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(routeArb, { minLength: 10, maxLength: 25 }), async (batch) => {
        const before = await ex.book();
        const outcomes = await Promise.all(
          batch.map((c) =>
            httpRaw(
              requestBytes(c.method, c.path, signedHeaders(c.method.toUpperCase(), c.path, c.body), c.body),
              3_000,
              c.method === 'HEAD',
            ),
          ),
        );
        let sequenced = false;
        outcomes.forEach((o, k) => {
          const c = batch[k]!;
          const what = `${c.method} ${c.path}`;
          if (c.method === 'HEAD' && o.kind === 'answer') return; // no body by definition
          if (c.path === '/healthz/' && o.kind === 'answer' && o.status === 200) return;
          // uWS's parser closes the connection on a method it does not know.
          const v = checkAnswer(what, o, { allowClose: !STANDARD_METHODS.has(c.method) });
          // Another account's order is never visible, cancellable or amendable.
          if (
            c.victim &&
            o.kind === 'answer' &&
            c.path.startsWith('/v1/orders/') &&
            ['GET', 'DELETE', 'PATCH'].includes(c.method)
          )
            expect(o.status, what).not.toBeLessThan(300);
          sequenced ||= v.mayHaveSequenced;
        });
        await afterBatch(before, sequenced);
      }),
      fcParams(12),
    );
  });

  it('auth headers: missing, garbage, stale, future, other keys', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(authArb, bodyArb), { minLength: 10, maxLength: 25 }), async (batch) => {
        const before = await ex.book();
        const outcomes = await Promise.all(
          batch.map(([a, c]) => {
            const good = signRequest(
              KEY1,
              'POST /v1/orders',
              c.body,
              a.staleMs !== undefined ? Date.now() + a.staleMs : undefined,
            );
            const headers: [string, string][] = [['Content-Type', 'application/json']];
            if (a.apiKey !== undefined) headers.push([HEADER_API_KEY, a.apiKey]);
            headers.push([HEADER_TIMESTAMP, a.timestamp ?? good.timestamp]);
            headers.push([HEADER_SIGNATURE, a.signature ?? good.signature]);
            return httpRaw(requestBytes('POST', '/v1/orders', headers, c.body));
          }),
        );
        let sequenced = false;
        outcomes.forEach((o, k) => {
          const [a, c] = batch[k]!;
          const v = checkAnswer(`auth ${JSON.stringify(a)} ${c.what}`, o);
          // Without the right key, timestamp and signature nothing gets through.
          if (a.apiKey !== undefined && a.apiKey !== KEY1.key && o.kind === 'answer' && o.status !== 413)
            expect([401, 403], JSON.stringify(a)).toContain(o.status);
          sequenced ||= v.mayHaveSequenced;
        });
        await afterBatch(before, sequenced);
      }),
      fcParams(10),
    );
  });

  it('raw garbage and mutated HTTP bytes: an answer or a close, never a hang; the server keeps serving', async () => {
    const valid = Buffer.from(
      requestBytes('POST', '/v1/orders', signedHeaders('POST', '/v1/orders', validBody), validBody),
    );
    const inputArb = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      mutationsArb.map((ms) => mutate(valid, ms)),
      fc.constantFrom(
        Buffer.from('GET / HTTP/1.1\r\n\r\n'),
        Buffer.from('GET /healthz HTTP/1.0\r\n\r\n'),
        Buffer.from(`GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
        Buffer.from(`GET /healthz HTTP/1.1\r\n${'X-A: b\r\n'.repeat(5_000)}\r\n`),
        Buffer.from('POST /v1/orders HTTP/1.1\r\nContent-Length: -5\r\n\r\n'),
        Buffer.from('POST /v1/orders HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcdefg'),
        Buffer.from('POST /v1/orders HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
        Buffer.from('POST /v1/orders HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n{}'),
        Buffer.from('\r\n\r\n\r\n\r\n'),
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(inputArb, { minLength: 10, maxLength: 20 }), async (batch) => {
        const before = await ex.book();
        const outcomes = await Promise.all(batch.map((b) => httpRaw(b, 400)));
        let sequenced = false;
        outcomes.forEach((o, k) => {
          const what = Buffer.from(batch[k]!.subarray(0, 80)).toString('latin1');
          // A request that is still incomplete may wait for its bytes (uWS times it out); that is not a hang of the server.
          if (o.kind !== 'answer') return;
          expect(o.status, what).not.toBe(500);
          if ([200, 201, 404, 409].includes(o.status)) sequenced = true;
        });
        await afterBatch(before, sequenced);
      }),
      fcParams(8),
    );
  });

  it('heap does not grow across batches', () => {
    heap.sample();
    expect(heap.growthBytes(), heap.describe()).toBeLessThan(heap.slackBytes);
  });
});
