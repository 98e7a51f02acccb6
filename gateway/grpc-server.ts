// The gRPC edge of the gateway: a thin adapter between @grpc/grpc-js and GatewayCore
// (gateway/types.ts), in the spirit of the fastify/undici adapters. It owns no business logic:
// authentication, decoding, validation, risk and routing are the core's.
//
//   * exchange.v1.OrderEntryService (proto/exchange/v1/order_entry.proto), registered with a
//     hand-built service definition: the REQUEST deserializer is the identity (the core verifies
//     the signature over exactly the received bytes and decodes them in worker threads); the
//     RESPONSE serializer encodes the core's plain objects with protobufjs, mapping the API's
//     unprefixed enum strings ("BUY") to the proto enum names ("SIDE_BUY").
//   * ListInstruments → core.listInstruments(), without authentication (public reference data).
//   * Other unary methods → core.handle(RawRequest). A GatewayError becomes the gRPC status of
//     ERROR_STATUS, details `${code}: ${message}`, trailing metadata `x-mb-error-code`,
//     `x-mb-error-reason` (and `retry-after-ms`) for simple clients, and `grpc-status-details-bin`:
//     a google.rpc.Status with ErrorInfo and RetryInfo (AIP-193; api/grpc-status.ts) and, for a
//     command the engine refused after sequencing, its exchange.v1.OrderResult. Every
//     authenticated reply, success or not, carries the API key's rate-limit state in its
//     trailing metadata (rate-limit-headers.ts).
//   * Deadlines: when the call's deadline passes before the core has answered, the call ends with
//     DEADLINE_EXCEEDED (a few ms early, so the reply carries `x-mb-error-code` and reaches the
//     client by its deadline). The command may still execute: as always with gRPC deadlines, a
//     client that sees DEADLINE_EXCEEDED for a command must check the outcome with GetOrder
//     (or its client order id) before resending it. A call whose deadline has already passed on
//     arrival is refused without reaching the core.
//   * OrderSession (bidi): authenticated once at open (core.openSession with the call metadata);
//     then each message (raw bytes) → session.submit, replies written in submission order, at
//     most SESSION_INFLIGHT_MAX messages awaiting replies per stream (reading pauses above it).
//     On client half-close the pending replies are written, then the call ends OK; on cancel,
//     error or end, session.close() (cancel-on-disconnect is the core's).
//   * grpc.health.v1.Health and server reflection v1 / v1alpha (ops/grpc-introspection.ts): health
//     of "" and the service SERVING while running; reflection lists every service served (health
//     and reflection included) and serves exchange/v1/order_entry.proto under that name.
//
// The encoding helpers (OrderEntryCodec) are exported for the client (gateway/client/grpc-client.ts).

import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../api/signing.js';
import { NO_LOG, type Log } from '../ops/log.js';
import { GrpcIntrospection } from '../ops/grpc-introspection.js';
import type { AuthHeaders } from '../api/auth.js';
import {
  ERROR_STATUS,
  ErrorCode,
  ErrorReason,
  GrpcStatus,
  gatewayError,
  type GatewayError,
  isGatewayError,
} from '../api/errors.js';
import { METADATA_STATUS_DETAILS, statusDetailsBin, type AnyDetail } from '../api/grpc-status.js';
import { uint64Wire } from '../api/exact-uint64.js';
import { WireConverters } from './proto-wire.js';
import { rateLimitHeaders, type RateLimitState } from './rate-limit-headers.js';
import { packagePath } from '../ops/package-root.js';
import { grpcServerCredentials } from '../ops/grpc-credentials.js';
import type { TlsSettings } from '../config/tls-config.js';
import {
  Operation,
  type GatewayCore,
  type GatewayReply,
  type GatewaySession,
  type RawRequest,
  type SessionOptions,
} from './types.js';
import {
  DEAD_MAN_MS_MAX,
  SESSION_INFLIGHT_MAX,
  KEEPALIVE_TIME_MS,
  KEEPALIVE_TIMEOUT_MS,
  KEEPALIVE_PERMIT_WITHOUT_CALLS,
  MIN_PING_INTERVAL_MS,
  MAX_RECEIVE_MESSAGE_BYTES,
  MAX_CONCURRENT_STREAMS,
  STOP_GRACE_MS,
  DEADLINE_REPLY_MARGIN_MS,
  SESSION_STREAM_QUEUE_MAX,
  STATUS_DETAILS_RESULT_BYTES_MAX,
} from './limits.js';

// ---------------------------------------------------------------------------------------------
// Constants

