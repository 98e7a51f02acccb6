// The two JSON documents of the browser page (api/ui-contract.ts) for a gateway that knows its
// shards' cluster files: GET /v1/ui/config (where the feeds and the query service are) and
// GET /v1/ui/cluster (every member's status, for the operator console). Lives in processes/
// because it joins the gateway's config, the replicas' client protocol and the events side's
// addresses, which gateway/ may not know.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { UiClusterView, UiConfig, UiMemberView, UiShard } from '../api/ui-contract.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { UiAsset, UiRoutes } from '../gateway/ui-routes.js';
import { type ClusterConfig, parseClusterConfig } from '../replicator/cluster-config.js';
import { loadTlsMaterial } from '../ops/tls-settings.js';
import { clusterRows, type Member, type MemberStatusRow } from './cluster-status.js';

/** The events side's addresses, once it runs (npm start: startLocalEvents). */
export interface UiEventsAddresses {
  /** `http://host:port` of the query service's REST API. */
  queryUrl: string;
  /** `host:port` of each shard's publisher's /metrics, shard s at index s. */
  publisherMetrics: string[];
  /** `host:port` of the query service's /metrics. */
  queryMetrics: string;
}

export interface UiViewsSource {
  gateway: GatewayConfig;
  /** Shard s's cluster file at index s. */
  clusterConfigPaths: string[];
  /** Every shard has a leader the gateway reaches. */
  ready: () => Promise<boolean>;
}

interface ShardFiles {
  shard: number;
  symbols: string[];
  cluster: ClusterConfig;
  members: Member[];
}

function loadShard(file: string, shard: number, symbols: string[]): ShardFiles {
  const cluster = parseClusterConfig(JSON.parse(readFileSync(file, 'utf8')) as unknown, path.dirname(file));
  const tls = cluster.tls !== undefined ? loadTlsMaterial(cluster.tls) : undefined;
  return { shard, symbols, cluster, members: cluster.members.map((m) => ({ ...m, tls })) };
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function feedUrls(s: ShardFiles): string[] {
  const scheme = s.cluster.feedTls !== undefined ? 'wss' : 'ws';
  return s.cluster.members.flatMap((m) =>
    m.feed === undefined ? [] : [`${scheme}://${hostPort(m.feed.host, m.feed.port)}/v1/ws`],
  );
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

/** The page's routes for `assets`; `events` is asked at every request (undefined until the events side runs). */
export function uiRoutes(
  assets: ReadonlyMap<string, UiAsset>,
  src: UiViewsSource,
  events: () => UiEventsAddresses | undefined,
): UiRoutes {
  const shards = src.gateway.shards.map((s, k) => loadShard(src.clusterConfigPaths[k]!, s.id, s.symbols));
  const demoKeys = src.gateway.accounts.flatMap((a) =>
    a.apiKeys
      .filter((k) => src.gateway.plainSecretKeys.includes(k.key))
      .map((k) => ({ api_key: k.key, account: a.account })),
  );
  return {
    assets,
    config(): UiConfig {
      return {
        version: 1,
        receive_window_ms: src.gateway.receiveWindowMs,
        shards: shards.map((s): UiShard => ({ shard: s.shard, symbols: s.symbols, feed_urls: feedUrls(s) })),
        query_url: events()?.queryUrl ?? null,
        demo_keys: demoKeys,
      };
    },
    async cluster(): Promise<UiClusterView> {
      const views = await Promise.all(
        shards.map(async (s) => ({
          shard: s.shard,
          symbols: s.symbols,
          members: (await clusterRows(s.members)).map(memberView),
        })),
      );
      return {
        time_ms: Date.now(),
        shards: views,
        gateway: { requests_total: 0, orders_total: 0, ready: await src.ready() },
        publishers: [],
        read_models: null,
      };
    },
  };
}
