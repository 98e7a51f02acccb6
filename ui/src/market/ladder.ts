// The order book ladder: the best LADDER_LEVELS_PER_SIDE levels a side from the page's l2 book,
// asks above (best at the bottom), a spread/mid line, bids below (best at the top); price, size
// and cumulative size with the instrument's decimals. The rows are built once; a frame only
// rewrites the cells whose text changed.

import type { LocalL2Book } from '../../../feed/client/local-book.js';
import type { Level } from '../../../feed/types.js';
import { LADDER_LEVELS_PER_SIDE } from '../limits.js';
import { type Decimals, midText, panelHeading, priceText, qtyText } from './market-format.js';

interface Row {
  tr: HTMLTableRowElement;
  cells: HTMLTableCellElement[];
}

function makeRows(body: HTMLTableSectionElement, side: 'bid' | 'ask'): Row[] {
  const rows: Row[] = [];
  for (let k = 0; k < LADDER_LEVELS_PER_SIDE; k++) {
    const tr = document.createElement('tr');
    tr.className = `${side} empty`;
    const cells = [0, 1, 2].map(() => {
      const td = document.createElement('td');
      td.className = 'num';
      tr.appendChild(td);
      return td;
    });
    body.appendChild(tr);
    rows.push({ tr, cells });
  }
  return rows;
}

function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export class Ladder {
  private readonly bidRows: Row[];
  private readonly askRows: Row[];
  private readonly spreadCell: HTMLTableCellElement;

  constructor(panel: HTMLElement) {
    panelHeading(panel, 'Order book');
    const table = document.createElement('table');
    table.className = 'ladder-table';
    const head = table.createTHead().insertRow();
    for (const t of ['Price', 'Size', 'Total']) {
      const th = document.createElement('th');
      th.textContent = t;
      head.appendChild(th);
    }
    const asks = table.createTBody();
    asks.className = 'asks';
    const spread = table.createTBody();
    spread.className = 'spread';
    this.spreadCell = spread.insertRow().insertCell();
    this.spreadCell.colSpan = 3;
    const bids = table.createTBody();
    bids.className = 'bids';
    // Asks are shown worst first so that the best ask sits on the spread line: built in that order.
    this.askRows = makeRows(asks, 'ask').reverse();
    this.bidRows = makeRows(bids, 'bid');
    panel.appendChild(table);
  }

  render(book: LocalL2Book, synced: boolean, d: Decimals): void {
    const bids = synced ? book.levels('BUY', LADDER_LEVELS_PER_SIDE) : [];
    const asks = synced ? book.levels('SELL', LADDER_LEVELS_PER_SIDE) : [];
    fill(this.bidRows, bids, d);
    fill(this.askRows, asks, d);
    const b = bids[0];
    const a = asks[0];
    let text = synced ? 'spread — · mid —' : 'waiting for the book…';
    if (b !== undefined && a !== undefined)
      text = `spread ${priceText(a[0] - b[0], d)} · mid ${midText(b[0], a[0], d)}`;
    setText(this.spreadCell, text);
  }
}

/** Rows best first; the cumulative size is a BigInt (a sum of levels can pass 2^53). */
function fill(rows: Row[], levels: Level[], d: Decimals): void {
  let total = 0n;
  for (let k = 0; k < rows.length; k++) {
    const row = rows[k]!;
    const l = levels[k];
    if (l === undefined) {
      row.tr.classList.add('empty');
      for (const c of row.cells) setText(c, '');
      continue;
    }
    total += BigInt(l[1]);
    row.tr.classList.remove('empty');
    setText(row.cells[0]!, priceText(l[0], d));
    setText(row.cells[1]!, qtyText(l[1], d));
    setText(row.cells[2]!, qtyText(total, d));
  }
}
