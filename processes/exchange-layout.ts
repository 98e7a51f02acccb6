// Where `npm start` (exchange.ts) keeps everything it writes, and the configuration it runs with.
//
// One data root holds it all: `--data-dir DIR` (relative to the working directory, like every
// path given on a command line), by default `./data` of the working directory — the repo's
// `data/` when run from the repo as the README says (npm runs scripts from the package root).
//
//   <root>/cluster-3-local/node-<id>/   shard 0's replicas: WALs, snapshots and hard state
//   <root>/shard-<s>/node-<id>/         shard s ≥ 1's replicas (`--shards N`)
//   <root>/gateway/                     the signing key (made at first start), the report chain
//   <root>/events/broker/               the embedded Kafka-protocol broker's topics and offsets
//   <root>/events/publisher/            shard 0's publisher's checkpoint
//   <root>/events/publisher-shard-<s>/  shard s ≥ 1's publisher's checkpoint
//   <root>/events/query/                the read models' snapshot
//   <root>/config/                      the cluster, instruments and gateway files the processes
//                                       run with, written at every start from the examples (below),
//                                       and shards.json: which shard holds which symbol
//
// Shard 0 keeps the paths and ports of the one-shard exchange, so a data root made before
// `--shards` existed is shard 0 of a one-shard exchange. The examples
// (replicator/examples/cluster-3-local.json, gateway/examples/gateway-local.json,
// engine/examples/instruments.json or `--instruments FILE`) stay the source of truth for
// members, accounts, keys, instruments and limits; the files written under <root>/config/ are
// those with every data path moved under the root (paths made absolute), the instruments dealt
// over the shards (shard-plan.ts), and every port moved by `--port-offset N` (default 0: the
// documented ports) plus s × SHARD_PORT_STRIDE for shard s. Nothing is written next to the
// sources. Pure except writeExchangeConfigs.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FIX_LISTEN_DEFAULT } from '../config/gateway-config.js';
import { PACKAGE_ROOT } from '../ops/package-root.js';
import { SHARD_PORT_STRIDE, SHARDS_MAX } from './limits.js';
import { splitInstruments } from './shard-plan.js';

// The examples are read from the package root, from the source tree and from dist/ alike.
const REPO_ROOT = PACKAGE_ROOT;
export const EXAMPLE_CLUSTER_CONFIG = path.join(REPO_ROOT, 'replicator/examples/cluster-3-local.json');
export const EXAMPLE_GATEWAY_CONFIG = path.join(REPO_ROOT, 'gateway/examples/gateway-local.json');
/** The instruments `npm start` deals over its shards unless `--instruments FILE` names others. */
export const EXAMPLE_INSTRUMENTS = path.join(REPO_ROOT, 'engine/examples/instruments.json');

/** The data root when none is given, relative to the working directory. */
export const DATA_ROOT_DEFAULT = 'data';
/** Subdirectories of the data root. */
export const DATA_SUBDIRS = {
  replicas: 'cluster-3-local',
  gateway: 'gateway',
  events: 'events',
  config: 'config',
} as const;
/** The events side's default addresses (events/local-events.ts), moved with the others. */
const EVENTS_PORTS = { broker: 9092, brokerOps: 9104, publisherOps: 9105, queryRest: 8081, queryGrpc: 50052 };
const PORT_MAX = 65_535;
/** Under <root>/config/: which shard holds which symbol, as last started (a later start must agree). */
const SHARD_PLAN_FILE = 'shards.json';

/** One shard's files and ports under the data root. */
export interface ShardLayout {
  shard: number;
  /** The cluster file its replicas and its publisher run with (shard 0: config/cluster-3-local.json). */
  clusterConfigPath: string;
  /** Its engine config: the instruments dealt to it (config/instruments-shard-<s>.json). */
  instrumentsPath: string;
  /** Its replicas' data dirs are node-<id>/ under here. */
  replicasDir: string;
  /** Its publisher's checkpoint directory. */
  publisherDataDir: string;
  publisherOps: string;
}

export interface ExchangeLayout {
  /** Absolute. */
  dataRoot: string;
  clusterConfigPath: string;
  gatewayConfigPath: string;
  /** Broker, publisher and read-model files go under here (events/local-events.ts). */
  eventsDir: string;
  portOffset: number;
  /** The instruments file dealt over the shards (absolute). */
  instrumentsSource: string;
  /** One per shard, shard s at index s (`--shards N`, default 1). */
  shards: ShardLayout[];
  events: {
    brokerPort: number;
    brokerOps: string;
    publisherOps: string;
    queryRest: string;
    queryGrpc: string;
  };
}

/** `host:port` moved by `offset`; throws when the port leaves 1..65535. */
export function shiftAddress(addr: string, offset: number, what: string, by = '--port-offset'): string {
  const k = addr.lastIndexOf(':');
  const port = Number(addr.slice(k + 1)) + offset;
  if (k < 0 || !Number.isSafeInteger(port) || port < 1 || port > PORT_MAX)
    throw new Error(`${what}: ${addr} moved by ${offset} (${by}) is not a port (1..${PORT_MAX})`);
  return `${addr.slice(0, k)}:${port}`;
}

