// The whole exchange as child processes on loopback, for the chaos supervisor: N replicas (fsync
// on, test faults enabled) whose replica→replica links all go through fault proxies, the
// gateway, the embedded broker and the events publisher; the read models run in this process
// (a ReadModelConsumer, as the query process runs them) so the checker can compare them with
// a replay of the log. Every part can be killed and restarted on the same ports and data.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { logLevel } from 'kafkajs';
import { ReadModelConsumer } from '../events/read-models/consumer.js';
import { NO_LOG } from '../ops/log.js';
import { kill, spawnReady, type Child } from '../ops/child-process.js';
import { requestOnce } from '../replicator/client/client.js';
import { ProcessCluster, REPO_ROOT, freePort } from '../replicator/process-cluster.js';
import type { NodeId } from '../replicator/log.js';
import type { Prng } from '../replicator/prng.js';
import { ChaosNetwork } from './network.js';

/** Accounts the workload trades with, and their keys in the gateway's config. */
export const CHAOS_ACCOUNTS = [1, 2, 3, 4] as const;
export const keyOf = (account: number) => ({ key: `chaos-key-${account}`, hmacSecret: `chaos-secret-${account}` });
/** Generous limits: the workload is bounded by its own rate, and risk rejects would hide nothing here. */
export const CHAOS_RISK = {
  maxOrderQty: 10_000_000,
  maxNotional: 100_000_000_000_000,
  maxOpenOrders: 1_000_000,
  ratePerSec: 100_000,
  burst: 100_000,
};
/** A process that is not ready within this is a failed start (ms). */
const READY_TIMEOUT_MS = 60_000;
/** How often the read models snapshot themselves (ms): restarts resume from a recent one. */
const READ_MODEL_SNAPSHOT_MS = 1_000;

export interface StackOptions {
  replicas: number;
  dir: string;
  rng: Prng;
  snapshotIntervalEntries: number;
  log: (line: string) => void;
  /** The replicas' consensus protocol, written into their cluster files ("raft" or "multipaxos"). */
  consensus: ChaosConsensus;
}

/** The protocols the chaos suite runs the replicas with (`--consensus`). */
export const CHAOS_CONSENSUS = ['raft', 'multipaxos'] as const;
export type ChaosConsensus = (typeof CHAOS_CONSENSUS)[number];

export class ChaosStack {
  gateway: Child | undefined;
  broker: Child | undefined;
  publisher: Child | undefined;
  readModels: ReadModelConsumer | undefined;
  restUrl = '';
  private restPort = 0;
  private grpcPort = 0;
  private fixPort = 0;
  private brokerPort = 0;
  private gatewayConfigPath = '';

  private constructor(
    readonly opts: StackOptions,
    readonly network: ChaosNetwork,
    readonly cluster: ProcessCluster,
  ) {}

  static async start(opts: StackOptions): Promise<ChaosStack> {
    mkdirSync(opts.dir, { recursive: true });
    const network = new ChaosNetwork(opts.rng.fork(1));
    const cluster = await ProcessCluster.create({
      size: opts.replicas,
      fsync: true,
      snapshotIntervalEntries: opts.snapshotIntervalEntries,
      timeTickMs: 500,
      seed: opts.rng.int(1_000_000) + 1,
      linkAddress: (from, to, real) => network.link(from, to, real),
      env: { MATCHBOOK_TEST_FAULTS: '1', LOG_LEVEL: 'warn' },
      consensus: opts.consensus,
    });
    const s = new ChaosStack(opts, network, cluster);
    try {
      await s.startParts();
    } catch (err) {
      // Whatever started is stopped; the directories are kept (a failed start is a failure).
      opts.log(
        `stack did not start: ${err instanceof Error ? err.message : String(err)}; kept ${cluster.dir} and ${opts.dir}`,
      );
      await s.stop(true).catch(() => undefined);
      throw err;
    }
    return s;
  }

