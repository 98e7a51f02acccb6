// The events processes' limits are checked against each other when each process loads
// (events/broker/limits-check.ts, events/publisher/limits-check.ts, events/query/limits-check.ts):
// today's values pass, and each planted contradiction is named.

import { describe, expect, it } from 'vitest';
import { BROKER_LIMITS, checkBrokerLimits } from '../../events/broker/limits-check.js';
import { PUBLISHER_LIMITS, checkPublisherLimits } from '../../events/publisher/limits-check.js';
import { QUERY_LIMITS, checkQueryLimits } from '../../events/query/limits-check.js';

describe('events limits', () => {
  it("today's limits satisfy every rule", () => {
    expect(checkBrokerLimits()).toEqual([]);
    expect(checkPublisherLimits()).toEqual([]);
    expect(checkQueryLimits()).toEqual([]);
  });

  it.each([
    [
      { KAFKA_BATCH_BYTES_MAX: BROKER_LIMITS.KAFKA_REQUEST_BYTES_MAX },
      'the largest record batch fits one produce request',
    ],
    [{ FETCH_BYTES_MAX: BROKER_LIMITS.KAFKA_BATCH_BYTES_MAX - 1 }, 'a fetch can return the largest batch'],
    [{ GROUP_MEMBERS_MAX: BROKER_LIMITS.CONNECTIONS_MAX + 1 }, 'every group member can be connected at once'],
  ])('broker: a planted contradiction %o is named', (change, rule) => {
    expect(checkBrokerLimits({ ...BROKER_LIMITS, ...change })).toContain(rule);
  });

  it.each([
    [{ ENTRIES_WAIT_MS: PUBLISHER_LIMITS.ENTRIES_WAIT_MS_MAX + 1 }, 'a long poll is one the replicas accept'],
    [
      { PRODUCE_TIMEOUT_MS: PUBLISHER_LIMITS.KAFKA_REQUEST_TIMEOUT_MS + 1 },
      'the broker answers a produce before the Kafka client gives up on it',
    ],
  ])('publisher: a planted contradiction %o is named', (change, rule) => {
    expect(checkPublisherLimits({ ...PUBLISHER_LIMITS, ...change })).toContain(rule);
  });

  it.each([
    [
      { SESSION_TIMEOUT_MS: QUERY_LIMITS.GROUP_SESSION_TIMEOUT_MS_MAX + 1 },
      'the consumer session timeout is one the broker accepts',
    ],
    [{ FETCH_MAX_WAIT_MS: QUERY_LIMITS.FETCH_WAIT_MS_MAX + 1 }, 'the consumer fetch wait is one the broker accepts'],
    [
      { CONSUMER_RESTART_DELAY_MS: QUERY_LIMITS.CONSUMER_RESTART_DELAY_MS_MAX + 1 },
      'the consumer restart backoff starts positive and within its maximum',
    ],
    [
      { PUBLIC_TRADES_LIMIT_MAX: QUERY_LIMITS.TRADES_PER_SYMBOL_MAX + 1 },
      'a public trades page fits in what the read models keep per instrument',
    ],
    [
      { CANDLES_1M_KEPT: QUERY_LIMITS.TICKER_WINDOW_MINUTES - 1 },
      "the 1m candles kept cover the 24-hour ticker's window",
    ],
    [
      { PUBLIC_BURST_PER_IP: QUERY_LIMITS.PUBLIC_BURST_TOTAL },
      'one client IP cannot take the whole public budget alone',
    ],
    [{ PUBLIC_CLIENT_IPS_MAX: 0 }, 'the public buckets are positive and hold at least a second of their rate'],
  ])('query: a planted contradiction %o is named', (change, rule) => {
    expect(checkQueryLimits({ ...QUERY_LIMITS, ...change })).toContain(rule);
  });
});
