// Request signing in the browser, the canonical form of api/signing.ts (which uses node:crypto
// and cannot be bundled) with WebCrypto:
//
//   canonical = `${timestamp}\n${target}\n${sha256 hex of the body bytes}`
//   HMAC keys:    x-mb-signature = lowercase hex of HMAC-SHA256(secret, canonical)
//   Ed25519 keys: x-mb-signature = base64 of the Ed25519 signature (the key from its 32-byte seed)
//
// The timestamp is the server's clock (ctx.serverNowMs()): a skewed phone clock would otherwise
// fall outside the gateway's receive window. crypto.subtle exists only in a secure context
// (https, or http on localhost): elsewhere signingAvailable() is false and nothing is signed.
// Credentials live in sessionStorage only (gone with the tab), never in localStorage; the secret
// never leaves the page but as a signature. The order ticket and the operator console both sign with this.

import type { PageContext } from './context.js';
import { TICKET_REQUEST_TIMEOUT_MS } from './limits.js';

export const HEADER_API_KEY = 'x-mb-apikey';
export const HEADER_TIMESTAMP = 'x-mb-timestamp';
export const HEADER_SIGNATURE = 'x-mb-signature';

/** An API key with its HMAC secret, or with its Ed25519 private key's 32-byte seed (base64). */
export interface Credentials {
  apiKey: string;
  hmacSecret?: string;
  ed25519SeedBase64?: string;
}

/** The three auth values of one request. */
export interface SignedHeaders {
  apiKey: string;
  timestamp: string;
  signature: string;
}

/** A signed request's answer: the status and the body (parsed JSON, or the text when it is not JSON). */
export interface SignedReply {
  status: number;
  body: unknown;
}

export const SIGNING_UNAVAILABLE = 'signing needs https or localhost';

export function signingAvailable(): boolean {
  return globalThis.isSecureContext === true && globalThis.crypto?.subtle !== undefined;
}

const utf8 = new TextEncoder();

function hex(bytes: ArrayBuffer): string {
  let out = '';
  for (const b of new Uint8Array(bytes)) out += b.toString(16).padStart(2, '0');
  return out;
}

function base64(bytes: ArrayBuffer): string {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export async function sha256Hex(body: Uint8Array): Promise<string> {
  return hex(await crypto.subtle.digest('SHA-256', body as BufferSource));
}

export async function canonicalRequest(timestamp: string, target: string, body: Uint8Array): Promise<string> {
  return `${timestamp}\n${target}\n${await sha256Hex(body)}`;
}

export async function hmacSign(secret: string, canonical: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', utf8.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  return hex(await crypto.subtle.sign('HMAC', key, utf8.encode(canonical)));
}

/** PKCS#8 DER of an Ed25519 private key: this fixed prefix, then the 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = [
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

export async function ed25519Sign(seedBase64: string, canonical: string): Promise<string> {
  const seed = fromBase64(seedBase64);
  if (seed.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes (base64)');
  const der = new Uint8Array([...ED25519_PKCS8_PREFIX, ...seed]);
  const key = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign']);
  return base64(await crypto.subtle.sign('Ed25519', key, utf8.encode(canonical)));
}

/** The three auth values for `target` (`METHOD /path?query`) and `body`, at `nowMs` (the server's clock). */
export async function signRequest(
  creds: Credentials,
  target: string,
  body: Uint8Array,
  nowMs: number,
): Promise<SignedHeaders> {
  const timestamp = String(Math.floor(nowMs));
  const canonical = await canonicalRequest(timestamp, target, body);
  let signature: string;
  if (creds.hmacSecret !== undefined) signature = await hmacSign(creds.hmacSecret, canonical);
  else if (creds.ed25519SeedBase64 !== undefined) signature = await ed25519Sign(creds.ed25519SeedBase64, canonical);
  else throw new Error('the credentials have neither an HMAC secret nor an Ed25519 seed');
  return { apiKey: creds.apiKey, timestamp, signature };
}

/**
 * A signed request: `target` is the path (and query) as sent, e.g. `/v1/orders` or
 * `/v1/accounts/1/orders?state=open`; `baseUrl` '' is the page's own origin (the gateway), or the
 * query service's URL. `body` is sent as JSON. Never throws on an HTTP error: the status says it;
 * throws on a network failure (or a refused cross-origin request) and after TICKET_REQUEST_TIMEOUT_MS
 * without an answer (a TimeoutError: the request may have been taken).
 */
export async function signedFetch(
  ctx: PageContext,
  creds: Credentials,
  method: string,
  target: string,
  body?: unknown,
  baseUrl = '',
): Promise<SignedReply> {
  const bytes = body === undefined ? new Uint8Array(0) : utf8.encode(JSON.stringify(body));
  const h = await signRequest(creds, `${method} ${target}`, bytes, ctx.serverNowMs());
  const headers: Record<string, string> = {
    [HEADER_API_KEY]: h.apiKey,
    [HEADER_TIMESTAMP]: h.timestamp,
    [HEADER_SIGNATURE]: h.signature,
  };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${baseUrl}${target}`, {
    method,
    headers,
    body: body === undefined ? undefined : bytes,
    cache: 'no-store',
    signal: AbortSignal.timeout(TICKET_REQUEST_TIMEOUT_MS),
  });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    // Big integers (a wide instrument's cum_notional) round here: the page shows the *_decimal fields.
    parsed = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's page): the text as is.
  }
  return { status: r.status, body: parsed };
}

/** The credentials kept under `storageKey` in this tab's sessionStorage, or null. */
export function loadCredentials(storageKey: string): Credentials | null {
  try {
    const raw = sessionStorage.getItem(storageKey);
    if (raw === null) return null;
    const c = JSON.parse(raw) as Partial<Credentials>;
    if (typeof c.apiKey !== 'string' || c.apiKey === '') return null;
    if (typeof c.hmacSecret === 'string') return { apiKey: c.apiKey, hmacSecret: c.hmacSecret };
    if (typeof c.ed25519SeedBase64 === 'string') return { apiKey: c.apiKey, ed25519SeedBase64: c.ed25519SeedBase64 };
    return null;
  } catch {
    return null;
  }
}

export function saveCredentials(storageKey: string, creds: Credentials): void {
  sessionStorage.setItem(storageKey, JSON.stringify(creds));
}

export function clearCredentials(storageKey: string): void {
  sessionStorage.removeItem(storageKey);
}
