// Audit export: the full lifecycle of orders — every command and every execution report, with
// its log index and times — for an account, an order or a time window, from the log alone
// (a replay, audit/replay.ts; nothing from the gateway or the read models).
//
// Rows, in log order (shard by shard):
//   command  a client command as logged: session (client_id, request_seq), the leader's clock
//            (ts_us), the outcome at the state machine (APPLIED; DUPLICATE, SEQUENCE_GAP,
//            SESSION_EXPIRED and UNKNOWN_SESSION were refused by the session table and changed
//            nothing), its engine seq, the command. Session registrations carry no command and
//            make no row.
//   report   an execution report, field for field what the gateway sends (api/execution-report.ts
//            reportFields, as toReport), without the per-session chain and signing fields.
//            cum_notional is exact: a wide instrument's above 2^53 − 1 (engine/notional.ts) is a
//            bigint, written as its integer literal in JSON (api/json-exact.ts) and as its
//            digits in CSV; avg_px is computed from the exact value.
//   event    another engine event about the account: cancel_reject, mass_cancel, account_status.
// Times: ts_us (integer µs since the epoch, from the log) and time (the same as ISO 8601 with
// microseconds, UTC). An event's ts_us is its command's effective time (never before the
// previous command's: engine/README.md "Time").
//
// Which rows: with --account, the account's commands (those naming it) and the reports and
// events for it; with --order, the order's reports and events and the commands of its owner
// that concern it (the new order itself, commands naming its id, and commands whose reports are
// about it, like a cancel by client order id or a mass cancel); with --from/--to, rows whose
// ts_us is in [from, to]. Filters combine (and). A time window alone gives every row.

import { ENUMS_AS_NAMES, reportFields } from '../api/execution-report.js';
import { jsonStringifyExact } from '../api/json-exact.js';
import { localOfOrderId, orderIdOf, shardOfOrderId } from '../api/order-ids.js';
import type { EventBuffer } from '../engine/event-buffer.js';
import { decodeCommand } from '../engine/command-codec.js';
import { ENUM_NAMES, eventToJson } from '../engine/json-codec.js';
import { EventKind, type Command } from '../engine/types.js';
import type { Entry } from '../replicator/log.js';
import { ApplyOutcome, OUTCOME_NAMES, type ApplyResult } from '../shard/state-machine.js';
import { BatchCursor } from '../shard/batch-codec.js';
import { Findings } from './findings.js';
import { replay, type ReplayResult, type StartMode } from './replay.js';
import type { Sources } from './sources.js';

export interface AuditFilter {
  account?: number;
  /** Global order id (shard × 2^44 + seq), as the gateway reports it. */
  orderId?: number;
  fromUs?: number;
  toUs?: number;
}

export type AuditFormat = 'jsonl' | 'csv';

export interface AuditOptions {
  sources: Sources;
  filter: AuditFilter;
  format: AuditFormat;
  from?: StartMode;
  toIndex?: number;
  write: (chunk: string) => void;
}

export interface AuditResult {
  exitCode: number;
  rows: { command: number; report: number; event: number };
  replay: ReplayResult;
}

export const CSV_COLUMNS = [
  'row',
  'shard',
  'log_index',
  'seq',
  'ts_us',
  'time',
  'committed',
  'client_id',
  'request_seq',
  'outcome',
  'type',
  'account',
  'order_id',
  'client_order_id',
  'orig_client_order_id',
  'symbol',
  'side',
  'order_type',
  'time_in_force',
  'exec_id',
  'exec_type',
  'order_status',
  'price',
  'stop_price',
  'quantity',
  'cum_qty',
  'leaves_qty',
  'last_qty',
  'last_px',
  'cum_notional',
  'display_qty',
  'reason',
  'trade_id',
  'detail',
] as const;
type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number | bigint | boolean>>;

const ENUM_FIELDS: Record<string, Map<number, string>> = {
  side: ENUM_NAMES.side,
  ordType: ENUM_NAMES.ordType,
  tif: ENUM_NAMES.tif,
  postOnly: ENUM_NAMES.postOnly,
  stp: ENUM_NAMES.stp,
};

/** A logged command in JSON form (enum names as in engine/README.md), without seq/tsUs. */
export function commandJson(c: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) {
    if (k === 'seq' || k === 'tsUs' || v === undefined) continue;
    const names = ENUM_FIELDS[k];
    out[k] = names !== undefined && typeof v === 'number' ? (names.get(v) ?? v) : v;
  }
  return out;
}

