// `npm run bench:regions` (root): both deployments of deploy/netns/ — `dc` and `regions` —
// built as network namespaces, and measured from the operator's namespace (a client local to
// every region, deploy/README.md):
//   commit latency   the leader's matchbook_raft_commit_seconds over the round-trip phase
//                    (proposed → committed; from its /metrics, bucket-interpolated);
//   round trip       ORDERS_PER_GATEWAY sequential orders (IOC, never resting) through each
//                    region's gateway, by its host address: p50/p99;
//   feed staleness   per region, a crossing pair through that region's gateway: from the taker's
//                    ack to the trade on the region's feed (its local replica), FEED_PAIRS times;
//   failover         the leader's host lost (every process in its namespace SIGKILLed, its link
//                    down): until a new leader, and until an order succeeds through each gateway.
// Prints a JSON last line; writes bench/results/regions-<date>.json (--out to change).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { keyOf } from '../../chaos/stack.js';
import { buildDist, Deployment } from '../../deploy/netns/deployment.js';
import { hostsWith, type LayoutSpec, layoutByName, PORTS } from '../../deploy/netns/layouts.js';
import { netnsUnavailable, unusedNet } from '../../deploy/netns/netns.js';
import { FeedClient } from '../../feed/client/feed-client.js';
import type { TradesMessage } from '../../feed/types.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { REPO_ROOT, sleep } from '../../replicator/process-cluster.js';

/** Sequential orders per gateway for the round trip. */
const ORDERS_PER_GATEWAY = 300;
/** Crossing pairs per region for the feed's staleness. */
const FEED_PAIRS = 30;
/** Each wait for a trade on a feed, and for failover, is bounded (ms). */
const FEED_WAIT_MS = 10_000;
const FAILOVER_WAIT_MS = 120_000;
const REQUEST_TIMEOUT_MS = 15_000;
/** TCP connects timed to measure the bridge's own round trip. */
const CONNECT_PROBES = 50;

type Quantiles = { n: number; p50Ms: number | null; p99Ms: number | null };

function quantiles(xs: number[]): Quantiles {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) =>
    s.length === 0 ? null : Math.round(s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]! * 100) / 100;
  return { n: s.length, p50Ms: at(0.5), p99Ms: at(0.99) };
}

const client = (url: string, account: number) =>
  new OrderEntryRestClient({ baseUrl: url, key: keyOf(account), timeoutMs: REQUEST_TIMEOUT_MS });

/** An IOC buy below the market (nothing rests on ETH here): sequenced, committed, answered, never resting. */
const iocBody = (id: string) => ({
  client_order_id: id,
  symbol: 'ETH-USD',
  side: 'BUY',
  order_type: 'LIMIT',
  time_in_force: 'IOC',
  price: 290_000,
  quantity: 10,
});

async function roundTrips(url: string, tag: string): Promise<Quantiles & { failed: number }> {
  const c = client(url, 3);
  const ms: number[] = [];
  let failed = 0;
  for (let k = 0; k < ORDERS_PER_GATEWAY; k++) {
    const t0 = performance.now();
    const r = await c.placeOrder(iocBody(`${tag}-${k}`)).catch(() => undefined);
    if (r !== undefined && r.status < 300) ms.push(performance.now() - t0);
    else failed++;
  }
  return { ...quantiles(ms), failed };
}

/** Histogram buckets, sum and count of one metric from a Prometheus text page. */
function histogram(text: string, name: string): { buckets: [number, number][]; sum: number; count: number } {
  const buckets: [number, number][] = [];
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    const b = new RegExp(`^${name}_bucket\\{.*le="([^"]+)".*\\} (\\S+)`).exec(line);
    if (b !== null) buckets.push([b[1] === '+Inf' ? Infinity : Number(b[1]), Number(b[2])]);
    else if (line.startsWith(`${name}_sum`)) sum = Number(line.split(' ').pop());
    else if (line.startsWith(`${name}_count`)) count = Number(line.split(' ').pop());
  }
  return { buckets, sum, count };
}

