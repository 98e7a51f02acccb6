// The embedded Kafka-protocol broker as a process:
//
//   npm run broker -- --data-dir DIR [--port 9092] [--host 127.0.0.1] [--advertised-host H]
//                     [--fsync always|never] [--partitions N] [--no-auto-create]
//                     [--segment-bytes N] [--retention-bytes N] [--retention-ms N]
//                     [--ops host:port]
//
// Prints one line `{"event":"ready","host":…,"port":…,"dataDir":…,"pid":…}` on stdout once
// listening (tests and scripts wait for it; with --ops it also carries `opsPort`); logs go to
// stderr (pino JSON lines, ops/log.ts; LOG_LEVEL). --ops (default: none) serves GET /metrics
// (requests and bytes per Kafka API, offsets per partition: metrics.ts), /healthz and /readyz
// (ready once listening). SIGTERM / SIGINT: graceful
// stop (connections closed, in-flight requests finished, logs fsynced), exit 0. A storage
// failure (failed write or fsync) or a corrupt log at open: logged, exit 1.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { startBroker } from './server.js';
import { runMain, stopOnSignals } from '../../ops/process.js';
import { createLogger, pinoLog } from '../../ops/log.js';
import { createRegistry } from '../../ops/metrics.js';
import { startOpsHttp, type OpsHttp } from '../../ops/http.js';
import { parseHostPort, type HostPort } from '../../replicator/cluster-config.js';
import { instrumentBroker } from './metrics.js';

/** A graceful stop that takes longer than this (ms) ends in exit(1) anyway. */
const STOP_TIMEOUT_MS = 10_000;

function usage(msg: string): never {
  console.error(
    `${msg}\nusage: npm run broker -- --data-dir DIR [--port 9092] [--host 127.0.0.1] [--advertised-host H] [--fsync always|never] [--partitions N] [--no-auto-create] [--segment-bytes N] [--retention-bytes N] [--retention-ms N] [--ops host:port]`,
  );
  process.exit(2);
}

function intArg(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) usage(`--${name} must be an integer >= ${min}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'advertised-host': { type: 'string' },
      fsync: { type: 'string' },
      partitions: { type: 'string' },
      'no-auto-create': { type: 'boolean' },
      'segment-bytes': { type: 'string' },
      'retention-bytes': { type: 'string' },
      'retention-ms': { type: 'string' },
      ops: { type: 'string' },
    },
  });
  if (values['data-dir'] === undefined) usage('missing --data-dir');
  const fsync = values.fsync ?? 'always';
  if (fsync !== 'always' && fsync !== 'never') usage('--fsync must be always or never');
  let opsAddr: HostPort | undefined;
  try {
    opsAddr = values.ops === undefined ? undefined : parseHostPort(values.ops, '--ops');
  } catch (err) {
    usage((err as Error).message);
  }
  const log = pinoLog(createLogger('broker'));
  if (fsync === 'never')
    log.warn('fsync is off: acknowledged messages and commits can be lost on an OS crash or power loss');
  const dataDir = path.resolve(values['data-dir']);
  const partitions = intArg('partitions', values.partitions, 1);
  const segmentBytesMax = intArg('segment-bytes', values['segment-bytes'], 1);
  const retentionBytes = intArg('retention-bytes', values['retention-bytes'], 0);
  const retentionMs = intArg('retention-ms', values['retention-ms'], 0);
  const running = await startBroker({
    dataDir,
    port: intArg('port', values.port, 0) ?? 9092,
    host: values.host ?? '127.0.0.1',
    ...(values['advertised-host'] !== undefined ? { advertisedHost: values['advertised-host'] } : {}),
    fsync,
    autoCreateTopics: values['no-auto-create'] !== true,
    ...(partitions !== undefined ? { defaultPartitions: partitions } : {}),
    ...(segmentBytesMax !== undefined ? { segmentBytesMax } : {}),
    ...(retentionBytes !== undefined ? { retentionBytes } : {}),
    ...(retentionMs !== undefined ? { retentionMs } : {}),
    log,
    // After a failed write or fsync nothing more may be acknowledged: stop at once.
    onFatal: () => process.exit(1),
  });
  let ops: OpsHttp | undefined;
  if (opsAddr !== undefined) {
    const registry = createRegistry('broker');
    instrumentBroker(registry, running.broker);
    ops = await startOpsHttp({ host: opsAddr.host, port: opsAddr.port, registry });
  }
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', host: running.host, port: running.port, dataDir, ...(ops !== undefined ? { opsPort: ops.port } : {}), pid: process.pid })}\n`,
  );

  stopOnSignals({
    log,
    timeoutMs: STOP_TIMEOUT_MS,
    stop: async () => {
      await ops?.close();
      await running.close();
    },
  });
}

runMain(main);
