// What TLS on the replica links costs: 3 replica processes (fsync on), one client submitting
// ORDERS sequential commands (the replication benchmarks' buy/cancel workload), commit-and-apply
// round trip per command (ReplicaClient.submit: client → leader → quorum fdatasync → apply →
// answer). Runs alternate plain and mutual TLS (raft and client links, a throwaway CA made with
// openssl) ROUNDS times, so drift of a shared machine hits both alike. Last line: JSON.
//
//   npx tsx bench/tls/bench-tls-replicas.ts [--orders 1000] [--rounds 2]

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ReplicaClient } from '../../replicator/client/client.js';
import { ProcessCluster } from '../../replicator/process-cluster.js';
import { buyCancelCommand } from '../replicator/buy-cancel-flow.js';
import { makeCa, makeLeaf } from './throwaway-ca.js';
import { loadTlsMaterial, parseTlsSettings } from '../../ops/tls-settings.js';

const { values } = parseArgs({ options: { orders: { type: 'string' }, rounds: { type: 'string' } } });
const ORDERS = Number(values.orders ?? 1000);
const ROUNDS = Number(values.rounds ?? 2);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(
  tls: Record<string, unknown> | undefined,
): Promise<{ p50Us: number; p99Us: number; meanUs: number }> {
  const cluster = await ProcessCluster.create({ fsync: true });
  try {
    if (tls !== undefined) {
      const raw = JSON.parse(readFileSync(cluster.configPath, 'utf8')) as Record<string, unknown>;
      writeFileSync(cluster.configPath, JSON.stringify({ ...raw, tls }, null, 2));
    }
    await cluster.startAll();
    await cluster.waitForLeader(60_000);
    const settings = parseTlsSettings(tls, 'bench tls', '/');
    const client = new ReplicaClient({
      endpoints: cluster.endpoints,
      ...(settings !== undefined ? { tls: loadTlsMaterial(settings) } : {}),
    });
    for (let i = 0; i < 20; i++) await client.submit(buyCancelCommand(1, i)); // warm-up
    const us: number[] = [];
    for (let i = 20; i < 20 + ORDERS; i++) {
      const t0 = process.hrtime.bigint();
      await client.submit(buyCancelCommand(1, i));
      us.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    client.close();
    us.sort((a, b) => a - b);
    return {
      p50Us: Math.round(pct(us, 50)),
      p99Us: Math.round(pct(us, 99)),
      meanUs: Math.round(us.reduce((a, b) => a + b, 0) / us.length),
    };
  } finally {
    await Promise.all(cluster.ids.map((id) => cluster.terminate(id)));
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-bench-tls-'));
  try {
    const ca = makeCa(dir, 'bench');
    const leaf = makeLeaf(ca, 'node');
    const tls = {
      cert: { file: leaf.cert },
      key: { file: leaf.key },
      ca: { file: ca.caCert },
      requireClientCert: true,
    };
    const runs: { tls: boolean; p50Us: number; p99Us: number; meanUs: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const on of [false, true]) {
        const res = await run(on ? tls : undefined);
        runs.push({ tls: on, ...res });
        console.error(`round ${r + 1} tls=${on}: p50 ${res.p50Us} µs, p99 ${res.p99Us} µs`);
      }
    }
    const median = (on: boolean, k: 'p50Us' | 'p99Us') => {
      const v = runs
        .filter((x) => x.tls === on)
        .map((x) => x[k])
        .sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)]!;
    };
    console.log(
      JSON.stringify({
        bench: 'tls-replicas',
        orders: ORDERS,
        rounds: ROUNDS,
        fsync: true,
        runs,
        plain: { p50Us: median(false, 'p50Us'), p99Us: median(false, 'p99Us') },
        tls: { p50Us: median(true, 'p50Us'), p99Us: median(true, 'p99Us') },
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
