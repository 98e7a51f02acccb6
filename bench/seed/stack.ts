// One seed-benchmark scenario's exchange, all as separate processes on loopback: N replica
// processes (replicator/process-cluster.ts, fsync on or off), the embedded Kafka-protocol broker
// (events/broker/main.ts; fsync "always" with fsync on, "never" with it off), the publisher
// (events/publisher/main.ts), the gateway (gateway/main.ts, REST and gRPC) and the read models
// (read-model-proc.ts). Temporary data dir and free ports; stop() ends every process it started.
//
// Differences from `npm start`, on purpose: `snapshotIntervalEntries` is raised so that no
// replica compacts its log during a scenario (the checker reads every replica's whole log), and
// the gateway config has ACCOUNTS benchmark accounts whose risk limits (rate, open orders) are
// far above what a scenario offers, so that the figures are the exchange's, not a risk limit's.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnTsx, terminate, type Child } from '../../ops/child-process.js';
import { ProcessCluster, REPO_ROOT, freePort } from '../../replicator/process-cluster.js';
import type { ReadModelDump } from './read-model-proc.js';

/** Benchmark accounts (1..ACCOUNTS); each has one HMAC key. Accounts 1 and 2 have their own STP modes in engine/examples/instruments.json. */
export const ACCOUNTS = 8;
/** A process that has not printed its ready line within this is a failed start (ms). */
const PROCESS_READY_MS = 30_000;
/** SIGTERM, then SIGKILL after this (ms). */
const STOP_GRACE_MS = 5_000;
/** No replica snapshot (and log compaction) inside a scenario: the checker replays each replica's whole log. */
const SNAPSHOT_INTERVAL_ENTRIES = 100_000_000;

export interface BenchKey {
  account: number;
  key: string;
  hmacSecret: string;
}

export const BENCH_KEYS: BenchKey[] = Array.from({ length: ACCOUNTS }, (_, k) => ({
  account: k + 1,
  key: `seed-key-${k + 1}`,
  hmacSecret: `seed-secret-${k + 1}`,
}));

type Proc = Child;

const spawnProc = (
  name: string,
  script: string,
  argv: string[],
  stdin = false,
): Child & { ready: Promise<Record<string, unknown>> } =>
  spawnTsx(script, argv, { name, stdin, readyTimeoutMs: PROCESS_READY_MS });
const stopProc = (p: Proc | undefined): Promise<void> => terminate(p, STOP_GRACE_MS);

export interface SeedStackOptions {
  replicas: number;
  fsync: boolean;
  /**
   * Niceness of the event path (broker, publisher, read models); 0 = the same priority as order
   * entry. The event path is asynchronous by design (the publisher pulls what is already
   * committed), so with a positive value it falls behind under load instead of taking the cores
   * from order entry, and catches up afterwards.
   */
  eventsNice: number;
  /** The cluster file's "consensus" (replicator/cluster-config.ts); undefined: not written (the default, Raft). */
  consensus?: string;
}

/** Lowers a process's CPU priority (a no-op where not permitted). */
function renice(p: Proc, nice: number): void {
  if (nice === 0 || p.proc.pid === undefined) return;
  try {
    os.setPriority(p.proc.pid, nice);
  } catch {
    // not permitted here: the figures then show the event path at full priority
  }
}

export class SeedStack {
  readonly procs: Proc[] = [];
  restHost = '127.0.0.1';
  restPort = 0;
  grpcAddress = '';
  brokers = '';

  private constructor(
    readonly opts: SeedStackOptions,
    readonly dir: string,
    readonly cluster: ProcessCluster,
  ) {}

