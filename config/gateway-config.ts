// Gateway configuration: which shards exist (their instruments and replicas), who may trade
// (accounts, their API keys and risk limits), the admin keys, and the exchange's signing key.
// A JSON file (gateway/examples/gateway-local.json); relative paths are relative to it. The
// gateway reads all of it; the query service (events/query/) reads the accounts, keys, shards
// and data directory from the same file, which is why it lives here and not in gateway/.
//
//   {
//     "listen": { "rest": "127.0.0.1:8080", "grpc": "127.0.0.1:50051" },
//     "receiveWindowMs": 5000,
//     "shards": [ { "id": 0, "clusterConfig": "../../replicator/examples/cluster-3-local.json" } ],
//     "accounts": [
//       { "account": 1,
//         "apiKeys": [ { "key": "demo-key-1", "hmacSecret": "…" }, { "key": "demo-ed-1", "ed25519PublicKey": "<base64 raw 32 bytes>" } ],
//         "risk": { "maxOrderQty": 1000000, "maxNotional": 1e12, "maxOpenOrders": 10000, "ratePerSec": 1000, "burst": 2000 } } ],
//     "adminKeys": [ { "key": "admin", "hmacSecret": "…" } ],
//     "signingKey": "exchange-ed25519.pem",      // PKCS#8 PEM; generated at first start if missing
//     "chainHeadEveryReports": 1000, "chainHeadEveryMs": 1000,
//     "slowOrderMs": 5,                           // slower requests go to the slow-order dump (gateway/trace.ts)
//     "workers": 2,
//     "fix": { "listen": "127.0.0.1:9878", "targetCompId": "MATCHBOOK",   // the FIX 4.4 acceptor (fix/README.md)
//              "dropCopy": [ { "apiKey": "admin", "accounts": [1, 2] } ] }, // admin keys granted drop copy
//     "ui": { "enabled": true,                    // the browser page on the REST port (gateway/README.md); optional
//             "queryUrl": "http://127.0.0.1:8081", "queryMetrics": "127.0.0.1:8081",
//             "publisherMetrics": ["127.0.0.1:9105"] } // where the events side runs, for the page (all optional)
//   }
//
// The instruments of a shard come from its cluster file's shardConfig (the engine config), so
// the gateway validates tick and lot sizes with exactly the numbers the engine uses.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../engine/config.js';
import type { Notional } from '../engine/notional.js';
import type { InstrumentConfig, ShardConfig } from '../engine/types.js';
import { parseClusterConfig, parseHostPort } from '../replicator/cluster-config.js';
import type { ApiKeyConfig } from '../api/auth.js';
import { notionalBeyondUint64, notionalOfBigint } from '../api/exact-uint64.js';
import { hmacSecretOf, parseServerTls, parseTlsSettings, type TlsSettings } from './tls-config.js';

export interface RiskLimits {
  /** Largest quantity of one order (quantity units). */
  maxOrderQty: number;
  /**
   * Largest price × quantity of one order (price units × quantity units). In the file a positive
   * integer: a JSON number up to 2^53 − 1, or a string of digits for any larger value (a wide
   * instrument's, e.g. "1000000000000000000"); here a number when it is at most 2^53 − 1, else a
   * bigint (the Notional rule), so that gateway/risk.ts compares exactly.
   */
  maxNotional: Notional;
  /** Live orders of the account at most (as seen by this gateway, pending ones included). */
  maxOpenOrders: number;
  /** Token bucket per API key: refill rate (requests/s) and capacity. */
  ratePerSec: number;
  burst: number;
}

export interface AccountEntry {
  account: number;
  apiKeys: ApiKeyConfig[];
  risk: RiskLimits;
}

export interface ShardEntry {
  id: number;
  symbols: string[];
  instruments: InstrumentConfig[];
  engineConfig: ShardConfig;
  replicas: { id: number; host: string; port: number }[];
  /** TLS to this shard's replicas: the shard entry's own "tls", else its cluster file's; undefined: plain TCP. */
  tls?: TlsSettings | undefined;
  /** The shard's cluster file (absolute): the browser page reads its members' feed and ops addresses. */
  clusterConfigPath?: string;
}

