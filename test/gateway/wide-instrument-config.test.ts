// Wide instruments (maxPrice × maxQty ≥ 2^53) are exact in the engine and the gateway (its
// reports carry cum_notional exactly up to 2^64 − 1: test/gateway/wide-notional.test.ts), not yet
// in the Kafka records, the read models and the audit tools (engine/README.md, "Not yet exact
// downstream"): those processes refuse such a shard config at startup with a clear error rather
// than round a notional silently. The publisher is checked as a real process.

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
function writeCluster(name: string, wide: boolean, limits: { maxPrice?: number; maxQty?: number } = {}): string {
  const shard = JSON.parse(readFileSync(path.join(REPO_ROOT, 'engine/examples/instruments.json'), 'utf8'));
  if (wide)
    Object.assign(shard.instruments[0], { maxQty: 100_000_000_000, maxPrice: 100_000_000, qtyDecimals: 8, ...limits });
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

function gatewayConfig(cluster: string, accounts: unknown[] = []) {
  return parseGatewayConfig(
    {
      listen: { rest: '127.0.0.1:0', grpc: '127.0.0.1:0' },
      shards: [{ id: 0, clusterConfig: path.basename(cluster) }],
      accounts,
      adminKeys: [],
      signingKey: path.join(dir, 'key.pem'),
      dataDir: dir,
      workers: 1,
    },
    dir,
  );
}

describe('wide instruments are refused where notionals are not yet exact', () => {
  it('the gateway (and query service) config: a wide instrument loads; one beyond the uint64 cum_notional is refused naming it', () => {
    expect(gatewayConfig(writeCluster('narrow', false)).shards[0]!.symbols).toContain('BTC-USD');
    const wide = gatewayConfig(writeCluster('wide', true)).shards[0]!.instruments[0]!;
    expect(wide).toMatchObject({ symbol: 'BTC-USD', maxQty: 100_000_000_000, maxPrice: 100_000_000, qtyDecimals: 8 });
    // maxPrice × maxQty = 2^64 exactly: one past what a report's uint64 cum_notional holds.
    expect(() => gatewayConfig(writeCluster('beyond', true, { maxPrice: 2 ** 32, maxQty: 2 ** 32 }))).toThrow(
      /instruments\[0\]: BTC-USD's maxPrice \* maxQty = 18446744073709551616 exceeds 2\^64-1, the largest cum_notional an execution report or event record carries \(uint64\)/,
    );
    expect(
      gatewayConfig(writeCluster('edge', true, { maxPrice: 2 ** 32 - 1, maxQty: 2 ** 32 + 1 })).shards[0]!.symbols,
    ).toContain('BTC-USD');
  });

  it('risk.maxNotional: a safe integer, or a digit string for a larger (exact) limit', () => {
    const cluster = writeCluster('risk', true);
    const limitOf = (maxNotional: unknown) =>
      gatewayConfig(cluster, [{ account: 1, apiKeys: [], risk: { maxNotional } }]).accounts[0]!.risk.maxNotional;
    expect(limitOf(1_000_000)).toBe(1_000_000);
    expect(limitOf('1000000')).toBe(1_000_000);
    expect(limitOf('9007199254740991')).toBe(9_007_199_254_740_991);
    expect(limitOf('9999999899900000000')).toBe(9_999_999_899_900_000_000n);
    for (const bad of [1e19, 2 ** 53, 1.5, 0, -1, '0', '01', '1e19', ' 5', 'x'])
      expect(() => limitOf(bad), String(bad)).toThrow(/accounts\[0\]\.risk\.maxNotional must be/);
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
      /event publisher: .*instruments\[0\]: BTC-USD's maxPrice \* maxQty = 100000000000000000000 exceeds 2\^64-1/,
    );
  });
});
