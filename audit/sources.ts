// Which files a replay reads: the replicas of each shard (their data directories and the
// engine configuration the shard runs), and the gateway's chain files with the exchange's public
// key. See audit/README.md "Data directories" for the layouts this recognises.
//
// The engine configuration is not in the data directories, so it comes from a configuration
// file: a gateway config (shards → cluster files → engine configs), a cluster file, or an engine
// config. Without --config, the exchange's example configuration (what `npm start` runs,
// gateway/examples/gateway-local.json) is used if it is there.

import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../engine/config.js';
import type { ShardConfig } from '../engine/types.js';
import { type ClusterConfig, parseClusterConfig } from '../replicator/cluster-config.js';
import { isReplicaDir } from './wal-reader.js';
import { PACKAGE_ROOT } from '../ops/package-root.js';

/** The package root, from the source tree and from dist/ alike (package-root.ts). */
export const REPO_ROOT = PACKAGE_ROOT;
export const DEFAULT_CONFIG = path.join(REPO_ROOT, 'gateway/examples/gateway-local.json');
/** `npm start`'s default data root and the gateway file it writes there (processes/exchange-layout.ts, which audit/ may not import). */
const NPM_START_DATA_ROOT = 'data';
const NPM_START_GATEWAY_CONFIG = 'config/gateway-local.json';
export const CHAIN_HEADS_FILE = 'chain-heads.jsonl';
export const CHAIN_JOURNAL_FILE = 'chain-journal.bin';

export class SourceError extends Error {
  override name = 'SourceError';
}

export interface ShardSource {
  shard: number;
  engineConfig: ShardConfig;
  /** Replica data directories (each holds hardstate, wal-*.log, snap-*.snap). */
  replicaDirs: string[];
  /** Voters of the cluster when known (the cluster file's members), else the replicas given. */
  clusterSize: number;
}

export interface GatewaySource {
  dir: string;
  /** Undefined when the file does not exist. */
  journalPath: string | undefined;
  headsPath: string | undefined;
  /** The exchange's Ed25519 public key file (raw base64), if found. */
  publicKeyPath: string | undefined;
}

export interface Sources {
  configPath: string | undefined;
  shards: ShardSource[];
  gateway: GatewaySource | undefined;
  /** How each piece was found (printed by the CLI). */
  notes: string[];
}

export interface SourceOptions {
  dataDirs: string[];
  config?: string;
  engineConfig?: string;
  /** Restrict to this shard (and name the shard of replica/cluster directories). */
  shard?: number;
  gatewayDir?: string;
  publicKey?: string;
}

interface ConfiguredShard {
  shard: number;
  engineConfig: ShardConfig;
  /** The cluster file's data directory (replicas in <dataDir>/node-<id>/). */
  clusterDataDir: string | undefined;
  members: number | undefined;
}

interface Configured {
  path: string | undefined;
  shards: ConfiguredShard[];
  gatewayDataDir: string | undefined;
  signingKeyPath: string | undefined;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch (err) {
    throw new SourceError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

function loadEngineConfig(file: string): ShardConfig {
  try {
    return parseConfig(readJson(file));
  } catch (err) {
    if (err instanceof SourceError) throw err;
    throw new SourceError(`${file}: ${(err as Error).message}`);
  }
}

function fromClusterFile(file: string, shard: number | undefined): ConfiguredShard {
  let cluster: ClusterConfig;
  try {
    cluster = parseClusterConfig(readJson(file), path.dirname(path.resolve(file)));
  } catch (err) {
    if (err instanceof SourceError) throw err;
    throw new SourceError(`${file}: ${(err as Error).message}`);
  }
  const engineConfig = loadEngineConfig(cluster.shardConfigPath);
  return {
    shard: shard ?? engineConfig.shardId,
    engineConfig,
    clusterDataDir: cluster.dataDir,
    members: cluster.members.length,
  };
}

/** A gateway config, a cluster file or an engine config, told apart by their keys. */
function loadConfig(file: string, shardOpt: number | undefined): Configured {
  const raw = readJson(file) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null) throw new SourceError(`${file}: not a JSON object`);
  const base = path.dirname(path.resolve(file));
  if (Array.isArray(raw.shards)) {
    const shards = raw.shards.map((s: unknown, i) => {
      const so = s as Record<string, unknown>;
      if (typeof so?.clusterConfig !== 'string')
        throw new SourceError(`${file}: shards[${i}].clusterConfig must be a path`);
      const c = fromClusterFile(path.resolve(base, so.clusterConfig), undefined);
      return { ...c, shard: typeof so.id === 'number' ? so.id : c.engineConfig.shardId };
    });
    const signingKey = typeof raw.signingKey === 'string' ? raw.signingKey : 'exchange-ed25519.pem';
    return {
      path: file,
      shards,
      gatewayDataDir: path.resolve(base, typeof raw.dataDir === 'string' ? raw.dataDir : '.'),
      signingKeyPath: path.resolve(base, signingKey),
    };
  }
  if (Array.isArray(raw.members))
    return {
      path: file,
      shards: [fromClusterFile(file, shardOpt)],
      gatewayDataDir: undefined,
      signingKeyPath: undefined,
    };
  if (Array.isArray(raw.instruments)) {
    const engineConfig = loadEngineConfig(file);
    return {
      path: file,
      shards: [
        { shard: shardOpt ?? engineConfig.shardId, engineConfig, clusterDataDir: undefined, members: undefined },
      ],
      gatewayDataDir: undefined,
      signingKeyPath: undefined,
    };
  }
  throw new SourceError(
    `${file}: neither a gateway config (shards), a cluster file (members) nor an engine config (instruments)`,
  );
}

function subdirs(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => path.join(dir, d.name))
    .sort();
}

