// The REST edge: HTTP/1.1 on uWebSockets.js, a thin adapter in front of the GatewayCore. It
// routes, collects the body bytes exactly as received, reads the three auth headers, hands a
// RawRequest to the core and turns the GatewayReply into a status and a JSON body. It does not
// parse, authenticate or validate anything: the signature covers the exact bytes and target,
// so the core must see them untouched.
//
//   POST   /v1/orders              PlaceOrder  (201)
//   DELETE /v1/orders/:id          CancelOrder (body optional)
//   PATCH  /v1/orders/:id          AmendOrder
//   DELETE /v1/orders              CancelOrder by client_order_id (in the body; no path id)
//   PATCH  /v1/orders              AmendOrder by orig_client_order_id (in the body; no path id)
//   POST   /v1/orders/cancel-all   MassCancel
//   POST   /v1/orders/cancel-all-after  CancelAllAfter (the API key's dead-man's switch)
//   GET    /v1/orders/:id          GetOrder
//   GET    /v1/instruments         ListInstruments (no auth: public reference data; counted in REST_INFLIGHT_MAX)
//   GET    /v1/orders?client_order_id=…&symbol=…   GetOrder by client order id (fields in the query)
//   POST   /v1/admin/{kill-switch,halt,resume,reference-price,slow-orders}   → the optional admin callback
//   GET    /v1/time                {server_time_ms, receive_window_ms} (no auth): check the clock against the signing window
//   GET    /healthz                "ok" (no auth): the process is alive
//   GET    /readyz                 200 {"ready":true,…} / 503 {"ready":false,…} (no auth): every shard has a leader
//   GET    /metrics                Prometheus text exposition (no auth; keep the port off the internet)
//   WS     /v1/user-stream         the private user stream (user-stream-server.ts), when `userStream` is given
//   GET    /                       the browser page (ui/; ui-routes.ts), when `ui` is given
//   GET    /ui/{file}              the page's script, style sheet and charting library
//   GET    /v1/ui/config           UiConfig (api/ui-contract.ts): the shards' feeds, the query service's URL
//   GET    /v1/ui/cluster          UiClusterView: the operator console's status of every member
//
// docs/openapi.yaml describes these routes for clients; test/api/openapi.test.ts keeps this table
// equal to its paths and validates the answers against it (a new route or field goes there too).
//
// uWS rules this file follows: headers, URL and query are read synchronously in the handler
// (the HttpRequest is invalid after it returns); body chunks are copied (uWS reuses the
// ArrayBuffer); every response that outlives its handler has onAborted, and nothing is written
// to it after that fired; asynchronous writes are corked.
//
// Errors: `{code, reason, message}` (+ retry_after_ms, order_id, seq, field when they apply;
// api/errors.ts errorBody) with the code's HTTP status; every reply to an authenticated request
// carries its API key's RateLimit-* headers (rate-limit-headers.ts). docs/errors.md lists them.

import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import {
  createUwsApp,
  listenExclusive,
  type UwsTls,
  us_listen_socket_close,
  us_socket_local_port,
} from '../ops/uws-app.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../api/signing.js';
import { jsonStringifyExact } from '../api/json-exact.js';
import { ERROR_STATUS, ErrorCode, ErrorReason, errorBody, gatewayError, type GatewayError } from '../api/errors.js';
import { rateLimitHeaders, type RateLimitState } from './rate-limit-headers.js';
import { Operation, type GatewayCore, type GatewayReply, type RawRequest } from './types.js';
import { REST_INFLIGHT_MAX, REST_BODY_BYTES_MAX_DEFAULT } from './limits.js';
import { errorMessage, errorStack, linesLog, type Log } from '../ops/log.js';
import { UserStreamEdge, type UserStreamOptions } from './user-stream-server.js';
import { serveUi, uiRouteOf, type UiRouteKind, type UiRoutes } from './ui-routes.js';

/** Retry-After (seconds) of the edge's own 503 when REST_INFLIGHT_MAX is reached. */
const OVERLOADED_RETRY_AFTER_S = 1;

export const AdminOperation = {
  KILL_SWITCH: 'KillSwitch',
  HALT: 'Halt',
  RESUME: 'Resume',
  SET_REFERENCE_PRICE: 'SetReferencePrice',
  SLOW_ORDERS: 'SlowOrders',
} as const;
export type AdminOperation = (typeof AdminOperation)[keyof typeof AdminOperation];

