// The whole exchange on one machine: three replica processes per shard (processes/replica.ts;
// one shard unless `shards` or `clusterConfigPaths` say more) and, in this process, the gateway
// with its REST and gRPC servers. `npm start` uses it with
// the example configuration (persistent data under ./data; each replica also serves market
// data on its `feed` port); the integration tests and the gateway benchmarks use it with a
// temporary cluster on free ports (with feeds only when asked: option `feed`).

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseClusterConfig } from '../replicator/cluster-config.js';
import { ProcessCluster, freePort } from '../replicator/process-cluster.js';
import { splitInstruments } from './shard-plan.js';
import { loadGatewayConfig, parseGatewayConfig, type GatewayConfig } from '../config/gateway-config.js';
import { Gateway } from '../gateway/gateway.js';
import { GrpcGateway } from '../gateway/grpc-server.js';
import { RestGateway } from '../gateway/rest-server.js';
import { exposition } from '../ops/metrics.js';
import { NO_LOG, type Log } from '../ops/log.js';
import { packagePath } from '../ops/package-root.js';
import { reportUwsRuntime } from '../ops/uws-runtime.js';
import { type FixEdge, startFixEdge } from '../fix/fix-edge.js';
import type { LocalEvents } from '../events/local-events.js';
import { loadUiAssets } from '../gateway/ui-assets.js';
import { type UiEventsAddresses, uiRoutes } from '../gateway/ui-views.js';

export interface LocalExchangeOptions {
  /** An existing cluster file (npm start); default: a temporary 3-replica cluster on free ports. */
  clusterConfigPath?: string;
  /** Existing cluster files, shard s's at index s (npm start --shards N); wins over clusterConfigPath. */
  clusterConfigPaths?: string[];
  /**
   * Temporary clusters: this many shards (default 1), each its own 3-replica cluster on free
   * ports, the instruments of `instrumentsPath` dealt round-robin over them (shard-plan.ts).
   */
  shards?: number;
  /** Temporary clusters: the engine config dealt over the shards (default engine/examples/instruments.json). */
  instrumentsPath?: string;
  /** Gateway config file; default: gateway/examples/gateway-local.json with the shard pointed at the cluster. */
  gatewayConfigPath?: string;
  /** Overrides of the gateway config (ports 0 = free ports). */
  restPort?: number;
  grpcPort?: number;
  fsync?: boolean;
  echo?: boolean;
  /** The in-process gateway's log: its core and both edges (default: the core's and REST's text lines on stderr, nothing from gRPC). */
  log?: Log;
  /** Extra fields merged into the gateway config JSON (tests: risk limits, workers…). */
  gatewayOverrides?: Record<string, unknown>;
  /** Temporary cluster: give every replica a market-data feed on a free port (feed/). */
  feed?: boolean;
  /** Temporary cluster: give every replica an ops address (/metrics) on a free port, as `npm start` has. */
  ops?: boolean;
  /** Tests: the user stream's reports held per account (default USER_STREAM_REPORTS_HELD_MAX). */
  userStreamReportsHeldMax?: number;
  /** Temporary cluster: the replicas' "consensus" (cluster-config.ts; default "raft"). */
  consensus?: 'raft' | 'multipaxos';
  /** Temporary cluster: fields merged into its cluster file before the replicas start (tests: "tls", "feedTls"). */
  clusterOverrides?: Record<string, unknown>;
}

export interface LocalExchange {
  /** Shard 0's replicas (clusters[0]). */
  cluster: ProcessCluster;
  /** Every shard's replicas, shard s at index s. */
  clusters: ProcessCluster[];
  gateway: Gateway;
  rest: RestGateway;
  grpc: GrpcGateway;
  /** The FIX 4.4 acceptor (fix/): order entry and drop copy over FIX on the config's `fix.listen`. */
  fix: FixEdge;
  restUrl: string;
  grpcAddress: string;
  /** `host:port` of the FIX acceptor. */
  fixAddress: string;
  /** Shard 0's market-data WebSocket URL per replica, by node id (members with a `feed` address). */
  feedUrls: Map<number, string>;
  /** The same for every shard, shard s at index s. */
  shardFeedUrls: Map<number, string>[];
  config: GatewayConfig;
  /** The gateway config file the exchange runs with (a temporary cluster: the one written for it). */
  gatewayConfigPath: string;
  /**
   * Stops the in-process gateway (REST, gRPC, core) and starts a new one on the same config, data
   * dir and ports; the replicas keep running. `crash`: the user-stream journal is closed first as
   * a kill -9 leaves it (no stop record, nothing flushed); everything else stops gracefully, since
   * the process lives on. Replaces gateway, rest and grpc in this object.
   */
  restartGateway(opts?: { crash?: boolean }): Promise<void>;
  /** Tells the browser page (GET /v1/ui/config, /v1/ui/cluster) where the events side runs. */
  attachEvents(events: Pick<LocalEvents, 'queryRest' | 'metrics'>): void;
  stop(): Promise<void>;
}

