// The exchange as `npm start` runs it — three replica processes (fsync on, a market-data feed
// each), the gateway in this process, the embedded broker, the publisher and the query service
// as child processes — but on a temporary cluster with free ports, so a benchmark can start a
// fresh one next to anything else. Prints `{"event":"ready",…}` with the addresses and the
// process ids (for CPU accounting); SIGTERM stops everything.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startLocalEvents } from '../../events/local-events.js';
import { startLocalExchange } from '../../processes/local-exchange.js';
import { freePort } from '../../replicator/process-cluster.js';

const ex = await startLocalExchange({ feed: true, ops: true });
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mb-latency-events-'));
const events = await startLocalEvents({
  clusterConfigPath: ex.cluster.configPath,
  gatewayConfigPath: ex.gatewayConfigPath,
  dataDir,
  brokerPort: await freePort(),
  queryRest: `127.0.0.1:${await freePort()}`,
  queryGrpc: `127.0.0.1:${await freePort()}`,
  brokerOps: '127.0.0.1:0',
  publisherOps: '127.0.0.1:0',
});
// The page the gateway serves (bench:ui) finds the query service and the events' metrics here.
ex.attachEvents(events);
await ex.cluster.waitForLeader(30_000);
const pids: Record<string, number> = { gateway: process.pid };
for (const id of ex.cluster.ids) {
  const pid = ex.cluster.pid(id);
  if (pid !== undefined) pids[`replica${id}`] = pid;
}
Object.assign(pids, events.pids());
const replicaMetrics = [...ex.cluster.opsPorts.values()].map((p) => `127.0.0.1:${p}`);
console.log(
  JSON.stringify({
    event: 'ready',
    restUrl: ex.restUrl,
    grpcAddress: ex.grpcAddress,
    fixAddress: ex.fixAddress,
    queryRest: events.queryRest,
    metrics: { ...events.metrics, replicas: replicaMetrics },
    pids,
  }),
);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await events.stop();
  await ex.stop();
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
