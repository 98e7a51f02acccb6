// Signs an admin request in the browser exactly as api/signing.ts does on the server (which
// cannot be bundled: node:crypto): HMAC-SHA256 over `${timestamp}\n${target}\n${sha256 hex of
// the body}`, lowercase hex. WebCrypto exists only in a secure context (https, localhost,
// 127.0.0.1): elsewhere signingAvailable() is false and the console says why instead of failing.
// (The order ticket has its own signer, ui/src/ticket/signing.ts: to be folded into one.)

export interface AdminCredentials {
  apiKey: string;
  hmacSecret: string;
}

export interface SignedHeaders {
  'x-mb-apikey': string;
  'x-mb-timestamp': string;
  'x-mb-signature': string;
}

export function signingAvailable(): boolean {
  return globalThis.isSecureContext === true && globalThis.crypto?.subtle !== undefined;
}

function hex(bytes: ArrayBuffer): string {
  let out = '';
  for (const b of new Uint8Array(bytes)) out += b.toString(16).padStart(2, '0');
  return out;
}

/** The three auth headers for `target` (`POST /v1/admin/halt`) and the exact body bytes sent. */
export async function signAdminRequest(
  creds: AdminCredentials,
  target: string,
  body: Uint8Array<ArrayBuffer>,
  nowMs: number,
): Promise<SignedHeaders> {
  const subtle = globalThis.crypto.subtle;
  const timestamp = String(Math.trunc(nowMs));
  const bodyHex = hex(await subtle.digest('SHA-256', body));
  const key = await subtle.importKey(
    'raw',
    new TextEncoder().encode(creds.hmacSecret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const canonical = new TextEncoder().encode(`${timestamp}\n${target}\n${bodyHex}`);
  const signature = hex(await subtle.sign('HMAC', key, canonical));
  return { 'x-mb-apikey': creds.apiKey, 'x-mb-timestamp': timestamp, 'x-mb-signature': signature };
}
