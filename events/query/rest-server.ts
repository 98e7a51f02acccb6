// The query API's REST edge: HTTP/1.1 on uWebSockets.js, GET only, a thin adapter in front of
// QueryService (service.ts). It routes, reads the auth headers, and writes JSON.
//
//   GET /v1/accounts/{account}/orders     GetOrders    ?state=open|all  ?client_order_id=X
//   GET /v1/accounts/{account}/fills      GetFills     ?limit=N
//   GET /v1/accounts/{account}/positions  GetPositions
//   GET /v1/orders/{order_id}             GetOrder
//   GET /v1/candles/{symbol}              GetCandles   ?interval=1s|1m|1h|1d  ?limit=N
//   GET /v1/lag                           GetLag       (consumer lag per read model, detail)
//   GET /v1/market/trades/{symbol}        no auth: recent public trades       ?limit=N
//   GET /v1/market/candles/{symbol}       no auth: klines                     ?interval=1s|1m|1h|1d ?start_us ?end_us ?limit
//   GET /v1/market/ticker/{symbol}        no auth: 24-hour ticker (window ending at the latest log time known)
//   GET /v1/time                          no auth: {server_time_ms, receive_window_ms} (check the clock before signing)
//   GET /healthz                          no auth: {"status":"ok", lag per read model, as_of}
//   GET /readyz                           no auth: 200 {"ready":true,…} / 503 {"ready":false,…} (main.ts: consuming, lag bounded)
//   GET /metrics                          no auth: Prometheus exposition (metrics.ts; keep the port off the internet)
//   OPTIONS /*                            CORS preflight: 204, GET and the x-mb-* headers allowed
//
// CORS: every answer carries `access-control-allow-origin: *`, so the browser page served by the
// gateway (another origin: its port) reads this API. `*` leaks nothing: authentication is by the
// signature headers, never cookies, and a browser sends no credentials to a `*` origin anyway.
// docs/openapi-query.yaml describes these routes for clients; test/api/openapi.test.ts keeps this
// table equal to its paths and validates the answers against it (a new route or field goes there too).
//
// The /v1/market/* routes are rate-limited per client IP and in total (public-rate-limit.ts):
// 429 RATE_LIMITED beyond. Every authenticated route also takes ?min_seq=S[&shard=N][&wait_ms=W] (read-your-writes).
// The signed target is `GET <path>?<query>` exactly as sent (gateway/README.md).
//
// uWS rules followed (as in gateway/rest-server.ts): headers, URL and query are read
// synchronously in the handler; every response that outlives its handler has onAborted and is
// never written after it fired; asynchronous writes are corked.

import { jsonStringifyExact } from '../../api/json-exact.js';
import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import {
  createUwsApp,
  listenExclusive,
  type UwsTls,
  us_listen_socket_close,
  us_socket_local_port,
} from '../../ops/uws-app.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../../api/signing.js';
import {
  QUERY_ERROR_STATUS,
  QueryErrorCode,
  QueryOp,
  PUBLIC_OPS,
  type QueryError,
  type QueryReply,
  type QueryService,
} from './service.js';
import { QUERY_CORS_MAX_AGE_S, QUERY_REST_INFLIGHT_MAX } from './limits.js';
import { ErrorReason, errorBody } from '../../api/errors.js';
import { PUBLIC_RATE_LIMITS, PublicRateLimiter, type PublicRateLimits } from './public-rate-limit.js';
import { errorStack, linesLog, type Log } from '../../ops/log.js';

const EMPTY = new Uint8Array(0);
const JSON_TYPE = 'application/json';

type Route =
  | { op: QueryOp; params: Record<string, string> }
  | { health: true }
  | { time: true }
  | { ops: 'ready' | 'metrics' }
  | { preflight: true }
  | { status: 404 | 405; message: string };

/** Method and path → operation and path parameters (query parameters are added by the caller). */
export function routeQuery(method: string, url: string): Route {
  if (method === 'options') return { preflight: true };
  if (method !== 'get')
    return { status: 405, message: `${method.toUpperCase()} is not allowed: the query API is read-only (GET)` };
  if (url === '/healthz') return { health: true };
  if (url === '/v1/time') return { time: true };
  if (url === '/readyz') return { ops: 'ready' };
  if (url === '/metrics') return { ops: 'metrics' };
  if (url === '/v1/lag') return { op: QueryOp.GET_LAG, params: {} };
  const parts = url.split('/');
  // ['', 'v1', 'accounts', '{id}', 'orders']
  if (parts.length === 5 && parts[1] === 'v1' && parts[2] === 'accounts' && parts[3] !== '') {
    const account = decode(parts[3]!);
    if (parts[4] === 'orders') return { op: QueryOp.GET_ORDERS, params: { account } };
    if (parts[4] === 'fills') return { op: QueryOp.GET_FILLS, params: { account } };
    if (parts[4] === 'positions') return { op: QueryOp.GET_POSITIONS, params: { account } };
  }
  if (parts.length === 4 && parts[1] === 'v1' && parts[3] !== '') {
    if (parts[2] === 'orders') return { op: QueryOp.GET_ORDER, params: { order_id: decode(parts[3]!) } };
    if (parts[2] === 'candles') return { op: QueryOp.GET_CANDLES, params: { symbol: decode(parts[3]!) } };
  }
  // ['', 'v1', 'market', 'trades|candles|ticker', '{symbol}']
  if (parts.length === 5 && parts[1] === 'v1' && parts[2] === 'market' && parts[4] !== '') {
    const op = MARKET_ROUTES.get(parts[3]!);
    if (op !== undefined) return { op, params: { symbol: decode(parts[4]!) } };
  }
  return { status: 404, message: `no route for GET ${url}` };
}

