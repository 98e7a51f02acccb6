// The one TLS settings shape of every configuration file (cluster file, gateway file, its query
// section), and how secrets are read: from a file or an environment variable named in the
// config, never from the config itself.
//
//   "tls": { "cert": { "file": "certs/node-1.pem" },     // relative to the config file
//            "key":  { "env": "MATCHBOOK_NODE_KEY" },     // the PEM in this variable
//            "ca":   { "file": "certs/ca.pem" },
//            "requireClientCert": true,                   // servers: mutual TLS (default false)
//            "serverName": "replica.example" }            // clients: name to verify (default: the host)
//
// It lives in ops/ (the base layer) because the replicas (replicator/), the feed (feed/) and the
// processes above them all read it; config/tls-config.ts re-exports it for the config files.
// Errors name the config and the field (and the file path or variable name), never the secret.

import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A secret: the path of a file (absolute once parsed) or the name of an environment variable. */
export type SecretRef = { readonly file: string } | { readonly env: string };

export interface TlsSettings {
  /** This side's certificate chain (PEM); servers need it, clients only for mutual TLS. */
  cert: SecretRef | undefined;
  /** This side's private key (PEM). */
  key: SecretRef | undefined;
  /** The CA bundle (PEM) that the other side's certificate must chain to; default Node's roots. */
  ca: SecretRef | undefined;
  /** Servers: refuse a client without a certificate signed by `ca`. */
  requireClientCert: boolean;
  /** Clients: the name the server's certificate must carry (default: the host dialled). */
  serverName: string | undefined;
  /** Where these settings came from (`cluster config tls`), for error messages. */
  where: string;
}

/** The PEM bytes of a TlsSettings, read once at start. */
export interface TlsMaterial {
  cert: Buffer | undefined;
  key: Buffer | undefined;
  ca: Buffer | undefined;
  requireClientCert: boolean;
  serverName: string | undefined;
}

export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
}

/** A secret larger than this (bytes) is refused: a PEM bundle is a few KiB. */
export const SECRET_BYTES_MAX = 1 << 20;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `{ "file": path }` (relative to baseDir) or `{ "env": NAME }`; anything else is refused. */
export function parseSecretRef(v: unknown, where: string, baseDir: string): SecretRef {
  if (typeof v === 'string')
    throw new TlsConfigError(
      `${where} must be { "file": path } or { "env": VAR_NAME }, not the secret itself (value not shown)`,
    );
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new TlsConfigError(`${where} must be { "file": path } or { "env": VAR_NAME }`);
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && typeof o.file === 'string' && o.file.length > 0)
    return { file: path.resolve(baseDir, o.file) };
  if (keys.length === 1 && typeof o.env === 'string' && ENV_NAME.test(o.env)) return { env: o.env };
  throw new TlsConfigError(`${where} must have exactly one of "file" (a path) or "env" (a variable name)`);
}

