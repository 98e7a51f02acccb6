// The market-data edge: uWebSockets.js serving the projector's messages to subscribers.
//
//   WS   /v1/ws[?encoding=json|protobuf][&numbers=units|decimal]
//                                          subscribe / unsubscribe / ping (feed/README.md)
//   GET  /v1/book/:symbol?depth=N[&numbers=units|decimal]
//                                          l2 snapshot with its seq (sync the Binance way)
//   GET  /v1/instruments                   the symbols served, with their price and quantity decimals
//   GET  /healthz                          liveness, counters, the host's info (a replica: id, role)
//
// Fan-out uses uWS topics: one topic per (form, channel, symbol), the forms being JSON with
// integer units, JSON with decimal strings (feed/decimal-form.ts) and protobuf; app.publish()
// encodes a message once per form that has subscribers (numSubscribers) and uWS copies it into
// each subscriber's buffer, so a form nobody reads costs one numSubscribers call per message.
// Nothing here ever waits for a subscriber: publish() only queues, and the queue leaves in
// batches (limits.publishIntervalUsPerConnection): each batch is one write per subscriber, the
// real cost of fan-out (~5–7 µs of kernel and uWS time per write on loopback).
//
// Backpressure, per connection (FeedLimits): a sweep every backpressureCheckMs looks at each
// socket's buffered bytes. Above slowBytesMax the connection is LAGGING: it is unsubscribed
// from its topics (so it stops costing anything and cannot hold much more), and once its
// buffer has drained below resumeBytesMax it gets, per subscription, a `resync` notice and a
// fresh snapshot, and is subscribed again. Lagging longer than slowConsumerTimeoutMs, or more
// than resyncsPerMinuteMax times a minute, closes it with 4008. uWS's own maxBackpressure
// (backpressureBytesMax, larger) only bounds memory between two sweeps; what it drops is
// healed by the resync (and the client sees the gap by seq anyway).
//
// uWS rules followed: a handler never throws into uWS (every callback is guarded), request
// headers and query are read synchronously, every async HTTP answer is corked, sends outside
// a uWS callback (timers, publish) are corked.

import type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  us_listen_socket,
  us_socket_context_t,
  WebSocket,
} from 'uWebSockets.js';
import {
  createUwsApp,
  listenExclusive,
  type UwsTls,
  us_listen_socket_close,
  us_socket_local_port,
} from '../ops/uws-app.js';
import { toDecimalForm, type InstrumentDecimals } from './decimal-form.js';
import { FeedProtoCodec } from './proto-codec.js';
import type { MarketDataProjector } from './projector.js';
import { errorStack, NO_LOG, type Log, type LogFields } from '../ops/log.js';
import {
  CHANNELS,
  Channel,
  FeedCloseCode,
  FeedErrorCode,
  ResyncReason,
  isChannel,
  isDataMessage,
  type ChannelSeq,
  type DataMessage,
  type Encoding,
  type FeedRequest,
  type L2Message,
  type Numbers,
  type ServerMessage,
} from './types.js';

export const FEED_WS_PATH = '/v1/ws';

/** Every limit of the server, units in the names. Defaults below; tests lower some. */
export interface FeedLimits {
  /** Open WebSocket connections; more are refused at the upgrade with 503. */
  connectionsMax: number;
  /** Subscriptions (symbol × channel) per connection. */
  subscriptionsPerConnectionMax: number;
  /** Channels or symbols named in one request. */
  requestItemsMax: number;
  /** Largest client message (bytes); uWS closes the connection (1009) beyond it. */
  clientMessageBytesMax: number;
  /** Client messages per connection per second; beyond, each gets RATE_LIMITED; beyond 4× the connection is closed (4029). */
  clientMessagesPerSecondMax: number;
  /** A connection without a subscription this long after opening is closed (4001). */
  subscribeTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** l2.throttled conflation interval. */
  throttleIntervalMs: number;
  /**
   * Minimum time between two published batches, per open connection (µs), up to
   * publishIntervalMaxMs. A message leaves at the end of the event-loop turn that produced it
   * if the previous batch left at least that long ago, else when that time has passed. Each
   * batch costs one write per subscriber (~5 µs of kernel and uWS time on loopback here, and a
   * read on the subscriber's side), so growing the interval with the number of connections
   * keeps the fan-out's CPU bounded: with 10 µs per connection it stays near half a core
   * whatever the count, at a latency cost of 1 ms per 100 connections; under light load it adds
   * nothing.
   */
  publishIntervalUsPerConnection: number;
  publishIntervalMaxMs: number;
  /** Messages waiting for the next batch at most; beyond, the batch is published at once. */
  publishQueueMax: number;
  /** Buffered bytes above which a connection is lagging (unsubscribed, then resynced). */
  slowBytesMax: number;
  /** A lagging connection is resynced once its buffer is below this. */
  resumeBytesMax: number;
  /** uWS maxBackpressure: beyond it uWS drops messages for the socket (healed by the resync). */
  backpressureBytesMax: number;
  /** Lagging this long: closed (4008). */
  slowConsumerTimeoutMs: number;
  /** Lagging this many times within a minute: closed (4008). */
  resyncsPerMinuteMax: number;
  backpressureCheckMs: number;
  /** uWS idle timeout (s): uWS pings, a client that answers nothing for this long is dropped. */
  idleTimeoutS: number;
  /** Levels per side of GET /v1/book at most (default BOOK_DEPTH_DEFAULT). */
  bookDepthMax: number;
}