/** A restarted gateway must reach the shards' leaders within this (generous: a loaded machine). */
const RESTART_READY_TIMEOUT_MS = 60_000;

const EXAMPLE_GATEWAY_CONFIG = packagePath('gateway/examples/gateway-local.json');

/** The shards' clusters: the given files (kept data), or temporary ones on free ports. */
async function openClusters(opts: LocalExchangeOptions): Promise<{ clusters: ProcessCluster[]; temp: boolean }> {
  const echo = opts.echo !== undefined ? { echo: opts.echo } : {};
  const files = opts.clusterConfigPaths ?? (opts.clusterConfigPath !== undefined ? [opts.clusterConfigPath] : []);
  if (files.length > 0) return { clusters: files.map((f) => ProcessCluster.open(f, echo)), temp: false };
  const n = opts.shards ?? 1;
  const instruments = opts.instrumentsPath ?? packagePath('engine/examples/instruments.json');
  const plan = splitInstruments(JSON.parse(readFileSync(instruments, 'utf8')) as Record<string, unknown>, n);
  const clusters: ProcessCluster[] = [];
  for (const shardFile of plan) {
    const cluster = await ProcessCluster.create({
      fsync: opts.fsync ?? true,
      shardConfigPath: instruments,
      ...echo,
      ...(opts.ops === true ? { ops: true } : {}),
      ...(opts.consensus !== undefined ? { consensus: opts.consensus } : {}),
    });
    // The cluster file was just written; before anyone reads it: several shards each get their
    // dealt instruments (in the cluster's temp dir, removed with it), `feed` a feed address per
    // member, and the caller's overrides (`tls`, `feedTls`) apply.
    const raw = JSON.parse(readFileSync(cluster.configPath, 'utf8')) as Record<string, unknown>;
    if (n > 1) {
      raw.shardConfig = path.join(cluster.dir, `instruments-shard-${String(shardFile.shardId)}.json`);
      writeFileSync(raw.shardConfig as string, JSON.stringify(shardFile, null, 2));
    }
    if (opts.feed === true)
      for (const m of raw.members as Record<string, unknown>[]) m.feed = `127.0.0.1:${await freePort()}`;
    writeFileSync(cluster.configPath, JSON.stringify({ ...raw, ...opts.clusterOverrides }, null, 2));
    clusters.push(cluster);
  }
  return { clusters, temp: true };
}

/** Market-data WebSocket URL per replica of `cluster`, by node id (members with a `feed` address). */
function feedUrlsOf(cluster: ProcessCluster): Map<number, string> {
  const feedUrls = new Map<number, string>();
  const clusterFile = parseClusterConfig(
    JSON.parse(readFileSync(cluster.configPath, 'utf8')) as unknown,
    path.dirname(cluster.configPath),
  );
  const wsScheme = clusterFile.feedTls !== undefined ? 'wss' : 'ws';
  for (const m of clusterFile.members) {
    if (m.feed !== undefined)
      feedUrls.set(
        m.id,
        `${wsScheme}://${m.feed.host.includes(':') ? `[${m.feed.host}]` : m.feed.host}:${m.feed.port}/v1/ws`,
      );
  }
  return feedUrls;
}

