// How the query process's limits must relate — the query service's, the read models' it runs, and
// the broker's it consumes from — asserted when the process loads (service.ts imports this file).
// checkQueryLimits() takes the values so a test can plant a contradiction.

import { assertLimits, brokenRules, type LimitRule } from '../../ops/limits.js';
import { FETCH_WAIT_MS_MAX, GROUP_SESSION_TIMEOUT_MS_MAX, GROUP_SESSION_TIMEOUT_MS_MIN } from '../broker/limits.js';
import * as readModelLimits from '../read-models/limits.js';
import { CANDLE_INTERVALS, TICKER_WINDOW_MINUTES } from '../read-models/model.js';
import * as limits from './limits.js';

export const QUERY_LIMITS = {
  ...limits,
  ...readModelLimits,
  FETCH_WAIT_MS_MAX,
  CANDLES_1M_KEPT: CANDLE_INTERVALS.find((iv) => iv.name === '1m')!.kept,
  TICKER_WINDOW_MINUTES,
  GROUP_SESSION_TIMEOUT_MS_MIN,
  GROUP_SESSION_TIMEOUT_MS_MAX,
};
export type QueryLimits = { [K in keyof typeof QUERY_LIMITS]: number };

/** The rules, each a reason and a check; the violated ones' reasons are returned. */
export function checkQueryLimits(l: QueryLimits = QUERY_LIMITS): string[] {
  const rules: LimitRule[] = [
    ['the default read-after wait is within the maximum', l.READ_AFTER_WAIT_MS_DEFAULT <= l.READ_AFTER_WAIT_MS_MAX],
    [
      'a not-yet-consistent answer suggests a retry within the default wait',
      l.NOT_YET_CONSISTENT_RETRY_MS < l.READ_AFTER_WAIT_MS_DEFAULT,
    ],
    ['the default candle page is within the maximum', l.CANDLES_LIMIT_DEFAULT <= l.CANDLES_LIMIT_MAX],
    [
      'a public trades page fits in what the read models keep per instrument',
      l.PUBLIC_TRADES_LIMIT_DEFAULT <= l.PUBLIC_TRADES_LIMIT_MAX &&
        l.PUBLIC_TRADES_LIMIT_MAX <= l.TRADES_PER_SYMBOL_MAX,
    ],
    [
      "the 1m candles kept cover the 24-hour ticker's window",
      l.CANDLES_1M_KEPT >= l.TICKER_WINDOW_MINUTES && l.TICKER_WINDOW_MINUTES * 60 >= 24 * 3_600,
    ],
    [
      'one client IP cannot take the whole public budget alone',
      l.PUBLIC_RATE_PER_IP_PER_SEC < l.PUBLIC_RATE_TOTAL_PER_SEC && l.PUBLIC_BURST_PER_IP < l.PUBLIC_BURST_TOTAL,
    ],
    [
      'the public buckets are positive and hold at least a second of their rate',
      l.PUBLIC_RATE_PER_IP_PER_SEC > 0 &&
        l.PUBLIC_RATE_TOTAL_PER_SEC > 0 &&
        l.PUBLIC_BURST_PER_IP >= l.PUBLIC_RATE_PER_IP_PER_SEC &&
        l.PUBLIC_BURST_TOTAL >= l.PUBLIC_RATE_TOTAL_PER_SEC &&
        l.PUBLIC_CLIENT_IPS_MAX > 0,
    ],
    [
      'a default fills page can be filled from what the read models keep',
      l.FILLS_LIMIT_DEFAULT <= l.FILLS_PER_ACCOUNT_MAX,
    ],
    [
      'the consumer session timeout is one the broker accepts',
      l.SESSION_TIMEOUT_MS >= l.GROUP_SESSION_TIMEOUT_MS_MIN && l.SESSION_TIMEOUT_MS <= l.GROUP_SESSION_TIMEOUT_MS_MAX,
    ],
    ['the consumer heartbeats several times per session timeout', 3 * l.HEARTBEAT_INTERVAL_MS <= l.SESSION_TIMEOUT_MS],
    ['a fetch returns before the consumer session times out', l.FETCH_MAX_WAIT_MS < l.SESSION_TIMEOUT_MS],
    ['the consumer fetch wait is one the broker accepts', l.FETCH_MAX_WAIT_MS <= l.FETCH_WAIT_MS_MAX],
    [
      'the consumer restart backoff starts positive and within its maximum',
      l.CONSUMER_RESTART_DELAY_MS > 0 && l.CONSUMER_RESTART_DELAY_MS <= l.CONSUMER_RESTART_DELAY_MS_MAX,
    ],
  ];
  return brokenRules(rules);
}

assertLimits('query', 'events/query/limits.ts, events/read-models/limits.ts', checkQueryLimits());
