// Request signing: the canonical form a client signs and the gateway verifies, for both key
// kinds. Shared by the gateway's workers and the query service (verify), the clients and the
// CLI (sign), the audit (Ed25519 chain heads) and the tests.
//
//   canonical = `${timestamp}\n${target}\n${sha256 hex of the body bytes}`
//   HMAC keys:    x-mb-signature = lowercase hex of HMAC-SHA256(secret, canonical)
//   Ed25519 keys: x-mb-signature = base64 of the Ed25519 signature of canonical
//
// `timestamp` is milliseconds since the Unix epoch as a decimal string; `target` is
// `METHOD /path` for REST (the path exactly as sent, query string included) and the gRPC
// method path (`/exchange.v1.OrderEntryService/PlaceOrder`) for gRPC. Hashing the body keeps
// the canonical string short whatever the body size.

import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  sign as edSign,
  verify as edVerify,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';

export const HEADER_API_KEY = 'x-mb-apikey';
export const HEADER_TIMESTAMP = 'x-mb-timestamp';
export const HEADER_SIGNATURE = 'x-mb-signature';

const EMPTY_SHA256 = createHash('sha256').update(new Uint8Array(0)).digest('hex');

export function bodyDigest(body: Uint8Array): string {
  return body.length === 0 ? EMPTY_SHA256 : createHash('sha256').update(body).digest('hex');
}

export function canonicalRequest(timestamp: string, target: string, body: Uint8Array): string {
  return `${timestamp}\n${target}\n${bodyDigest(body)}`;
}

export function hmacSign(secret: string, canonical: string): string {
  return createHmac('sha256', secret).update(canonical).digest('hex');
}

/** Constant-time comparison of a presented hex HMAC with the expected one. */
export function hmacVerify(secret: string, canonical: string, signatureHex: string): boolean {
  const expected = Buffer.from(hmacSign(secret, canonical), 'hex');
  if (!/^[0-9a-f]{64}$/.test(signatureHex)) return false;
  return timingSafeEqual(expected, Buffer.from(signatureHex, 'hex'));
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A public key object from the raw 32 bytes (base64), as configured for an account. */
export function ed25519PublicKeyFromRaw(rawBase64: string): KeyObject {
  const raw = Buffer.from(rawBase64, 'base64');
  if (raw.length !== 32) throw new RangeError('Ed25519 public key must be 32 bytes');
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** A private key object from the raw 32-byte seed (base64): for clients and tests. */
export function ed25519PrivateKeyFromSeed(seedBase64: string): KeyObject {
  const seed = Buffer.from(seedBase64, 'base64');
  if (seed.length !== 32) throw new RangeError('Ed25519 seed must be 32 bytes');
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** Raw 32-byte public key (base64) of a key object (public or private). */
export function ed25519RawPublicKey(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32)).toString('base64');
}

export function ed25519Sign(privateKey: KeyObject, message: string | Uint8Array): string {
  return edSign(null, typeof message === 'string' ? Buffer.from(message, 'utf8') : message, privateKey).toString(
    'base64',
  );
}

export function ed25519Verify(publicKey: KeyObject, message: string | Uint8Array, signatureBase64: string): boolean {
  const sig = Buffer.from(signatureBase64, 'base64');
  if (sig.length !== 64) return false;
  try {
    return edVerify(null, typeof message === 'string' ? Buffer.from(message, 'utf8') : message, publicKey, sig);
  } catch {
    return false;
  }
}

/** Client side: the three auth headers for a request. */
export function signRequest(
  key: { key: string; hmacSecret?: string; ed25519PrivateKey?: KeyObject },
  target: string,
  body: Uint8Array,
  nowMs = Date.now(),
): { apiKey: string; timestamp: string; signature: string } {
  const timestamp = String(nowMs);
  const canonical = canonicalRequest(timestamp, target, body);
  let signature: string;
  if (key.hmacSecret !== undefined) signature = hmacSign(key.hmacSecret, canonical);
  else if (key.ed25519PrivateKey !== undefined) signature = ed25519Sign(key.ed25519PrivateKey, canonical);
  else throw new Error('signRequest: the key has neither an HMAC secret nor an Ed25519 private key');
  return { apiKey: key.key, timestamp, signature };
}
