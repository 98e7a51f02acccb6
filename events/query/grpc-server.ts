// The query API's gRPC edge: exchange.v1.QueryService (proto/exchange/v1/query.proto) on
// @grpc/grpc-js, a thin adapter in front of QueryService (service.ts). Requests arrive as raw
// bytes (the signature covers them exactly, as in order entry), are authenticated by the core
// and only then decoded with protobufjs; replies are plain objects encoded with protobufjs.
// Errors: the gRPC status mapped from the code, details `CODE: message`, and the trailers
// x-mb-error-code, x-mb-error-reason, (when there is one) retry-after-ms, and
// grpc-status-details-bin (google.rpc.Status with ErrorInfo and RetryInfo: api/grpc-status.ts),
// as at the gateway's gRPC edge. Also grpc.health.v1.Health (NOT_SERVING until the read models
// are ready) and server reflection v1 / v1alpha, serving exchange/v1/query.proto and its import
// under their names (ops/grpc-introspection.ts).

import { grpcServerCredentials } from '../../ops/grpc-credentials.js';
import type { TlsSettings } from '../../config/tls-config.js';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../../api/signing.js';
import { QUERY_ERROR_STATUS, QueryErrorCode, QueryOp, type QueryError, type QueryService } from './service.js';
import { QUERY_GRPC_RECEIVE_BYTES_MAX, QUERY_GRPC_SEND_BYTES_MAX, QUERY_HEALTH_REFRESH_MS } from './limits.js';
import { ErrorReason } from '../../api/errors.js';
import { METADATA_STATUS_DETAILS, statusDetailsBin } from '../../api/grpc-status.js';
import { errorStack, linesLog, type Log } from '../../ops/log.js';
import { GrpcIntrospection } from '../../ops/grpc-introspection.js';
import { assertProtobufLongs, int64Wire, safeIntegersAsNumbers, uint64Wire } from '../../api/exact-uint64.js';
import { packagePath } from '../../ops/package-root.js';

// Read from the package root, not next to this file: from dist/ it is the same folder (package-root.ts).
const PROTO_ROOT = packagePath('proto');
/** The query contract as clients and reflection name it (it imports exchange/v1/order_entry.proto). */
const QUERY_PROTO_FILE = 'exchange/v1/query.proto';
export const QUERY_PROTO_PATH = path.join(PROTO_ROOT, QUERY_PROTO_FILE);
export const QUERY_SERVICE_NAME = 'exchange.v1.QueryService';
export const METADATA_ERROR_CODE = 'x-mb-error-code';
export const METADATA_RETRY_AFTER_MS = 'retry-after-ms';
export const METADATA_ERROR_REASON = 'x-mb-error-reason';

/** Output enum fields → their proto enum prefix (the core writes names without it: "BUY"). */
const ENUM_PREFIX: Record<string, string> = {
  side: 'SIDE',
  order_type: 'ORDER_TYPE',
  order_status: 'ORDER_STATUS',
  time_in_force: 'TIME_IN_FORCE',
  last_liquidity_ind: 'LAST_LIQUIDITY_IND',
};

export function queryMethodPath(method: string): string {
  return `/${QUERY_SERVICE_NAME}/${method}`;
}

/** protobufjs types of query.proto, loaded once (keepCase: the proto's snake_case names). */
export class QueryCodec {
  readonly root: protobuf.Root;
  readonly service: protobuf.Service;

