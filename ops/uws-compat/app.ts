// uWS TemplatedApp over node:http (App) or node:https (SSLApp) and the `ws` package: routes,
// WebSocket routes with their upgrade/open/message/drain/close handlers and limits, topics,
// listen and close. An upgrade request goes to the WebSocket route of its path (its upgrade
// handler, or a plain upgrade without one); with none, or when it is not a WebSocket upgrade,
// to the HTTP routes like any GET. `ws` checks the handshake itself: a malformed one (no key, a
// bad version) is answered 400 and closed, never thrown.

import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type {
  AppOptions,
  HttpRequest,
  HttpResponse,
  RecognizedString,
  TemplatedApp,
  us_listen_socket,
  us_socket_context_t,
  WebSocketBehavior,
} from 'uWebSockets.js';
import { WebSocketServer } from 'ws';
import { toText } from './bytes.js';
import { CompatHttpRequest } from './http-request.js';
import { CompatHttpResponse, CompatUpgradeResponse } from './http-response.js';
import {
  COMPAT_HTTP_HEADER_BYTES_MAX,
  COMPAT_HTTP_IDLE_TIMEOUT_MS,
  COMPAT_HTTP_REQUEST_TIMEOUT_MS,
  COMPAT_HTTP_REQUESTS_PER_CONNECTION_MAX,
  COMPAT_HTTP_TIMEOUT_CHECK_MS,
} from './limits.js';
import { FrameLengthGuard } from './frame-guard.js';
import { parseRawHead } from './raw-head.js';
import { Router } from './router.js';
import { CompatWebSocket, TopicRegistry } from './websocket.js';

type HttpHandler = (res: HttpResponse, req: HttpRequest) => void | Promise<void>;
type ListenCb = (ls: us_listen_socket | false) => void | Promise<void>;

const CONTEXT = {} as us_socket_context_t;
/** uWS's default maxPayloadLength (bytes) when a route sets none. */
const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024;
/** uWS's default idleTimeout (s) when a route sets none. */
const DEFAULT_IDLE_TIMEOUT_S = 120;

/** What us_socket_local_port and us_listen_socket_close get: the listening server. */
export class CompatListenSocket {
  constructor(
    readonly server: http.Server,
    readonly port: number,
  ) {}
}

/** One WebSocket route: its behaviour, its `ws` server (handshakes only) and its open sockets. */
class WsRoute {
  readonly wss: WebSocketServer;
  readonly open = new Set<CompatWebSocket<unknown>>();
  private readonly maxPayloadBytes: number;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;

  constructor(
    readonly behavior: WebSocketBehavior<unknown>,
    private readonly topics: TopicRegistry,
  ) {
    this.maxPayloadBytes = behavior.maxPayloadLength ?? DEFAULT_MAX_PAYLOAD_BYTES;
    // Compression off, as uWS's default (DISABLED): matchbook sets none.
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.maxPayloadBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.idleMs = (behavior.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_S) * 1000;
  }

  /** The idle sweep runs only while the route has open sockets (a stopped server holds no timer). */
  private watchIdle(): void {
    if (this.idleMs <= 0) return;
    if (this.open.size > 0 && this.idleTimer === undefined) {
      this.idleTimer = setInterval(() => this.sweepIdle(this.idleMs), Math.max(250, this.idleMs / 4));
      this.idleTimer.unref();
    } else if (this.open.size === 0 && this.idleTimer !== undefined) {
      clearInterval(this.idleTimer);
      this.idleTimer = undefined;
    }
  }

  /** uWS's idle timeout: nothing received for idleTimeout → closed (1006); half-way a ping asks for a pong. */
  private sweepIdle(idleMs: number): void {
    const now = performance.now();
    for (const ws of [...this.open]) {
      const idle = now - ws.lastReceivedMs;
      if (idle >= idleMs) ws.close();
      else if (this.behavior.sendPingsAutomatically !== false && idle >= idleMs / 2 && !ws.pinged) {
        ws.pinged = true;
        ws.ping();
      }
    }
  }

  accept(req: IncomingMessage, socket: Duplex, head: Buffer, userData: unknown): void {
    // Ahead of `ws`'s own listener (which also gets `head` again: ws unshifts it): an oversize frame
    // drops the socket before `ws` could answer 1009.
    const guard = new FrameLengthGuard(this.maxPayloadBytes);
    const watch = (b: Buffer) => {
      if (!guard.feed(b)) socket.destroy();
    };
    socket.on('data', watch);
    this.wss.handleUpgrade(req, socket, head, (client) => {
      const ws = new CompatWebSocket(client, socket, userData, {
        behavior: this.behavior,
        topics: this.topics,
        onGone: (w) => {
          this.open.delete(w);
          this.watchIdle();
        },
      });
      this.open.add(ws);
      this.watchIdle();
      this.behavior.open?.(ws.asUws());
    });
  }

