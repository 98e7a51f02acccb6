// The trades tape: newest first, at most TAPE_ROWS_MAX rows; time (the trade's log time), price,
// quantity and the aggressor's side, coloured. Trades are queued as they arrive (the queue is
// bounded by the same limit: older ones would be pushed out anyway) and written once a frame.

import type { Trade } from '../../../feed/types.js';
import { TAPE_ROWS_MAX } from '../limits.js';
import { type Decimals, panelHeading, priceText, qtyText, rowOf, timeOfUs } from './market-format.js';

export class Tape {
  private readonly body: HTMLTableSectionElement;
  /** Trades not yet drawn, oldest first. */
  private pending: Trade[] = [];
  private replace = false;

  constructor(panel: HTMLElement) {
    panelHeading(panel, 'Trades');
    const table = document.createElement('table');
    table.className = 'tape-table';
    const head = table.createTHead().insertRow();
    for (const t of ['Time (UTC)', 'Price', 'Quantity', 'Side']) {
      const th = document.createElement('th');
      th.textContent = t;
      head.appendChild(th);
    }
    this.body = table.createTBody();
    panel.appendChild(table);
  }

  /** A snapshot (oldest first): the tape starts again from it. */
  reset(trades: readonly Trade[]): void {
    this.pending = trades.slice(-TAPE_ROWS_MAX);
    this.replace = true;
  }

  add(trades: readonly Trade[]): void {
    for (const t of trades) this.pending.push(t);
    if (this.pending.length > TAPE_ROWS_MAX) this.pending.splice(0, this.pending.length - TAPE_ROWS_MAX);
  }

  get dirty(): boolean {
    return this.replace || this.pending.length > 0;
  }

  render(d: Decimals): void {
    if (this.replace) this.body.replaceChildren();
    this.replace = false;
    const rows = this.pending.map((t) => {
      const side = t.side === 'BUY' ? 'bid' : 'ask';
      const tr = rowOf([timeOfUs(t.ts_us), priceText(t.price, d), qtyText(t.qty, d), t.side], side);
      tr.dataset.tradeId = String(t.trade_id);
      return tr;
    });
    this.pending = [];
    this.body.prepend(...rows.reverse());
    while (this.body.rows.length > TAPE_ROWS_MAX) this.body.lastElementChild!.remove();
  }
}