/** Replica directories `node-<id>` of a cluster data directory, by id. */
function replicaSubdirs(dir: string): string[] {
  return subdirs(dir)
    .filter((d) => /^node-\d+$/.test(path.basename(d)) && isReplicaDir(d))
    .sort((a, b) => Number(path.basename(a).slice(5)) - Number(path.basename(b).slice(5)));
}

function isGatewayDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, CHAIN_JOURNAL_FILE)) || fs.existsSync(path.join(dir, CHAIN_HEADS_FILE));
}

function gatewaySource(
  dir: string,
  publicKey: string | undefined,
  signingKeyPath: string | undefined,
  notes: string[],
): GatewaySource {
  const journal = path.join(dir, CHAIN_JOURNAL_FILE);
  const heads = path.join(dir, CHAIN_HEADS_FILE);
  let pub = publicKey;
  if (pub === undefined) {
    const pubs = fs.readdirSync(dir).filter((n) => n.endsWith('.pub'));
    if (pubs.length === 1) pub = path.join(dir, pubs[0]!);
    else if (signingKeyPath !== undefined && fs.existsSync(`${signingKeyPath}.pub`)) pub = `${signingKeyPath}.pub`;
    if (pub !== undefined) notes.push(`public key: ${pub}`);
  }
  return {
    dir,
    journalPath: fs.existsSync(journal) ? journal : undefined,
    headsPath: fs.existsSync(heads) ? heads : undefined,
    publicKeyPath: pub,
  };
}

/** The configuration to read: --config, else the default one when no --engine-config is given. */
function configPathOf(opts: SourceOptions, notes: string[]): string | undefined {
  if (opts.config !== undefined || opts.engineConfig !== undefined) return opts.config;
  // An `npm start` data root (given, else ./data) holds the gateway file the exchange last ran
  // with (processes/exchange-layout.ts): every shard it ran, where --shards N put their data.
  for (const root of opts.dataDirs.length > 0 ? opts.dataDirs : [NPM_START_DATA_ROOT]) {
    const written = path.join(root, NPM_START_GATEWAY_CONFIG);
    if (!fs.existsSync(written)) continue;
    notes.push(`config: ${path.relative(process.cwd(), written)} (default: the configuration \`npm start\` ran with)`);
    return written;
  }
  if (!fs.existsSync(DEFAULT_CONFIG))
    throw new SourceError(
      'no --config or --engine-config given (the engine configuration is not in the data directories)',
    );
  notes.push(`config: ${path.relative(process.cwd(), DEFAULT_CONFIG)} (default: the configuration \`npm start\` runs)`);
  return DEFAULT_CONFIG;
}

/** The configured shards; --engine-config alone is one shard, and with --config it overrides every shard's. */
function loadConfigured(opts: SourceOptions, configPath: string | undefined): Configured {
  if (configPath === undefined) {
    const engineConfig = loadEngineConfig(opts.engineConfig!);
    return {
      path: undefined,
      shards: [
        { shard: opts.shard ?? engineConfig.shardId, engineConfig, clusterDataDir: undefined, members: undefined },
      ],
      gatewayDataDir: undefined,
      signingKeyPath: undefined,
    };
  }
  const configured = loadConfig(configPath, opts.shard);
  if (opts.engineConfig !== undefined) {
    const engineConfig = loadEngineConfig(opts.engineConfig);
    for (const s of configured.shards) s.engineConfig = engineConfig;
  }
  return configured;
}

/** Where the replica directories of each shard and the gateway's directory were found. */
class Found {
  readonly byShard = new Map<number, string[]>();
  gatewayDir: string | undefined;

  constructor(
    private readonly opts: SourceOptions,
    private readonly configured: Configured,
    private readonly notes: string[],
  ) {
    this.gatewayDir = opts.gatewayDir;
  }

  add(shard: number, dirs: string[]): void {
    this.byShard.set(shard, [...(this.byShard.get(shard) ?? []), ...dirs]);
  }

