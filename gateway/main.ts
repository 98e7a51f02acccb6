// A gateway process on its own (the replicas run elsewhere): `npm run gateway -- --config F`.
// Serves REST and gRPC on the config's `listen` addresses; SIGTERM/SIGINT stop it cleanly. The
// REST port also serves the browser page (ui-views.ts) unless the config's `ui.enabled` is false:
// the shards' cluster files say where the feeds and the replicas' metrics are; where the query
// service and the publishers are comes from the config's `ui` section (absent: the page hides
// what needs them and the console shows no publishers or read models).

import { startFixEdge } from '../fix/fix-edge.js';
import { parseArgs } from 'node:util';
import { type GatewayConfig, loadGatewayConfig } from '../config/gateway-config.js';
import { Gateway } from './gateway.js';
import { GrpcGateway } from './grpc-server.js';
import { RestGateway } from './rest-server.js';
import { exposition } from '../ops/metrics.js';
import { createLogger, type Log, pinoLog } from '../ops/log.js';
import { reportUwsRuntime } from '../ops/uws-runtime.js';
import { loadUiAssets } from './ui-assets.js';
import type { UiRoutes } from './ui-routes.js';
import { type UiEventsAddresses, uiRoutes } from './ui-views.js';

/** Secrets written in the config file are for the demo files; with TLS on they are most likely a mistake. */
function warnPlainSecrets(config: GatewayConfig, log: Log): void {
  if (config.tls !== undefined && config.plainSecretKeys.length > 0)
    log.warn(
      'TLS is on but API secrets are written in the config file: use { "file" } or { "env" } (config/README.md)',
      {
        keys: config.plainSecretKeys,
      },
    );
}

/** The page's routes, or undefined when the config turns the page off. */
async function pageRoutes(config: GatewayConfig, gateway: Gateway): Promise<UiRoutes | undefined> {
  if (!config.ui.enabled) return undefined;
  const events: UiEventsAddresses = {
    queryUrl: config.ui.queryUrl,
    publisherMetrics: config.ui.publisherMetrics,
    queryMetrics: config.ui.queryMetrics,
  };
  return uiRoutes(
    await loadUiAssets(),
    {
      gateway: config,
      clusterConfigPaths: config.shards.map((s) => s.clusterConfigPath!),
      readiness: () => gateway.ready(),
      gatewayMetrics: async () => (await exposition(gateway.metrics.registry)).body,
    },
    () => events,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string', default: 'gateway/examples/gateway-local.json' } },
  });
  const config = loadGatewayConfig(values.config!);
  const logger = createLogger('gateway');
  const gateway = new Gateway(config, { log: pinoLog(logger) });
  const ui = await pageRoutes(config, gateway);
  const rest = new RestGateway({
    core: gateway,
    host: config.listen.rest.host,
    port: config.listen.rest.port,
    log: pinoLog(logger.child({ edge: 'rest' })),
    admin: (req) => gateway.admin(req),
    metrics: () => exposition(gateway.metrics.registry),
    ready: async () => ({ ...(await gateway.ready()) }),
    userStream: { core: gateway },
    ...(ui !== undefined ? { ui } : {}),
    ...(config.tls !== undefined ? { tls: { settings: config.tls, dir: config.dataDir } } : {}),
  });
  const grpc = new GrpcGateway({
    core: gateway,
    host: config.listen.grpc.host,
    port: config.listen.grpc.port,
    log: pinoLog(logger.child({ edge: 'grpc' })),
    tls: config.tls,
  });
  warnPlainSecrets(config, pinoLog(logger));
  const uws = reportUwsRuntime(pinoLog(logger), gateway.metrics.registry).uws; // REST and the user stream: native or the compat layer
  const restPort = await rest.start();
  const grpcPort = await grpc.start();
  const fix = await startFixEdge({ core: gateway, config, log: pinoLog(logger.child({ edge: 'fix' })) });
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', rest: `${config.listen.rest.host}:${restPort}`, grpc: `${config.listen.grpc.host}:${grpcPort}`, fix: fix.address, uws, page: ui !== undefined })}\n`,
  );
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: sig }, 'stopping');
    // One line of counters for operators and the benchmarks (bench/gateway/exchange-procs.ts prints it).
    logger.info(
      { stats: { gateway: gateway.stats, pool: gateway.pool.stats(), memory: process.memoryUsage() } },
      'gateway stats',
    );
    await fix.acceptor.stop();
    await rest.stop();
    await grpc.stop();
    await gateway.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`FATAL: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
