// The console's admin actions (gateway/README.md "Admin", docs/openapi.yaml): halt and resume an
// instrument, engage and release an account's kill switch. Each is one signed POST on the page's
// own origin (the gateway's REST port); the answer — done with its shards, or the gateway's error
// code, reason and message — is turned into one line for the operator.

import { ADMIN_REQUEST_TIMEOUT_MS } from '../limits.js';
import { type Credentials, HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../signing.js';

export type AdminAction =
  | { kind: 'halt' | 'resume'; symbol: string }
  | { kind: 'kill-switch'; account: number; active: boolean };

export interface AdminAnswer {
  ok: boolean;
  text: string;
}

/** What the confirm step and the answer name the action by. */
export function describeAction(a: AdminAction): string {
  if (a.kind === 'kill-switch') return `${a.active ? 'Engage' : 'Release'} the kill switch of account ${a.account}`;
  return `${a.kind === 'halt' ? 'Halt' : 'Resume'} ${a.symbol}`;
}

/** The route and the exact JSON body (the bytes signed are the bytes sent). */
export function actionRequest(a: AdminAction): { path: string; body: string } {
  if (a.kind === 'kill-switch')
    return { path: '/v1/admin/kill-switch', body: JSON.stringify({ account: a.account, active: a.active }) };
  return { path: `/v1/admin/${a.kind}`, body: JSON.stringify({ symbol: a.symbol }) };
}

/** An account id typed by the operator: plain digits up to 2^53 − 1, else why not. */
export function parseAccount(text: string): { ok: true; account: number } | { ok: false; error: string } {
  const t = text.trim();
  if (!/^[0-9]{1,16}$/.test(t)) return { ok: false, error: 'the account must be a whole number in plain digits' };
  const account = Number(t);
  if (!Number.isSafeInteger(account)) return { ok: false, error: 'the account must be at most 2^53 − 1' };
  return { ok: true, account };
}

/** The operator's line for a gateway answer (status and body text as received). */
export function answerText(status: number, bodyText: string): AdminAnswer {
  let body: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(bodyText);
    if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  if (status === 200 && body !== undefined && typeof body.done === 'string') {
    const shards = Array.isArray(body.shards) ? body.shards.map(String).join(', ') : '?';
    return { ok: true, text: `done (${body.done}, shards ${shards})` };
  }
  if (body !== undefined && typeof body.code === 'string') {
    const reason = typeof body.reason === 'string' && body.reason !== body.code ? ` ${body.reason}` : '';
    const message = typeof body.message === 'string' ? `: ${body.message}` : '';
    return { ok: false, text: `refused, HTTP ${status} ${body.code}${reason}${message}` };
  }
  return { ok: false, text: `HTTP ${status}: ${bodyText.slice(0, 200)}` };
}

/** Signs and sends `a`; never throws (a network failure or a timeout is an answer too). */
export async function sendAdminAction(a: AdminAction, creds: Credentials, nowMs: number): Promise<AdminAnswer> {
  const { path, body } = actionRequest(a);
  const bytes = new TextEncoder().encode(body);
  try {
    const h = await signRequest(creds, `POST ${path}`, bytes, nowMs);
    const r = await fetch(path, {
      method: 'POST',
      headers: {
        [HEADER_API_KEY]: h.apiKey,
        [HEADER_TIMESTAMP]: h.timestamp,
        [HEADER_SIGNATURE]: h.signature,
        'content-type': 'application/json',
      },
      body: bytes,
      cache: 'no-store',
      signal: AbortSignal.timeout(ADMIN_REQUEST_TIMEOUT_MS),
    });
    return answerText(r.status, await r.text());
  } catch (err) {
    return { ok: false, text: `failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}
