// A gateway process on its own (the replicas run elsewhere): `npm run gateway -- --config F`.
// Serves REST and gRPC on the config's `listen` addresses; SIGTERM/SIGINT stop it cleanly.

import { parseArgs } from 'node:util';
import { loadGatewayConfig } from './config.js';
import { Gateway } from './gateway.js';
import { GrpcGateway } from './grpc-server.js';
import { RestGateway } from './rest-server.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string', default: 'gateway/examples/gateway-local.json' } } });
  const config = loadGatewayConfig(values.config!);
  const gateway = new Gateway(config);
  const rest = new RestGateway({ core: gateway, host: config.listen.rest.host, port: config.listen.rest.port, admin: (req) => gateway.admin(req) });
  const grpc = new GrpcGateway({ core: gateway, host: config.listen.grpc.host, port: config.listen.grpc.port });
  const restPort = await rest.start();
  const grpcPort = await grpc.start();
  process.stdout.write(`${JSON.stringify({ event: 'ready', rest: `${config.listen.rest.host}:${restPort}`, grpc: `${config.listen.grpc.host}:${grpcPort}` })}\n`);
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`[gateway] ${sig}: stopping`);
    // One line of counters for operators and the benchmarks (bench/gateway/exchange-procs.ts prints it).
    console.error(`[gateway] stats ${JSON.stringify({ gateway: gateway.stats, pool: gateway.pool.stats(), memory: process.memoryUsage() })}`);
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