/** An admin request: a RawRequest whose op is the admin route's name. */
export type AdminRequest = Omit<RawRequest, 'op'> & { op: AdminOperation };

/** `/v1/admin/<segment>` → operation. */
export const ADMIN_ROUTES: ReadonlyMap<string, AdminOperation> = new Map([
  ['kill-switch', AdminOperation.KILL_SWITCH],
  ['halt', AdminOperation.HALT],
  ['resume', AdminOperation.RESUME],
  ['reference-price', AdminOperation.SET_REFERENCE_PRICE],
  ['slow-orders', AdminOperation.SLOW_ORDERS],
]);

export interface RestGatewayOptions {
  core: GatewayCore;
  host: string;
  /** 0: any free port (start() reports it). */
  port: number;
  /** Default: text lines on stderr (linesLog). */
  log?: Log;
  bodyBytesMax?: number;
  /** Handles /v1/admin/* (authentication included); without it those routes answer 404. */
  admin?: (req: AdminRequest) => Promise<GatewayReply>;
  /** Defaults to REST_INFLIGHT_MAX (tests lower it). */
  inflightMax?: number;
  /** Serves GET /metrics (without it: 404). */
  metrics?: () => Promise<{ body: string; contentType: string }>;
  /** Serves GET /readyz (without it: always ready). */
  ready?: () => Promise<{ ready: boolean } & Record<string, unknown>>;
  /** Serves the private user stream on WS /v1/user-stream (without it: 404). */
  userStream?: UserStreamOptions;
  /** https:// and wss:// (uWS SSLApp: the gateway file's "tls", env secrets written under dir); undefined: plaintext. */
  tls?: UwsTls | undefined;
  /** Serves the browser page and its two JSON documents (ui-routes.ts); without it those routes answer 404. */
  ui?: UiRoutes;
}

const EMPTY_BODY = new Uint8Array(0);
const JSON_TYPE = 'application/json';
const ORDERS_PREFIX = '/v1/orders/';
const ADMIN_PREFIX = '/v1/admin/';

const statusLines = new Map<number, string>();
function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
    statusLines.set(status, line);
  }
  return line;
}

function notFoundJson(method: string, url: string): string {
  return errorBody(
    gatewayError(ErrorCode.NOT_FOUND, ErrorReason.ROUTE_NOT_FOUND, `no route for ${method.toUpperCase()} ${url}`),
  );
}

function tooLargeJson(bodyBytesMax: number): string {
  return errorBody(
    gatewayError(ErrorCode.PAYLOAD_TOO_LARGE, ErrorReason.REST_BODY_BYTES_MAX, `body over ${bodyBytesMax} bytes`),
  );
}

const INTERNAL_JSON = errorBody(gatewayError(ErrorCode.INTERNAL, ErrorReason.INTERNAL, 'internal error'));
/** 503 beyond REST_INFLIGHT_MAX requests in progress. */
const OVERLOADED_JSON = errorBody(
  gatewayError(ErrorCode.OVERLOADED, ErrorReason.REST_INFLIGHT_MAX, 'too many requests in progress', {
    retry_after_ms: OVERLOADED_RETRY_AFTER_S * 1000,
  }),
);

/** GET /v1/time: the server's clock and the signing window, so a client can check its own clock before signing. */
export function timeJson(nowMs: number, receiveWindowMs: number | undefined): string {
  return JSON.stringify(
    receiveWindowMs === undefined
      ? { server_time_ms: nowMs }
      : { server_time_ms: nowMs, receive_window_ms: receiveWindowMs },
  );
}

/** Retry-After in whole seconds, rounded up, at least 1. */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

/** Where a request goes, decided from method and path alone. */
type Route =
  | { kind: 'core'; op: Operation; pathOrderId: string | undefined; okStatus: number }
  | { kind: 'admin'; op: AdminOperation }
  | { kind: 'health' }
  | { kind: 'time' }
  | { kind: 'instruments' }
  | { kind: 'ready' }
  | { kind: 'metrics' }
  | { kind: UiRouteKind }
  | { kind: 'not-found' }
  | { kind: 'method-not-allowed'; allow: string };

