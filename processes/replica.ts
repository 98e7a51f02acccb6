// A replica process: one shard's replicated log wired to the TCP transport between replicas and
// the client protocol. The cluster file's "consensus" picks the log: Raft (a ReplicaNode,
// replicator/node.ts) by default, or Multi-Paxos (a PaxosNode, replicator/paxos/, with its own
// wire codec); both keep their files in <dataDir>/node-<id>/ and serve the same client port,
// feed and ops. The same program runs all replicas, on one host or several:
//
//   npm run replica -- --config replicator/examples/cluster-3-local.json --node 2
//   (= tsx processes/replica.ts --config … --node 2)
//
// SIGTERM / SIGINT: graceful stop (client server, then the node finishes the Ready it is
// writing and closes the WAL, then the transport), exit 0. A fatal error (failed WAL, corrupt
// WAL at open, broken invariant): logged, exit 1 at once — after a failed fsync nothing may be
// written or acknowledged any more; the replica is repaired from its peers.
//
// Prints one line `{"event":"ready","node":…,"raftPort":…,"clientPort":…,"feedPort":…}` on
// stdout once listening (tests and scripts wait for it); logs go to stderr (pino JSON lines,
// ops/log.ts; LOG_LEVEL).
//
// With a `feed` address in its member entry, the replica also serves market data over
// WebSocket (feed/): the feed is fed from this replica's applied entries through the
// ReplicaNode's onApplied/onStateReset hooks, so any replica can serve it; subscribers should
// use followers, whose apply path does nothing else.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../engine/config.js';
import type { ShardConfig } from '../engine/types.js';
import { MarketDataFeed } from '../feed/feed-service.js';
import { createRegistry, type Registry } from '../ops/metrics.js';
import { startOpsHttp, type OpsHttp } from '../ops/http.js';
import { reportUwsRuntime } from '../ops/uws-runtime.js';
import { ReplicaMetrics } from '../replicator/metrics.js';
import { ClientServer } from '../replicator/client/server.js';
import {
  genesisVoters,
  parseClusterConfig,
  type ClusterConfig,
  type MemberConfig,
} from '../replicator/cluster-config.js';
import { ReplicaNode, type NodeObserver } from '../replicator/node.js';
import { PaxosNode } from '../replicator/paxos/paxos-node.js';
import { TcpTransport } from '../replicator/transport/tcp-transport.js';
import { PaxosTransport } from '../replicator/transport/paxos-transport.js';
import { ConfChangeType, type ConfChange, type Message, type NodeId } from '../replicator/raft/types.js';
import { runMain, stopOnSignals } from '../ops/process.js';
import { loadTlsMaterial, type TlsMaterial } from '../ops/tls-settings.js';
import { createLogger, errorStack, pinoLog, type Log } from '../ops/log.js';
import { registerFeedMetrics } from '../feed/metrics.js';
import type { EntryStageDurations } from '../replicator/entry-trace.js';

/** A graceful stop that takes longer than this (ms) ends in exit(1) anyway. */
const STOP_TIMEOUT_MS = 10_000;

function usage(msg: string): never {
  console.error(`${msg}\nusage: tsx processes/replica.ts --config <cluster.json> --node <id>`);
  process.exit(2);
}

/** What the command line names: the cluster file, this replica's member entry, the shard's engine config. */
interface Setup {
  configPath: string;
  cluster: ClusterConfig;
  id: NodeId;
  self: MemberConfig;
  shardConfig: ShardConfig;
  /** The cluster file's "tls", read once at start (a missing file or variable stops the process here). */
  tls: TlsMaterial | undefined;
}