export interface GatewayConfig {
  listen: { rest: { host: string; port: number }; grpc: { host: string; port: number } };
  receiveWindowMs: number;
  shards: ShardEntry[];
  accounts: AccountEntry[];
  adminKeys: ApiKeyConfig[];
  /** Path of the exchange's Ed25519 private key (PKCS#8 PEM). */
  signingKeyPath: string;
  chainHeadEveryReports: number;
  chainHeadEveryMs: number;
  /** A request slower than this end to end (ms) goes to the slow-order dump (gateway/trace.ts). */
  slowOrderMs: number;
  /** piscina threads for validation and signing. */
  workers: number;
  /** Directory for the gateway's own files (signed chain heads). */
  dataDir: string;
  /** TLS on the gateway's REST (and user stream) and gRPC ports; undefined: plaintext. */
  tls: TlsSettings | undefined;
  /** TLS on the query service's REST and gRPC ports (the "query" section's "tls"); undefined: plaintext. */
  queryTls: TlsSettings | undefined;
  /** API keys whose HMAC secret is written in the file itself (demos only; warned about with TLS on). */
  plainSecretKeys: string[];
  /** The FIX 4.4 acceptor (the "fix" section; defaults when absent). */
  fix: FixConfig;
  /** The browser page (the "ui" section; served, with nothing known of the events side, when absent). */
  ui: UiSettings;
}

/** The "ui" section: whether the REST port serves the browser page, and where the events side is. */
export interface UiSettings {
  enabled: boolean;
  /** The query service's base URL (`http[s]://host:port`, no trailing slash) the page reads; undefined: none. */
  queryUrl: string | undefined;
  /** Each shard's publisher /metrics (`host:port`), shard s at index s: for the operator console. */
  publisherMetrics: string[];
  /** The query service's /metrics and /readyz (`host:port`, its REST address): for the operator console. */
  queryMetrics: string | undefined;
}

/** The FIX 4.4 acceptor's section (fix/README.md). */
export interface FixConfig {
  listen: { host: string; port: number };
  /** 56 TargetCompID clients send (the acceptor's SenderCompID). */
  targetCompId: string;
  /** Admin keys granted a drop copy of these accounts' reports (a Logon with 553 = apiKey). */
  dropCopy: { apiKey: string; accounts: number[] }[];
}

/** The FIX acceptor's default address (npm start adds its port offset) and TargetCompID. */
export const FIX_LISTEN_DEFAULT = '127.0.0.1:9878';
export const FIX_TARGET_COMP_ID_DEFAULT = 'MATCHBOOK';
/** A CompID: printable, no SOH or '=' (they would break the frame), at most 64 characters. */
const COMP_ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

export const DEFAULT_RISK: RiskLimits = {
  maxOrderQty: 1e9,
  maxNotional: 1e15,
  maxOpenOrders: 100_000,
  ratePerSec: 100_000,
  burst: 200_000,
};
export const RECEIVE_WINDOW_MS_DEFAULT = 5_000;
/** A gateway request slower than this end to end (ms) goes to the slow-order dump (gateway/trace.ts). */
export const SLOW_ORDER_MS_DEFAULT = 5;

export class GatewayConfigError extends Error {
  override name = 'GatewayConfigError';
}

function fail(msg: string): never {
  throw new GatewayConfigError(`gateway config: ${msg}`);
}

function num(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) fail(`${what} must be a number ≥ ${min}`);
  return v;
}

/**
 * A positive integer notional limit: a JSON number that is a safe integer, or a string of digits
 * (for a limit above 2^53 − 1, which a JSON number cannot hold exactly). A number above 2^53 − 1
 * is refused rather than taken as whatever double it was read as.
 */
function notionalLimit(v: unknown, what: string): Notional {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 1)
      fail(`${what} must be an integer from 1 to 2^53-1, or a string of digits for a larger value`);
    return v;
  }
  if (typeof v !== 'string' || !/^[1-9][0-9]{0,39}$/.test(v))
    fail(`${what} must be a positive integer (a number, or a string of digits)`);
  return notionalOfBigint(BigInt(v));
}

