// gRPC client of the order entry API (exchange.v1.OrderEntryService), for tests, the CLI and the
// benchmark. Requests and responses are plain objects with the proto field names (snake_case)
// and enum names without their prefix ("BUY", "LIMIT", "GTC"); uint64 values are numbers (the
// API keeps them below 2^53).
//
// Each unary call encodes its request with protobufjs, signs exactly those bytes
// (api/signing.ts; target = the gRPC method path) and sends them with an identity
// serializer, the auth headers in the metadata. An OrderSession is authenticated once, at open
// (signature over the empty body, target = the OrderSession method path); its messages are then
// matched to their replies by request_id.
//
// Errors: a failed call rejects with OrderEntryError (gRPC status `code`, the gateway's
// `errorCode` from `x-mb-error-code`, the machine `reason` and `errorInfo` metadata from the
// google.rpc.Status in `grpc-status-details-bin`, `retryAfterMs`, the API key's `rateLimit`, and
// for a command the engine refused after sequencing its `result` with the REJECTED report).
// DEADLINE_EXCEEDED on a command does not mean it was not executed: check with getOrder before
// resending. docs/errors.md lists every code and reason.

import { grpcChannelCredentials, type GrpcClientTls } from '../../ops/grpc-credentials.js';
import type { KeyObject } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import {
  METADATA_ACCOUNT,
  METADATA_CANCEL_ON_DISCONNECT,
  METADATA_CANCEL_SCOPE,
  METADATA_DEAD_MAN_MS,
  METADATA_ERROR_CODE,
  METADATA_ERROR_REASON,
  METADATA_RETRY_AFTER_MS,
  OrderEntryCodec,
  METADATA_SESSION_NONCE,
  SESSION_METHOD,
  TYPE_URL_ORDER_RESULT,
  sessionTarget,
  methodPath,
} from '../grpc-server.js';
import { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS, MAX_RECEIVE_MESSAGE_BYTES } from '../limits.js';
import { METADATA_STATUS_DETAILS, decodeStatusDetails } from '../../api/grpc-status.js';
import {
  HEADER_RATELIMIT_LIMIT,
  HEADER_RATELIMIT_REMAINING,
  HEADER_RATELIMIT_RESET_MS,
} from '../rate-limit-headers.js';
import { randomBytes } from 'node:crypto';
import {
  HEADER_API_KEY,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  ed25519PrivateKeyFromSeed,
  signRequest,
} from '../../api/signing.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import type { OrderOut, OrderResultOut } from '../types.js';
import type { InstrumentOut } from '../instruments.js';

// ---------------------------------------------------------------------------------------------
// Request and response shapes

// Enum values (unprefixed proto names). The request fields are typed `string` so that callers
// can pass values read from JSON or the command line; the codec rejects unknown names.
export type Side = 'UNSPECIFIED' | 'BUY' | 'SELL';
export type OrderType = 'UNSPECIFIED' | 'LIMIT' | 'MARKET' | 'STOP_MARKET' | 'STOP_LIMIT';
export type TimeInForce = 'UNSPECIFIED' | 'GTC' | 'IOC' | 'FOK' | 'GTD' | 'DAY';
export type PostOnly = 'UNSPECIFIED' | 'REJECT' | 'REPRICE';
export type SelfTradePrevention =
  | 'UNSPECIFIED'
  | 'NONE'
  | 'EXPIRE_TAKER'
  | 'EXPIRE_MAKER'
  | 'EXPIRE_BOTH'
  | 'DECREMENT_AND_CANCEL';

export interface PlaceOrderRequest {
  client_order_id: string;
  symbol: string;
  /** Side */
  side: string;
  /** OrderType */
  order_type: string;
  /** TimeInForce */
  time_in_force?: string;
  price?: number;
  stop_price?: number;
  /** Either quantity or quantity_decimal. */
  quantity?: number;
  expire_time_us?: number;
  /** PostOnly */
  post_only?: string;
  display_quantity?: number;
  /** SelfTradePrevention */
  self_trade_prevention?: string;
  /** Exact decimal strings in display units, instead of their integer fields ("49990.50"; gateway/README.md). */
  price_decimal?: string;
  stop_price_decimal?: string;
  quantity_decimal?: string;
  display_quantity_decimal?: string;
}
export interface CancelOrderRequest {
  order_id?: number;
  client_order_id?: string;
  symbol?: string;
}
export interface AmendOrderRequest {
  order_id?: number;
  orig_client_order_id?: string;
  client_order_id?: string;
  quantity?: number;
  price?: number;
  stop_price?: number;
  symbol?: string;
  quantity_decimal?: string;
  price_decimal?: string;
  stop_price_decimal?: string;
}
export interface MassCancelRequest {
  symbol?: string;
  /** Side; absent or UNSPECIFIED = both sides */
  side?: string;
}
/** By order id, or by client order id (with `symbol` when the exchange has several shards). */
export interface GetOrderRequest {
  order_id?: number;
  client_order_id?: string;
  symbol?: string;
}
/** Dead-man's switch of the calling API key: 0 disarms. */
export interface CancelAllAfterRequest {
  timeout_ms: number;
}

