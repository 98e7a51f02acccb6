// GET /v1/ui/cluster (api/ui-contract.ts UiClusterView): what the browser page's operator
// console shows, gathered from the processes themselves — every member's status over its client
// port (replicator/client/cluster-status.ts) and its /metrics (the cluster file's `ops`), the
// gateway's own metrics, each shard's publisher /metrics and the query service's /metrics and
// /readyz. Bounded: one gathering in flight (concurrent requests share it), its result reused
// for UI_CLUSTER_CACHE_MS, every scrape cut at UI_SCRAPE_TIMEOUT_MS and UI_SCRAPE_BODY_MAX_BYTES.
// A process that does not answer is reported (reachable: false, error), never an error answer.

import type {
  UiClusterView,
  UiGatewayView,
  UiMemberMetrics,
  UiMemberView,
  UiPublisherView,
  UiReadModelView,
} from '../api/ui-contract.js';
import { LATENCY_BUCKETS_S } from '../ops/metrics.js';
import { histogramQuantileBound, type PromSample, parsePromText, samplesOf, sumOf } from '../ops/prom-text.js';
import { clusterRows, type Member, type MemberStatusRow } from '../replicator/client/cluster-status.js';
import { UI_CLUSTER_CACHE_MS, UI_SCRAPE_BODY_MAX_BYTES, UI_SCRAPE_TIMEOUT_MS } from './limits.js';

/** The events side's addresses, once it runs (npm start: startLocalEvents; a lone gateway: its config's `ui`). */
export interface UiEventsAddresses {
  /** `http://host:port` of the query service's REST API. */
  queryUrl?: string;
  /** `host:port` of each shard's publisher's /metrics, shard s at index s. */
  publisherMetrics: string[];
  /** `host:port` of the query service's /metrics and /readyz (its REST address). */
  queryMetrics?: string;
}

export interface UiClusterShard {
  shard: number;
  symbols: string[];
  members: Member[];
}

export interface UiClusterSources {
  shards: UiClusterShard[];
  /** The in-process gateway's exposition (its metrics registry). */
  gatewayMetrics: () => Promise<string>;
  /** Every shard has a leader the gateway reaches. */
  ready: () => Promise<boolean>;
  events: () => UiEventsAddresses | undefined;
}

type Scrape = { ok: true; status: number; body: string } | { ok: false; error: string };

/** One GET of another process's plain-HTTP ops endpoint, bounded in time and size. */
export async function scrape(url: string): Promise<Scrape> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(UI_SCRAPE_TIMEOUT_MS) });
    const reader = res.body?.getReader();
    const chunks: Uint8Array[] = [];
    let sizeBytes = 0;
    for (let r = await reader?.read(); r !== undefined && !r.done; r = await reader?.read()) {
      sizeBytes += r.value.byteLength;
      if (sizeBytes > UI_SCRAPE_BODY_MAX_BYTES) {
        await reader?.cancel();
        return { ok: false, error: `too large (over ${UI_SCRAPE_BODY_MAX_BYTES} bytes)` };
      }
      chunks.push(r.value);
    }
    return { ok: true, status: res.status, body: Buffer.concat(chunks).toString('utf8') };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { ok: false, error: e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? e.message) };
  }
}

async function scrapeMetrics(
  hostPort: string,
): Promise<{ ok: true; samples: PromSample[] } | { ok: false; error: string }> {
  const r = await scrape(`http://${hostPort}/metrics`);
  if (!r.ok) return r;
  if (r.status !== 200) return { ok: false, error: `HTTP ${r.status}` };
  return { ok: true, samples: parsePromText(r.body) };
}

/** A member's figures from its /metrics (the names replicator/metrics.ts and feed/metrics.ts register). */
export function memberMetrics(s: readonly PromSample[]): UiMemberMetrics {
  const fsyncS = histogramQuantileBound(s, 'matchbook_wal_fsync_seconds', 0.99);
  return {
    elections_total: sumOf(s, 'matchbook_raft_elections_total') ?? 0,
    // Beyond the last finite bucket JSON has no Infinity: the last bound is reported (the p99 is at least that).
    fsync_p99_ms: fsyncS === null ? null : Math.min(fsyncS, LATENCY_BUCKETS_S.at(-1)!) * 1000,
    // Log entries applied by the engine: each entry is one batch of commands (the replicas count
    // no single commands); the gateway's orders_total is the per-order figure.
    commands_applied_total: sumOf(s, 'matchbook_raft_entries_applied_total') ?? 0,
    feed_connections: sumOf(s, 'matchbook_feed_connections') ?? 0,
    feed_subscriptions: sumOf(s, 'matchbook_feed_subscriptions') ?? 0,
  };
}

