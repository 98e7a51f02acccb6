// The query process: the read models (consumed from Kafka, persisted) and the query API over
// them, REST and gRPC, authenticated with the gateway's keys:
//
//   npm run query -- --config <gateway config> [--brokers host:port,...] [--data-dir DIR]
//                    [--rest host:port] [--grpc host:port] [--group-id G] [--partitions N]
//
// From the gateway config (config/gateway-config.ts) it takes the accounts and API keys, the admin
// keys, the receive window and the shards; its optional "query" section gives the listen
// addresses and data directory ({"rest": "127.0.0.1:8081", "grpc": "127.0.0.1:50052",
// "dataDir": "…"}), "kafkaBrokers" the brokers. Flags win over the file. Brokers: --brokers >
// KAFKA_BROKERS > the config's kafkaBrokers > the embedded broker (127.0.0.1:9092). Paths:
// --data-dir is relative to the working directory, the section's dataDir to the config file;
// default <the config's dataDir>/read-models.
//
// Prints `{"event":"ready","rest":…,"grpc":…}` on stdout once serving; logs go to stderr (pino
// JSON lines, ops/log.ts; LOG_LEVEL). SIGTERM / SIGINT: stop serving, write the read models'
// snapshot, exit 0.
//
// The REST port also serves GET /metrics (consumer lag per read model, queries, event-loop
// delay: metrics.ts), /healthz and /readyz (consuming — a consumer running and joined, also
// after a crash, which it restarts from itself — not rebuilding — read-models/consumer.ts
// discards models read from another Kafka cluster or past the topics' ends and rebuilds them
// from offset zero — and every read model at most QUERY_READY_LAG_RECORDS_MAX records behind).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type GatewayConfig, parseGatewayConfig } from '../../config/gateway-config.js';
import { type HostPort, parseHostPort } from '../../replicator/cluster-config.js';
import { configuredBrokers, resolveBrokers } from '../kafka.js';
import { ReadModelConsumer } from '../read-models/consumer.js';
import { QueryGrpcServer } from './grpc-server.js';
import { QueryRestServer } from './rest-server.js';
import { QueryService } from './service.js';
import { runMain, stopOnSignals } from '../../ops/process.js';
import { createLogger, errorMessage, type Log, pinoLog } from '../../ops/log.js';
import { createRegistry, exposition } from '../../ops/metrics.js';
import { reportUwsRuntime } from '../../ops/uws-runtime.js';
import { QueryMetrics, queryReady } from './metrics.js';

export const QUERY_REST_DEFAULT = '127.0.0.1:8081';
export const QUERY_GRPC_DEFAULT = '127.0.0.1:50052';
/** First delay before retrying to start the read models' consumer (ms), doubling up to the max. */
const CONSUMER_RETRY_DELAY_MS = 500;
const CONSUMER_RETRY_DELAY_MS_MAX = 5_000;
/** A graceful stop that takes longer than this (ms) ends in exit(1) anyway. */
const STOP_TIMEOUT_MS = 10_000;

function usage(msg: string): never {
  console.error(
    `${msg}\nusage: npm run query -- --config <gateway config> [--brokers host:port,...] [--data-dir DIR] [--rest host:port] [--grpc host:port] [--group-id G] [--partitions N]`,
  );
  process.exit(2);
}

interface QueryOptions {
  config: GatewayConfig;
  rest: HostPort;
  grpcAddr: HostPort;
  dataDir: string;
  brokers: string[];
  groupId: string | undefined;
  partitions: number | undefined;
}

