// Spawns a cluster of real replica processes (processes/replica.ts) on loopback, for the
// process-level test and the replication benchmark: free ports, a temp data dir, a cluster
// file, start / SIGKILL / restart / SIGTERM of single nodes, and status polling. Every wait is
// bounded; stop() kills whatever is still running.

import { loadTlsMaterial, type TlsMaterial } from '../ops/tls-settings.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT, nodeArgsForScript } from '../ops/package-root.js';
import { requestOnce, type ClientEndpoint } from './client/client.js';
import { parseClusterConfig } from './cluster-config.js';
import type { NodeStatus } from './log.js';
import type { NodeId } from './raft/types.js';

/** The package root, from the source tree and from dist/ alike (ops/package-root.ts). */
export const REPO_ROOT = PACKAGE_ROOT;
/** A replica that has not printed its ready line within this (ms) is a failed start. */
export const PROCESS_READY_TIMEOUT_MS = 30_000;
/** Lines of each process's stderr kept for diagnostics. */
const LOG_LINES_KEPT = 400;

export interface ProcessClusterOptions {
  size?: number;
  fsync?: boolean;
  snapshotIntervalEntries?: number;
  timeTickMs?: number;
  shardConfigPath?: string;
  seed?: number;
  /** Echo replica stderr to ours. */
  echo?: boolean;
  /** Extra node options for the replicas (e.g. --cpu-prof for profiling; written on a clean exit). */
  nodeArgs?: string[];
  /** Keep the data dir at stop() (set by open()). */
  keepDir?: boolean;
  /** Give each replica an `ops` address (/metrics, /healthz, /readyz); see opsPorts. */
  ops?: boolean;
  /**
   * Members listed in the file with `"join": true` (ids size+1…): not in the genesis
   * membership, not started by startAll(); for add-node (joinIds).
   */
  joining?: number;
  /**
   * Where node `from` dials node `to` (chaos/: a fault proxy per directed link). Each node then
   * gets its own cluster file (cluster-<id>.json: its own raft address real, its peers' as
   * given); configPath keeps the real addresses for everyone else (gateway, publisher, CLI).
   */
  linkAddress?: (
    from: NodeId,
    to: NodeId,
    real: { host: string; port: number },
  ) => Promise<{ host: string; port: number }>;
  /** Extra environment of the replica processes (e.g. MATCHBOOK_TEST_FAULTS=1). */
  env?: Record<string, string>;
  /** Written as the file's "consensus" as given (unchecked here: the replicas refuse a value cluster-config.ts does not accept). */
  consensus?: string;
}

interface Proc {
  child: ChildProcess;
  exited: Promise<number | null>;
  alive: boolean;
}

/**
 * Ports freePort() handed out in this process. The OS may hand a port it just released out
 * again, so two calls in a row can return the same port (a cluster file with one address
 * twice): a port is never returned twice. At most one entry per port, so it stays bounded.
 */
const portsHandedOut = new Set<number>();
const FREE_PORT_ATTEMPTS_MAX = 1_000;

