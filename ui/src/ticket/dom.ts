// Small DOM builders for the ticket's panels, over the page's el() (../dom.ts): text only, never HTML from data.

import { el } from '../dom.js';

export function select(id: string, options: [value: string, text: string][]): HTMLSelectElement {
  const s = el('select', { id });
  for (const [value, text] of options) s.add(new Option(text, value));
  return s;
}

export function cell(row: HTMLTableRowElement, text: string, cls = ''): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  if (cls !== '') td.className = cls;
  return td;
}