/** A Map, not an object: a path segment such as `constructor` must not find an inherited property. */
const MARKET_ROUTES: ReadonlyMap<string, QueryOp> = new Map([
  ['trades', QueryOp.MARKET_TRADES],
  ['candles', QueryOp.MARKET_CANDLES],
  ['ticker', QueryOp.MARKET_TICKER],
]);

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

/** The status line and the CORS headers every answer carries (uWS: the status before any header). */
function writeHead(res: HttpResponse, status: number): HttpResponse {
  return res
    .writeStatus(statusLine(status))
    .writeHeader('access-control-allow-origin', '*')
    .writeHeader('access-control-expose-headers', 'retry-after');
}

/** OPTIONS (a browser's preflight before a signed GET): what a cross-origin page may send. */
function writePreflight(res: HttpResponse): void {
  writeHead(res, 204)
    .writeHeader('access-control-allow-methods', 'GET')
    .writeHeader('access-control-allow-headers', `${HEADER_API_KEY}, ${HEADER_TIMESTAMP}, ${HEADER_SIGNATURE}`)
    .writeHeader('access-control-max-age', String(QUERY_CORS_MAX_AGE_S))
    .end();
}

function writeJson(res: HttpResponse, status: number, body: string, retryAfterS?: number): void {
  writeHead(res, status).writeHeader('content-type', JSON_TYPE);
  if (retryAfterS !== undefined) res.writeHeader('retry-after', String(retryAfterS));
  res.end(body);
}

function writeError(res: HttpResponse, e: QueryError): void {
  // {code, reason, message} and retry_after_ms, order_id, seq, field when set: the gateway's shape (api/errors.ts).
  const status = QUERY_ERROR_STATUS[e.code]?.http ?? 500;
  const retry =
    e.retry_after_ms !== undefined
      ? Math.max(1, Math.ceil(e.retry_after_ms / 1000))
      : status === 503 || status === 429
        ? 1
        : undefined;
  writeJson(res, status, errorBody(e), retry);
}

export interface QueryRestOptions {
  service: QueryService;
  host: string;
  port: number;
  /** Default: text lines on stderr (linesLog). */
  log?: Log;
  /** Serves GET /metrics (without it: 404). */
  metrics?: () => Promise<{ body: string; contentType: string }>;
  /** Serves GET /readyz (without it: always ready). */
  ready?: () => { ready: boolean } & Record<string, unknown>;
  /** The public routes' buckets (default PUBLIC_RATE_LIMITS, from limits.ts). */
  publicRate?: PublicRateLimits;
  /** The clock of the public routes' buckets (default Date.now; tests pass a fake one). */
  nowMs?: () => number;
  /** https:// (uWS SSLApp: the gateway file's "query.tls", env secrets written under dir); undefined: plaintext. */
  tls?: UwsTls | undefined;
}

export class QueryRestServer {
  private app: TemplatedApp | undefined;
  private listenSocket: us_listen_socket | undefined;
  private inflight = 0;
  private stopped = false;
  /** Removes the secret files written for SSLApp (ops/uws-app.ts); a no-op without TLS. */
  private releaseTls: () => void = () => undefined;
  private readonly log: Log;
  private readonly nowMs: () => number;
  private readonly publicRate: PublicRateLimiter;

  constructor(private readonly opts: QueryRestOptions) {
    this.log = opts.log ?? linesLog((l) => console.error(`[query rest] ${l}`));
    this.nowMs = opts.nowMs ?? Date.now;
    this.publicRate = new PublicRateLimiter(opts.publicRate ?? PUBLIC_RATE_LIMITS, this.nowMs());
  }