/** A port nobody listens on now (bound by the OS, then released), never the same one twice in this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < FREE_PORT_ATTEMPTS_MAX; attempt++) {
    const port = await anyFreePort();
    if (!portsHandedOut.has(port)) {
      portsHandedOut.add(port);
      return port;
    }
  }
  throw new Error(`no port not handed out before in ${FREE_PORT_ATTEMPTS_MAX} attempts`);
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class ProcessCluster {
  readonly dir: string;
  readonly configPath: string;
  readonly ids: NodeId[];
  /** Members that join later (ProcessClusterOptions.joining). */
  readonly joinIds: NodeId[];
  endpoints: ClientEndpoint[] = [];
  /** Each replica's ops port (ProcessClusterOptions.ops). */
  readonly opsPorts = new Map<NodeId, number>();
  private readonly procs = new Map<NodeId, Proc>();
  readonly logs = new Map<NodeId, string[]>();

  private constructor(
    readonly opts: ProcessClusterOptions,
    dir: string,
    configPath?: string,
    ids?: NodeId[],
  ) {
    this.dir = dir;
    this.configPath = configPath ?? path.join(dir, 'cluster.json');
    this.ids = ids ?? Array.from({ length: opts.size ?? 3 }, (_, k) => k + 1);
    this.joinIds = Array.from({ length: opts.joining ?? 0 }, (_, k) => this.ids.length + k + 1);
  }

  /** A cluster described by an existing cluster file (its data dir is kept: `npm start`). */
  static open(configPath: string, opts: Pick<ProcessClusterOptions, 'echo' | 'nodeArgs'> = {}): ProcessCluster {
    const cfg = parseClusterConfig(
      JSON.parse(readFileSync(configPath, 'utf8')) as unknown,
      path.dirname(path.resolve(configPath)),
    );
    const c = new ProcessCluster(
      { ...opts, keepDir: true },
      cfg.dataDir,
      path.resolve(configPath),
      cfg.members.map((m) => m.id),
    );
    c.endpoints = cfg.members.map((m) => ({ id: m.id, host: m.client.host, port: m.client.port }));
    return c;
  }

  static async create(opts: ProcessClusterOptions = {}): Promise<ProcessCluster> {
    const c = new ProcessCluster(opts, mkdtempSync(path.join(os.tmpdir(), 'mb-cluster-')));
    const members = [];
    for (const id of [...c.ids, ...c.joinIds]) {
      const raft = await freePort();
      const client = await freePort();
      const ops = opts.ops === true ? await freePort() : undefined;
      if (ops !== undefined) c.opsPorts.set(id, ops);
      const join = c.joinIds.includes(id) ? { join: true } : {};
      members.push({
        id,
        raft: `127.0.0.1:${raft}`,
        client: `127.0.0.1:${client}`,
        ...(ops !== undefined ? { ops: `127.0.0.1:${ops}` } : {}),
        ...join,
      });
      c.endpoints.push({ id, host: '127.0.0.1', port: client });
    }
    const config = {
      clusterId: 'test-cluster',
      dataDir: path.join(c.dir, 'data'),
      shardConfig: opts.shardConfigPath ?? path.join(REPO_ROOT, 'engine/examples/instruments.json'),
      fsync: opts.fsync ?? true,
      seed: opts.seed ?? 1,
      members,
      ...(opts.snapshotIntervalEntries !== undefined ? { snapshotIntervalEntries: opts.snapshotIntervalEntries } : {}),
      ...(opts.timeTickMs !== undefined ? { timeTickMs: opts.timeTickMs } : {}),
      ...(opts.consensus !== undefined ? { consensus: opts.consensus } : {}),
    };
    writeFileSync(c.configPath, JSON.stringify(config, null, 2));
    if (opts.linkAddress !== undefined) {
      const real = (hp: string) => ({
        host: hp.slice(0, hp.lastIndexOf(':')),
        port: Number(hp.slice(hp.lastIndexOf(':') + 1)),
      });
      for (const self of members) {
        const own = [];
        for (const m of members) {
          if (m.id === self.id) own.push(m);
          else {
            const a = await opts.linkAddress(self.id, m.id, real(m.raft));
            own.push({ ...m, raft: `${a.host}:${a.port}` });
          }
        }
        writeFileSync(c.nodeConfigPath(self.id), JSON.stringify({ ...config, members: own }, null, 2));
      }
    }
    return c;
  }

  /** The cluster file node `id` is started with (its own with linkAddress, else the shared one). */
  nodeConfigPath(id: NodeId): string {
    return this.opts.linkAddress !== undefined ? path.join(this.dir, `cluster-${id}.json`) : this.configPath;
  }

  dataDirOf(id: NodeId): string {
    return this.opts.keepDir === true ? path.join(this.dir, `node-${id}`) : path.join(this.dir, 'data', `node-${id}`);
  }

  endpoint(id: NodeId): ClientEndpoint {
    return this.endpoints.find((e) => e.id === id)!;
  }

  /** The process id of a running replica (undefined if it is not running). */
  pid(id: NodeId): number | undefined {
    const p = this.procs.get(id);
    return p?.alive === true ? p.child.pid : undefined;
  }

  isAlive(id: NodeId): boolean {
    return this.procs.get(id)?.alive ?? false;
  }

  /** Spawns node `id` and waits for its ready line. */
  async start(id: NodeId): Promise<void> {
    if (this.isAlive(id)) throw new Error(`node ${id} already running`);
    const child = spawn(
      process.execPath,
      [
        ...(this.opts.nodeArgs ?? []),
        // From dist/ the compiled replica with plain node, from the source tree through tsx.
        ...nodeArgsForScript('processes/replica.ts'),
        '--config',
        this.nodeConfigPath(id),
        '--node',
        String(id),
      ],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(this.opts.env !== undefined ? { env: { ...process.env, ...this.opts.env } } : {}),
      },
    );
    const lines = this.logs.get(id) ?? [];
    this.logs.set(id, lines);
    lines.push(`---- start (pid ${child.pid}) ----`);
    const proc: Proc = {
      child,
      alive: true,
      exited: new Promise((resolve) =>
        child.once('exit', (code, signal) => {
          proc.alive = false;
          lines.push(`---- exit code ${code} signal ${signal} ----`);
          resolve(code);
        }),
      ),
    };
    this.procs.set(id, proc);
    let errBuf = '';
    child.stderr!.on('data', (d: Buffer) => {
      errBuf += d.toString('utf8');
      let nl: number;
      while ((nl = errBuf.indexOf('\n')) >= 0) {
        const line = errBuf.slice(0, nl);
        errBuf = errBuf.slice(nl + 1);
        lines.push(line);
        if (lines.length > LOG_LINES_KEPT) lines.splice(0, lines.length - LOG_LINES_KEPT);
        if (this.opts.echo === true) console.error(line);
      }
    });
    await new Promise<void>((resolve, reject) => {
      let outBuf = '';
      const timer = setTimeout(
        () => reject(new Error(`node ${id} not ready within ${PROCESS_READY_TIMEOUT_MS} ms\n${this.tail(id)}`)),
        PROCESS_READY_TIMEOUT_MS,
      );
      child.stdout!.on('data', (d: Buffer) => {
        outBuf += d.toString('utf8');
        if (outBuf.includes('"event":"ready"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void proc.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`node ${id} exited (${code}) before it was ready\n${this.tail(id)}`));
      });
    });
  }

  async startAll(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.start(id)));
  }

  /** SIGKILL: no chance to flush or close anything (a crash). */
  async kill(id: NodeId): Promise<void> {
    const p = this.procs.get(id);
    if (p === undefined || !p.alive) return;
    p.child.kill('SIGKILL');
    await p.exited;
  }

  /** SIGSTOP (true) / SIGCONT (false): the process freezes and resumes (a long GC, a VM pause). */
  pause(id: NodeId, paused: boolean): void {
    const p = this.procs.get(id);
    if (p === undefined || !p.alive) return;
    p.child.kill(paused ? 'SIGSTOP' : 'SIGCONT');
  }

  /** SIGTERM and wait for the exit code (0 for a clean stop). */
  async terminate(id: NodeId): Promise<number | null> {
    const p = this.procs.get(id);
    if (p === undefined || !p.alive) return null;
    p.child.kill('SIGTERM');
    return p.exited;
  }

  /** The cluster file's "tls" (read at the first status request: the file may be edited before start). */
  private statusTls: { material: TlsMaterial | undefined } | undefined;

  private clientTls(): TlsMaterial | undefined {
    if (this.statusTls === undefined) {
      const cfg = parseClusterConfig(
        JSON.parse(readFileSync(this.configPath, 'utf8')) as unknown,
        path.dirname(this.configPath),
      );
      this.statusTls = { material: cfg.tls !== undefined ? loadTlsMaterial(cfg.tls) : undefined };
    }
    return this.statusTls.material;
  }

  async status(id: NodeId, hash = false, timeoutMs = 2_000): Promise<NodeStatus | undefined> {
    if (!this.isAlive(id)) return undefined;
    try {
      const r = await requestOnce(this.endpoint(id), { op: 'status', hash }, timeoutMs, this.clientTls());
      return r.status as NodeStatus;
    } catch {
      return undefined;
    }
  }

  /** Waits until one live node is leader and every live node agrees; returns its id. */
  async waitForLeader(timeoutMs = 20_000, except?: NodeId): Promise<NodeId> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const live = [...this.ids, ...this.joinIds].filter((id) => this.isAlive(id));
      const st = await Promise.all(live.map((id) => this.status(id)));
      const leaders = st.filter((s) => s?.role === 'LEADER');
      if (leaders.length === 1) {
        const l = leaders[0]!;
        if (l.id !== except && st.every((s) => s !== undefined && (s.leader === l.id || s.term < l.term))) return l.id;
      }
      await sleep(50);
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  tail(id: NodeId, n = 40): string {
    return (this.logs.get(id) ?? [])
      .slice(-n)
      .map((l) => `  [${id}] ${l}`)
      .join('\n');
  }

  /** Kills every process still running and (unless keepDir) removes the temp dir. */
  async stop(keepDir = false): Promise<void> {
    await Promise.all([...this.procs.keys()].map((id) => this.kill(id)));
    if (!keepDir && this.opts.keepDir !== true) rmSync(this.dir, { recursive: true, force: true });
  }
}
