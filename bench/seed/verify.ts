// The seed benchmark's consistency check, after a scenario's load: K, measured.
//
// 1. Settle: poll every replica's status (with its state hash) until all report the same
//    applied index T (bounded); the hashes at T must be equal.
// 2. Each replica's committed log 1..T is read from THAT replica alone (op `entries`) and
//    replayed through a fresh ShardStateMachine — the replicas' own code, an independent run of
//    it — which must end with the state hash that replica reported at T. Per order of this
//    scenario (found by its client order id in the applied `new` commands): how many times it
//    was applied (session-deduplicated resends are not applied), under which seq, with which
//    content; per order id, a digest of all its execution reports in log order.
// 3. Reference replay (the first replica): per order id, the digests of the records the
//    publisher must have produced (orders and fills topics, execRecordOf) and of the order's
//    view in a projection (ReadModels fed directly with those records); per order, the digest of
//    the reports its acknowledgement should have carried (the command's reports of its account).
// 4. Read models (read-model-proc.ts): after they hold everything through the last seq, per
//    order id, the count and digest of the records they APPLIED and the digest of their view.
//
// An acknowledged order is consistent iff: on every replica it was applied exactly once, under
// the order id it was acknowledged with and with the content sent, and its reports are the same
// on every replica; the acknowledgement's reports equal those of the log; the read models applied
// each of its records exactly once and identical (orders and fills topics) and hold the same view
// of it as the projection; and the replicas' state hashes agree (else no order counts). K = the
// consistent acknowledged orders / the acknowledged orders.

import { EntrySource } from '../../events/publisher/entry-source.js';
import { decimalsOfConfig, execRecordOf } from '../../events/codec.js';
import { ReadModels } from '../../events/read-models/model.js';
import { TOPIC_FILLS, TOPIC_ORDERS } from '../../events/topics.js';
import { toReport } from '../../api/execution-report.js';
import { canonicalReport } from '../../api/report-canonical.js';
import { decodeCommand } from '../../engine/command-codec.js';
import type { EventBuffer } from '../../engine/event-buffer.js';
import { parseConfig } from '../../engine/config.js';
import { EventKind, OrdType, type ExecReport, type ShardConfig } from '../../engine/types.js';
import { REPO_ROOT, sleep } from '../../replicator/process-cluster.js';
import type { EntryType } from '../../replicator/log.js';
import { ApplyOutcome, ShardStateMachine } from '../../shard/state-machine.js';
import { BatchCursor } from '../../shard/batch-codec.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DigestTable, canonicalExecRecord, chain, u32FromBase64, viewDigest } from './digest.js';
import { Outcome, SYMBOL, type OrderTable } from './load.js';
import type { ReadModelDump } from './read-model-proc.js';
import type { SeedStack } from './stack.js';
import { commandData } from '../../replicator/log.js';

/** Status rounds tried to find every replica at the same applied index. */
const SETTLE_ATTEMPTS_MAX = 100;
const SETTLE_POLL_MS = 100;
/** Bytes of entries per read from a replica. */
const READ_BYTES_MAX = 8 * 1024 * 1024;
/** How long the read models may take to catch up after the load (ms). */
export const READ_MODEL_CATCH_UP_MS_MAX = 180_000;

const SHARD_CONFIG: ShardConfig = parseConfig(
  JSON.parse(readFileSync(path.join(REPO_ROOT, 'engine/examples/instruments.json'), 'utf8')),
);
const DECIMALS_OF = decimalsOfConfig(SHARD_CONFIG);

export interface Consistency {
  acked: number;
  consistent: number;
  /** consistent / acked (1 when nothing was acknowledged). */
  k: number;
  /** Acknowledged orders missing from some replica's log, or whose records the read models lack. */
  lost: number;
  /** Acknowledged orders applied more than once on some replica, or with records applied more than once by the read models. */
  duplicates: number;
  /** Inconsistent orders by cause (numbers in a cause read N; an order may have several causes). */
  failures: Record<string, number>;
  stateHashesEqual: boolean;
  appliedIndex: number;
  lastSeq: number;
  /** Of the orders with outcome UNKNOWN, how many the log holds (they took effect). */
  unknownInLog: number;
  /** Orders refused before sequencing (or never sent) that the log holds nevertheless: must be 0. */
  refusedInLog: number;
  /** Resends of our orders the replicas' sessions dropped as duplicates (in the log, not applied). */
  resendsDropped: number;
  readModels: {
    caughtUp: boolean;
    waitedMs: number;
    caughtUpAtMs: number;
    applied: number;
    duplicatesDropped: number;
    trades: number;
    tradesInLog: number;
  };
  checkSeconds: number;
  /** First few inconsistent orders, for diagnosis. */
  examples: string[];
}