export const FEED_LIMITS_DEFAULT: Readonly<FeedLimits> = {
  connectionsMax: 10_000,
  subscriptionsPerConnectionMax: 64,
  requestItemsMax: 32,
  clientMessageBytesMax: 16 * 1024,
  clientMessagesPerSecondMax: 50,
  subscribeTimeoutMs: 5_000,
  heartbeatIntervalMs: 1_000,
  throttleIntervalMs: 100,
  publishIntervalUsPerConnection: 10,
  publishIntervalMaxMs: 10,
  publishQueueMax: 10_000,
  slowBytesMax: 1024 * 1024,
  resumeBytesMax: 64 * 1024,
  backpressureBytesMax: 4 * 1024 * 1024,
  slowConsumerTimeoutMs: 10_000,
  resyncsPerMinuteMax: 10,
  backpressureCheckMs: 50,
  idleTimeoutS: 60,
  bookDepthMax: 5_000,
};
export const BOOK_DEPTH_DEFAULT = 100;

/** An instrument the feed serves, with the decimals of its decimal form (engine/config.ts InstrumentConfig fits). */
export interface FeedInstrument extends InstrumentDecimals {
  symbol: string;
}

export interface FeedServerOptions {
  /** Where snapshots come from and what flushThrottled() drains. */
  projector: MarketDataProjector;
  /** The decimals of every symbol of the projector (for the decimal form and GET /v1/instruments). */
  instruments: readonly FeedInstrument[];
  host: string;
  /** 0: a free port (start() returns it). */
  port: number;
  limits?: Partial<FeedLimits>;
  /** Default: nothing logged. */
  log?: Log;
  /** Enables debugIntercept() (tests only: it alters what one connection receives). */
  debug?: boolean;
  /** Wall clock for heartbeats and pongs, µs. */
  nowUs?: () => number;
  /** Extra fields for GET /healthz (a replica adds its id and role, so clients can pick a follower). */
  info?: () => Record<string, unknown>;
  /** wss:// (uWS SSLApp, ops/uws-app.ts): the cluster file's "feedTls"; undefined: ws://. */
  tls?: UwsTls;
}

interface Sub {
  symbol: string;
  channel: Channel;
}

/** Per-connection state; also the uWS user data. */
interface Conn {
  id: number;
  ws: WebSocket<Conn> | undefined;
  encoding: Encoding;
  /** units or decimal strings; decimal only with the json encoding. */
  numbers: Numbers;
  subs: Map<string, Sub>;
  openedAtMs: number;
  everSubscribed: boolean;
  lagging: boolean;
  lagSinceMs: number;
  lagTimesMs: number[];
  windowStartMs: number;
  windowCount: number;
  closed: boolean;
}

export interface FeedServerStats {
  connectionsOpened: number;
  connectionsRefused: number;
  /** Connections closed, for any reason (by the client, the server or the network). */
  connectionsClosed: number;
  published: number;
  /** Messages times their topic's subscribers at publish time. */
  deliveries: number;
  /** Times a connection started lagging (its buffer passed slowBytesMax, or uWS dropped a send). */
  lagging: number;
  /** Messages sent to one connection (snapshots, replies) that uWS dropped over backpressureBytesMax. */
  dropped: number;
  /** Resync notices sent (each with a fresh snapshot), every reason… */
  resyncs: number;
  /** …of which for a slow consumer (the rest: the source was reset). */
  resyncsSlow: number;
  closedSlow: number;
  closedIdle: number;
  closedRateLimited: number;
  errorsSent: number;
  handlerErrors: number;
}

const subKey = (symbol: string, channel: string) => `${channel}/${symbol}`;
/** The form a connection receives data messages in: its topic prefix (j/ units JSON, d/ decimal JSON, p/ protobuf). */
const formPrefix = (enc: Encoding, numbers: Numbers) =>
  enc === 'protobuf' ? 'p/' : numbers === 'decimal' ? 'd/' : 'j/';
const topicOf = (c: Conn, key: string) => formPrefix(c.encoding, c.numbers) + key;
const NUMBERS_DECIMAL_NEEDS_JSON = 'numbers=decimal needs the json encoding (protobuf carries integer units)';
const TEXT = new TextDecoder('utf-8', { fatal: true });