// Responses are decoded plain objects: every scalar present (proto3 defaults), absent
// sub-messages omitted. `result` and `order` have the gateway's shapes, OrderResultOut and
// OrderOut (gateway/types.ts; REST's JSON is the same).
/** PlaceOrderResponse, CancelOrderResponse, AmendOrderResponse. */
export interface OrderResultResponse {
  result: OrderResultOut;
}
export interface MassCancelResponse {
  result: OrderResultOut;
  canceled_count: number;
}
export interface GetOrderResponse {
  order: OrderOut;
}
export interface ListInstrumentsResponse {
  instruments: InstrumentOut[];
}

/** Both ms since the Unix epoch; trigger_time_ms 0 = disarmed. */
export interface CancelAllAfterResponse {
  current_time_ms: number;
  trigger_time_ms: number;
}

/** Exactly one of the keys. */
export type SessionCommand =
  | { place: PlaceOrderRequest }
  | { cancel: CancelOrderRequest }
  | { amend: AmendOrderRequest }
  | { mass_cancel: MassCancelRequest };

export interface OrderSessionRequest {
  /** The client's own numbering; echoed in the response. Unique among the session's pending requests. */
  request_id: number;
  /** A batch, applied in this order (SessionCommand objects; checked when encoded). */
  commands?: ReadonlyArray<SessionCommand | Record<string, unknown>>;
  heartbeat?: boolean;
}
/**
 * An OrderSession error (proto `Error`): the code, the machine reason, and (0 / "" when not
 * applicable) order id, seq, field; `result` for a command the engine refused after sequencing.
 */
export interface ErrorOut {
  code: string;
  reason: string;
  message: string;
  retry_after_ms: number;
  order_id: number;
  seq: number;
  field: string;
  result?: OrderResultOut;
}
export interface CommandOutcome {
  result?: OrderResultOut;
  error?: ErrorOut;
}
export interface OrderSessionResponse {
  request_id: number;
  /** One per command, in order. */
  outcomes: CommandOutcome[];
  /** The whole request was refused. */
  error?: ErrorOut;
  /** Unsolicited messages only (request_id 0): reports of this account's orders caused by other accounts (see onReports). */
  reports?: ExecutionReportOut[];
}

export interface ClientKey {
  key: string;
  hmacSecret?: string;
  /** A key object, or the raw 32-byte seed in base64. */
  ed25519PrivateKey?: KeyObject | string;
}

export interface UnaryCallOptions {
  /** Deadline of the call, ms from now. */
  deadlineMs?: number;
}

export interface SessionOpenOptions {
  /** Cancel all the account's orders when this stream ends (metadata x-mb-cancel-on-disconnect). */
  cancelOnDisconnect?: boolean;
  /** Dead-man's switch: cancel all after this long without a message (metadata x-mb-dead-man-ms). */
  deadManMs?: number;
  /** What both cancel: this session's orders or the account's (metadata x-mb-cancel-on-disconnect-scope; gateway default ACCOUNT). */
  cancelScope?: 'SESSION' | 'ACCOUNT';
  /** Deadline of the whole stream, ms from now (none by default). */
  deadlineMs?: number;
}

export interface OrderEntryGrpcClientOptions {
  /** host:port */
  address: string;
  key: ClientKey;
  /** Extra grpc-js channel options (override the defaults below). */
  channelOptions?: grpc.ChannelOptions;
  /** TLS: the CA (PEM) the gateway's certificate must chain to (and cert/key for mutual TLS); undefined: plaintext. */
  tls?: GrpcClientTls;
}

