// Wide instruments (maxPrice × maxQty ≥ 2^53) are exact in the engine, not yet in the gateway's
// reports, the Kafka records, the read models and the audit tools (engine/README.md, "Not yet
// exact downstream"): those processes refuse such a shard config at startup with a clear error
// rather than round a notional silently. The publisher is checked as a real process.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../config/gateway-config.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-wide-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The example shard config with BTC-USD made wide (1 satoshi up to 1,000 BTC at up to 1,000,000.00 USD) or not. */
function writeCluster(name: string, wide: boolean): string {
  const shard = JSON.parse(readFileSync(path.join(REPO_ROOT, 'engine/examples/instruments.json'), 'utf8'));
  if (wide) Object.assign(shard.instruments[0], { maxQty: 100_000_000_000, maxPrice: 100_000_000, qtyDecimals: 8 });
  writeFileSync(path.join(dir, `${name}-shard.json`), JSON.stringify(shard));
  writeFileSync(
    path.join(dir, `${name}.json`),
    JSON.stringify({
      clusterId: name,
      dataDir: path.join(dir, `${name}-data`),
      shardConfig: `${name}-shard.json`,
      fsync: false,
      seed: 1,
      kafkaBrokers: '127.0.0.1:1',
      members: [{ id: 1, raft: '127.0.0.1:1', client: '127.0.0.1:2' }],
    }),
  );
  return path.join(dir, `${name}.json`);
}

function gatewayConfig(cluster: string) {
  return parseGatewayConfig(
    {
      listen: { rest: '127.0.0.1:0', grpc: '127.0.0.1:0' },
      shards: [{ id: 0, clusterConfig: path.basename(cluster) }],
      accounts: [],
      adminKeys: [],
      signingKey: path.join(dir, 'key.pem'),
      dataDir: dir,
      workers: 1,
    },
    dir,
  );
}

describe('wide instruments are refused where notionals are not yet exact', () => {
  it('the gateway (and query service) config: the narrow example loads, the wide one is refused naming it', () => {
    expect(gatewayConfig(writeCluster('narrow', false)).shards[0]!.symbols).toContain('BTC-USD');
    expect(() => gatewayConfig(writeCluster('wide', true))).toThrow(
      /instruments\[0\]: BTC-USD is a wide instrument \(maxPrice \* maxQty = 10000000000000000000 exceeds 2\^53-1\), which the gateway and query service does not support yet: cum_notional in execution reports and read models would not be exact/,
    );
  });

  it('the event publisher process accepts wide instruments (exact on Kafka) but exits at startup on notionals beyond 2^64-1 (uint64 records)', async () => {
    const cluster = writeCluster('huge-pub', true);
    const shardPath = path.join(dir, 'huge-pub-shard.json');
    const shard = JSON.parse(readFileSync(shardPath, 'utf8'));
    shard.instruments[0].maxPrice = 1_000_000_000; // × 1e11 = 1e20 > 2^64 - 1
    writeFileSync(shardPath, JSON.stringify(shard));
    const err = await run(process.execPath, ['--import', 'tsx', 'events/publisher/main.ts', '--cluster', cluster], {
      cwd: REPO_ROOT,
      timeout: 120_000,
    }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(err?.code).not.toBe(0);
    expect(err?.stderr).toMatch(
      /event publisher: BTC-USD has maxPrice \* maxQty = 100000000000000000000, beyond 2\^64-1: cum_notional is a uint64/,
    );
  });
});
