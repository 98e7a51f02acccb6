// How the market view writes numbers and times. Prices and quantities are integer units inside;
// they are shown through api/decimal.ts formatUnits with the instrument's decimals (exact, never
// a float). A float appears only as a chart coordinate (the charting library draws numbers).

import { formatUnits } from '../../../api/decimal.js';

export const DASH = '—';

export interface Decimals {
  price: number;
  qty: number;
}

export function priceText(units: number | bigint | null | undefined, d: Decimals): string {
  return units === null || units === undefined ? DASH : formatUnits(units, d.price);
}

export function qtyText(units: number | bigint | null | undefined, d: Decimals): string {
  return units === null || units === undefined ? DASH : formatUnits(units, d.qty);
}

/** (bid + ask) / 2 exactly: one more decimal when the sum is odd. */
export function midText(bid: number, ask: number, d: Decimals): string {
  const sum = BigInt(bid) + BigInt(ask);
  return sum % 2n === 0n ? formatUnits(sum / 2n, d.price) : formatUnits(sum * 5n, d.price + 1);
}

/** A chart coordinate (drawing only): units / 10^decimals. */
export function chartNumber(units: number | bigint, decimals: number): number {
  return Number(units) / 10 ** decimals;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** HH:MM:SS.mmm UTC of a log time (µs since the epoch): the same clock as the charts' time axis. */
export function timeOfUs(tsUs: number): string {
  const t = new Date(Math.floor(tsUs / 1000));
  return `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}.${pad(t.getUTCMilliseconds(), 3)}`;
}

/** A table row of cells with text (never HTML: the values come from the server). */
export function rowOf(cells: readonly string[], className?: string): HTMLTableRowElement {
  const tr = document.createElement('tr');
  if (className !== undefined) tr.className = className;
  for (const c of cells) {
    const td = document.createElement('td');
    td.className = 'num';
    td.textContent = c;
    tr.appendChild(td);
  }
  return tr;
}

/** A panel's title and body: <h2>title</h2> then the returned element's children. */
export function panelHeading(panel: HTMLElement, title: string): HTMLHeadingElement {
  panel.replaceChildren();
  const h = document.createElement('h2');
  h.textContent = title;
  panel.appendChild(h);
  return h;
}