  constructor() {
    assertProtobufLongs();
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_ROOT, target));
    root.loadSync(QUERY_PROTO_PATH, { keepCase: true });
    root.resolveAll();
    this.root = root;
    this.service = root.lookupService(QUERY_SERVICE_NAME);
  }

  private static shared: QueryCodec | undefined;
  static get(): QueryCodec {
    return (QueryCodec.shared ??= new QueryCodec());
  }

  /** Requests: 64-bit fields as numbers (the core checks them as safe integers). */
  decode(type: string, bytes: Uint8Array): Record<string, unknown> {
    const t = this.root.lookupType(type);
    return t.toObject(t.decode(bytes), { longs: Number, enums: String, defaults: false, arrays: true }) as Record<
      string,
      unknown
    >;
  }

  /** A plain reply object (enum names without prefix, numbers, decimal strings) → bytes. */
  encode(type: string, value: Record<string, unknown>): Buffer {
    const t = this.root.lookupType(type);
    return Buffer.from(t.encode(t.fromObject(withEnumPrefixes(value) as Record<string, unknown>)).finish());
  }

  /**
   * For clients (tests): bytes → plain object with enum names without prefix, 64-bit fields
   * exact — numbers, except a value above 2^53 (a wide order's cum_notional) as a bigint.
   */
  decodeReply(type: string, bytes: Uint8Array): Record<string, unknown> {
    const t = this.root.lookupType(type);
    const v = t.toObject(t.decode(bytes), { longs: BigInt, enums: String, defaults: false, arrays: true });
    return withoutEnumPrefixes(safeIntegersAsNumbers(v)) as Record<string, unknown>;
  }
}

function withEnumPrefixes(v: unknown): unknown {
  // A wide cum_notional (uint64) or a quantity sum past 2^53 − 1 (a position's, int64: negative when short), exactly.
  if (typeof v === 'bigint') return v < 0n ? int64Wire(v) : uint64Wire(v);
  if (Array.isArray(v)) return v.map(withEnumPrefixes);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const prefix = ENUM_PREFIX[k];
    if (prefix !== undefined && typeof x === 'string') {
      if (x !== '') out[k] = `${prefix}_${x}`;
    } else out[k] = withEnumPrefixes(x);
  }
  return out;
}

function withoutEnumPrefixes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutEnumPrefixes);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const prefix = ENUM_PREFIX[k];
    out[k] =
      prefix !== undefined && typeof x === 'string' && x.startsWith(`${prefix}_`)
        ? x.slice(prefix.length + 1)
        : withoutEnumPrefixes(x);
  }
  return out;
}

function firstString(md: grpc.Metadata, key: string): string {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : v instanceof Buffer ? v.toString('utf8') : '';
}

function errorStatus(e: QueryError): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  const code = QUERY_ERROR_STATUS[e.code]?.grpc ?? grpc.status.INTERNAL;
  const details = `${e.code}: ${e.message}`;
  metadata.set(METADATA_ERROR_CODE, e.code);
  metadata.set(METADATA_ERROR_REASON, e.reason);
  if (e.retry_after_ms !== undefined) metadata.set(METADATA_RETRY_AFTER_MS, String(e.retry_after_ms));
  metadata.set(METADATA_STATUS_DETAILS, statusDetailsBin(code, details, e));
  return { code, details, metadata };
}

export interface QueryGrpcOptions {
  service: QueryService;
  host: string;
  port: number;
  /** Default: text lines on stderr (linesLog). */
  log?: Log;
  /**
   * Whether the read models are ready (main.ts: queryReady, as /readyz). Health (grpc.health.v1,
   * "" and exchange.v1.QueryService) says NOT_SERVING until it is true, refreshed every
   * QUERY_HEALTH_REFRESH_MS. Default: ready once started.
   */
  ready?: () => boolean;
  /** TLS on this port (the gateway file's "query.tls"; health and reflection included); undefined: plaintext. */
  tls?: TlsSettings | undefined;
}

const OPS: ReadonlySet<string> = new Set(Object.values(QueryOp));

