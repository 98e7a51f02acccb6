// How the broker's limits must relate, asserted when the process loads (broker.ts imports this
// file): contradictory limits stop the broker at start instead of refusing a valid produce or
// fetch in production. checkBrokerLimits() takes the values so a test can plant a contradiction.

import { assertLimits, brokenRules, type LimitRule } from '../../ops/limits.js';
import * as limits from './limits.js';
import { BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES } from './record-batch.js';

export const BROKER_LIMITS = { ...limits };
export type BrokerLimits = { [K in keyof typeof BROKER_LIMITS]: number };

/** The rules, each a reason and a check; the violated ones' reasons are returned. */
export function checkBrokerLimits(l: BrokerLimits = BROKER_LIMITS): string[] {
  const rules: LimitRule[] = [
    [
      'the largest record batch fits one produce request',
      l.KAFKA_BATCH_BYTES_MAX + BATCH_LOG_OVERHEAD_BYTES < l.KAFKA_REQUEST_BYTES_MAX,
    ],
    ['a connection buffers the largest request', l.CONNECTION_BUFFER_BYTES_MAX >= l.KAFKA_REQUEST_BYTES_MAX],
    [
      'the largest record batch fits one log segment',
      l.KAFKA_BATCH_BYTES_MAX + BATCH_LOG_OVERHEAD_BYTES <= l.BROKER_SEGMENT_BYTES_MAX,
    ],
    ['the default segment size is configurable', l.BROKER_SEGMENT_BYTES_MAX <= l.BROKER_SEGMENT_BYTES_LIMIT],
    ['a fetch can return the largest batch', l.FETCH_BYTES_MAX >= l.KAFKA_BATCH_BYTES_MAX],
    ['a read window holds a batch header', l.BROKER_READ_WINDOW_BYTES >= BATCH_HEADER_BYTES],
    ['one topic may have every partition the broker allows it', l.PARTITIONS_PER_TOPIC_MAX <= l.PARTITIONS_TOTAL_MAX],
    ['every group member can be connected at once', l.GROUP_MEMBERS_MAX <= l.CONNECTIONS_MAX],
    ['the group session timeout range is not empty', l.GROUP_SESSION_TIMEOUT_MS_MIN < l.GROUP_SESSION_TIMEOUT_MS_MAX],
  ];
  return brokenRules(rules);
}

assertLimits('broker', 'events/broker/limits.ts', checkBrokerLimits());