/** A failed call: gRPC status `code` and `details`; the gateway's error code and retry hint from the trailers. */
export class OrderEntryError extends Error {
  readonly code: number;
  readonly details: string;
  readonly metadata: grpc.Metadata;
  /** x-mb-error-code (an ErrorCode of api/errors.ts), when the gateway set it. */
  readonly errorCode: string | undefined;
  /** retry-after-ms, when set. */
  readonly retryAfterMs: number | undefined;
  /** The machine reason (docs/errors.md): ErrorInfo.reason of grpc-status-details-bin, else x-mb-error-reason. */
  readonly reason: string | undefined;
  /** ErrorInfo.metadata (code, and field, order_id, seq, retry_after_ms when they apply). */
  readonly errorInfo: Record<string, string> | undefined;
  /** The API key's rate-limit state from the trailers (authenticated calls). */
  readonly rateLimit: { limit: number; remaining: number; resetMs: number } | undefined;
  /** A command the engine refused after sequencing: its OrderResult from the status details (the REJECTED report). */
  readonly result: OrderResultOut | undefined;

  constructor(status: { code: number; details: string; metadata?: grpc.Metadata | null }) {
    super(`${grpc.status[status.code] ?? status.code}: ${status.details}`);
    this.name = 'OrderEntryError';
    this.code = status.code;
    this.details = status.details;
    this.metadata = status.metadata ?? new grpc.Metadata();
    const ec = this.metadata.get(METADATA_ERROR_CODE)[0];
    this.errorCode = ec === undefined ? undefined : String(ec);
    const ra = this.metadata.get(METADATA_RETRY_AFTER_MS)[0];
    this.retryAfterMs = ra === undefined ? undefined : Number(String(ra));
    const bin = this.metadata.get(METADATA_STATUS_DETAILS)[0];
    const rich = Buffer.isBuffer(bin) ? decodeStatusDetails(bin) : undefined;
    const er = this.metadata.get(METADATA_ERROR_REASON)[0];
    this.reason = rich?.reason ?? (er === undefined ? undefined : String(er));
    this.errorInfo = rich?.metadata;
    this.result = orderResultOf(rich?.others.find((d) => d.type_url === TYPE_URL_ORDER_RESULT)?.value);
    const limit = this.metadata.get(HEADER_RATELIMIT_LIMIT)[0];
    this.rateLimit =
      limit === undefined
        ? undefined
        : {
            limit: Number(String(limit)),
            remaining: Number(String(this.metadata.get(HEADER_RATELIMIT_REMAINING)[0])),
            resetMs: Number(String(this.metadata.get(HEADER_RATELIMIT_RESET_MS)[0])),
          };
  }
}

/** An OrderResult detail decoded; undefined when absent or not decodable. */
function orderResultOf(bytes: Uint8Array | undefined): OrderResultOut | undefined {
  if (bytes === undefined) return undefined;
  try {
    return OrderEntryCodec.get().decode('OrderResult', bytes) as unknown as OrderResultOut;
  } catch {
    return undefined;
  }
}

const CLIENT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
  'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
};

const identity = (b: Buffer): Buffer => b;
type Plain = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Client

export class OrderEntryGrpcClient {
  private readonly client: grpc.Client;
  private readonly codec = OrderEntryCodec.get();
  private readonly key: { key: string; hmacSecret?: string; ed25519PrivateKey?: KeyObject };
  private readonly sessions = new Set<OrderSessionHandle>();

  constructor(opts: OrderEntryGrpcClientOptions) {
    const k = opts.key;
    this.key = { key: k.key };
    if (k.hmacSecret !== undefined) this.key.hmacSecret = k.hmacSecret;
    if (k.ed25519PrivateKey !== undefined) {
      this.key.ed25519PrivateKey =
        typeof k.ed25519PrivateKey === 'string' ? ed25519PrivateKeyFromSeed(k.ed25519PrivateKey) : k.ed25519PrivateKey;
    }
    if (this.key.hmacSecret === undefined && this.key.ed25519PrivateKey === undefined) {
      throw new Error('OrderEntryGrpcClient: the key needs an hmacSecret or an ed25519PrivateKey');
    }
    this.client = new grpc.Client(opts.address, grpcChannelCredentials(opts.tls), {
      ...CLIENT_CHANNEL_OPTIONS,
      ...opts.channelOptions,
    });
  }

