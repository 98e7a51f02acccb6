// The page's open orders and fills (ui/src/ticket/orders-store.ts), pure: what the #orders panel
// holds as the user stream's reports come in, at and beyond its bounds.

import { describe, expect, it } from 'vitest';
import { TICKET_LEFT_OUT_IDS_MAX, TICKET_OPEN_ORDERS_MAX } from '../../ui/src/limits.js';
import { OrdersStore, type StreamReport } from '../../ui/src/ticket/orders-store.js';

let execId = 0;

function report(orderId: number, status: string, over: Partial<StreamReport> = {}): StreamReport {
  return {
    order_id: orderId,
    client_order_id: `c-${orderId}`,
    symbol: 'BTC-USD',
    side: 'BUY',
    order_type: 'LIMIT',
    time_in_force: 'GTC',
    order_status: status,
    price: 5_000_000,
    order_qty: 100,
    cum_qty: 0,
    leaves_qty: 100,
    seq: orderId,
    exec_id: ++execId,
    exec_type: status === 'NEW' ? 'NEW' : 'TRADE',
    trade_id: 0,
    last_qty: 0,
    last_px: 0,
    last_liquidity_ind: 'ADDED_LIQUIDITY',
    ts_us: 1,
    reason: '',
    ...over,
  };
}

describe('the orders store', () => {
  it('counts each open order it could not hold once, and no more once it is no longer open', () => {
    const store = new OrdersStore();
    for (let id = 1; id <= TICKET_OPEN_ORDERS_MAX; id++) store.applyReport(report(id, 'NEW'));
    expect(store.open.size).toBe(TICKET_OPEN_ORDERS_MAX);
    const extra = TICKET_OPEN_ORDERS_MAX + 1;
    store.applyReport(report(extra, 'NEW'));
    // The same order partly filled, twice: still one order left out.
    const fill = { cum_qty: 10, leaves_qty: 90, last_qty: 10, last_px: 5_000_000 };
    store.applyReport(report(extra, 'PARTIALLY_FILLED', fill));
    store.applyReport(report(extra, 'PARTIALLY_FILLED', { ...fill, cum_qty: 20, leaves_qty: 80 }));
    expect(store.openLeftOut).toBe(1);
    expect(store.open.has(extra)).toBe(false);
    expect(store.fills.length).toBe(2);
    store.applyReport(report(extra, 'CANCELED'));
    expect(store.openLeftOut).toBe(0);
    // A held order leaving makes room: the next new one is held.
    store.applyReport(report(1, 'CANCELED'));
    store.applyReport(report(extra + 1, 'NEW'));
    expect(store.open.has(extra + 1)).toBe(true);
    expect(store.openLeftOut).toBe(0);
  });

  it('keeps the count of orders left out bounded too', () => {
    const store = new OrdersStore();
    const total = TICKET_OPEN_ORDERS_MAX + TICKET_LEFT_OUT_IDS_MAX + 500;
    for (let id = 1; id <= total; id++) store.applyReport(report(id, 'NEW'));
    expect(store.open.size).toBe(TICKET_OPEN_ORDERS_MAX);
    expect(store.openLeftOut).toBe(TICKET_LEFT_OUT_IDS_MAX);
    expect(store.openLeftOutCapped).toBe(true);
    store.clear();
    expect(store.openLeftOut).toBe(0);
    expect(store.openLeftOutCapped).toBe(false);
  });
});
