// Where `npm start` (exchange.ts) keeps everything it writes, and the configuration it runs with.
//
// One data root holds it all: `--data-dir DIR` (relative to the working directory, like every
// path given on a command line), by default `./data` of the working directory — the repo's
// `data/` when run from the repo as the README says (npm runs scripts from the package root).
//
//   <root>/cluster-3-local/node-<id>/   the replicas' WALs, snapshots and hard state
//   <root>/gateway/                     the signing key (made at first start), the report chain
//   <root>/events/broker/               the embedded Kafka-protocol broker's topics and offsets
//   <root>/events/publisher/            the publisher's checkpoint
//   <root>/events/query/                the read models' snapshot
//   <root>/config/                      the cluster and gateway files the processes run with,
//                                       written at every start from the examples (below)
//
// The examples (replicator/examples/cluster-3-local.json, gateway/examples/gateway-local.json)
// stay the source of truth for members, accounts, keys and limits; the files written under
// <root>/config/ are those with every data path moved under the root (paths made absolute),
// and every port moved by `--port-offset N` (default 0: the documented ports). Nothing is
// written next to the sources. Pure except writeExchangeConfigs.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../ops/package-root.js';

// The examples are read from the package root, from the source tree and from dist/ alike.
const REPO_ROOT = PACKAGE_ROOT;
export const EXAMPLE_CLUSTER_CONFIG = path.join(REPO_ROOT, 'replicator/examples/cluster-3-local.json');
export const EXAMPLE_GATEWAY_CONFIG = path.join(REPO_ROOT, 'gateway/examples/gateway-local.json');

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

export interface ExchangeLayout {
  /** Absolute. */
  dataRoot: string;
  clusterConfigPath: string;
  gatewayConfigPath: string;
  /** Broker, publisher and read-model files go under here (events/local-events.ts). */
  eventsDir: string;
  portOffset: number;
  events: {
    brokerPort: number;
    brokerOps: string;
    publisherOps: string;
    queryRest: string;
    queryGrpc: string;
  };
}

/** `host:port` moved by `offset`; throws when the port leaves 1..65535. */
export function shiftAddress(addr: string, offset: number, what: string): string {
  const k = addr.lastIndexOf(':');
  const port = Number(addr.slice(k + 1)) + offset;
  if (k < 0 || !Number.isSafeInteger(port) || port < 1 || port > PORT_MAX)
    throw new Error(`${what}: ${addr} moved by --port-offset ${offset} is not a port (1..${PORT_MAX})`);
  return `${addr.slice(0, k)}:${port}`;
}

/** The example cluster file with its data under `dataRoot`, absolute paths and ports moved. */
export function clusterConfigFor(
  raw: Record<string, unknown>,
  exampleDir: string,
  dataRoot: string,
  portOffset: number,
): Record<string, unknown> {
  const members = (raw.members as Record<string, unknown>[]).map((m) => {
    const out: Record<string, unknown> = { ...m };
    for (const key of ['raft', 'client', 'feed', 'ops'])
      if (typeof m[key] === 'string') out[key] = shiftAddress(m[key], portOffset, `member ${String(m.id)} ${key}`);
    return out;
  });
  return {
    ...raw,
    dataDir: path.join(dataRoot, DATA_SUBDIRS.replicas),
    shardConfig: path.resolve(exampleDir, String(raw.shardConfig)),
    members,
  };
}

/**
 * The example gateway file with its files under `dataRoot`, ports moved, and its shard on the
 * example cluster pointed at `clusterConfigPath` (any other shard's file path made absolute).
 */
export function gatewayConfigFor(
  raw: Record<string, unknown>,
  exampleDir: string,
  dataRoot: string,
  clusterConfigPath: string,
  portOffset: number,
): Record<string, unknown> {
  const listen = (raw.listen ?? {}) as Record<string, string>;
  const gatewayDir = path.join(dataRoot, DATA_SUBDIRS.gateway);
  const shards = (raw.shards as Record<string, unknown>[]).map((s) => {
    const file = path.resolve(exampleDir, String(s.clusterConfig));
    return { ...s, clusterConfig: file === EXAMPLE_CLUSTER_CONFIG ? clusterConfigPath : file };
  });
  return {
    ...raw,
    listen: {
      rest: shiftAddress(listen.rest ?? '127.0.0.1:8080', portOffset, 'gateway listen.rest'),
      grpc: shiftAddress(listen.grpc ?? '127.0.0.1:50051', portOffset, 'gateway listen.grpc'),
    },
    shards,
    signingKey: path.join(gatewayDir, 'exchange-ed25519.pem'),
    dataDir: gatewayDir,
  };
}

/** The layout for `dataRoot` (resolved against the working directory) and `portOffset`; pure. */
export function exchangeLayout(dataRoot: string, portOffset: number): ExchangeLayout {
  const root = path.resolve(dataRoot);
  const at = (port: number, what: string) => shiftAddress(`127.0.0.1:${port}`, portOffset, what);
  const configDir = path.join(root, DATA_SUBDIRS.config);
  return {
    dataRoot: root,
    clusterConfigPath: path.join(configDir, path.basename(EXAMPLE_CLUSTER_CONFIG)),
    gatewayConfigPath: path.join(configDir, path.basename(EXAMPLE_GATEWAY_CONFIG)),
    eventsDir: path.join(root, DATA_SUBDIRS.events),
    portOffset,
    events: {
      brokerPort: Number(at(EVENTS_PORTS.broker, 'broker').split(':')[1]),
      brokerOps: at(EVENTS_PORTS.brokerOps, 'broker ops'),
      publisherOps: at(EVENTS_PORTS.publisherOps, 'publisher ops'),
      queryRest: at(EVENTS_PORTS.queryRest, 'query rest'),
      queryGrpc: at(EVENTS_PORTS.queryGrpc, 'query grpc'),
    },
  };
}

/** Writes the cluster and gateway files of `layout` (from the examples) under its config dir. */
export function writeExchangeConfigs(layout: ExchangeLayout): void {
  const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const cluster = clusterConfigFor(
    readJson(EXAMPLE_CLUSTER_CONFIG),
    path.dirname(EXAMPLE_CLUSTER_CONFIG),
    layout.dataRoot,
    layout.portOffset,
  );
  const gateway = gatewayConfigFor(
    readJson(EXAMPLE_GATEWAY_CONFIG),
    path.dirname(EXAMPLE_GATEWAY_CONFIG),
    layout.dataRoot,
    layout.clusterConfigPath,
    layout.portOffset,
  );
  mkdirSync(path.dirname(layout.clusterConfigPath), { recursive: true });
  writeFileSync(layout.clusterConfigPath, `${JSON.stringify(cluster, null, 2)}\n`);
  writeFileSync(layout.gatewayConfigPath, `${JSON.stringify(gateway, null, 2)}\n`);
}
