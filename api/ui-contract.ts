// What the browser page (ui/) reads from the gateway's REST port besides the public order API:
// where the other public APIs are (GET /v1/ui/config) and the operator's view of the cluster
// (GET /v1/ui/cluster). Types only, so the page's bundle and the server that answers share one
// definition. docs/openapi.yaml describes both answers; snake_case as every other REST body.

/** GET /v1/ui/config: where the page finds everything it shows. No secrets. */
export interface UiConfig {
  /** Bumped when a field changes meaning. */
  version: 1;
  /** The gateway's signing window (the page signs with server time: GET /v1/time). */
  receive_window_ms: number;
  /** The instruments' shard and market-data feeds. */
  shards: UiShard[];
  /**
   * The query service's base URL (`http://host:port`, no trailing slash) for candles, the
   * 24-hour ticker, trades history, open orders and fills; null when no query service is known
   * (a gateway run alone): the page then hides what needs it.
   */
  query_url: string | null;
  /**
   * The accounts' API keys whose HMAC secret is written in the gateway's config file (the demo
   * keys): the order ticket offers them; the user still types the secret (never sent here).
   */
  demo_keys: { api_key: string; account: number }[];
}

export interface UiShard {
  shard: number;
  symbols: string[];
  /**
   * The feed WebSocket URL of each member (`ws://host:port/v1/ws` or wss://), followers of the
   * current leader first; the page connects to the first that answers and moves on when it
   * closes. A host of 0.0.0.0 / 127.0.0.1 is written as given: the page replaces a loopback or
   * wildcard host by its own location's hostname.
   */
  feed_urls: string[];
}

/** GET /v1/ui/cluster: one scrape of every shard's members and the event pipeline. */
export interface UiClusterView {
  /** Server clock when gathered (ms since the epoch): the page computes rates between two views. */
  time_ms: number;
  shards: UiShardView[];
  gateway: UiGatewayView;
  /** One per shard's publisher, when the exchange knows its ops address. */
  publishers: UiPublisherView[];
  /** The query service's read models, when known. */
  read_models: UiReadModelView | null;
}

export interface UiShardView {
  shard: number;
  symbols: string[];
  members: UiMemberView[];
}

export interface UiMemberView {
  member: number;
  /** The client-protocol endpoint asked for the status (host:port). */
  endpoint: string;
  reachable: boolean;
  /** Why not reachable (connect refused, timeout…). */
  error?: string;
  role?: 'LEADER' | 'FOLLOWER' | 'CANDIDATE' | 'PRE_CANDIDATE' | 'LEARNER' | string;
  term?: number;
  leader?: number;
  commit?: number;
  applied?: number;
  /** commit − applied on this member. */
  lag?: number;
  /** The leader's commit − this member's applied (absent without a reachable leader). */
  behind_leader?: number;
  snapshot_index?: number;
  membership?: 'voter' | 'learner' | 'none';
  consensus?: 'raft' | 'multipaxos';
  /** From the member's /metrics (absent when it has no ops address or the scrape failed). */
  metrics?: UiMemberMetrics;
}

export interface UiMemberMetrics {
  elections_total: number;
  /** From the WAL fsync histogram's buckets (upper bound of the bucket holding the 99th percentile); null before any fsync. */
  fsync_p99_ms: number | null;
  /** Commands applied by the engine so far (a counter: the page derives orders/s from two views). */
  commands_applied_total: number;
  feed_connections: number;
  feed_subscriptions: number;
}

export interface UiGatewayView {
  /** Requests the gateway answered, every edge (a counter). */
  requests_total: number;
  /** Orders accepted for sequencing (a counter: orders/s between two views). */
  orders_total: number;
  ready: boolean;
}

export interface UiPublisherView {
  shard: number;
  reachable: boolean;
  error?: string;
  /** e.g. "publishing", "catching_up", "refused". */
  state?: string;
  lag_entries?: number;
}

export interface UiReadModelView {
  reachable: boolean;
  error?: string;
  /** Consumer lag per read model (records behind the broker's high watermark). */
  lag_records?: Record<string, number>;
  ready?: boolean;
}
