// The gateway's limits are checked against each other and against the replica client's and
// the shard's when the process loads (gateway/limits-check.ts): today's values pass, and each
// planted contradiction is named.

import { describe, expect, it } from 'vitest';
import { GATEWAY_LIMITS, checkGatewayLimits } from '../../gateway/limits-check.js';

describe('gateway limits', () => {
  it("today's limits satisfy every rule", () => {
    expect(checkGatewayLimits()).toEqual([]);
  });

  it.each([
    [
      { SESSION_BATCH_COMMANDS_MAX: GATEWAY_LIMITS.BATCH_COMMANDS_MAX + 1 },
      'a full session request fits one replica SUBMIT and one log entry',
    ],
    [
      { SESSION_REQUEST_BYTES_MAX: GATEWAY_LIMITS.MAX_RECEIVE_MESSAGE_BYTES + 1 },
      'a full session request passes the gRPC receive limit',
    ],
    [
      { REST_BODY_BYTES_MAX_DEFAULT: GATEWAY_LIMITS.REQUEST_BODY_BYTES_MAX + 1 },
      'the REST edge admits no body the core refuses as too large',
    ],
    [
      { SESSION_INFLIGHT_MAX: GATEWAY_LIMITS.SESSION_PENDING_MAX + 1 },
      'a gRPC stream pauses reading before the core refuses its session queue',
    ],
    [
      { REQUEST_TIMEOUT_MS: GATEWAY_LIMITS.CLIENT_REQUEST_TIMEOUT_MS },
      'a request outlives a replica timeout and one retry to the new leader',
    ],
    [
      { CLIENT_ORDER_ID_MAX: GATEWAY_LIMITS.CLORDID_LENGTH_MAX + 1 },
      'the gateway refuses a client order id the engine would',
    ],
    [
      { SLOW_ORDERS_DUMP_DEFAULT: GATEWAY_LIMITS.SLOW_ORDERS_MAX + 1 },
      'the slow-order dump default is within what is kept',
    ],
    [
      { SESSION_CANCEL_BATCH_MAX: GATEWAY_LIMITS.SHARD_INFLIGHT_MAX },
      "a chunk of a session's cancels leaves the shard window room for other traffic",
    ],
    [
      { USER_STREAM_CLIENT_MESSAGE_BYTES_MAX: 512 },
      'a user-stream login (api key, timestamp, signature, resume point) fits the client message limit',
    ],
    [
      { USER_STREAM_CONNECTIONS_PER_ACCOUNT_MAX: 1 },
      'every account may have a user-stream connection and a second one while it reconnects',
    ],
    [
      { USER_STREAM_LOGIN_TIMEOUT_MS: GATEWAY_LIMITS.USER_STREAM_IDLE_TIMEOUT_S * 1000 },
      'a connection that never logs in is closed for that, before uWS would close it as idle',
    ],
  ])('a planted contradiction %o is named', (change, rule) => {
    expect(checkGatewayLimits({ ...GATEWAY_LIMITS, ...change })).toEqual([rule]);
  });
});