export class FeedServer {
  readonly limits: FeedLimits;
  readonly stats: FeedServerStats = {
    connectionsOpened: 0,
    connectionsRefused: 0,
    connectionsClosed: 0,
    published: 0,
    deliveries: 0,
    lagging: 0,
    dropped: 0,
    resyncs: 0,
    resyncsSlow: 0,
    closedSlow: 0,
    closedIdle: 0,
    closedRateLimited: 0,
    errorsSent: 0,
    handlerErrors: 0,
  };
  private readonly projector: MarketDataProjector;
  private readonly codec: FeedProtoCodec;
  private readonly log: Log;
  private readonly nowUs: () => number;
  private readonly host: string;
  private readonly portWanted: number;
  private readonly debug: boolean;
  private readonly info: (() => Record<string, unknown>) | undefined;
  /** symbol → channel → [json topic, protobuf topic, decimal json topic] */
  private readonly topics = new Map<string, Record<string, [string, string, string]>>();
  private readonly decimals = new Map<string, InstrumentDecimals>();
  private readonly conns = new Map<number, Conn>();
  private readonly intercepts = new Map<
    string,
    { conn: Conn; afterSeq: number; mutate: (m: DataMessage) => DataMessage | undefined }[]
  >();
  /** Messages of the next batch, in projector order. */
  private queue: DataMessage[] = [];
  private flushTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private lastFlushMs = 0;
  /** Last seq published per subscription key (what heartbeats report). */
  private readonly publishedSeq = new Map<string, number>();
  private app: TemplatedApp | undefined;
  private listenSocket: us_listen_socket | undefined;
  private readonly tls: UwsTls | undefined;
  /** Removes the secret files written for SSLApp (ops/uws-app.ts); a no-op without TLS. */
  private releaseTls: () => void = () => undefined;
  private timers: NodeJS.Timeout[] = [];
  private nextConnId = 1;
  private stopped = false;
  port = 0;