const NOT_FOUND_ROUTE: Route = { kind: 'not-found' };
const HEALTH_ROUTE: Route = { kind: 'health' };
const TIME_ROUTE: Route = { kind: 'time' };
const INSTRUMENTS_ROUTE: Route = { kind: 'instruments' };
const READY_ROUTE: Route = { kind: 'ready' };
const METRICS_ROUTE: Route = { kind: 'metrics' };
const ALLOW_GET: Route = { kind: 'method-not-allowed', allow: 'GET' };
const ALLOW_POST: Route = { kind: 'method-not-allowed', allow: 'POST' };
const ALLOW_ORDER: Route = { kind: 'method-not-allowed', allow: 'GET, DELETE, PATCH' };
const ALLOW_ORDERS: Route = { kind: 'method-not-allowed', allow: 'GET, POST, DELETE, PATCH' };
const PLACE_ROUTE: Route = { kind: 'core', op: Operation.PLACE_ORDER, pathOrderId: undefined, okStatus: 201 };
const CANCEL_BY_BODY_ROUTE: Route = { kind: 'core', op: Operation.CANCEL_ORDER, pathOrderId: undefined, okStatus: 200 };
const AMEND_BY_BODY_ROUTE: Route = { kind: 'core', op: Operation.AMEND_ORDER, pathOrderId: undefined, okStatus: 200 };
const MASS_CANCEL_ROUTE: Route = { kind: 'core', op: Operation.MASS_CANCEL, pathOrderId: undefined, okStatus: 200 };
const CANCEL_ALL_AFTER_ROUTE: Route = {
  kind: 'core',
  op: Operation.CANCEL_ALL_AFTER,
  pathOrderId: undefined,
  okStatus: 200,
};
const GET_BY_QUERY_ROUTE: Route = { kind: 'core', op: Operation.GET_ORDER, pathOrderId: undefined, okStatus: 200 };

/** uWS gives the method in lower case. */
function route(method: string, url: string, hasAdmin: boolean, ui: UiRoutes | undefined): Route {
  const uiKind = uiRouteOf(url, ui);
  if (uiKind !== undefined) return method === 'get' ? { kind: uiKind } : ALLOW_GET;
  // /ui/{file} is a GET route: another method is 405 on any file name, as for every documented path.
  if (ui !== undefined && url.startsWith('/ui/')) return method === 'get' ? NOT_FOUND_ROUTE : ALLOW_GET;
  if (url === '/healthz') return method === 'get' ? HEALTH_ROUTE : ALLOW_GET;
  if (url === '/v1/time') return method === 'get' ? TIME_ROUTE : ALLOW_GET;
  if (url === '/readyz') return method === 'get' ? READY_ROUTE : ALLOW_GET;
  if (url === '/metrics') return method === 'get' ? METRICS_ROUTE : ALLOW_GET;
  if (url === '/v1/instruments') return method === 'get' ? INSTRUMENTS_ROUTE : ALLOW_GET;
  if (url === '/v1/orders') {
    // The core's validation requires a path id to be a positive order id, so orders named by a
    // client order id are cancelled and amended here, with the id in the body.
    if (method === 'post') return PLACE_ROUTE;
    if (method === 'get') return GET_BY_QUERY_ROUTE;
    if (method === 'delete') return CANCEL_BY_BODY_ROUTE;
    if (method === 'patch') return AMEND_BY_BODY_ROUTE;
    return ALLOW_ORDERS;
  }
  if (url.startsWith(ORDERS_PREFIX)) {
    const id = url.slice(ORDERS_PREFIX.length);
    if (id === 'cancel-all') return method === 'post' ? MASS_CANCEL_ROUTE : ALLOW_POST;
    if (id === 'cancel-all-after') return method === 'post' ? CANCEL_ALL_AFTER_ROUTE : ALLOW_POST;
    if (id.length === 0 || id.includes('/')) return NOT_FOUND_ROUTE;
    let op: Operation;
    if (method === 'get') op = Operation.GET_ORDER;
    else if (method === 'delete') op = Operation.CANCEL_ORDER;
    else if (method === 'patch') op = Operation.AMEND_ORDER;
    else return ALLOW_ORDER;
    return { kind: 'core', op, pathOrderId: decodeSegment(id), okStatus: 200 };
  }
  if (url.startsWith(ADMIN_PREFIX)) {
    const op = hasAdmin ? ADMIN_ROUTES.get(url.slice(ADMIN_PREFIX.length)) : undefined;
    if (op === undefined) return NOT_FOUND_ROUTE;
    return method === 'post' ? { kind: 'admin', op } : ALLOW_POST;
  }
  return NOT_FOUND_ROUTE;
}