/** Starts every shard's replicas and waits for their leaders; a failed start (no leader: e.g. replicas and clients disagree on TLS) leaves no replica running. */
async function startClusters(clusters: ProcessCluster[]): Promise<void> {
  try {
    await Promise.all(clusters.map((c) => c.startAll()));
    await Promise.all(clusters.map((c) => c.waitForLeader(30_000)));
  } catch (err) {
    await Promise.all(clusters.map((c) => c.stop()));
    throw err;
  }
}

/** The gateway's config: the file as is, or (a temporary cluster, overrides, ports) a merged copy written next to it. */
async function gatewayConfigOf(
  opts: LocalExchangeOptions,
  clusters: ProcessCluster[],
  temp: boolean,
): Promise<{ config: GatewayConfig; configPath: string }> {
  let config: GatewayConfig;
  let configPath = opts.gatewayConfigPath ?? EXAMPLE_GATEWAY_CONFIG;
  const file = opts.gatewayConfigPath ?? EXAMPLE_GATEWAY_CONFIG;
  if (temp || opts.gatewayOverrides !== undefined || opts.restPort !== undefined || opts.grpcPort !== undefined) {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const dir = temp ? mkdtempSync(path.join(os.tmpdir(), 'mb-gateway-')) : path.dirname(file);
    const restPort = opts.restPort ?? (temp ? await freePort() : undefined);
    const grpcPort = opts.grpcPort ?? (temp ? await freePort() : undefined);
    const fixPort = temp ? await freePort() : undefined;
    const listen = (raw.listen ?? {}) as Record<string, string>;
    const merged: Record<string, unknown> = {
      ...raw,
      ...(temp
        ? {
            shards: clusters.map((c, id) => ({ id, clusterConfig: c.configPath })),
            signingKey: path.join(dir, 'exchange-ed25519.pem'),
            dataDir: dir,
          }
        : {}),
      listen: {
        rest: restPort !== undefined ? `127.0.0.1:${restPort}` : (listen.rest ?? '127.0.0.1:8080'),
        grpc: grpcPort !== undefined ? `127.0.0.1:${grpcPort}` : (listen.grpc ?? '127.0.0.1:50051'),
      },
      ...(opts.gatewayOverrides ?? {}),
    };
    // The FIX section merges field by field: an override of `dropCopy` keeps the free port.
    const fixOverride = (opts.gatewayOverrides?.fix ?? {}) as Record<string, unknown>;
    if (fixPort !== undefined)
      merged.fix = {
        ...((raw.fix ?? {}) as object),
        ...fixOverride,
        listen: fixOverride.listen ?? `127.0.0.1:${fixPort}`,
      };
    if (temp) {
      configPath = path.join(dir, 'gateway.json');
      writeFileSync(configPath, JSON.stringify(merged, null, 2));
    }
    config = parseGatewayConfig(merged, path.dirname(file));
  } else {
    config = loadGatewayConfig(file);
  }

  return { config, configPath };
}

export async function startLocalExchange(opts: LocalExchangeOptions = {}): Promise<LocalExchange> {
  const { clusters, temp } = await openClusters(opts);
  const cluster = clusters[0]!;
  const shardFeedUrls = clusters.map(feedUrlsOf);
  await startClusters(clusters);

  // A start that fails after the replicas are up (a refused gateway config, a port in use) stops
  // them: nothing of a failed start outlives it.
  let built: Awaited<ReturnType<typeof startGateway>>;
  let config: GatewayConfig;
  let configPath: string;
  let events: UiEventsAddresses | undefined;
  const page = {
    assets: await loadUiAssets(),
    clusterConfigPaths: clusters.map((c) => c.configPath),
    events: () => events,
  };
  try {
    ({ config, configPath } = await gatewayConfigOf(opts, clusters, temp));
    built = await startGateway(config, opts, page, {
      rest: config.listen.rest.port,
      grpc: config.listen.grpc.port,
      fix: config.fix.listen.port,
    });
  } catch (err) {
    await Promise.all(clusters.map((c) => c.stop()));
    throw err;
  }
  const edges = built;
  let stopped = false;
  const ex: LocalExchange = {
    cluster,
    clusters,
    gateway: edges.gateway,
    rest: edges.rest,
    grpc: edges.grpc,
    fix: edges.fix,
    config,
    gatewayConfigPath: configPath,
    restUrl: `${config.tls !== undefined ? 'https' : 'http'}://${config.listen.rest.host}:${edges.restPort}`,
    grpcAddress: `${config.listen.grpc.host}:${edges.grpcPort}`,
    fixAddress: edges.fix.address,
    feedUrls: shardFeedUrls[0]!,
    shardFeedUrls,
    async restartGateway(o = {}) {
      if (o.crash === true) ex.gateway.userStreamJournal?.abandon();
      await stopGateway(ex);
      const next = await startGateway(config, opts, page, {
        rest: edges.restPort,
        grpc: edges.grpcPort,
        fix: edges.fix.port,
      });
      Object.assign(ex, { gateway: next.gateway, rest: next.rest, grpc: next.grpc, fix: next.fix });
      await untilReady(next.gateway);
    },
    attachEvents(started) {
      events = {
        queryUrl: `${config.queryTls !== undefined ? 'https' : 'http'}://${started.queryRest}`,
        publisherMetrics: started.metrics.publishers,
        queryMetrics: started.metrics.query,
      };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopGateway(ex);
      // Graceful for the replicas: each finishes its Ready in progress.
      await Promise.all(clusters.flatMap((c) => c.ids.map((id) => c.terminate(id))));
      await Promise.all(clusters.map((c) => c.stop()));
    },
  };
  return ex;
}

