// The order form of #ticket: side, type, price and quantity as exact decimal strings, time in
// force, post-only. Checked in the page first (order-body.ts: the instrument's decimals; the
// error is shown and nothing is sent), then POST /v1/orders signed; the reply (the order's id and
// status) or the error's code, reason and message is shown under it.

import type { PageContext } from '../context.js';
import { TICKET_REPLY_CHARS_MAX, TICKET_REQUEST_TIMEOUT_MS } from '../limits.js';
import { el, labelled } from '../dom.js';
import { select } from './dom.js';
import { newClientOrderId, orderBody, type TicketInput } from './order-body.js';
import type { SignedReply } from '../signing.js';

export type PlaceOrder = (body: Record<string, unknown>) => Promise<SignedReply>;

/** What the line under the ticket says about a reply of the gateway. */
export function replyText(r: SignedReply): { ok: boolean; text: string } {
  const b = r.body as Record<string, unknown> | string | null;
  if (b !== null && typeof b === 'object' && typeof b.code === 'string')
    return { ok: false, text: `${b.code} ${String(b.reason)}: ${String(b.message)}` };
  const reports = (b as { result?: { reports?: Record<string, unknown>[] } } | null)?.result?.reports;
  const last = reports?.[reports.length - 1];
  if (r.status >= 200 && r.status < 300 && last !== undefined)
    return { ok: true, text: `order ${String(last.order_id)} ${String(last.order_status)}` };
  return {
    ok: false,
    text: `HTTP ${r.status} ${String(typeof b === 'string' ? b : JSON.stringify(b))}`.slice(0, TICKET_REPLY_CHARS_MAX),
  };
}

/** A request that got no answer: never sent, or (timed out) sent and perhaps taken. */
export function unansweredText(what: string, err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError')
    return `${what}: no answer within ${TICKET_REQUEST_TIMEOUT_MS / 1000} s; it may have been taken (the open orders will say)`;
  return `${what} not sent: ${String(err)}`;
}

function placeholders(ctx: PageContext, price: HTMLInputElement, qty: HTMLInputElement, title: HTMLElement): void {
  const i = ctx.instrument;
  title.textContent = ctx.symbol;
  price.placeholder = `price (${i.price_decimals} decimals)`;
  qty.placeholder = `quantity (${i.quantity_decimals} decimals)`;
}

export function orderForm(ctx: PageContext, place: PlaceOrder): HTMLFormElement {
  const root = el('form', { id: 'tkt-order', autocomplete: 'off' });
  const title = el('h3', {});
  const side = select('tkt-side', [
    ['BUY', 'Buy'],
    ['SELL', 'Sell'],
  ]);
  const type = select('tkt-type', [
    ['LIMIT', 'Limit'],
    ['MARKET', 'Market'],
  ]);
  const price = el('input', { id: 'tkt-price', inputmode: 'decimal', spellcheck: 'false' });
  const qty = el('input', { id: 'tkt-qty', inputmode: 'decimal', spellcheck: 'false' });
  const tif = select(
    'tkt-tif',
    ['GTC', 'IOC', 'FOK', 'DAY'].map((t) => [t, t]),
  );
  const postOnly = el('input', { id: 'tkt-post-only', type: 'checkbox' });
  const submit = el('button', { id: 'tkt-submit', type: 'submit', class: 'bid' }, 'Buy');
  const reply = el('div', { id: 'tkt-reply', role: 'status' });
  const grid = el('div', { class: 'tkt-grid' });
  grid.append(
    labelled('Side', side),
    labelled('Type', type),
    labelled('Price', price),
    labelled('Quantity', qty),
    labelled('Time in force', tif),
    labelled('Post-only', postOnly),
  );
  root.append(title, grid, submit, reply);
  placeholders(ctx, price, qty, title);
  ctx.onSymbol(() => placeholders(ctx, price, qty, title));
  const syncSide = () => {
    submit.textContent = side.value === 'BUY' ? 'Buy' : 'Sell';
    submit.className = side.value === 'BUY' ? 'bid' : 'ask';
  };
  side.addEventListener('change', syncSide);
  type.addEventListener('change', () => {
    price.disabled = type.value === 'MARKET';
    if (type.value === 'MARKET' && tif.value !== 'IOC' && tif.value !== 'FOK') tif.value = 'IOC';
  });
  const show = (ok: boolean, text: string) => {
    reply.dataset.state = ok ? 'ok' : 'error';
    reply.textContent = text;
  };
  let counter = 0;
  root.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input: TicketInput = {
      side: side.value as TicketInput['side'],
      orderType: type.value as TicketInput['orderType'],
      price: price.value,
      quantity: qty.value,
      timeInForce: tif.value as TicketInput['timeInForce'],
      postOnly: postOnly.checked,
      clientOrderId: newClientOrderId(Date.now(), ++counter),
    };
    const check = orderBody(input, ctx.instrument);
    if (!check.ok) return show(false, `${check.code}: ${check.message}`);
    show(true, 'sending…');
    place(check.body).then(
      (r) => {
        const t = replyText(r);
        show(t.ok, t.text);
      },
      (err: unknown) => show(false, unansweredText('order', err)),
    );
  });
  return root;
}