/** The id as the client meant it; a malformed escape is passed on as sent (the core rejects it). */
function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** One request that outlives its handler: body collection, then the core's answer. */
interface Exchange {
  res: HttpResponse;
  aborted: boolean;
  /** Counted in `inflight` until the core answers (or the request ends before reaching it). */
  counted: boolean;
  /** Set once the request went to the core (or was answered by the edge). */
  dispatched: boolean;
  okStatus: number;
  raw: RawRequest | AdminRequest;
  admin: boolean;
  /** Body bytes so far: one buffer sized from Content-Length, or chunks when it is unknown. */
  buf: Uint8Array | undefined;
  chunks: Uint8Array[] | undefined;
  size: number;
}

export class RestGateway {
  private readonly core: GatewayCore;
  private readonly host: string;
  private readonly port: number;
  private readonly log: Log;
  private readonly bodyBytesMax: number;
  private readonly inflightMax: number;
  private readonly admin: ((req: AdminRequest) => Promise<GatewayReply>) | undefined;
  private app: TemplatedApp | undefined;
  private listenSocket: us_listen_socket | undefined;
  private stopped = false;
  /** Removes the secret files written for SSLApp (ops/uws-app.ts); a no-op without TLS. */
  private releaseTls: () => void = () => undefined;
  private inflight = 0;
  /** The user stream's edge, when served. */
  userStream: UserStreamEdge | undefined;

  constructor(private readonly opts: RestGatewayOptions) {
    this.core = opts.core;
    this.host = opts.host;
    this.port = opts.port;
    this.log = opts.log ?? linesLog((line) => console.error(`[rest] ${line}`));
    this.bodyBytesMax = opts.bodyBytesMax ?? REST_BODY_BYTES_MAX_DEFAULT;
    this.inflightMax = opts.inflightMax ?? REST_INFLIGHT_MAX;
    this.admin = opts.admin;
  }

  /** Requests handed to the core (or still sending their body) and not yet answered. */
  get inflightCount(): number {
    return this.inflight;
  }

  /** Listens; resolves with the bound port (the real one when `port` is 0). */
  start(): Promise<number> {
    if (this.app !== undefined) return Promise.reject(new Error('RestGateway already started'));
    const handle = createUwsApp(this.opts.tls);
    this.releaseTls = handle.release;
    const app = handle.app;
    this.app = app;
    if (this.opts.userStream !== undefined) {
      this.userStream = new UserStreamEdge(this.opts.userStream, this.log);
      this.userStream.attach(app);
    }
    app.any('/*', (res, req) => this.onRequest(res, req));
    return new Promise((resolve, reject) => {
      listenExclusive(app, this.host, this.port, (ls) => {
        if (ls === false) {
          reject(new Error(`REST gateway: cannot listen on ${this.host}:${this.port}`));
          return;
        }
        this.listenSocket = ls;
        const port = us_socket_local_port(ls);
        this.log.info('REST listening', { host: this.host, port });
        resolve(port);
      });
    });
  }

