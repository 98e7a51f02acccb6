// A small REST client of the order entry API, for tests and the CLI: global fetch (undici,
// keep-alive by default), every request signed over `METHOD /path` and the exact body bytes
// it sends (api/signing.ts).

import type { KeyObject } from 'node:crypto';
import type { GatewayError } from '../../api/errors.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../../api/signing.js';
import { jsonParseExact } from '../../api/json-exact.js';
import type {
  CancelAllAfterResponse,
  GetOrderResponse,
  MassCancelResponse,
  OrderResultResponse,
} from './grpc-client.js';
import {
  HEADER_RATELIMIT_LIMIT,
  HEADER_RATELIMIT_REMAINING,
  HEADER_RATELIMIT_RESET_MS,
  type RateLimitState,
} from '../rate-limit-headers.js';
import type { InstrumentOut } from '../instruments.js';

export interface RestClientKey {
  key: string;
  hmacSecret?: string;
  ed25519PrivateKey?: KeyObject;
}

export interface RestClientOptions {
  /** e.g. http://127.0.0.1:8080 (a path prefix, if any, is part of the signed target). */
  baseUrl: string;
  key: RestClientKey;
  /** Per request, including the body (ms). */
  timeoutMs?: number;
}

/** What the gateway answered: the JSON body parsed (the text as is if it is not JSON). */
export interface RestResponse<T = unknown> {
  status: number;
  body: T;
  headers: Record<string, string>;
  /** The API key's token bucket after the request (the RateLimit-* headers), when the request was authenticated. */
  rateLimit?: RateLimitState;
}

/** The rate-limit state of a reply's headers (undefined without them). */
export function rateLimitOf(headers: Record<string, string>): RateLimitState | undefined {
  const limit = headers[HEADER_RATELIMIT_LIMIT];
  if (limit === undefined) return undefined;
  return {
    limit: Number(limit),
    remaining: Number(headers[HEADER_RATELIMIT_REMAINING]),
    resetMs: Number(headers[HEADER_RATELIMIT_RESET_MS]),
  };
}

/**
 * The body of an order entry reply: on success (2xx) the response message, the same as the
 * gRPC client's (REST's JSON uses the proto names); otherwise the gateway's error ({code,
 * reason, message} and retry_after_ms, order_id, seq, field, result when they apply;
 * api/errors.ts, docs/errors.md); the text as is when it is not JSON (a proxy's page, say). Tell
 * them apart by the status.
 */
export type ReplyBody<M> = M | GatewayError | string;

export type AdminRoute = 'kill-switch' | 'halt' | 'resume' | 'reference-price' | 'slow-orders';

export type CancelBy = number | string | { client_order_id: string; symbol?: string };

const REQUEST_TIMEOUT_MS_DEFAULT = 30_000;
const EMPTY_BODY = new Uint8Array(0);

export class OrderEntryRestClient {
  private readonly origin: string;
  private readonly prefix: string;
  private readonly key: RestClientKey;
  private readonly timeoutMs: number;

  constructor(opts: RestClientOptions) {
    const u = new URL(opts.baseUrl);
    this.origin = u.origin;
    this.prefix = u.pathname.replace(/\/+$/, '');
    this.key = opts.key;
    this.timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
  }

  placeOrder(body: Record<string, unknown>): Promise<RestResponse<ReplyBody<OrderResultResponse>>> {
    return this.reply('POST', '/v1/orders', body);
  }

  /** By order id (`DELETE /v1/orders/{id}`, no body), or by client order id (`DELETE /v1/orders` with a JSON body). */
  cancelOrder(by: CancelBy): Promise<RestResponse<ReplyBody<OrderResultResponse>>> {
    if (typeof by === 'object') return this.reply('DELETE', '/v1/orders', by);
    return this.reply('DELETE', `/v1/orders/${encodeURIComponent(String(by))}`);
  }

  /** By order id (`PATCH /v1/orders/{id}`), or with `undefined` by orig_client_order_id in the body (`PATCH /v1/orders`). */
  amendOrder(
    id: number | string | undefined,
    body: Record<string, unknown>,
  ): Promise<RestResponse<ReplyBody<OrderResultResponse>>> {
    if (id === undefined) return this.reply('PATCH', '/v1/orders', body);
    return this.reply('PATCH', `/v1/orders/${encodeURIComponent(String(id))}`, body);
  }