export class QueryGrpcServer {
  private readonly server = new grpc.Server({
    'grpc.max_receive_message_length': QUERY_GRPC_RECEIVE_BYTES_MAX,
    'grpc.max_send_message_length': QUERY_GRPC_SEND_BYTES_MAX,
  });
  private readonly codec = QueryCodec.get();
  private readonly log: Log;
  private readonly introspection: GrpcIntrospection;
  private healthTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: QueryGrpcOptions) {
    this.log = opts.log ?? linesLog((l) => console.error(`[query grpc] ${l}`));
    const definition: Record<string, grpc.MethodDefinition<Buffer, Record<string, unknown>>> = {};
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const m of this.codec.service.methodsArray) {
      if (!OPS.has(m.name)) throw new Error(`QueryGrpcServer: no operation for ${m.name}`);
      const requestType = m.resolvedRequestType!.fullName.slice(1);
      const responseType = m.resolvedResponseType!.fullName.slice(1);
      const target = queryMethodPath(m.name);
      definition[m.name] = {
        path: target,
        requestStream: false,
        responseStream: false,
        originalName: m.name,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (v: Record<string, unknown>) => this.codec.encode(responseType, v),
        responseDeserialize: (b: Buffer) => this.codec.decodeReply(responseType, b),
      };
      implementation[m.name] = ((
        call: grpc.ServerUnaryCall<Buffer, Record<string, unknown>>,
        callback: grpc.sendUnaryData<Record<string, unknown>>,
      ) => {
        const md = call.metadata;
        this.opts.service
          .handle({
            op: m.name as QueryOp,
            target,
            body: call.request,
            auth: {
              apiKey: firstString(md, HEADER_API_KEY),
              timestamp: firstString(md, HEADER_TIMESTAMP),
              signature: firstString(md, HEADER_SIGNATURE),
            },
            params: () => this.codec.decode(requestType, call.request),
          })
          .then(
            (reply) => {
              if (reply.ok) callback(null, reply.body);
              else callback(errorStatus(reply.error));
            },
            (err: unknown) => {
              this.log.error('query failed: answered INTERNAL', { method: m.name, stack: errorStack(err) });
              callback(
                errorStatus({ code: QueryErrorCode.INTERNAL, reason: ErrorReason.INTERNAL, message: 'internal error' }),
              );
            },
          );
      }) as grpc.handleUnaryCall<Buffer, Record<string, unknown>>;
    }
    this.server.addService(definition, implementation);
    this.introspection = new GrpcIntrospection(this.server, {
      protoRoot: PROTO_ROOT,
      files: [QUERY_PROTO_FILE],
      services: [QUERY_SERVICE_NAME],
    });
  }

  start(): Promise<number> {
    const host =
      this.opts.host.includes(':') && !this.opts.host.startsWith('[') ? `[${this.opts.host}]` : this.opts.host;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host}:${this.opts.port}`, grpcServerCredentials(this.opts.tls), (err, port) => {
        if (err !== null) return reject(err);
        this.refreshHealth();
        this.healthTimer = setInterval(() => this.refreshHealth(), QUERY_HEALTH_REFRESH_MS);
        this.healthTimer.unref();
        resolve(port);
      });
    });
  }

  private refreshHealth(): void {
    let ready = false;
    try {
      ready = this.opts.ready?.() ?? true;
    } catch (err) {
      this.log.warn('readiness check failed: health NOT_SERVING', { stack: errorStack(err) });
    }
    this.introspection.setServing(ready);
  }

  stop(): Promise<void> {
    clearInterval(this.healthTimer);
    this.introspection.setServing(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2_000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** A client for tests and tools, built from the same definition (replies decoded to plain objects). */
  static clientConstructor(): grpc.ServiceClientConstructor {
    const codec = QueryCodec.get();
    const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer | Record<string, unknown>>> = {};
    for (const m of codec.service.methodsArray) {
      const responseType = m.resolvedResponseType!.fullName.slice(1);
      definition[m.name] = {
        path: queryMethodPath(m.name),
        requestStream: false,
        responseStream: false,
        originalName: m.name,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer | Record<string, unknown>) => b as Buffer,
        responseDeserialize: (b: Buffer) => codec.decodeReply(responseType, b),
      };
    }
    return grpc.makeGenericClientConstructor(definition, QUERY_SERVICE_NAME);
  }
}
