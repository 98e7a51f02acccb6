// The browser page's routes (gateway/ui-routes.ts) for a gateway that knows its shards' cluster
// files: GET /v1/ui/config (where the feeds and the query service are) and GET /v1/ui/cluster
// (ui-cluster-view.ts: every member's status and metrics, for the operator console). Built by
// whoever starts the gateway — the local exchange (processes/local-exchange.ts) and the gateway
// on its own (main.ts, its config's `ui` section) — from the gateway's config, the cluster files
// and the events side's addresses, which are only URLs here: gateway/ imports nothing of events/.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { UiConfig, UiShard } from '../api/ui-contract.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { loadTlsMaterial } from '../ops/tls-settings.js';
import { type ClusterConfig, parseClusterConfig } from '../replicator/cluster-config.js';
import { cachedClusterView, type UiClusterShard, type UiEventsAddresses } from './ui-cluster-view.js';
import type { UiAsset, UiRoutes } from './ui-routes.js';
import type { Readiness } from './gateway.js';

export type { UiEventsAddresses } from './ui-cluster-view.js';

export interface UiViewsSource {
  gateway: GatewayConfig;
  /** Shard s's cluster file at index s. */
  clusterConfigPaths: string[];
  /** The gateway's readiness (Gateway.ready(): every shard's leader, cached briefly). */
  readiness: () => Promise<Readiness>;
  /** The in-process gateway's metrics exposition (GET /metrics's body). */
  gatewayMetrics: () => Promise<string>;
}

interface ShardFiles extends UiClusterShard {
  cluster: ClusterConfig;
}

function loadShard(file: string, shard: number, symbols: string[]): ShardFiles {
  const cluster = parseClusterConfig(JSON.parse(readFileSync(file, 'utf8')) as unknown, path.dirname(file));
  const tls = cluster.tls !== undefined ? loadTlsMaterial(cluster.tls) : undefined;
  return { shard, symbols, cluster, members: cluster.members.map((m) => ({ ...m, tls })) };
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The members' feed URLs, the leader's last: a follower's apply path does nothing else (feed/README.md). */
function feedUrls(s: ShardFiles, leader: number | null | undefined): string[] {
  const scheme = s.cluster.feedTls !== undefined ? 'wss' : 'ws';
  const members = [...s.cluster.members].sort((a, b) => Number(a.id === leader) - Number(b.id === leader));
  return members.flatMap((m) =>
    m.feed === undefined ? [] : [`${scheme}://${hostPort(m.feed.host, m.feed.port)}/v1/ws`],
  );
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
    async config(): Promise<UiConfig> {
      const leaders = new Map((await src.readiness()).shards.map((r) => [r.shard, r.leader]));
      return {
        version: 1,
        receive_window_ms: src.gateway.receiveWindowMs,
        shards: shards.map(
          (s): UiShard => ({ shard: s.shard, symbols: s.symbols, feed_urls: feedUrls(s, leaders.get(s.shard)) }),
        ),
        query_url: events()?.queryUrl ?? null,
        demo_keys: demoKeys,
      };
    },
    cluster: cachedClusterView({
      shards,
      gatewayMetrics: src.gatewayMetrics,
      ready: async () => (await src.readiness()).ready,
      events,
    }),
  };
}