  /** The shard a replica or cluster directory belongs to: --shard, or the configuration's only one. */
  oneShard(): ConfiguredShard {
    const { opts, configured } = this;
    if (opts.shard !== undefined) {
      const s = configured.shards.find((x) => x.shard === opts.shard);
      if (s === undefined)
        throw new SourceError(
          `shard ${opts.shard} is not in the configuration (shards: ${configured.shards.map((x) => x.shard).join(', ')})`,
        );
      return s;
    }
    if (configured.shards.length !== 1)
      throw new SourceError(
        `the configuration has shards ${configured.shards.map((x) => x.shard).join(', ')}: say which with --shard`,
      );
    return configured.shards[0]!;
  }

  /** No --data-dir: the configuration's own data directories. */
  fromConfiguration(): void {
    const { configured } = this;
    for (const s of configured.shards) {
      if (s.clusterDataDir === undefined || !fs.existsSync(s.clusterDataDir)) continue;
      this.add(s.shard, replicaSubdirs(s.clusterDataDir));
    }
    if (
      this.gatewayDir === undefined &&
      configured.gatewayDataDir !== undefined &&
      isGatewayDir(configured.gatewayDataDir)
    )
      this.gatewayDir = configured.gatewayDataDir;
  }

  /** One --data-dir: a replica directory, a cluster directory or an exchange data directory. */
  fromDataDir(d: string): void {
    if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) throw new SourceError(`--data-dir ${d}: not a directory`);
    if (isReplicaDir(d)) {
      this.add(this.oneShard().shard, [d]);
      return;
    }
    const replicas = replicaSubdirs(d);
    if (replicas.length > 0) {
      this.add(this.oneShard().shard, replicas);
      return;
    }
    this.fromExchangeDir(d);
  }

  /** An exchange data directory: cluster directories and the gateway's, one level down. */
  private fromExchangeDir(d: string): void {
    const { configured } = this;
    let matched = 0;
    const clusterDirs = subdirs(d).filter((sd) => replicaSubdirs(sd).length > 0);
    for (const cd of clusterDirs) {
      const base = path.basename(cd);
      let s = configured.shards.find((x) => x.clusterDataDir !== undefined && path.basename(x.clusterDataDir) === base);
      if (s === undefined && configured.shards.length === 1 && clusterDirs.length === 1) s = configured.shards[0];
      if (s === undefined) {
        this.notes.push(`${cd}: no shard of the configuration keeps its data in a directory named ${base}; skipped`);
        continue;
      }
      this.add(s.shard, replicaSubdirs(cd));
      matched++;
    }
    if (this.gatewayDir === undefined) {
      const gw = subdirs(d).find(isGatewayDir) ?? (isGatewayDir(d) ? d : undefined);
      if (gw !== undefined) this.gatewayDir = gw;
    }
    if (matched === 0 && this.gatewayDir === undefined)
      throw new SourceError(
        `--data-dir ${d}: no replica directory (hardstate, wal-*.log), no cluster directory (node-<id>/) and no gateway directory (${CHAIN_JOURNAL_FILE}) in it`,
      );
  }
}

/** The shards (restricted to --shard) that have replica data, in configuration order. */
function shardSources(
  opts: SourceOptions,
  configured: Configured,
  byShard: Map<number, string[]>,
  notes: string[],
): ShardSource[] {
  const shards: ShardSource[] = [];
  for (const s of configured.shards) {
    if (opts.shard !== undefined && s.shard !== opts.shard) continue;
    const dirs = [...new Set((byShard.get(s.shard) ?? []).map((x) => path.resolve(x)))];
    if (dirs.length === 0) {
      notes.push(`shard ${s.shard}: no replica data found`);
      continue;
    }
    shards.push({
      shard: s.shard,
      engineConfig: s.engineConfig,
      replicaDirs: dirs,
      clusterSize: Math.max(s.members ?? dirs.length, dirs.length),
    });
    notes.push(`shard ${s.shard}: ${dirs.map((x) => path.relative(process.cwd(), x) || '.').join(', ')}`);
  }
  if (shards.length === 0) throw new SourceError('no replica data directory found for any shard');
  return shards;
}

export function resolveSources(opts: SourceOptions): Sources {
  const notes: string[] = [];
  const configured = loadConfigured(opts, configPathOf(opts, notes));

  // Replica directories per configured shard.
  const found = new Found(opts, configured, notes);
  if (opts.dataDirs.length === 0) found.fromConfiguration();
  for (const d of opts.dataDirs) found.fromDataDir(d);

  const shards = shardSources(opts, configured, found.byShard, notes);
  let gateway: GatewaySource | undefined;
  if (found.gatewayDir !== undefined) {
    gateway = gatewaySource(path.resolve(found.gatewayDir), opts.publicKey, configured.signingKeyPath, notes);
    notes.push(`gateway: ${path.relative(process.cwd(), gateway.dir) || '.'}`);
  } else if (opts.publicKey !== undefined) {
    throw new SourceError('--public-key needs a gateway directory (--gateway-dir, or one inside --data-dir)');
  }
  return { configPath: configured.path, shards, gateway, notes };
}
