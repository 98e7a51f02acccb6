// The chaos checker: given the clients' history (chaos/workload.ts) and, after healing, the
// committed log, the replicas' state hashes and the read models, it verifies (chaos/README.md):
//   1. every ok new order is in the log exactly once (applied once by the session table);
//      every failed one is absent (a refusal changes nothing);
//   2. the execution reports a client received equal, field for field, those of a reference
//      replay of the log (same exec id → same report);
//   3. real-time order: if A was acknowledged before B was sent, A is before B in the log;
//   4. every replica holds the same state hash at the same applied index, equal to the replay's;
//   5. the read models equal a projection of the replayed log, and each acked order's view
//      in them equals the reference;
//   6. unknown outcomes are resolved from the log (applied once, or absent);
//   7. every replica's log, read through its committed index, is the same log: where two differ
//      the report names the first differing index and which replicas hold what there.
// K = acknowledged new orders that pass 1, 2, 4, 5 and 7 / acknowledged new orders.
// The checker throws only on a log it cannot replay (an undecodable batch); chaos/run.ts keeps
// every data directory then, as on any violation.

import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { decodeCommand } from '../engine/command-codec.js';
import { EventKind, type ExecReport, type ShardConfig } from '../engine/types.js';
import { projection, replayRecords } from '../events/read-models/reference.js';
import type { ReadModels } from '../events/read-models/model.js';
import { toReport, type ExecutionReportOut } from '../api/execution-report.js';
import { EntryType, type Entry } from '../replicator/log.js';
import { ApplyOutcome, ShardStateMachine } from '../shard/state-machine.js';
import { decodeBatch } from '../shard/batch-codec.js';
import type { Op } from './workload.js';
import { commandData } from '../replicator/log.js';

/** Where a command took effect: log index, then its place in the entry's batch. */
interface Position {
  index: number;
  k: number;
}

const before = (a: Position, b: Position) => a.index < b.index || (a.index === b.index && a.k < b.k);

export interface ReplicaHash {
  id: number;
  applied: number;
  stateHash: string;
}

/** One replica's log as it served it (op 'entries'), from index 1 through its committed index. */
export interface ReplicaLog {
  id: number;
  entries: Entry[];
  /** Set when the log could not be read whole (it then holds what was read). */
  error?: string;
}

/** Where replicas' logs first differ: the index, and the replicas grouped by what they hold there. */
export interface LogDivergence {
  index: number;
  groups: { ids: number[]; term: number; type: string; bytes: number; sha256: string }[];
  /** Each replica's last index as read (a replica behind the others is not divergent by itself). */
  lastIndex: { id: number; last: number }[];
}

export interface CheckInput {
  ops: Op[];
  entries: Entry[];
  config: ShardConfig;
  replicas: ReplicaHash[];
  /** Every replica's log, compared entry by entry (check 7); undefined: not checked. */
  logs?: ReplicaLog[];
  /** The read models after catching up (undefined: not checked). */
  readModels: ReadModels | undefined;
}

export interface Violation {
  check:
    | 'exactly-once'
    | 'refused-absent'
    | 'reports'
    | 'real-time-order'
    | 'replicas'
    | 'logs'
    | 'read-models'
    | 'unknown-resolved';
  detail: string;
  op?: number;
}

export interface CheckResult {
  acked: number;
  consistent: number;
  /** K: consistent / acked (1 when nothing was acked). */
  k: number;
  lost: number;
  duplicates: number;
  failed: number;
  unknown: number;
  unknownApplied: number;
  unknownAbsent: number;
  reportsCompared: number;
  orderPairsChecked: number;
  violations: Violation[];
  stateHash: string;
  appliedIndex: number;
  /** Check 7: the first index where two replicas' logs differ (undefined: none, or not checked). */
  divergence: LogDivergence | undefined;
}

const ENTRY_TYPE_NAMES = new Map<number, string>(Object.entries(EntryType).map(([name, v]) => [v, name]));

function sameEntry(a: Entry, b: Entry): boolean {
  return (
    a.term === b.term &&
    a.type === b.type &&
    Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(b.data)
  );
}

/**
 * The first log index at which two replicas hold different entries (term, type or bytes), with
 * the replicas grouped by what they hold there; undefined if every index any two replicas both
 * hold is the same. A replica whose log is shorter is compared as far as it goes: being behind
 * is not diverging (check 4 reports a replica that did not converge).
 */
