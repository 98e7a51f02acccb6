// For the gateway benchmarks: the exchange as separate processes — three replicas (fsync on)
// and the gateway (gateway/main.ts) — so the load generator in the benchmark process does not
// share an event loop with the gateway. Temporary data and free ports; stop() ends everything.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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

export async function startExchangeProcesses(opts: { fsync?: boolean; workers?: number; nodeArgs?: string[] } = {}): Promise<ExchangeProcs> {
  const cluster = await ProcessCluster.create({ fsync: opts.fsync ?? true });
  await cluster.startAll();
  await cluster.waitForLeader(30_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-gw-bench-'));
  const example = JSON.parse(readFileSync(path.join(REPO_ROOT, 'gateway/examples/gateway-local.json'), 'utf8')) as Record<string, unknown>;
  const restPort = await freePort();
  const grpcPort = await freePort();
  const config = {
    ...example,
    listen: { rest: `127.0.0.1:${restPort}`, grpc: `127.0.0.1:${grpcPort}` },
    shards: [{ id: 0, clusterConfig: cluster.configPath }],
    signingKey: path.join(dir, 'exchange-ed25519.pem'),
    dataDir: dir,
    ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
  };
  const configPath = path.join(dir, 'gateway.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', 'gateway/main.ts', '--config', configPath], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const errLines: string[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    errLines.push(...d.toString('utf8').split('\n').filter((l) => l.length > 0));
    if (errLines.length > 200) errLines.splice(0, errLines.length - 200);
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`gateway not ready within ${GATEWAY_READY_MS} ms\n${errLines.join('\n')}`)), GATEWAY_READY_MS);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (out.includes('"event":"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code})\n${errLines.join('\n')}`));
    });
  });
  return {
    restUrl: `http://127.0.0.1:${restPort}`,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    cluster,
    cpuTargets() {
      const t: Record<string, number> = {};
      if (child.pid !== undefined) t.gateway = child.pid;
      for (const id of cluster.ids) {
        const pid = cluster.pid(id);
        if (pid !== undefined) t[`replica${id}`] = pid;
      }
      return t;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      for (const l of errLines) if (l.includes('gateway stats')) console.error(l);
      await Promise.all(cluster.ids.map((id) => cluster.terminate(id)));
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
