// GET /v1/ui/cluster over real processes (startUiExchange: three replica processes with feeds and
// ops endpoints, the gateway, the broker, the publisher and the query service): every member's
// status and /metrics, the gateway's counters, the publisher and the read models; a killed
// follower is reported unreachable (not an error answer) and is back once restarted.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UiClusterView, UiMemberView } from '../../api/ui-contract.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { DEMO_1, startUiExchange, type UiExchange } from '../ui/ui-harness.js';

let ui: UiExchange;

beforeAll(async () => {
  ui = await startUiExchange();
}, 90_000);

afterAll(async () => {
  await ui?.stop();
}, 60_000);

async function view(): Promise<UiClusterView> {
  const res = await fetch(`${ui.ex.restUrl}/v1/ui/cluster`);
  expect(res.status).toBe(200);
  return (await res.json()) as UiClusterView;
}

const members = (v: UiClusterView): UiMemberView[] => v.shards[0]!.members;

describe('GET /v1/ui/cluster', () => {
  it('reports every member with its status and metrics, the gateway, the publisher and the read models', async () => {
    const rest = new OrderEntryRestClient({ baseUrl: ui.ex.restUrl, key: DEMO_1 });
    const placed = await rest.placeOrder({
      client_order_id: 'ui-cluster-1',
      symbol: 'BTC-USD',
      side: 'BUY',
      order_type: 'LIMIT',
      time_in_force: 'GTC',
      price: 4_990_000,
      quantity: 10,
    });
    expect(placed.status).toBe(201);
    // Every member applied the order, the publisher publishes and the read models are ready.
    await expect
      .poll(
        async () => {
          const v = await view();
          return (
            members(v).every((m) => m.reachable && (m.metrics?.commands_applied_total ?? 0) > 0) &&
            v.publishers[0]?.state === 'publishing' &&
            v.read_models?.ready === true
          );
        },
        { timeout: 30_000, interval: 600 },
      )
      .toBe(true);
    const v = await view();
    expect(v.shards[0]!.symbols).toContain('BTC-USD');
    expect(
      members(v)
        .map((m) => m.member)
        .sort(),
    ).toEqual([1, 2, 3]);
    expect(members(v).filter((m) => m.role === 'LEADER')).toHaveLength(1);
    const leader = members(v).find((m) => m.role === 'LEADER')!;
    for (const m of members(v)) {
      expect(m.term).toBe(leader.term);
      expect(m.leader).toBe(leader.member);
      expect(m.commit).toBeGreaterThan(0);
      expect(m.metrics!.elections_total).toBeGreaterThanOrEqual(0);
      expect(m.metrics!.fsync_p99_ms).toBeGreaterThan(0); // the order's entry was fsynced on every member
      expect(m.metrics!.feed_connections).toBeGreaterThanOrEqual(0);
    }
    expect(v.gateway).toMatchObject({ ready: true });
    expect(v.gateway.orders_total).toBeGreaterThanOrEqual(1);
    expect(v.gateway.requests_total).toBeGreaterThanOrEqual(v.gateway.orders_total);
    expect(v.publishers).toHaveLength(1);
    expect(v.publishers[0]).toMatchObject({ shard: 0, reachable: true });
    expect(v.publishers[0]!.lag_entries).toBeGreaterThanOrEqual(0);
    expect(v.read_models!.reachable).toBe(true);
    expect(Object.keys(v.read_models!.lag_records!).length).toBeGreaterThan(0);
  });

  it('reports a killed follower unreachable, and back once restarted', async () => {
    const before = await view();
    const follower = members(before).find((m) => m.role === 'FOLLOWER')!;
    await ui.ex.cluster.kill(follower.member);
    await expect
      .poll(async () => members(await view()).find((m) => m.member === follower.member)?.reachable, {
        timeout: 30_000,
        interval: 600,
      })
      .toBe(false);
    const down = members(await view()).find((m) => m.member === follower.member)!;
    expect(down.error).toBeTruthy();
    expect(down.metrics).toBeUndefined();
    await ui.ex.cluster.start(follower.member);
    await expect
      .poll(
        async () => {
          const m = members(await view()).find((x) => x.member === follower.member)!;
          return m.reachable && m.role === 'FOLLOWER' && m.metrics !== undefined;
        },
        { timeout: 30_000, interval: 600 },
      )
      .toBe(true);
  });
});

describe("the page's origin and the query service (CORS)", () => {
  it('a page served by the gateway reads the query service, a signed (preflighted) route included', async () => {
    const { page } = await ui.newPage();
    await page.goto(ui.url);
    const queryUrl = `http://${ui.events.queryRest}`;
    const statuses = await page.evaluate(async (q) => {
      const ticker = await fetch(`${q}/v1/market/ticker/BTC-USD`);
      // Custom headers: the browser preflights (OPTIONS) before the GET; a bad signature is a readable 401.
      const signed = await fetch(`${q}/v1/accounts/1/orders`, {
        headers: { 'x-mb-apikey': 'demo-key-1', 'x-mb-timestamp': String(Date.now()), 'x-mb-signature': '00' },
      });
      return [ticker.status, signed.status, ((await signed.json()) as { code: string }).code];
    }, queryUrl);
    expect(statuses).toEqual([200, 401, 'UNAUTHENTICATED']);
    await page.close();
  });
});
