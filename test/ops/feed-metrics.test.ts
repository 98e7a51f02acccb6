// The feed's metrics (feed/metrics.ts): subscriptions per channel, messages sent, and a slow
// consumer's lag, drops and disconnect counted, on an in-process feed over real sockets; and the
// same series served by a replica process on its `ops` address, whose logs are pino JSON lines.
// Every wait is for a condition and bounded; nothing asserts on time.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FeedClient } from '../../feed/client/feed-client.js';
import { registerFeedMetrics } from '../../feed/metrics.js';
import { Channel } from '../../feed/types.js';
import { createRegistry, exposition } from '../../ops/metrics.js';
import { ReplicaClient } from '../../replicator/client/client.js';
import { ProcessCluster, REPO_ROOT, freePort } from '../../replicator/process-cluster.js';
import { SYM_A } from '../feed/flow.js';
import { startFeedHarness, until, type FeedHarness } from '../feed/harness.js';
import { httpGet, samples, value } from './prom.js';

let h: FeedHarness | undefined;
const clients: FeedClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  await h?.stop();
  h = undefined;
});

describe('feed metrics', () => {
  it('counts subscriptions per channel, messages sent, and a slow consumer lagging then disconnected', async () => {
    h = await startFeedHarness({
      seed: 11,
      limits: {
        slowBytesMax: 256 * 1024,
        resumeBytesMax: 32 * 1024,
        slowConsumerTimeoutMs: 200,
        backpressureCheckMs: 10,
      },
    });
    const registry = createRegistry('feed-test');
    registerFeedMetrics(registry, h.feed);
    const scrape = async () => (await exposition(registry)).body;

    const fast = await FeedClient.connect({ url: h.url });
    const slow = await FeedClient.connect({ url: h.url });
    clients.push(fast, slow);
    await fast.subscribe([SYM_A], [Channel.L2, Channel.L3]);
    await slow.subscribe([SYM_A], [Channel.L2, Channel.L3, Channel.TRADES]);
    let m = await scrape();
    expect(value(m, 'matchbook_feed_connections')).toBe(2);
    expect(value(m, 'matchbook_feed_subscriptions', { channel: 'l2' })).toBe(2);
    expect(value(m, 'matchbook_feed_subscriptions', { channel: 'trades' })).toBe(1);
    expect(value(m, 'matchbook_feed_subscriptions', { channel: 'candles' })).toBe(0);

    slow.pause();
    await h!.driveUntilLagging(slow.connectionId);
    // Still paused, its buffer cannot drain: after slowConsumerTimeoutMs the sweep closes it.
    await h!.serverClosed(slow.connectionId);
    slow.resume();
    await until('the slow connection closed', () => h!.feed.server.stats.connectionsClosed >= 1);
    m = await scrape();
    expect(value(m, 'matchbook_feed_disconnects_total', { reason: 'slow_consumer' })).toBe(1);
    expect(value(m, 'matchbook_feed_disconnects_total', { reason: 'subscribe_timeout' })).toBe(0);
    expect(value(m, 'matchbook_feed_backpressure_lags_total')).toBeGreaterThanOrEqual(1);
    expect(value(m, 'matchbook_feed_backpressure_drops_total')).toBeDefined();
    expect(value(m, 'matchbook_feed_connections_opened_total')).toBe(2);
    expect(value(m, 'matchbook_feed_connections_closed_total')).toBe(1);
    expect(value(m, 'matchbook_feed_connections')).toBe(1);
    expect(value(m, 'matchbook_feed_subscriptions', { channel: 'l2' })).toBe(1);
    expect(value(m, 'matchbook_feed_subscriptions', { channel: 'trades' })).toBe(0);
    expect(value(m, 'matchbook_feed_lagging_connections')).toBeDefined();
    expect(value(m, 'matchbook_feed_messages_published_total')).toBeGreaterThan(0);
    expect(value(m, 'matchbook_feed_messages_sent_total')).toBeGreaterThan(0);
    expect(value(m, 'matchbook_feed_entries_total')).toBeGreaterThan(0);
    expect(value(m, 'matchbook_feed_projection_failures_total')).toBe(0);
    expect(
      samples(m, 'matchbook_feed_resyncs_total')
        .map((s) => s.labels.reason)
        .sort(),
    ).toEqual(['slow_consumer', 'source_reset']);
  });
});

