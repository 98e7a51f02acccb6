// The events side of `npm start` on one machine, as child processes: the embedded Kafka-protocol
// broker (unless KAFKA_BROKERS names a real cluster), one publisher per shard (option `shards`;
// each its own checkpoint dir and ops port, all into the same topics), and the query process (read models + REST/gRPC query API). Each prints one `{"event":"ready"…}`
// line on stdout when serving; stop() sends SIGTERM and waits (then SIGKILL). Metrics: the
// broker and the publisher on their --ops ports (defaults :9104 and :9105, after the replicas'
// :9101–9103), the query process on its REST port.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT, nodeArgsForScript } from '../ops/package-root.js';

const REPO_ROOT = PACKAGE_ROOT;
/** A process that does not announce itself ready in this long (ms) fails the start. */
const READY_TIMEOUT_MS = 60_000;
/** A stopped process that has not exited after this long (ms) is killed. */
const STOP_TIMEOUT_MS = 10_000;
/** Lines of a child's stderr kept for the error message when it fails to start. */
const STDERR_LINES_KEPT = 40;
/** Default ops addresses (/metrics, /healthz, /readyz) of the embedded broker and the publisher. */
export const LOCAL_BROKER_OPS_DEFAULT = '127.0.0.1:9104';
export const LOCAL_PUBLISHER_OPS_DEFAULT = '127.0.0.1:9105';

export interface LocalEventsOptions {
  /** Paths relative to the working directory (the children run from the repo root: they get them absolute). */
  clusterConfigPath: string;
  gatewayConfigPath: string;
  /** Broker (<dataDir>/broker), publisher (/publisher) and read-model (/query) files go under here. */
  dataDir: string;
  /** Embedded broker port (default 9092). */
  brokerPort?: number;
  /** Query REST and gRPC addresses (defaults 127.0.0.1:8081 and :50052). */
  queryRest?: string;
  queryGrpc?: string;
  /** Ops addresses (/metrics, /healthz, /readyz) of the broker and the publisher (defaults LOCAL_*_OPS_DEFAULT). */
  brokerOps?: string;
  publisherOps?: string;
  /** Echo the children's stderr (logs) to ours. */
  echo?: boolean;
  /**
   * One publisher per entry (shard s's at index s, `npm start --shards N`): its cluster file,
   * checkpoint dir (default <dataDir>/publisher for shard 0, <dataDir>/publisher-shard-<s> for
   * the others) and ops address (default 127.0.0.1:0 for s ≥ 1). Default: the one publisher of
   * clusterConfigPath into <dataDir>/publisher on publisherOps.
   */
  shards?: { clusterConfigPath: string; publisherDataDir?: string; publisherOps?: string }[];
}

export interface LocalEvents {
  brokers: string;
  embeddedBroker: boolean;
  queryRest: string;
  queryGrpc: string;
  /** Where each process serves /metrics: `host:port` (the query process: its REST address; publisher: shard 0's). */
  metrics: { broker?: string; publisher: string; publishers: string[]; query: string };
  /** Process ids by name (broker, publisher, publisher-<s> for shard s ≥ 1, query), for CPU accounting (bench/cpu.ts). */
  pids(): Record<string, number>;
  stop(): Promise<void>;
}

interface Child {
  name: string;
  proc: ChildProcess;
  ready: Record<string, unknown>;
}