type Histogram = ReturnType<typeof histogram>;

/** Mean and bucket-interpolated p50/p99 of what was observed between two scrapes (ms). */
function histogramDelta(
  a: Histogram,
  b: Histogram,
): { n: number; meanMs: number | null; p50Ms: number | null; p99Ms: number | null } {
  const n = b.count - a.count;
  if (n <= 0) return { n: 0, meanMs: null, p50Ms: null, p99Ms: null };
  const cum = b.buckets.map(([le, v], k) => [le, v - (a.buckets[k]?.[1] ?? 0)] as [number, number]);
  const at = (q: number) => {
    let lo = 0;
    let below = 0;
    for (const [le, v] of cum) {
      if (v >= q * n) {
        const hi = Number.isFinite(le) ? le : lo;
        const inBucket = v - below;
        return Math.round((lo + ((q * n - below) / Math.max(1, inBucket)) * (hi - lo)) * 1e5) / 100;
      }
      lo = le;
      below = v;
    }
    return null;
  };
  return { n, meanMs: Math.round(((b.sum - a.sum) / n) * 1e5) / 100, p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** TCP connects from the operator to a host (one SYN → SYN-ACK round trip across the bridge each). */
async function connectRtt(host: string, port: number): Promise<Quantiles> {
  const ms: number[] = [];
  for (let k = 0; k < CONNECT_PROBES; k++) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const s = net.connect({ host, port }, () => {
        ms.push(performance.now() - t0);
        s.destroy();
        resolve();
      });
      s.once('error', () => resolve());
    });
  }
  return quantiles(ms);
}

async function scrape(d: Deployment, id: number): Promise<Histogram> {
  const res = await fetch(`http://${d.address(d.replicaHost(id))}:${PORTS.ops}/metrics`);
  return histogram(await res.text(), 'matchbook_raft_commit_seconds');
}

/** Crossing pairs through a region's gateway; for each, ack → the trade on the region's feed (ms, may be negative). */
async function feedStaleness(d: Deployment, region: number, gw: string): Promise<Quantiles & { missed: number }> {
  const feed = await FeedClient.connect({ url: `${d.feedUrl(region)}/v1/ws` });
  const seen = new Map<number, number>();
  feed.on('trades', (m: TradesMessage) => {
    for (const t of m.trades) if (!seen.has(t.trade_id)) seen.set(t.trade_id, performance.now());
  });
  await feed.subscribe(['BTC-USD'], ['trades']);
  const [maker, taker] = [client(d.restUrl(gw), 1), client(d.restUrl(gw), 2)];
  const ms: number[] = [];
  let missed = 0;
  const order = { symbol: 'BTC-USD', order_type: 'LIMIT', time_in_force: 'GTC', price: 5_000_000, quantity: 1 };
  for (let k = 0; k < FEED_PAIRS; k++) {
    await maker.placeOrder({ ...order, client_order_id: `${gw}-m${k}`, side: 'SELL' });
    const r = await taker.placeOrder({ ...order, client_order_id: `${gw}-t${k}`, side: 'BUY' });
    const ackMs = performance.now();
    const reports = (r.body as { result?: { reports?: { trade_id: number }[] } }).result?.reports ?? [];
    const tradeId = reports.find((x) => x.trade_id > 0)?.trade_id;
    const deadline = Date.now() + FEED_WAIT_MS;
    while (tradeId !== undefined && !seen.has(tradeId) && Date.now() < deadline) await sleep(1);
    if (tradeId !== undefined && seen.has(tradeId)) ms.push(seen.get(tradeId)! - ackMs);
    else missed++;
  }
  await feed.close();
  return { ...quantiles(ms), missed };
}