describe('replica process', () => {
  let dir: string | undefined;
  let cluster: ProcessCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the feed series on its ops address and logs pino JSON lines', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mb-ops-feed-'));
    const [raft, client, feed, ops] = [await freePort(), await freePort(), await freePort(), await freePort()];
    writeFileSync(
      path.join(dir, 'cluster.json'),
      JSON.stringify({
        clusterId: 'ops-feed',
        dataDir: path.join(dir, 'data'),
        shardConfig: path.join(REPO_ROOT, 'engine/examples/instruments.json'),
        fsync: false,
        seed: 5,
        members: [
          {
            id: 1,
            raft: `127.0.0.1:${raft}`,
            client: `127.0.0.1:${client}`,
            feed: `127.0.0.1:${feed}`,
            ops: `127.0.0.1:${ops}`,
          },
        ],
      }),
    );
    cluster = ProcessCluster.open(path.join(dir, 'cluster.json'));
    await cluster.startAll();
    await cluster.waitForLeader(20_000);
    const sub = await FeedClient.connect({ url: `ws://127.0.0.1:${feed}/v1/ws` });
    clients.push(sub);
    await sub.subscribe(['BTC-USD'], [Channel.L2, Channel.TRADES]);
    const rc = new ReplicaClient({ endpoints: cluster.endpoints });
    try {
      for (let k = 0; k < 5; k++)
        await rc.submit({
          type: 'new',
          account: 1,
          clOrdId: `f${k}`,
          symbol: 'BTC-USD',
          side: 'BUY',
          ordType: 'LIMIT',
          price: 4_990_000 - k,
          qty: 1,
        });
    } finally {
      rc.close();
    }
    await until(
      'the subscriber to see the orders',
      () => (sub.book('BTC-USD', Channel.L2)?.levels('BUY').length ?? 0) >= 5,
    );

    const m = (await httpGet(`http://127.0.0.1:${ops}/metrics`)).body;
    const labels = { component: 'replica', shard: 'ops-feed', node: '1' };
    expect(value(m, 'matchbook_feed_connections', labels)).toBe(1);
    expect(value(m, 'matchbook_feed_subscriptions', { ...labels, channel: 'l2' })).toBe(1);
    expect(value(m, 'matchbook_feed_subscriptions', { ...labels, channel: 'trades' })).toBe(1);
    expect(value(m, 'matchbook_feed_messages_sent_total', labels)).toBeGreaterThanOrEqual(5);
    expect(value(m, 'matchbook_feed_disconnects_total', { ...labels, reason: 'slow_consumer' })).toBe(0);
    expect(value(m, 'matchbook_raft_applied_index', labels)).toBeGreaterThan(0);

    // Logs: JSON lines on stderr, with the replica's fields; stdout kept its ready line only.
    const logs = (cluster.logs.get(1) ?? []).filter((l) => l.startsWith('{'));
    expect(logs.length).toBeGreaterThan(0);
    const first = JSON.parse(logs[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({ component: 'replica', shard: 'ops-feed', node: 1 });
    expect(typeof first.msg).toBe('string');
    expect(typeof first.level).toBe('number');
    // An explicit level and the values as fields: the recovery record is info and carries its indexes.
    const recovered = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.msg === 'recovered');
    expect(recovered).toMatchObject({
      level: 30,
      term: expect.any(Number),
      commit: expect.any(Number),
      lastIndex: expect.any(Number),
    });
  });
});
