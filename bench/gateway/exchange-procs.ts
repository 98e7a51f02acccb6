// For the gateway benchmarks: the exchange as separate processes — three replicas (fsync on)
// and the gateway (gateway/main.ts) — so the load generator in the benchmark process does not
// share an event loop with the gateway. Temporary data and free ports; stop() ends everything.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnTsx, terminate } from '../../ops/child-process.js';
import { ProcessCluster, REPO_ROOT, freePort } from '../../replicator/process-cluster.js';

export interface ExchangeProcs {
  restUrl: string;
  grpcAddress: string;
  cluster: ProcessCluster;
  /** The processes to account CPU time to (bench/cpu.ts): the gateway and each replica. */
  cpuTargets(): Record<string, number>;
  stop(): Promise<void>;
}

/** Gateway process ready line timeout (ms). */
const GATEWAY_READY_MS = 30_000;

export async function startExchangeProcesses(
  opts: { fsync?: boolean; workers?: number; nodeArgs?: string[] } = {},
): Promise<ExchangeProcs> {
  const cluster = await ProcessCluster.create({ fsync: opts.fsync ?? true });
  await cluster.startAll();
  await cluster.waitForLeader(30_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-gw-bench-'));
  const example = JSON.parse(
    readFileSync(path.join(REPO_ROOT, 'gateway/examples/gateway-local.json'), 'utf8'),
  ) as Record<string, unknown>;
  const restPort = await freePort();
  const grpcPort = await freePort();
  const config = {
    ...example,
    listen: { rest: `127.0.0.1:${restPort}`, grpc: `127.0.0.1:${grpcPort}` },
    fix: { ...(example.fix as object), listen: `127.0.0.1:${await freePort()}` },
    shards: [{ id: 0, clusterConfig: cluster.configPath }],
    signingKey: path.join(dir, 'exchange-ed25519.pem'),
    dataDir: dir,
    ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
  };
  const configPath = path.join(dir, 'gateway.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const child = spawnTsx('gateway/main.ts', ['--config', configPath], {
    name: 'gateway',
    readyTimeoutMs: GATEWAY_READY_MS,
    ...(opts.nodeArgs !== undefined ? { nodeArgs: opts.nodeArgs } : {}),
  });
  await child.ready;
  return {
    restUrl: `http://127.0.0.1:${restPort}`,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    cluster,
    cpuTargets() {
      const t: Record<string, number> = {};
      if (child.proc.pid !== undefined) t.gateway = child.proc.pid;
      for (const id of cluster.ids) {
        const pid = cluster.pid(id);
        if (pid !== undefined) t[`replica${id}`] = pid;
      }
      return t;
    },
    async stop() {
      await terminate(child, 5_000);
      for (const l of child.lines) if (l.includes('gateway stats')) console.error(l.slice(2));
      await Promise.all(cluster.ids.map((id) => cluster.terminate(id)));
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
