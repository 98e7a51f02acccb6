// `npm start`: the whole exchange on this machine — three replicas of shard 0, each serving
// market data over WebSocket (:8091–8093) and metrics (:9101–9103; the broker :9104, the
// publisher :9105), the gateway (REST on :8080, gRPC on :50051) with the example instruments
// and demo accounts, and the events side (events/local-events.ts): the embedded Kafka-protocol
// broker on :9092 unless KAFKA_BROKERS is set, the publisher, the query service (REST :8081,
// gRPC :50052). Ctrl-C stops everything cleanly.
//
//   npm start [-- --data-dir DIR] [--port-offset N]
//
// Everything it writes lives under one data root (exchange-layout.ts): --data-dir, relative to
// the working directory, default ./data (the repo's data/ under npm start); `rm -rf data` with
// the exchange stopped gives a fresh exchange in every part. --port-offset N moves every port
// above by N (default 0), so a second exchange (a test) can run beside one on the usual ports.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseClusterConfig } from '../replicator/cluster-config.js';
import { type LocalEvents, startLocalEvents } from '../events/local-events.js';
import { startLocalExchange, type LocalExchange } from './local-exchange.js';
import {
  DATA_ROOT_DEFAULT,
  EXAMPLE_CLUSTER_CONFIG,
  EXAMPLE_GATEWAY_CONFIG,
  exchangeLayout,
  writeExchangeConfigs,
  type ExchangeLayout,
} from './exchange-layout.js';
import { createLogger, pinoLog } from '../ops/log.js';
import { detectUwsRuntime, uwsRuntimeLine } from '../ops/uws-runtime.js';

function usage(msg: string): never {
  console.error(`${msg}\nusage: npm start [-- --data-dir DIR] [--port-offset N]`);
  process.exit(2);
}

function parseLayout(): ExchangeLayout {
  let values: { 'data-dir'?: string; 'port-offset'?: string };
  try {
    ({ values } = parseArgs({ options: { 'data-dir': { type: 'string' }, 'port-offset': { type: 'string' } } }));
  } catch (err) {
    usage((err as Error).message);
  }
  const portOffset = Number(values['port-offset'] ?? '0');
  if (!Number.isSafeInteger(portOffset)) usage('--port-offset must be an integer');
  try {
    return exchangeLayout(values['data-dir'] ?? DATA_ROOT_DEFAULT, portOffset);
  } catch (err) {
    usage((err as Error).message);
  }
}

function banner(layout: ExchangeLayout, ex: LocalExchange, events: LocalEvents, leader: number): string {
  const feeds = [...ex.feedUrls].map(([id, url]) => `${url}${id === leader ? ' (leader)' : ''}`).join('  ');
  const cluster = parseClusterConfig(
    JSON.parse(readFileSync(layout.clusterConfigPath, 'utf8')) as unknown,
    path.dirname(layout.clusterConfigPath),
  );
  const replicaMetrics = cluster.members
    .flatMap((m) => (m.ops !== undefined ? [`http://${m.ops.host}:${m.ops.port}/metrics`] : []))
    .join(' ');
  const url = layout.portOffset !== 0 ? ` --url ${ex.restUrl}` : '';
  return `
exchange up:
  runtime    Node ${process.version}; ${uwsRuntimeLine(detectUwsRuntime())}   (every process; README "Supported runtimes")
  data       ${layout.dataRoot}   (everything this exchange writes; stop it and rm -rf it for a fresh one)
  replicas   ${ex.cluster.endpoints.map((e) => `${e.id}@${e.host}:${e.port}`).join('  ')}   (leader: ${leader})
  REST       ${ex.restUrl}      (POST /v1/orders, DELETE|PATCH|GET /v1/orders/{id}, POST /v1/orders/cancel-all)
  user       ${ex.restUrl.replace(/^http/, 'ws')}/v1/user-stream   (private user stream: signed login, the account's execution reports; gateway/README.md)
  gRPC       ${ex.grpcAddress}   (exchange.v1.OrderEntryService; health and reflection on)
  market     ${feeds || 'none (no feed addresses in the cluster file)'}
             (subscribe on a follower; GET /v1/book/{symbol}?depth=N on the same ports; feed/README.md)
  events     Kafka ${events.brokers}${events.embeddedBroker ? ' (embedded broker; KAFKA_BROKERS=host:port,… for a real cluster)' : ''}
             topics exchange.orders.v1, exchange.fills.v1, exchange.trades.v1 (events/README.md)
  queries    REST http://${events.queryRest}  (GET /v1/accounts/{id}/orders|fills|positions, /v1/candles/{symbol}, signed like order entry)
             gRPC ${events.queryGrpc}  (exchange.v1.QueryService)
  metrics    gateway ${ex.restUrl}/metrics; replicas ${replicaMetrics || 'none (no ops addresses in the cluster file)'}
             ${events.metrics.broker !== undefined ? `broker http://${events.metrics.broker}/metrics; ` : ''}publisher http://${events.metrics.publisher}/metrics; queries http://${events.metrics.query}/metrics
  config     ${layout.clusterConfigPath}, ${layout.gatewayConfigPath}
             (written at every start from replicator/examples/cluster-3-local.json and gateway/examples/gateway-local.json)
  accounts   1 (API key demo-key-1), 2 (demo-key-2); admin key demo-admin — secrets in gateway/examples/gateway-local.json

place an order:
  npx matchbook place --symbol BTC-USD --side BUY --type LIMIT --price 4999000 --qty 10${url}
  npx matchbook place --symbol BTC-USD --side SELL --type LIMIT --price 4999000 --qty 4 --key demo-key-2 --secret demo-secret-2-change-me${url}
  npx matchbook orders <order_id>${url}

watch the book (from a follower's feed):
  npx matchbook watch BTC-USD

Ctrl-C to stop.`;
}

async function main(): Promise<void> {
  const layout = parseLayout();
  writeExchangeConfigs(layout);
  console.log(
    `data root ${layout.dataRoot}\nstarting 3 replicas (${EXAMPLE_CLUSTER_CONFIG}) and the gateway (${EXAMPLE_GATEWAY_CONFIG})…`,
  );
  const ex = await startLocalExchange({
    clusterConfigPath: layout.clusterConfigPath,
    gatewayConfigPath: layout.gatewayConfigPath,
    log: pinoLog(createLogger('gateway')),
  });
  const kafka = process.env.KAFKA_BROKERS;
  console.log(
    kafka
      ? `events to the Kafka cluster at ${kafka} (KAFKA_BROKERS)…`
      : `starting the embedded Kafka-protocol broker (:${layout.events.brokerPort}), the events publisher and the query service…`,
  );
  let events: LocalEvents;
  try {
    events = await startLocalEvents({
      clusterConfigPath: layout.clusterConfigPath,
      gatewayConfigPath: layout.gatewayConfigPath,
      dataDir: layout.eventsDir,
      ...layout.events,
    });
  } catch (err) {
    await ex.stop();
    throw err;
  }
  const leader = await ex.cluster.waitForLeader(10_000);
  console.log(banner(layout, ex, events, leader));
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${sig}: stopping…`);
    await events.stop();
    await ex.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`npm start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