  /** Resolves once the channel is connected (rejects after timeoutMs). */
  waitForReady(timeoutMs = 5_000): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve()));
    });
  }

  placeOrder(req: PlaceOrderRequest, opts?: UnaryCallOptions): Promise<OrderResultResponse> {
    return this.unary('PlaceOrder', 'PlaceOrderRequest', 'PlaceOrderResponse', req, opts);
  }
  cancelOrder(req: CancelOrderRequest, opts?: UnaryCallOptions): Promise<OrderResultResponse> {
    return this.unary('CancelOrder', 'CancelOrderRequest', 'CancelOrderResponse', req, opts);
  }
  amendOrder(req: AmendOrderRequest, opts?: UnaryCallOptions): Promise<OrderResultResponse> {
    return this.unary('AmendOrder', 'AmendOrderRequest', 'AmendOrderResponse', req, opts);
  }
  massCancel(req: MassCancelRequest, opts?: UnaryCallOptions): Promise<MassCancelResponse> {
    return this.unary('MassCancel', 'MassCancelRequest', 'MassCancelResponse', req, opts);
  }
  getOrder(req: GetOrderRequest, opts?: UnaryCallOptions): Promise<GetOrderResponse> {
    return this.unary('GetOrder', 'GetOrderRequest', 'GetOrderResponse', req, opts);
  }
  /** Every instrument with its sizes, limits, band and trading status (the gateway needs no signature for it). */
  listInstruments(opts?: UnaryCallOptions): Promise<ListInstrumentsResponse> {
    return this.unary('ListInstruments', 'ListInstrumentsRequest', 'ListInstrumentsResponse', {}, opts);
  }

  cancelAllAfter(req: CancelAllAfterRequest, opts?: UnaryCallOptions): Promise<CancelAllAfterResponse> {
    return this.unary('CancelAllAfter', 'CancelAllAfterRequest', 'CancelAllAfterResponse', req, opts);
  }

  /** Opens an authenticated OrderSession stream (see OrderSessionHandle). */
  openSession(opts: SessionOpenOptions = {}): OrderSessionHandle {
    const path = methodPath(SESSION_METHOD);
    // A fresh nonce per open is part of the signed target, so two sessions opened in the same
    // millisecond with the same key are not taken for a replay of each other.
    const nonce = randomBytes(12).toString('hex');
    const md = this.signedMetadata(sessionTarget(nonce), new Uint8Array(0));
    md.set(METADATA_SESSION_NONCE, nonce);
    if (opts.cancelOnDisconnect !== undefined)
      md.set(METADATA_CANCEL_ON_DISCONNECT, opts.cancelOnDisconnect ? 'true' : 'false');
    if (opts.deadManMs !== undefined) md.set(METADATA_DEAD_MAN_MS, String(opts.deadManMs));
    if (opts.cancelScope !== undefined) md.set(METADATA_CANCEL_SCOPE, opts.cancelScope);
    const callOpts: grpc.CallOptions = {};
    if (opts.deadlineMs !== undefined) callOpts.deadline = Date.now() + opts.deadlineMs;
    const call = this.client.makeBidiStreamRequest<Buffer, Plain>(
      path,
      identity,
      (b) => this.codec.decode('OrderSessionResponse', b),
      md,
      callOpts,
    );
    const handle = new OrderSessionHandle(call, this.codec, () => this.sessions.delete(handle));
    this.sessions.add(handle);
    return handle;
  }

  /** Cancels the open sessions and closes the channel (pending calls fail with CANCELLED). */
  close(): void {
    for (const s of [...this.sessions]) s.cancel();
    this.client.close();
  }

  private signedMetadata(path: string, body: Uint8Array): grpc.Metadata {
    const h = signRequest(this.key, path, body);
    const md = new grpc.Metadata();
    md.set(HEADER_API_KEY, h.apiKey);
    md.set(HEADER_TIMESTAMP, h.timestamp);
    md.set(HEADER_SIGNATURE, h.signature);
    return md;
  }

  private unary<Res>(
    method: string,
    requestType: string,
    responseType: string,
    req: object,
    opts?: UnaryCallOptions,
  ): Promise<Res> {
    const path = methodPath(method);
    let body: Buffer;
    try {
      body = this.codec.encode(requestType, req as Plain, true);
    } catch (e) {
      return Promise.reject(e);
    }
    const md = this.signedMetadata(path, body);
    const callOpts: grpc.CallOptions = {};
    if (opts?.deadlineMs !== undefined) callOpts.deadline = Date.now() + opts.deadlineMs;
    return new Promise<Res>((resolve, reject) => {
      this.client.makeUnaryRequest<Buffer, Plain>(
        path,
        identity,
        (b) => this.codec.decode(responseType, b),
        body,
        md,
        callOpts,
        (err, value) => {
          if (err) reject(new OrderEntryError(err));
          else resolve(value as Res);
        },
      );
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Session

interface Waiter {
  resolve(r: OrderSessionResponse): void;
  reject(e: Error): void;
}

/**
 * An open OrderSession. `send` resolves with the response of the same request_id (responses
 * come in request order; a response whose request_id is not pending — the gateway answers a
 * request it could not read with request_id 0 — goes to the oldest pending request). `ready` resolves once the gateway has authenticated the session (with
 * the account), `closed` with the stream's final status; when the stream fails, the pending
 * sends reject with OrderEntryError.
 */
export class OrderSessionHandle {
  readonly ready: Promise<{ account: number }>;
  readonly closed: Promise<grpc.StatusObject>;
  private readonly waiting = new Map<number, Waiter>();
  private ended = false;
  private halfClosed = false;
  private final: grpc.StatusObject | null = null;
  private readonly reportListeners: ((reports: ExecutionReportOut[]) => void)[] = [];

  constructor(
    private readonly call: grpc.ClientDuplexStream<Buffer, Plain>,
    private readonly codec: OrderEntryCodec,
    onDone: () => void,
  ) {
    let readyResolve!: (v: { account: number }) => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.ready.catch(() => {}); // observed through `closed` / send() as well
    let closedResolve!: (s: grpc.StatusObject) => void;
    this.closed = new Promise((res) => (closedResolve = res));

    call.on('metadata', (md: grpc.Metadata) => {
      readyResolve({ account: Number(String(md.get(METADATA_ACCOUNT)[0] ?? 'NaN')) });
    });
    call.on('data', (msg: Plain) => {
      const resp = msg as unknown as OrderSessionResponse;
      if (
        resp.request_id === 0 &&
        (resp.reports?.length ?? 0) > 0 &&
        (resp.outcomes?.length ?? 0) === 0 &&
        resp.error == null
      ) {
        // Unsolicited: reports of this account's orders caused by others (fills of resting orders).
        for (const fn of this.reportListeners) fn(resp.reports!);
        return;
      }
      let id = resp.request_id;
      let w = this.waiting.get(id);
      if (w === undefined) {
        // Not a pending id: a request the gateway could not even read the id of answers with
        // request_id 0 and an error (a readable id is always echoed). Replies come in request
        // order, so it is the oldest pending request's.
        const oldest = this.waiting.entries().next();
        if (oldest.done === true) return;
        [id, w] = oldest.value;
      }
      this.waiting.delete(id);
      w.resolve(resp);
    });
    call.on('error', () => {
      // Reported through 'status' (grpc-js emits both for a non-OK status).
    });
    call.on('status', (status: grpc.StatusObject) => {
      this.ended = true;
      this.final = status;
      onDone();
      // Let the replies already received be delivered first.
      setImmediate(() => {
        const err =
          status.code === grpc.status.OK
            ? new OrderEntryError({
                code: grpc.status.UNKNOWN,
                details: 'session ended before the reply',
                metadata: status.metadata,
              })
            : new OrderEntryError(status);
        for (const w of this.waiting.values()) w.reject(err);
        this.waiting.clear();
        readyReject(err);
        closedResolve(status);
      });
    });
  }

  /** Calls fn with every unsolicited batch of reports (fills of this account's resting orders caused by other accounts' orders). */
  onReports(fn: (reports: ExecutionReportOut[]) => void): void {
    this.reportListeners.push(fn);
  }

  /** Requests sent and not yet answered. */
  get pending(): number {
    return this.waiting.size;
  }

  /** Sends one OrderSessionRequest (a batch of commands, a heartbeat, or both). */
  send(req: OrderSessionRequest): Promise<OrderSessionResponse> {
    if (this.ended || this.halfClosed) {
      const s = this.final;
      return Promise.reject(new OrderEntryError(s ?? { code: grpc.status.CANCELLED, details: 'session closed' }));
    }
    if (!Number.isSafeInteger(req.request_id) || req.request_id < 0) {
      return Promise.reject(new TypeError('OrderSession: request_id must be a non-negative safe integer'));
    }
    if (this.waiting.has(req.request_id)) {
      return Promise.reject(new Error(`OrderSession: request_id ${req.request_id} is already pending`));
    }
    let bytes: Buffer;
    try {
      bytes = this.codec.encode('OrderSessionRequest', req as unknown as Plain, true);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<OrderSessionResponse>((resolve, reject) => {
      this.waiting.set(req.request_id, { resolve, reject });
      this.call.write(bytes);
    });
  }

  /** Graceful close: no more requests; the pending ones still get their replies. Resolves with the final status. */
  close(): Promise<grpc.StatusObject> {
    if (!this.ended && !this.halfClosed) {
      this.halfClosed = true;
      this.call.end();
    }
    return this.closed;
  }

  /** Abort: cancels the stream (the gateway closes the session; pending sends reject with CANCELLED). */
  cancel(): void {
    if (!this.ended) this.call.cancel();
  }
}