export function firstLogDivergence(logs: readonly ReplicaLog[]): LogDivergence | undefined {
  const byIndex = logs.map((l) => {
    const m = new Map<number, Entry>();
    for (const e of l.entries) m.set(e.index, e);
    return m;
  });
  const lastIndex = logs.map((l) => ({ id: l.id, last: l.entries.reduce((x, e) => Math.max(x, e.index), 0) }));
  const last = Math.max(0, ...lastIndex.map((x) => x.last));
  for (let index = 1; index <= last; index++) {
    let first: Entry | undefined;
    let differs = false;
    for (const m of byIndex) {
      const e = m.get(index);
      if (e === undefined) continue;
      if (first === undefined) first = e;
      else if (!sameEntry(first, e)) {
        differs = true;
        break;
      }
    }
    if (!differs) continue;
    const groups: (LogDivergence['groups'][number] & { entry: Entry })[] = [];
    logs.forEach((l, k) => {
      const e = byIndex[k]!.get(index);
      if (e === undefined) return;
      const g = groups.find((x) => sameEntry(x.entry, e));
      if (g !== undefined) g.ids.push(l.id);
      else
        groups.push({
          entry: e,
          ids: [l.id],
          term: e.term,
          type: ENTRY_TYPE_NAMES.get(e.type) ?? String(e.type),
          bytes: e.data.byteLength,
          sha256: createHash('sha256').update(e.data).digest('hex'),
        });
    });
    return { index, groups: groups.map(({ entry: _, ...g }) => g), lastIndex };
  }
  return undefined;
}

/** One line for the report: `first differing log index 7: node 3 holds term 2 NORMAL (…); nodes 1, 2 hold term 3 NOOP (…)`. */
export function describeDivergence(d: LogDivergence): string {
  const who = (ids: number[]) => (ids.length === 1 ? `node ${ids[0]} holds` : `nodes ${ids.join(', ')} hold`);
  const groups = d.groups
    .map((g) => `${who(g.ids)} term ${g.term} ${g.type} (${g.bytes} bytes, sha256 ${g.sha256.slice(0, 12)}…)`)
    .join('; ');
  const ends = d.lastIndex.map((x) => `${x.id}:${x.last}`).join(', ');
  return `first differing log index ${d.index}: ${groups} [logs read through (node:index) ${ends}]`;
}

/**
 * Signing fields are per session, not the engine's: left out of the comparison; so are the
 * decimal strings (`*_decimal`), which the gateway derives from these integers and the
 * instrument's decimals (api/execution-report.ts withDecimals) and the replay does not add.
 */
function engineFields(r: ExecutionReportOut): Omit<ExecutionReportOut, 'chain_seq' | 'chain_hash' | 'signature'> {
  const { chain_seq: _a, chain_hash: _b, signature: _c, ...rest } = r;
  for (const k of Object.keys(rest)) if (k.endsWith('_decimal')) delete (rest as Record<string, unknown>)[k];
  return rest;
}

/** The reference replay of the log: every applied new order by (account, clOrdId), every report by exec id. */
interface Reference {
  newOrders: Map<string, Position[]>;
  reportsByExec: Map<number, ExecutionReportOut>;
  positionOfExec: Map<number, Position>;
  stateHash: string;
  appliedIndex: number;
}

/** Check 5's whole-view comparison, which the per-order comparison builds on. */
interface ReadModelCheck {
  /** The clients' read models (undefined: not checked). */
  models: ReadModels | undefined;
  /** A projection of the replayed log (undefined: not checked). */
  reference: ReadModels | undefined;
  /** The whole views are equal (else every order counts inconsistent, with one violation for all). */
  ok: boolean;
}

/** Counts over the clients' ops (CheckResult's fields of the same names). */
interface OpTally {
  acked: number;
  consistent: number;
  lost: number;
  duplicates: number;
  failed: number;
  unknown: number;
  unknownApplied: number;
  unknownAbsent: number;
  reportsCompared: number;
}

