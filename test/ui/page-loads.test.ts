// The page is served by the gateway and loads: its script runs against the real exchange (the
// config, the instruments and the server's clock), and the two views switch by the hash.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UiConfig } from '../../api/ui-contract.js';
import { startUiExchange, type UiExchange } from './ui-harness.js';

let ui: UiExchange;

beforeAll(async () => {
  ui = await startUiExchange();
});

afterAll(async () => {
  await ui?.stop();
});

describe('the page', () => {
  it('is served on the REST port and loads its context', async () => {
    const { page, errors } = await ui.newPage();
    await page.goto(ui.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    const options = await page.locator('#symbol option').allTextContents();
    expect(options).toContain('BTC-USD');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('loads once the gateway can give the instruments again (503 while no replica of a shard answers)', async () => {
    const { page } = await ui.newPage();
    let refused = 0;
    await page.route(
      (u) => u.pathname === '/v1/instruments',
      async (r) => {
        if (++refused > 2) return r.continue();
        await r.fulfill({
          status: 503,
          json: {
            code: 'UNAVAILABLE',
            reason: 'NO_REPLICA_ANSWERED',
            message: 'instruments: no replica of shard 0 answered; retry',
          },
        });
      },
    );
    await page.goto(ui.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    expect(await page.locator('#symbol option').allTextContents()).toContain('BTC-USD');
    expect(await page.locator('#status').textContent()).toBe('');
    expect(refused).toBeGreaterThanOrEqual(3);
    await page.close();
  });

  it('gives the feeds and the query service in /v1/ui/config', async () => {
    const config = (await (await fetch(`${ui.ex.restUrl}/v1/ui/config`)).json()) as UiConfig;
    expect(config.shards[0]!.symbols).toContain('BTC-USD');
    expect(config.shards[0]!.feed_urls).toHaveLength(3);
    // The leader's feed last: the page subscribes on a follower first (feed/README.md).
    const leader = await ui.ex.cluster.waitForLeader(30_000);
    expect(config.shards[0]!.feed_urls[2]).toBe(ui.ex.feedUrls.get(leader));
    expect(new Set(config.shards[0]!.feed_urls)).toEqual(new Set(ui.ex.feedUrls.values()));
    expect(config.query_url).toBe(`http://${ui.events.queryRest}`);
    expect(config.demo_keys).toContainEqual({ api_key: 'demo-key-1', account: 1 });
  });
});
