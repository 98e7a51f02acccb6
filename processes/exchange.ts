// `npm start`: the whole exchange on this machine — three replicas of shard 0 (data under
// ./data/cluster-3-local), each serving market data over WebSocket (:8091–8093) and metrics
// (:9101–9103; the broker :9104, the publisher :9105), the gateway (REST on :8080, gRPC on :50051) with the example instruments and
// demo accounts, and the events side (events/local-events.ts): the embedded Kafka-protocol
// broker on :9092 unless KAFKA_BROKERS is set, the publisher, the query service (REST :8081,
// gRPC :50052). Ctrl-C stops everything cleanly.

import { type LocalEvents, startLocalEvents } from '../events/local-events.js';
import { startLocalExchange } from './local-exchange.js';
import { createLogger, pinoLog } from '../ops/log.js';

async function main(): Promise<void> {
  console.log(
    'starting 3 replicas (replicator/examples/cluster-3-local.json) and the gateway (gateway/examples/gateway-local.json)…',
  );
  const ex = await startLocalExchange({
    clusterConfigPath: 'replicator/examples/cluster-3-local.json',
    gatewayConfigPath: 'gateway/examples/gateway-local.json',
    log: pinoLog(createLogger('gateway')),
  });
  const kafka = process.env.KAFKA_BROKERS;
  console.log(
    kafka
      ? `events to the Kafka cluster at ${kafka} (KAFKA_BROKERS)…`
      : 'starting the embedded Kafka-protocol broker (:9092), the events publisher and the query service…',
  );
  let events: LocalEvents;
  try {
    events = await startLocalEvents({
      clusterConfigPath: 'replicator/examples/cluster-3-local.json',
      gatewayConfigPath: 'gateway/examples/gateway-local.json',
      dataDir: 'data/events',
    });
  } catch (err) {
    await ex.stop();
    throw err;
  }
  const leader = await ex.cluster.waitForLeader(10_000);
  const feeds = [...ex.feedUrls].map(([id, url]) => `${url}${id === leader ? ' (leader)' : ''}`).join('  ');
  console.log(`
exchange up:
  replicas   ${ex.cluster.endpoints.map((e) => `${e.id}@${e.host}:${e.port}`).join('  ')}   (leader: ${leader})
  REST       ${ex.restUrl}      (POST /v1/orders, DELETE|PATCH|GET /v1/orders/{id}, POST /v1/orders/cancel-all)
  gRPC       ${ex.grpcAddress}   (exchange.v1.OrderEntryService; health and reflection on)
  market     ${feeds || 'none (no feed addresses in the cluster file)'}
             (subscribe on a follower; GET /v1/book/{symbol}?depth=N on the same ports; feed/README.md)
  events     Kafka ${events.brokers}${events.embeddedBroker ? ' (embedded broker; KAFKA_BROKERS=host:port,… for a real cluster)' : ''}
             topics exchange.orders.v1, exchange.fills.v1, exchange.trades.v1 (events/README.md)
  queries    REST http://${events.queryRest}  (GET /v1/accounts/{id}/orders|fills|positions, /v1/candles/{symbol}, signed like order entry)
             gRPC ${events.queryGrpc}  (exchange.v1.QueryService)
  metrics    gateway ${ex.restUrl}/metrics; replicas http://127.0.0.1:9101-9103/metrics
             ${events.metrics.broker !== undefined ? `broker http://${events.metrics.broker}/metrics; ` : ''}publisher http://${events.metrics.publisher}/metrics; queries http://${events.metrics.query}/metrics
  accounts   1 (API key demo-key-1), 2 (demo-key-2); admin key demo-admin — secrets in gateway/examples/gateway-local.json

place an order:
  npx matchbook place --symbol BTC-USD --side BUY --type LIMIT --price 4999000 --qty 10
  npx matchbook place --symbol BTC-USD --side SELL --type LIMIT --price 4999000 --qty 4 --key demo-key-2 --secret demo-secret-2-change-me
  npx matchbook orders <order_id>

watch the book (from a follower's feed):
  npx matchbook watch BTC-USD

Ctrl-C to stop.`);
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