  stop(): void {
    for (const ws of [...this.open]) ws.close();
  }
}

export class CompatApp {
  private readonly httpRoutes = new Router<HttpHandler>();
  private readonly wsRouter = new Router<WsRoute>();
  private readonly wsRoutes: WsRoute[] = [];
  private readonly topics = new TopicRegistry();
  private readonly servers = new Set<http.Server>();

  constructor(private readonly tls: https.ServerOptions | undefined) {}

  private route(method: string, pattern: RecognizedString, handler: HttpHandler): TemplatedApp {
    this.httpRoutes.add(method, toText(pattern), handler);
    return this.asUws();
  }

  get(p: RecognizedString, h: HttpHandler): TemplatedApp {
    return this.route('get', p, h);
  }
  post(p: RecognizedString, h: HttpHandler): TemplatedApp {
    return this.route('post', p, h);
  }
  put(p: RecognizedString, h: HttpHandler): TemplatedApp {
    return this.route('put', p, h);
  }
  del(p: RecognizedString, h: HttpHandler): TemplatedApp {
    return this.route('delete', p, h);
  }
  patch(p: RecognizedString, h: HttpHandler): TemplatedApp {
    return this.route('patch', p, h);
  }
  options(p: RecognizedString, h: HttpHandler): TemplatedApp {
    return this.route('options', p, h);
  }
  head(p: RecognizedString, h: HttpHandler): TemplatedApp {
    return this.route('head', p, h);
  }
  any(p: RecognizedString, h: HttpHandler): TemplatedApp {
    return this.route('any', p, h);
  }

  ws<U>(pattern: RecognizedString, behavior: WebSocketBehavior<U>): TemplatedApp {
    const r = new WsRoute(behavior as WebSocketBehavior<unknown>, this.topics);
    this.wsRoutes.push(r);
    this.wsRouter.add('get', toText(pattern), r);
    return this.asUws();
  }

  publish(topic: RecognizedString, message: RecognizedString, isBinary = false): boolean {
    return this.topics.publish(toText(topic), message, isBinary);
  }

  numSubscribers(topic: RecognizedString): number {
    return this.topics.count(toText(topic));
  }

  /**
   * uWS's forms: (port, cb), (port, options, cb), (host, port, cb), (host, port, options, cb).
   * node:net never sets SO_REUSEPORT, so every listen here is exclusive and `options` (uWS's
   * LIBUS_LISTEN_EXCLUSIVE_PORT) changes nothing.
   */
  listen(a: RecognizedString | number, b: number | ListenCb, c?: number | ListenCb, d?: ListenCb): TemplatedApp {
    const last = [d, c, b].find((x): x is ListenCb => typeof x === 'function')!;
    const [host, port] = typeof a === 'number' ? [undefined, a] : [toText(a), b as number];
    const cb = last;
    const server = this.createServer();
    const failed = () => {
      this.servers.delete(server);
      void cb(false);
    };
    server.once('error', failed);
    server.listen({ host, port }, () => {
      server.off('error', failed);
      // Later server errors (a failing accept) are the connection's, never the process's.
      server.on('error', () => undefined);
      const addr = server.address();
      void cb(new CompatListenSocket(server, typeof addr === 'object' && addr !== null ? addr.port : port));
    });
    return this.asUws();
  }

