// The console's table builders, over the page's el() (../dom.ts): text through textContent only.

import { el } from '../dom.js';

/** A table with a header row; the body is returned for the caller to fill. */
export function table(
  attrs: Record<string, string>,
  columns: readonly (readonly [string, string])[],
): { table: HTMLTableElement; body: HTMLTableSectionElement } {
  const t = el('table', attrs);
  const head = el('tr');
  for (const [id, heading] of columns) head.append(el('th', { scope: 'col', 'data-col': id }, heading));
  t.append(el('thead'), el('tbody'));
  t.tHead!.append(head);
  return { table: t, body: t.tBodies[0]! };
}

export function cell(col: string, text: string, cls?: string): HTMLTableCellElement {
  return el('td', cls === undefined ? { 'data-col': col } : { 'data-col': col, class: cls }, text);
}