  start(): Promise<number> {
    const handle = createUwsApp(this.opts.tls);
    this.releaseTls = handle.release;
    const app = handle.app;
    this.app = app;
    app.any('/*', (res, req) => this.onRequest(res, req));
    return new Promise((resolve, reject) => {
      listenExclusive(app, this.opts.host, this.opts.port, (ls) => {
        if (ls === false) return reject(new Error(`query REST: cannot listen on ${this.opts.host}:${this.opts.port}`));
        this.listenSocket = ls;
        resolve(us_socket_local_port(ls));
      });
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.listenSocket !== undefined) us_listen_socket_close(this.listenSocket);
    (this.app as (TemplatedApp & { close?: () => void }) | undefined)?.close?.();
    this.releaseTls();
  }

  private onRequest(res: HttpResponse, req: HttpRequest): void {
    if (this.stopped) {
      res.close();
      return;
    }
    const method = req.getMethod();
    const url = req.getUrl();
    const r = routeQuery(method, url);
    if ('status' in r) {
      if (r.status === 405) writeHead(res, 405).writeHeader('allow', 'GET');
      else writeHead(res, 404);
      const e =
        r.status === 404
          ? { code: QueryErrorCode.NOT_FOUND, reason: ErrorReason.ROUTE_NOT_FOUND, message: r.message }
          : { code: QueryErrorCode.METHOD_NOT_ALLOWED, reason: ErrorReason.METHOD_NOT_ALLOWED, message: r.message };
      res.writeHeader('content-type', JSON_TYPE).end(errorBody(e));
      return;
    }
    if ('preflight' in r) {
      writePreflight(res);
      return;
    }
    if ('time' in r) {
      writeJson(
        res,
        200,
        JSON.stringify({ server_time_ms: Date.now(), receive_window_ms: this.opts.service.receiveWindowMs }),
      );
      return;
    }
    if ('health' in r) {
      const s = this.opts.service;
      writeJson(res, 200, JSON.stringify({ status: 'ok', lag: s.lagSummary(), as_of: s.asOf() }));
      return;
    }
    if ('ops' in r) {
      this.serveOps(res, r.ops);
      return;
    }
    if (PUBLIC_OPS.has(r.op) && !this.admitPublic(res)) return;
    if (this.inflight >= QUERY_REST_INFLIGHT_MAX) {
      writeError(res, {
        code: QueryErrorCode.OVERLOADED,
        reason: ErrorReason.QUERY_REST_INFLIGHT_MAX,
        message: 'too many queries in progress',
        retry_after_ms: 1_000,
      });
      return;
    }
    const query = req.getQuery() ?? '';
    const auth = {
      apiKey: req.getHeader(HEADER_API_KEY),
      timestamp: req.getHeader(HEADER_TIMESTAMP),
      signature: req.getHeader(HEADER_SIGNATURE),
    };
    const target = `GET ${query === '' ? url : `${url}?${query}`}`;
    const pathParams = r.params;
    const params = (): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of new URLSearchParams(query)) if (!(k in out)) out[k] = v;
      return { ...out, ...pathParams }; // the path wins over a query parameter of the same name
    };
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    this.inflight++;
    this.opts.service
      .handle({ op: r.op, target, body: EMPTY, auth, params })
      .catch((err: unknown): QueryReply => {
        this.log.error('query failed: answered INTERNAL', { op: r.op, stack: errorStack(err) });
        return {
          ok: false,
          error: { code: QueryErrorCode.INTERNAL, reason: ErrorReason.INTERNAL, message: 'internal error' },
        };
      })
      .then((reply) => {
        this.inflight--;
        if (aborted || this.stopped) return;
        res.cork(() => {
          // A wide order's cum_notional is a bigint: written as its exact integer literal.
          if (reply.ok) writeJson(res, 200, jsonStringifyExact(reply.body));
          else writeError(res, reply.error);
        });
      });
  }

  /** Takes a token of the public budget for the client's IP, or answers 429 RATE_LIMITED (then false). */
  private admitPublic(res: HttpResponse): boolean {
    const ip = Buffer.from(res.getRemoteAddressAsText()).toString('utf8');
    const v = this.publicRate.take(ip, this.nowMs());
    if (v.ok) return true;
    const perIp = v.which === 'ip';
    writeError(res, {
      code: QueryErrorCode.RATE_LIMITED,
      reason: perIp ? ErrorReason.PUBLIC_RATE_PER_IP : ErrorReason.PUBLIC_RATE_TOTAL,
      message: perIp
        ? `more than ${this.publicRate.limits.perIpPerSec} public requests a second from ${ip}`
        : `more than ${this.publicRate.limits.totalPerSec} public requests a second from all clients`,
      retry_after_ms: v.retryAfterMs,
    });
    return false;
  }

  /** GET /readyz (synchronous) and /metrics (asynchronous: aborted-safe, corked), outside the query accounting. */
  private serveOps(res: HttpResponse, kind: 'ready' | 'metrics'): void {
    if (kind === 'ready') {
      const r = this.opts.ready?.() ?? { ready: true };
      writeJson(res, r.ready ? 200 : 503, JSON.stringify(r));
      return;
    }
    const metrics = this.opts.metrics;
    if (metrics === undefined) {
      writeHead(res, 404)
        .writeHeader('content-type', JSON_TYPE)
        .end(
          errorBody({
            code: QueryErrorCode.NOT_FOUND,
            reason: ErrorReason.ROUTE_NOT_FOUND,
            message: 'no metrics here',
          }),
        );
      return;
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    metrics().then(
      (m) => {
        if (aborted || this.stopped) return;
        res.cork(() => writeHead(res, 200).writeHeader('content-type', m.contentType).end(m.body));
      },
      (err: unknown) => {
        if (aborted || this.stopped) return;
        res.cork(() =>
          writeJson(
            res,
            500,
            errorBody({
              code: QueryErrorCode.INTERNAL,
              reason: ErrorReason.INTERNAL,
              message: `metrics: ${String(err)}`,
            }),
          ),
        );
      },
    );
  }
}