interface ReplicaReplay {
  id: number;
  /** Per order index: times applied, seq of the (last) application, content matched. */
  applied: Uint8Array;
  seq: Float64Array;
  contentOk: Uint8Array;
  /** Per order id: all exec reports of the order, in log order. */
  reports: DigestTable;
  stateHash: string;
  lastSeq: number;
  resendsDropped: number;
}

interface Reference {
  ordersTopic: DigestTable;
  fillsTopic: DigestTable;
  /** Per order index: digest and number of the reports the acknowledgement should carry. */
  ackExpected: Uint32Array;
  ackExpectedCount: Uint16Array;
  projection: ReadModels;
  offsets: { orders: number; fills: number };
  trades: number;
}

/** Finds an applied index T at which every replica reports the same state hash (bounded). */
async function settle(stack: SeedStack): Promise<{ index: number; hashes: Map<number, string> }> {
  let last = '';
  for (let attempt = 0; attempt < SETTLE_ATTEMPTS_MAX; attempt++) {
    const st = await Promise.all(stack.cluster.ids.map((id) => stack.cluster.status(id, true, 15_000)));
    if (st.every((s) => s !== undefined && s.stateHash !== undefined)) {
      const applied = new Set(st.map((s) => s!.applied));
      if (applied.size === 1 && st.every((s) => s!.commit === s!.applied)) {
        return { index: st[0]!.applied, hashes: new Map(st.map((s) => [s!.id, s!.stateHash!])) };
      }
      last = st.map((s) => `${s!.id}: applied ${s!.applied} commit ${s!.commit}`).join(', ');
    } else last = 'a replica did not answer its status';
    await sleep(SETTLE_POLL_MS);
  }
  throw new Error(`replicas never reported the same applied index (${last})`);
}

async function replayReplica(
  stack: SeedStack,
  id: number,
  throughIndex: number,
  table: OrderTable,
  reference: Reference | undefined,
): Promise<ReplicaReplay> {
  const n = table.n;
  const r: ReplicaReplay = {
    id,
    applied: new Uint8Array(n),
    seq: new Float64Array(n),
    contentOk: new Uint8Array(n),
    reports: new DigestTable(1 << 16),
    stateHash: '',
    lastSeq: 0,
    resendsDropped: 0,
  };
  const sm = new ShardStateMachine(SHARD_CONFIG);
  const source = new EntrySource([stack.cluster.endpoint(id)]);
  try {
    let next = 1;
    while (next <= throughIndex) {
      const reply = await source.read(next, READ_BYTES_MAX, 1_000);
      if (reply.kind === 'snapshot')
        throw new Error(`replica ${id}: log compacted through ${reply.index}; cannot replay it whole`);
      for (const e of reply.entries) {
        if (e.index > throughIndex) break;
        if (e.index !== next) throw new Error(`replica ${id}: entry ${e.index} where ${next} was expected`);
        next++;
        const entry = { index: e.index, term: e.term, type: e.type as EntryType, data: e.data };
        const results = sm.apply(entry.index, commandData(entry));
        const ev = sm.events;
        // Command k of the batch is results[k] (a malformed entry has no results).
        const c = new BatchCursor(entry.data, results.length);
        for (const res of results) {
          c.next();
          if (res.outcome === ApplyOutcome.DUPLICATE) {
            r.resendsDropped++;
            continue;
          }
          if (res.outcome !== ApplyOutcome.APPLIED) continue;
          const cmd = decodeCommand(entry.data, c.bodyOffset, c.bodyLength, res.seq, 0) as unknown as
            | Record<string, unknown>
            | undefined;
          if (cmd === undefined || cmd.type !== 'new' || typeof cmd.clOrdId !== 'string') continue;
          const i = table.indexOf(cmd.clOrdId);
          if (i < 0) continue;
          r.applied[i] = Math.min(255, r.applied[i]! + 1);
          r.seq[i] = res.seq;
          r.contentOk[i] =
            cmd.account === table.account[i] &&
            cmd.symbol === SYMBOL &&
            cmd.side === table.side[i] &&
            cmd.ordType === OrdType.LIMIT &&
            cmd.price === table.price[i] &&
            cmd.qty === table.qty[i] &&
            cmd.tif === table.tif[i]
              ? 1
              : 0;
          if (reference !== undefined) {
            // What the acknowledgement must carry: the command's reports of the order's account.
            let d = 0;
            let count = 0;
            for (let row = res.eventsFrom; row < res.eventsTo; row++) {
              if (ev.kind[row] !== EventKind.EXEC) continue;
              const x = ev.event(row) as ExecReport;
              if (x.account === cmd.account) {
                d = chain(d, canonicalReport(toReport(0, x)));
                count++;
              }
            }
            reference.ackExpected[i] = d;
            reference.ackExpectedCount[i] = Math.min(count, 0xffff);
          }
        }
        recordEntryReports(r, reference, ev, entry.index);
      }
    }
  } finally {
    source.close();
  }
  r.stateHash = sm.stateHash();
  r.lastSeq = sm.lastSeq;
  return r;
}