/**
 * API keys; an hmacSecret is a plain string (demos) or `{ "file" }` / `{ "env" }` (config/tls-config.ts),
 * read here. Keys whose secret is plain are added to `plain`.
 */
function apiKeys(v: unknown, what: string, baseDir: string, plain: string[]): ApiKeyConfig[] {
  if (!Array.isArray(v)) fail(`${what} must be an array`);
  return v.map((k: unknown, i) => {
    const o = k as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.key !== 'string' || o.key.length === 0)
      fail(`${what}[${i}].key must be a non-empty string`);
    const hasHmac =
      (typeof o.hmacSecret === 'string' && o.hmacSecret.length > 0) ||
      (typeof o.hmacSecret === 'object' && o.hmacSecret !== null);
    const hasEd = typeof o.ed25519PublicKey === 'string' && Buffer.from(o.ed25519PublicKey, 'base64').length === 32;
    if (hasHmac === hasEd)
      fail(`${what}[${i}] needs exactly one of hmacSecret or ed25519PublicKey (base64 of 32 bytes)`);
    if (!hasHmac) return { key: o.key, ed25519PublicKey: o.ed25519PublicKey as string };
    const h = secretOrFail(o.hmacSecret, `${what}[${i}].hmacSecret`, baseDir);
    if (h.plain) plain.push(o.key);
    return { key: o.key, hmacSecret: h.secret };
  });
}

/** Reads a secret reference; its error (naming the field, file or variable, never the secret) as a GatewayConfigError. */
function secretOrFail(v: unknown, where: string, baseDir: string): { secret: string; plain: boolean } {
  try {
    return hmacSecretOf(v, where, baseDir);
  } catch (err) {
    return fail((err as Error).message);
  }
}

/** A "tls" section as a GatewayConfigError on failure. */
function tlsOrFail(parse: () => TlsSettings | undefined): TlsSettings | undefined {
  try {
    return parse();
  } catch (err) {
    return fail((err as Error).message);
  }
}

/** Each shard's instruments and replicas from its cluster file (and the TLS to reach them). */
function parseShards(shardsRaw: unknown[], baseDir: string): ShardEntry[] {
  return shardsRaw.map((s: unknown, i) => {
    const so = s as Record<string, unknown>;
    if (typeof so.clusterConfig !== 'string') fail(`shards[${i}].clusterConfig must be a path`);
    const clusterFile = path.resolve(baseDir, so.clusterConfig);
    const cluster = parseClusterConfig(
      JSON.parse(readFileSync(clusterFile, 'utf8')) as unknown,
      path.dirname(clusterFile),
    );
    const engineConfig = parseConfig(JSON.parse(readFileSync(cluster.shardConfigPath, 'utf8')) as unknown);
    const beyond = notionalBeyondUint64(engineConfig);
    if (beyond !== undefined) fail(`${cluster.shardConfigPath} ${beyond}`);
    return {
      id: typeof so.id === 'number' ? so.id : engineConfig.shardId,
      symbols: engineConfig.instruments.map((x) => x.symbol),
      instruments: engineConfig.instruments,
      engineConfig,
      replicas: cluster.members.map((m) => ({ id: m.id, host: m.client.host, port: m.client.port })),
      tls: tlsOrFail(() => parseTlsSettings(so.tls, `shards[${i}].tls`, baseDir)) ?? cluster.tls,
      clusterConfigPath: clusterFile,
    };
  });
}

