// Replay and audit export of a real recorded run: three replica processes (fsync on, a snapshot
// every 30 entries) and the gateway, orders over REST from two accounts (rests, fills, amends,
// cancels, a mass cancel), then everything stopped. The files are what `npm start` leaves in
// ./data: replay --verify passes and every report a client received is reproduced byte for byte;
// tampering with a copy fails at the exact index or chain position; the audit export of an
// account holds exactly its commands and reports.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit, runReplay } from '../../cli/audit-commands.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { startLocalExchange } from '../../processes/local-exchange.js';
import { REPO_ROOT, freePort } from '../../replicator/process-cluster.js';
import { copyTree, dropRecord, flipByteInRecord, runCli, tempDir, walRecords } from './helpers.js';

const K1 = { key: 'audit-key-1', hmacSecret: 'audit-secret-1' };
const K2 = { key: 'audit-key-2', hmacSecret: 'audit-secret-2' };
const RISK = {
  maxOrderQty: 1_000_000,
  maxNotional: 10_000_000_000_000,
  maxOpenOrders: 1_000,
  ratePerSec: 100_000,
  burst: 100_000,
};

let root: string;
let config: string;
let data: string;
const received: ExecutionReportOut[] = [];
/** Requests of account 1 that reached the log (answered with a result or an engine rejection). */
let account1Sequenced = 0;
let tracked = 0;
const dirs: string[] = [];

beforeAll(async () => {
  root = tempDir('exchange');
  dirs.push(root);
  const cfg = path.join(root, 'config');
  data = path.join(root, 'data');
  fs.mkdirSync(cfg, { recursive: true });
  const members = [];
  for (let id = 1; id <= 3; id++)
    members.push({ id, raft: `127.0.0.1:${await freePort()}`, client: `127.0.0.1:${await freePort()}` });
  fs.writeFileSync(
    path.join(cfg, 'cluster.json'),
    JSON.stringify({
      clusterId: 'audit-test',
      dataDir: '../data/cluster',
      shardConfig: path.join(REPO_ROOT, 'engine/examples/instruments.json'),
      fsync: true,
      seed: 1,
      members,
      snapshotIntervalEntries: 30,
      timeTickMs: 0,
    }),
  );
  config = path.join(cfg, 'gateway.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      listen: { rest: `127.0.0.1:${await freePort()}`, grpc: `127.0.0.1:${await freePort()}` },
      shards: [{ id: 0, clusterConfig: 'cluster.json' }],
      accounts: [
        { account: 1, apiKeys: [K1], risk: RISK },
        { account: 2, apiKeys: [K2], risk: RISK },
      ],
      adminKeys: [],
      signingKey: '../data/gateway/exchange-ed25519.pem',
      dataDir: '../data/gateway',
      chainHeadEveryReports: 10,
      chainHeadEveryMs: 1000,
      workers: 1,
    }),
  );
  const ex = await startLocalExchange({ clusterConfigPath: path.join(cfg, 'cluster.json'), gatewayConfigPath: config });
  try {
    const rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
    const rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
    let n = 0;
    const keep = (r: { status: number; body: unknown }, account: number): ExecutionReportOut[] => {
      const reports = ((r.body as { result?: { reports?: ExecutionReportOut[] } }).result?.reports ??
        []) as ExecutionReportOut[];
      received.push(...reports);
      if (account === 1 && (r.status < 300 || r.status === 409 || r.status === 404)) account1Sequenced++;
      return reports;
    };
    const buy = (price: number, qty: number, tif = 'GTC') => ({
      client_order_id: `b${++n}`,
      symbol: 'BTC-USD',
      side: 'BUY',
      order_type: 'LIMIT',
      time_in_force: tif,
      price,
      quantity: qty,
    });
    const sell = (price: number, qty: number, tif = 'GTC') => ({
      client_order_id: `s${++n}`,
      symbol: 'BTC-USD',
      side: 'SELL',
      order_type: 'LIMIT',
      time_in_force: tif,
      price,
      quantity: qty,
    });
    const ids: number[] = [];
    for (let k = 0; k < 12; k++)
      ids.push(keep(await rest1.placeOrder(buy(4_990_000 + k * 1000, 10 + k)), 1)[0]!.order_id);
    tracked = ids[11]!;
    keep(await rest1.amendOrder(tracked, { quantity: 100 }), 1); // up: loses priority; partly filled below, then canceled
    for (let k = 0; k < 6; k++)
      keep(await rest2.placeOrder(sell(5_001_000 - k * 500, 7, k % 2 === 0 ? 'IOC' : 'GTC')), 2);
    keep(await rest1.amendOrder(ids[3]!, { price: 4_985_000 }), 1);
    keep(await rest1.cancelOrder(ids[0]!), 1);
    keep(await rest1.cancelOrder(ids[0]!), 1); // already gone: rejected after sequencing (404)
    for (let k = 0; k < 8; k++) keep(await rest2.placeOrder(sell(5_020_000 + k * 100, 5)), 2);
    keep(await rest1.placeOrder(buy(5_020_500, 12, 'IOC')), 1);
    keep(await rest2.placeOrder(sell(4_995_000, 40, 'IOC')), 2); // sweeps account 1's bids, tracked among them
    keep(await rest1.cancelOrder(tracked), 1);
    keep(await rest2.massCancel({}), 2);
    keep(await rest1.placeOrder(buy(4_991_500, 3)), 1);
  } finally {
    await ex.stop();
  }
}, 90_000);

afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function receivedFile(dir: string, reports: ExecutionReportOut[]): string {
  const f = path.join(dir, 'received.jsonl');
  fs.writeFileSync(f, reports.map((r) => JSON.stringify(r)).join('\n'));
  return f;
}

describe('replay of a recorded exchange run', () => {
  it('verifies, and reproduces every report the clients received byte for byte (exit 0)', async () => {
    expect(received.length).toBeGreaterThan(40);
    const r = await runCli(runReplay, [
      '--data-dir',
      data,
      '--config',
      config,
      '--verify',
      '--reports',
      receivedFile(root, received),
    ]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`${received.length} client reports compared`);
    expect(r.out).toMatch(/shard 0: from genesis .* [3-9] snapshot\(s\) checked/);
    const chain = (
      r.last as { chain: { reportsCovered: number; reportsNotChecked: number; heads: number; headsVerified: number } }
    ).chain;
    expect(chain.reportsCovered).toBe(received.length);
    expect(chain.reportsNotChecked).toBe(0);
    expect(chain.headsVerified).toBe(chain.heads);
  });

  it('from genesis and from the snapshot reach the same state hash', async () => {
    const g = await runCli(runReplay, ['--data-dir', data, '--config', config, '--from-genesis', '--quiet']);
    const s = await runCli(runReplay, ['--data-dir', data, '--config', config, '--from-snapshot', '--quiet']);
    expect(g.code).toBe(0);
    expect(s.code).toBe(0);
    const shard = (x: typeof g) => (x.last as { shards: { stateHash: string; start: number }[] }).shards[0]!;
    expect(shard(s).start).toBeGreaterThan(0);
    expect(shard(s).stateHash).toBe(shard(g).stateHash);
  });

  it('fails on a flipped WAL byte, a dropped record, an altered report and a forged head, naming where', async () => {
    const copy = copyTree(root, 'exchange-tamper');
    dirs.push(copy);
    const cdata = path.join(copy, 'data');
    const cconfig = path.join(copy, 'config', 'gateway.json');
    const n2 = walRecords(path.join(cdata, 'cluster', 'node-2'));
    const flipped = n2[20]!;
    flipByteInRecord(flipped);
    const n1 = walRecords(path.join(cdata, 'cluster', 'node-1'));
    const dropped = n1[25]!;
    dropRecord(dropped);
    const altered = received.map((x) => ({ ...x }));
    const victim = altered.find((x) => x.exec_type === 'TRADE')!;
    victim.last_px += 1;
    const heads = path.join(cdata, 'gateway', 'chain-heads.jsonl');
    const lines = fs.readFileSync(heads, 'utf8').split('\n');
    const h = JSON.parse(lines[1]!) as { signature: string; chain_seq: number };
    h.signature = `${h.signature.slice(0, 10)}${h.signature[10] === 'x' ? 'y' : 'x'}${h.signature.slice(11)}`;
    lines[1] = JSON.stringify(h);
    fs.writeFileSync(heads, lines.join('\n'));
    const r = await runCli(runReplay, [
      '--data-dir',
      cdata,
      '--config',
      cconfig,
      '--verify',
      '--reports',
      receivedFile(copy, altered),
    ]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `FAIL [wal] shard 0, node-2, index ${flipped.index}, ${path.basename(flipped.file)} @${flipped.offset}: damaged record: CRC mismatch`,
    );
    expect(r.out).toContain(
      `FAIL [wal] shard 0, node-1, index ${dropped.index}, ${path.basename(dropped.file)} @${dropped.offset}: missing record`,
    );
    expect(r.out).toContain(`FAIL [reports] run 1, chain_seq ${victim.chain_seq}, received.jsonl:`);
    expect(r.out).toContain(`last_px: report ${victim.last_px}, log ${victim.last_px - 1}`);
    expect(r.out).toContain(
      `FAIL [heads] run 1, chain_seq ${h.chain_seq}, chain-heads.jsonl:2: signature does not verify`,
    );
    // The third replica's copies keep the replay itself exact.
    const clean = await runCli(runReplay, ['--data-dir', data, '--config', config, '--quiet']);
    expect((r.last as { shards: unknown[] }).shards).toEqual((clean.last as { shards: unknown[] }).shards);
  });
});

