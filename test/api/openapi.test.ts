// The OpenAPI documents (docs/openapi.yaml: the order-entry gateway; docs/openapi-query.yaml: the
// query service) checked against the running servers over real sockets: a local exchange (three
// replica processes and the in-process gateway) and the events side (embedded broker, publisher
// and query service as child processes).
//
// - Every operation of both documents is called at least once with success, and those that
//   document a 4xx at least once with one of them; each answer's status, content type, required
//   headers (RateLimit-*, Retry-After, Allow) and JSON body are validated against the document
//   with a JSON Schema 2020-12 validator (ajv). Response objects are closed (additionalProperties
//   false), so an undocumented field fails here.
// - The routes each server answers are the documented ones: the route tables at the top of
//   gateway/rest-server.ts and events/query/rest-server.ts equal the documents' paths, and every
//   method × path of a candidate set (the documented paths, the tables' paths, the admin routes)
//   that is not documented answers 404 ROUTE_NOT_FOUND or 405 with an Allow header listing
//   exactly the documented methods of the path.
// - The error schemas' `code` and `reason` enums equal api/errors.ts (ErrorCode, QueryErrorCode,
//   ALL_REASONS).
// Every wait polls with a generous bound; nothing depends on timing.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ALL_REASONS, ErrorCode } from '../../api/errors.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../../api/signing.js';
import type { LocalEvents } from '../../events/local-events.js';
import { QueryErrorCode } from '../../events/query/service.js';
import { ADMIN_ROUTES } from '../../gateway/rest-server.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { startEventsOn, waitFor } from '../events/helpers.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
const ADMIN = { key: 'demo-admin', hmacSecret: 'demo-admin-secret-change-me' };
/** Bound on every wait (ms): generous for a loaded 2-core machine. */
const WAIT_MS = 90_000;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

type Service = 'gateway' | 'query';
type Json = Record<string, unknown>;
interface OpenApiDoc {
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json>; responses?: Record<string, Json>; headers?: Record<string, Json> };
}

const SPEC_FILES: Record<Service, string> = { gateway: 'docs/openapi.yaml', query: 'docs/openapi-query.yaml' };
/** Base URIs the documents are registered under (the query document refers to the gateway's with a relative $ref). */
const SPEC_IDS: Record<Service, string> = {
  gateway: 'https://matchbook.invalid/docs/openapi.yaml',
  query: 'https://matchbook.invalid/docs/openapi-query.yaml',
};
const specs = Object.fromEntries(
  (Object.keys(SPEC_FILES) as Service[]).map((s) => [
    s,
    parseYaml(readFileSync(path.join(REPO_ROOT, SPEC_FILES[s]), 'utf8')) as OpenApiDoc,
  ]),
) as Record<Service, OpenApiDoc>;

const ajv = new Ajv2020({ strict: false, allErrors: true });
for (const s of Object.keys(specs) as Service[]) ajv.addSchema(specs[s] as unknown as Json, SPEC_IDS[s]);
const validators = new Map<string, ReturnType<typeof ajv.compile>>();

function pointer(segments: string[]): string {
  return segments.map((p) => `/${encodeURIComponent(p.replaceAll('~', '~0').replaceAll('/', '~1'))}`).join('');
}

/** Validates `value` against the schema at `segments` of a document (compiled once). */
function validateAt(service: Service, segments: string[], value: unknown): string | undefined {
  const ref = `${SPEC_IDS[service]}#${pointer(segments)}`;
  let v = validators.get(ref);
  if (v === undefined) {
    v = ajv.compile({ $ref: ref });
    validators.set(ref, v);
  }
  return v(value) ? undefined : ajv.errorsText(v.errors, { separator: '\n' });
}

