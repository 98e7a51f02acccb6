// Request authentication and the replay cache, shared by every edge: the gateway authenticates
// in its validation workers and keeps the replay cache on its main thread; the query service
// (events/query/service.ts) does both on its main thread.
//
// authenticate(): API key lookup, timestamp window, signature over the canonical request
// (signing.ts). Each failure has its own reason (AUTH_HEADERS_MISSING, UNKNOWN_API_KEY,
// BAD_SIGNATURE under UNAUTHENTICATED; TIMESTAMP_INVALID, TIMESTAMP_OUTSIDE_WINDOW under
// STALE_REQUEST) so that a client can tell a wrong key from a wrong secret or clock. Telling an
// unknown key from a bad signature reveals no more than the order of the checks already did: a
// known key with a stale timestamp answers STALE_REQUEST, an unknown one does not, and key ids
// are not secrets (the secret or private key is). A stale request is refused before the
// signature is checked: it costs no crypto.
//
// Replay protection: a request is identified by replayKey = apiKey + ':' + signature. The
// signature covers timestamp, target and body, so two distinct requests never share a key, and
// a request is only accepted within windowMs of its timestamp, so the cache needs to remember a
// key only that long. Ed25519 signatures must be given in canonical base64 (what
// Buffer#toString('base64') writes): base64 decoders ignore stray characters and the unused low
// bits of the last character, and without this rule one signature could be re-spelled into many
// replay keys. HMAC signatures are lowercase hex only (signing.ts), canonical already.

import type { KeyObject } from 'node:crypto';
import { ErrorCode, ErrorReason, gatewayError, type GatewayError } from './errors.js';
import { canonicalRequest, ed25519PublicKeyFromRaw, ed25519Verify, hmacVerify } from './signing.js';

/** Replay keys remembered at most; beyond, new requests are refused (fail closed: OVERLOADED). */
export const REPLAY_CACHE_ENTRIES_MAX = 1_000_000;

const TIMESTAMP_RE = /^[0-9]{1,16}$/;

/**
 * Authentication material of a request (REST headers, gRPC metadata):
 *   x-mb-apikey, x-mb-timestamp (ms since the epoch, decimal), x-mb-signature.
 * HMAC keys: signature = lowercase hex HMAC-SHA256(secret, canonical).
 * Ed25519 keys: signature = base64 Ed25519 signature of canonical.
 * canonical = `${timestamp}\n${target}\n${sha256 hex of the body bytes}`.
 */
export interface AuthHeaders {
  apiKey: string;
  timestamp: string;
  signature: string;
}

/** An API key as configured (config/gateway-config.ts: accounts' apiKeys, adminKeys): an HMAC secret or an Ed25519 public key. */
export interface ApiKeyConfig {
  key: string;
  /** HMAC-SHA256 secret (UTF-8 string). */
  hmacSecret?: string;
  /** Ed25519 public key, base64 of the raw 32 bytes. */
  ed25519PublicKey?: string;
}

export interface KeyEntry {
  /** 0 for admin keys. */
  account: number;
  admin: boolean;
  /** HMAC-SHA256 secret (UTF-8 string), or: */
  hmacSecret?: string;
  /** Ed25519 public key. */
  ed25519PublicKey?: KeyObject;
}

export type AuthResult =
  | {
      ok: true;
      account: number;
      apiKey: string;
      admin: boolean;
      replayKey: string /** the request's timestamp, ms since the epoch */;
      tsMs: number;
    }
  | { ok: false; error: GatewayError };

/** The key table of a config: account keys, and admin keys (account 0, admin: true). Throws on a malformed Ed25519 key. */
export function buildKeyTable(config: {
  accounts: readonly { account: number; apiKeys: readonly ApiKeyConfig[] }[];
  adminKeys: readonly ApiKeyConfig[];
}): Map<string, KeyEntry> {
  const keys = new Map<string, KeyEntry>();
  const add = (account: number, k: ApiKeyConfig, admin: boolean): void => {
    if (k.hmacSecret !== undefined) keys.set(k.key, { account, admin, hmacSecret: k.hmacSecret });
    else if (k.ed25519PublicKey !== undefined)
      keys.set(k.key, { account, admin, ed25519PublicKey: ed25519PublicKeyFromRaw(k.ed25519PublicKey) });
  };
  for (const a of config.accounts) for (const k of a.apiKeys) add(a.account, k, false);
  for (const k of config.adminKeys) add(0, k, true);
  return keys;
}

function unauthenticated(reason: ErrorReason, message: string): { ok: false; error: GatewayError } {
  return { ok: false, error: gatewayError(ErrorCode.UNAUTHENTICATED, reason, message) };
}

const HEADERS_MISSING = unauthenticated(
  ErrorReason.AUTH_HEADERS_MISSING,
  'x-mb-apikey and x-mb-signature are required',
);
const UNKNOWN_API_KEY = unauthenticated(ErrorReason.UNKNOWN_API_KEY, 'unknown API key');
const BAD_SIGNATURE = unauthenticated(
  ErrorReason.BAD_SIGNATURE,
  'the signature does not match the request (timestamp, target, body) under this key',
);

function stale(reason: ErrorReason, message: string): { ok: false; error: GatewayError } {
  return { ok: false, error: gatewayError(ErrorCode.STALE_REQUEST, reason, message) };
}