/** The include root of the .proto files (imports are relative to it, buf style), under the package root (package-root.ts). */
const PROTO_ROOT = packagePath('proto/');
/** The order-entry contract as clients and reflection name it. */
const ORDER_ENTRY_PROTO_FILE = 'exchange/v1/order_entry.proto';
export const ORDER_ENTRY_PROTO_PATH = packagePath(`proto/${ORDER_ENTRY_PROTO_FILE}`);
export const PROTO_PACKAGE = 'exchange.v1';
export const SERVICE_NAME = 'exchange.v1.OrderEntryService';
export const SESSION_METHOD = 'OrderSession';
/** Public reference data: answered without authentication (gateway/instruments.ts). */
export const LIST_INSTRUMENTS_METHOD = 'ListInstruments';
/** gRPC method path (`/exchange.v1.OrderEntryService/PlaceOrder`): the signing target of gRPC requests. */
/** Metadata of an OrderSession open: a client nonce, part of the signed target (see sessionTarget). */
export const METADATA_SESSION_NONCE = 'x-mb-nonce';

/** The signed target of an OrderSession open: the method path, then `#` and the client's nonce (if any). */
export function sessionTarget(nonce: string): string {
  return nonce === '' ? methodPath(SESSION_METHOD) : `${methodPath(SESSION_METHOD)}#${nonce.slice(0, 64)}`;
}

export function methodPath(method: string): string {
  return `/${SERVICE_NAME}/${method}`;
}

/** Trailing metadata: the gateway's error code (ErrorCode) of a failed call. */
export const METADATA_ERROR_CODE = 'x-mb-error-code';
/** Trailing metadata: the machine reason (ErrorReason, docs/errors.md) of a failed call. */
export const METADATA_ERROR_REASON = 'x-mb-error-reason';
/**
 * google.protobuf.Any type URL of the exchange.v1.OrderResult in the google.rpc.Status details
 * of a command the engine refused after sequencing (its reports, as a success would carry them).
 */
export const TYPE_URL_ORDER_RESULT = 'type.googleapis.com/exchange.v1.OrderResult';
/** Trailing metadata: RATE_LIMITED / OVERLOADED — retry after this many ms. */
export const METADATA_RETRY_AFTER_MS = 'retry-after-ms';
/** OrderSession opening metadata: `true` arms cancel-on-disconnect. */
export const METADATA_CANCEL_ON_DISCONNECT = 'x-mb-cancel-on-disconnect';
/** OrderSession opening metadata: dead-man's switch in ms (0 or absent = off). */
export const METADATA_DEAD_MAN_MS = 'x-mb-dead-man-ms';
/** OrderSession opening metadata: what cancel-on-disconnect and the dead-man's switch cancel, SESSION or ACCOUNT (default). */
export const METADATA_CANCEL_SCOPE = 'x-mb-cancel-on-disconnect-scope';
/** OrderSession response headers (sent once the session is authenticated): the account. */
export const METADATA_ACCOUNT = 'x-mb-account';

export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
  'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
  'grpc.keepalive_permit_without_calls': KEEPALIVE_PERMIT_WITHOUT_CALLS,
  'grpc.http2.min_ping_interval_without_data_ms': MIN_PING_INTERVAL_MS,
  'grpc.http2.min_time_between_pings_ms': MIN_PING_INTERVAL_MS,
  'grpc.max_receive_message_length': MAX_RECEIVE_MESSAGE_BYTES,
  'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS,
};

// ---------------------------------------------------------------------------------------------
// Codec: plain objects (snake_case, unprefixed enum strings) ⇄ protobuf bytes

type Plain = Record<string, unknown>;

interface EnumInfo {
  /** "SIDE_" for Side (from the `*_UNSPECIFIED` zero value); "" if the enum has no such value. */
  prefix: string;
  /** Unprefixed and prefixed names → number. */
  toNumber: Map<string, number>;
}

/**
 * Encodes and decodes the order-entry messages with protobufjs (loaded once, keepCase). Plain
 * objects use the proto field names and enum names WITHOUT their prefix ("BUY", "LIMIT",
 * "PARTIALLY_FILLED"); prefixed names and numbers are accepted too on encode.
 */
export class OrderEntryCodec {
  readonly root: protobuf.Root;
  private readonly types = new Map<string, protobuf.Type>();
  private readonly enums = new Map<protobuf.Enum, EnumInfo>();
  /** The reply path's compiled converters (proto-wire.ts); the strict (client) path walks generically. */
  private readonly converters = new WireConverters((e, v, where) => this.enumNumber(e, v, where));