  private createServer(): http.Server {
    const opts: http.ServerOptions = {
      maxHeaderSize: COMPAT_HTTP_HEADER_BYTES_MAX,
      requestTimeout: COMPAT_HTTP_REQUEST_TIMEOUT_MS,
      headersTimeout: COMPAT_HTTP_IDLE_TIMEOUT_MS,
      keepAliveTimeout: COMPAT_HTTP_IDLE_TIMEOUT_MS,
      connectionsCheckingInterval: COMPAT_HTTP_TIMEOUT_CHECK_MS,
    };
    const onRequest = (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res);
    const server =
      this.tls === undefined
        ? http.createServer(opts, onRequest)
        : https.createServer({ ...opts, ...this.tls }, onRequest);
    server.maxRequestsPerSocket = COMPAT_HTTP_REQUESTS_PER_CONNECTION_MAX;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex) => {
      if (err.code === 'HPE_INVALID_METHOD' && this.onUnknownMethod(err.rawPacket, socket)) return;
      answerClientError(err, socket);
    });
    this.servers.add(server);
    return server;
  }

  private onRequest(msg: IncomingMessage, res: ServerResponse): void {
    const req = new CompatHttpRequest(msg);
    const match = this.httpRoutes.match(req.method, req.url);
    if (match === undefined) {
      res.writeHead(404, { 'content-length': '0' }).end();
      return;
    }
    req.params = match.params;
    this.run(match.handler, new CompatHttpResponse(msg, res).asUws(), req);
  }

  /**
   * A method llhttp does not know (uWS takes any token): the routes answer it on the raw socket,
   * which then closes (raw-head.ts). False when the head cannot be read: a plain 400 then.
   */
  private onUnknownMethod(raw: Buffer | undefined, socket: Duplex): boolean {
    const head = parseRawHead(raw, COMPAT_HTTP_HEADER_BYTES_MAX);
    if (head === undefined) return false;
    socket.on('error', () => undefined);
    this.answerRaw(new CompatHttpRequest(head as unknown as IncomingMessage), socket);
    return true;
  }

  /** A request answered by the HTTP routes on the raw socket (upgrades not ours, unknown methods). */
  private answerRaw(req: CompatHttpRequest, socket: Duplex): void {
    const match = this.httpRoutes.match(req.method, req.url);
    const res = new CompatUpgradeResponse(socket, () => {
      throw new Error('uws-compat: upgrade() on a route that is not a WebSocket route');
    });
    if (match === undefined) {
      res.writeStatus('404 Not Found').end();
      return;
    }
    req.params = match.params;
    this.run(match.handler, res.asUws(), req);
  }

  private onUpgrade(msg: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined); // a reset peer: the close that follows is enough
    const req = new CompatHttpRequest(msg);
    const isWebSocket = (msg.headers.upgrade ?? '').toLowerCase() === 'websocket';
    const wsMatch = isWebSocket ? this.wsRouter.match(req.method, req.url) : undefined;
    if (wsMatch === undefined) {
      // Not ours to upgrade: the HTTP routes answer it like any request (then the connection closes).
      this.answerRaw(req, socket);
      return;
    }
    const route = wsMatch.handler;
    req.params = wsMatch.params;
    const res = new CompatUpgradeResponse(socket, (userData) => route.accept(msg, socket, head, userData));
    const upgrade = route.behavior.upgrade;
    if (upgrade === undefined) {
      res.upgrade({}, '', '', '', CONTEXT);
      return;
    }
    this.run(upgrade as HttpHandler, res.asUws(), req, CONTEXT);
  }

  /** Runs a handler; the request is invalid once it returns (as in uWS). A throw is logged, never rethrown. */
  private run(h: HttpHandler, res: HttpResponse, req: CompatHttpRequest, ctx?: us_socket_context_t): void {
    try {
      const out = (h as (r: HttpResponse, q: HttpRequest, c?: us_socket_context_t) => unknown)(res, req.asUws(), ctx);
      if (out instanceof Promise) out.catch((err: unknown) => reportHandlerError(err));
    } catch (err) {
      reportHandlerError(err);
    } finally {
      req.invalidate();
    }
  }

  /** Closes every listening socket and every connection (HTTP and WebSocket: close handlers run, 1006). */
  close(): void {
    for (const r of this.wsRoutes) r.stop();
    for (const s of this.servers) {
      s.close();
      s.closeAllConnections();
    }
    this.servers.clear();
  }

  asUws(): TemplatedApp {
    return this as unknown as TemplatedApp;
  }
}

/**
 * A handler that throws is a bug in the server; uWS would print it and carry on serving (its C++
 * catches nothing, the exception surfaces as an uncaught one). Here it is printed and the
 * process carries on: no client request may kill a process (every matchbook server also guards
 * its handlers itself).
 */
function reportHandlerError(err: unknown): void {
  console.error('uws-compat: a handler threw:', err);
}

const ANSWER_400 = 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';
const ANSWER_431 = 'HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n';

/**
 * A request node:http cannot take: 431 over COMPAT_HTTP_HEADER_BYTES_MAX, 400 when unparsable;
 * one too slow to arrive (a slowloris) is closed without an answer, as uWS does. Always closed.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code !== 'ERR_HTTP_REQUEST_TIMEOUT' && socket.writable)
    socket.write(err.code === 'HPE_HEADER_OVERFLOW' ? ANSWER_431 : ANSWER_400);
  socket.destroy();
}

export function App(_options?: AppOptions): TemplatedApp {
  return new CompatApp(undefined).asUws();
}

/** uWS takes its PEM as file names; node:https as bytes. A CA means a client certificate is required. */
export function SSLApp(options: AppOptions): TemplatedApp {
  const read = (f: RecognizedString | undefined) => (f === undefined ? undefined : readFileSync(toText(f)));
  const ca = read(options.ca_file_name);
  const passphrase = options.passphrase === undefined ? undefined : toText(options.passphrase);
  return new CompatApp({
    key: read(options.key_file_name),
    cert: read(options.cert_file_name),
    ...(ca !== undefined ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
    ...(passphrase !== undefined ? { passphrase } : {}),
  }).asUws();
}

export function us_socket_local_port(ls: unknown): number {
  return ls instanceof CompatListenSocket ? ls.port : -1;
}

export function us_listen_socket_close(ls: unknown): void {
  if (ls instanceof CompatListenSocket) ls.server.close();
}