/** A $ref inside one document (`#/components/...`), resolved; anything else as is. */
function deref(service: Service, obj: Json): Json {
  const ref = obj.$ref;
  if (typeof ref !== 'string') return obj;
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
  let at: unknown = specs[service];
  for (const p of ref.slice(2).split('/')) at = (at as Json)[p.replaceAll('~1', '/').replaceAll('~0', '~')];
  return deref(service, at as Json);
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** (service method template) → statuses seen and validated. */
const covered = new Map<string, Set<number>>();

/** Checks one answer of `method template` against the document: status, content type, required headers, body. */
function check(service: Service, method: string, template: string, a: Answer): Json {
  const op = specs[service].paths[template]?.[method];
  expect(op, `${service}: ${method.toUpperCase()} ${template} is documented`).toBeDefined();
  const responses = op!.responses as Record<string, Json>;
  const documented = responses[String(a.status)];
  expect(
    documented,
    `${service}: ${method.toUpperCase()} ${template} documents status ${a.status}: ${a.text}`,
  ).toBeDefined();
  const response = deref(service, documented!);
  for (const [name, h] of Object.entries((response.headers ?? {}) as Record<string, Json>)) {
    if (deref(service, h).required === true)
      expect(a.headers.get(name), `${method.toUpperCase()} ${template} ${a.status}: header ${name}`).not.toBeNull();
  }
  const mediaType = (a.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const content = response.content as Record<string, Json> | undefined;
  expect(
    content?.[mediaType],
    `${method.toUpperCase()} ${template} ${a.status}: media type ${mediaType}`,
  ).toBeDefined();
  let body: Json = {};
  if (mediaType === 'application/json') {
    body = JSON.parse(a.text) as Json;
    const at = documented!.$ref
      ? [...(documented!.$ref as string).slice(2).split('/'), 'content', mediaType, 'schema']
      : ['paths', template, method, 'responses', String(a.status), 'content', mediaType, 'schema'];
    const errors = validateAt(service, at, body);
    expect(errors, `${service}: ${method.toUpperCase()} ${template} ${a.status}: ${a.text}`).toBeUndefined();
  }
  const key = `${service} ${method} ${template}`;
  (covered.get(key) ?? covered.set(key, new Set()).get(key)!).add(a.status);
  return body;
}

/** A request, signed with `key` when given (over `METHOD path?query` and the exact body bytes). */
async function call(
  base: string,
  method: string,
  pathAndQuery: string,
  opts: { key?: typeof K1; body?: unknown } = {},
) {
  const bytes = opts.body === undefined ? new Uint8Array(0) : Buffer.from(JSON.stringify(opts.body), 'utf8');
  const headers: Record<string, string> = {};
  if (opts.key !== undefined) {
    const auth = signRequest(opts.key, `${method.toUpperCase()} ${pathAndQuery}`, bytes);
    headers[HEADER_API_KEY] = auth.apiKey;
    headers[HEADER_TIMESTAMP] = auth.timestamp;
    headers[HEADER_SIGNATURE] = auth.signature;
  }
  if (bytes.length > 0) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${pathAndQuery}`, {
    method: method.toUpperCase(),
    headers,
    ...(bytes.length > 0 ? { body: bytes } : {}),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

let ex: LocalExchange;
let events: LocalEvents;
let dir: string;
let gw: string;
let q: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mb-openapi-'));
  ex = await startLocalExchange();
  events = await startEventsOn(ex.cluster.configPath, ex.gatewayConfigPath, dir);
  gw = ex.restUrl;
  q = `http://${events.queryRest}`;
}, 180_000);

afterAll(async () => {
  await events?.stop();
  await ex?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 90_000);

/** Gateway: calls `method path` and checks the answer against `template`; the parsed JSON body. */
async function g(
  method: string,
  template: string,
  pathAndQuery: string,
  opts: { key?: typeof K1; body?: unknown } = {},
) {
  const a = await call(gw, method, pathAndQuery, opts);
  return { status: a.status, body: check('gateway', method, template, a) };
}

async function qr(template: string, pathAndQuery: string, key?: typeof K1) {
  const a = await call(q, 'get', pathAndQuery, key === undefined ? {} : { key });
  return { status: a.status, body: check('query', 'get', template, a) };
}

const ORDER = { symbol: 'BTC-USD', order_type: 'LIMIT', time_in_force: 'GTC' };
let lastSeq = 0;
let sellId = 0;
let restingId = 0;

function seqOf(body: Json): number {
  return ((body.result as Json | undefined)?.seq as number | undefined) ?? 0;
}

describe('OpenAPI: the gateway answers as docs/openapi.yaml says', () => {
  it('public and ops routes', async () => {
    expect((await g('get', '/v1/time', '/v1/time')).status).toBe(200);
    expect((await g('get', '/healthz', '/healthz')).status).toBe(200);
    expect((await g('get', '/readyz', '/readyz')).status).toBe(200);
    expect((await g('get', '/metrics', '/metrics')).status).toBe(200);
    const inst = await g('get', '/v1/instruments', '/v1/instruments');
    expect((inst.body.instruments as Json[]).map((i) => i.symbol)).toContain('BTC-USD');
  });

  it("the browser page's routes", async () => {
    expect((await g('get', '/', '/')).status).toBe(200);
    for (const file of ['app.js', 'style.css', 'lightweight-charts.mjs', 'lightweight-charts.LICENSE.txt'])
      expect((await g('get', '/ui/{file}', `/ui/${file}`)).status).toBe(200);
    expect((await g('get', '/ui/{file}', '/ui/nope.js')).status).toBe(404);
    const config = await g('get', '/v1/ui/config', '/v1/ui/config');
    expect((config.body.shards as Json[])[0]!.symbols).toContain('BTC-USD');
    const cluster = await g('get', '/v1/ui/cluster', '/v1/ui/cluster');
    expect((cluster.body.shards as Json[])[0]!.members).toHaveLength(3);
  });

  it('order entry: place, get, amend, cancel (by order id and by client order id), cancel-all, cancel-all-after', async () => {
    const sell = await g('post', '/v1/orders', '/v1/orders', {
      key: K1,
      body: { ...ORDER, client_order_id: 'oa-s1', side: 'SELL', price: 5_000_000, quantity: 5 },
    });
    expect(sell.status).toBe(201);
    sellId = ((sell.body.result as Json).reports as Json[])[0]!.order_id as number;
    // The schemas are closed: a field the document does not name fails the check.
    const extra = structuredClone(sell.body) as { result: { reports: Json[] } };
    extra.result.reports[0]!.undocumented_field = 1;
    expect(validateAt('gateway', ['components', 'schemas', 'ResultBody'], extra)).toMatch(/additional properties/);
    const buy = await g('post', '/v1/orders', '/v1/orders', {
      key: K2,
      body: { ...ORDER, client_order_id: 'oa-b1', side: 'BUY', price: 5_000_000, quantity: 2 },
    });
    expect(buy.status).toBe(201);
    lastSeq = seqOf(buy.body);
    // Errors: an unknown field, an unsigned request, a duplicate client order id (sequenced: `result`).
    expect((await g('post', '/v1/orders', '/v1/orders', { key: K1, body: { ...ORDER, sidee: 'BUY' } })).status).toBe(
      400,
    );
    expect((await g('post', '/v1/orders', '/v1/orders', { body: { ...ORDER } })).status).toBe(401);
    const dup = await g('post', '/v1/orders', '/v1/orders', {
      key: K1,
      body: { ...ORDER, client_order_id: 'oa-s1', side: 'SELL', price: 5_000_100, quantity: 1 },
    });
    expect(dup.status).toBe(409);
    expect(dup.body.result).toBeDefined();

    expect((await g('get', '/v1/orders/{order_id}', `/v1/orders/${sellId}`, { key: K1 })).status).toBe(200);
    expect((await g('get', '/v1/orders/{order_id}', '/v1/orders/abc', { key: K1 })).status).toBe(400);
    expect((await g('get', '/v1/orders/{order_id}', `/v1/orders/${sellId}`, { key: K2 })).status).toBe(403);
    const byCl = await g('get', '/v1/orders', '/v1/orders?client_order_id=oa-s1&symbol=BTC-USD', { key: K1 });
    expect((byCl.body.order as Json).order_id).toBe(sellId);
    expect((await g('get', '/v1/orders', '/v1/orders?client_order_id=nope&symbol=BTC-USD', { key: K1 })).status).toBe(
      404,
    );

    const amend = await g('patch', '/v1/orders/{order_id}', `/v1/orders/${sellId}`, { key: K1, body: { quantity: 4 } });
    expect(amend.status).toBe(200);
    expect((await g('patch', '/v1/orders/{order_id}', `/v1/orders/${sellId}`, { key: K1, body: {} })).status).toBe(400);
    const amend2 = await g('patch', '/v1/orders', '/v1/orders', {
      key: K1,
      body: { orig_client_order_id: 'oa-s1', symbol: 'BTC-USD', price: 5_000_200 },
    });
    expect(amend2.status).toBe(200);
    expect((await g('patch', '/v1/orders', '/v1/orders', { key: K1, body: { price: 5_000_200 } })).status).toBe(400);

    const rest = await g('post', '/v1/orders', '/v1/orders', {
      key: K1,
      body: { ...ORDER, client_order_id: 'oa-s2', side: 'SELL', price: 5_100_000, quantity: 1 },
    });
    restingId = ((rest.body.result as Json).reports as Json[])[0]!.order_id as number;
    expect((await g('delete', '/v1/orders/{order_id}', `/v1/orders/${restingId}`, { key: K1 })).status).toBe(200);
    const again = await g('delete', '/v1/orders/{order_id}', `/v1/orders/${restingId}`, { key: K1 });
    expect(again.status).toBe(404);
    // A finished order is still answered (from the gateway's view).
    expect((await g('get', '/v1/orders/{order_id}', `/v1/orders/${restingId}`, { key: K1 })).status).toBe(200);
    const byBody = await g('delete', '/v1/orders', '/v1/orders', {
      key: K1,
      body: { client_order_id: 'oa-s1', symbol: 'BTC-USD' },
    });
    expect(byBody.status).toBe(200);
    lastSeq = Math.max(lastSeq, seqOf(byBody.body));
    expect((await g('delete', '/v1/orders', '/v1/orders', { key: K1, body: {} })).status).toBe(400);

    const all = await g('post', '/v1/orders/cancel-all', '/v1/orders/cancel-all', { key: K2, body: {} });
    expect(all.status).toBe(200);
    expect((await g('post', '/v1/orders/cancel-all', '/v1/orders/cancel-all', { body: {} })).status).toBe(401);
    const after = '/v1/orders/cancel-all-after';
    expect((await g('post', after, after, { key: K1, body: { timeout_ms: 0 } })).status).toBe(200);
    expect((await g('post', after, after, { key: K1, body: { timeout_ms: 'soon' } })).status).toBe(400);
  });

  it('admin routes: success with the admin key, PERMISSION_DENIED with a trader key, INVALID_ARGUMENT on a bad body', async () => {
    const admin = (segment: string, body: unknown, key = ADMIN) =>
      g('post', `/v1/admin/${segment}`, `/v1/admin/${segment}`, { key, body });
    expect((await admin('halt', { symbol: 'ETH-USD' })).status).toBe(200);
    expect((await admin('resume', { symbol: 'ETH-USD' })).status).toBe(200);
    expect((await admin('reference-price', { symbol: 'ETH-USD', price: 3_000_000 })).status).toBe(200);
    expect((await admin('kill-switch', { account: 2, active: false })).status).toBe(200);
    expect((await admin('slow-orders', { limit: 5 })).status).toBe(200);
    for (const segment of ADMIN_ROUTES.keys()) {
      expect((await admin(segment, {}, K1)).status, segment).toBe(403);
      expect((await admin(segment, [1])).status, segment).toBe(400);
    }
  });
});

describe('OpenAPI: the query service answers as docs/openapi-query.yaml says', () => {
  it('signed account routes, orders, candles, lag; public market routes; ops routes', async () => {
    let first: { status: number; body: Json } | undefined;
    await waitFor(
      async () => {
        const a = await call(q, 'get', `/v1/accounts/1/orders?state=all&min_seq=${lastSeq}&wait_ms=5000`, { key: K1 });
        if (a.status !== 200) return false;
        first = { status: a.status, body: check('query', 'get', '/v1/accounts/{account}/orders', a) };
        return true;
      },
      'the read models to hold the orders',
      WAIT_MS,
      200,
    );
    expect((first!.body.orders as Json[]).length).toBeGreaterThan(0);
    const orders = '/v1/accounts/{account}/orders';
    expect((await qr(orders, '/v1/accounts/1/orders?client_order_id=oa-s1', K1)).status).toBe(200);
    expect((await qr(orders, '/v1/accounts/2/orders', K1)).status).toBe(403);
    expect((await qr(orders, '/v1/accounts/1/orders')).status).toBe(401);
    const fills = '/v1/accounts/{account}/fills';
    expect((await qr(fills, '/v1/accounts/1/fills?limit=10', K1)).status).toBe(200);
    expect((await qr(fills, '/v1/accounts/1/fills?limit=x', K1)).status).toBe(400);
    const pos = '/v1/accounts/{account}/positions';
    expect(((await qr(pos, '/v1/accounts/2/positions', K2)).body.positions as Json[]).length).toBeGreaterThan(0);
    expect((await qr(pos, '/v1/accounts/1/positions', K2)).status).toBe(403);
    expect((await qr('/v1/orders/{order_id}', `/v1/orders/${sellId}`, K1)).status).toBe(200);
    expect((await qr('/v1/orders/{order_id}', '/v1/orders/99999999', K1)).status).toBe(404);
    expect((await qr('/v1/candles/{symbol}', '/v1/candles/BTC-USD?interval=1m', K1)).status).toBe(200);
    expect((await qr('/v1/candles/{symbol}', '/v1/candles/BTC-USD?interval=2m', K1)).status).toBe(400);
    expect((await qr('/v1/lag', '/v1/lag', ADMIN)).status).toBe(200);
    expect((await qr('/v1/lag', '/v1/lag')).status).toBe(401);
    // Read-your-writes not reached within wait_ms: NOT_YET_CONSISTENT (503, Retry-After).
    expect((await qr(orders, `/v1/accounts/1/orders?min_seq=${lastSeq + 1_000_000}&wait_ms=0`, K1)).status).toBe(503);

    const trades = await qr('/v1/market/trades/{symbol}', '/v1/market/trades/BTC-USD?limit=10');
    expect((trades.body.trades as Json[]).length).toBeGreaterThan(0);
    expect((await qr('/v1/market/trades/{symbol}', '/v1/market/trades/BTC-USD?limit=-1')).status).toBe(400);
    const mc = '/v1/market/candles/{symbol}';
    expect((await qr(mc, '/v1/market/candles/BTC-USD?interval=1s&limit=5')).status).toBe(200);
    expect((await qr(mc, '/v1/market/candles/BTC-USD?start_us=10&end_us=5')).status).toBe(400);
    expect((await qr('/v1/market/ticker/{symbol}', '/v1/market/ticker/BTC-USD')).status).toBe(200);
    expect((await qr('/v1/market/ticker/{symbol}', '/v1/market/ticker/ETH-USD')).status).toBe(200);
    expect((await qr('/v1/market/ticker/{symbol}', '/v1/market/ticker/BTC-USD?min_seq=x')).status).toBe(400);

    expect((await qr('/v1/time', '/v1/time')).status).toBe(200);
    expect((await qr('/healthz', '/healthz')).status).toBe(200);
    expect((await qr('/readyz', '/readyz')).status).toBe(200);
    expect((await qr('/metrics', '/metrics')).status).toBe(200);
  });
});

/** `METHOD /path/{}` of every operation of a document (path parameters as `{}`). */
function documentedRoutes(service: Service): Set<string> {
  const out = new Set<string>();
  for (const [p, item] of Object.entries(specs[service].paths))
    for (const m of METHODS) if (item[m] !== undefined) out.add(`${m.toUpperCase()} ${normalize(p)}`);
  return out;
}

function normalize(template: string): string {
  return template.replace(/\{[^},]+\}|:[a-z_]+/g, '{}');
}

/** The route table in the header comment of a REST server file: `//   METHOD /path …` lines before the imports. */
function codeRoutes(file: string): Set<string> {
  const header = readFileSync(path.join(REPO_ROOT, file), 'utf8').split('\nimport ')[0]!;
  const out = new Set<string>();
  for (const m of header.matchAll(/^\/\/\s+(GET|POST|PUT|PATCH|DELETE)\s+(\/\S*)/gm)) {
    const p = m[2]!.split('?')[0]!;
    // `/v1/admin/{a,b,c}`: one route per alternative.
    const alt = /\{([^}]*,[^}]*)\}/.exec(p);
    const paths = alt === null ? [p] : alt[1]!.split(',').map((a) => p.replace(alt[0], a));
    for (const x of paths) out.add(`${m[1]} ${normalize(x)}`);
  }
  return out;
}

