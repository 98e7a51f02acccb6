// gateway/ui-cluster-view.ts cachedClusterView: concurrent requests share one gathering and a
// gathered view is reused for UI_CLUSTER_CACHE_MS (an injected clock: no waiting on time).

import { describe, expect, it } from 'vitest';
import { UI_CLUSTER_CACHE_MS } from '../../gateway/limits.js';
import { cachedClusterView } from '../../gateway/ui-cluster-view.js';

describe('cachedClusterView', () => {
  it('gathers once for concurrent requests and again only after UI_CLUSTER_CACHE_MS', async () => {
    let gatherings = 0;
    let release: () => void = () => {};
    let nowMs = 1_000;
    const view = cachedClusterView(
      {
        shards: [],
        gatewayMetrics: async () => {
          gatherings++;
          await new Promise<void>((r) => {
            release = r;
          });
          return `matchbook_gateway_requests_total{op="PlaceOrder",code="OK"} ${gatherings}\n`;
        },
        ready: async () => true,
        events: () => undefined,
      },
      () => nowMs,
    );
    const a = view();
    const b = view();
    await Promise.resolve();
    release();
    const [va, vb] = await Promise.all([a, b]);
    expect(gatherings).toBe(1);
    expect(vb).toBe(va);
    expect(va.gateway).toEqual({ requests_total: 1, orders_total: 1, ready: true });
    expect(va.publishers).toEqual([]);
    expect(va.read_models).toBeNull();
    nowMs += UI_CLUSTER_CACHE_MS - 1;
    expect(await view()).toBe(va);
    nowMs += 1;
    const c = view();
    await Promise.resolve();
    release();
    expect((await c).gateway.requests_total).toBe(2);
    expect(gatherings).toBe(2);
  });
});
