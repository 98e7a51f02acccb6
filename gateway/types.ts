// The gateway's internal contract: what the protocol edges (REST over uWebSockets.js, gRPC)
// hand to the core and get back. The edges are thin (like undici/fastify adapters): they
// turn a request into a RawRequest, and a GatewayReply into bytes. Everything else —
// authentication, decoding, validation (in worker threads), risk, routing to the shard
// leader, report signing — is the core's (gateway/gateway.ts).
//
// Field names are the protobuf names (snake_case, proto/exchange/v1/order_entry.proto), and
// the REST JSON uses the same names, so one request model serves both edges.

import type { AuthHeaders } from '../api/auth.js';
import type { GatewayError } from '../api/errors.js';
import type { ExecutionReportOut } from '../api/execution-report.js';
import type { RateLimitState } from './rate-limit-headers.js';

/** The unary operations (gRPC method names; REST routes map to them). */
export const Operation = {
  PLACE_ORDER: 'PlaceOrder',
  CANCEL_ORDER: 'CancelOrder',
  AMEND_ORDER: 'AmendOrder',
  MASS_CANCEL: 'MassCancel',
  GET_ORDER: 'GetOrder',
  /** REST dead-man's switch of an API key (`POST /v1/orders/cancel-all-after`). */
  CANCEL_ALL_AFTER: 'CancelAllAfter',
} as const;
export type Operation = (typeof Operation)[keyof typeof Operation];

export interface RawRequest {
  op: Operation;
  /** 'json' for REST bodies, 'protobuf' for gRPC request messages. */
  encoding: 'json' | 'protobuf';
  /** The body as received (the signature covers exactly these bytes). Empty for GET/DELETE. */
  body: Uint8Array;
  /** REST: `POST /v1/orders`, `DELETE /v1/orders/123`…; gRPC: `/exchange.v1.OrderEntryService/PlaceOrder`. */
  target: string;
  /** REST path parameter {id} (order id), if the route has one. */
  pathOrderId?: string;
  /** REST `GET /v1/orders?…` only: the query string (without `?`), GetOrder's fields (`client_order_id=…&symbol=…`). */
  query?: string;
  auth: AuthHeaders;
  /** performance.now() when the edge received the request (the latency trace's first stamp, gateway/trace.ts); default: when the core got it. */
  receivedAtMs?: number;
}

/** A command's result (defined in api/: a refused command's GatewayError carries it too). */
export type { OrderResultOut } from '../api/execution-report.js';

export interface OrderOut {
  order_id: number;
  client_order_id: string;
  account: number;
  symbol: string;
  side: string;
  order_type: string;
  order_status: string;
  price: number;
  stop_price: number;
  order_qty: number;
  cum_qty: number;
  leaves_qty: number;
  display_qty: number;
  time_in_force: string;
  /** The prices and quantities as exact decimal strings in the instrument's display units (api/decimal.ts); set by GetOrder. */
  price_decimal?: string;
  stop_price_decimal?: string;
  order_qty_decimal?: string;
  cum_qty_decimal?: string;
  leaves_qty_decimal?: string;
  display_qty_decimal?: string;
}

/**
 * The reply to a unary request: `body` is the response message as a plain object
 * (PlaceOrderResponse {result}, MassCancelResponse {result, canceled_count},
 * GetOrderResponse {order}); the edge encodes it as JSON or protobuf.
 */
export type GatewayReply = ({ ok: true; body: Record<string, unknown> } | { ok: false; error: GatewayError }) & {
  /** The API key's token bucket after this request (authenticated requests): the edges send it as RateLimit-* headers / metadata. */
  rateLimit?: RateLimitState;
};

/**
 * What a session's automatic cancels (cancel-on-disconnect, dead-man's switch) cancel: the orders
 * this session placed (SESSION), or every order of the account on every shard (ACCOUNT, the default).
 */
export type CancelScope = 'SESSION' | 'ACCOUNT';

/** An authenticated order session (gRPC OrderSession). */
export interface SessionOptions {
  /** Cancel the orders of `cancelScope` when the session ends (stream closed or broken). */
  cancelOnDisconnect: boolean;
  /** Dead-man's switch: cancel the orders of `cancelScope` after this long (ms) without a heartbeat or command; 0 = off. */
  deadManMs: number;
  cancelScope: CancelScope;
}

export interface GatewaySession {
  readonly account: number;
  /**
   * One OrderSessionRequest message (protobuf bytes). Resolves with the OrderSessionResponse
   * as a plain object; replies resolve in the order their requests were submitted.
   */
  submit(body: Uint8Array, receivedAtMs?: number): Promise<Record<string, unknown>>;
  /**
   * Set by the edge: receives unsolicited OrderSessionResponses (request_id 0, `reports` only):
   * reports of the account's orders caused by other accounts' commands (maker fills).
   */
  onUnsolicited: ((reply: Record<string, unknown>) => void) | undefined;
  /**
   * GetOrder for the session's account (GetOrderRequest's fields: order_id, client_order_id,
   * symbol), authenticated by the session (the FIX acceptor's OrderStatusRequest). Optional: the
   * gRPC and REST edges do not use it.
   */
  getOrder?(request: Record<string, unknown>): Promise<GatewayReply>;
  /** The stream ended (either side): cancel-on-disconnect applies. Idempotent. */
  close(): void;
  /**
   * Ends the session as close() does (no more commands; cancel-on-disconnect applies) but keeps
   * handing onUnsolicited exactly the reports it would get open — its own cancel-on-disconnect's
   * included — until close() (the FIX acceptor's parked sessions, fix/README.md). Optional: the
   * gRPC and REST edges do not use it.
   */
  park?(): void;
}

/**
 * A drop copy (the FIX acceptor's drop-copy sessions, Gateway.openDropCopy): every execution
 * report of `accounts` the gateway absorbs after it opened, handed to `onReport` synchronously in
 * the order absorbed (the reports of every account, whoever caused them; unsigned).
 */
export interface DropCopySubscription {
  readonly accounts: ReadonlySet<number>;
  onReport: ((report: ExecutionReportOut) => void) | undefined;
  /** Stops the copy. Idempotent. */
  close(): void;
}

/** What the edges need from the core (gateway/gateway.ts implements it; tests use fakes). */
export interface GatewayCore {
  handle(req: RawRequest): Promise<GatewayReply>;
  /** Authenticates a session from its opening metadata (target = the OrderSession method path, empty body). */
  openSession(auth: AuthHeaders, target: string, opts: SessionOptions): Promise<GatewaySession | GatewayError>;
  /** The receive window of signed requests (ms), for GET /v1/time; absent: the edge answers without it. */
  readonly receiveWindowMs?: number;
  /**
   * ListInstruments / GET /v1/instruments (no authentication): body `{instruments: InstrumentOut[]}`
   * (gateway/instruments.ts), with each instrument's status read from its shard's replicas.
   */
  listInstruments(): Promise<GatewayReply>;
}
