// The rich gRPC error model (AIP-193): a failed call's google.rpc.Status, with an ErrorInfo
// (reason, domain, metadata), when a retry may succeed a RetryInfo, and any details of the
// edge's own types it passes in already encoded (the gateway's OrderResult of a refused
// command), encoded for the `grpc-status-details-bin` trailer. Shared by the gateway's and the
// query service's gRPC edges.
//
// The message types are built here from a JSON descriptor rather than loaded from
// proto/google/rpc/*.proto, so this stays pure (no file read): test/api/grpc-status.test.ts
// decodes what this writes with the shipped .proto files, which keeps the two in agreement.

import protobuf from 'protobufjs';
import { ERROR_DOMAIN } from './errors.js';

/** The trailer a google.rpc.Status travels in (binary metadata). */
export const METADATA_STATUS_DETAILS = 'grpc-status-details-bin';
export const TYPE_URL_ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';
export const TYPE_URL_RETRY_INFO = 'type.googleapis.com/google.rpc.RetryInfo';

const root = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
            Duration: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
          },
        },
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: 'int32', id: 1 },
                message: { type: 'string', id: 2 },
                details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 },
              },
            },
            ErrorInfo: {
              fields: {
                reason: { type: 'string', id: 1 },
                domain: { type: 'string', id: 2 },
                metadata: { keyType: 'string', type: 'string', id: 3 } as protobuf.IMapField,
              },
            },
            RetryInfo: { fields: { retry_delay: { type: 'google.protobuf.Duration', id: 1 } } },
          },
        },
      },
    },
  },
});
const StatusType = root.lookupType('google.rpc.Status');
const ErrorInfoType = root.lookupType('google.rpc.ErrorInfo');
const RetryInfoType = root.lookupType('google.rpc.RetryInfo');

/** What a failed call says, in the shape of the API's errors (GatewayError, the query service's errors). */
export interface StatusError {
  code: string;
  reason: string;
  message: string;
  retry_after_ms?: number;
  order_id?: number;
  seq?: number;
  field?: string;
}

/** ErrorInfo.metadata of an error: the code, and the optional fields that are set, as strings. */
export function errorMetadata(e: StatusError): Record<string, string> {
  const md: Record<string, string> = { code: e.code };
  if (e.field !== undefined) md.field = e.field;
  if (e.order_id !== undefined) md.order_id = String(e.order_id);
  if (e.seq !== undefined) md.seq = String(e.seq);
  if (e.retry_after_ms !== undefined) md.retry_after_ms = String(Math.max(0, Math.ceil(e.retry_after_ms)));
  return md;
}

/** A google.protobuf.Any: a message's type URL and its encoded bytes. */
export interface AnyDetail {
  type_url: string;
  value: Uint8Array;
}

/**
 * The encoded google.rpc.Status of a failed call with gRPC status `grpcCode` and message
 * `details`: ErrorInfo, RetryInfo when there is a retry hint, then `extra` (details of the
 * caller's own types, already encoded: the gateway's OrderResult of a refused command).
 */
export function statusDetailsBin(
  grpcCode: number,
  details: string,
  e: StatusError,
  extra: readonly AnyDetail[] = [],
): Buffer {
  const info = ErrorInfoType.encode({ reason: e.reason, domain: ERROR_DOMAIN, metadata: errorMetadata(e) }).finish();
  const anys: AnyDetail[] = [{ type_url: TYPE_URL_ERROR_INFO, value: info }];
  if (e.retry_after_ms !== undefined) {
    const ms = Math.max(0, Math.ceil(e.retry_after_ms));
    const retry = RetryInfoType.encode({
      retry_delay: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 },
    }).finish();
    anys.push({ type_url: TYPE_URL_RETRY_INFO, value: retry });
  }
  anys.push(...extra);
  return Buffer.from(StatusType.encode({ code: grpcCode, message: details, details: anys }).finish());
}

/** What a google.rpc.Status from matchbook says (decodeStatusDetails). */
export interface DecodedStatus {
  code: number;
  message: string;
  /** ErrorInfo, when present. */
  reason?: string;
  domain?: string;
  metadata?: Record<string, string>;
  /** RetryInfo.retry_delay in ms, when present. */
  retryDelayMs?: number;
  /** The details of other types, as received (the gateway's exchange.v1.OrderResult of a refused command). */
  others: AnyDetail[];
}

/** Decodes a `grpc-status-details-bin` value written by statusDetailsBin (for clients); undefined if it is not a Status. */
export function decodeStatusDetails(bytes: Uint8Array): DecodedStatus | undefined {
  try {
    const st = StatusType.toObject(StatusType.decode(bytes), { longs: Number, defaults: true }) as {
      code: number;
      message: string;
      details: { type_url: string; value: Uint8Array }[];
    };
    const out: DecodedStatus = { code: st.code, message: st.message, others: [] };
    for (const any of st.details ?? []) {
      if (any.type_url === TYPE_URL_ERROR_INFO) {
        const info = ErrorInfoType.toObject(ErrorInfoType.decode(any.value), { defaults: true }) as {
          reason: string;
          domain: string;
          metadata: Record<string, string>;
        };
        out.reason = info.reason;
        out.domain = info.domain;
        out.metadata = info.metadata ?? {};
      } else if (any.type_url === TYPE_URL_RETRY_INFO) {
        const r = RetryInfoType.toObject(RetryInfoType.decode(any.value), { longs: Number, defaults: true }) as {
          retry_delay?: { seconds: number; nanos: number };
        };
        const d = r.retry_delay ?? { seconds: 0, nanos: 0 };
        out.retryDelayMs = d.seconds * 1000 + Math.round(d.nanos / 1_000_000);
      } else {
        out.others.push({ type_url: any.type_url, value: any.value });
      }
    }
    return out;
  } catch {
    return undefined;
  }
}