function start(name: string, script: string, args: string[], echo: boolean): Promise<Child> {
  // From dist/ the compiled script with plain node, from the source tree through tsx.
  const proc = spawn(process.execPath, [...nodeArgsForScript(script), ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const errLines: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => {
    if (echo) process.stderr.write(d);
    errLines.push(
      ...d
        .toString('utf8')
        .split('\n')
        .filter((l) => l.length > 0),
    );
    if (errLines.length > STDERR_LINES_KEPT) errLines.splice(0, errLines.length - STDERR_LINES_KEPT);
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`${name} not ready within ${READY_TIMEOUT_MS} ms\n${errLines.join('\n')}`)),
      READY_TIMEOUT_MS,
    );
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      for (const line of out.split('\n')) {
        if (!line.includes('"event":"ready"')) continue;
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        proc.stdout!.resume(); // keep draining (status lines)
        resolve({ name, proc, ready: JSON.parse(line) as Record<string, unknown> });
        return;
      }
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready\n${errLines.join('\n')}`));
    });
  });
}

/** The host part of `host:port` (or `[v6]:port`). */
function opsHost(addr: string): string {
  return addr.slice(0, addr.lastIndexOf(':'));
}

async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  const exited = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, STOP_TIMEOUT_MS))]);
  if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
}

/**
 * The options with their paths absolute: the children run from the repo root, so paths given
 * relative to our working directory must reach them as the caller meant them.
 */
function absolutePaths(o: LocalEventsOptions): LocalEventsOptions {
  const dataDir = path.resolve(o.dataDir);
  const shards = o.shards ?? [{ clusterConfigPath: o.clusterConfigPath }];
  return {
    ...o,
    clusterConfigPath: path.resolve(o.clusterConfigPath),
    gatewayConfigPath: path.resolve(o.gatewayConfigPath),
    dataDir,
    shards: shards.map((sh, s) => ({
      clusterConfigPath: path.resolve(sh.clusterConfigPath),
      publisherDataDir: path.resolve(
        sh.publisherDataDir ?? path.join(dataDir, s === 0 ? 'publisher' : `publisher-shard-${s}`),
      ),
      publisherOps: sh.publisherOps ?? (s === 0 ? (o.publisherOps ?? LOCAL_PUBLISHER_OPS_DEFAULT) : '127.0.0.1:0'),
    })),
  };
}

/** One publisher per shard, one after the other (each ready before the next starts); their ops addresses. */
async function startPublishers(opts: LocalEventsOptions, brokers: string, children: Child[]): Promise<string[]> {
  const metrics: string[] = [];
  for (const [s, sh] of opts.shards!.entries()) {
    const p = await start(
      s === 0 ? 'publisher' : `publisher-${s}`,
      'events/publisher/main.ts',
      [
        '--cluster',
        sh.clusterConfigPath,
        '--brokers',
        brokers,
        '--data-dir',
        sh.publisherDataDir!,
        '--ops',
        sh.publisherOps!,
      ],
      opts.echo ?? false,
    );
    children.push(p);
    metrics.push(`${opsHost(sh.publisherOps!)}:${String(p.ready.opsPort)}`);
  }
  return metrics;
}

export async function startLocalEvents(options: LocalEventsOptions): Promise<LocalEvents> {
  const opts = absolutePaths(options);
  const echo = opts.echo ?? false;
  const children: Child[] = [];
  try {
    let brokers = process.env.KAFKA_BROKERS ?? '';
    const embeddedBroker = brokers === '';
    let brokerMetrics: string | undefined;
    if (embeddedBroker) {
      const brokerOps = opts.brokerOps ?? LOCAL_BROKER_OPS_DEFAULT;
      const b = await start(
        'broker',
        'events/broker/main.ts',
        [
          '--data-dir',
          path.join(opts.dataDir, 'broker'),
          '--port',
          String(opts.brokerPort ?? 9092),
          '--ops',
          brokerOps,
        ],
        echo,
      );
      children.push(b);
      brokers = `${String(b.ready.host)}:${String(b.ready.port)}`;
      brokerMetrics = `${opsHost(brokerOps)}:${String(b.ready.opsPort)}`;
    }
    const publishers = await startPublishers(opts, brokers, children);
    const queryRest = opts.queryRest ?? '127.0.0.1:8081';
    const queryGrpc = opts.queryGrpc ?? '127.0.0.1:50052';
    children.push(
      await start(
        'query',
        'events/query/main.ts',
        [
          '--config',
          opts.gatewayConfigPath,
          '--brokers',
          brokers,
          '--data-dir',
          path.join(opts.dataDir, 'query'),
          '--rest',
          queryRest,
          '--grpc',
          queryGrpc,
        ],
        echo,
      ),
    );
    return {
      brokers,
      embeddedBroker,
      queryRest,
      queryGrpc,
      metrics: {
        ...(brokerMetrics !== undefined ? { broker: brokerMetrics } : {}),
        publisher: publishers[0]!,
        publishers,
        query: queryRest,
      },
      pids() {
        const out: Record<string, number> = {};
        for (const c of children) if (c.proc.pid !== undefined) out[c.name] = c.proc.pid;
        return out;
      },
      async stop() {
        // Readers first, the broker last.
        for (const c of [...children].reverse()) await stopChild(c);
      },
    };
  } catch (err) {
    for (const c of [...children].reverse()) await stopChild(c);
    throw err;
  }
}