export function check(input: CheckInput): CheckResult {
  const { ops, entries, config } = input;
  const violations: Violation[] = [];
  const ref = replayReference(entries, config);
  const { stateHash, appliedIndex } = ref;

  // 4. Replicas: one state, the replay's.
  let replicasOk = input.replicas.length > 0;
  for (const r of input.replicas) {
    if (r.applied !== appliedIndex || r.stateHash !== stateHash) {
      replicasOk = false;
      violations.push({
        check: 'replicas',
        detail: `replica ${r.id} at applied ${r.applied} hash ${r.stateHash.slice(0, 16)}…, the replay at ${appliedIndex} hash ${stateHash.slice(0, 16)}…`,
      });
    }
  }

  // 7. Every replica's log: the same entries wherever two of them hold an index.
  let divergence: LogDivergence | undefined;
  if (input.logs !== undefined) {
    for (const l of input.logs) {
      if (l.error !== undefined)
        violations.push({
          check: 'logs',
          detail: `replica ${l.id}'s log could not be read whole (through ${l.entries.length}): ${l.error}`,
        });
    }
    divergence = firstLogDivergence(input.logs);
    if (divergence !== undefined) {
      replicasOk = false;
      violations.push({ check: 'logs', detail: describeDivergence(divergence) });
    }
  }

  // 5. Read models: the whole views, and per order below.
  const readModels: ReadModelCheck = { models: input.readModels, reference: undefined, ok: true };
  if (input.readModels !== undefined) {
    readModels.reference = projection(replayRecords(entries, config));
    if (!isDeepStrictEqual(input.readModels.views(), readModels.reference.views())) {
      readModels.ok = false;
      violations.push({ check: 'read-models', detail: 'the read models differ from a projection of the replayed log' });
    }
  }

  const { tally: t, positions } = checkOps(ops, ref, replicasOk, readModels, violations);
  const orderPairsChecked = checkRealTimeOrder(ops, positions, violations);
  return {
    acked: t.acked,
    consistent: t.consistent,
    k: t.acked === 0 ? 1 : t.consistent / t.acked,
    lost: t.lost,
    duplicates: t.duplicates,
    failed: t.failed,
    unknown: t.unknown,
    unknownApplied: t.unknownApplied,
    unknownAbsent: t.unknownAbsent,
    reportsCompared: t.reportsCompared,
    orderPairsChecked,
    violations,
    stateHash,
    appliedIndex,
    divergence,
  };
}

/** Replays the log through a fresh state machine; throws on an undecodable batch (the only throw of the checker). */
function replayReference(entries: Entry[], config: ShardConfig): Reference {
  const shard = config.shardId;
  const sm = new ShardStateMachine(config);
  const newOrders = new Map<string, Position[]>();
  const reportsByExec = new Map<number, ExecutionReportOut>();
  const positionOfExec = new Map<number, Position>();
  for (const e of entries) {
    const results = sm.apply(e.index, commandData(e));
    if (e.type !== EntryType.NORMAL || results.length === 0) continue;
    const cmds = decodeBatch(e.data);
    if (cmds === undefined) throw new Error(`entry ${e.index}: undecodable batch`);
    for (let k = 0; k < results.length; k++) {
      const r = results[k]!;
      if (r.outcome !== ApplyOutcome.APPLIED) continue;
      const lc = cmds[k]!;
      const c = decodeCommand(lc.body, 0, lc.body.length, r.seq, lc.tsUs);
      if (c?.type === 'new') {
        const key = `${c.account}/${c.clOrdId}`;
        const list = newOrders.get(key) ?? [];
        list.push({ index: e.index, k });
        newOrders.set(key, list);
      }
      for (let row = r.eventsFrom; row < r.eventsTo; row++) {
        if (sm.events.kind[row] !== EventKind.EXEC) continue;
        const rep = toReport(shard, sm.events.event(row) as ExecReport);
        reportsByExec.set(rep.exec_id, rep);
        positionOfExec.set(rep.exec_id, { index: e.index, k });
      }
    }
  }
  return { newOrders, reportsByExec, positionOfExec, stateHash: sm.stateHash(), appliedIndex: sm.appliedIndex };
}

/** Checks 1, 2, 5 (per order) and 6 over the ops in order; returns the counts and the log position of every ok op found there (for check 3). */
function checkOps(
  ops: Op[],
  ref: Reference,
  replicasOk: boolean,
  readModels: ReadModelCheck,
  violations: Violation[],
): { tally: OpTally; positions: Map<number, Position> } {
  const tally: OpTally = {
    acked: 0,
    consistent: 0,
    lost: 0,
    duplicates: 0,
    failed: 0,
    unknown: 0,
    unknownApplied: 0,
    unknownAbsent: 0,
    reportsCompared: 0,
  };
  const positions = new Map<number, Position>();
  for (const op of ops) {
    if (op.kind === 'new') checkNewOrder(op, ref, replicasOk, readModels, tally, positions, violations);
    else if (op.outcome === 'ok') {
      compareReports(op, ref.reportsByExec, violations);
      tally.reportsCompared += op.reports.length;
      const p = op.reports.length > 0 ? ref.positionOfExec.get(op.reports[0]!.exec_id) : undefined;
      if (p !== undefined) positions.set(op.id, p);
    } else if (op.outcome === 'failed') tally.failed++;
    else tally.unknown++;
  }
  return { tally, positions };
}