/** Every exec report of an applied entry, per order id, into the replica's digests; the reference also builds the records. */
function recordEntryReports(
  r: ReplicaReplay,
  reference: Reference | undefined,
  ev: EventBuffer,
  entryIndex: number,
): void {
  for (let row = 0; row < ev.count; row++) {
    const kind = ev.kind[row];
    if (kind === EventKind.EXEC) {
      const x = ev.event(row) as ExecReport;
      r.reports.add(x.orderId, canonicalReport(toReport(0, x)));
      if (reference !== undefined) {
        const rec = execRecordOf(0, entryIndex, row, x, DECIMALS_OF);
        const canon = canonicalExecRecord(rec);
        reference.ordersTopic.add(rec.order_id, canon);
        reference.projection.apply({
          topic: TOPIC_ORDERS,
          partition: 0,
          offset: reference.offsets.orders++,
          type: 'exec',
          value: rec,
        });
        if (rec.last_qty > 0) {
          reference.fillsTopic.add(rec.order_id, canon);
          reference.projection.apply({
            topic: TOPIC_FILLS,
            partition: 0,
            offset: reference.offsets.fills++,
            type: 'exec',
            value: rec,
          });
        }
      }
    } else if (kind === EventKind.TRADE && reference !== undefined) reference.trades++;
  }
}

/**
 * Self-test of the checker (--inject-faults): four acknowledged orders are misrecorded on
 * purpose before the check — one's price (the log holds other content), one's acknowledged
 * reports, one's order id (the log has it under another), and, once the read models have
 * answered, one's order records as they report them — so K must come out exactly
 * (acked - 4) / acked, each cause counted.
 */
function faultyOrders(table: OrderTable): number[] {
  const acked: number[] = [];
  for (let i = 0; i < table.n && acked.length < 4; i++) if (table.outcome[i] === Outcome.ACKED) acked.push(i);
  return acked.length === 4 ? acked : [];
}

/** What the read models report per order id (bench/seed/digest.ts tables, indexed by order id). */
interface ReadModelTables {
  ordersCount: Uint32Array;
  ordersDigest: Uint32Array;
  fillsCount: Uint32Array;
  fillsDigest: Uint32Array;
  views: Uint32Array;
}

/** Why one acknowledged order is inconsistent (empty: it is consistent), and whether it counts lost or duplicated. */
interface OrderVerdict {
  why: string[];
  isLost: boolean;
  isDup: boolean;
}