/** Parses the arguments and reads the cluster file and the shard config it names. */
function readSetup(): Setup {
  const { values } = parseArgs({ options: { config: { type: 'string' }, node: { type: 'string' } } });
  if (values.config === undefined || values.node === undefined) usage('missing --config or --node');
  const configPath = path.resolve(values.config);
  const cluster = parseClusterConfig(JSON.parse(readFileSync(configPath, 'utf8')), path.dirname(configPath));
  const id = Number(values.node);
  const self = cluster.members.find((m) => m.id === id);
  if (self === undefined) usage(`node ${values.node} is not a member (${cluster.members.map((m) => m.id).join(', ')})`);
  const shardConfig = parseConfig(JSON.parse(readFileSync(cluster.shardConfigPath, 'utf8')));
  const tls = cluster.tls !== undefined ? loadTlsMaterial(cluster.tls) : undefined;
  return { configPath, cluster, id, self, shardConfig, tls };
}

/** The node's observer feeding the replica's histograms; the node's gauges are read when scraped. */
function metricsObserver(metrics: ReplicaMetrics): NodeObserver {
  // One child per stage, looked up once (a label lookup per observation showed in profiles).
  const h = {
    queued: metrics.entryStageSeconds.labels('queued'),
    leaderDurable: metrics.entryStageSeconds.labels('leader_durable'),
    firstAck: metrics.entryStageSeconds.labels('first_ack'),
    committed: metrics.entryStageSeconds.labels('committed'),
    applied: metrics.entryStageSeconds.labels('applied'),
  };
  return {
    fsyncSeconds: (x: number) => metrics.fsyncSeconds.observe(x),
    batchCommands: (n: number) => metrics.batchCommands.observe(n),
    commitSeconds: (x: number) => metrics.commitSeconds.observe(x),
    applySeconds: (x: number) => metrics.applySeconds.observe(x),
    entryStages: (d: EntryStageDurations) => {
      h.queued.observe(d.queued);
      h.leaderDurable.observe(d.leaderDurable);
      h.firstAck.observe(d.firstAck);
      h.committed.observe(d.committed);
      h.applied.observe(d.applied);
    },
  };
}

/**
 * Membership changes (matchbook add-node / remove-node): the addresses of every member come
 * from the cluster file; one added after this process started is looked up in the file again.
 */
function confChangeHandler(
  setup: Setup,
  log: Log,
  transport: () => TcpTransport | undefined,
): (cc: ConfChange) => void {
  const { id, configPath } = setup;
  return (cc) => {
    if (cc.node === id) {
      if (cc.type === ConfChangeType.REMOVE)
        log.warn('this replica was removed from the cluster: it no longer votes or receives entries; stop it');
      return;
    }
    const t = transport();
    if (cc.type === ConfChangeType.REMOVE || t === undefined || t.hasPeer(cc.node)) return;
    const again = parseClusterConfig(JSON.parse(readFileSync(configPath, 'utf8')), path.dirname(configPath));
    const m = again.members.find((x) => x.id === cc.node);
    if (m === undefined)
      log.warn(
        'member was added but is not in the cluster file: add its addresses to the file on this host (it is read again at the next membership change or restart)',
        { member: cc.node, file: configPath },
      );
    else t.setPeer(m.id, m.raft);
  };
}

/** The ops endpoint (/metrics, /healthz, /readyz) on the member's `ops` address, if it has one. */
async function startOps(
  self: MemberConfig,
  registry: Registry | undefined,
  node: HostedNode,
): Promise<OpsHttp | undefined> {
  if (self.ops === undefined || registry === undefined) return undefined;
  return startOpsHttp({
    host: self.ops.host,
    port: self.ops.port,
    registry,
    // Ready: a leader is known and this replica has applied everything it knows committed.
    ready: () => {
      const s = node.status();
      return {
        ready: s.leader !== 0 && s.applied >= s.commit,
        role: s.role,
        leader: s.leader,
        commit: s.commit,
        applied: s.applied,
      };
    },
  });
}

/** The peers' transport addresses: every other member's `raft` address (whatever the protocol). */
function peerAddresses(setup: Setup): Map<NodeId, { host: string; port: number }> {
  const peers = new Map<NodeId, { host: string; port: number }>();
  for (const m of setup.cluster.members) if (m.id !== setup.id) peers.set(m.id, m.raft);
  return peers;
}

