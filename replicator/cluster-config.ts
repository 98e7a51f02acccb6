// The cluster configuration file read by the replica process (processes/replica.ts): one JSON file shared by every replica of a
// shard; each process picks its own member with --node. Pure parsing and validation (the file
// is read by the caller); relative paths are resolved against the file's directory.
//
// {
//   "clusterId": "shard-0",                 // checked in every replica↔replica HELLO
//   "dataDir": "../../data/cluster-3-local",// each node writes <dataDir>/node-<id>/
//   "shardConfig": "../../engine/examples/instruments.json",
//   "fsync": true,                          // false only for experiments (see ReplicaNodeOptions.fsync)
//   "members": [ { "id": 1, "raft": "127.0.0.1:7101", "client": "127.0.0.1:7201",
//                  "feed": "127.0.0.1:8091",          // feed: optional market-data WebSocket (feed/)
//                  "ops": "127.0.0.1:9101" }, … ],    // ops: optional /metrics, /healthz, /readyz (ops/http.ts)
//                                          // "join": true on a member added later (matchbook add-node):
//                                          // not in the genesis membership; never change it afterwards
//   "seed": 1,                              // election-timeout PRNG seed (mixed with the node id)
//   "snapshotIntervalEntries": 100000,      // optional, default SNAPSHOT_INTERVAL_ENTRIES
//   "timeTickMs": 1000,                     // optional, default TIME_TICK_MS; 0 = no time ticks
//   "tickMs": 10, "electionTicks": 15, "heartbeatTicks": 3,  // optional Raft timing
//   "consensus": "raft",                    // optional, default "raft"; or "multipaxos" (CONSENSUS_PROTOCOLS)
//   "tls": { "cert": {"file": "…"}, "key": {"env": "…"}, "ca": {"file": "…"}, "requireClientCert": true },
//                                          // optional (ops/tls-settings.ts): mutual TLS on every member's raft and
//                                          // client links; the same cert is the client cert of the replicas, the
//                                          // gateway's and the publisher's links to the client port
//   "feedTls": { "cert": …, "key": … }       // optional: wss:// on every member's feed (no client certs: public)
// }

import path from 'node:path';
import { PAXOS_NODE_ID_MAX } from './limits.js';
import { parseTlsSettings, requireServerIdentity, type TlsSettings } from '../ops/tls-settings.js';
import type { NodeId } from './raft/types.js';

/** Replicas in one cluster at most (Raft groups are small; this bounds a bad file). */
export const CLUSTER_MEMBERS_MAX = 9;

/**
 * The replicated-log protocols a cluster file may name in "consensus": "raft" (replicator/raft/,
 * node.ts) and "multipaxos" (replicator/paxos/, issue 20: fixed membership, member ids at most
 * PAXOS_NODE_ID_MAX, no "join" members).
 */
export const CONSENSUS_PROTOCOLS = ['raft', 'multipaxos'] as const;
export type ConsensusProtocol = (typeof CONSENSUS_PROTOCOLS)[number];
/**
 * Names of protocols that are planned but not built here, refused with "not available in this
 * build" rather than run as another protocol (so that nothing, e.g. `npm run bench:seed --
 * --paper`, reports one protocol's cluster as another's). None at present.
 */
const CONSENSUS_NOT_BUILT: readonly string[] = [];

export interface HostPort {
  host: string;
  port: number;
}

export interface MemberConfig {
  id: NodeId;
  raft: HostPort;
  client: HostPort;
  /** The market-data feed this replica serves (feed/README.md); undefined: none. */
  feed: HostPort | undefined;
  /** GET /metrics, /healthz, /readyz (ops/http.ts); undefined: none. */
  ops: HostPort | undefined;
  /**
   * A member added at run time (`matchbook add-node`): listed so every replica knows its
   * addresses, but not a voter of the genesis membership. Must never change once the cluster
   * has started: the genesis is what every replica replays its log from.
   */
  join: boolean;
}

export interface ClusterConfig {
  clusterId: string;
  /** Absolute. */
  dataDir: string;
  /** Absolute path of the engine's shard configuration (JSON). */
  shardConfigPath: string;
  fsync: boolean;
  members: MemberConfig[];
  seed: number;
  snapshotIntervalEntries: number | undefined;
  timeTickMs: number | undefined;
  tickMs: number | undefined;
  electionTicks: number | undefined;
  heartbeatTicks: number | undefined;
  /** The replicated-log protocol of this cluster (default "raft"). */
  consensus: ConsensusProtocol;
  /** TLS on the raft and client links of every member (and of their clients); undefined: plain TCP. */
  tls: TlsSettings | undefined;
  /** TLS (wss://) on every member's feed; undefined: ws://. */
  feedTls: TlsSettings | undefined;
}

export class ClusterConfigError extends Error {
  override name = 'ClusterConfigError';
}

function fail(where: string, what: string): never {
  throw new ClusterConfigError(`cluster config: ${where}: ${what}`);
}

function int(v: unknown, where: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    fail(where, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return v;
}

function optInt(v: unknown, where: string, min: number, max?: number): number | undefined {
  return v === undefined ? undefined : int(v, where, min, max);
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(where, 'must be a non-empty string');
  return v;
}

/** "host:port", "[v6]:port", or { host, port }. */
export function parseHostPort(v: unknown, where: string): HostPort {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    return { host: str(o.host, `${where}.host`), port: int(o.port, `${where}.port`, 0, 65535) };
  }
  const s = str(v, where);
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (m === null) fail(where, `expected host:port, got ${JSON.stringify(s)}`);
  return { host: m[1]!, port: int(Number(m[2]), `${where} port`, 0, 65535) };
}