/** A concrete path for a template (any value will do for routing). */
function concrete(template: string): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => (name === 'symbol' ? 'BTC-USD' : '1'));
}

describe('OpenAPI: the documents and the code agree', () => {
  it('parse, and every schema of both documents compiles (every $ref resolves)', () => {
    for (const s of Object.keys(specs) as Service[]) {
      expect(specs[s].paths, s).toBeTypeOf('object');
      for (const name of Object.keys(specs[s].components.schemas))
        expect(() => validateAt(s, ['components', 'schemas', name], null), `${s} ${name}`).not.toThrow();
    }
  });

  it('the error schemas list exactly the codes and reasons of api/errors.ts', () => {
    const sorted = (xs: Iterable<unknown>) => [...xs].map(String).sort();
    const gwSchemas = specs.gateway.components.schemas;
    expect(sorted(gwSchemas.ErrorCode!.enum as string[])).toEqual(sorted(Object.values(ErrorCode)));
    expect(sorted(specs.query.components.schemas.QueryErrorCode!.enum as string[])).toEqual(
      sorted(Object.values(QueryErrorCode)),
    );
    expect(sorted(gwSchemas.ErrorReason!.enum as string[])).toEqual(sorted(ALL_REASONS));
  });

  it('the route tables of the REST servers are the documented routes', () => {
    expect(codeRoutes('gateway/rest-server.ts')).toEqual(documentedRoutes('gateway'));
    expect(codeRoutes('events/query/rest-server.ts')).toEqual(documentedRoutes('query'));
  });
});