/** The flags over the gateway config's "query" section and kafkaBrokers (flags win); bad usage exits 2. */
function parseOptions(): QueryOptions {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      brokers: { type: 'string' },
      'data-dir': { type: 'string' },
      rest: { type: 'string' },
      grpc: { type: 'string' },
      'group-id': { type: 'string' },
      partitions: { type: 'string' },
    },
  });
  if (values.config === undefined) usage('missing --config');
  const configPath = path.resolve(values.config);
  const raw = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  const config = parseGatewayConfig(raw, path.dirname(configPath));
  const section = (typeof raw.query === 'object' && raw.query !== null ? raw.query : {}) as Record<string, unknown>;
  const rest = parseHostPort(values.rest ?? section.rest ?? QUERY_REST_DEFAULT, 'query rest');
  const grpcAddr = parseHostPort(values.grpc ?? section.grpc ?? QUERY_GRPC_DEFAULT, 'query grpc');
  // A flag's path is relative to the working directory, a path in the file to the file (as every process here).
  const dataDir =
    values['data-dir'] !== undefined
      ? path.resolve(values['data-dir'])
      : typeof section.dataDir === 'string'
        ? path.resolve(path.dirname(configPath), section.dataDir)
        : path.join(config.dataDir, 'read-models');
  const configured = configuredBrokers(raw);
  let brokers: string[];
  try {
    brokers = resolveBrokers(values.brokers, process.env, configured);
  } catch (err) {
    usage((err as Error).message);
  }
  const partitions = values.partitions === undefined ? undefined : Number(values.partitions);
  if (partitions !== undefined && (!Number.isSafeInteger(partitions) || partitions < 1))
    usage('--partitions must be a positive integer');
  return { config, rest, grpcAddr, dataDir, brokers, groupId: values['group-id'], partitions };
}

/** Starts the consumer. Kafka may not be up yet (started together with the exchange): keep trying, bounded backoff. */
async function startConsuming(consumer: ReadModelConsumer, log: Log): Promise<void> {
  for (let delayMs = CONSUMER_RETRY_DELAY_MS; ; delayMs = Math.min(delayMs * 2, CONSUMER_RETRY_DELAY_MS_MAX)) {
    try {
      await consumer.start();
      return;
    } catch (err) {
      log.warn('read models cannot start yet: retrying', { err: errorMessage(err), delayMs });
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

async function main(): Promise<void> {
  const { config, rest, grpcAddr, dataDir, brokers, groupId, partitions } = parseOptions();
  const log = pinoLog(createLogger('query'));

  const consumer = new ReadModelConsumer({
    brokers,
    dataDir,
    ...(groupId !== undefined ? { groupId } : {}),
    ...(partitions !== undefined ? { partitions } : {}),
    log,
  });
  const registry = createRegistry('query');
  let metrics: QueryMetrics | undefined;
  const service = new QueryService({
    config,
    source: consumer,
    observe: (op, code, s) => metrics?.observe(op, code, s),
  });
  metrics = new QueryMetrics(registry, { consumer, service });
  let consuming = false;
  const restServer = new QueryRestServer({
    service,
    host: rest.host,
    port: rest.port,
    log,
    metrics: () => exposition(registry),
    ready: () => queryReady(consuming, consumer),
    ...(config.queryTls !== undefined ? { tls: { settings: config.queryTls, dir: dataDir } } : {}),
  });
  const grpcServer = new QueryGrpcServer({
    service,
    host: grpcAddr.host,
    port: grpcAddr.port,
    log,
    ready: () => queryReady(consuming, consumer).ready,
    tls: config.queryTls,
  });
  // Serve first (lag and NOT_YET_CONSISTENT say how far the models are), then consume.
  const uws = reportUwsRuntime(log, registry).uws; // REST serves on uWS: native or the compat layer
  const restPort = await restServer.start();
  const grpcPort = await grpcServer.start();
  await startConsuming(consumer, log);
  consuming = true;
  log.info('serving REST and gRPC, read models consuming', {
    rest: `${rest.host}:${restPort}`,
    grpc: `${grpcAddr.host}:${grpcPort}`,
    dataDir,
    groupId: consumer.groupId,
    brokers,
  });
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', rest: restPort, grpc: grpcPort, uws, dataDir, groupId: consumer.groupId, pid: process.pid })}\n`,
  );

  stopOnSignals({
    log,
    timeoutMs: STOP_TIMEOUT_MS,
    stop: async () => {
      consuming = false;
      service.close();
      await restServer.stop();
      await grpcServer.stop();
      await consumer.stop();
    },
  });
}

runMain(main);