/** The Raft transport: listens on the member's raft address, the other members are its peers. */
function createTransport(setup: Setup, log: Log, node: ReplicaNode): TcpTransport {
  const { cluster, id, self } = setup;
  // The transport's connection churn is logged at debug, its trouble at warn (tcp-transport.ts).
  return new TcpTransport({
    selfId: id,
    clusterId: cluster.clusterId,
    listen: self.raft,
    peers: peerAddresses(setup),
    onMessages: (msgs) => node.receive(msgs),
    log,
    ...(setup.tls !== undefined ? { tls: setup.tls } : {}),
  });
}

/** Either protocol's node, as the rest of the process uses it. */
type HostedNode = ReplicaNode | PaxosNode;

/** A node and its transport, ready to start. */
interface Replica {
  node: HostedNode;
  transport: { start(): Promise<void>; stop(): Promise<void>; readonly port: number };
}

/** What both protocols' nodes are given alike. */
interface NodeHooks {
  log: Log;
  fatal: (err: unknown) => void;
  feed: MarketDataFeed | undefined;
  metrics: ReplicaMetrics | undefined;
}

/** The optional timing and snapshot settings of the cluster file, as node options. */
function timingOptions(cluster: ClusterConfig) {
  return {
    ...(cluster.timeTickMs !== undefined ? { timeTickMs: cluster.timeTickMs } : {}),
    ...(cluster.tickMs !== undefined ? { tickMs: cluster.tickMs } : {}),
    ...(cluster.electionTicks !== undefined ? { electionTicks: cluster.electionTicks } : {}),
    ...(cluster.heartbeatTicks !== undefined ? { heartbeatTicks: cluster.heartbeatTicks } : {}),
  };
}

function feedHooks(feed: MarketDataFeed | undefined) {
  return feed !== undefined ? { onApplied: feed.onApplied, onStateReset: feed.onStateReset } : {};
}

/** Raft: a ReplicaNode over the Raft TCP transport. */
function buildRaftReplica(setup: Setup, h: NodeHooks): Replica {
  const { cluster, id, shardConfig } = setup;
  let transport: TcpTransport | undefined;
  const node = new ReplicaNode({
    id,
    members: genesisVoters(cluster),
    dataDir: cluster.dataDir,
    shardConfig,
    fsync: cluster.fsync,
    seed: cluster.seed,
    ...(cluster.snapshotIntervalEntries !== undefined
      ? { snapshotIntervalEntries: cluster.snapshotIntervalEntries }
      : {}),
    ...timingOptions(cluster),
    send: (msgs: Message[]) => transport?.send(msgs),
    onConfChange: confChangeHandler(setup, h.log, () => transport),
    onFatal: h.fatal,
    log: h.log,
    ...feedHooks(h.feed),
    ...(h.metrics !== undefined ? { observer: metricsObserver(h.metrics) } : {}),
  });
  transport = createTransport(setup, h.log, node);
  return { node, transport };
}

/**
 * Multi-Paxos: a PaxosNode over the Multi-Paxos TCP transport (snapshots in chunks). Fixed
 * membership (the cluster file refuses "join" members for it). It always fsyncs: the record
 * log has no "fsync": false mode, and a cluster file asking for it is told so.
 */
function buildPaxosReplica(setup: Setup, h: NodeHooks): Replica {
  const { cluster, id, self, shardConfig } = setup;
  if (!cluster.fsync) h.log.warn('consensus multipaxos always fsyncs: the cluster file\'s "fsync": false is ignored');
  let transport: PaxosTransport | undefined;
  const node = new PaxosNode({
    id,
    members: cluster.members.map((m) => m.id),
    dataDir: cluster.dataDir,
    shardConfig,
    seed: cluster.seed,
    ...(cluster.snapshotIntervalEntries !== undefined
      ? { snapshotIntervalSlots: cluster.snapshotIntervalEntries }
      : {}),
    ...timingOptions(cluster),
    send: (out) => transport?.send(out),
    onFatal: h.fatal,
    log: h.log,
    ...feedHooks(h.feed),
  });
  transport = new PaxosTransport({
    selfId: id,
    clusterId: cluster.clusterId,
    listen: self.raft,
    peers: peerAddresses(setup),
    onDeliveries: (items) => node.receive(items),
    log: h.log,
    ...(setup.tls !== undefined ? { tls: setup.tls } : {}),
  });
  return { node, transport };
}