/** Where shard `shard`'s replicas keep their data (shard 0: where the one-shard exchange keeps it). */
export function replicasDirOf(dataRoot: string, shard: number): string {
  return path.join(dataRoot, shard === 0 ? DATA_SUBDIRS.replicas : `shard-${shard}`);
}

/**
 * The example cluster file as shard `shard` (default 0): its data under `dataRoot`, absolute
 * paths, ports moved by `portOffset` + shard × SHARD_PORT_STRIDE, its own cluster id and, when
 * given, its own instruments file.
 */
export function clusterConfigFor(
  raw: Record<string, unknown>,
  exampleDir: string,
  dataRoot: string,
  portOffset: number,
  shard = 0,
  shardConfigPath?: string,
): Record<string, unknown> {
  const offset = portOffset + shard * SHARD_PORT_STRIDE;
  const what = shard === 0 ? '--port-offset' : `--port-offset and shard ${shard}`;
  const members = (raw.members as Record<string, unknown>[]).map((m) => {
    const out: Record<string, unknown> = { ...m };
    for (const key of ['raft', 'client', 'feed', 'ops'])
      if (typeof m[key] === 'string') out[key] = shiftAddress(m[key], offset, `member ${String(m.id)} ${key}`, what);
    return out;
  });
  const id = String(raw.clusterId);
  return {
    ...raw,
    // Shard s's own id: the publisher's progress records are per (shard, cluster id).
    clusterId:
      shard === 0 ? raw.clusterId : id.startsWith('shard-0') ? `shard-${shard}${id.slice(7)}` : `${id}-shard-${shard}`,
    dataDir: replicasDirOf(dataRoot, shard),
    shardConfig: shardConfigPath ?? path.resolve(exampleDir, String(raw.shardConfig)),
    members,
  };
}

/**
 * The example gateway file with its files under `dataRoot`, ports moved, and its shard on the
 * example cluster replaced by `shardClusterConfigs` (shard s's cluster file at index s; default
 * the one file `clusterConfigPath`); any other shard's file path made absolute.
 */
export function gatewayConfigFor(
  raw: Record<string, unknown>,
  exampleDir: string,
  dataRoot: string,
  clusterConfigPath: string,
  portOffset: number,
  shardClusterConfigs: string[] = [clusterConfigPath],
): Record<string, unknown> {
  const listen = (raw.listen ?? {}) as Record<string, string>;
  const fix = (raw.fix ?? {}) as Record<string, unknown> & { listen?: string };
  const gatewayDir = path.join(dataRoot, DATA_SUBDIRS.gateway);
  const shards = (raw.shards as Record<string, unknown>[]).flatMap((s) => {
    const file = path.resolve(exampleDir, String(s.clusterConfig));
    if (file !== EXAMPLE_CLUSTER_CONFIG) return [{ ...s, clusterConfig: file }];
    return shardClusterConfigs.map((clusterConfig, id) => ({ ...s, id, clusterConfig }));
  });
  return {
    ...raw,
    listen: {
      rest: shiftAddress(listen.rest ?? '127.0.0.1:8080', portOffset, 'gateway listen.rest'),
      grpc: shiftAddress(listen.grpc ?? '127.0.0.1:50051', portOffset, 'gateway listen.grpc'),
    },
    fix: { ...fix, listen: shiftAddress(fix.listen ?? FIX_LISTEN_DEFAULT, portOffset, 'gateway fix.listen') },
    shards,
    signingKey: path.join(gatewayDir, 'exchange-ed25519.pem'),
    dataDir: gatewayDir,
  };
}

/** Shard `s`'s files and ports under `root` (its ports moved by portOffset + s × SHARD_PORT_STRIDE). */
function shardLayout(root: string, s: number, portOffset: number): ShardLayout {
  const configDir = path.join(root, DATA_SUBDIRS.config);
  const offset = portOffset + s * SHARD_PORT_STRIDE;
  return {
    shard: s,
    clusterConfigPath: path.join(
      configDir,
      s === 0 ? path.basename(EXAMPLE_CLUSTER_CONFIG) : `cluster-shard-${s}.json`,
    ),
    instrumentsPath: path.join(configDir, `instruments-shard-${s}.json`),
    replicasDir: replicasDirOf(root, s),
    publisherDataDir: path.join(root, DATA_SUBDIRS.events, s === 0 ? 'publisher' : `publisher-shard-${s}`),
    publisherOps: shiftAddress(`127.0.0.1:${EVENTS_PORTS.publisherOps}`, offset, `shard ${s} publisher ops`),
  };
}

/**
 * The layout for `dataRoot` (resolved against the working directory), `portOffset` and `shards`
 * shards (1..SHARDS_MAX) dealt from `instruments`; pure. Throws when a value is out of range.
 */
