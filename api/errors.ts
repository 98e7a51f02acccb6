// The API's error contract: the codes every edge answers with (the gateway's REST and gRPC
// edges, the query service's), each with its HTTP status and gRPC status; the machine reasons
// that refine them; and the error shape. docs/errors.md is the reference table of every error an
// outside client can get, per edge (test/api/errors-doc.test.ts keeps it and this file equal).
//
// `code` is coarse and stable (what a client switches on to decide retry / fix / give up);
// `reason` is the specific rule, failure or limit, UPPER_SNAKE, stable: a rule the engine also
// checks has the engine's reject reason name (engine/types.ts `Reason`), so a client handles one
// reason whichever of the gateway and the engine caught it; a limit has its constant's name.

import { Reason } from '../engine/types.js';
import type { OrderResultOut } from './execution-report.js';
import { jsonStringifyExact } from './json-exact.js';

/** Error codes with their HTTP status and gRPC status (docs/errors.md lists them all). */
export const ErrorCode = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** Stale or future timestamp, outside the receive window. */
  STALE_REQUEST: 'STALE_REQUEST',
  /** The same signed request seen before within the receive window. */
  REPLAYED_REQUEST: 'REPLAYED_REQUEST',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  NOT_FOUND: 'NOT_FOUND',
  /** The engine refused the command (its reject reason in `reason` and in the report): duplicate client order id, too late to cancel, … */
  ORDER_REJECTED: 'ORDER_REJECTED',
  RISK_MAX_QTY: 'RISK_MAX_QTY',
  RISK_MAX_NOTIONAL: 'RISK_MAX_NOTIONAL',
  RISK_MAX_OPEN_ORDERS: 'RISK_MAX_OPEN_ORDERS',
  RISK_PRICE_BAND: 'RISK_PRICE_BAND',
  ACCOUNT_BLOCKED: 'ACCOUNT_BLOCKED',
  RATE_LIMITED: 'RATE_LIMITED',
  /** A bounded queue of the gateway is full. */
  OVERLOADED: 'OVERLOADED',
  /** No leader reachable for the shard, or the gateway is stopping. */
  UNAVAILABLE: 'UNAVAILABLE',
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  INTERNAL: 'INTERNAL',
  /** REST edges only: a body over the edge's size limit (HTTP 413), answered before it is read. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** REST edges only: a known path with another method (HTTP 405 with Allow). */
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** gRPC status codes (numeric, as in @grpc/grpc-js `status`). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export const ERROR_STATUS: Record<ErrorCode, { http: number; grpc: number }> = {
  INVALID_ARGUMENT: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  UNAUTHENTICATED: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED },
  STALE_REQUEST: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED },
  REPLAYED_REQUEST: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED },
  PERMISSION_DENIED: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED },
  NOT_FOUND: { http: 404, grpc: GrpcStatus.NOT_FOUND },
  ORDER_REJECTED: { http: 409, grpc: GrpcStatus.FAILED_PRECONDITION },
  RISK_MAX_QTY: { http: 403, grpc: GrpcStatus.FAILED_PRECONDITION },
  RISK_MAX_NOTIONAL: { http: 403, grpc: GrpcStatus.FAILED_PRECONDITION },
  RISK_MAX_OPEN_ORDERS: { http: 403, grpc: GrpcStatus.FAILED_PRECONDITION },
  RISK_PRICE_BAND: { http: 403, grpc: GrpcStatus.FAILED_PRECONDITION },
  ACCOUNT_BLOCKED: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED },
  RATE_LIMITED: { http: 429, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  OVERLOADED: { http: 503, grpc: GrpcStatus.UNAVAILABLE },
  UNAVAILABLE: { http: 503, grpc: GrpcStatus.UNAVAILABLE },
  DEADLINE_EXCEEDED: { http: 504, grpc: GrpcStatus.DEADLINE_EXCEEDED },
  INTERNAL: { http: 500, grpc: GrpcStatus.INTERNAL },
  PAYLOAD_TOO_LARGE: { http: 413, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  METHOD_NOT_ALLOWED: { http: 405, grpc: GrpcStatus.UNIMPLEMENTED },
};

/**
 * The machine reasons of the gateway's and the query service's own checks (the engine's reject
 * reasons come on top: ENGINE_REJECT_REASONS). docs/errors.md says, per reason, its code and
 * when it is answered.
 */
export const ErrorReason = {
  // Request shape (INVALID_ARGUMENT)
  MALFORMED_REQUEST: 'MALFORMED_REQUEST',
  UNKNOWN_FIELD: 'UNKNOWN_FIELD',
  FIELD_MISSING: 'FIELD_MISSING',
  FIELD_NOT_ALLOWED: 'FIELD_NOT_ALLOWED',
  FIELD_WRONG_TYPE: 'FIELD_WRONG_TYPE',
  INVALID_INTEGER: 'INVALID_INTEGER',
  /** A *_decimal field that is not a decimal string (api/decimal.ts grammar). */
  INVALID_DECIMAL: 'INVALID_DECIMAL',
  /** More digits after the point than the instrument's price_decimals / quantity_decimals. */
  INVALID_PRICE_PRECISION: 'INVALID_PRICE_PRECISION',
  INVALID_QTY_PRECISION: 'INVALID_QTY_PRECISION',
  INVALID_ENUM_VALUE: 'INVALID_ENUM_VALUE',
  CONFLICTING_FIELDS: 'CONFLICTING_FIELDS',
  INVALID_ORDER_ID: 'INVALID_ORDER_ID',
  AMEND_CHANGES_NOTHING: 'AMEND_CHANGES_NOTHING',
  INVALID_METADATA: 'INVALID_METADATA',
  UNKNOWN_SHARD: 'UNKNOWN_SHARD',
  LOGIN_REQUIRED: 'LOGIN_REQUIRED',
  ALREADY_LOGGED_IN: 'ALREADY_LOGGED_IN',
  RESUME_AHEAD: 'RESUME_AHEAD',
  // Authentication (UNAUTHENTICATED, STALE_REQUEST, REPLAYED_REQUEST)
  AUTH_HEADERS_MISSING: 'AUTH_HEADERS_MISSING',
  UNKNOWN_API_KEY: 'UNKNOWN_API_KEY',
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  TIMESTAMP_INVALID: 'TIMESTAMP_INVALID',
  TIMESTAMP_OUTSIDE_WINDOW: 'TIMESTAMP_OUTSIDE_WINDOW',
  REQUEST_REPLAYED: 'REQUEST_REPLAYED',
  // Permissions (PERMISSION_DENIED)
  ORDER_OF_ANOTHER_ACCOUNT: 'ORDER_OF_ANOTHER_ACCOUNT',
  ACCOUNT_OF_ANOTHER_KEY: 'ACCOUNT_OF_ANOTHER_KEY',
  ADMIN_KEY_NOT_ALLOWED: 'ADMIN_KEY_NOT_ALLOWED',
  NOT_AN_ADMIN_KEY: 'NOT_AN_ADMIN_KEY',
  ACCOUNT_NOT_CONFIGURED: 'ACCOUNT_NOT_CONFIGURED',
  // Pre-trade risk (RISK_*; ACCOUNT_BLOCKED): the account's configured limit
  MAX_ORDER_QTY: 'MAX_ORDER_QTY',
  MAX_NOTIONAL: 'MAX_NOTIONAL',
  MAX_OPEN_ORDERS: 'MAX_OPEN_ORDERS',
  PRICE_BAND: 'PRICE_BAND',
  KILL_SWITCH: 'KILL_SWITCH',
  // Not found (NOT_FOUND)
  ROUTE_NOT_FOUND: 'ROUTE_NOT_FOUND',
  UNKNOWN_ADMIN_OPERATION: 'UNKNOWN_ADMIN_OPERATION',
  // Limits (RATE_LIMITED, OVERLOADED, PAYLOAD_TOO_LARGE): the limit's name
  API_KEY_RATE: 'API_KEY_RATE',
  REST_INFLIGHT_MAX: 'REST_INFLIGHT_MAX',
  REST_BODY_BYTES_MAX: 'REST_BODY_BYTES_MAX',
  REQUEST_BODY_BYTES_MAX: 'REQUEST_BODY_BYTES_MAX',
  SESSION_REQUEST_BYTES_MAX: 'SESSION_REQUEST_BYTES_MAX',
  SESSION_BATCH_COMMANDS_MAX: 'SESSION_BATCH_COMMANDS_MAX',
  DECIMAL_STRING_CHARS_MAX: 'DECIMAL_STRING_CHARS_MAX',
  SHARD_INFLIGHT_MAX: 'SHARD_INFLIGHT_MAX',
  SESSIONS_MAX: 'SESSIONS_MAX',
  SESSION_PENDING_MAX: 'SESSION_PENDING_MAX',
  SESSION_PENDING_BYTES_MAX: 'SESSION_PENDING_BYTES_MAX',
  SESSION_STREAM_QUEUE_MAX: 'SESSION_STREAM_QUEUE_MAX',
  SESSION_LIVE_ORDERS_MAX: 'SESSION_LIVE_ORDERS_MAX',
  VALIDATION_QUEUE_MAX: 'VALIDATION_QUEUE_MAX',
  REPLAY_CACHE_ENTRIES_MAX: 'REPLAY_CACHE_ENTRIES_MAX',
  QUERY_REST_INFLIGHT_MAX: 'QUERY_REST_INFLIGHT_MAX',
  READ_AFTER_WAITERS_MAX: 'READ_AFTER_WAITERS_MAX',
  PUBLIC_RATE_PER_IP: 'PUBLIC_RATE_PER_IP',
  PUBLIC_RATE_TOTAL: 'PUBLIC_RATE_TOTAL',
  USER_STREAM_CONNECTIONS_MAX: 'USER_STREAM_CONNECTIONS_MAX',
  USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX: 'USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX',
  // Availability (UNAVAILABLE, DEADLINE_EXCEEDED), consistency (NOT_YET_CONSISTENT)
  GATEWAY_STOPPING: 'GATEWAY_STOPPING',
  SESSION_CLOSED: 'SESSION_CLOSED',
  NO_LEADER: 'NO_LEADER',
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  OUTCOME_UNKNOWN: 'OUTCOME_UNKNOWN',
  RESULT_NOT_HELD: 'RESULT_NOT_HELD',
  NO_REPLICA_ANSWERED: 'NO_REPLICA_ANSWERED',
  DEADLINE_PASSED: 'DEADLINE_PASSED',
  DEADLINE_PASSED_ON_ARRIVAL: 'DEADLINE_PASSED_ON_ARRIVAL',
  READ_AFTER_WAIT: 'READ_AFTER_WAIT',
  // Anything else (INTERNAL, METHOD_NOT_ALLOWED)
  INTERNAL: 'INTERNAL',
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
} as const;
export type OwnReason = (typeof ErrorReason)[keyof typeof ErrorReason];

/** An engine reject reason's name: the reason of ORDER_REJECTED (and of the rules the gateway checks early). */
export type EngineReason = Exclude<keyof typeof Reason, 'NONE'>;

/**
 * The engine's reasons a command can be refused with: every Reason below CANCELED_BY_USER (the
 * ones from there on say why an accepted order stopped working, on its reports).
 */
export const ENGINE_REJECT_REASONS: readonly EngineReason[] = (Object.keys(Reason) as (keyof typeof Reason)[]).filter(
  (n): n is EngineReason => Reason[n] > Reason.NONE && Reason[n] < Reason.CANCELED_BY_USER,
);

export type ErrorReason = OwnReason | EngineReason;

/** ErrorInfo.domain of every error (gRPC `google.rpc.ErrorInfo`). */
export const ERROR_DOMAIN = 'matchbook.exchange';

export interface GatewayError {
  code: ErrorCode;
  /** The specific rule, failure or limit (ErrorReason). */
  reason: ErrorReason;
  message: string;
  /** RATE_LIMITED / OVERLOADED / UNAVAILABLE: when to retry (REST: Retry-After header, rounded up to seconds). */
  retry_after_ms?: number;
  /** The (global) order id the error concerns, when there is one. */
  order_id?: number;
  /** The command's sequence number in its shard, when it was sequenced (engine rejects). */
  seq?: number;
  /** The request field (or metadata key) at fault, for request-shape errors. */
  field?: string;
  /**
   * A command the engine refused after sequencing (ORDER_REJECTED, NOT_FOUND with a seq): what
   * it did, as a success's `result` would say — seq, log index, shard and the requester's
   * execution reports (a refused order's REJECTED report, signed and chained like any report;
   * none for a refused cancel or amend). REST: `result` in the body; gRPC: an
   * exchange.v1.OrderResult in the status details; OrderSession: `Error.result`.
   */
  result?: OrderResultOut;
}

/** The error object of a reject. */
export function gatewayError(
  code: ErrorCode,
  reason: ErrorReason,
  message: string,
  extra?: Pick<GatewayError, 'retry_after_ms' | 'order_id' | 'seq' | 'field'>,
): GatewayError {
  return extra === undefined ? { code, reason, message } : { code, reason, message, ...extra };
}

/** Whether a core's answer that is either a GatewayError or something else (a session, a subscription) is the error. */
export function isGatewayError(v: object): v is GatewayError {
  return 'code' in v && 'reason' in v && 'message' in v;
}

/** The JSON error body of the REST edges: `{code, reason, message}` and whichever of retry_after_ms, order_id, seq, field, result apply. */
export function errorBody(e: GatewayError | { code: string; reason: string; message: string }): string {
  const x = e as GatewayError;
  const out: Record<string, unknown> = { code: x.code, reason: x.reason, message: x.message };
  if (x.retry_after_ms !== undefined) out.retry_after_ms = x.retry_after_ms;
  if (x.order_id !== undefined) out.order_id = x.order_id;
  if (x.seq !== undefined) out.seq = x.seq;
  if (x.field !== undefined) out.field = x.field;
  if (x.result !== undefined) out.result = x.result;
  // A refused command's reports may carry a wide instrument's cum_notional (a bigint).
  return jsonStringifyExact(out);
}

/** Every reason an edge of the gateway or the query service can answer with (own and engine reject reasons). */
export const ALL_REASONS: ReadonlySet<string> = new Set<string>([
  ...Object.values(ErrorReason),
  ...ENGINE_REJECT_REASONS,
]);
