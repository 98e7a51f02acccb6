// The user stream's position updates (no I/O): what one fill report does to the account's
// holdings, derived from that report alone — so a resumed stream, or a gateway restored from its
// journal, regenerates each update with its report and nothing more is held or journaled.
//
// A BUY of q at p is base +q and quote −p·q; a SELL the opposite. Integer units as in reports:
// base_delta in quantity units, quote_delta in price × quantity units, which can pass 2^53 on a
// wide instrument (engine/notional.ts): then it is a bigint, written as its exact integer literal
// (api/json-exact.ts), like every notional. The `*_decimal` strings have the report's decimals
// (quote: price + quantity decimals, as cum_notional_decimal), read off the report's own
// last_px_decimal / last_qty_decimal, present whenever the report has them.

import type { ExecutionReportOut } from '../api/execution-report.js';
import { formatUnits } from '../api/decimal.js';
import { jsonStringifyExact } from '../api/json-exact.js';
import { shardOfOrderId } from '../api/order-ids.js';
import { baseOf, quoteOf } from '../api/symbol-currencies.js';
import type { Notional } from '../engine/notional.js';

/** A position_update message without its type, epoch and stream_seq (those of its report). */
export interface PositionUpdate {
  /** The report's shard (of its order id) and engine `seq`: what a client compares with the query API's `as_of`. */
  shard: number;
  seq: number;
  exec_id: number;
  symbol: string;
  base_currency: string;
  quote_currency: string;
  /** Signed, quantity units. */
  base_delta: number;
  /** Signed, price × quantity units: a bigint beyond ±(2^53 − 1). */
  quote_delta: Notional;
  base_delta_decimal?: string;
  quote_delta_decimal?: string;
}

/** Digits after the point of a decimal string ("49990.00" → 2, "7" → 0). */
function decimalsOf(text: string): number {
  const k = text.indexOf('.');
  return k < 0 ? 0 : text.length - k - 1;
}

/** p × q exactly: a number while the product is a safe integer (then the double product is exact), else a bigint. */
function exactProduct(p: number, q: number): Notional {
  const n = p * q;
  return n <= Number.MAX_SAFE_INTEGER ? n : BigInt(p) * BigInt(q);
}

/** The update of a fill report (last_qty > 0); undefined for every other report. */
export function positionUpdateOf(r: ExecutionReportOut): PositionUpdate | undefined {
  if (!(r.last_qty > 0)) return undefined;
  const buy = r.side === 'BUY';
  const notional = exactProduct(r.last_px, r.last_qty);
  const quoteDelta: Notional = buy ? -notional : notional;
  const u: PositionUpdate = {
    shard: shardOfOrderId(r.order_id),
    seq: r.seq,
    exec_id: r.exec_id,
    symbol: r.symbol,
    base_currency: baseOf(r.symbol),
    quote_currency: quoteOf(r.symbol),
    base_delta: buy ? r.last_qty : -r.last_qty,
    quote_delta: quoteDelta === 0 ? 0 : quoteDelta,
  };
  if (r.last_px_decimal !== undefined && r.last_qty_decimal !== undefined) {
    const qd = decimalsOf(r.last_qty_decimal);
    u.base_delta_decimal = formatUnits(u.base_delta, qd);
    u.quote_delta_decimal = formatUnits(u.quote_delta, decimalsOf(r.last_px_decimal) + qd);
  }
  return u;
}

/** The message as sent, right after its report: `{"type":"position_update","epoch","stream_seq",…}`. */
export function positionUpdateMessage(epoch: string, streamSeq: number, u: PositionUpdate): string {
  return jsonStringifyExact({ type: 'position_update', epoch, stream_seq: streamSeq, ...u });
}