  private async startParts(): Promise<void> {
    const { opts, cluster } = this;
    await cluster.startAll();
    await cluster.waitForLeader(30_000);
    this.restPort = await freePort();
    this.grpcPort = await freePort();
    this.fixPort = await freePort();
    this.brokerPort = await freePort();
    this.restUrl = `http://127.0.0.1:${this.restPort}`;
    const example = JSON.parse(
      readFileSync(path.join(REPO_ROOT, 'gateway/examples/gateway-local.json'), 'utf8'),
    ) as Record<string, unknown>;
    const gwDir = path.join(opts.dir, 'gateway');
    mkdirSync(gwDir, { recursive: true });
    this.gatewayConfigPath = path.join(opts.dir, 'gateway.json');
    writeFileSync(
      this.gatewayConfigPath,
      JSON.stringify(
        {
          ...example,
          accounts: CHAOS_ACCOUNTS.map((account) => ({ account, apiKeys: [keyOf(account)], risk: CHAOS_RISK })),
          listen: { rest: `127.0.0.1:${this.restPort}`, grpc: `127.0.0.1:${this.grpcPort}` },
          fix: { ...(example.fix as object), listen: `127.0.0.1:${this.fixPort}` },
          shards: [{ id: 0, clusterConfig: cluster.configPath }],
          signingKey: path.join(gwDir, 'exchange-ed25519.pem'),
          dataDir: gwDir,
          workers: 1,
        },
        null,
        2,
      ),
    );
    await this.startBroker();
    await this.startPublisher();
    await this.startGateway();
    await this.startReadModels();
  }

  get brokers(): string {
    return `127.0.0.1:${this.brokerPort}`;
  }

  /** The replicas' ids, the joining ones excluded. */
  get ids(): NodeId[] {
    return this.cluster.ids;
  }

  async startGateway(): Promise<void> {
    this.gateway = await spawnReady(
      'gateway/main.ts',
      ['--config', this.gatewayConfigPath],
      { LOG_LEVEL: 'warn' },
      READY_TIMEOUT_MS,
    );
  }

  async startBroker(): Promise<void> {
    this.broker = await spawnReady(
      'events/broker/main.ts',
      ['--data-dir', path.join(this.opts.dir, 'kafka'), '--port', String(this.brokerPort), '--host', '127.0.0.1'],
      { LOG_LEVEL: 'warn' },
      READY_TIMEOUT_MS,
    );
  }

  async startPublisher(): Promise<void> {
    this.publisher = await spawnReady(
      'events/publisher/main.ts',
      [
        '--cluster',
        this.cluster.configPath,
        '--brokers',
        this.brokers,
        '--data-dir',
        path.join(this.opts.dir, 'publisher'),
        '--status-every-ms',
        '1000',
      ],
      { LOG_LEVEL: 'warn' },
      READY_TIMEOUT_MS,
    );
  }

  async startReadModels(): Promise<void> {
    const rm = new ReadModelConsumer({
      brokers: [this.brokers],
      dataDir: path.join(this.opts.dir, 'read-models'),
      groupId: 'chaos-read-models',
      snapshotIntervalMs: READ_MODEL_SNAPSHOT_MS,
      log: NO_LOG,
      kafkaLogLevel: logLevel.NOTHING,
    });
    await rm.start();
    this.readModels = rm;
  }

  async killGateway(): Promise<void> {
    await kill(this.gateway, 'SIGKILL');
  }

  async killBroker(): Promise<void> {
    await kill(this.broker, 'SIGKILL');
  }

  async stopReadModels(): Promise<void> {
    await this.readModels?.stop();
    this.readModels = undefined;
  }

  /** The current leader among the running replicas (undefined if none is known within the wait). */
  async leader(timeoutMs = 10_000): Promise<NodeId | undefined> {
    try {
      return await this.cluster.waitForLeader(timeoutMs);
    } catch {
      return undefined;
    }
  }

  /** Chaos test mode: every fdatasync of replica `id` takes `ms` longer. */
  async setFsyncDelay(id: NodeId, ms: number): Promise<void> {
    const r = await requestOnce(this.cluster.endpoint(id), { op: 'test-fsync-delay', ms }, 5_000);
    if (r.ok !== true) throw new Error(`test-fsync-delay on node ${id}: ${JSON.stringify(r)}`);
  }

  async stop(keep: boolean): Promise<void> {
    await this.stopReadModels().catch(() => undefined);
    await kill(this.gateway, 'SIGTERM');
    await kill(this.publisher, 'SIGTERM');
    await kill(this.broker, 'SIGTERM');
    for (const id of this.cluster.ids) this.cluster.pause(id, false);
    await this.cluster.stop(true);
    await this.network.close();
    if (!keep) {
      rmSync(this.cluster.dir, { recursive: true, force: true });
      rmSync(this.opts.dir, { recursive: true, force: true });
    }
  }
}
