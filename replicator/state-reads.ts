// Read-only views of a replica's applied state, shared by both hosts (node.ts over Raft,
// paxos/paxos-node.ts over Multi-Paxos): what the client port's ops 'order', 'orders' and
// 'instruments' answer. Pure: each reads the state machine at its applied index; the caller
// supplies the state hash (hosts cache it per applied index).

import { Side } from '../engine/types.js';
import type { InstrumentState, LiveOrder, OrdersDump, StateMachine } from './log.js';

/** A live order of the book (resting or a pending stop; done orders are not in it) and the applied index it was read at. */
export function liveOrderOf(sm: StateMachine, orderId: number): { applied: number; order: LiveOrder | undefined } {
  return { applied: sm.appliedIndex, order: sm.engine.order(orderId) };
}

/** Every instrument's trading state (halted, reference price) at the applied index, in the shard config's order. */
export function instrumentStatesOf(sm: StateMachine): { applied: number; instruments: InstrumentState[] } {
  const instruments = sm.engine.instruments.map((i) => ({
    symbol: i.cfg.symbol,
    halted: i.halted,
    referencePrice: i.referencePrice,
  }));
  return { applied: sm.appliedIndex, instruments };
}

/** The id of the account's live order with this client order id, and the applied index. */
export function liveOrderIdOfAccount(
  sm: StateMachine,
  account: number,
  clOrdId: string,
): { applied: number; orderId: number | undefined } {
  return { applied: sm.appliedIndex, orderId: sm.engine.liveOrderIdOf(account, clOrdId) };
}

/** The resting orders of the book, instrument by instrument, bids then asks, at most `max`. */
export function ordersDumpOf(sm: StateMachine, max: number, stateHash: string): OrdersDump {
  const engine = sm.engine;
  const orders: OrdersDump['orders'] = [];
  let truncated = false;
  outer: for (const inst of engine.config.instruments) {
    for (const side of [Side.BUY, Side.SELL] as const) {
      for (const o of engine.bookOrders(inst.symbol, side)) {
        if (orders.length >= max) {
          truncated = true;
          break outer;
        }
        const full = engine.order(o.orderId);
        orders.push({
          orderId: o.orderId,
          account: o.account,
          clOrdId: full?.clOrdId ?? '',
          symbol: inst.symbol,
          side: side === Side.BUY ? 'BUY' : 'SELL',
          price: o.price,
          leavesQty: o.leavesQty,
        });
      }
    }
  }
  return {
    applied: sm.appliedIndex,
    stateHash,
    execIdLast: engine.execIdLast,
    liveOrderCount: engine.liveOrderCount,
    truncated,
    orders,
  };
}
