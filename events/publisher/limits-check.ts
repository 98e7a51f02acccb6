// How the publisher's limits must relate, to each other, to the replica client protocol's and to
// the Kafka client's, asserted when the process loads (publisher.ts imports this file).
// checkPublisherLimits() takes the values so a test can plant a contradiction.

import { assertLimits, brokenRules, type LimitRule } from '../../ops/limits.js';
import { ENTRIES_BYTES_MAX, ENTRIES_WAIT_MS_MAX } from '../../replicator/client/protocol.js';
import { KAFKA_REQUEST_TIMEOUT_MS } from '../kafka.js';
import * as limits from './limits.js';

export const PUBLISHER_LIMITS = { ...limits, ENTRIES_BYTES_MAX, ENTRIES_WAIT_MS_MAX, KAFKA_REQUEST_TIMEOUT_MS };
export type PublisherLimits = { [K in keyof typeof PUBLISHER_LIMITS]: number };

/** The rules, each a reason and a check; the violated ones' reasons are returned. */
export function checkPublisherLimits(l: PublisherLimits = PUBLISHER_LIMITS): string[] {
  const rules: LimitRule[] = [
    [
      'a chunk of entries is one the replicas serve',
      l.ENTRIES_CHUNK_BYTES <= l.ENTRIES_BYTES_MAX && l.ENTRIES_REPLAY_CHUNK_BYTES <= l.ENTRIES_BYTES_MAX,
    ],
    [
      'the reply to a replay chunk fits what the publisher reads',
      l.ENTRIES_REPLAY_CHUNK_BYTES < l.ENTRY_REPLY_BYTES_MAX,
    ],
    ['a long poll is one the replicas accept', l.ENTRIES_WAIT_MS <= l.ENTRIES_WAIT_MS_MAX],
    ['a long poll returns before its request times out', l.ENTRIES_WAIT_MS < l.ENTRY_REQUEST_TIMEOUT_MS],
    [
      'the broker answers a produce before the Kafka client gives up on it',
      l.PRODUCE_TIMEOUT_MS <= l.KAFKA_REQUEST_TIMEOUT_MS,
    ],
    [
      'progress after commands is written no later than after time ticks alone',
      l.PROGRESS_IDLE_INTERVAL_MS <= l.PROGRESS_TICKS_INTERVAL_MS,
    ],
    [
      'retry delays grow toward their caps',
      l.SESSION_RETRY_DELAY_MS <= l.SESSION_RETRY_DELAY_MS_MAX && l.ENTRY_RETRY_DELAY_MS <= l.ENTRY_RETRY_DELAY_MS_MAX,
    ],
  ];
  return brokenRules(rules);
}

assertLimits('publisher', 'events/publisher/limits.ts', checkPublisherLimits());