/** The in-process gateway and its edges on these ports (0: free ports). */
async function startGateway(
  config: GatewayConfig,
  opts: LocalExchangeOptions,
  page: {
    assets: Awaited<ReturnType<typeof loadUiAssets>>;
    clusterConfigPaths: string[];
    events: () => UiEventsAddresses | undefined;
  },
  portsWanted: { rest: number; grpc: number; fix: number },
) {
  const log = opts.log !== undefined ? { log: opts.log } : {};
  const held = opts.userStreamReportsHeldMax;
  const gateway = new Gateway(config, { ...log, ...(held !== undefined ? { userStreamReportsHeldMax: held } : {}) });
  const rest = new RestGateway({
    core: gateway,
    host: config.listen.rest.host,
    port: portsWanted.rest,
    ...log,
    admin: (req) => gateway.admin(req),
    metrics: () => exposition(gateway.metrics.registry),
    ready: async () => ({ ...(await gateway.ready()) }),
    userStream: { core: gateway },
    ui: uiRoutes(
      page.assets,
      {
        gateway: config,
        clusterConfigPaths: page.clusterConfigPaths,
        readiness: () => gateway.ready(),
        gatewayMetrics: async () => (await exposition(gateway.metrics.registry)).body,
      },
      page.events,
    ),
    ...(config.tls !== undefined ? { tls: { settings: config.tls, dir: config.dataDir } } : {}),
  });
  const grpc = new GrpcGateway({
    core: gateway,
    host: config.listen.grpc.host,
    port: portsWanted.grpc,
    ...log,
    tls: config.tls,
  });
  reportUwsRuntime(opts.log ?? NO_LOG, gateway.metrics.registry); // REST and the user stream: native or the compat layer
  try {
    const restPort = await rest.start();
    const grpcPort = await grpc.start();
    const fix = await startFixEdge({ core: gateway, config, log: opts.log ?? NO_LOG, portWanted: portsWanted.fix });
    return { gateway, rest, grpc, fix, restPort, grpcPort };
  } catch (err) {
    // An edge that could not listen (its port taken): the others and the core stop with it.
    await rest.stop();
    await grpc.stop();
    await gateway.stop();
    throw err;
  }
}

/** Until the gateway reaches every shard's leader (as a client polls GET /ready), RESTART_READY_TIMEOUT_MS at most. */
async function untilReady(gateway: Gateway): Promise<void> {
  const deadline = Date.now() + RESTART_READY_TIMEOUT_MS;
  while (!(await gateway.ready()).ready) {
    if (Date.now() > deadline) throw new Error(`gateway not ready ${RESTART_READY_TIMEOUT_MS} ms after its restart`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopGateway(ex: Pick<LocalExchange, 'gateway' | 'rest' | 'grpc' | 'fix'>): Promise<void> {
  await ex.fix.acceptor.stop();
  await ex.rest.stop();
  await ex.grpc.stop();
  await ex.gateway.stop();
}