  massCancel(body: Record<string, unknown> = {}): Promise<RestResponse<ReplyBody<MassCancelResponse>>> {
    return this.reply('POST', '/v1/orders/cancel-all', body);
  }

  /** By order id (`GET /v1/orders/{id}`), or by client order id (`GET /v1/orders?client_order_id=…&symbol=…`). */
  getOrder(
    by: number | string | { client_order_id: string; symbol?: string },
  ): Promise<RestResponse<ReplyBody<GetOrderResponse>>> {
    if (typeof by !== 'object') return this.reply('GET', `/v1/orders/${encodeURIComponent(String(by))}`);
    const q = new URLSearchParams({ client_order_id: by.client_order_id });
    if (by.symbol !== undefined) q.set('symbol', by.symbol);
    return this.reply('GET', `/v1/orders?${q.toString()}`);
  }

  /** The API key's dead-man's switch (`POST /v1/orders/cancel-all-after`): re-arms at each call; 0 disarms. */
  cancelAllAfter(timeoutMs: number): Promise<RestResponse<ReplyBody<CancelAllAfterResponse>>> {
    return this.reply('POST', '/v1/orders/cancel-all-after', { timeout_ms: timeoutMs });
  }

  admin(route: AdminRoute, body: Record<string, unknown> = {}): Promise<RestResponse> {
    return this.request('POST', `/v1/admin/${route}`, body);
  }

  /** GET /healthz (unsigned). */
  async health(): Promise<RestResponse<string>> {
    const res = await fetch(`${this.origin}${this.prefix}/healthz`, { signal: AbortSignal.timeout(this.timeoutMs) });
    return { status: res.status, body: await res.text(), headers: Object.fromEntries(res.headers) };
  }

  /** GET /v1/instruments (unsigned: public reference data). */
  async instruments(): Promise<RestResponse<ReplyBody<{ instruments: InstrumentOut[] }>>> {
    const res = await fetch(`${this.origin}${this.prefix}/v1/instruments`, {
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return {
      status: res.status,
      body: body as ReplyBody<{ instruments: InstrumentOut[] }>,
      headers: Object.fromEntries(res.headers),
    };
  }

  /** An order entry request, its body typed as what the gateway answers to it (not checked). */
  private reply<M>(method: string, path: string, body?: Record<string, unknown>): Promise<RestResponse<ReplyBody<M>>> {
    return this.request(method, path, body) as Promise<RestResponse<ReplyBody<M>>>;
  }

  /**
   * Any request, signed. `path` is sent as given (query string included) and signed as such,
   * so it must already be in the form fetch sends (percent-encoded). A body that is an object
   * is sent as JSON; bytes or a string are sent as they are.
   */
  async request(
    method: string,
    path: string,
    body?: Record<string, unknown> | Uint8Array | string,
  ): Promise<RestResponse> {
    let bytes: Uint8Array;
    if (body === undefined) bytes = EMPTY_BODY;
    else if (body instanceof Uint8Array) bytes = body;
    else bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
    const fullPath = `${this.prefix}${path}`;
    const auth = signRequest(this.key, `${method} ${fullPath}`, bytes);
    const headers: Record<string, string> = {
      [HEADER_API_KEY]: auth.apiKey,
      [HEADER_TIMESTAMP]: auth.timestamp,
      [HEADER_SIGNATURE]: auth.signature,
    };
    if (bytes.length > 0) headers['content-type'] = 'application/json';
    // fetch's BodyInit wants an ArrayBuffer-backed view (not a SharedArrayBuffer one).
    const sendable = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
    const res = await fetch(`${this.origin}${fullPath}`, {
      method,
      headers,
      ...(bytes.length > 0 ? { body: sendable } : {}),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    let parsed: unknown = text;
    if (text.length > 0) {
      try {
        // Exactly: a wide instrument's cum_notional above 2^53 comes back as a bigint, not rounded.
        parsed = jsonParseExact(text);
      } catch {
        // not JSON: keep the text
      }
    }
    const out: RestResponse = { status: res.status, body: parsed, headers: Object.fromEntries(res.headers) };
    const rateLimit = rateLimitOf(out.headers);
    if (rateLimit !== undefined) out.rateLimit = rateLimit;
    return out;
  }
}
