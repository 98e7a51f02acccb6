// `npm start`: the whole exchange on this machine — three replicas of each shard (one shard
// unless --shards N), each serving market data over WebSocket (shard 0: :8091–8093) and metrics
// (shard 0: :9101–9103; the broker :9104, shard 0's publisher :9105), the gateway (REST on :8080, gRPC on :50051) with the example instruments
// and demo accounts, and the events side (events/local-events.ts): the embedded Kafka-protocol
// broker on :9092 unless KAFKA_BROKERS is set, the publisher, the query service (REST :8081,
// gRPC :50052). Ctrl-C stops everything cleanly.
//
//   npm start [-- --data-dir DIR] [--port-offset N] [--shards N] [--instruments FILE]
//
// --shards N (1..SHARDS_MAX, default 1) deals the instruments of --instruments FILE (default
// engine/examples/instruments.json) round-robin over N shards (shard-plan.ts); shard s runs its
// own three replicas and publisher on the ports of shard 0 plus s × SHARD_PORT_STRIDE
// (limits.ts), with its data under <root>/shard-<s>/ (exchange-layout.ts).
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
  EXAMPLE_INSTRUMENTS,
  exchangeLayout,
  writeExchangeConfigs,
  type ExchangeLayout,
} from './exchange-layout.js';
import { createLogger, pinoLog } from '../ops/log.js';
import { detectUwsRuntime, uwsRuntimeLine } from '../ops/uws-runtime.js';
import { SHARDS_MAX } from './limits.js';

function usage(msg: string): never {
  console.error(
    `${msg}\nusage: npm start [-- --data-dir DIR] [--port-offset N] [--shards N (1..${SHARDS_MAX})] [--instruments FILE]`,
  );
  process.exit(2);
}

/** The layout from the flags, its config files written; any bad value exits 2 (usage). */
function parseLayout(): ExchangeLayout {
  let values: { 'data-dir'?: string; 'port-offset'?: string; shards?: string; instruments?: string };
  try {
    ({ values } = parseArgs({
      options: {
        'data-dir': { type: 'string' },
        'port-offset': { type: 'string' },
        shards: { type: 'string' },
        instruments: { type: 'string' },
      },
    }));
  } catch (err) {
    usage((err as Error).message);
  }
  const portOffset = Number(values['port-offset'] ?? '0');
  if (!Number.isSafeInteger(portOffset)) usage('--port-offset must be an integer');
  // Number('') is 0 and Number('2.0') is 2: only plain digits are a shard count.
  const shardsText = values.shards ?? '1';
  if (!/^[0-9]{1,3}$/.test(shardsText)) usage(`--shards must be an integer in 1..${SHARDS_MAX}, not "${shardsText}"`);
  try {
    const layout = exchangeLayout(
      values['data-dir'] ?? DATA_ROOT_DEFAULT,
      portOffset,
      Number(shardsText),
      values.instruments ?? EXAMPLE_INSTRUMENTS,
    );
    writeExchangeConfigs(layout);
    return layout;
  } catch (err) {
    usage((err as Error).message);
  }
}

/** One banner line per shard: its instruments, replicas (leader marked), feeds and metrics. */
function shardLines(layout: ExchangeLayout, ex: LocalExchange, leaders: number[]): string {
  return layout.shards
    .map((sh, s) => {
      const cluster = parseClusterConfig(
        JSON.parse(readFileSync(sh.clusterConfigPath, 'utf8')) as unknown,
        path.dirname(sh.clusterConfigPath),
      );
      const symbols = (
        JSON.parse(readFileSync(sh.instrumentsPath, 'utf8')) as { instruments: { symbol: string }[] }
      ).instruments
        .map((i) => i.symbol)
        .join(' ');
      const mark = (id: number) => (id === leaders[s] ? ' (leader)' : '');
      const replicas = cluster.members.map((m) => `${m.id}@${m.client.host}:${m.client.port}${mark(m.id)}`).join('  ');
      const feeds = [...ex.shardFeedUrls[s]!].map(([id, url]) => `${url}${mark(id)}`).join('  ');
      const metrics = cluster.members
        .flatMap((m) => (m.ops !== undefined ? [`http://${m.ops.host}:${m.ops.port}/metrics`] : []))
        .join(' ');
      return `  shard ${s}    ${symbols}   (data ${sh.replicasDir})
    replicas ${replicas}
    market   ${feeds || 'none (no feed addresses in the cluster file)'}
    metrics  ${metrics || 'none (no ops addresses in the cluster file)'}`;
    })
    .join('\n');
}

/**
 * `matchbook watch` finds a follower among the feeds of a plain `npm start` (8091–8093) by
 * itself; at another port offset it needs `--url`: a follower of shard 0 (the first symbol's).
 */