/** The gateway's counters: every answered request, and orders accepted (PlaceOrder answered OK, REST and gRPC unary). */
export function gatewayCounters(s: readonly PromSample[]): Omit<UiGatewayView, 'ready'> {
  return {
    requests_total: sumOf(s, 'matchbook_gateway_requests_total') ?? 0,
    orders_total: sumOf(s, 'matchbook_gateway_requests_total', { op: 'PlaceOrder', code: 'OK' }) ?? 0,
  };
}

function memberView(r: MemberStatusRow): UiMemberView {
  const v: UiMemberView = { member: r.member, endpoint: r.endpoint, reachable: r.reachable };
  if (r.error !== undefined) v.error = r.error;
  if (r.role !== undefined) v.role = r.role;
  if (r.term !== undefined) v.term = r.term;
  if (r.leader !== undefined) v.leader = r.leader;
  if (r.commit !== undefined) v.commit = r.commit;
  if (r.applied !== undefined) v.applied = r.applied;
  if (r.lag !== undefined) v.lag = r.lag;
  if (r.behindLeader !== undefined) v.behind_leader = r.behindLeader;
  if (r.snapshotIndex !== undefined) v.snapshot_index = r.snapshotIndex;
  if (r.membership !== undefined) v.membership = r.membership;
  if (r.consensus !== undefined) v.consensus = r.consensus;
  return v;
}

async function shardView(sh: UiClusterShard): Promise<UiClusterView['shards'][number]> {
  const [rows, scrapes] = await Promise.all([
    clusterRows(sh.members),
    Promise.all(
      sh.members.map((m) => (m.ops === undefined ? undefined : scrapeMetrics(`${m.ops.host}:${m.ops.port}`))),
    ),
  ]);
  const members = rows.map((row, k) => {
    const v = memberView(row);
    const m = scrapes[k];
    if (m?.ok === true) v.metrics = memberMetrics(m.samples);
    return v;
  });
  return { shard: sh.shard, symbols: sh.symbols, members };
}

async function publisherView(shard: number, hostPort: string): Promise<UiPublisherView> {
  const m = await scrapeMetrics(hostPort);
  if (!m.ok) return { shard, reachable: false, error: m.error };
  const state = samplesOf(m.samples, 'matchbook_publisher_state').find((s) => s.value === 1)?.labels.state;
  const lag = sumOf(m.samples, 'matchbook_publisher_lag_entries');
  return {
    shard,
    reachable: true,
    ...(state !== undefined ? { state } : {}),
    ...(lag !== undefined ? { lag_entries: lag } : {}),
  };
}

async function readModelsView(hostPort: string): Promise<UiReadModelView> {
  const [m, ready] = await Promise.all([scrapeMetrics(hostPort), scrape(`http://${hostPort}/readyz`)]);
  if (!m.ok) return { reachable: false, error: m.error };
  const lag: Record<string, number> = {};
  for (const s of samplesOf(m.samples, 'matchbook_query_consumer_lag_records'))
    lag[s.labels.read_model ?? ''] = s.value;
  return { reachable: true, lag_records: lag, ready: ready.ok && ready.status === 200 };
}

/** One gathering of everything, each part reported on its own. */
export async function gatherClusterView(src: UiClusterSources): Promise<UiClusterView> {
  const ev = src.events();
  const [shards, gw, ready, publishers, readModels] = await Promise.all([
    Promise.all(src.shards.map(shardView)),
    src.gatewayMetrics().then(parsePromText, () => []),
    src.ready().catch(() => false),
    Promise.all((ev?.publisherMetrics ?? []).map((hp, shard) => publisherView(shard, hp))),
    ev?.queryMetrics !== undefined ? readModelsView(ev.queryMetrics) : Promise.resolve(null),
  ]);
  return {
    time_ms: Date.now(),
    shards,
    gateway: { ...gatewayCounters(gw), ready },
    publishers,
    read_models: readModels,
  };
}

/** gatherClusterView behind the bounds: one gathering in flight, reused for UI_CLUSTER_CACHE_MS after it ends. */
export function cachedClusterView(src: UiClusterSources, nowMs: () => number = Date.now): () => Promise<UiClusterView> {
  let inFlight: Promise<UiClusterView> | undefined;
  let last: { view: UiClusterView; atMs: number } | undefined;
  return () => {
    if (last !== undefined && nowMs() - last.atMs < UI_CLUSTER_CACHE_MS) return Promise.resolve(last.view);
    inFlight ??= gatherClusterView(src).then(
      (view) => {
        last = { view, atMs: nowMs() };
        inFlight = undefined;
        return view;
      },
      (err: unknown) => {
        inFlight = undefined;
        throw err;
      },
    );
    return inFlight;
  };
}