  constructor(protoPath: string = ORDER_ENTRY_PROTO_PATH) {
    this.root = new protobuf.Root().loadSync(protoPath, { keepCase: true });
    this.root.resolveAll();
  }

  private static shared: OrderEntryCodec | undefined;
  /** The codec of proto/exchange/v1/order_entry.proto, loaded once per process. */
  static get(): OrderEntryCodec {
    return (OrderEntryCodec.shared ??= new OrderEntryCodec());
  }

  /** A message type by its short name (`PlaceOrderRequest`) or full name. */
  type(name: string): protobuf.Type {
    let t = this.types.get(name);
    if (t === undefined) {
      t = this.root.lookupType(name.includes('.') ? name : `${PROTO_PACKAGE}.${name}`);
      this.types.set(name, t);
    }
    return t;
  }

  service(): protobuf.Service {
    return this.root.lookupService(SERVICE_NAME);
  }

  /**
   * Encodes a plain object (Type.fromObject, then encode). Enum strings are mapped to their
   * numbers ('' = the zero value); an unknown enum name throws. `strict` (clients): unknown field names and two members
   * of one oneof throw too, rather than being silently dropped.
   */
  encode(typeName: string, plain: Plain, strict = false): Buffer {
    const type = this.type(typeName);
    const wire = strict ? this.toWire(type, plain, strict, type.name) : this.converters.of(type)(plain);
    // toWire leaves only proto field names with enum numbers and JS numbers, strings, booleans
    // and bytes, which the generated encoder takes as they are; fromObject's second copy is for
    // the clients' (strict) path, where a caller may pass e.g. a decimal string for an int64.
    const bytes = type.encode(strict ? type.fromObject(wire) : wire).finish();
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /**
   * Decodes to a plain object: 64-bit integers exactly (a number up to 2^53 − 1, a bigint above:
   * a wide instrument's cum_notional), enums as unprefixed strings, scalar defaults set, absent
   * sub-messages omitted.
   */
  decode(typeName: string, bytes: Uint8Array): Plain {
    const type = this.type(typeName);
    // longs as strings, then exactLong: `longs: Number` would round a uint64 above 2^53 silently.
    const obj = type.toObject(type.decode(bytes), { longs: String, enums: String, defaults: true, arrays: true });
    return this.fromWire(type, obj);
  }

  private enumInfo(e: protobuf.Enum): EnumInfo {
    let info = this.enums.get(e);
    if (info === undefined) {
      const zero = Object.entries(e.values).find(([, v]) => v === 0)?.[0] ?? '';
      const prefix = zero.endsWith('_UNSPECIFIED') ? zero.slice(0, -'UNSPECIFIED'.length) : '';
      const toNumber = new Map<string, number>();
      for (const [name, num] of Object.entries(e.values)) {
        toNumber.set(name, num);
        if (prefix !== '' && name.startsWith(prefix)) toNumber.set(name.slice(prefix.length), num);
      }
      info = { prefix, toNumber };
      this.enums.set(e, info);
    }
    return info;
  }

  private toWire(type: protobuf.Type, obj: Plain, strict: boolean, where: string): Plain {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new TypeError(`${where}: expected an object for ${type.fullName.slice(1)}`);
    }
    const out: Plain = {};
    for (const key of Object.keys(obj)) {
      const field = type.fields[key];
      if (field === undefined) {
        if (strict) throw new TypeError(`${where}: unknown field "${key}" in ${type.fullName.slice(1)}`);
        continue;
      }
      const v = obj[key];
      if (v === undefined || v === null) continue;
      if (field.repeated) {
        if (!Array.isArray(v)) throw new TypeError(`${where}.${key}: expected an array`);
        // Paths for error messages are built on the strict (client) path only: on the server's
        // reply path a string per field was a measurable share of the gateway's allocations.
        out[key] = v.map((x, i) => this.valueToWire(field, x, strict, strict ? `${where}.${key}[${i}]` : where));
      } else {
        out[key] = this.valueToWire(field, v, strict, strict ? `${where}.${key}` : where);
      }
    }
    if (strict) {
      for (const oneof of type.oneofsArray) {
        const set = oneof.oneof.filter((name) => out[name] !== undefined);
        if (set.length > 1)
          throw new TypeError(`${where}: only one of ${oneof.oneof.join('|')} may be set (got ${set.join(', ')})`);
      }
    }
    return out;
  }