function parseConsensus(v: unknown): ConsensusProtocol {
  if (v === undefined) return 'raft';
  if (typeof v === 'string' && (CONSENSUS_PROTOCOLS as readonly string[]).includes(v)) return v as ConsensusProtocol;
  if (typeof v === 'string' && CONSENSUS_NOT_BUILT.includes(v))
    throw new ClusterConfigError(`cluster config: consensus '${v}' is not available in this build`);
  return fail(
    'consensus',
    `must be one of ${[...CONSENSUS_PROTOCOLS, ...CONSENSUS_NOT_BUILT].map((x) => `"${x}"`).join(', ')}, got ${JSON.stringify(v)}`,
  );
}

/**
 * Multi-Paxos runs a fixed membership (paxos/README.md) whose ballots hold the leader's id in
 * PAXOS_NODE_ID_MAX's bits: refuse what it cannot run here, not at the first campaign.
 */
function checkMultiPaxosMembers(members: MemberConfig[]): void {
  members.forEach((m, i) => {
    if (m.id > PAXOS_NODE_ID_MAX)
      fail(
        `members[${i}].id`,
        `at most ${PAXOS_NODE_ID_MAX} (PAXOS_NODE_ID_MAX) with consensus "multipaxos", got ${m.id}`,
      );
    if (m.join)
      fail(`members[${i}].join`, 'consensus "multipaxos" runs a fixed membership: no member may "join" later');
  });
}

/** A "tls" section of servers: the shape of ops/tls-settings.ts, with a certificate and key. */
function serverTls(v: unknown, where: string, baseDir: string): TlsSettings | undefined {
  try {
    const s = parseTlsSettings(v, `cluster config ${where}`, baseDir);
    if (s !== undefined) requireServerIdentity(s);
    return s;
  } catch (err) {
    throw new ClusterConfigError((err as Error).message);
  }
}

/** The voters a fresh cluster starts with: every member not marked `join`. */
export function genesisVoters(c: ClusterConfig): number[] {
  return c.members.filter((m) => !m.join).map((m) => m.id);
}

/** Validates a parsed cluster file; `baseDir` resolves relative paths (the file's directory). */
export function parseClusterConfig(json: unknown, baseDir: string): ClusterConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('', 'must be an object');
  const raw = json as Record<string, unknown>;
  const clusterId = str(raw.clusterId, 'clusterId');
  if (Buffer.byteLength(clusterId, 'utf8') > 255) fail('clusterId', 'at most 255 UTF-8 bytes');
  if (!Array.isArray(raw.members) || raw.members.length === 0) fail('members', 'must be a non-empty array');
  if (raw.members.length > CLUSTER_MEMBERS_MAX) fail('members', `at most ${CLUSTER_MEMBERS_MAX}`);
  const members = raw.members.map((m: unknown, i: number): MemberConfig => {
    if (typeof m !== 'object' || m === null) fail(`members[${i}]`, 'must be an object');
    const o = m as Record<string, unknown>;
    return {
      id: int(o.id, `members[${i}].id`, 1, 0xffff_ffff),
      raft: parseHostPort(o.raft, `members[${i}].raft`),
      client: parseHostPort(o.client, `members[${i}].client`),
      feed: o.feed === undefined ? undefined : parseHostPort(o.feed, `members[${i}].feed`),
      ops: o.ops === undefined ? undefined : parseHostPort(o.ops, `members[${i}].ops`),
      join:
        o.join === undefined
          ? false
          : o.join === true
            ? true
            : o.join === false
              ? false
              : fail(`members[${i}].join`, 'must be true or false'),
    };
  });
  if (!members.some((m) => !m.join))
    fail('members', 'at least one member must be in the genesis membership (without "join": true)');
  const ids = new Set(members.map((m) => m.id));
  if (ids.size !== members.length) fail('members', 'ids must be unique');
  const endpoints = new Set<string>();
  for (const m of members) {
    for (const hp of [
      m.raft,
      m.client,
      ...(m.feed !== undefined ? [m.feed] : []),
      ...(m.ops !== undefined ? [m.ops] : []),
    ]) {
      const k = `${hp.host}:${hp.port}`;
      if (hp.port !== 0 && endpoints.has(k)) fail('members', `address ${k} used twice`);
      endpoints.add(k);
    }
  }
  const consensus = parseConsensus(raw.consensus);
  if (consensus === 'multipaxos') checkMultiPaxosMembers(members);
  const fsync = raw.fsync ?? true;
  if (typeof fsync !== 'boolean') fail('fsync', 'must be true or false');
  return {
    clusterId,
    dataDir: path.resolve(baseDir, str(raw.dataDir, 'dataDir')),
    shardConfigPath: path.resolve(baseDir, str(raw.shardConfig, 'shardConfig')),
    fsync,
    members,
    seed: raw.seed === undefined ? 1 : int(raw.seed, 'seed', 0, 0xffff_ffff),
    snapshotIntervalEntries: optInt(raw.snapshotIntervalEntries, 'snapshotIntervalEntries', 1),
    timeTickMs: optInt(raw.timeTickMs, 'timeTickMs', 0),
    tickMs: optInt(raw.tickMs, 'tickMs', 1, 10_000),
    electionTicks: optInt(raw.electionTicks, 'electionTicks', 2, 100_000),
    heartbeatTicks: optInt(raw.heartbeatTicks, 'heartbeatTicks', 1, 100_000),
    consensus,
    tls: serverTls(raw.tls, 'tls', baseDir),
    feedTls: serverTls(raw.feedTls, 'feedTls', baseDir),
  };
}
