// The market-data feed's Prometheus metrics (ops/metrics.ts), on the registry of the process
// that serves it (a replica: its `ops` address). Everything is read from the feed's counters
// and connection table when scraped: nothing is added to the publish path.

import { readCounter, readGauge, type Registry } from '../ops/metrics.js';
import type { MarketDataFeed } from './feed-service.js';

export function registerFeedMetrics(registry: Registry, feed: MarketDataFeed): void {
  const server = feed.server;
  const st = server.stats;
  registerConnectionMetrics(registry, server, st);
  registerDeliveryMetrics(registry, st);
  registerProjectionMetrics(registry, feed);
}

type FeedServer = MarketDataFeed['server'];

/** Open connections and their subscriptions, connections opened, refused and closed (per reason). */
function registerConnectionMetrics(registry: Registry, server: FeedServer, st: FeedServer['stats']): void {
  readGauge(registry, 'matchbook_feed_connections', 'Open WebSocket connections', () => server.connectionCount);
  readGauge(
    registry,
    'matchbook_feed_subscriptions',
    'Subscriptions (symbol x channel) of open connections, per channel',
    () =>
      [...server.subscriptionCounts().byChannel].map(
        ([channel, n]) => [{ channel }, n] as [{ channel: string }, number],
      ),
    ['channel'],
  );
  readGauge(
    registry,
    'matchbook_feed_lagging_connections',
    'Connections lagging now: unsubscribed until their buffer drains, then resynced',
    () => server.subscriptionCounts().lagging,
  );
  readCounter(
    registry,
    'matchbook_feed_connections_opened_total',
    'WebSocket connections opened',
    () => st.connectionsOpened,
  );
  readCounter(
    registry,
    'matchbook_feed_connections_refused_total',
    'WebSocket upgrades refused at the connection limit',
    () => st.connectionsRefused,
  );
  readCounter(
    registry,
    'matchbook_feed_connections_closed_total',
    'WebSocket connections closed, for any reason',
    () => st.connectionsClosed,
  );
  readCounter(
    registry,
    'matchbook_feed_disconnects_total',
    'Connections the server closed, per reason: slow_consumer (4008), subscribe_timeout (4001), rate_limited (4029)',
    () =>
      [
        [{ reason: 'slow_consumer' }, st.closedSlow],
        [{ reason: 'subscribe_timeout' }, st.closedIdle],
        [{ reason: 'rate_limited' }, st.closedRateLimited],
      ] as [{ reason: string }, number][],
    ['reason'],
  );
}

/** Backpressure, resyncs, messages published and sent, errors. */
function registerDeliveryMetrics(registry: Registry, st: FeedServer['stats']): void {
  readCounter(
    registry,
    'matchbook_feed_backpressure_lags_total',
    'Times a connection started lagging (buffered bytes over the slow limit, or a dropped send)',
    () => st.lagging,
  );
  readCounter(
    registry,
    'matchbook_feed_backpressure_drops_total',
    'Messages to one connection dropped by uWS over its backpressure limit (healed by a resync)',
    () => st.dropped,
  );
  readCounter(
    registry,
    'matchbook_feed_resyncs_total',
    'Resync notices sent (each followed by a snapshot), per reason: slow_consumer, source_reset (the replica rebuilt its state)',
    () =>
      [
        [{ reason: 'slow_consumer' }, st.resyncsSlow],
        [{ reason: 'source_reset' }, st.resyncs - st.resyncsSlow],
      ] as [{ reason: string }, number][],
    ['reason'],
  );
  readCounter(
    registry,
    'matchbook_feed_messages_published_total',
    'Data messages published (once per message, whatever the number of subscribers)',
    () => st.published,
  );
  readCounter(
    registry,
    'matchbook_feed_messages_sent_total',
    'Data messages sent: each published message times its subscribers at that moment',
    () => st.deliveries,
  );
  readCounter(
    registry,
    'matchbook_feed_errors_sent_total',
    'Error replies sent to clients (bad requests, rate limit)',
    () => st.errorsSent,
  );
  readCounter(
    registry,
    'matchbook_feed_handler_errors_total',
    'Exceptions caught in the feed server handlers (bugs: see the log)',
    () => st.handlerErrors,
  );
}

/** The projection of applied entries: entries projected, failures repaired by a rebuild. */
function registerProjectionMetrics(registry: Registry, feed: MarketDataFeed): void {
  readCounter(
    registry,
    'matchbook_feed_entries_total',
    'Applied log entries projected by the feed',
    () => feed.stats.entries,
  );
  readCounter(
    registry,
    'matchbook_feed_projection_failures_total',
    'Projection failures, each repaired by a rebuild from the engine (and a resync of every subscriber)',
    () => feed.stats.failures,
  );
}