describe('OpenAPI: nothing is served that is not documented', () => {
  it('an undocumented method on a documented path is 405 with Allow = the documented methods; other paths 404', async () => {
    for (const service of Object.keys(specs) as Service[]) {
      const base = service === 'gateway' ? gw : q;
      const errorSchema = ['components', 'schemas', service === 'gateway' ? 'Error' : 'QueryError'];
      const templates = Object.keys(specs[service].paths);
      const extra = ['/', '/v1', '/v1/orders/1/x', '/v1/admin/nope', '/v1/accounts/1', '/v1/accounts/1/nope'];
      extra.push('/v1/market/nope/BTC-USD', '/v1/market/trades', '/v1/candles', '/healthz/x');
      for (const p of [...templates, ...extra]) {
        const item = specs[service].paths[p];
        const allowed = METHODS.filter((m) => item?.[m] !== undefined);
        for (const m of METHODS) {
          if (allowed.includes(m)) continue;
          const a = await call(base, m, concrete(p));
          const what = `${service}: ${m.toUpperCase()} ${concrete(p)}`;
          const body = JSON.parse(a.text) as Json;
          expect(validateAt(service, errorSchema, body), what).toBeUndefined();
          if (item === undefined) {
            // Not a documented path: no method serves it (the query service refuses any non-GET first).
            expect([404, 405], what).toContain(a.status);
            if (a.status === 404) expect(body.reason, what).toBe('ROUTE_NOT_FOUND');
            continue;
          }
          expect(a.status, what).toBe(405);
          const allow = (a.headers.get('allow') ?? '').split(',').map((x) => x.trim().toLowerCase());
          expect(allow.sort(), what).toEqual([...allowed].sort());
        }
      }
    }
  });

  it('every documented operation was answered with success, and with a documented error where it documents a 4xx', () => {
    for (const service of Object.keys(specs) as Service[]) {
      for (const [p, item] of Object.entries(specs[service].paths)) {
        for (const m of METHODS) {
          const op = item[m];
          if (op === undefined) continue;
          const seen = covered.get(`${service} ${m} ${p}`) ?? new Set<number>();
          const what = `${service}: ${m.toUpperCase()} ${p} (seen ${[...seen].join(', ')})`;
          expect(
            [...seen].some((s) => s >= 200 && s < 300),
            what,
          ).toBe(true);
          const documents4xx = Object.keys(op.responses as Json).some((s) => s.startsWith('4'));
          if (documents4xx)
            expect(
              [...seen].some((s) => s >= 400 && s < 500),
              what,
            ).toBe(true);
        }
      }
    }
  });
});