async function main(): Promise<void> {
  const setup = readSetup();
  const { cluster, id, self, shardConfig } = setup;
  const logger = createLogger('replica', { shard: cluster.clusterId, node: id, consensus: cluster.consensus });
  const log = pinoLog(logger);
  if (!cluster.fsync && cluster.consensus === 'raft')
    log.warn(
      'fsync is off: acknowledged entries and votes can be lost on an OS crash or power loss (experiments only)',
    );

  const fatal = (err: unknown) => {
    logger.fatal({ stack: errorStack(err) }, 'fatal error: exiting');
    process.exit(1);
  };

  // Metrics only with an `ops` address to serve them on; the node's gauges are read when scraped.
  const registry = self.ops !== undefined ? createRegistry('replica') : undefined;
  if (registry !== undefined)
    registry.setDefaultLabels({ component: 'replica', shard: cluster.clusterId, node: String(id) });
  // The node is created below; metrics and the feed read it only once it exists.
  let node: HostedNode | undefined;
  const metrics =
    registry !== undefined
      ? new ReplicaMetrics(registry, () => node!.status(), path.join(cluster.dataDir, `node-${id}`))
      : undefined;
  // The feed's /healthz reports this replica's role (clients pick a follower).
  const feed =
    self.feed === undefined
      ? undefined
      : new MarketDataFeed({
          instruments: shardConfig.instruments,
          host: self.feed.host,
          port: self.feed.port,
          log,
          info: () => ({ node: id, role: node?.status().role }),
          ...(cluster.feedTls !== undefined
            ? { tls: { settings: cluster.feedTls, dir: path.join(cluster.dataDir, `node-${id}`) } }
            : {}),
        });
  const hooks: NodeHooks = { log, fatal, feed, metrics };
  const replica = cluster.consensus === 'multipaxos' ? buildPaxosReplica(setup, hooks) : buildRaftReplica(setup, hooks);
  node = replica.node;
  const { transport } = replica;
  const server = new ClientServer({
    node,
    host: self.client.host,
    port: self.client.port,
    log,
    testOps: process.env.MATCHBOOK_TEST_FAULTS === '1',
    ...(setup.tls !== undefined ? { tls: setup.tls } : {}),
  });

  // The feed serves on uWS: say whether on its native binary or the compat layer (a bad
  // MATCHBOOK_UWS stops it here, before listening: ops/uws-runtime.ts).
  const uws = feed !== undefined ? reportUwsRuntime(log, registry).uws : undefined;
  // Recover before listening: a corrupt WAL stops the process before it talks to anyone.
  node.start();
  await transport.start();
  await server.start();
  const feedPort = feed !== undefined ? await feed.start() : undefined;
  if (registry !== undefined && feed !== undefined) registerFeedMetrics(registry, feed);
  const ops = await startOps(self, registry, node);
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', node: id, consensus: cluster.consensus, raftPort: transport.port, clientPort: server.port, ...(feedPort !== undefined ? { feedPort, uws } : {}), ...(ops !== undefined ? { opsPort: ops.port } : {}), pid: process.pid })}\n`,
  );

  const stopNode = node;
  stopOnSignals({
    log,
    timeoutMs: STOP_TIMEOUT_MS,
    stop: async () => {
      await feed?.stop();
      await ops?.close();
      await server.stop();
      await stopNode.stop();
      await transport.stop();
    },
  });
}

runMain(main);
