// What the operator console shows, as text, from two successive cluster views (the previous one
// gives the rates): pure, so the figures are the same whichever way they are drawn. Anything the
// view does not carry (a member without metrics, an unreachable one, the first view for a rate)
// is shown as NONE rather than as a guess.

import type {
  UiClusterView,
  UiMemberView,
  UiPublisherView,
  UiReadModelView,
  UiShardView,
} from '../../../api/ui-contract.js';

/** Shown for every figure the server did not give (or a rate with no previous view). */
export const NONE = '—';

/** The member table's columns: id (data-col on each cell) and heading. */
export const MEMBER_COLUMNS = [
  ['member', 'Member'],
  ['role', 'Role'],
  ['term', 'Term'],
  ['commit', 'Commit'],
  ['applied', 'Applied'],
  ['lag', 'Lag'],
  ['behind', 'Behind leader'],
  ['elections', 'Elections'],
  ['fsync', 'fsync p99 ms'],
  ['commands', 'Commands/s'],
  ['feed', 'Feed conns / subs'],
  ['status', 'Status'],
] as const;

export type MemberColumn = (typeof MEMBER_COLUMNS)[number][0];

export interface MemberRow {
  member: number;
  leader: boolean;
  reachable: boolean;
  cells: Record<MemberColumn, string>;
}

export interface ShardRows {
  shard: number;
  symbols: string[];
  members: MemberRow[];
}

export interface GatewayFigures {
  ready: string;
  requests: string;
  ordersPerSec: string;
}

export interface PublisherRow {
  shard: number;
  reachable: boolean;
  state: string;
  lag: string;
  status: string;
}

export interface ReadModelRow {
  model: string;
  lag: string;
}

export interface ReadModelFigures {
  known: boolean;
  reachable: boolean;
  ready: string;
  status: string;
  models: ReadModelRow[];
}

export interface ConsoleFigures {
  shards: ShardRows[];
  gateway: GatewayFigures;
  publishers: PublisherRow[];
  readModels: ReadModelFigures;
}

function num(n: number | undefined): string {
  return n === undefined ? NONE : String(n);
}

/**
 * Events per second of a counter between two views; NONE without both, when no time passed or
 * when the counter went back (the process restarted: its counters start again at 0).
 */
export function ratePerSec(
  prev: number | undefined,
  prevTimeMs: number | undefined,
  cur: number | undefined,
  curTimeMs: number,
): string {
  if (prev === undefined || cur === undefined || prevTimeMs === undefined) return NONE;
  const dtMs = curTimeMs - prevTimeMs;
  if (dtMs <= 0 || cur < prev) return NONE;
  const perSec = ((cur - prev) * 1000) / dtMs;
  return perSec >= 100 ? String(Math.round(perSec)) : perSec.toFixed(1);
}

/** A histogram bucket's bound in ms, without binary-fraction noise (2.5000000000000004 → 2.5). */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return NONE;
  return String(Number(ms.toPrecision(3)));
}

function statusText(reachable: boolean, error: string | undefined): string {
  return reachable ? 'ok' : `unreachable${error !== undefined && error !== '' ? `: ${error}` : ''}`;
}

function memberRow(m: UiMemberView, prev: UiMemberView | undefined, prevTimeMs: number | undefined, timeMs: number) {
  const x = m.metrics;
  const cells: Record<MemberColumn, string> = {
    member: String(m.member),
    role: m.reachable ? (m.role ?? NONE) : NONE,
    term: num(m.term),
    commit: num(m.commit),
    applied: num(m.applied),
    lag: num(m.lag),
    behind: num(m.behind_leader),
    elections: num(x?.elections_total),
    fsync: formatMs(x?.fsync_p99_ms),
    commands: ratePerSec(prev?.metrics?.commands_applied_total, prevTimeMs, x?.commands_applied_total, timeMs),
    feed: x === undefined ? NONE : `${x.feed_connections} / ${x.feed_subscriptions}`,
    status: statusText(m.reachable, m.error),
  };
  return { member: m.member, leader: m.reachable && m.role === 'LEADER', reachable: m.reachable, cells };
}

function shardRows(s: UiShardView, prev: UiClusterView | undefined, timeMs: number): ShardRows {
  const before = prev?.shards.find((p) => p.shard === s.shard);
  return {
    shard: s.shard,
    symbols: s.symbols,
    members: s.members.map((m) =>
      memberRow(
        m,
        before?.members.find((p) => p.member === m.member),
        prev?.time_ms,
        timeMs,
      ),
    ),
  };
}

function publisherRow(p: UiPublisherView): PublisherRow {
  return {
    shard: p.shard,
    reachable: p.reachable,
    state: p.state ?? NONE,
    lag: num(p.lag_entries),
    status: statusText(p.reachable, p.error),
  };
}

function readModelFigures(r: UiReadModelView | null): ReadModelFigures {
  if (r === null)
    return { known: false, reachable: false, ready: NONE, status: 'not known to the gateway', models: [] };
  const models = Object.entries(r.lag_records ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([model, lag]) => ({ model, lag: String(lag) }));
  return {
    known: true,
    reachable: r.reachable,
    ready: r.ready === undefined ? NONE : r.ready ? 'yes' : 'no',
    status: statusText(r.reachable, r.error),
    models,
  };
}

/** Everything the console shows for `view`, rates against `prev` (the view before it, if any). */
export function consoleFigures(view: UiClusterView, prev: UiClusterView | undefined): ConsoleFigures {
  return {
    shards: view.shards.map((s) => shardRows(s, prev, view.time_ms)),
    gateway: {
      ready: view.gateway.ready ? 'yes' : 'no',
      requests: String(view.gateway.requests_total),
      ordersPerSec: ratePerSec(prev?.gateway.orders_total, prev?.time_ms, view.gateway.orders_total, view.time_ms),
    },
    publishers: view.publishers.map(publisherRow),
    readModels: readModelFigures(view.read_models),
  };
}