/** Loses the leader's host; times the new leader and the first order through each gateway; restores the host. */
async function failover(d: Deployment, layout: LayoutSpec): Promise<Record<string, unknown>> {
  const old = await d.leader(FAILOVER_WAIT_MS);
  const t0 = performance.now();
  d.loseHost(d.replicaHost(old));
  const next = await d.leader(FAILOVER_WAIT_MS, [old]);
  const electedMs = Math.round(performance.now() - t0);
  const perGateway: Record<string, number | null> = {};
  await Promise.all(
    hostsWith(layout, 'gateway').map(async (g) => {
      const c = client(d.restUrl(g.name), 4);
      const deadline = Date.now() + FAILOVER_WAIT_MS;
      for (let k = 0; Date.now() < deadline; k++) {
        const r = await c.placeOrder(iocBody(`fo-${g.name}-${k}`)).catch(() => undefined);
        if (r !== undefined && r.status < 300) {
          perGateway[g.name] = Math.round(performance.now() - t0);
          return;
        }
        await sleep(20);
      }
      perGateway[g.name] = null;
    }),
  );
  await d.restoreHost(d.replicaHost(old));
  return { killedHost: d.replicaHost(old), newLeader: next, electedMs, firstOrderMsByGateway: perGateway };
}

/** The member the measurement runs with as leader (r1, region 1 in both layouts). */
const LEADER_ID = 1;

async function measure(name: string, net: number, log: (l: string) => void): Promise<Record<string, unknown>> {
  const layout = layoutByName(name);
  const dir = mkdtempSync(path.join(os.tmpdir(), `mb-bench-regions-${name}-`));
  const d = await Deployment.start({ layout, dir, runTag: `mb${process.pid}${name[0]}`, net, log, compiled: true });
  try {
    const gws = hostsWith(layout, 'gateway');
    // The leader where an operator puts it: in region 1, one 10 ms round trip from a quorum
    // (regions 1 + 2); left to the election it can land in region 3, 30–40 ms from any quorum.
    await d.transferLeader(LEADER_ID, FAILOVER_WAIT_MS);
    const leader = await d.leader(FAILOVER_WAIT_MS);
    const bridgeConnectMs = await connectRtt(d.address(gws[0]!.name), PORTS.rest);
    const before = await scrape(d, leader);
    const roundTripMs: Record<string, unknown> = {};
    for (const g of gws)
      roundTripMs[`${g.name} (region ${g.region})`] = await roundTrips(d.restUrl(g.name), `${name}-${g.name}`);
    const commitMs = histogramDelta(before, await scrape(d, leader));
    const feedStalenessMs: Record<string, unknown> = {};
    for (const g of gws) feedStalenessMs[`region ${g.region}`] = await feedStaleness(d, g.region, g.name);
    const fo = await failover(d, layout);
    log(`${name}: done`);
    return {
      layout: name,
      netem: d.netem,
      leader: `r${leader} (region ${d.host(d.replicaHost(leader)).region})`,
      interRegionDelayMs: layout.interRegionDelayMs,
      bridgeConnectMs,
      commitMs,
      roundTripMs,
      feedStalenessMs,
      failover: fo,
    };
  } finally {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      layouts: { type: 'string', default: 'dc,regions' },
      out: { type: 'string', default: path.join(REPO_ROOT, 'bench/results/regions-2026-12-07.json') },
    },
  });
  const why = netnsUnavailable();
  if (why !== undefined) {
    console.error(`bench:regions needs network namespaces: ${why}`);
    process.exit(2);
  }
  const log = (l: string) => console.error(l);
  buildDist(); // the exchange's processes run compiled, as deployed
  const results = [];
  for (const name of values.layouts.split(',')) results.push(await measure(name, unusedNet(200, 249), log));
  const out = {
    bench: 'regions',
    date: new Date().toISOString(),
    ordersPerGateway: ORDERS_PER_GATEWAY,
    feedPairs: FEED_PAIRS,
    results,
  };
  writeFileSync(values.out, `${JSON.stringify(out, null, 2)}\n`);
  console.log(JSON.stringify(out));
}

main().catch((err: unknown) => {
  console.error(`FATAL: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
