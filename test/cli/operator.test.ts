// The operator commands (cli/operator-commands.ts) against a temporary local exchange: cluster
// status, halt/resume and the kill switch through the gateway's admin API, leadership transfer,
// a snapshot trigger, and usage errors. Commands run in-process with stdout/stderr captured.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { runOperator } from '../../cli/operator-commands.js';
import { runOperatorCaptured } from './run-operator.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };

let ex: LocalExchange;
let rest1: OrderEntryRestClient;
let seq = 0;

beforeAll(async () => {
  ex = await startLocalExchange({ fsync: false });
  rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
}, 60_000);

afterAll(async () => {
  await ex?.stop();
}, 30_000);

/** Runs an operator command with console.log/error captured. */
const run = (...argv: string[]) => runOperatorCaptured(argv);

const admin = (...argv: string[]) => run(...argv, '--url', ex.restUrl);
const place = () =>
  rest1.placeOrder({
    client_order_id: `op-${++seq}`,
    symbol: 'BTC-USD',
    side: 'BUY',
    order_type: 'LIMIT',
    time_in_force: 'GTC',
    price: 4_990_000,
    quantity: 1,
  });

interface Row {
  member: number;
  reachable: boolean;
  role?: string;
  applied?: number;
  commit?: number;
  leader?: number;
  snapshotIndex?: number;
}

async function status(): Promise<Row[]> {
  const r = await run('cluster', 'status', '--cluster', ex.cluster.configPath, '--json');
  expect(r.code).toBe(0);
  return (JSON.parse(r.out) as { members: Row[] }).members;
}

/**
 * Reads `cluster status` until `ok` holds (bounded): a member answers within a second or is
 * shown unreachable, and roles settle a moment after a transfer, so one reading can be stale.
 */
async function statusUntil(what: string, ok: (rows: Row[]) => boolean): Promise<Row[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const rows = await status();
    if (ok(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`cluster status never showed ${what}: ${JSON.stringify(rows)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

const oneLeader = (rows: Row[]) =>
  rows.every((r) => r.reachable) && rows.filter((r) => r.role === 'LEADER').length === 1;

describe('operator CLI', () => {
  it('cluster status: three members, one leader, entries applied; the table form too', async () => {
    const rows = await statusUntil(
      'every member reachable, one leader, entries applied',
      (rows) => oneLeader(rows) && rows.every((r) => (r.applied ?? 0) >= 1),
    );
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.reachable)).toBe(true);
    expect(rows.filter((r) => r.role === 'LEADER')).toHaveLength(1);
    for (const r of rows) expect(r.applied).toBeGreaterThanOrEqual(1);
    const table = await run('cluster', 'status', '--cluster', ex.cluster.configPath);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/^member\s+endpoint\s+role\s+term\s+leader\s+commit\s+applied\s+lag\s+behind\s+snapshot/);
    expect(table.out).toContain('LEADER');
  });

  it('halt rejects orders in the symbol; resume lets them in again', async () => {
    const h = await admin('halt', 'BTC-USD');
    expect(h.code, h.err).toBe(0);
    const rejected = await place();
    expect(rejected.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(rejected.body)).toMatch(/HALT/i);
    const r = await admin('resume', 'BTC-USD');
    expect(r.code, r.err).toBe(0);
    expect((await place()).status).toBe(201);
  });

  it('kill-switch blocks an account; --off unblocks it', async () => {
    expect((await admin('kill-switch', '1')).code).toBe(0);
    const blocked = await place();
    expect(blocked.status).toBeGreaterThanOrEqual(400);
    expect((await admin('kill-switch', '1', '--off')).code).toBe(0);
    expect((await place()).status).toBe(201);
  });

  it('an error reply exits 1, an unreachable gateway exits 1', async () => {
    const bad = await admin('halt', 'NOPE-USD');
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/"status": 4\d\d/);
    const down = await run('halt', 'BTC-USD', '--url', 'http://127.0.0.1:1');
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/cannot reach the gateway/);
  });

  it('bad usage exits 2 with a message; --help exits 0; other commands are not ours', async () => {
    for (const argv of [
      ['halt'],
      ['kill-switch', 'abc'],
      ['cluster'],
      ['cluster', 'status', '--bogus'],
      ['transfer-leader'],
      ['transfer-leader', '--to', '9', '--cluster', ex.cluster.configPath],
    ]) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err).toMatch(/usage: matchbook/);
    }
    const help = await run('cluster', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/usage: matchbook cluster status/);
    expect(await runOperator(['place', '--symbol', 'X'])).toBeUndefined();
    const add = await run('add-node');
    expect(add.code).toBe(2);
    expect(add.err).toMatch(/add-node needs --node N/);
    const remove = await run('remove-node', '--node', 'x');
    expect(remove.code).toBe(2);
    expect(remove.err).toMatch(/--node must be a positive integer/);
  });

  it('transfer-leader moves leadership to the named voter; orders still go through', async () => {
    const leader = (await statusUntil('one leader', oneLeader)).find((r) => r.role === 'LEADER')!.member;
    const to = leader === 3 ? 1 : leader + 1;
    const r = await run('transfer-leader', '--to', String(to), '--cluster', ex.cluster.configPath);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ok: true, from: leader, leader: to });
    // The old leader's own row may still say LEADER for a moment: wait for one leader, then check who.
    const rows = await statusUntil(
      `member ${to} the only leader`,
      (rows) => oneLeader(rows) && rows.find((x) => x.role === 'LEADER')?.member === to,
    );
    expect(rows.find((x) => x.role === 'LEADER')?.member).toBe(to);
    let placed = await place();
    for (const deadline = Date.now() + 30_000; placed.status !== 201 && Date.now() < deadline; ) {
      await new Promise((res) => setTimeout(res, 100));
      placed = await place();
    }
    expect(placed.status).toBe(201);
  }, 90_000);

  it('snapshot makes every member save a snapshot past its previous one', async () => {
    const before = await statusUntil('every member reachable', (rows) => rows.every((r) => r.reachable));
    const r = await run('snapshot', '--cluster', ex.cluster.configPath);
    expect(r.code, r.out + r.err).toBe(0);
    const after = await statusUntil('every member reachable', (rows) => rows.every((r) => r.reachable));
    for (const b of before)
      expect(after.find((x) => x.member === b.member)!.snapshotIndex).toBeGreaterThan(b.snapshotIndex!);
  }, 90_000);
});
