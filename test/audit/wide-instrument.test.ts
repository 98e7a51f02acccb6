// Replay and audit export of a wide instrument (maxPrice × maxQty > 2^53 − 1, engine/notional.ts):
// BTC-USD at 0.01 USD and 1 satoshi, up to 1,000,000.00 USD × 1,000 BTC. Three replica processes
// take orders over their client protocol (the replica client, real sockets), with a fill whose
// notional is far above 2^53; their WALs and snapshots are then replayed. The gateway cannot run
// a wide instrument yet, so its chain is written here from the replicas' answers with its own
// ReportChain, each report carrying the exact cum_notional (a bigint) as the gateway's canonical
// template writes it. Checked: replay --verify passes (snapshots, the regenerated chain, every
// received report field by field, exactly), a received report whose cum_notional differs by 1
// fails, and the export's cum_notional (JSON and CSV) and avg_px are exact.

import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'lossless-json';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { jsonStringifyExact } from '../../api/json-exact.js';
import { runAudit, runReplay } from '../../cli/audit-commands.js';
import { decodeEvents } from '../../engine/event-codec.js';
import type { ExecReport } from '../../engine/types.js';
import { ReportChain, loadOrCreateSigningKey } from '../../gateway/report-chain.js';
import { ReplicaClient } from '../../replicator/client/client.js';
import { ProcessCluster, REPO_ROOT } from '../../replicator/process-cluster.js';
import { reportWithNotional, runCli, tempDir } from './helpers.js';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** The makers (account 2) and the taker (account 1) that sweeps both: two fills, each above 2^53. */
const MAKERS = [
  { clOrdId: 'ask-1', price: 5_000_000, qty: 40_000_000_000 },
  { clOrdId: 'ask-2', price: 5_000_001, qty: 30_000_000_001 },
];
const TAKER = { clOrdId: 'bid-1', price: 5_000_001, qty: 70_000_000_001 };

let root: string;
let cluster: ProcessCluster | undefined;
let gatewayConfig: string;
let reportsFile: string;
const reports: ExecutionReportOut[] = [];

/** Integers of any size as bigints (the export's JSON read exactly, independently of the audit's reader). */
function parseExact(line: string): Record<string, unknown> {
  return parse(line, null, (v) => (/^-?\d+$/.test(v) ? BigInt(v) : Number(v))) as Record<string, unknown>;
}

/** The wide shard config: the example's BTC-USD up to 1,000 BTC (1e11 satoshi) at up to 1,000,000.00 USD. */
function writeShardConfig(): string {
  const shard = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'engine/examples/instruments.json'), 'utf8'));
  Object.assign(shard.instruments[0], { maxQty: 100_000_000_000, maxPrice: 100_000_000, qtyDecimals: 8 });
  const file = path.join(root, 'wide-shard.json');
  fs.writeFileSync(file, JSON.stringify(shard));
  return file;
}

/** Submits the orders; returns their exec reports in order. */
async function trade(c: ProcessCluster): Promise<ExecReport[]> {
  const client = new ReplicaClient({ endpoints: c.endpoints, requestTimeoutMs: 60_000 });
  const execs: ExecReport[] = [];
  try {
    const orders = [...MAKERS.map((m) => ({ ...m, account: 2, side: 'SELL' })), { ...TAKER, account: 1, side: 'BUY' }];
    for (const o of orders) {
      const r = await client.submit({ type: 'new', symbol: 'BTC-USD', ordType: 'LIMIT', ...o });
      for (const e of decodeEvents(r.eventBytes)) if (e.kind === 'exec') execs.push(e);
    }
  } finally {
    client.close();
  }
  return execs;
}

/** The gateway's chain of these reports (journal, signed heads), and the reports as a client received them. */
async function writeGateway(execs: ExecReport[], clusterConfig: string): Promise<void> {
  const gatewayDir = path.join(root, 'gateway');
  const key = loadOrCreateSigningKey(path.join(gatewayDir, 'exchange-ed25519.pem'));
  const chain = new ReportChain(key, { dataDir: gatewayDir, everyReports: 2, everyMs: 2 ** 31 - 1 });
  for (const e of execs) {
    const r = reportWithNotional(0, e, BigInt(e.cumNotional));
    chain.append(r);
    reports.push(r);
  }
  chain.signHead();
  await chain.close();
  gatewayConfig = path.join(root, 'gateway.json');
  fs.writeFileSync(
    gatewayConfig,
    JSON.stringify({
      shards: [{ id: 0, clusterConfig }],
      accounts: [],
      signingKey: path.join(gatewayDir, 'exchange-ed25519.pem'),
      dataDir: gatewayDir,
    }),
  );
  reportsFile = path.join(root, 'received.jsonl');
  fs.writeFileSync(reportsFile, reports.map((r) => `${jsonStringifyExact(r)}\n`).join(''));
}

beforeAll(async () => {
  root = tempDir('wide');
  cluster = await ProcessCluster.create({
    size: 3,
    fsync: false,
    shardConfigPath: writeShardConfig(),
    snapshotIntervalEntries: 2,
  });
  await cluster.startAll();
  await cluster.waitForLeader();
  const execs = await trade(cluster);
  await cluster.stop(true); // the processes, not the files
  await writeGateway(execs, cluster.configPath);
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
});

