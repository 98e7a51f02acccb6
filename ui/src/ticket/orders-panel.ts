// #orders: the account's open orders (a cancel button each) and its recent fills, drawn from
// the OrdersStore at most once per animation frame, and only when it changed. Quantities and
// prices: the report's exact *_decimal strings, else the integer units through formatUnits with
// the instrument's decimals (never a float).

import { formatUnits } from '../../../api/decimal.js';
import type { PageContext } from '../context.js';
import { el } from '../dom.js';
import { cell } from './dom.js';
import type { FillFields, OrderFields, OrdersStore } from './orders-store.js';

export type CancelOrder = (orderId: number) => void;

function shown(ctx: PageContext, text: string | undefined, units: number, symbol: string, of: 'price' | 'qty'): string {
  if (text !== undefined) return text;
  const i = ctx.instruments.get(symbol);
  if (i === undefined) return String(units);
  return formatUnits(units, of === 'price' ? i.price_decimals : i.quantity_decimals);
}

function table(cls: string, heads: string[]): HTMLTableElement {
  const t = el('table', { class: cls });
  const row = t.createTHead().insertRow();
  for (const h of heads) row.append(el('th', {}, h));
  t.createTBody();
  return t;
}

function orderRow(ctx: PageContext, o: OrderFields, cancel: CancelOrder): HTMLTableRowElement {
  const tr = el('tr', { 'data-order-id': String(o.order_id) });
  cell(tr, String(o.order_id), 'num');
  cell(tr, o.symbol);
  cell(tr, o.side, o.side === 'BUY' ? 'bid' : 'ask');
  cell(tr, o.order_type === 'LIMIT' ? shown(ctx, o.price_decimal, o.price, o.symbol, 'price') : 'market', 'num');
  cell(tr, shown(ctx, o.leaves_qty_decimal, o.leaves_qty, o.symbol, 'qty'), 'num');
  cell(tr, shown(ctx, o.cum_qty_decimal, o.cum_qty, o.symbol, 'qty'), 'num');
  cell(tr, o.order_status);
  const b = el('button', { type: 'button', class: 'tkt-cancel', 'aria-label': `Cancel order ${o.order_id}` }, 'Cancel');
  b.addEventListener('click', () => {
    b.disabled = true;
    cancel(o.order_id);
  });
  tr.insertCell().append(b);
  return tr;
}

function fillRow(ctx: PageContext, f: FillFields): HTMLTableRowElement {
  const tr = el('tr', { 'data-exec-id': String(f.exec_id) });
  cell(tr, new Date(Math.floor(f.ts_us / 1000)).toISOString().slice(11, 19));
  cell(tr, f.symbol);
  cell(tr, f.side, f.side === 'BUY' ? 'bid' : 'ask');
  cell(tr, shown(ctx, f.last_px_decimal, f.last_px, f.symbol, 'price'), 'num');
  cell(tr, shown(ctx, f.last_qty_decimal, f.last_qty, f.symbol, 'qty'), 'num');
  cell(tr, f.last_liquidity_ind === 'ADDED_LIQUIDITY' ? 'maker' : 'taker');
  cell(tr, String(f.order_id), 'num');
  return tr;
}

export interface OrdersPanel {
  /** Draws on the next animation frame if the store changed. */
  changed(): void;
  /** A line above the tables (where the data comes from, what failed); null clears it. */
  note(text: string | null): void;
}

export function ordersPanel(ctx: PageContext, root: HTMLElement, store: OrdersStore, cancel: CancelOrder): OrdersPanel {
  const noteLine = el('div', { id: 'orders-note', class: 'tkt-note', role: 'status' });
  const open = table('open-orders', ['Order', 'Symbol', 'Side', 'Price', 'Open', 'Filled', 'Status', '']);
  const fills = table('fills', ['Time', 'Symbol', 'Side', 'Price', 'Quantity', 'Role', 'Order']);
  const leftOut = el('div', { class: 'tkt-note' });
  // Each table scrolls in its own box (ui/style.css): a long list does not stretch the page.
  const scroll = (t: HTMLTableElement) => {
    const box = el('div', { class: 'tkt-scroll' });
    box.append(t);
    return box;
  };
  root.replaceChildren(
    el('h2', {}, 'Open orders'),
    noteLine,
    scroll(open),
    leftOut,
    el('h2', {}, 'Fills'),
    scroll(fills),
  );
  let drawn = -1;
  let scheduled = false;
  const draw = () => {
    scheduled = false;
    if (drawn === store.version) return;
    drawn = store.version;
    open.tBodies[0]!.replaceChildren(...[...store.open.values()].map((o) => orderRow(ctx, o, cancel)));
    fills.tBodies[0]!.replaceChildren(...store.fills.map((f) => fillRow(ctx, f)));
    const more = `${store.openLeftOut}${store.openLeftOutCapped ? '+' : ''}`;
    leftOut.textContent = store.openLeftOut > 0 ? `${more} more open orders not shown` : '';
  };
  return {
    changed() {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(draw);
    },
    note(text) {
      noteLine.textContent = text ?? '';
    },
  };
}