  /** Stops listening and closes every connection; answers still pending at the core are dropped. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.userStream?.stop();
    if (this.listenSocket !== undefined) us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    // close() (all sockets of the app) exists in this build but not in the published typings.
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
    const r = route(method, url, this.admin !== undefined, this.opts.ui);
    switch (r.kind) {
      case 'health':
        res.writeStatus('200 OK').writeHeader('content-type', 'text/plain').end('ok');
        return;
      case 'time':
        writeJson(res, 200, timeJson(Date.now(), this.core.receiveWindowMs));
        return;
      case 'ready':
      case 'metrics':
        this.serveOps(res, r.kind, method, url);
        return;
      case 'instruments':
        this.serveInstruments(res);
        return;
      case 'ui-asset':
      case 'ui-config':
      case 'ui-cluster':
        serveUi(
          res,
          r.kind,
          url,
          this.opts.ui!,
          (status, body) => writeJson(res, status, body),
          () => this.stopped,
        );
        return;
      case 'not-found':
        writeJson(res, 404, notFoundJson(method, url));
        return;
      case 'method-not-allowed':
        writeMethodNotAllowed(res, method, url, r.allow);
        return;
      case 'core':
      case 'admin':
        break;
    }

    const contentLength = req.getHeader('content-length');
    const declared = contentLength === '' ? -1 : Number(contentLength);
    if (declared > this.bodyBytesMax) {
      // The rest of the body is never read: close rather than drain it.
      writeJson(res, 413, tooLargeJson(this.bodyBytesMax), undefined, true);
      return;
    }
    if (this.inflight >= this.inflightMax) {
      // A body still to come is parsed and dropped by uWS: the connection stays usable.
      writeJson(res, 503, OVERLOADED_JSON, OVERLOADED_RETRY_AFTER_S);
      return;
    }

    const query = req.getQuery();
    const raw: RawRequest | AdminRequest = {
      op: r.op,
      encoding: 'json',
      body: EMPTY_BODY,
      target: `${method.toUpperCase()} ${query === undefined ? url : `${url}?${query}`}`,
      auth: {
        apiKey: req.getHeader(HEADER_API_KEY),
        timestamp: req.getHeader(HEADER_TIMESTAMP),
        signature: req.getHeader(HEADER_SIGNATURE),
      },
      receivedAtMs: performance.now(),
    };
    if (r.kind === 'core' && r.pathOrderId !== undefined) raw.pathOrderId = r.pathOrderId;
    // Only GetOrder by query reads the query string; elsewhere it is signed (the target) and ignored, as ever.
    if (r === GET_BY_QUERY_ROUTE && query !== undefined && query !== '') (raw as RawRequest).query = query;

    const ex: Exchange = {
      res,
      aborted: false,
      counted: true,
      dispatched: false,
      okStatus: r.kind === 'core' ? r.okStatus : 200,
      raw,
      admin: r.kind === 'admin',
      buf: declared > 0 && Number.isSafeInteger(declared) ? new Uint8Array(declared) : undefined,
      chunks: undefined,
      size: 0,
    };
    this.inflight++;
    res.onAborted(() => {
      ex.aborted = true;
      // Still sending its body: it never reaches the core, so it stops counting now.
      if (!ex.dispatched) this.release(ex);
    });
    res.onData((chunk, isLast) => this.onData(ex, chunk, isLast));
  }

  /**
   * GET /v1/instruments: no authentication, no body; counted in `inflight` like order entry (it
   * waits for the replicas), so a flood is refused OVERLOADED at the same limit.
   */
  private serveInstruments(res: HttpResponse): void {
    if (this.inflight >= this.inflightMax) {
      writeJson(res, 503, OVERLOADED_JSON, OVERLOADED_RETRY_AFTER_S);
      return;
    }
    this.inflight++;
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const done = (reply: GatewayReply): void => {
      this.inflight--;
      if (aborted || this.stopped) return;
      res.cork(() =>
        reply.ok ? writeJson(res, 200, JSON.stringify(reply.body)) : writeError(res, reply.error, undefined),
      );
    };
    let p: Promise<GatewayReply>;
    try {
      p = this.core.listInstruments();
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(done, (err: unknown) => {
      this.log.error('ListInstruments failed: answered INTERNAL', { stack: errorStack(err) });
      done({ ok: false, error: gatewayError(ErrorCode.INTERNAL, ErrorReason.INTERNAL, 'internal error') });
    });
  }

  /** GET /readyz and /metrics: answered asynchronously, outside the order-entry accounting. */
  private serveOps(res: HttpResponse, kind: 'ready' | 'metrics', method: string, url: string): void {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const answer = (status: number, contentType: string, body: string) => {
      if (aborted || this.stopped) return;
      res.cork(() => res.writeStatus(statusLine(status)).writeHeader('content-type', contentType).end(body));
    };
    if (kind === 'metrics') {
      if (this.opts.metrics === undefined) {
        answer(404, JSON_TYPE, notFoundJson(method, url));
        return;
      }
      this.opts.metrics().then(
        (m) => answer(200, m.contentType, m.body),
        (err: unknown) =>
          answer(
            500,
            JSON_TYPE,
            errorBody(gatewayError(ErrorCode.INTERNAL, ErrorReason.INTERNAL, `metrics: ${String(err)}`)),
          ),
      );
      return;
    }
    (this.opts.ready ?? (() => Promise.resolve({ ready: true })))().then(
      (r) => answer(r.ready ? 200 : 503, JSON_TYPE, JSON.stringify(r)),
      (err: unknown) => answer(503, JSON_TYPE, JSON.stringify({ ready: false, error: String(err) })),
    );
  }

  private onData(ex: Exchange, chunk: ArrayBuffer, isLast: boolean): void {
    if (ex.aborted || ex.dispatched) return;
    const n = chunk.byteLength;
    if (ex.size + n > this.bodyBytesMax) {
      // Chunked body (no Content-Length) that grew past the limit.
      ex.dispatched = true;
      this.release(ex);
      if (!this.stopped) ex.res.cork(() => writeJson(ex.res, 413, tooLargeJson(this.bodyBytesMax), undefined, true));
      return;
    }
    if (n > 0) {
      if (ex.buf !== undefined && ex.size + n <= ex.buf.length) ex.buf.set(new Uint8Array(chunk), ex.size);
      else if (isLast && ex.size === 0) ex.buf = new Uint8Array(chunk.slice(0));
      else (ex.chunks ??= []).push(new Uint8Array(chunk.slice(0)));
      ex.size += n;
    }
    if (!isLast) return;
    ex.dispatched = true;
    ex.raw.body = this.body(ex);
    let reply: Promise<GatewayReply>;
    try {
      reply = ex.admin ? this.admin!(ex.raw as AdminRequest) : this.core.handle(ex.raw as RawRequest);
    } catch (err) {
      reply = Promise.reject(err);
    }
    reply.then(
      (rep) => this.answer(ex, rep),
      (err: unknown) => {
        this.log.error('request failed: answered INTERNAL', { op: ex.raw.op, stack: errorStack(err) });
        this.answer(ex, { ok: false, error: gatewayError(ErrorCode.INTERNAL, ErrorReason.INTERNAL, 'internal error') });
      },
    );
  }

  private body(ex: Exchange): Uint8Array {
    if (ex.size === 0) return EMPTY_BODY;
    if (ex.chunks === undefined) {
      // buf sized from Content-Length is exact unless fewer bytes came (uWS does not let that happen).
      return ex.buf!.length === ex.size ? ex.buf! : ex.buf!.subarray(0, ex.size);
    }
    const out = new Uint8Array(ex.size);
    let at = 0;
    if (ex.buf !== undefined) {
      const head = ex.buf.subarray(0, Math.min(ex.buf.length, ex.size));
      out.set(head, 0);
      at = head.length;
    }
    for (const c of ex.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  private release(ex: Exchange): void {
    if (ex.counted) {
      ex.counted = false;
      this.inflight--;
    }
  }

  private answer(ex: Exchange, reply: GatewayReply): void {
    this.release(ex);
    if (ex.aborted || this.stopped) return;
    const res = ex.res;
    if (reply.ok) {
      let json: string;
      try {
        // Exact: a wide instrument's cum_notional above 2^53 is a bigint, written as its digits
        // (JSON.stringify first: a reply without a bigint never pays for the fallback).
        json = jsonStringifyExact(reply.body);
      } catch (err) {
        this.log.error('reply not serializable: answered INTERNAL', { op: ex.raw.op, err: errorMessage(err) });
        res.cork(() => writeJson(res, 500, INTERNAL_JSON));
        return;
      }
      res.cork(() => writeJson(res, ex.okStatus, json, undefined, false, reply.rateLimit));
    } else {
      res.cork(() => writeError(res, reply.error, reply.rateLimit));
    }
  }
}

/** 405 with the path's allowed methods. */
function writeMethodNotAllowed(res: HttpResponse, method: string, url: string, allow: string): void {
  const message = `${method.toUpperCase()} is not allowed on ${url} (allowed: ${allow})`;
  res.writeStatus(statusLine(405)).writeHeader('allow', allow).writeHeader('content-type', JSON_TYPE);
  res.end(errorBody(gatewayError(ErrorCode.METHOD_NOT_ALLOWED, ErrorReason.METHOD_NOT_ALLOWED, message)));
}

function writeError(res: HttpResponse, error: GatewayError, rateLimit: RateLimitState | undefined): void {
  const status = ERROR_STATUS[error.code]?.http ?? 500;
  let retryAfterS: number | undefined;
  if (error.retry_after_ms !== undefined && error.retry_after_ms !== null)
    retryAfterS = retryAfterSeconds(error.retry_after_ms);
  else if (status === 429 || status === 503) retryAfterS = 1;
  writeJson(res, status, errorBody(error), retryAfterS, false, rateLimit);
}

function writeJson(
  res: HttpResponse,
  status: number,
  json: string,
  retryAfterS?: number,
  closeConnection = false,
  rateLimit?: RateLimitState,
): void {
  res.writeStatus(statusLine(status)).writeHeader('content-type', JSON_TYPE);
  if (retryAfterS !== undefined) res.writeHeader('retry-after', String(retryAfterS));
  if (rateLimit !== undefined) for (const [k, v] of rateLimitHeaders(rateLimit)) res.writeHeader(k, v);
  res.end(json, closeConnection);
}