export async function checkConsistency(
  stack: SeedStack,
  table: OrderTable,
  log: (l: string) => void,
  faults = false,
): Promise<Consistency> {
  const started = performance.now();
  const faulty = misrecordForSelfTest(table, faults, log);
  const { index: T, hashes } = await settle(stack);
  const reference: Reference = {
    ordersTopic: new DigestTable(1 << 16),
    fillsTopic: new DigestTable(1 << 16),
    ackExpected: new Uint32Array(table.n),
    ackExpectedCount: new Uint16Array(table.n),
    projection: new ReadModels(),
    offsets: { orders: 0, fills: 0 },
    trades: 0,
  };
  const replays: ReplicaReplay[] = [];
  for (const id of stack.cluster.ids)
    replays.push(await replayReplica(stack, id, T, table, replays.length === 0 ? reference : undefined));
  const lastSeq = replays[0]!.lastSeq;
  const stateHashesEqual = stateHashesAgree(replays, hashes, T, lastSeq, log);

  const { dump, caughtUpAtMs, rm } = await readReadModels(stack, lastSeq, T, log);
  if (faulty.length === 4) {
    const id = replays[0]!.seq[faulty[3]!]!;
    if (id < rm.ordersDigest.length) rm.ordersDigest[id]! ^= 1;
  }

  const failures: Record<string, number> = {};
  const fail = (what: string) => (failures[what] = (failures[what] ?? 0) + 1);
  let acked = 0;
  let consistent = 0;
  let lost = 0;
  let duplicates = 0;
  let unknownInLog = 0;
  let refusedInLog = 0;
  const examples: string[] = [];
  for (let i = 0; i < table.n; i++) {
    const outcome = table.outcome[i];
    const inLog = replays.some((r) => r.applied[i]! > 0);
    if (outcome === Outcome.UNKNOWN && inLog) unknownInLog++;
    if ((outcome === Outcome.REJECTED && !table.engineRejected.has(i)) || outcome === Outcome.NOT_SENT)
      if (inLog) refusedInLog++;
    if (outcome !== Outcome.ACKED) continue;
    acked++;
    const { why, isLost, isDup } = orderVerdict(i, table, replays, reference, rm, stateHashesEqual);
    if (isLost) lost++;
    if (isDup) duplicates++;
    if (why.length === 0) consistent++;
    else {
      for (const w of new Set(why.map((x) => x.replace(/\d+/g, 'N')))) fail(w);
      if (examples.length < 5) examples.push(`order ${table.clOrdId(i)} (id ${table.orderId[i]!}): ${why.join('; ')}`);
    }
  }
  return {
    acked,
    consistent,
    k: acked === 0 ? 1 : consistent / acked,
    lost,
    duplicates,
    failures,
    stateHashesEqual,
    appliedIndex: T,
    lastSeq,
    unknownInLog,
    refusedInLog,
    resendsDropped: replays.reduce((s, r) => s + r.resendsDropped, 0),
    readModels: {
      caughtUp: dump.caughtUp,
      waitedMs: dump.waitedMs,
      caughtUpAtMs,
      applied: dump.applied,
      duplicatesDropped: dump.duplicatesDropped,
      trades: dump.tradesApplied,
      tradesInLog: reference.trades,
    },
    checkSeconds: Math.round((performance.now() - started) / 100) / 10,
    examples,
  };
}

/** The read models' dump and tables once they hold everything through lastSeq (waiting at most READ_MODEL_CATCH_UP_MS_MAX); logs reports past T and a failure to catch up. */
async function readReadModels(
  stack: SeedStack,
  lastSeq: number,
  T: number,
  log: (l: string) => void,
): Promise<{ dump: ReadModelDump; caughtUpAtMs: number; rm: ReadModelTables }> {
  const dump = await stack.dumpReadModels(lastSeq, READ_MODEL_CATCH_UP_MS_MAX);
  const caughtUpAtMs = performance.now();
  if (dump.maxExecLogIndex > T)
    log(
      `  the read models hold execution reports of log index ${dump.maxExecLogIndex}, past the checked index ${T}: commands arrived after the load (orders given up as unknown?); their effects show as differences`,
    );
  if (!dump.caughtUp)
    log(
      `  read models did not catch up within ${READ_MODEL_CATCH_UP_MS_MAX} ms (visible seq ${dump.visibleSeq} of ${lastSeq})`,
    );
  const rm: ReadModelTables = {
    ordersCount: u32FromBase64(dump.ordersCount),
    ordersDigest: u32FromBase64(dump.ordersDigest),
    fillsCount: u32FromBase64(dump.fillsCount),
    fillsDigest: u32FromBase64(dump.fillsDigest),
    views: u32FromBase64(dump.viewDigest),
  };
  return { dump, caughtUpAtMs, rm };
}

/** With --inject-faults, misrecords three of the four faulty orders now (the fourth once the read models answer); returns them (none without). */
function misrecordForSelfTest(table: OrderTable, faults: boolean, log: (l: string) => void): number[] {
  const faulty = faults ? faultyOrders(table) : [];
  if (faults && faulty.length === 0) log('  inject-faults: fewer than 4 acknowledged orders, nothing injected');
  if (faulty.length === 4) {
    table.price[faulty[0]!]! += 1;
    table.ackDigest[faulty[1]!]! ^= 1;
    table.orderId[faulty[2]!]! += 1_000_000_000;
    log(
      `  inject-faults: misrecorded orders ${faulty.map((i) => table.clOrdId(i)).join(', ')} (price, acknowledged reports, order id, read-model records)`,
    );
  }
  return faulty;
}