describe('audit export', () => {
  async function exportRows(args: string[]): Promise<{ code: number; rows: Record<string, unknown>[]; text: string }> {
    const out = path.join(root, `audit-${Math.random().toString(36).slice(2)}.out`);
    const r = await runCli(runAudit, ['--data-dir', data, '--config', config, '--out', out, ...args]);
    const text = fs.readFileSync(out, 'utf8');
    const rows = args.includes('csv')
      ? []
      : text
          .trim()
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { code: r.code, rows, text };
  }

  it('an account: exactly its commands and every execution report of its orders, with log index and times', async () => {
    const { code, rows } = await exportRows(['--account', '1', '--format', 'jsonl']);
    expect(code).toBe(0);
    const commands = rows.filter((r) => r.row === 'command');
    const reports = rows.filter((r) => r.row === 'report');
    expect(commands).toHaveLength(account1Sequenced);
    expect(commands.every((c) => (c.command as { account: number }).account === 1 && c.outcome === 'APPLIED')).toBe(
      true,
    );
    expect(
      rows.every(
        (r) =>
          typeof r.log_index === 'number' &&
          typeof r.ts_us === 'number' &&
          /^\d{4}-\d\d-\d\dT.*\.\d{6}Z$/.test(r.time as string) &&
          r.committed === true,
      ),
    ).toBe(true);
    expect(reports.every((r) => r.account === 1)).toBe(true);
    // Every report account 1 received is in the export, field for field; and more: fills of its
    // resting orders caused by account 2 (sent to no session of account 1 over REST).
    const mine = received.filter((r) => r.account === 1);
    const byExec = new Map(reports.map((r) => [r.exec_id as number, r]));
    for (const m of mine) {
      const { chain_seq: _a, chain_hash: _b, signature: _c, ...fields } = m;
      // The *_decimal strings are the gateway's display of these integers (not signed, not exported).
      for (const k of Object.keys(fields)) if (k.endsWith('_decimal')) delete (fields as Record<string, unknown>)[k];
      expect(byExec.get(m.exec_id)).toMatchObject(fields);
    }
    expect(reports.length).toBeGreaterThan(mine.length);
    expect(reports.some((r) => r.exec_type === 'TRADE' && !mine.some((m) => m.exec_id === r.exec_id))).toBe(true);
    // Log order.
    const idx = rows.map((r) => r.log_index as number);
    expect([...idx].sort((a, b) => a - b)).toEqual(idx);
  });

  it('an order: its commands and reports only; csv has the same rows', async () => {
    const { rows } = await exportRows(['--order', String(tracked)]);
    const types = rows.filter((r) => r.row === 'command').map((r) => (r.command as { type: string }).type);
    expect(types).toEqual(['new', 'amend', 'cancel']);
    const reports = rows.filter((r) => r.row === 'report');
    expect(reports.every((r) => r.order_id === tracked)).toBe(true);
    expect(reports.map((r) => r.exec_type)).toEqual(expect.arrayContaining(['NEW', 'REPLACED', 'TRADE', 'CANCELED']));
    const csv = await exportRows(['--order', String(tracked), '--format', 'csv']);
    const lines = csv.text.trim().split('\n');
    expect(lines[0]).toMatch(/^row,shard,log_index,seq,ts_us,time,committed,/);
    expect(lines.length - 1).toBe(rows.length);
    expect(
      lines.slice(1).every((l) => l.startsWith('command,0,') || l.startsWith('report,0,') || l.startsWith('event,0,')),
    ).toBe(true);
  });

  it('a time window, and usage errors', async () => {
    const all = await exportRows(['--account', '2']);
    const t = all.rows[Math.floor(all.rows.length / 2)]!.ts_us as number;
    const iso = new Date(Math.floor(t / 1000)).toISOString();
    const later = await exportRows(['--account', '2', '--from', String(t)]);
    expect(later.rows.length).toBeGreaterThan(0);
    expect(later.rows.every((r) => (r.ts_us as number) >= t)).toBe(true);
    const window = await exportRows(['--from', iso, '--to', String(t + 1)]);
    expect(
      window.rows.every((r) => (r.ts_us as number) >= Math.floor(t / 1000) * 1000 && (r.ts_us as number) <= t + 1),
    ).toBe(true);
    expect((await runCli(runAudit, ['--data-dir', data, '--config', config])).code).toBe(2);
    expect(
      (await runCli(runAudit, ['--data-dir', data, '--config', config, '--account', '1', '--format', 'xml'])).code,
    ).toBe(2);
    expect((await runCli(runAudit, ['--data-dir', data, '--config', config, '--from', 'yesterday'])).code).toBe(2);
  });
});