  /** The number of enum value v: a number as it is, '' the zero value, a name (unprefixed or prefixed); else throws. */
  private enumNumber(e: protobuf.Enum, v: unknown, where: string): number {
    if (typeof v === 'number') return v;
    if (v === '') return 0; // unset: the zero (*_UNSPECIFIED) value
    const n = typeof v === 'string' ? this.enumInfo(e).toNumber.get(v) : undefined;
    if (n === undefined) throw new TypeError(`${where}: unknown ${e.name} value ${JSON.stringify(v)}`);
    return n;
  }

  private valueToWire(field: protobuf.Field, v: unknown, strict: boolean, where: string): unknown {
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Enum) return this.enumNumber(rt, v, where);
    if (rt instanceof protobuf.Type) return this.toWire(rt, v as Plain, strict, where);
    if (typeof v === 'bigint') return uint64Wire(v); // a wide cum_notional, exactly
    return v;
  }

  private fromWire(type: protobuf.Type, obj: Plain): Plain {
    for (const key of Object.keys(obj)) {
      const field = type.fields[key];
      const v = obj[key];
      if (field === undefined) continue;
      if (v === null || v === undefined) {
        delete obj[key];
        continue;
      }
      const rt = field.resolvedType;
      if (rt instanceof protobuf.Enum) {
        const strip = (x: unknown): unknown => {
          const { prefix } = this.enumInfo(rt);
          return typeof x === 'string' && prefix !== '' && x.startsWith(prefix) ? x.slice(prefix.length) : x;
        };
        obj[key] = Array.isArray(v) ? v.map(strip) : strip(v);
      } else if (rt instanceof protobuf.Type) {
        obj[key] = Array.isArray(v) ? v.map((x) => this.fromWire(rt, x as Plain)) : this.fromWire(rt, v as Plain);
      } else if (LONG_TYPES.has(field.type)) {
        obj[key] = Array.isArray(v) ? v.map(exactLong) : exactLong(v);
      }
    }
    return obj;
  }
}

/** The proto scalar types protobufjs decodes as Longs (with `longs: String`, as decimal strings). */
const LONG_TYPES: ReadonlySet<string> = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** A 64-bit integer decoded as a decimal string, exactly: a number when it is a safe integer, else a bigint (the Notional rule). */
function exactLong(s: unknown): unknown {
  if (typeof s !== 'string') return s;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : BigInt(s);
}

// ---------------------------------------------------------------------------------------------
// Helpers

function firstString(md: grpc.Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}

/** The auth headers of a call (absent ones as ''; the core answers UNAUTHENTICATED). */
export function authFromMetadata(md: grpc.Metadata): AuthHeaders {
  return {
    apiKey: firstString(md, HEADER_API_KEY) ?? '',
    timestamp: firstString(md, HEADER_TIMESTAMP) ?? '',
    signature: firstString(md, HEADER_SIGNATURE) ?? '',
  };
}

/** Session options from the opening metadata; a GatewayError (INVALID_ARGUMENT) if malformed. */
export function sessionOptionsFromMetadata(md: grpc.Metadata): SessionOptions | GatewayError {
  const cod = firstString(md, METADATA_CANCEL_ON_DISCONNECT);
  let cancelOnDisconnect = false;
  if (cod !== undefined) {
    const s = cod.trim().toLowerCase();
    if (s === 'true' || s === '1') cancelOnDisconnect = true;
    else if (s !== 'false' && s !== '0' && s !== '') {
      return gatewayError(
        ErrorCode.INVALID_ARGUMENT,
        ErrorReason.INVALID_METADATA,
        `${METADATA_CANCEL_ON_DISCONNECT} must be true or false`,
        { field: METADATA_CANCEL_ON_DISCONNECT },
      );
    }
  }
  const dm = firstString(md, METADATA_DEAD_MAN_MS);
  let deadManMs = 0;
  if (dm !== undefined && dm.trim() !== '') {
    // At most a timer's largest delay: Node runs a longer setTimeout after 1 ms, which would cancel every order at once.
    if (!/^\d{1,10}$/.test(dm.trim()) || Number(dm.trim()) > DEAD_MAN_MS_MAX) {
      return gatewayError(
        ErrorCode.INVALID_ARGUMENT,
        ErrorReason.INVALID_METADATA,
        `${METADATA_DEAD_MAN_MS} must be an integer from 0 to ${DEAD_MAN_MS_MAX} (ms)`,
        { field: METADATA_DEAD_MAN_MS },
      );
    }
    deadManMs = Number(dm.trim());
  }
  const scope = (firstString(md, METADATA_CANCEL_SCOPE) ?? '').trim().toUpperCase();
  if (scope !== '' && scope !== 'SESSION' && scope !== 'ACCOUNT')
    return gatewayError(
      ErrorCode.INVALID_ARGUMENT,
      ErrorReason.INVALID_METADATA,
      `${METADATA_CANCEL_SCOPE} must be SESSION or ACCOUNT`,
      { field: METADATA_CANCEL_SCOPE },
    );
  return { cancelOnDisconnect, deadManMs, cancelScope: scope === 'SESSION' ? 'SESSION' : 'ACCOUNT' };
}