/** The taker's exact notional and its fills, from the orders (BigInt). */
function takerExpected(): { cumNotional: bigint; cumQty: bigint } {
  let cumNotional = 0n;
  let cumQty = 0n;
  for (const m of MAKERS) {
    cumNotional += BigInt(m.price) * BigInt(m.qty);
    cumQty += BigInt(m.qty);
  }
  return { cumNotional, cumQty };
}

/** avg_px ("integer.8 decimals") is cum_notional / cum_qty to within half of its last digit. */
function expectAvgPxExact(avgPx: string, cumNotional: bigint, cumQty: bigint): void {
  const scaled = BigInt(avgPx.replace('.', ''));
  expect(avgPx).toMatch(/^\d+\.\d{8}$/);
  const error = scaled * cumQty - cumNotional * 10n ** 8n;
  expect(2n * (error < 0n ? -error : error) <= cumQty, `avg_px ${avgPx}`).toBe(true);
}

describe('a wide instrument in the audit tools', () => {
  it('the orders traded with notionals above 2^53 − 1', () => {
    const fills = reports.filter((r) => r.exec_type === 'TRADE');
    expect(fills.length).toBe(4);
    const taker = reports.filter((r) => r.client_order_id === TAKER.clOrdId).at(-1)!;
    expect(taker.order_status).toBe('FILLED');
    expect(taker.cum_notional).toBe(takerExpected().cumNotional);
    expect(takerExpected().cumNotional > MAX_SAFE).toBe(true);
  });

  it('replay --verify passes: snapshots, the regenerated chain and every received report, exactly', async () => {
    const r = await runCli(runReplay, ['--config', gatewayConfig, '--verify', '--reports', reportsFile]);
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    expect(r.out).toContain('OK: everything checked matches');
    const last = r.last as { chain: { reportsCovered: number; headsVerified: number } };
    expect(last.chain.reportsCovered).toBe(reports.length);
    expect(last.chain.headsVerified).toBeGreaterThan(0);
    expect(r.out).toContain(`, ${reports.length} client reports compared`);
    expect(Number(/; (\d+) snapshot\(s\) checked;/.exec(r.out)?.[1])).toBeGreaterThan(0);
    // The same chain hashed on worker threads (chain-hash.mjs compiled there).
    const threaded = await runCli(runReplay, ['--config', gatewayConfig, '--verify', '--hash-threads', '2']);
    expect(threaded.code, `${threaded.out}\n${threaded.err}`).toBe(0);
    expect((threaded.last as { chain: { reportsCovered: number } }).chain.reportsCovered).toBe(reports.length);
  });

  it('a received report whose cum_notional differs by 1 (invisible in a double) fails, naming the field', async () => {
    const k = reports.map((r) => r.client_order_id).lastIndexOf(TAKER.clOrdId);
    const exact = reports[k]!.cum_notional as unknown as bigint;
    const altered = reports.map((r, i) => jsonStringifyExact(i === k ? { ...r, cum_notional: exact + 1n } : r));
    const file = path.join(root, 'altered.jsonl');
    fs.writeFileSync(file, `${altered.join('\n')}\n`);
    const r = await runCli(runReplay, ['--config', gatewayConfig, '--verify', '--reports', file]);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain(`cum_notional: report ${exact + 1n}, log ${exact}`);
  });

  it("the export's cum_notional is exact in JSON and CSV, avg_px from the exact value", async () => {
    const expected = takerExpected();
    const jsonOut = path.join(root, 'account-1.jsonl');
    const j = await runCli(runAudit, ['--config', gatewayConfig, '--account', '1', '--out', jsonOut]);
    expect(j.code, j.out).toBe(0);
    const rows = fs.readFileSync(jsonOut, 'utf8').trim().split('\n').map(parseExact);
    const fills = rows.filter((x) => x.row === 'report' && x.exec_type === 'TRADE');
    expect(fills.length).toBe(2);
    const last = fills.at(-1)!;
    expect(last.cum_notional).toBe(expected.cumNotional);
    expect(last.cum_qty).toBe(expected.cumQty);
    expectAvgPxExact(last.avg_px as string, expected.cumNotional, expected.cumQty);
    // The first fill alone: its notional is already above 2^53 − 1.
    const first = BigInt(MAKERS[0]!.price) * BigInt(MAKERS[0]!.qty);
    expect(fills[0]!.cum_notional).toBe(first);
    expect(first > MAX_SAFE).toBe(true);

    const csvOut = path.join(root, 'account-1.csv');
    const c = await runCli(runAudit, ['--config', gatewayConfig, '--account', '1', '--format', 'csv', '--out', csvOut]);
    expect(c.code, c.out).toBe(0);
    const [header, ...lines] = fs.readFileSync(csvOut, 'utf8').trim().split('\n');
    const cols = header!.split(',');
    const cells = lines.map((l) => l.split(',')).filter((x) => x[cols.indexOf('exec_type')] === 'TRADE');
    expect(cells.map((x) => x[cols.indexOf('cum_notional')])).toEqual([String(first), String(expected.cumNotional)]);
  });
});
