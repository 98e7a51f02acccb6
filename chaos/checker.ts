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
//   6. unknown outcomes are resolved from the log (applied once, or absent).
// K = acknowledged new orders that pass 1, 2, 4 and 5 / acknowledged new orders.

import { isDeepStrictEqual } from 'node:util';
import { decodeCommand } from '../engine/command-codec.js';
import { EventKind, type ExecReport, type ShardConfig } from '../engine/types.js';
import { projection, replayRecords } from '../events/read-models/reference.js';
import type { ReadModels } from '../events/read-models/model.js';
import { toReport } from '../gateway/gateway.js';
import type { ExecutionReportOut } from '../gateway/types.js';
import { EntryType, type Entry } from '../replicator/raft/types.js';
import { ApplyOutcome, ShardStateMachine, decodeBatch } from '../replicator/shard-state-machine.js';
import type { Op } from './workload.js';

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

export interface CheckInput {
  ops: Op[];
  entries: Entry[];
  config: ShardConfig;
  replicas: ReplicaHash[];
  /** The read models after catching up (undefined: not checked). */
  readModels: ReadModels | undefined;
}

export interface Violation {
  check: 'exactly-once' | 'refused-absent' | 'reports' | 'real-time-order' | 'replicas' | 'read-models' | 'unknown-resolved';
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
}

/** Signing fields are per session, not the engine's: left out of the comparison. */
function engineFields(r: ExecutionReportOut): Omit<ExecutionReportOut, 'chain_seq' | 'chain_hash' | 'signature'> {
  const { chain_seq: _a, chain_hash: _b, signature: _c, ...rest } = r;
  return rest;
}

export function check(input: CheckInput): CheckResult {
  const { ops, entries, config } = input;
  const shard = config.shardId;
  const violations: Violation[] = [];

  // Reference replay: every applied new order by (account, clOrdId), every report by exec id.
  const sm = new ShardStateMachine(config);
  const newOrders = new Map<string, Position[]>();
  const reportsByExec = new Map<number, ExecutionReportOut>();
  const positionOfExec = new Map<number, Position>();
  for (const e of entries) {
    const results = sm.apply(e);
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
  const stateHash = sm.stateHash();
  const appliedIndex = sm.appliedIndex;

  // 4. Replicas: one state, the replay's.
  let replicasOk = input.replicas.length > 0;
  for (const r of input.replicas) {
    if (r.applied !== appliedIndex || r.stateHash !== stateHash) {
      replicasOk = false;
      violations.push({ check: 'replicas', detail: `replica ${r.id} at applied ${r.applied} hash ${r.stateHash.slice(0, 16)}…, the replay at ${appliedIndex} hash ${stateHash.slice(0, 16)}…` });
    }
  }

  // 5. Read models: the whole views, and per order below.
  let reference: ReadModels | undefined;
  let readModelsOk = true;
  if (input.readModels !== undefined) {
    reference = projection(replayRecords(entries, config));
    if (!isDeepStrictEqual(input.readModels.views(), reference.views())) {
      readModelsOk = false;
      violations.push({ check: 'read-models', detail: 'the read models differ from a projection of the replayed log' });
    }
  }

  let acked = 0;
  let consistent = 0;
  let lost = 0;
  let duplicates = 0;
  let failed = 0;
  let unknown = 0;
  let unknownApplied = 0;
  let unknownAbsent = 0;
  let reportsCompared = 0;
  const positions = new Map<number, Position>();
  for (const op of ops) {
    if (op.kind === 'new') {
      const found = newOrders.get(`${op.account}/${op.clOrdId}`) ?? [];
      if (found.length > 1) {
        duplicates++;
        violations.push({ check: 'exactly-once', detail: `order ${op.clOrdId} of account ${op.account} applied ${found.length} times (log ${found.map((p) => p.index).join(', ')})`, op: op.id });
      }
      if (op.outcome === 'ok') {
        acked++;
        let ok = found.length === 1 && replicasOk;
        if (found.length === 0) {
          lost++;
          ok = false;
          violations.push({ check: 'exactly-once', detail: `acknowledged order ${op.clOrdId} of account ${op.account} (order id ${op.orderId}) is not in the log`, op: op.id });
        } else positions.set(op.id, found[0]!);
        ok = compareReports(op, reportsByExec, violations) && ok;
        reportsCompared += op.reports.length;
        if (reference !== undefined && input.readModels !== undefined && op.orderId > 0) {
          const mine = input.readModels.order(op.orderId);
          if (mine === undefined || !isDeepStrictEqual(mine, reference.order(op.orderId))) {
            ok = false;
            if (readModelsOk) violations.push({ check: 'read-models', detail: `order ${op.orderId} in the read models differs from the reference`, op: op.id });
          }
        }
        if (ok && readModelsOk) consistent++;
      } else if (op.outcome === 'failed') {
        failed++;
        if (found.length > 0) violations.push({ check: 'refused-absent', detail: `order ${op.clOrdId} was refused (${op.status} ${op.code}) but is in the log at ${found[0]!.index}`, op: op.id });
      } else {
        unknown++;
        if (found.length === 1) unknownApplied++;
        else if (found.length === 0) unknownAbsent++;
        else violations.push({ check: 'unknown-resolved', detail: `unknown order ${op.clOrdId} is in the log ${found.length} times`, op: op.id });
      }
    } else if (op.outcome === 'ok') {
      compareReports(op, reportsByExec, violations);
      reportsCompared += op.reports.length;
      const p = op.reports.length > 0 ? positionOfExec.get(op.reports[0]!.exec_id) : undefined;
      if (p !== undefined) positions.set(op.id, p);
    } else if (op.outcome === 'failed') failed++;
    else unknown++;
  }

  // 3. Real-time order: walk the ops by send time, keeping the latest log position among those
  //    acknowledged before it; each op must come after it.
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
      violations.push({ check: 'real-time-order', detail: `op ${b.id} (sent at ${b.sentAtMs}) is at log ${pb.index}/${pb.k}, before op ${latest.op.id} acknowledged at ${latest.op.doneAtMs} at ${latest.pos.index}/${latest.pos.k}`, op: b.id });
    }
  }

  return { acked, consistent, k: acked === 0 ? 1 : consistent / acked, lost, duplicates, failed, unknown, unknownApplied, unknownAbsent, reportsCompared, orderPairsChecked, violations, stateHash, appliedIndex };
}

function compareReports(op: Op, reference: Map<number, ExecutionReportOut>, violations: Violation[]): boolean {
  let ok = true;
  for (const r of op.reports) {
    const ref = reference.get(r.exec_id);
    if (ref === undefined || !isDeepStrictEqual(engineFields(r), engineFields(ref))) {
      ok = false;
      violations.push({ check: 'reports', detail: `report exec ${r.exec_id} of op ${op.id} ${ref === undefined ? 'is not in the replay' : `differs from the replay: got ${JSON.stringify(engineFields(r))}, replay ${JSON.stringify(engineFields(ref))}`}`, op: op.id });
    }
  }
  return ok;
}