/** µs since the epoch → ISO 8601 with microseconds. */
export function isoUs(us: number): string {
  if (!Number.isSafeInteger(us) || us < 0) return '';
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 19)}.${String(us % 1_000_000).padStart(6, '0')}Z`;
}

/** An ISO time or an integer of µs since the epoch. */
export function parseTimeUs(s: string): number | undefined {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  const m = /\.(\d{1,6})(Z|[+-]\d\d:?\d\d)?$/.exec(s);
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) return undefined;
  // Date.parse keeps milliseconds only: add the sub-millisecond digits back.
  const sub = m !== null ? Number(m[1]!.padEnd(6, '0')) % 1000 : 0;
  return ms * 1000 + sub;
}

function csvCell(v: string | number | bigint | boolean | undefined): string {
  if (v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** What the row writers share: the filter, the counts, and where rows go. */
interface ExportScope {
  filter: AuditFilter;
  /** The order's seq in its shard (from filter.orderId). */
  orderSeq: number | undefined;
  rows: AuditResult['rows'];
  inWindow: (tsUs: number) => boolean;
  emit: (json: Record<string, unknown>, csv: CsvRow) => void;
}

export async function auditExport(opts: AuditOptions): Promise<AuditResult> {
  const f = opts.filter;
  const rows = { command: 0, report: 0, event: 0 };
  const orderShard = f.orderId !== undefined ? shardOfOrderId(f.orderId) : undefined;
  const orderSeq = f.orderId !== undefined ? localOfOrderId(f.orderId) : undefined;
  const commitOf = new Map<number, number>();
  const inWindow = (ts: number) => (f.fromUs === undefined || ts >= f.fromUs) && (f.toUs === undefined || ts <= f.toUs);
  const emit = (json: Record<string, unknown>, csv: CsvRow) => {
    if (opts.format === 'jsonl') opts.write(`${jsonStringifyExact(json)}\n`);
    else opts.write(`${CSV_COLUMNS.map((c) => csvCell(csv[c])).join(',')}\n`);
  };
  if (opts.format === 'csv') opts.write(`${CSV_COLUMNS.join(',')}\n`);
  const scope: ExportScope = { filter: f, orderSeq, rows, inWindow, emit };

  const onApplied = (shard: number, entry: Entry, results: ApplyResult[], ev: EventBuffer): void => {
    if (orderShard !== undefined && shard !== orderShard) return;
    const committed = entry.index <= (commitOf.get(shard) ?? 0);
    const data = entry.data;
    // results[k] is command k of the batch (a malformed entry has no results).
    const c = new BatchCursor(data, results.length);
    for (let k = 0; c.next(); k++) {
      const r = results[k]!;
      const applied = r.outcome === ApplyOutcome.APPLIED;
      const tsUs = c.tsUs;
      const cmd = decodeCommand(data, c.bodyOffset, c.bodyLength, applied ? r.seq : 0, tsUs);
      const account = (cmd as { account?: unknown } | undefined)?.account;
      const wantCommand =
        cmd !== undefined &&
        concernsOrder(orderSeq, cmd, r, ev) &&
        (f.account === undefined || account === f.account) &&
        inWindow(tsUs);
      if (wantCommand) exportCommand(scope, shard, entry.index, committed, r, cmd, tsUs);
      for (let i = r.eventsFrom; i < r.eventsTo; i++) exportEvent(scope, shard, entry.index, committed, ev, i);
    }
    // Events not attributed to a command (a malformed batch entry: the engine's reject of it).
    if (results.length === 0)
      for (let i = 0; i < ev.count; i++) exportEvent(scope, shard, entry.index, committed, ev, i);
  };

  // The commit index is known per shard before the replay starts; the hook reads it per entry.
  const sources = opts.sources;
  const result = await replay({
    sources,
    from: opts.from ?? 'auto',
    ...(opts.toIndex !== undefined ? { toIndex: opts.toIndex } : {}),
    verify: false,
    onApplied,
    onShardStart: (shard, commitKnown) => commitOf.set(shard, commitKnown),
  });
  const findings = new Findings();
  for (const x of result.findings) findings.add(x);
  for (const s of result.shards) {
    if (s.start.mode === 'snapshot')
      findings.incomplete(
        'replay',
        `the log before index ${s.start.index} is compacted into a snapshot (${s.start.replica}/${s.start.file}): commands and reports before it are not in the export`,
        { shard: s.shard },
      );
  }
  return {
    exitCode: findings.exitCode(),
    rows,
    replay: { ...result, findings: findings.list, counts: findings.counts },
  };
}

/** Does this command concern the order? (its own new order, naming its id, or own reports about it); every command does without --order. */
function concernsOrder(orderSeq: number | undefined, cmd: Command, r: ApplyResult, ev: EventBuffer): boolean {
  if (orderSeq === undefined) return true;
  if (r.outcome === ApplyOutcome.APPLIED && cmd.type === 'new' && r.seq === orderSeq) return true;
  if ((cmd as { orderId?: unknown }).orderId === orderSeq) return true;
  const account = (cmd as { account?: unknown }).account;
  for (let i = r.eventsFrom; i < r.eventsTo; i++) {
    const kind = ev.kind[i];
    if (
      (kind === EventKind.EXEC || kind === EventKind.CANCEL_REJECT) &&
      ev.orderId[i] === orderSeq &&
      ev.account[i] === account
    )
      return true;
  }
  return false;
}

/** A command row (the command passed the filter). */
function exportCommand(
  scope: ExportScope,
  shard: number,
  index: number,
  committed: boolean,
  r: ApplyResult,
  cmd: Command,
  tsUs: number,
): void {
  const applied = r.outcome === ApplyOutcome.APPLIED;
  const base = { shard, log_index: index };
  scope.rows.command++;
  const json = commandJson(cmd);
  const gid =
    applied && cmd.type === 'new'
      ? orderIdOf(shard, r.seq)
      : typeof json.orderId === 'number'
        ? orderIdOf(shard, json.orderId)
        : undefined;
  scope.emit(
    {
      row: 'command',
      ...base,
      seq: applied ? r.seq : 0,
      ts_us: tsUs,
      time: isoUs(tsUs),
      committed,
      client_id: r.clientId,
      request_seq: r.requestSeq,
      outcome: OUTCOME_NAMES[r.outcome],
      command: json,
    },
    {
      row: 'command',
      ...base,
      seq: applied ? r.seq : 0,
      ts_us: tsUs,
      time: isoUs(tsUs),
      committed,
      client_id: r.clientId,
      request_seq: r.requestSeq,
      outcome: OUTCOME_NAMES[r.outcome],
      type: String(json.type),
      account: json.account as number | undefined,
      order_id: gid,
      client_order_id: json.clOrdId as string | undefined,
      orig_client_order_id: json.origClOrdId as string | undefined,
      symbol: json.symbol as string | undefined,
      side: json.side as string | undefined,
      order_type: json.ordType as string | undefined,
      time_in_force: json.tif as string | undefined,
      price: json.price as number | undefined,
      stop_price: json.stopPrice as number | undefined,
      quantity: json.qty as number | undefined,
      display_qty: json.displayQty as number | undefined,
      detail: JSON.stringify(json),
    },
  );
}

/** Event row i of the buffer, as a report row or an event row, if it passes the filter. */
function exportEvent(
  scope: ExportScope,
  shard: number,
  index: number,
  committed: boolean,
  ev: EventBuffer,
  i: number,
): void {
  const f = scope.filter;
  const orderSeq = scope.orderSeq;
  const kind = ev.kind[i]!;
  const ts = ev.tsUs[i]!;
  if (!scope.inWindow(ts)) return;
  if (kind === EventKind.EXEC) {
    if (f.account !== undefined && ev.account[i] !== f.account) return;
    if (orderSeq !== undefined && ev.orderId[i] !== orderSeq) return;
    const e = ev.event(i);
    if (e.kind !== 'exec') return;
    const report = reportFields(shard, e, ENUMS_AS_NAMES);
    scope.rows.report++;
    scope.emit(
      { row: 'report', shard, log_index: index, time: isoUs(report.ts_us), committed, ...report },
      {
        row: 'report',
        shard,
        log_index: index,
        seq: report.seq,
        ts_us: report.ts_us,
        time: isoUs(report.ts_us),
        committed,
        type: 'exec',
        account: report.account,
        order_id: report.order_id,
        client_order_id: report.client_order_id,
        orig_client_order_id: report.orig_client_order_id,
        symbol: report.symbol,
        side: report.side,
        order_type: report.order_type,
        exec_id: report.exec_id,
        exec_type: report.exec_type,
        order_status: report.order_status,
        price: report.price,
        stop_price: report.stop_price,
        quantity: report.order_qty,
        cum_qty: report.cum_qty,
        leaves_qty: report.leaves_qty,
        last_qty: report.last_qty,
        last_px: report.last_px,
        cum_notional: report.cum_notional,
        display_qty: report.display_qty,
        reason: report.reason,
        trade_id: report.trade_id,
      },
    );
    return;
  }
  if (kind !== EventKind.CANCEL_REJECT && kind !== EventKind.MASS_CANCEL && kind !== EventKind.ACCOUNT_STATUS) {
    if (f.account !== undefined || orderSeq !== undefined || kind !== EventKind.COMMAND_REJECT) return;
  }
  if (f.account !== undefined && ev.account[i] !== f.account) return;
  if (orderSeq !== undefined && (kind !== EventKind.CANCEL_REJECT || ev.orderId[i] !== orderSeq)) return;
  const json = JSON.parse(eventToJson(ev.event(i))) as Record<string, unknown>;
  scope.rows.event++;
  const seq = ev.seq[i]!;
  scope.emit(
    { row: 'event', shard, log_index: index, seq, ts_us: ts, time: isoUs(ts), committed, ...json },
    {
      row: 'event',
      shard,
      log_index: index,
      seq,
      ts_us: ts,
      time: isoUs(ts),
      committed,
      type: String(json.kind),
      account: json.account as number | undefined,
      order_id: typeof json.orderId === 'number' && json.orderId > 0 ? orderIdOf(shard, json.orderId) : undefined,
      client_order_id: json.clOrdId as string | undefined,
      symbol: json.symbol as string | undefined,
      reason: json.reason as string | undefined,
      detail: JSON.stringify(json),
    },
  );
}