/** Every replica's state hash at T equal, each equal to the replay of its own log, and every replay at the same last seq (logging what differs). */
function stateHashesAgree(
  replays: ReplicaReplay[],
  hashes: Map<number, string>,
  T: number,
  lastSeq: number,
  log: (l: string) => void,
): boolean {
  const hashList = [...hashes.values()];
  let stateHashesEqual = hashList.every((h) => h === hashList[0]);
  for (const r of replays) {
    if (r.stateHash !== hashes.get(r.id)) {
      stateHashesEqual = false;
      log(
        `  replica ${r.id}: replay of its log ends with state hash ${r.stateHash.slice(0, 12)}…, the replica reports ${hashes.get(r.id)?.slice(0, 12)}…`,
      );
    }
    if (r.lastSeq !== lastSeq) stateHashesEqual = false;
  }
  if (!stateHashesEqual)
    log(`  state hashes differ at index ${T}: ${[...hashes].map(([id, h]) => `${id}=${h.slice(0, 12)}`).join(' ')}`);
  return stateHashesEqual;
}

/** Acknowledged order i against every replica's log, the reference and the read models (see the file comment). */
function orderVerdict(
  i: number,
  table: OrderTable,
  replays: ReplicaReplay[],
  reference: Reference,
  rm: ReadModelTables,
  stateHashesEqual: boolean,
): OrderVerdict {
  const id = table.orderId[i]!;
  const v: OrderVerdict = { why: [], isLost: false, isDup: false };
  const why = v.why;
  for (const r of replays) {
    const a = r.applied[i]!;
    if (a === 0) {
      why.push(`not in replica ${r.id}'s log`);
      v.isLost = true;
    } else if (a > 1) {
      why.push(`applied ${a} times on replica ${r.id}`);
      v.isDup = true;
    } else if (r.seq[i] !== id)
      why.push(`replica ${r.id} has it as ${r.seq[i]}, acknowledged as ${id} with ${table.ackReports[i]} reports`);
    else if (r.contentOk[i] !== 1) why.push(`replica ${r.id} holds other content`);
  }
  const ref = replays[0]!;
  // Where the order is in the log (its seq there), whatever its acknowledgement said: the
  // replicas' reports and the read models are checked for that order.
  const logId = ref.applied[i]! > 0 ? ref.seq[i]! : id;
  for (const r of replays.slice(1)) {
    if (
      r.reports.countOf(logId) !== ref.reports.countOf(logId) ||
      r.reports.digestOf(logId) !== ref.reports.digestOf(logId)
    )
      why.push(`reports differ between replicas ${ref.id} and ${r.id}`);
  }
  if (table.ackDigest[i] !== reference.ackExpected[i])
    why.push(
      `acknowledged with ${table.ackReports[i]} reports, the log has ${reference.ackExpectedCount[i]}${table.ackReports[i] === reference.ackExpectedCount[i] ? ' (different)' : ''}`,
    );
  if (!v.isLost) readModelVerdict(logId, reference, rm, v);
  if (!stateHashesEqual) why.push('replica state hashes differ');
  return v;
}

/** The read models' records and view of the order (at its log id) against the reference. */
function readModelVerdict(logId: number, reference: Reference, rm: ReadModelTables, v: OrderVerdict): void {
  const why = v.why;
  const want = reference.ordersTopic.countOf(logId);
  const got = logId < rm.ordersCount.length ? rm.ordersCount[logId]! : 0;
  if (got === 0 && want > 0) {
    why.push('not in the read models');
    v.isLost = true;
  } else if (got > want) {
    why.push(`read models applied ${got} of its ${want} order records`);
    v.isDup = true;
  } else if (got < want) why.push(`read models applied ${got} of its ${want} order records`);
  else if (rm.ordersDigest[logId] !== reference.ordersTopic.digestOf(logId))
    why.push('read-model order records differ');
  const wantF = reference.fillsTopic.countOf(logId);
  const gotF = logId < rm.fillsCount.length ? rm.fillsCount[logId]! : 0;
  if (gotF !== wantF) {
    why.push(`read models applied ${gotF} of its ${wantF} fills`);
    if (gotF > wantF) v.isDup = true;
  } else if (rm.fillsDigest[logId] !== reference.fillsTopic.digestOf(logId)) why.push('read-model fills differ');
  if ((logId < rm.views.length ? rm.views[logId]! : 0) !== viewDigest(reference.projection.order(logId)))
    why.push('read-model order view differs');
}