function watchUrl(layout: ExchangeLayout, ex: LocalExchange, leaders: number[]): string {
  if (layout.portOffset === 0) return '';
  const feeds = [...ex.shardFeedUrls[0]!];
  const url = (feeds.find(([id]) => id !== leaders[0]) ?? feeds[0])?.[1];
  return url === undefined ? '' : ` --url ${url}`;
}

function banner(layout: ExchangeLayout, ex: LocalExchange, events: LocalEvents, leaders: number[]): string {
  const url = layout.portOffset !== 0 ? ` --url ${ex.restUrl}` : '';
  const configs = [...layout.shards.map((sh) => sh.clusterConfigPath), layout.gatewayConfigPath].join(', ');
  const firstSymbol = (s: number) =>
    (JSON.parse(readFileSync(layout.shards[s]!.instrumentsPath, 'utf8')) as { instruments: { symbol: string }[] })
      .instruments[0]!.symbol;
  return `
exchange up:
  page       ${ex.restUrl}/   (in a browser: market view, order ticket, operator console; ui/README.md)
  runtime    Node ${process.version}; ${uwsRuntimeLine(detectUwsRuntime())}   (every process; README "Supported runtimes")
  data       ${layout.dataRoot}   (everything this exchange writes; stop it and rm -rf it for a fresh one)
  shards     ${layout.shards.length} (instruments dealt round-robin from ${layout.instrumentsSource}; subscribe on a follower's feed, GET /v1/book/{symbol}?depth=N on the same ports; feed/README.md)
${shardLines(layout, ex, leaders)}
  REST       ${ex.restUrl}      (POST /v1/orders, DELETE|PATCH|GET /v1/orders/{id}, POST /v1/orders/cancel-all)
  user       ${ex.restUrl.replace(/^http/, 'ws')}/v1/user-stream   (private user stream: signed login, the account's execution reports; gateway/README.md)
  gRPC       ${ex.grpcAddress}   (exchange.v1.OrderEntryService; health and reflection on)
  FIX        ${ex.fixAddress}   (FIX 4.4${ex.config.tls !== undefined ? ' over TLS' : ''} order entry and drop copy, TargetCompID ${ex.config.fix.targetCompId}; logon signed with the API key: fix/README.md)
  events     Kafka ${events.brokers}${events.embeddedBroker ? ' (embedded broker; KAFKA_BROKERS=host:port,… for a real cluster)' : ''}
             topics exchange.orders.v1, exchange.fills.v1, exchange.trades.v1 (events/README.md)
  queries    REST http://${events.queryRest}  (GET /v1/accounts/{id}/orders|fills|positions, /v1/candles/{symbol}, signed like order entry)
             gRPC ${events.queryGrpc}  (exchange.v1.QueryService)
  metrics    gateway ${ex.restUrl}/metrics
             ${events.metrics.broker !== undefined ? `broker http://${events.metrics.broker}/metrics; ` : ''}publishers ${events.metrics.publishers.map((m) => `http://${m}/metrics`).join(' ')}; queries http://${events.metrics.query}/metrics
  config     ${configs}
             (written at every start from replicator/examples/cluster-3-local.json, the instruments file and gateway/examples/gateway-local.json)
  accounts   1 (API key demo-key-1), 2 (demo-key-2); admin key demo-admin — secrets in gateway/examples/gateway-local.json

place an order:
  npx matchbook place --symbol ${firstSymbol(0)} --side BUY --type LIMIT --price 4999000 --qty 10${url}
  npx matchbook place --symbol ${firstSymbol(0)} --side SELL --type LIMIT --price 4999000 --qty 4 --key demo-key-2 --secret demo-secret-2-change-me${url}
  npx matchbook orders <order_id>${url}

watch the book (from a follower's feed):
  npx matchbook watch ${firstSymbol(0)}${watchUrl(layout, ex, leaders)}

Ctrl-C to stop.`;
}

async function main(): Promise<void> {
  const layout = parseLayout();
  console.log(
    `data root ${layout.dataRoot}\nstarting ${layout.shards.length} shard(s) of 3 replicas (${EXAMPLE_CLUSTER_CONFIG}) and the gateway (${EXAMPLE_GATEWAY_CONFIG})…`,
  );
  const ex = await startLocalExchange({
    clusterConfigPaths: layout.shards.map((sh) => sh.clusterConfigPath),
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
      shards: layout.shards.map((sh) => ({
        clusterConfigPath: sh.clusterConfigPath,
        publisherDataDir: sh.publisherDataDir,
        publisherOps: sh.publisherOps,
      })),
    });
  } catch (err) {
    await ex.stop();
    throw err;
  }
  ex.attachEvents(events);
  const leaders = await Promise.all(ex.clusters.map((c) => c.waitForLeader(10_000)));
  console.log(banner(layout, ex, events, leaders));
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
