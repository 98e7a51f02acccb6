// What a client of the private user stream (WS /v1/user-stream on the REST port; protocol in
// gateway/README.md "Private user stream") needs, as the package export `matchbook/client/user-stream`:
// the stream's URL for a REST base URL, the signed login message, and a WebSocket client
// (WsConnection, the feed client's: RFC 6455 over node:net, bounded messages). There is no
// stateful user-stream client class: a connection sends the login first, then reads JSON
// messages (`login`, then `report`/`position`/`gap`, or `error` and a close).

import { signRequest } from '../../api/signing.js';
import { USER_STREAM_LOGIN_TARGET, USER_STREAM_PATH } from '../user-stream.js';
import type { RestClientKey } from './rest-client.js';

export { WsConnection, type WsHandlers } from '../../feed/client/ws-connection.js';
export { USER_STREAM_PATH };
export type { RestClientKey };

/** `ws://host:port/v1/user-stream` for the gateway's REST base URL (`http://host:port`). */
export function userStreamUrl(restBaseUrl: string): string {
  const u = new URL(USER_STREAM_PATH, restBaseUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

/** Where a resumed login starts: after report `resumeFrom` of stream `epoch` (the previous login's answer). */
export interface UserStreamResume {
  resumeFrom: number;
  epoch: string;
}

/** The login message (the connection's first): signed like a REST request of GET /v1/user-stream with no body. */
export function userStreamLogin(key: RestClientKey, resume?: UserStreamResume, nowMs: number = Date.now()): string {
  const a = signRequest(key, USER_STREAM_LOGIN_TARGET, new Uint8Array(0), nowMs);
  return JSON.stringify({
    op: 'login',
    api_key: a.apiKey,
    timestamp: a.timestamp,
    signature: a.signature,
    ...(resume !== undefined ? { resume_from: resume.resumeFrom, epoch: resume.epoch } : {}),
  });
}