export function parseGatewayConfig(raw: unknown, baseDir: string): GatewayConfig {
  const o = raw as Record<string, unknown>;
  if (typeof o !== 'object' || o === null) fail('not an object');
  const listen = (o.listen ?? {}) as Record<string, unknown>;
  const shardsRaw = o.shards;
  if (!Array.isArray(shardsRaw) || shardsRaw.length === 0) fail('shards must be a non-empty array');
  const shards = parseShards(shardsRaw, baseDir);
  const seen = new Set<string>();
  for (const s of shards)
    for (const sym of s.symbols) {
      if (seen.has(sym)) fail(`symbol ${sym} is in two shards`);
      seen.add(sym);
    }
  const accountsRaw = o.accounts;
  if (!Array.isArray(accountsRaw)) fail('accounts must be an array');
  const keys = new Set<string>();
  const plainSecretKeys: string[] = [];
  const accounts: AccountEntry[] = accountsRaw.map((a: unknown, i) => {
    const ao = a as Record<string, unknown>;
    if (typeof ao.account !== 'number' || !Number.isSafeInteger(ao.account) || ao.account < 1)
      fail(`accounts[${i}].account must be a positive integer`);
    const r = (ao.risk ?? {}) as Record<string, unknown>;
    const risk: RiskLimits = {
      maxOrderQty:
        r.maxOrderQty === undefined
          ? DEFAULT_RISK.maxOrderQty
          : num(r.maxOrderQty, `accounts[${i}].risk.maxOrderQty`, 1),
      maxNotional:
        r.maxNotional === undefined
          ? DEFAULT_RISK.maxNotional
          : notionalLimit(r.maxNotional, `accounts[${i}].risk.maxNotional`),
      maxOpenOrders:
        r.maxOpenOrders === undefined
          ? DEFAULT_RISK.maxOpenOrders
          : num(r.maxOpenOrders, `accounts[${i}].risk.maxOpenOrders`, 1),
      ratePerSec:
        r.ratePerSec === undefined
          ? DEFAULT_RISK.ratePerSec
          : num(r.ratePerSec, `accounts[${i}].risk.ratePerSec`, 0.001),
      burst: r.burst === undefined ? DEFAULT_RISK.burst : num(r.burst, `accounts[${i}].risk.burst`, 1),
    };
    const ks = apiKeys(ao.apiKeys, `accounts[${i}].apiKeys`, baseDir, plainSecretKeys);
    for (const k of ks) {
      if (keys.has(k.key)) fail(`API key ${k.key} appears twice`);
      keys.add(k.key);
    }
    return { account: ao.account, apiKeys: ks, risk };
  });
  const adminKeys = apiKeys(o.adminKeys ?? [], 'adminKeys', baseDir, plainSecretKeys);
  for (const k of adminKeys) if (keys.has(k.key)) fail(`admin key ${k.key} is also an account key`);
  return {
    listen: {
      rest: parseHostPort(listen.rest ?? '127.0.0.1:8080', 'gateway config listen.rest'),
      grpc: parseHostPort(listen.grpc ?? '127.0.0.1:50051', 'gateway config listen.grpc'),
    },
    receiveWindowMs:
      o.receiveWindowMs === undefined ? RECEIVE_WINDOW_MS_DEFAULT : num(o.receiveWindowMs, 'receiveWindowMs', 1),
    shards,
    accounts,
    adminKeys,
    signingKeyPath: path.resolve(baseDir, typeof o.signingKey === 'string' ? o.signingKey : 'exchange-ed25519.pem'),
    chainHeadEveryReports:
      o.chainHeadEveryReports === undefined ? 1000 : num(o.chainHeadEveryReports, 'chainHeadEveryReports', 1),
    chainHeadEveryMs: o.chainHeadEveryMs === undefined ? 1000 : num(o.chainHeadEveryMs, 'chainHeadEveryMs', 1),
    slowOrderMs: o.slowOrderMs === undefined ? SLOW_ORDER_MS_DEFAULT : num(o.slowOrderMs, 'slowOrderMs', 0),
    workers: o.workers === undefined ? 2 : num(o.workers, 'workers', 1),
    dataDir: path.resolve(baseDir, typeof o.dataDir === 'string' ? o.dataDir : '.'),
    tls: tlsOrFail(() => parseServerTls(o.tls, 'gateway config tls', baseDir)),
    queryTls: tlsOrFail(() =>
      parseServerTls((o.query as Record<string, unknown> | undefined)?.tls, 'gateway config query.tls', baseDir),
    ),
    plainSecretKeys,
    fix: parseFixConfig(o.fix, adminKeys, accounts),
    ui: parseUiSettings(o.ui),
  };
}

