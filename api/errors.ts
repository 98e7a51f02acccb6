// The API's error contract: the codes every edge answers with (the gateway's REST and gRPC
// edges, the query service's), each with its HTTP status and gRPC status, and the error shape.
// gateway/README.md "Errors" lists them with when each is answered.

/** Error codes with their HTTP status and gRPC status (gateway/README.md lists them all). */
export const ErrorCode = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** Stale or future timestamp, outside the receive window. */
  STALE_REQUEST: 'STALE_REQUEST',
  /** The same signed request seen before within the receive window. */
  REPLAYED_REQUEST: 'REPLAYED_REQUEST',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  NOT_FOUND: 'NOT_FOUND',
  /** The engine refused the command (reason in the message and in the report): duplicate client order id, too late to cancel, … */
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
};

export interface GatewayError {
  code: ErrorCode;
  message: string;
  /** RATE_LIMITED / OVERLOADED: when to retry (REST: Retry-After header, rounded up to seconds). */
  retry_after_ms?: number;
}