/** Adds a rate-limit state to (trailing) metadata. */
export function setRateLimitMetadata(metadata: grpc.Metadata, rateLimit: RateLimitState | undefined): grpc.Metadata {
  if (rateLimit !== undefined) for (const [k, v] of rateLimitHeaders(rateLimit)) metadata.set(k, v);
  return metadata;
}

/**
 * The details of a command the engine refused after sequencing: its OrderResult (the REJECTED
 * report, signed and chained like any), unless over STATUS_DETAILS_RESULT_BYTES_MAX (left out:
 * the trailer must stay within what clients accept) or not encodable (left out, not a crash).
 */
function resultDetails(err: GatewayError): AnyDetail[] {
  if (err.result === undefined) return [];
  let value: Buffer;
  try {
    value = OrderEntryCodec.get().encode('OrderResult', err.result as unknown as Plain);
  } catch {
    return [];
  }
  return value.length > STATUS_DETAILS_RESULT_BYTES_MAX ? [] : [{ type_url: TYPE_URL_ORDER_RESULT, value }];
}

/** The gRPC status of a GatewayError: x-mb-error-code, x-mb-error-reason, retry-after-ms and grpc-status-details-bin trailers. */
export function errorToStatus(err: GatewayError, rateLimit?: RateLimitState): grpc.StatusObject {
  const metadata = setRateLimitMetadata(new grpc.Metadata(), rateLimit);
  const mapped = (ERROR_STATUS as Record<string, { grpc: number } | undefined>)[err.code];
  const code = mapped?.grpc ?? GrpcStatus.INTERNAL;
  const details = `${err.code}: ${err.message}`;
  metadata.set(METADATA_ERROR_CODE, err.code);
  metadata.set(METADATA_ERROR_REASON, err.reason ?? ErrorReason.INTERNAL);
  if (err.retry_after_ms !== undefined)
    metadata.set(METADATA_RETRY_AFTER_MS, String(Math.max(0, Math.ceil(err.retry_after_ms))));
  metadata.set(
    METADATA_STATUS_DETAILS,
    statusDetailsBin(code, details, { ...err, reason: err.reason ?? ErrorReason.INTERNAL }, resultDetails(err)),
  );
  return { code, details, metadata };
}

const STOPPING = gatewayError(ErrorCode.UNAVAILABLE, ErrorReason.GATEWAY_STOPPING, 'gateway stopping');

