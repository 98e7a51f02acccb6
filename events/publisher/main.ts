// The events publisher as a process, one per shard:
//
//   npm run publisher -- --cluster <cluster.json> [--brokers host:port,...] [--data-dir DIR]
//                        [--partitions N] [--status-every-ms MS]
//                        [--checkpoint-every-entries N] [--checkpoint-every-ms MS]
//                        [--republish-from INDEX] [--ops host:port]
//
// Brokers: --brokers, else KAFKA_BROKERS, else the cluster file's "kafkaBrokers" (if any),
// else the embedded broker's default address (127.0.0.1:9092). The local checkpoint goes to
// --data-dir (default <cluster dataDir>/publisher). Prints `{"event":"ready",…}` on stdout once
// started and a `{"event":"status",…}` line every --status-every-ms (default 10 s); logs go to
// stderr (pino JSON lines, ops/log.ts; LOG_LEVEL). SIGTERM / SIGINT: stop after the send in
// progress, exit 0.
//
// --ops host:port (default: none) serves GET /metrics (publish lag, records, sessions, gaps,
// state: metrics.ts), /healthz and /readyz (publishing and at most
// PUBLISHER_READY_LAG_ENTRIES_MAX entries behind; a resume point of another log is refused: not
// ready, events/README.md "Another log, another broker"); the ready line then carries `opsPort`.
// --republish-from skips that check for its first session (the operator's word).

import { loadTlsMaterial } from '../../ops/tls-settings.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../engine/config.js';
import { parseClusterConfig, parseHostPort, type HostPort } from '../../replicator/cluster-config.js';
import { notionalBeyondUint64 } from '../../api/exact-uint64.js';
import { configuredBrokers, resolveBrokers } from '../kafka.js';
import { Publisher } from './publisher.js';
import { runMain, stopOnSignals } from '../../ops/process.js';
import { createLogger, pinoLog } from '../../ops/log.js';
import { createRegistry } from '../../ops/metrics.js';
import { startOpsHttp, type OpsHttp } from '../../ops/http.js';
import { publisherReady, registerPublisherMetrics } from './metrics.js';

/** A graceful stop that takes longer than this (ms) ends in exit(1) anyway. */
const STOP_TIMEOUT_MS = 10_000;
const STATUS_EVERY_MS_DEFAULT = 10_000;

function usage(msg: string): never {
  console.error(
    `${msg}\nusage: npm run publisher -- --cluster <cluster.json> [--brokers host:port,...] [--data-dir DIR] [--partitions N] [--status-every-ms MS] [--checkpoint-every-entries N] [--checkpoint-every-ms MS] [--republish-from INDEX] [--ops host:port]`,
  );
  process.exit(2);
}

function intArg(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) usage(`--${name} must be an integer ≥ ${min}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cluster: { type: 'string' },
      brokers: { type: 'string' },
      'data-dir': { type: 'string' },
      partitions: { type: 'string' },
      'status-every-ms': { type: 'string' },
      'checkpoint-every-entries': { type: 'string' },
      'checkpoint-every-ms': { type: 'string' },
      'republish-from': { type: 'string' },
      ops: { type: 'string' },
    },
  });
  if (values.cluster === undefined) usage('missing --cluster');
  const clusterPath = path.resolve(values.cluster);
  const raw = JSON.parse(readFileSync(clusterPath, 'utf8')) as Record<string, unknown>;
  const cluster = parseClusterConfig(raw, path.dirname(clusterPath));
  const shardConfig = parseConfig(JSON.parse(readFileSync(cluster.shardConfigPath, 'utf8')));
  // Wide instruments are exact on Kafka (cum_notional a uint64, codec.ts); beyond 2^64 − 1 not.
  const beyond = notionalBeyondUint64(shardConfig);
  if (beyond !== undefined) throw new Error(`event publisher: ${cluster.shardConfigPath} ${beyond}`);
  const configured = configuredBrokers(raw);
  let brokers: string[];
  try {
    brokers = resolveBrokers(values.brokers, process.env, configured);
  } catch (err) {
    usage((err as Error).message);
  }
  const partitions = intArg('partitions', values.partitions, 1);
  const statusEveryMs = intArg('status-every-ms', values['status-every-ms'], 100) ?? STATUS_EVERY_MS_DEFAULT;
  const checkpointIntervalEntries = intArg('checkpoint-every-entries', values['checkpoint-every-entries'], 1);
  const checkpointIntervalMs = intArg('checkpoint-every-ms', values['checkpoint-every-ms'], 1);
  const republishFromIndex = intArg('republish-from', values['republish-from'], 1);
  let opsAddr: HostPort | undefined;
  try {
    opsAddr = values.ops === undefined ? undefined : parseHostPort(values.ops, '--ops');
  } catch (err) {
    usage((err as Error).message);
  }
  const dataDir = path.resolve(values['data-dir'] ?? path.join(cluster.dataDir, 'publisher'));
  const shard = shardConfig.shardId;
  const log = pinoLog(createLogger('publisher', { shard }));

  const publisher = new Publisher({
    shardConfig,
    endpoints: cluster.members.map((m) => ({ id: m.id, host: m.client.host, port: m.client.port })),
    ...(cluster.tls !== undefined ? { tls: loadTlsMaterial(cluster.tls) } : {}),
    brokers,
    dataDir,
    ...(partitions !== undefined ? { partitions } : {}),
    ...(checkpointIntervalEntries !== undefined ? { checkpointIntervalEntries } : {}),
    ...(checkpointIntervalMs !== undefined ? { checkpointIntervalMs } : {}),
    ...(republishFromIndex !== undefined ? { republishFromIndex } : {}),
    log,
  });
  publisher.start();
  let ops: OpsHttp | undefined;
  if (opsAddr !== undefined) {
    const registry = createRegistry('publisher');
    registry.setDefaultLabels({ component: 'publisher', shard: String(shard) });
    registerPublisherMetrics(registry, publisher);
    ops = await startOpsHttp({
      host: opsAddr.host,
      port: opsAddr.port,
      registry,
      ready: () => publisherReady(publisher),
    });
  }
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', shard, brokers, dataDir, ...(ops !== undefined ? { opsPort: ops.port } : {}), pid: process.pid })}\n`,
  );
  const statusTimer = setInterval(
    () => process.stdout.write(`${JSON.stringify({ event: 'status', ...publisher.status() })}\n`),
    statusEveryMs,
  );

  stopOnSignals({
    log,
    timeoutMs: STOP_TIMEOUT_MS,
    stop: async () => {
      clearInterval(statusTimer);
      await publisher.stop();
      await ops?.close();
      return { status: publisher.status() };
    },
  });
}

runMain(main);