  constructor(opts: FeedServerOptions) {
    this.projector = opts.projector;
    this.limits = { ...FEED_LIMITS_DEFAULT, ...(opts.limits ?? {}) };
    this.log = opts.log ?? NO_LOG;
    this.nowUs = opts.nowUs ?? (() => Date.now() * 1000);
    this.host = opts.host;
    this.portWanted = opts.port;
    this.debug = opts.debug === true;
    this.info = opts.info;
    this.tls = opts.tls;
    this.codec = FeedProtoCodec.get();
    for (const i of opts.instruments)
      this.decimals.set(i.symbol, { priceDecimals: i.priceDecimals, qtyDecimals: i.qtyDecimals });
    for (const s of this.projector.symbols) {
      if (!this.decimals.has(s)) throw new Error(`feed: no decimals given for ${s}`);
      const byChannel: Record<string, [string, string, string]> = {};
      for (const ch of CHANNELS) {
        const k = subKey(s, ch);
        byChannel[ch] = [
          formPrefix('json', 'units') + k,
          formPrefix('protobuf', 'units') + k,
          formPrefix('json', 'decimal') + k,
        ];
      }
      this.topics.set(s, byChannel);
    }
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /**
   * Subscriptions per channel (over all symbols and connections, lagging ones included) and
   * lagging connections, counted now: for metrics, read when scraped, O(subscriptions).
   */
  subscriptionCounts(): { byChannel: Map<Channel, number>; lagging: number } {
    const byChannel = new Map<Channel, number>(CHANNELS.map((ch) => [ch, 0]));
    let lagging = 0;
    for (const c of this.conns.values()) {
      if (c.lagging) lagging++;
      for (const s of c.subs.values()) byChannel.set(s.channel, (byChannel.get(s.channel) ?? 0) + 1);
    }
    return { byChannel, lagging };
  }

  /** One connection's state now (undefined once it is gone): for operators and tests. */
  connection(id: number): { lagging: boolean; closed: boolean; subscriptions: number } | undefined {
    const c = this.conns.get(id);
    return c === undefined ? undefined : { lagging: c.lagging, closed: c.closed, subscriptions: c.subs.size };
  }

  start(): Promise<number> {
    if (this.app !== undefined) return Promise.reject(new Error('FeedServer already started'));
    const L = this.limits;
    const handle = createUwsApp(this.tls);
    this.releaseTls = handle.release;
    const app = handle.app;
    this.app = app;
    app.ws<Conn>(FEED_WS_PATH, {
      maxPayloadLength: L.clientMessageBytesMax,
      maxBackpressure: L.backpressureBytesMax,
      idleTimeout: L.idleTimeoutS,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => this.guardHttp(res, 'upgrade', () => this.onUpgrade(res, req, context)),
      open: (ws) => this.guard('open', () => this.onOpen(ws)),
      message: (ws, message, isBinary) =>
        this.guard('message', () => this.onMessage(ws.getUserData(), message, isBinary)),
      drain: (ws) => this.guard('drain', () => this.onDrain(ws.getUserData())),
      close: (ws) => this.guard('close', () => this.onClose(ws.getUserData())),
    });
    app.get('/v1/book/:symbol', (res, req) => this.guardHttp(res, 'book', () => this.onBook(res, req)));
    app.get('/v1/instruments', (res) => this.guardHttp(res, 'instruments', () => json(res, 200, this.instruments())));
    app.get('/healthz', (res) =>
      this.guardHttp(res, 'healthz', () =>
        json(res, 200, {
          ok: true,
          connections: this.conns.size,
          ...(this.info !== undefined ? { info: this.info() } : {}),
          stats: this.stats,
        }),
      ),
    );
    app.any('/*', (res) =>
      this.guardHttp(res, '404', () => json(res, 404, { code: 'NOT_FOUND', message: 'no such route' })),
    );
    return new Promise((resolve, reject) => {
      listenExclusive(app, this.host, this.portWanted, (ls) => {
        if (ls === false) {
          reject(new Error(`feed: cannot listen on ${this.host}:${this.portWanted}`));
          return;
        }
        this.listenSocket = ls;
        this.port = us_socket_local_port(ls);
        const every = (ms: number, fn: () => void, what: string) => {
          const t = setInterval(() => this.guard(what, fn), ms);
          t.unref();
          this.timers.push(t);
        };
        every(L.throttleIntervalMs, () => this.projector.flushThrottled((m) => this.publish(m)), 'throttle');
        every(L.heartbeatIntervalMs, () => this.heartbeat(), 'heartbeat');
        every(L.backpressureCheckMs, () => this.sweep(), 'sweep');
        this.log.info('feed listening', { host: this.host, port: this.port });
        resolve(this.port);
      });
    });
  }

  /** Stops listening, closes every connection (1001). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer as NodeJS.Timeout);
      clearImmediate(this.flushTimer as NodeJS.Immediate);
      this.flushTimer = undefined;
    }
    this.queue = [];
    if (this.listenSocket !== undefined) us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
    for (const c of [...this.conns.values()]) this.end(c, FeedCloseCode.GOING_AWAY, 'server shutting down');
    this.releaseTls();
  }

  // -------------------------------------------------------------------------------------------
  // Publishing (called by the feed service after every projector flush)
  // -------------------------------------------------------------------------------------------

  /** Queues a message for the next batch (see publishIntervalUsPerConnection); never blocks, never throws. */
  publish(m: DataMessage): void {
    if (this.app === undefined || this.stopped) return;
    this.queue.push(m);
    if (this.queue.length >= this.limits.publishQueueMax) {
      this.flushQueue();
      return;
    }
    if (this.flushTimer === undefined) {
      const wait = this.lastFlushMs + this.publishIntervalMs() - performance.now();
      this.flushTimer = wait <= 0 ? setImmediate(this.flushGuarded) : setTimeout(this.flushGuarded, wait);
    }
  }

  /** The current minimum time between batches (see FeedLimits.publishIntervalUsPerConnection). */
  publishIntervalMs(): number {
    return Math.min(
      this.limits.publishIntervalMaxMs,
      (this.conns.size * this.limits.publishIntervalUsPerConnection) / 1000,
    );
  }

  private readonly flushGuarded = (): void => this.guard('publish', () => this.flushQueue());

  /** Publishes the queued messages in one go: uWS then writes each subscriber's share at once. */
  private flushQueue(): void {
    this.lastFlushMs = performance.now();
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer as NodeJS.Timeout);
      clearImmediate(this.flushTimer as NodeJS.Immediate);
      this.flushTimer = undefined;
    }
    const q = this.queue;
    if (q.length === 0) return;
    this.queue = [];
    for (const m of q) this.publishNow(m);
  }

  private publishNow(m: DataMessage): void {
    const app = this.app;
    if (app === undefined || this.stopped) return;
    const t = this.topics.get(m.symbol)?.[m.channel];
    if (t === undefined) return;
    this.stats.published++;
    this.publishedSeq.set(subKey(m.symbol, m.channel), m.seq);
    const nj = app.numSubscribers(t[0]);
    if (nj > 0) {
      app.publish(t[0], JSON.stringify(m), false);
      this.stats.deliveries += nj;
    }
    const np = app.numSubscribers(t[1]);
    if (np > 0) {
      app.publish(t[1], this.codec.encodeMessage(m), true);
      this.stats.deliveries += np;
    }
    const nd = app.numSubscribers(t[2]);
    if (nd > 0) {
      app.publish(t[2], JSON.stringify(this.decimalForm(m)), false);
      this.stats.deliveries += nd;
    }
    if (this.intercepts.size > 0) this.runIntercepts(m);
  }

  /** The decimal form of a data message (feed/decimal-form.ts), with its instrument's decimals. */
  decimalForm(m: DataMessage): DataMessage<string> {
    return toDecimalForm(m, this.decimals.get(m.symbol)!);
  }

  /** GET /v1/instruments: the symbols, and each with its decimals (what a decimal client parses with). */
  private instruments(): {
    symbols: string[];
    instruments: { symbol: string; price_decimals: number; quantity_decimals: number }[];
  } {
    const symbols = this.projector.symbols;
    return {
      symbols,
      instruments: symbols.map((symbol) => {
        const d = this.decimals.get(symbol)!;
        return { symbol, price_decimals: d.priceDecimals, quantity_decimals: d.qtyDecimals };
      }),
    };
  }

  /** After the projector was rebuilt: every subscription gets a `resync` notice and a fresh snapshot. */
  resyncAll(reason: ResyncReason): void {
    for (const c of this.conns.values()) {
      if (c.lagging || c.ws === undefined || c.subs.size === 0) continue;
      c.ws.cork(() => {
        for (const s of c.subs.values()) this.resyncOne(c, s, reason);
      });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Connections
  // -------------------------------------------------------------------------------------------

  private onUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const enc = req.getQuery('encoding') ?? '';
    const numbers = req.getQuery('numbers') ?? '';
    if (this.stopped || this.conns.size >= this.limits.connectionsMax) {
      this.stats.connectionsRefused++;
      json(res, 503, {
        code: FeedErrorCode.UNAVAILABLE,
        message: `connection limit (${this.limits.connectionsMax}) reached`,
      });
      return;
    }
    if (enc !== '' && enc !== 'json' && enc !== 'protobuf') {
      json(res, 400, { code: FeedErrorCode.BAD_REQUEST, message: 'encoding must be json or protobuf' });
      return;
    }
    if (numbers !== '' && numbers !== 'units' && numbers !== 'decimal') {
      json(res, 400, { code: FeedErrorCode.BAD_REQUEST, message: 'numbers must be units or decimal' });
      return;
    }
    if (numbers === 'decimal' && enc === 'protobuf') {
      json(res, 400, { code: FeedErrorCode.BAD_REQUEST, message: NUMBERS_DECIMAL_NEEDS_JSON });
      return;
    }
    const now = Date.now();
    const conn: Conn = {
      id: this.nextConnId++,
      ws: undefined,
      encoding: enc === 'protobuf' ? 'protobuf' : 'json',
      numbers: numbers === 'decimal' ? 'decimal' : 'units',
      subs: new Map(),
      openedAtMs: now,
      everSubscribed: false,
      lagging: false,
      lagSinceMs: 0,
      lagTimesMs: [],
      windowStartMs: now,
      windowCount: 0,
      closed: false,
    };
    res.upgrade(conn, key, protocol, extensions, context);
  }

  private onOpen(ws: WebSocket<Conn>): void {
    const c = ws.getUserData();
    c.ws = ws;
    this.conns.set(c.id, c);
    this.stats.connectionsOpened++;
  }

  private onClose(c: Conn): void {
    this.stats.connectionsClosed++;
    c.closed = true;
    c.ws = undefined;
    this.conns.delete(c.id);
    for (const [k, list] of this.intercepts) {
      const rest = list.filter((x) => x.conn !== c);
      if (rest.length === 0) this.intercepts.delete(k);
      else this.intercepts.set(k, rest);
    }
  }

  private end(c: Conn, code: number, reason: string): void {
    if (c.closed || c.ws === undefined) return;
    const ws = c.ws;
    c.closed = true;
    ws.end(code, reason);
  }

  /** Encodes a message in the connection's encoding and sends it; a send uWS drops (over maxBackpressure) makes the connection lag. */
  private send(c: Conn, m: ServerMessage): void {
    const ws = c.ws;
    if (ws === undefined || c.closed) return;
    const r =
      c.encoding === 'protobuf'
        ? ws.send(this.codec.encodeMessage(m), true)
        : ws.send(JSON.stringify(c.numbers === 'decimal' && isDataMessage(m) ? this.decimalForm(m) : m), false);
    if (r === 2) {
      this.stats.dropped++;
      if (!c.lagging && c.subs.size > 0) this.startLag(c);
    }
  }

  private error(c: Conn, id: number, code: FeedErrorCode, message: string): void {
    this.stats.errorsSent++;
    this.send(c, { type: 'error', id, code, message });
  }

  // -------------------------------------------------------------------------------------------
  // Requests
  // -------------------------------------------------------------------------------------------

  private onMessage(c: Conn, data: ArrayBuffer, isBinary: boolean): void {
    if (c.closed) return;
    const now = Date.now();
    if (now - c.windowStartMs >= 1000) {
      c.windowStartMs = now;
      c.windowCount = 0;
    }
    c.windowCount++;
    const budget = this.limits.clientMessagesPerSecondMax;
    if (c.windowCount > 4 * budget) {
      this.stats.closedRateLimited++;
      this.end(c, FeedCloseCode.RATE_LIMITED, 'too many requests');
      return;
    }
    if (c.windowCount > budget) {
      this.error(c, 0, FeedErrorCode.RATE_LIMITED, `more than ${budget} requests per second`);
      return;
    }
    let req: unknown;
    try {
      req = isBinary ? this.codec.decodeRequest(new Uint8Array(data)) : JSON.parse(TEXT.decode(data));
    } catch {
      this.error(c, 0, FeedErrorCode.BAD_REQUEST, isBinary ? 'binary frame is not a FeedRequest' : 'not a JSON object');
      return;
    }
    this.onRequest(c, req);
  }

  private onRequest(c: Conn, raw: unknown): void {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      return this.error(c, 0, FeedErrorCode.BAD_REQUEST, 'a request is a JSON object with an op');
    const r = raw as Record<string, unknown>;
    const id = typeof r.id === 'number' && Number.isSafeInteger(r.id) && r.id >= 0 ? r.id : 0;
    if (r.id !== undefined && id !== r.id)
      return this.error(c, 0, FeedErrorCode.BAD_REQUEST, 'id must be a non-negative integer');
    switch (r.op) {
      case 'ping':
        return this.send(c, { type: 'pong', id, ts_us: this.nowUs() });
      case 'subscribe':
      case 'unsubscribe':
        return this.onSubscribe(c, id, r as Partial<FeedRequest> & Record<string, unknown>, r.op === 'subscribe');
      default:
        return this.error(
          c,
          id,
          FeedErrorCode.UNKNOWN_OP,
          `op must be subscribe, unsubscribe or ping, got ${JSON.stringify(r.op)?.slice(0, 40)}`,
        );
    }
  }

  private onSubscribe(
    c: Conn,
    id: number,
    r: Partial<FeedRequest> & Record<string, unknown>,
    subscribe: boolean,
  ): void {
    const L = this.limits;
    const channels = r.channels;
    const symbols = r.symbols;
    if (!Array.isArray(channels) || channels.length === 0 || channels.length > L.requestItemsMax)
      return this.error(
        c,
        id,
        FeedErrorCode.BAD_REQUEST,
        `channels must be an array of 1 to ${L.requestItemsMax} channel names`,
      );
    if (!Array.isArray(symbols) || symbols.length === 0 || symbols.length > L.requestItemsMax)
      return this.error(
        c,
        id,
        FeedErrorCode.BAD_REQUEST,
        `symbols must be an array of 1 to ${L.requestItemsMax} symbols`,
      );
    for (const ch of channels)
      if (!isChannel(ch))
        return this.error(
          c,
          id,
          FeedErrorCode.UNKNOWN_CHANNEL,
          `unknown channel ${JSON.stringify(ch)?.slice(0, 40)} (one of ${CHANNELS.join(', ')})`,
        );
    for (const s of symbols)
      if (typeof s !== 'string' || !this.projector.hasSymbol(s))
        return this.error(c, id, FeedErrorCode.UNKNOWN_SYMBOL, `unknown symbol ${JSON.stringify(s)?.slice(0, 40)}`);
    if (r.no_snapshot !== undefined && typeof r.no_snapshot !== 'boolean')
      return this.error(c, id, FeedErrorCode.BAD_REQUEST, 'no_snapshot must be a boolean');
    const ws = c.ws!;
    if (!subscribe) return this.unsubscribe(c, id, symbols as string[], channels as Channel[]);
    const form = this.requestedForm(c, id, r);
    if (form === undefined) return;
    const pairs: Sub[] = [];
    let added = 0;
    for (const s of symbols as string[]) {
      for (const ch of channels as Channel[]) {
        if (pairs.some((p) => p.symbol === s && p.channel === ch)) continue;
        pairs.push({ symbol: s, channel: ch });
        if (!c.subs.has(subKey(s, ch))) added++;
      }
    }
    if (c.subs.size + added > L.subscriptionsPerConnectionMax)
      return this.error(
        c,
        id,
        FeedErrorCode.TOO_MANY_SUBSCRIPTIONS,
        `at most ${L.subscriptionsPerConnectionMax} subscriptions per connection`,
      );
    [c.encoding, c.numbers] = form;
    c.everSubscribed = true;
    // The snapshot is sent before the topic is joined, all in this synchronous handler: every
    // update published later has a higher seq, none is missed (uWS sends in order).
    this.send(c, {
      type: 'subscribed',
      id,
      connection_id: c.id,
      subscriptions: pairs.map((p) => this.projector.channelSeq(p.symbol, p.channel)),
    });
    for (const p of pairs) {
      const k = subKey(p.symbol, p.channel);
      if (c.lagging) {
        c.subs.set(k, p); // joined, with a snapshot, when it resumes
        continue;
      }
      if (r.no_snapshot !== true) this.send(c, this.projector.snapshot(p.symbol, p.channel));
      if (!c.subs.has(k)) {
        c.subs.set(k, p);
        ws.subscribe(topicOf(c, k));
      }
    }
  }

  /**
   * The form a subscribe asks for with its `encoding` and `numbers` options (the connection's
   * when absent): each may change only while the connection has no subscription (its topics are
   * per form); decimal numbers only with JSON. Answers the error and returns undefined when
   * refused. The caller sets it on the connection once the request is accepted.
   */
  private requestedForm(
    c: Conn,
    id: number,
    r: Partial<FeedRequest> & Record<string, unknown>,
  ): [Encoding, Numbers] | undefined {
    const fail = (code: FeedErrorCode, message: string) => {
      this.error(c, id, code, message);
      return undefined;
    };
    if (r.encoding !== undefined && r.encoding !== 'json' && r.encoding !== 'protobuf')
      return fail(FeedErrorCode.BAD_REQUEST, 'encoding must be json or protobuf');
    if (r.numbers !== undefined && r.numbers !== 'units' && r.numbers !== 'decimal')
      return fail(FeedErrorCode.BAD_REQUEST, 'numbers must be units or decimal');
    const encoding = r.encoding ?? c.encoding;
    const numbers = r.numbers ?? c.numbers;
    if (encoding !== c.encoding && c.subs.size > 0)
      return fail(
        FeedErrorCode.ENCODING_LOCKED,
        'the encoding can change only while the connection has no subscription',
      );
    if (numbers !== c.numbers && c.subs.size > 0)
      return fail(FeedErrorCode.NUMBERS_LOCKED, 'numbers can change only while the connection has no subscription');
    if (numbers === 'decimal' && encoding === 'protobuf')
      return fail(FeedErrorCode.BAD_REQUEST, NUMBERS_DECIMAL_NEEDS_JSON);
    return [encoding, numbers];
  }

  /** Leaves the pairs the connection holds (the others are ignored) and answers with their seqs. */
  private unsubscribe(c: Conn, id: number, symbols: string[], channels: Channel[]): void {
    const ws = c.ws!;
    const removed: ChannelSeq[] = [];
    for (const s of symbols) {
      for (const ch of channels) {
        const k = subKey(s, ch);
        if (!c.subs.delete(k)) continue;
        ws.unsubscribe(topicOf(c, k));
        removed.push(this.projector.channelSeq(s, ch));
      }
    }
    return this.send(c, { type: 'unsubscribed', id, subscriptions: removed });
  }

  // -------------------------------------------------------------------------------------------
  // Backpressure, timeouts, heartbeats
  // -------------------------------------------------------------------------------------------

  private startLag(c: Conn): void {
    const now = Date.now();
    c.lagging = true;
    c.lagSinceMs = now;
    c.lagTimesMs = c.lagTimesMs.filter((t) => now - t < 60_000);
    c.lagTimesMs.push(now);
    this.stats.lagging++;
    for (const k of c.subs.keys()) c.ws!.unsubscribe(topicOf(c, k));
    if (c.lagTimesMs.length > this.limits.resyncsPerMinuteMax)
      this.closeSlow(c, `lagged ${c.lagTimesMs.length} times within a minute`, {
        lagged: c.lagTimesMs.length,
        withinMs: 60_000,
      });
  }

  /** `why` goes to the client in the close frame; `fields` to the log. */
  private closeSlow(c: Conn, why: string, fields: LogFields): void {
    this.stats.closedSlow++;
    this.log.warn('feed: closing a slow connection', { connection: c.id, ...fields });
    this.end(c, FeedCloseCode.SLOW_CONSUMER, `slow consumer: ${why}`);
  }

  private onDrain(c: Conn): void {
    if (c.lagging && !c.closed && c.ws !== undefined && c.ws.getBufferedAmount() <= this.limits.resumeBytesMax)
      this.resume(c);
  }

  /** A lagging connection caught up: per subscription a resync notice and a snapshot, then the topic again. */
  private resume(c: Conn): void {
    c.lagging = false;
    const ws = c.ws!;
    ws.cork(() => {
      for (const [k, s] of c.subs) {
        this.resyncOne(c, s, ResyncReason.SLOW_CONSUMER);
        ws.subscribe(topicOf(c, k));
      }
    });
  }

  private resyncOne(c: Conn, s: Sub, reason: ResyncReason): void {
    this.stats.resyncs++;
    if (reason === ResyncReason.SLOW_CONSUMER) this.stats.resyncsSlow++;
    const snap = this.projector.snapshot(s.symbol, s.channel);
    this.send(c, { type: 'resync', symbol: s.symbol, channel: s.channel, reason, seq: snap.seq });
    this.send(c, snap);
  }

  private sweep(): void {
    const now = Date.now();
    const L = this.limits;
    for (const c of this.conns.values()) {
      const ws = c.ws;
      if (c.closed || ws === undefined) continue;
      if (!c.everSubscribed) {
        if (now - c.openedAtMs >= L.subscribeTimeoutMs) {
          this.stats.closedIdle++;
          this.end(c, FeedCloseCode.SUBSCRIBE_TIMEOUT, `no subscription within ${L.subscribeTimeoutMs} ms`);
        }
        continue;
      }
      if (c.subs.size === 0) continue;
      const buffered = ws.getBufferedAmount();
      if (!c.lagging) {
        if (buffered > L.slowBytesMax) this.startLag(c);
      } else if (buffered <= L.resumeBytesMax) {
        this.resume(c);
      } else if (now - c.lagSinceMs >= L.slowConsumerTimeoutMs) {
        this.closeSlow(c, `${buffered} bytes still buffered after ${L.slowConsumerTimeoutMs} ms`, {
          bufferedBytes: buffered,
          afterMs: L.slowConsumerTimeoutMs,
        });
      }
    }
  }

  private heartbeat(): void {
    const ts = this.nowUs();
    for (const c of this.conns.values()) {
      if (c.closed || c.lagging || c.ws === undefined || c.subs.size === 0) continue;
      const seqs: ChannelSeq[] = [];
      for (const [k, s] of c.subs)
        seqs.push({
          symbol: s.symbol,
          channel: s.channel,
          seq: this.publishedSeq.get(k) ?? this.projector.lastSeq(s.symbol, s.channel),
        });
      c.ws.cork(() => this.send(c, { type: 'heartbeat', ts_us: ts, seqs }));
    }
  }

  // -------------------------------------------------------------------------------------------
  // REST
  // -------------------------------------------------------------------------------------------

  private onBook(res: HttpResponse, req: HttpRequest): void {
    let symbol: string;
    try {
      symbol = decodeURIComponent(req.getParameter(0));
    } catch {
      symbol = '';
    }
    const depthText = req.getQuery('depth') ?? '';
    const numbers = req.getQuery('numbers') ?? '';
    if (!this.projector.hasSymbol(symbol))
      return json(res, 404, {
        code: FeedErrorCode.UNKNOWN_SYMBOL,
        message: `unknown symbol ${JSON.stringify(symbol).slice(0, 40)}`,
      });
    const depth = depthText === '' ? BOOK_DEPTH_DEFAULT : /^\d{1,9}$/.test(depthText) ? Number(depthText) : NaN;
    if (!(depth >= 1 && depth <= this.limits.bookDepthMax))
      return json(res, 400, {
        code: FeedErrorCode.BAD_REQUEST,
        message: `depth must be an integer from 1 to ${this.limits.bookDepthMax}`,
      });
    if (numbers !== '' && numbers !== 'units' && numbers !== 'decimal')
      return json(res, 400, { code: FeedErrorCode.BAD_REQUEST, message: 'numbers must be units or decimal' });
    const book = this.projector.snapshot(symbol, Channel.L2, depth) as L2Message;
    json(res, 200, numbers === 'decimal' ? this.decimalForm(book) : book);
  }

  // -------------------------------------------------------------------------------------------
  // Test hook
  // -------------------------------------------------------------------------------------------

  /**
   * Tests only (constructor option debug): the next message the projector produces on (symbol,
   * channel) reaches connection `connectionId` as `mutate(message)` instead, or not at all when
   * mutate returns undefined. The connection leaves the topic until then (messages still queued
   * from before reach it unchanged), so every other subscriber is unaffected and the client's
   * real gap / checksum handling is exercised.
   */
  debugIntercept(
    connectionId: number,
    symbol: string,
    channel: Channel,
    mutate: (m: DataMessage) => DataMessage | undefined,
  ): void {
    if (!this.debug) throw new Error('feed: debugIntercept needs the debug option');
    const c = this.conns.get(connectionId);
    const k = subKey(symbol, channel);
    if (c === undefined || !c.subs.has(k))
      throw new Error(`feed: connection ${connectionId} is not subscribed to ${k}`);
    c.ws!.unsubscribe(topicOf(c, k));
    const list = this.intercepts.get(k) ?? [];
    list.push({ conn: c, afterSeq: this.projector.lastSeq(symbol, channel), mutate });
    this.intercepts.set(k, list);
  }

  private runIntercepts(m: DataMessage): void {
    const k = subKey(m.symbol, m.channel);
    const list = this.intercepts.get(k);
    if (list === undefined) return;
    const rest = [];
    for (const x of list) {
      const { conn, afterSeq, mutate } = x;
      if (conn.closed || conn.ws === undefined) continue;
      if (m.seq <= afterSeq) {
        // Produced before the hook was set: delivered as is.
        this.send(conn, m);
        rest.push(x);
        continue;
      }
      const out = mutate(structuredClone(m));
      conn.ws.cork(() => {
        if (out !== undefined) this.send(conn, out);
        if (conn.subs.has(k) && !conn.lagging) conn.ws!.subscribe(topicOf(conn, k));
      });
    }
    if (rest.length > 0) this.intercepts.set(k, rest);
    else this.intercepts.delete(k);
  }

  // -------------------------------------------------------------------------------------------

  /** An HTTP handler: as guard(), and a failure before the answer is answered 500 (uWS must get an answer). */
  private guardHttp(res: HttpResponse, what: string, fn: () => void): void {
    let failed = false;
    this.guard(what, () => {
      try {
        fn();
      } catch (err) {
        failed = true;
        throw err;
      }
    });
    if (failed) {
      try {
        json(res, 500, { code: 'INTERNAL', message: 'internal error' });
      } catch {
        // already answered
      }
    }
  }

  /** Runs a uWS callback; an exception is logged and counted, never thrown into uWS or the replica. */
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.stats.handlerErrors++;
      this.log.warn('feed: handler failed (counted, ignored)', { handler: what, stack: errorStack(err) });
    }
  }
}

const STATUS_LINES: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  404: '404 Not Found',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

function json(res: HttpResponse, status: number, body: unknown): void {
  res.cork(() => {
    res
      .writeStatus(STATUS_LINES[status] ?? '500 Internal Server Error')
      .writeHeader('content-type', 'application/json')
      .writeHeader('access-control-allow-origin', '*')
      .end(JSON.stringify(body));
  });
}
