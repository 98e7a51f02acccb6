// Draws the console's figures (console-figures.ts) into its panel: a member table per shard, the
// gateway's line, a row per publisher and the read models. Rebuilt whole at each view (a few
// dozen cells once a second); rows carry data-shard / data-member and cells data-col so they can
// be found by what they are.

import { type ConsoleFigures, MEMBER_COLUMNS, type ReadModelFigures, type ShardRows } from './console-figures.js';
import { el } from '../dom.js';
import { cell, table } from './dom.js';

export interface ClusterTables {
  /** The whole cluster part of the console (placed by the caller). */
  root: HTMLElement;
  render(figures: ConsoleFigures): void;
  /** The line saying when the view was taken, or why it could not be. */
  setUpdated(text: string, failed: boolean): void;
}

const PUBLISHER_COLUMNS = [
  ['shard', 'Shard'],
  ['state', 'State'],
  ['lag', 'Lag (entries)'],
  ['status', 'Status'],
] as const;

const READ_MODEL_COLUMNS = [
  ['model', 'Read model'],
  ['lag', 'Lag (records)'],
] as const;

function shardSection(s: ShardRows): HTMLElement {
  const section = el('section', { class: 'console-shard', 'data-shard': String(s.shard) });
  section.append(el('h3', {}, `Shard ${s.shard} · ${s.symbols.join(', ')}`));
  const { table: t, body } = table({ class: 'console-members' }, MEMBER_COLUMNS);
  for (const m of s.members) {
    const cls = m.leader ? 'leader' : m.reachable ? '' : 'unreachable';
    const tr = el('tr', { 'data-member': String(m.member), ...(cls === '' ? {} : { class: cls }) });
    for (const [col] of MEMBER_COLUMNS)
      tr.append(cell(col, m.cells[col], col === 'status' || col === 'role' ? undefined : 'num'));
    body.append(tr);
  }
  const scroll = el('div', { class: 'console-scroll' });
  scroll.append(t);
  section.append(scroll);
  return section;
}

function publisherTable(figures: ConsoleFigures): HTMLElement {
  if (figures.publishers.length === 0) return el('p', { class: 'console-none' }, 'No publisher known to the gateway.');
  const { table: t, body } = table({ class: 'console-publishers' }, PUBLISHER_COLUMNS);
  for (const p of figures.publishers) {
    const tr = el('tr', { 'data-shard': String(p.shard), ...(p.reachable ? {} : { class: 'unreachable' }) });
    tr.append(cell('shard', String(p.shard), 'num'), cell('state', p.state), cell('lag', p.lag, 'num'));
    tr.append(cell('status', p.status));
    body.append(tr);
  }
  return t;
}

function readModelPart(r: ReadModelFigures): HTMLElement[] {
  const line = el('p', { class: r.known && !r.reachable ? 'console-read-models unreachable' : 'console-read-models' });
  line.textContent = r.known ? `ready: ${r.ready} · ${r.status}` : r.status;
  if (r.models.length === 0) return [line];
  const { table: t, body } = table({ class: 'console-read-model-lag' }, READ_MODEL_COLUMNS);
  for (const m of r.models) {
    const tr = el('tr', { 'data-model': m.model });
    tr.append(cell('model', m.model), cell('lag', m.lag, 'num'));
    body.append(tr);
  }
  return [line, t];
}

export function clusterTables(): ClusterTables {
  const root = el('div', { class: 'console-cluster' });
  const updated = el('p', { class: 'console-updated', role: 'status' }, 'waiting for the first cluster view…');
  const shards = el('div', { class: 'console-shards' });
  const gateway = el('p', { class: 'console-gateway' });
  const publishers = el('div', { class: 'console-publishers-box' });
  const readModels = el('div', { class: 'console-read-models-box' });
  root.append(updated, shards, el('h2', {}, 'Gateway'), gateway, el('h2', {}, 'Publishers'), publishers);
  root.append(el('h2', {}, 'Read models'), readModels);
  return {
    root,
    render(f) {
      shards.replaceChildren(...f.shards.map(shardSection));
      gateway.textContent = `ready: ${f.gateway.ready} · requests: ${f.gateway.requests} · orders/s: ${f.gateway.ordersPerSec}`;
      publishers.replaceChildren(publisherTable(f));
      readModels.replaceChildren(...readModelPart(f.readModels));
    },
    setUpdated(text, failed) {
      updated.textContent = text;
      updated.classList.toggle('failed', failed);
    },
  };
}