function deadlineMs(call: { getDeadline(): grpc.Deadline }): number {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : d;
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const UNARY_OPS: ReadonlySet<string> = new Set(Object.values(Operation));

// ---------------------------------------------------------------------------------------------
// OrderSession stream

type SessionCall = grpc.ServerDuplexStream<Buffer, Plain | Buffer>;

interface Pending {
  settled: boolean;
  reply?: Plain;
  error?: unknown;
}

class SessionStream {
  private session: GatewaySession | null = null;
  private readonly queue: Pending[] = [];
  private readPaused = false;
  private writeBlocked = false;
  private inputEnded = false;
  private stopping = false;
  /** The call is over (status sent or cancelled): nothing more is written. */
  private done = false;
  private sessionClosed = false;

  constructor(
    private readonly call: SessionCall,
    private readonly gw: GrpcGateway,
    private readonly core: GatewayCore,
    private readonly codec: OrderEntryCodec,
    private readonly responseType: string,
    private readonly log: Log,
  ) {}

  start(): void {
    const call = this.call;
    call.on('cancelled', () => this.terminate());
    call.on('error', (e) => {
      if (!this.done) this.log.info('grpc: OrderSession stream error', { peer: call.getPeer(), err: errMessage(e) });
      this.terminate();
    });
    call.on('close', () => this.terminate());
    const opts = sessionOptionsFromMetadata(call.metadata);
    if ('code' in opts) {
      this.fail(opts);
      return;
    }
    let opened: Promise<GatewaySession | GatewayError>;
    try {
      const nonce = call.metadata.get(METADATA_SESSION_NONCE)[0];
      opened = this.core.openSession(
        authFromMetadata(call.metadata),
        sessionTarget(typeof nonce === 'string' ? nonce : ''),
        opts,
      );
    } catch (e) {
      opened = Promise.reject(e);
    }
    opened.then(
      (res) => {
        if (isGatewayError(res)) {
          this.fail(res);
          return;
        }
        this.session = res;
        // Unsolicited reports (maker fills) go out after the replies already due, in order.
        res.onUnsolicited = (reply) => {
          if (this.done) return;
          if (this.queue.length >= SESSION_STREAM_QUEUE_MAX) {
            this.fail(
              gatewayError(
                ErrorCode.OVERLOADED,
                ErrorReason.SESSION_STREAM_QUEUE_MAX,
                `session stream: ${this.queue.length} replies and reports not yet sent (client not reading)`,
              ),
            );
            return;
          }
          this.queue.push({ settled: true, reply });
          this.flush();
        };
        if (this.done) {
          this.closeSession(); // the call ended while authenticating
          return;
        }
        if (this.stopping) {
          this.fail(STOPPING);
          return;
        }
        const md = new grpc.Metadata();
        md.set(METADATA_ACCOUNT, String(res.account));
        call.sendMetadata(md);
        call.on('data', (msg: Buffer) => this.onMessage(msg));
        call.on('end', () => {
          this.inputEnded = true;
          this.flush();
        });
      },
      (e) => {
        this.log.error('grpc: openSession failed: answered INTERNAL', { err: errMessage(e) });
        this.fail(gatewayError(ErrorCode.INTERNAL, ErrorReason.INTERNAL, 'session could not be opened'));
      },
    );
  }

  /** Gateway stopping: read no more; end the call with UNAVAILABLE once the pending replies are written. */
  shutdown(): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.session === null) return; // still authenticating: handled when openSession settles
    this.pauseReading();
    this.flush();
  }

  private onMessage(msg: Buffer): void {
    if (this.done || this.session === null || this.stopping) return;
    const receivedAtMs = performance.now();
    const entry: Pending = { settled: false };
    this.queue.push(entry);
    let p: Promise<Plain>;
    try {
      p = this.session.submit(msg, receivedAtMs);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (reply) => {
        entry.settled = true;
        entry.reply = reply;
        this.flush();
      },
      (e) => {
        entry.settled = true;
        entry.error = e;
        this.flush();
      },
    );
    this.updateFlow();
  }

  /** Writes the settled replies at the head of the queue, in submission order. */
  private flush(): void {
    if (this.done) return;
    while (this.queue.length > 0 && this.queue[0]!.settled) {
      const entry = this.queue.shift()!;
      if (entry.error !== undefined || entry.reply === undefined) {
        this.log.error('grpc: OrderSession submit failed: answered INTERNAL', { err: errMessage(entry.error) });
        this.fail(gatewayError(ErrorCode.INTERNAL, ErrorReason.INTERNAL, 'session request failed'));
        return;
      }
      let bytes: Buffer;
      try {
        bytes = this.codec.encode(this.responseType, entry.reply);
      } catch (e) {
        this.log.error('grpc: OrderSession reply not encodable: answered INTERNAL', { err: errMessage(e) });
        this.fail(gatewayError(ErrorCode.INTERNAL, ErrorReason.INTERNAL, 'session reply could not be encoded'));
        return;
      }
      if (!this.call.write(bytes) && !this.writeBlocked) {
        this.writeBlocked = true;
        this.call.once('drain', () => {
          this.writeBlocked = false;
          this.updateFlow();
        });
      }
    }
    if (this.queue.length === 0 && (this.inputEnded || this.stopping)) {
      if (this.stopping) this.fail(STOPPING);
      else this.finishOk();
      return;
    }
    this.updateFlow();
  }

  private updateFlow(): void {
    if (this.done || this.stopping) return;
    if (!this.readPaused && (this.queue.length >= SESSION_INFLIGHT_MAX || this.writeBlocked)) {
      this.pauseReading();
    } else if (this.readPaused && this.queue.length < SESSION_INFLIGHT_MAX / 2 && !this.writeBlocked) {
      this.readPaused = false;
      this.call.resume();
    }
  }

  private pauseReading(): void {
    if (!this.readPaused) {
      this.readPaused = true;
      this.call.pause();
    }
  }

  private finishOk(): void {
    if (this.done) return;
    this.done = true;
    this.call.end();
    this.closeSession();
  }

  /** Ends the call with the status of `err` and closes the session. */
  private fail(err: GatewayError): void {
    if (this.done) return;
    this.done = true;
    this.queue.length = 0;
    // grpc-js's own 'error' listener on server streams turns this into the call's status.
    this.call.emit('error', errorToStatus(err));
    this.closeSession();
  }

  /** The call is over from the outside (cancelled, broken, closed). */
  private terminate(): void {
    this.done = true;
    this.queue.length = 0;
    this.closeSession();
  }

  private closeSession(): void {
    this.gw._sessionEnded(this);
    const s = this.session;
    if (s !== null && !this.sessionClosed) {
      this.sessionClosed = true;
      try {
        s.close();
      } catch (e) {
        this.log.warn('grpc: session.close failed (ignored)', { err: errMessage(e) });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Server

export interface GrpcGatewayOptions {
  core: GatewayCore;
  host: string;
  /** 0 = any free port (start() returns the bound one). */
  port: number;
  /** Default: nothing logged. */
  log?: Log;
  /** stop(): grace period before in-flight calls are cancelled (default STOP_GRACE_MS). */
  stopGraceMs?: number;
  /** TLS on this port (the gateway file's "tls"; health and reflection included); undefined: plaintext. */
  tls?: TlsSettings | undefined;
}

export class GrpcGateway {
  private readonly core: GatewayCore;
  private readonly host: string;
  private readonly port: number;
  private readonly log: Log;
  private readonly stopGraceMs: number;
  private readonly tls: TlsSettings | undefined;
  private readonly codec: OrderEntryCodec;
  private readonly server: grpc.Server;
  private readonly health: GrpcIntrospection;
  private readonly sessions = new Set<SessionStream>();
  private listenPort = 0;
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(opts: GrpcGatewayOptions) {
    this.core = opts.core;
    this.host = opts.host;
    this.port = opts.port;
    this.log = opts.log ?? NO_LOG;
    this.stopGraceMs = opts.stopGraceMs ?? STOP_GRACE_MS;
    this.tls = opts.tls;
    this.codec = OrderEntryCodec.get();
    this.server = new grpc.Server(SERVER_OPTIONS);

    const { definition, implementation } = this.buildService();
    this.server.addService(definition, implementation);

    this.health = new GrpcIntrospection(this.server, {
      protoRoot: PROTO_ROOT,
      files: [ORDER_ENTRY_PROTO_FILE],
      services: [SERVICE_NAME],
    });
  }

  /** Binds and serves; resolves with the bound port. Health turns SERVING. */
  start(): Promise<number> {
    if (this.state !== 'new') return Promise.reject(new Error(`GrpcGateway.start: already ${this.state}`));
    this.state = 'starting';
    const host = this.host.includes(':') && !this.host.startsWith('[') ? `[${this.host}]` : this.host;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host}:${this.port}`, grpcServerCredentials(this.tls), (err, port) => {
        if (err !== null) {
          this.state = 'stopped';
          reject(err);
          return;
        }
        this.listenPort = port;
        this.state = 'running';
        this.setServing(true);
        this.log.info('gRPC listening', { host, port });
        resolve(port);
      });
    });
  }

  /** The bound port (0 before start()). */
  get boundPort(): number {
    return this.listenPort;
  }

  /** Health status of "" and exchange.v1.OrderEntryService: SERVING or NOT_SERVING. */
  setServing(serving: boolean): void {
    this.health.setServing(serving);
  }

  /**
   * Graceful stop: health NOT_SERVING, no new calls; open sessions stop reading, get their pending
   * replies and end with UNAVAILABLE; in-flight unary calls finish. After stopGraceMs whatever is
   * left is cancelled (their sessions are closed).
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'new') {
      this.state = 'stopped';
      this.server.forceShutdown();
      return;
    }
    if (this.state === 'stopping') return;
    this.state = 'stopping';
    this.setServing(false);
    for (const s of [...this.sessions]) s.shutdown();
    await new Promise<void>((resolve) => {
      let finished = false;
      const timer = setTimeout(() => {
        if (finished) return;
        finished = true;
        this.log.warn('grpc: graceful stop timed out: cancelling the remaining calls', { graceMs: this.stopGraceMs });
        this.server.forceShutdown();
        resolve();
      }, this.stopGraceMs);
      this.server.tryShutdown(() => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        resolve();
      });
    });
    this.state = 'stopped';
  }

  /** @internal */
  _sessionEnded(s: SessionStream): void {
    this.sessions.delete(s);
  }

  private buildService(): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
    const definition: Record<string, grpc.MethodDefinition<Buffer, Plain | Buffer>> = {};
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const m of this.codec.service().methodsArray) {
      const path = methodPath(m.name);
      const responseType = m.resolvedResponseType?.fullName.slice(1) ?? `${PROTO_PACKAGE}.${m.responseType}`;
      definition[m.name] = {
        path,
        requestStream: m.requestStream === true,
        responseStream: m.responseStream === true,
        originalName: m.name,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (v: Plain | Buffer) => {
          if (Buffer.isBuffer(v)) return v;
          try {
            return this.codec.encode(responseType, v);
          } catch (e) {
            this.log.error('grpc: reply not encodable', { method: m.name, err: errMessage(e) });
            throw e;
          }
        },
        // Only for clients built from this definition (tests): decode with the codec.
        responseDeserialize: (b: Buffer) => this.codec.decode(responseType, b),
      };
      if (m.name === SESSION_METHOD) {
        implementation[m.name] = (call: SessionCall) => this.handleSession(call, responseType);
      } else if (m.name === LIST_INSTRUMENTS_METHOD) {
        implementation[m.name] = this.listInstrumentsHandler();
      } else if (!m.requestStream && !m.responseStream && UNARY_OPS.has(m.name)) {
        implementation[m.name] = this.unaryHandler(m.name as Operation, path);
      } else {
        throw new Error(`GrpcGateway: no handler for ${SERVICE_NAME}/${m.name}`);
      }
    }
    return { definition, implementation };
  }

  private unaryHandler(op: Operation, target: string): grpc.handleUnaryCall<Buffer, Plain> {
    return (call, callback) => {
      const receivedAtMs = performance.now();
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (reply: GatewayReply): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        if (reply.ok) callback(null, reply.body, setRateLimitMetadata(new grpc.Metadata(), reply.rateLimit));
        else callback(errorToStatus(reply.error, reply.rateLimit));
      };
      call.on('cancelled', () => {
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
      });
      const deadline = deadlineMs(call);
      if (Number.isFinite(deadline)) {
        const left = deadline - Date.now() - DEADLINE_REPLY_MARGIN_MS;
        const expired: GatewayReply = {
          ok: false,
          error: gatewayError(
            ErrorCode.DEADLINE_EXCEEDED,
            ErrorReason.DEADLINE_PASSED,
            'deadline exceeded before the gateway answered; the command may still have executed (check with GetOrder)',
          ),
        };
        if (left <= 0) {
          finish({
            ok: false,
            error: gatewayError(
              ErrorCode.DEADLINE_EXCEEDED,
              ErrorReason.DEADLINE_PASSED_ON_ARRIVAL,
              'deadline already passed on arrival; not executed',
            ),
          });
          return;
        }
        timer = setTimeout(() => finish(expired), left);
      }
      const req: RawRequest = {
        op,
        encoding: 'protobuf',
        body: call.request,
        target,
        auth: authFromMetadata(call.metadata),
        receivedAtMs,
      };
      let p: Promise<GatewayReply>;
      try {
        p = this.core.handle(req);
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then(finish, (e) => {
        this.log.error('grpc: request failed: answered INTERNAL', { op, err: errMessage(e) });
        finish({ ok: false, error: gatewayError(ErrorCode.INTERNAL, ErrorReason.INTERNAL, 'internal error') });
      });
    };
  }

  /**
   * ListInstruments: no authentication (metadata is ignored). The request is an empty message:
   * bytes that do not decode are refused INVALID_ARGUMENT; fields it does not know are ignored,
   * as in every request.
   */
  private listInstrumentsHandler(): grpc.handleUnaryCall<Buffer, Plain> {
    const requestType = this.codec.type('ListInstrumentsRequest');
    return (call, callback) => {
      try {
        requestType.decode(call.request);
      } catch {
        callback(
          errorToStatus(
            gatewayError(
              ErrorCode.INVALID_ARGUMENT,
              ErrorReason.MALFORMED_REQUEST,
              'request body is not a valid ListInstrumentsRequest message',
            ),
          ),
        );
        return;
      }
      let p: Promise<GatewayReply>;
      try {
        p = this.core.listInstruments();
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then(
        (reply) => (reply.ok ? callback(null, reply.body) : callback(errorToStatus(reply.error))),
        (e) => {
          this.log.error('grpc: ListInstruments failed: answered INTERNAL', { err: errMessage(e) });
          callback(errorToStatus(gatewayError(ErrorCode.INTERNAL, ErrorReason.INTERNAL, 'internal error')));
        },
      );
    };
  }

  private handleSession(call: SessionCall, responseType: string): void {
    if (this.state !== 'running') {
      call.emit('error', errorToStatus(STOPPING));
      return;
    }
    const s = new SessionStream(call, this, this.core, this.codec, responseType, this.log);
    this.sessions.add(s);
    s.start();
  }
}
