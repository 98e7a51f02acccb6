// The operator console's pure parts, without a browser: the figures drawn from two cluster views
// (rates, absent metrics, restarted counters), the admin answers and account parsing, and the
// browser's signer against the server's (api/signing.ts) — Node 20 has the same WebCrypto.

import { describe, expect, it } from 'vitest';
import { signRequest } from '../../api/signing.js';
import type { UiClusterView, UiMemberView } from '../../api/ui-contract.js';
import { actionRequest, answerText, describeAction, parseAccount } from '../../ui/src/console/admin-actions.js';
import { signRequest as browserSignRequest } from '../../ui/src/signing.js';
import { consoleFigures, formatMs, NONE, ratePerSec } from '../../ui/src/console/console-figures.js';

function member(id: number, over: Partial<UiMemberView> = {}): UiMemberView {
  return {
    member: id,
    endpoint: `127.0.0.1:${7200 + id}`,
    reachable: true,
    role: id === 1 ? 'LEADER' : 'FOLLOWER',
    term: 3,
    leader: 1,
    commit: 100,
    applied: 100,
    lag: 0,
    behind_leader: 0,
    ...over,
  };
}

function view(timeMs: number, members: UiMemberView[], ordersTotal: number): UiClusterView {
  return {
    time_ms: timeMs,
    shards: [{ shard: 0, symbols: ['BTC-USD'], members }],
    gateway: { requests_total: ordersTotal * 2, orders_total: ordersTotal, ready: true },
    publishers: [
      { shard: 0, reachable: true, state: 'publishing', lag_entries: 4 },
      { shard: 1, reachable: false, error: 'connect ECONNREFUSED 127.0.0.1:9105' },
    ],
    read_models: { reachable: true, ready: true, lag_records: { positions: 2, fills: 0 } },
  };
}

const metrics = (commands: number) => ({
  elections_total: 2,
  fsync_p99_ms: 2.5000000000000004,
  commands_applied_total: commands,
  feed_connections: 3,
  feed_subscriptions: 7,
});

describe('console figures', () => {
  it('draws every member with its metrics, rates between two views, publishers and read models', () => {
    const a = view(10_000, [member(1, { metrics: metrics(1_000) }), member(2)], 50);
    const b = view(12_000, [member(1, { metrics: metrics(1_600) }), member(2)], 250);
    const f = consoleFigures(b, a);
    const [leader, follower] = f.shards[0]!.members;
    expect(leader!.leader).toBe(true);
    expect(leader!.cells).toMatchObject({ role: 'LEADER', term: '3', elections: '2', fsync: '2.5', commands: '300' });
    expect(leader!.cells.feed).toBe('3 / 7');
    expect(follower!.leader).toBe(false);
    expect(follower!.cells).toMatchObject({
      role: 'FOLLOWER',
      elections: NONE,
      fsync: NONE,
      commands: NONE,
      feed: NONE,
    });
    expect(f.gateway).toEqual({ ready: 'yes', requests: '500', ordersPerSec: '100' });
    expect(f.publishers.map((p) => [p.state, p.lag, p.status])).toEqual([
      ['publishing', '4', 'ok'],
      [NONE, NONE, 'unreachable: connect ECONNREFUSED 127.0.0.1:9105'],
    ]);
    expect(f.readModels.models).toEqual([
      { model: 'fills', lag: '0' },
      { model: 'positions', lag: '2' },
    ]);
    expect(f.readModels.ready).toBe('yes');
  });

  it('shows an unreachable member with its error and nothing else; no rate without a previous view', () => {
    const f = consoleFigures(
      view(1, [member(3, { reachable: false, error: 'connect ECONNREFUSED', role: undefined, term: undefined })], 5),
      undefined,
    );
    const row = f.shards[0]!.members[0]!;
    expect(row.reachable).toBe(false);
    expect(row.cells.status).toBe('unreachable: connect ECONNREFUSED');
    expect(row.cells.role).toBe(NONE);
    expect(row.cells.term).toBe(NONE);
    expect(f.gateway.ordersPerSec).toBe(NONE);
    expect(consoleFigures({ ...view(1, [], 0), read_models: null }, undefined).readModels.status).toBe(
      'not known to the gateway',
    );
  });

  it('gives no rate for a counter that went back (a restarted process) or with no time passed', () => {
    expect(ratePerSec(500, 1_000, 20, 2_000)).toBe(NONE);
    expect(ratePerSec(5, 1_000, 9, 1_000)).toBe(NONE);
    expect(ratePerSec(0, 0, 3, 2_000)).toBe('1.5');
    expect(formatMs(null)).toBe(NONE);
    expect(formatMs(0.25)).toBe('0.25');
  });
});

describe('admin actions', () => {
  it('sends the bodies of docs/openapi.yaml', () => {
    expect(actionRequest({ kind: 'halt', symbol: 'BTC-USD' })).toEqual({
      path: '/v1/admin/halt',
      body: '{"symbol":"BTC-USD"}',
    });
    expect(actionRequest({ kind: 'kill-switch', account: 7, active: false })).toEqual({
      path: '/v1/admin/kill-switch',
      body: '{"account":7,"active":false}',
    });
    expect(describeAction({ kind: 'resume', symbol: 'ETH-USD' })).toBe('Resume ETH-USD');
  });

  it('takes an account only in plain digits up to 2^53 − 1', () => {
    expect(parseAccount(' 42 ')).toEqual({ ok: true, account: 42 });
    for (const bad of ['', '1.5', '-1', '1e3', '0x10', '9007199254740992']) expect(parseAccount(bad).ok).toBe(false);
  });

  it("turns the gateway's answers into one line", () => {
    expect(answerText(200, '{"done":"Halt","shards":[0]}')).toEqual({ ok: true, text: 'done (Halt, shards 0)' });
    expect(answerText(401, '{"code":"UNAUTHENTICATED","reason":"BAD_SIGNATURE","message":"bad signature"}')).toEqual({
      ok: false,
      text: 'refused, HTTP 401 UNAUTHENTICATED BAD_SIGNATURE: bad signature',
    });
    expect(answerText(502, '<html>proxy</html>')).toEqual({ ok: false, text: 'HTTP 502: <html>proxy</html>' });
  });

  it("signs exactly as api/signing.ts does (the gateway's check)", async () => {
    const body = new TextEncoder().encode('{"symbol":"BTC-USD"}');
    const creds = { apiKey: 'demo-admin', hmacSecret: 'demo-admin-secret-change-me' };
    const browser = await browserSignRequest(creds, 'POST /v1/admin/halt', body, 1_765_000_000_123);
    const server = signRequest(
      { key: creds.apiKey, hmacSecret: creds.hmacSecret },
      'POST /v1/admin/halt',
      body,
      1_765_000_000_123,
    );
    expect(browser).toEqual(server);
  });
});
