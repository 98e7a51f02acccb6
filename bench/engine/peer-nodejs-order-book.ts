// Adapter: applies our engine's command stream to nodejs-order-book (v10), the peer.
//
// The engine Commands are translated ONCE, before timing, into the peer's call
// arguments (option objects, String(orderId) ids), so the timed loop of the peer is
// only its own API calls, as the timed loop of our engine is only engine.apply().
//
// Mapping
//   new LIMIT GTC/IOC/FOK -> ob.limit({ id: String(seq), side, size, price, timeInForce, accountId })
//   new MARKET (IOC)      -> ob.market({ side, size, accountId })
//   cancel by orderId     -> ob.cancel(String(orderId))
//   amend (price only)    -> ob.modify(String(orderId), { price })
//
// Semantic differences (honest list; the benchmark streams avoid the ones that would
// change the outcome, and the bench checks that both books end identical):
//   * modify() is cancel + re-insert as a fresh GTC limit with stpMode NONE and no
//     accountId; it always loses time priority (ours keeps priority on a quantity
//     decrease at the same price) and its `size` is the remaining quantity (our
//     `qty` is the FIX total quantity, filled included). The streams only use
//     price-only amends of live orders, where both do the same thing: keep the
//     remaining quantity, move to the tail of the new level, trade if it crosses.
//   * No MARKET FOK in the peer (market() is IOC-like); the streams use MARKET IOC only.
//   * No price band, tick/lot, account, clOrdId, sequence or time validation in the
//     peer; ours validates every command (the band is configured very wide, never hit).
//   * Self-trade prevention: both run with NONE (self-trades happen), because the peer's
//     modify() resets the order's STP to NONE anyway.
//   * Output: the peer returns an object per call (done[] orders, partial, errors); it
//     emits no per-fill trade records, no execution reports with exec ids / cumulative
//     quantities / notional, and no book-level deltas. Our engine writes all of those
//     (trade + maker exec + taker exec per fill, a book event per level change) into
//     its EventBuffer. So per command the peer produces less output than ours.
//   * An FOK that cannot fill is an error response in the peer (LIMIT_ORDER_FOK_NOT_FILLABLE),
//     an EXPIRED (FILL_OR_KILL) report in ours. An IOC remainder is first inserted into
//     the peer's book and then removed; ours never rests it.
//   * The peer stamps Date.now() on every resting order and keeps ids in a plain object.

import { OrderBook, Side as PeerSide } from 'nodejs-order-book';
import type { LimitOrderOptions, MarketOrderOptions } from 'nodejs-order-book';
import type { TimeInForce as PeerTif } from 'nodejs-order-book/dist/types/types.js';
import { OrdType, Side, Tif, type Command } from '../../engine/types.js';

export const PEER_NAME = 'nodejs-order-book';

export const PeerOpKind = { LIMIT: 0, MARKET: 1, CANCEL: 2, MODIFY: 3 } as const;
type PeerOpKind = (typeof PeerOpKind)[keyof typeof PeerOpKind];

/** One pre-translated peer call. A single class so the peer's loop is monomorphic too. */
export class PeerOp {
  constructor(
    readonly kind: PeerOpKind,
    readonly id: string,
    readonly limit: LimitOrderOptions | null,
    readonly market: MarketOrderOptions | null,
    readonly price: { price: number } | null,
  ) {}
}

const TIF: Record<number, PeerTif> = {
  [Tif.GTC]: 'GTC' as PeerTif,
  [Tif.IOC]: 'IOC' as PeerTif,
  [Tif.FOK]: 'FOK' as PeerTif,
};

/** Translates the first n commands (throws on anything the adapter cannot map faithfully). */
export function toPeerOps(commands: readonly Command[], n: number): PeerOp[] {
  const ops: PeerOp[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const c = commands[i]!;
    switch (c.type) {
      case 'new': {
        const side = c.side === Side.BUY ? PeerSide.BUY : PeerSide.SELL;
        const accountId = String(c.account);
        if (c.ordType === OrdType.LIMIT) {
          const tif = TIF[c.tif ?? Tif.GTC];
          if (tif === undefined) throw new Error(`peer adapter: TIF ${c.tif} not supported by the peer`);
          const id = String(c.seq);
          ops[i] = new PeerOp(
            PeerOpKind.LIMIT,
            id,
            { id, side, size: c.qty, price: c.price!, timeInForce: tif, accountId },
            null,
            null,
          );
        } else if (c.ordType === OrdType.MARKET && (c.tif === undefined || c.tif === Tif.IOC)) {
          ops[i] = new PeerOp(PeerOpKind.MARKET, '', null, { side, size: c.qty, accountId }, null);
        } else {
          throw new Error(`peer adapter: order type ${c.ordType} / tif ${c.tif} not mapped`);
        }
        if (c.postOnly || c.displayQty || c.stp)
          throw new Error('peer adapter: post-only / iceberg / per-order STP not mapped');
        break;
      }
      case 'cancel':
        if (c.orderId === undefined) throw new Error('peer adapter: cancel by clOrdId not mapped');
        ops[i] = new PeerOp(PeerOpKind.CANCEL, String(c.orderId), null, null, null);
        break;
      case 'amend':
        if (c.orderId === undefined || c.price === undefined || c.qty !== undefined || c.stopPrice !== undefined) {
          throw new Error(
            'peer adapter: only price-only amends by orderId are mapped (peer modify size = remaining, ours qty = total)',
          );
        }
        ops[i] = new PeerOp(PeerOpKind.MODIFY, String(c.orderId), null, null, { price: c.price });
        break;
      default:
        throw new Error(`peer adapter: command ${c.type} not mapped`);
    }
  }
  return ops;
}

export function newPeerBook(): OrderBook {
  return new OrderBook();
}

/** Applies one op; the return value is the peer's response (ignored by the timed loops). */
export function applyPeer(ob: OrderBook, op: PeerOp): unknown {
  switch (op.kind) {
    case PeerOpKind.LIMIT:
      return ob.limit(op.limit!);
    case PeerOpKind.MARKET:
      return ob.market(op.market!);
    case PeerOpKind.CANCEL:
      return ob.cancel(op.id);
    case PeerOpKind.MODIFY:
      return ob.modify(op.id, op.price!);
  }
}

export interface PeerCheck {
  /** error responses by error message */
  errors: Record<string, number>;
  /** FOK orders the peer refused as not fillable (expected: our engine expires them) */
  fokKilled: number;
  /** cancel() calls that found no order (would mean the peer diverged from our engine) */
  cancelNotFound: number;
}

/** Untimed pass that inspects every response (used as the peer's warm-up). */
export function runPeerChecked(ob: OrderBook, ops: readonly PeerOp[]): PeerCheck {
  const check: PeerCheck = { errors: {}, fokKilled: 0, cancelNotFound: 0 };
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const r = applyPeer(ob, op) as { err?: { message: string } | null } | undefined;
    if (op.kind === PeerOpKind.CANCEL) {
      if (r === undefined) check.cancelNotFound++;
      continue;
    }
    const err = r?.err;
    if (err) {
      if (op.kind === PeerOpKind.LIMIT && op.limit!.timeInForce === 'FOK' && /FOK/.test(err.message)) check.fokKilled++;
      else check.errors[err.message] = (check.errors[err.message] ?? 0) + 1;
    }
  }
  return check;
}

/** The peer's aggregated book (price → qty per side). */
export function peerBook(ob: OrderBook): { bids: Map<number, number>; asks: Map<number, number> } {
  const [asks, bids] = ob.depth();
  return { bids: new Map(bids), asks: new Map(asks) };
}