/** One new order: check 1 (applied at most once; an acknowledged one present, a refused one absent), 2 and 5 if acknowledged, 6 if unknown; consistent if it passes 1, 2, 4, 5 and 7. */
function checkNewOrder(
  op: Op,
  ref: Reference,
  replicasOk: boolean,
  readModels: ReadModelCheck,
  tally: OpTally,
  positions: Map<number, Position>,
  violations: Violation[],
): void {
  const found = ref.newOrders.get(`${op.account}/${op.clOrdId}`) ?? [];
  if (found.length > 1) {
    tally.duplicates++;
    violations.push({
      check: 'exactly-once',
      detail: `order ${op.clOrdId} of account ${op.account} applied ${found.length} times (log ${found.map((p) => p.index).join(', ')})`,
      op: op.id,
    });
  }
  if (op.outcome === 'ok') {
    tally.acked++;
    let ok = found.length === 1 && replicasOk;
    if (found.length === 0) {
      tally.lost++;
      ok = false;
      violations.push({
        check: 'exactly-once',
        detail: `acknowledged order ${op.clOrdId} of account ${op.account} (order id ${op.orderId}) is not in the log`,
        op: op.id,
      });
    } else positions.set(op.id, found[0]!);
    ok = compareReports(op, ref.reportsByExec, violations) && ok;
    tally.reportsCompared += op.reports.length;
    if (readModels.reference !== undefined && readModels.models !== undefined && op.orderId > 0) {
      const mine = readModels.models.order(op.orderId);
      if (mine === undefined || !isDeepStrictEqual(mine, readModels.reference.order(op.orderId))) {
        ok = false;
        if (readModels.ok)
          violations.push({
            check: 'read-models',
            detail: `order ${op.orderId} in the read models differs from the reference`,
            op: op.id,
          });
      }
    }
    if (ok && readModels.ok) tally.consistent++;
  } else if (op.outcome === 'failed') {
    tally.failed++;
    if (found.length > 0)
      violations.push({
        check: 'refused-absent',
        detail: `order ${op.clOrdId} was refused (${op.status} ${op.code}) but is in the log at ${found[0]!.index}`,
        op: op.id,
      });
  } else {
    tally.unknown++;
    if (found.length === 1) tally.unknownApplied++;
    else if (found.length === 0) tally.unknownAbsent++;
    else
      violations.push({
        check: 'unknown-resolved',
        detail: `unknown order ${op.clOrdId} is in the log ${found.length} times`,
        op: op.id,
      });
  }
}

/**
 * 3. Real-time order: walk the ops by send time, keeping the latest log position among those
 *    acknowledged before it; each op must come after it. Returns the pairs checked.
 */
function checkRealTimeOrder(ops: Op[], positions: Map<number, Position>, violations: Violation[]): number {
  const okOps = ops.filter((o) => positions.has(o.id));
  const bySent = [...okOps].sort((a, b) => a.sentAtMs - b.sentAtMs);
  const byDone = [...okOps].sort((a, b) => a.doneAtMs - b.doneAtMs);
  let latest: { pos: Position; op: Op } | undefined;
  let d = 0;
  let orderPairsChecked = 0;
  for (const b of bySent) {
    while (d < byDone.length && byDone[d]!.doneAtMs < b.sentAtMs) {
      const a = byDone[d++]!;
      const pa = positions.get(a.id)!;
      if (latest === undefined || before(latest.pos, pa)) latest = { pos: pa, op: a };
    }
    if (latest === undefined) continue;
    orderPairsChecked++;
    const pb = positions.get(b.id)!;
    if (before(pb, latest.pos)) {
      violations.push({
        check: 'real-time-order',
        detail: `op ${b.id} (sent at ${b.sentAtMs}) is at log ${pb.index}/${pb.k}, before op ${latest.op.id} acknowledged at ${latest.op.doneAtMs} at ${latest.pos.index}/${latest.pos.k}`,
        op: b.id,
      });
    }
  }
  return orderPairsChecked;
}

function compareReports(op: Op, reference: Map<number, ExecutionReportOut>, violations: Violation[]): boolean {
  let ok = true;
  for (const r of op.reports) {
    const ref = reference.get(r.exec_id);
    if (ref === undefined || !isDeepStrictEqual(engineFields(r), engineFields(ref))) {
      ok = false;
      violations.push({
        check: 'reports',
        detail: `report exec ${r.exec_id} of op ${op.id} ${ref === undefined ? 'is not in the replay' : `differs from the replay: got ${JSON.stringify(engineFields(r))}, replay ${JSON.stringify(engineFields(ref))}`}`,
        op: op.id,
      });
    }
  }
  return ok;
}