const UI_FIELDS = ['enabled', 'queryUrl', 'publisherMetrics', 'queryMetrics'];

/** A `host:port` of the "ui" section, as written (the page's server scrapes http://<it>/metrics). */
function uiHostPort(v: unknown, where: string): string {
  try {
    parseHostPort(v, where);
  } catch (err) {
    fail(`${where}: ${(err as Error).message}`);
  }
  if (typeof v !== 'string') fail(`${where} must be a "host:port" string`);
  return v;
}

/** The "ui" section (absent: the page is served and knows nothing of the events side). */
function parseUiSettings(v: unknown): UiSettings {
  if (v === undefined) return { enabled: true, queryUrl: undefined, publisherMetrics: [], queryMetrics: undefined };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('ui must be an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!UI_FIELDS.includes(k)) fail(`ui.${k} is not a field (${UI_FIELDS.join(', ')})`);
  if (o.enabled !== undefined && typeof o.enabled !== 'boolean') fail('ui.enabled must be true or false');
  let queryUrl: string | undefined;
  if (o.queryUrl !== undefined) {
    if (typeof o.queryUrl !== 'string' || !/^https?:\/\/[^/\s?#]+\/?$/.test(o.queryUrl))
      fail('ui.queryUrl must be "http://host:port" or "https://host:port" (no path)');
    queryUrl = o.queryUrl.replace(/\/$/, '');
  }
  const pubs = o.publisherMetrics ?? [];
  if (!Array.isArray(pubs)) fail('ui.publisherMetrics must be an array of "host:port", shard s at index s');
  return {
    enabled: o.enabled !== false,
    queryUrl,
    publisherMetrics: pubs.map((p, i) => uiHostPort(p, `ui.publisherMetrics[${i}]`)),
    queryMetrics: o.queryMetrics === undefined ? undefined : uiHostPort(o.queryMetrics, 'ui.queryMetrics'),
  };
}

/** The "fix" section: where the acceptor listens, its CompID, the drop-copy grants (admin keys, configured accounts). */
function parseFixConfig(v: unknown, adminKeys: ApiKeyConfig[], accounts: AccountEntry[]): FixConfig {
  const o = (v ?? {}) as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail('fix must be an object');
  const targetCompId = o.targetCompId ?? FIX_TARGET_COMP_ID_DEFAULT;
  if (typeof targetCompId !== 'string' || !COMP_ID_RE.test(targetCompId))
    fail('fix.targetCompId must be 1-64 characters of [A-Za-z0-9_.:-]');
  const grants = o.dropCopy ?? [];
  if (!Array.isArray(grants)) fail('fix.dropCopy must be an array');
  const admins = new Set(adminKeys.map((k) => k.key));
  const known = new Set(accounts.map((a) => a.account));
  const seen = new Set<string>();
  const dropCopy = grants.map((g: unknown, i) => {
    const go = (g ?? {}) as Record<string, unknown>;
    const where = `fix.dropCopy[${i}]`;
    if (typeof go.apiKey !== 'string' || !admins.has(go.apiKey)) fail(`${where}.apiKey must be one of adminKeys`);
    if (seen.has(go.apiKey)) fail(`${where}.apiKey ${go.apiKey} is granted twice`);
    seen.add(go.apiKey);
    if (!Array.isArray(go.accounts) || go.accounts.length === 0) fail(`${where}.accounts must be a non-empty array`);
    for (const a of go.accounts as unknown[])
      if (typeof a !== 'number' || !known.has(a)) fail(`${where}.accounts: ${String(a)} is not a configured account`);
    return { apiKey: go.apiKey, accounts: [...new Set(go.accounts as number[])] };
  });
  return {
    listen: parseHostPort(o.listen ?? FIX_LISTEN_DEFAULT, 'gateway config fix.listen'),
    targetCompId,
    dropCopy,
  };
}

export function loadGatewayConfig(file: string): GatewayConfig {
  return parseGatewayConfig(JSON.parse(readFileSync(file, 'utf8')) as unknown, path.dirname(path.resolve(file)));
}
