// The TLS and secret settings of the configuration files that several processes share (the
// gateway file and its "query" section). The shape itself and the reading of secrets live in
// ops/tls-settings.ts, because the replicas (replicator/) and the feed read the same shape from
// the cluster file and may not import config/; this file is what config/ parsers use.

import { parseTlsSettings, readStringSecret, requireServerIdentity, type TlsSettings } from '../ops/tls-settings.js';

export {
  loadTlsMaterial,
  parseSecretRef,
  parseTlsSettings,
  readSecret,
  type SecretRef,
  type TlsMaterial,
  type TlsSettings,
} from '../ops/tls-settings.js';

/** A server's "tls" section (certificate and key required); undefined: plaintext. */
export function parseServerTls(v: unknown, where: string, baseDir: string): TlsSettings | undefined {
  const s = parseTlsSettings(v, where, baseDir);
  if (s !== undefined) requireServerIdentity(s);
  return s;
}

/**
 * An API key's HMAC secret: `{ "file": path }` or `{ "env": NAME }` (read now; a trailing newline
 * of the file is dropped), or a plain string, which is for the local demo files only: `plain`
 * says so, so a process with TLS on can warn that its secrets sit in the config file.
 */
export function hmacSecretOf(v: unknown, where: string, baseDir: string): { secret: string; plain: boolean } {
  return { secret: readStringSecret(v, where, baseDir), plain: typeof v === 'string' };
}