/** Reads a secret; the error names where it is configured and where it was looked for, never its content. */
export function readSecret(ref: SecretRef, where: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  let bytes: Buffer;
  if ('env' in ref) {
    const value = env[ref.env];
    if (value === undefined || value.length === 0)
      throw new TlsConfigError(`${where}: environment variable ${ref.env} is not set or empty`);
    bytes = Buffer.from(value, 'utf8');
  } else {
    try {
      bytes = readFileSync(ref.file);
    } catch (err) {
      throw new TlsConfigError(`${where}: cannot read ${ref.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  if (bytes.length === 0) throw new TlsConfigError(`${where}: the secret is empty`);
  if (bytes.length > SECRET_BYTES_MAX) throw new TlsConfigError(`${where}: over ${SECRET_BYTES_MAX} bytes`);
  return bytes;
}

/** A string secret (an HMAC key): a plain string (demos), or a secret reference read now. */
export function readStringSecret(v: unknown, where: string, baseDir: string): string {
  if (typeof v === 'string' && v.length > 0) return v;
  const s = readSecret(parseSecretRef(v, where, baseDir), where).toString('utf8');
  // A file written by an editor ends with a newline that is not part of the key.
  return s.replace(/\r?\n$/, '');
}

const TLS_KEYS = new Set(['cert', 'key', 'ca', 'requireClientCert', 'serverName']);

/** Parses a "tls" section; undefined stays undefined (plaintext). Secrets are only named here. */
export function parseTlsSettings(v: unknown, where: string, baseDir: string): TlsSettings | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TlsConfigError(`${where} must be an object`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!TLS_KEYS.has(k)) throw new TlsConfigError(`${where}.${k}: unknown field (${[...TLS_KEYS].join(', ')})`);
  const ref = (k: 'cert' | 'key' | 'ca') =>
    o[k] === undefined ? undefined : parseSecretRef(o[k], `${where}.${k}`, baseDir);
  const cert = ref('cert');
  const key = ref('key');
  if ((cert === undefined) !== (key === undefined)) throw new TlsConfigError(`${where}: cert and key go together`);
  const requireClientCert = o.requireClientCert ?? false;
  if (typeof requireClientCert !== 'boolean')
    throw new TlsConfigError(`${where}.requireClientCert must be true or false`);
  const ca = ref('ca');
  if (requireClientCert && ca === undefined)
    throw new TlsConfigError(`${where}: requireClientCert needs ca (the CA client certificates must chain to)`);
  if (o.serverName !== undefined && (typeof o.serverName !== 'string' || o.serverName.length === 0))
    throw new TlsConfigError(`${where}.serverName must be a non-empty string`);
  return { cert, key, ca, requireClientCert, serverName: o.serverName as string | undefined, where };
}

/** Reads every secret of the settings (at start: a missing file stops the process with its name). */
export function loadTlsMaterial(s: TlsSettings, env: NodeJS.ProcessEnv = process.env): TlsMaterial {
  const read = (ref: SecretRef | undefined, field: string) =>
    ref === undefined ? undefined : readSecret(ref, `${s.where}.${field}`, env);
  return {
    cert: read(s.cert, 'cert'),
    key: read(s.key, 'key'),
    ca: read(s.ca, 'ca'),
    requireClientCert: s.requireClientCert,
    serverName: s.serverName,
  };
}

/** A server needs its certificate and key. */
export function requireServerIdentity(s: TlsSettings): void {
  if (s.cert === undefined || s.key === undefined) throw new TlsConfigError(`${s.where}: a server needs cert and key`);
}

/** uWebSockets.js SSLApp options (it takes file names), and how to remove what was written for them. */
export interface UwsTlsFiles {
  options: { key_file_name: string; cert_file_name: string; ca_file_name?: string };
  remove(): void;
}

/**
 * uWS reads PEM from files only: a secret from a file is passed by its path; one from the
 * environment is written to a 0600 file under `dir` (the process's data directory), removed by
 * remove() at stop. A CA is passed only with requireClientCert: given a CA, uWS demands a client
 * certificate.
 */
export function uwsTlsFiles(s: TlsSettings, dir: string, env: NodeJS.ProcessEnv = process.env): UwsTlsFiles {
  requireServerIdentity(s);
  const written: string[] = [];
  const fileOf = (ref: SecretRef, field: string): string => {
    const bytes = readSecret(ref, `${s.where}.${field}`, env); // also checks a file is readable now
    if ('file' in ref) return ref.file;
    const tlsDir = path.join(dir, 'tls');
    mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
    const f = path.join(tlsDir, `${process.pid}-${field}-${written.length}.pem`);
    writeFileSync(f, bytes, { mode: 0o600 });
    chmodSync(f, 0o600); // an existing file keeps its mode on write
    written.push(f);
    return f;
  };
  const options: UwsTlsFiles['options'] = {
    key_file_name: fileOf(s.key!, 'key'),
    cert_file_name: fileOf(s.cert!, 'cert'),
  };
  if (s.requireClientCert) options.ca_file_name = fileOf(s.ca!, 'ca');
  return {
    options,
    remove() {
      for (const f of written.splice(0)) rmSync(f, { force: true });
    },
  };
}