export function exchangeLayout(
  dataRoot: string,
  portOffset: number,
  shards = 1,
  instruments = EXAMPLE_INSTRUMENTS,
): ExchangeLayout {
  if (!Number.isSafeInteger(shards) || shards < 1 || shards > SHARDS_MAX)
    throw new Error(`--shards must be an integer in 1..${SHARDS_MAX} (SHARDS_MAX), not ${String(shards)}`);
  const root = path.resolve(dataRoot);
  const at = (port: number, what: string) => shiftAddress(`127.0.0.1:${port}`, portOffset, what);
  const configDir = path.join(root, DATA_SUBDIRS.config);
  const shardList = Array.from({ length: shards }, (_, s) => shardLayout(root, s, portOffset));
  return {
    dataRoot: root,
    clusterConfigPath: shardList[0]!.clusterConfigPath,
    gatewayConfigPath: path.join(configDir, path.basename(EXAMPLE_GATEWAY_CONFIG)),
    eventsDir: path.join(root, DATA_SUBDIRS.events),
    portOffset,
    instrumentsSource: path.resolve(instruments),
    shards: shardList,
    events: {
      brokerPort: Number(at(EVENTS_PORTS.broker, 'broker').split(':')[1]),
      brokerOps: at(EVENTS_PORTS.brokerOps, 'broker ops'),
      publisherOps: shardList[0]!.publisherOps,
      queryRest: at(EVENTS_PORTS.queryRest, 'query rest'),
      queryGrpc: at(EVENTS_PORTS.queryGrpc, 'query grpc'),
    },
  };
}

/** Symbol → shard of a plan (the instruments files of the shards, shard s at index s). */
export function symbolShards(plan: { instruments: Record<string, unknown>[] }[]): Record<string, number> {
  const out: Record<string, number> = {};
  plan.forEach((file, s) => {
    for (const inst of file.instruments) out[String(inst.symbol)] = s;
  });
  return out;
}

/**
 * Why a data root that last ran with `recorded` (symbol → shard) cannot run with `planned`, or
 * undefined. A symbol that moves to another shard would leave its orders in the old shard's log,
 * replayed against an engine that no longer lists it, so a moved symbol is refused.
 */
export function planConflict(
  recorded: Record<string, number> | undefined,
  planned: Record<string, number>,
): string | undefined {
  if (recorded === undefined) return undefined;
  for (const [symbol, shard] of Object.entries(planned)) {
    const was = recorded[symbol];
    if (was !== undefined && was !== shard)
      return `symbol ${symbol} was on shard ${was} of this data root and would be on shard ${shard}: start with the shard count (and instruments) it was made with, or stop it and remove the data root for a fresh exchange`;
  }
  return undefined;
}

/** What the data root last ran with: config/shards.json, else (an older root with replicas' data) one shard, else nothing. */
function recordedPlan(
  layout: ExchangeLayout,
  instruments: Record<string, unknown>,
): Record<string, number> | undefined {
  const file = path.join(layout.dataRoot, DATA_SUBDIRS.config, SHARD_PLAN_FILE);
  if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { symbols: Record<string, number> }).symbols;
  if (existsSync(replicasDirOf(layout.dataRoot, 0))) return symbolShards(splitInstruments(instruments, 1));
  return undefined;
}

/**
 * Writes the instruments, cluster and gateway files of `layout` (from the examples) under its
 * config dir. Throws, writing nothing, when the instruments cannot be dealt over the shards or
 * the data root was made with another plan (planConflict).
 */
export function writeExchangeConfigs(layout: ExchangeLayout): void {
  const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const instruments = readJson(layout.instrumentsSource);
  const plan = splitInstruments(instruments, layout.shards.length);
  const symbols = symbolShards(plan);
  const conflict = planConflict(recordedPlan(layout, instruments), symbols);
  if (conflict !== undefined) throw new Error(conflict);
  const exampleCluster = readJson(EXAMPLE_CLUSTER_CONFIG);
  const clusters = layout.shards.map((sh) =>
    clusterConfigFor(
      exampleCluster,
      path.dirname(EXAMPLE_CLUSTER_CONFIG),
      layout.dataRoot,
      layout.portOffset,
      sh.shard,
      sh.instrumentsPath,
    ),
  );
  const gateway = gatewayConfigFor(
    readJson(EXAMPLE_GATEWAY_CONFIG),
    path.dirname(EXAMPLE_GATEWAY_CONFIG),
    layout.dataRoot,
    layout.clusterConfigPath,
    layout.portOffset,
    layout.shards.map((sh) => sh.clusterConfigPath),
  );
  mkdirSync(path.dirname(layout.clusterConfigPath), { recursive: true });
  const write = (file: string, value: unknown) => writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  layout.shards.forEach((sh, s) => {
    write(sh.instrumentsPath, plan[s]);
    write(sh.clusterConfigPath, clusters[s]);
  });
  write(layout.gatewayConfigPath, gateway);
  write(path.join(layout.dataRoot, DATA_SUBDIRS.config, SHARD_PLAN_FILE), { shards: plan.length, symbols });
}