/**
 * Verifies the auth headers of a request: `target` and `body` exactly as received, nowMs the
 * receive time. Never throws.
 */
export function authenticate(
  keys: ReadonlyMap<string, KeyEntry>,
  auth: AuthHeaders,
  target: string,
  body: Uint8Array,
  nowMs: number,
  windowMs: number,
): AuthResult {
  if (typeof auth !== 'object' || auth === null) return HEADERS_MISSING;
  const { apiKey, timestamp, signature } = auth;
  if (
    typeof apiKey !== 'string' ||
    typeof signature !== 'string' ||
    typeof target !== 'string' ||
    !(body instanceof Uint8Array) ||
    apiKey === '' ||
    signature === ''
  )
    return HEADERS_MISSING;
  const key = keys.get(apiKey);
  if (key === undefined) return UNKNOWN_API_KEY;
  if (typeof timestamp !== 'string' || !TIMESTAMP_RE.test(timestamp))
    return stale(ErrorReason.TIMESTAMP_INVALID, 'x-mb-timestamp must be milliseconds since the epoch, decimal');
  const tsMs = Number(timestamp);
  if (Math.abs(nowMs - tsMs) > windowMs)
    return stale(
      ErrorReason.TIMESTAMP_OUTSIDE_WINDOW,
      `timestamp ${tsMs} is more than ${windowMs} ms away from the server's clock (${nowMs}; GET /v1/time)`,
    );
  const canonical = canonicalRequest(timestamp, target, body);
  let good = false;
  try {
    if (key.hmacSecret !== undefined) good = hmacVerify(key.hmacSecret, canonical, signature);
    else if (key.ed25519PublicKey !== undefined) {
      good =
        signature.length === 88 &&
        Buffer.from(signature, 'base64').toString('base64') === signature &&
        ed25519Verify(key.ed25519PublicKey, canonical, signature);
    }
  } catch {
    good = false;
  }
  if (!good) return BAD_SIGNATURE;
  return { ok: true, account: key.account, apiKey, admin: key.admin, replayKey: `${apiKey}:${signature}`, tsMs };
}

export type ReplayCheck = 'fresh' | 'replayed' | 'full';

/**
 * Replay keys seen recently (main thread; one per gateway process). A key is kept until
 * max(nowMs + 2 × window, tsMs + window) — past the last moment its request could still pass
 * the window check (tsMs + window ≤ nowMs + 2 × window for any accepted request) — so expiry
 * times grow with insertion order whenever the clock does. Entries sit in a Set (membership)
 * and a ring of (key, expiry) in insertion order; check() first drops expired entries from the
 * front of the ring: O(1) amortized, no timers. A clock step back only delays pruning.
 * At maxEntries live keys, new keys are refused ('full'): the caller answers OVERLOADED rather
 * than accept a request it could not remember.
 */
export class ReplayCache {
  private readonly seen = new Set<string>();
  private ringKeys: string[];
  private ringExpiry: Float64Array;
  private head = 0;
  private count = 0;
  readonly maxEntries: number;

  constructor(
    readonly windowMs: number,
    maxEntries = REPLAY_CACHE_ENTRIES_MAX,
  ) {
    if (!(windowMs >= 0)) throw new RangeError('ReplayCache: windowMs must be ≥ 0');
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError('ReplayCache: maxEntries must be a positive integer');
    this.maxEntries = maxEntries;
    const cap = Math.min(maxEntries, 1024);
    this.ringKeys = new Array<string>(cap).fill('');
    this.ringExpiry = new Float64Array(cap);
  }

  get size(): number {
    return this.count;
  }

  /** Drops the entries whose expiry is before nowMs (from the front, in insertion order). */
  prune(nowMs: number): void {
    const cap = this.ringKeys.length;
    while (this.count > 0 && this.ringExpiry[this.head]! < nowMs) {
      this.seen.delete(this.ringKeys[this.head]!);
      this.ringKeys[this.head] = '';
      this.head = this.head + 1 === cap ? 0 : this.head + 1;
      this.count--;
    }
  }

  /** Records key (a request with timestamp tsMs, received at nowMs) unless it was seen or the cache is full. */
  check(key: string, tsMs: number, nowMs: number): ReplayCheck {
    this.prune(nowMs);
    if (this.seen.has(key)) return 'replayed';
    if (this.count >= this.maxEntries) return 'full';
    const expiry = Math.max(nowMs + 2 * this.windowMs, tsMs + this.windowMs);
    if (this.count === this.ringKeys.length) this.grow();
    const cap = this.ringKeys.length;
    let tail = this.head + this.count;
    if (tail >= cap) tail -= cap;
    this.ringKeys[tail] = key;
    this.ringExpiry[tail] = expiry;
    this.count++;
    this.seen.add(key);
    return 'fresh';
  }

  private grow(): void {
    const cap = this.ringKeys.length;
    const next = Math.min(this.maxEntries, cap * 2);
    const keys = new Array<string>(next).fill('');
    const exp = new Float64Array(next);
    for (let i = 0; i < this.count; i++) {
      const j = (this.head + i) % cap;
      keys[i] = this.ringKeys[j]!;
      exp[i] = this.ringExpiry[j]!;
    }
    this.ringKeys = keys;
    this.ringExpiry = exp;
    this.head = 0;
  }
}
