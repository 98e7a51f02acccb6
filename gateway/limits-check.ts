// How the gateway's limits must relate, to each other and to the replica client protocol's and
// the shard's, asserted when the process loads (gateway.ts imports this file): contradictory
// limits stop the gateway at start instead of refusing valid requests in production. Each rule
// says why. checkGatewayLimits() takes the values as an argument so a test can plant a contradiction.

import { assertLimits, brokenRules, type LimitRule } from '../ops/limits.js';
import { CLIENT_REQUEST_TIMEOUT_MS } from '../replicator/client/client.js';
import { CLIENT_BATCH_COMMANDS_MAX } from '../replicator/client/protocol.js';
import { CLORDID_LENGTH_MAX } from '../engine/limits.js';
import { BATCH_COMMANDS_MAX } from '../shard/batch-codec.js';
import * as limits from './limits.js';

/** Every limit a rule reads: the gateway's (limits.ts) and the ones it is checked against. */
export const GATEWAY_LIMITS = {
  ...limits,
  CLIENT_REQUEST_TIMEOUT_MS,
  CLIENT_BATCH_COMMANDS_MAX,
  BATCH_COMMANDS_MAX,
  CLORDID_LENGTH_MAX,
};
export type GatewayLimits = { [K in keyof typeof GATEWAY_LIMITS]: number };

/** The rules, each a reason and a check; the violated ones' reasons are returned. */
export function checkGatewayLimits(l: GatewayLimits = GATEWAY_LIMITS): string[] {
  const rules: LimitRule[] = [
    [
      'a full session request fits one replica SUBMIT and one log entry',
      l.SESSION_BATCH_COMMANDS_MAX <= Math.min(l.CLIENT_BATCH_COMMANDS_MAX, l.BATCH_COMMANDS_MAX),
    ],
    [
      'a full session request passes the gRPC receive limit',
      l.SESSION_REQUEST_BYTES_MAX <= l.MAX_RECEIVE_MESSAGE_BYTES,
    ],
    [
      'the REST edge admits no body the core refuses as too large',
      l.REST_BODY_BYTES_MAX_DEFAULT <= l.REQUEST_BODY_BYTES_MAX,
    ],
    [
      'a gRPC stream pauses reading before the core refuses its session queue',
      l.SESSION_INFLIGHT_MAX <= l.SESSION_PENDING_MAX,
    ],
    [
      'a request outlives a replica timeout and one retry to the new leader',
      l.REQUEST_TIMEOUT_MS >= 2 * l.CLIENT_REQUEST_TIMEOUT_MS,
    ],
    ['a unary deadline reply leaves time to answer', l.DEADLINE_REPLY_MARGIN_MS < l.REQUEST_TIMEOUT_MS],
    [
      'a readiness probe finishes before its cached answer expires',
      l.READINESS_PROBE_TIMEOUT_MS < l.READINESS_CACHE_MS,
    ],
    [
      "a refused command's status details (base64) and the other trailers fit the metadata clients accept",
      Math.ceil((l.STATUS_DETAILS_RESULT_BYTES_MAX * 4) / 3) + 2 * 1024 <= l.CLIENT_METADATA_BYTES_ASSUMED,
    ],
    ['a keepalive ping is answered before the next is due', l.KEEPALIVE_TIMEOUT_MS < l.KEEPALIVE_TIME_MS],
    ['the slow-order dump default is within what is kept', l.SLOW_ORDERS_DUMP_DEFAULT <= l.SLOW_ORDERS_MAX],
    ['the validation queue holds a full batch', l.QUEUE_MAX_DEFAULT >= l.BATCH_MAX_DEFAULT],
    ['the gateway refuses a client order id the engine would', l.CLIENT_ORDER_ID_MAX <= l.CLORDID_LENGTH_MAX],
    ['the shard window admits what all edges may have in flight at once', l.SHARD_INFLIGHT_MAX >= l.REST_INFLIGHT_MAX],
    [
      "a chunk of a session's cancels leaves the shard window room for other traffic",
      l.SESSION_CANCEL_BATCH_MAX < l.SHARD_INFLIGHT_MAX,
    ],
    [
      'a user-stream login (api key, timestamp, signature, resume point) fits the client message limit',
      l.USER_STREAM_CLIENT_MESSAGE_BYTES_MAX >= 1024,
    ],
    [
      'every account may have a user-stream connection and a second one while it reconnects',
      l.USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX >= 2 &&
        l.USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX <= l.USER_STREAM_CONNECTIONS_MAX,
    ],
    [
      'a burst held back to the end of a turn fits in half of a ring: it never makes a reading connection a slow consumer',
      l.USER_STREAM_SEND_DEFER_REPORTS_MAX >= 1 &&
        l.USER_STREAM_SEND_DEFER_REPORTS_MAX <= l.USER_STREAM_REPORTS_HELD_MAX / 2,
    ],
    [
      'a connection that never logs in is closed for that, before uWS would close it as idle',
      l.USER_STREAM_LOGIN_TIMEOUT_MS < l.USER_STREAM_IDLE_TIMEOUT_S * 1000,
    ],
    [
      "the user-stream journal keeps a previous segment beside the one being written (the checkpoint's reports)",
      l.USER_STREAM_SEGMENTS_KEPT >= 2 && l.USER_STREAM_SEGMENT_BYTES_MAX >= 1024 * 1024,
    ],
  ];
  return brokenRules(rules);
}

assertLimits('gateway', 'gateway/limits.ts', checkGatewayLimits());