  static async start(opts: SeedStackOptions): Promise<SeedStack> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-seed-'));
    const cluster = await ProcessCluster.create({
      size: opts.replicas,
      fsync: opts.fsync,
      snapshotIntervalEntries: SNAPSHOT_INTERVAL_ENTRIES,
      ...(opts.consensus !== undefined ? { consensus: opts.consensus } : {}),
    });
    const s = new SeedStack(opts, dir, cluster);
    try {
      await s.startAll();
    } catch (err) {
      await s.stop();
      throw err;
    }
    return s;
  }

  private async startAll(): Promise<void> {
    const broker = spawnProc('broker', 'events/broker/main.ts', [
      '--data-dir',
      path.join(this.dir, 'kafka'),
      '--port',
      '0',
      '--fsync',
      this.opts.fsync ? 'always' : 'never',
    ]);
    this.procs.push(broker);
    renice(broker, this.opts.eventsNice);
    await Promise.all([this.cluster.startAll(), broker.ready]);
    this.brokers = `127.0.0.1:${String((await broker.ready).port)}`;
    await this.cluster.waitForLeader(30_000);

    const example = JSON.parse(
      readFileSync(path.join(REPO_ROOT, 'gateway/examples/gateway-local.json'), 'utf8'),
    ) as Record<string, unknown>;
    this.restPort = await freePort();
    const grpcPort = await freePort();
    this.grpcAddress = `127.0.0.1:${grpcPort}`;
    const gwDir = path.join(this.dir, 'gateway');
    mkdirSync(gwDir, { recursive: true });
    const config = {
      ...example,
      listen: { rest: `127.0.0.1:${this.restPort}`, grpc: this.grpcAddress },
      fix: { listen: `127.0.0.1:${await freePort()}` }, // a free port; no drop-copy grant (its own accounts)
      shards: [{ id: 0, clusterConfig: this.cluster.configPath }],
      accounts: BENCH_KEYS.map((k) => ({
        account: k.account,
        apiKeys: [{ key: k.key, hmacSecret: k.hmacSecret }],
        risk: {
          maxOrderQty: 10_000_000,
          maxNotional: 100_000_000_000_000,
          maxOpenOrders: 10_000_000,
          ratePerSec: 10_000_000,
          burst: 20_000_000,
        },
      })),
      signingKey: path.join(gwDir, 'exchange-ed25519.pem'),
      dataDir: gwDir,
    };
    const configPath = path.join(this.dir, 'gateway.json');
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    const gateway = spawnProc('gateway', 'gateway/main.ts', ['--config', configPath]);
    const publisher = spawnProc('publisher', 'events/publisher/main.ts', [
      '--cluster',
      this.cluster.configPath,
      '--brokers',
      this.brokers,
      '--data-dir',
      path.join(this.dir, 'publisher'),
      '--status-every-ms',
      '1000',
    ]);
    const readModels = spawnProc(
      'read-models',
      'bench/seed/read-model-proc.ts',
      ['--brokers', this.brokers, '--group-id', `seed-${path.basename(this.dir)}`],
      true,
    );
    this.procs.push(gateway, publisher, readModels);
    renice(publisher, this.opts.eventsNice);
    renice(readModels, this.opts.eventsNice);
    await Promise.all([gateway.ready, publisher.ready, readModels.ready]);
  }

  private proc(name: string): Proc {
    return this.procs.find((p) => p.name === name)!;
  }

  /** Processes to account CPU time to (bench/cpu.ts). */
  cpuTargets(): Record<string, number> {
    const t: Record<string, number> = {};
    for (const p of this.procs) if (p.proc.pid !== undefined && p.alive()) t[p.name] = p.proc.pid;
    for (const id of this.cluster.ids) {
      const pid = this.cluster.pid(id);
      if (pid !== undefined) t[`replica${id}`] = pid;
    }
    return t;
  }

  /** Asks the read-model process for its digests through order id `seq`, once it holds everything up to there (bounded wait). */
  async dumpReadModels(seq: number, timeoutMs: number): Promise<ReadModelDump> {
    const p = this.proc('read-models');
    const file = path.join(this.dir, `read-models-dump-${seq}.json`);
    const done = p.nextEvent('dumped', timeoutMs + 30_000);
    p.proc.stdin!.write(`${JSON.stringify({ op: 'dump', seq, timeoutMs, file })}\n`);
    const r = await done;
    if (typeof r.error === 'string') throw new Error(`read-model dump failed: ${r.error}`);
    return JSON.parse(readFileSync(file, 'utf8')) as ReadModelDump;
  }

  /** Last status line of the publisher (published seq, gaps). */
  publisherLines(): string[] {
    return this.proc('publisher').lines;
  }

  /** Diagnostics: the last lines of every process. */
  tails(n = 15): string {
    const out: string[] = [];
    for (const p of this.procs) out.push(`--- ${p.name}`, ...p.lines.slice(-n));
    for (const id of this.cluster.ids) out.push(`--- replica ${id}`, this.cluster.tail(id, n));
    return out.join('\n');
  }

  async stop(): Promise<void> {
    // Gateway first (no more commands), then the event path, then the replicas.
    await stopProc(this.procs.find((p) => p.name === 'gateway'));
    await Promise.all(this.procs.filter((p) => p.name !== 'gateway').map((p) => stopProc(p)));
    await Promise.all(this.cluster.ids.map((id) => this.cluster.terminate(id)));
    await this.cluster.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
