// The account's open orders and recent fills from the query API (events/query/rest-server.ts),
// signed like order entry, read at sign-in and after a resume_gap. Read-your-writes: the login's
// min_seq per shard is passed as min_seq (with wait_ms), one request per shard in turn, so the
// last answer includes every report the gateway had published at the login. The query service is
// another origin: without CORS on it the browser refuses the read, and the panel works from the
// stream alone (and says so).

import type { PageContext } from '../context.js';
import { TICKET_FILLS_QUERY_LIMIT, TICKET_QUERY_WAIT_MS } from '../limits.js';
import type { AsOf, FillFields, OrderFields } from './orders-store.js';
import { type Credentials, signedFetch } from '../signing.js';

export interface History {
  orders: OrderFields[];
  ordersAsOf: AsOf;
  fills: FillFields[];
}

function errorText(status: number, body: unknown): string {
  const e = body as { code?: unknown; reason?: unknown; message?: unknown } | null;
  if (e !== null && typeof e === 'object' && typeof e.code === 'string')
    return `${e.code} ${String(e.reason)}: ${String(e.message)}`;
  return `HTTP ${status}`;
}

/** GET `path` with each shard's min_seq in turn; the last answer's body. */
async function readAfter(
  ctx: PageContext,
  creds: Credentials,
  base: string,
  path: string,
  minSeq: Record<string, number>,
): Promise<unknown> {
  const marks = Object.entries(minSeq).filter(([, seq]) => seq > 0);
  const targets =
    marks.length === 0
      ? [path]
      : marks.map(([shard, seq]) => `${path}&min_seq=${seq}&shard=${shard}&wait_ms=${TICKET_QUERY_WAIT_MS}`);
  let body: unknown;
  for (const target of targets) {
    const r = await signedFetch(ctx, creds, 'GET', target, undefined, base);
    if (r.status !== 200) throw new Error(errorText(r.status, r.body));
    body = r.body;
  }
  return body;
}

export async function loadHistory(
  ctx: PageContext,
  creds: Credentials,
  account: number,
  minSeq: Record<string, number>,
): Promise<History> {
  const base = ctx.queryUrl;
  if (base === null) throw new Error('no query service');
  const orders = (await readAfter(ctx, creds, base, `/v1/accounts/${account}/orders?state=open`, minSeq)) as {
    orders: OrderFields[];
    as_of: AsOf;
  };
  const fills = (await readAfter(
    ctx,
    creds,
    base,
    `/v1/accounts/${account}/fills?limit=${TICKET_FILLS_QUERY_LIMIT}`,
    minSeq,
  )) as { fills: FillFields[] };
  return { orders: orders.orders, ordersAsOf: orders.as_of, fills: fills.fills };
}
