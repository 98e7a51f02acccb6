// The simulation's oracle for a Multi-Paxos cluster (PaxosNode, replicator/paxos/). It shares
// with the Raft oracle (oracle.ts) everything that does not depend on the protocol — results
// digests per index, (clientId, requestSeq) effective once cluster-wide, sessions registered once,
// acknowledgements matching what took effect, linearizable reads, convergence and equal state
// hashes after healing — and adds what Paxos promises, read from outside the replica:
//
// - one value chosen per slot: acceptances are counted per (slot, ballot) as they become durable
//   (ACCEPTED records decoded from each simulated disk's durable image with the record log's own
//   codec, and ACCEPTED messages, which may only leave once durable); a quorum of them chooses the
//   ballot's value, and no slot may ever have two chosen values (the logic of the in-memory
//   harness, test/replicator/paxos-harness.ts, here over the production replica and its disk);
//   one ballot proposes one value per slot, and only its own leader sends its PREPARE, ACCEPT, HEARTBEAT;
// - durability before messages: every message of ballot b leaves only once the sender's durable
//   promise is ≥ b (PROMISE included); an ACCEPTED, and every value a PROMISE reports, only once
//   the acceptance is on the sender's disk;
// - applies: slot after slot, once per life, never beyond the replica's chosen prefix, and the
//   value the quorum chose there;
// - the promise (in memory and on disk) never goes back, nor the chosen prefix within a life;
// - at boot the replica starts from its disk: the durable promise, and per slot the acceptance
//   of the highest ballot the durable records hold.

import type { ApplyResult } from '../../shard/state-machine.js';
import { ballotToTerm } from '../paxos/record-log.js';
import { decodeRecord as decodePaxosRecord } from '../paxos/records.js';
import { type Ballot, PaxosMessageType, type PaxosValue, RecordKind, ValueType } from '../paxos/types.js';
import { EntryType, type Entry, type NodeId } from '../raft/types.js';
import { decodeRecord as decodeWalRecord } from '../wal/record.js';
import { Oracle, check, mix, type OracleHooks } from './oracle.js';
import type { PaxosWire } from './paxos-wire.js';
import type { SimMachine } from './sim-machine.js';

const SEGMENT_NAME = /^wal-\d{20}\.log$/;

/** One durable ACCEPTED record: its slot, ballot (as its WAL term) and value key. */
interface DurableAccepted {
  slot: number;
  term: number;
  ballot: Ballot;
  key: string;
}

/** How far one segment file's durable bytes were read (segments only grow while a process lives). */
interface SegmentScan {
  /** Offset just past the last whole record read. */
  end: number;
  /** Offset and stored CRC of that record: if they changed, the file was rewritten and is read again. */
  lastAt: number;
  lastCrc: number;
}

/** What one host's disk durably holds of the record log, read incrementally (one disk generation at a time). */
interface DurableRecords {
  gen: number;
  segments: Map<string, SegmentScan>;
  /**
   * Per slot, the highest ballot (as a term) of a durable ACCEPTED record since the process
   * booted. It only grows: ballots per slot only go up, and compaction copies the highest forward.
   */
  best: Map<number, number>;
}

export class PaxosOracle extends Oracle {
  private readonly quorum: number;
  /** "slot:ballotTerm" → the value key proposed at that ballot (one per ballot). */
  private readonly acceptValue = new Map<string, string>();
  /** "slot:ballotTerm" → acceptors whose acceptance was durable. */
  private readonly acceptors = new Map<string, Set<NodeId>>();
  /** Per slot, the value chosen (a quorum of durable acceptances at one ballot). */
  private readonly chosenTruth = new Map<number, { key: string; term: number }>();
  private readonly durable = new Map<NodeId, DurableRecords>();
  /** Per node (across lives): the highest promise seen in memory, as a term. */
  private readonly promiseSeen = new Map<NodeId, number>();
  private readonly ballotsSeen = new Set<number>();
  /** Nodes that booted recovering from a lost WAL tail at least once. */
  private readonly tailLostOnce = new Set<NodeId>();

  constructor(h: OracleHooks, nodes: number) {
    super(h);
    this.quorum = Math.floor(nodes / 2) + 1;
  }

  // ---- messages -----------------------------------------------------------------------------

  onSendPaxos(from: SimMachine, w: PaxosWire): void {
    check(w.from === from.id, () => `node ${from.id} sent an item from ${w.from}`);
    const node = from.paxos;
    if (node === undefined || w.out.kind !== 'message') return;
    const m = w.out.message;
    const term = ballotToTerm(m.ballot);
    const hs = this.durableHardState(from);
    check(
      hs.term >= term,
      () =>
        `node ${from.id} sent ${PAXOS_NAME[m.type]} of ballot ${fmt(m.ballot)} before that promise was durable (durable ${hs.term})`,
    );
    switch (m.type) {
      case PaxosMessageType.PREPARE:
      case PaxosMessageType.ACCEPT:
      case PaxosMessageType.HEARTBEAT:
        check(
          m.ballot.leader === m.from,
          () => `node ${m.from} sent ${PAXOS_NAME[m.type]} in ballot ${fmt(m.ballot)}, which it does not lead`,
        );
        this.noteBallot(term, m.from);
        if (m.type === PaxosMessageType.ACCEPT) this.noteValue(m.slot, term, valueKey(m.values[0]!.value));
        break;
      case PaxosMessageType.ACCEPTED:
        if (m.slot > node.paxos.slots.compacted) {
          this.checkDurablyAccepted(from, m.slot, term, 'ACCEPTED');
          this.noteAcceptor(m.slot, term, from.id);
        }
        break;
      case PaxosMessageType.PROMISE:
        for (const v of m.values) {
          this.noteValue(v.slot, ballotToTerm(v.ballot), valueKey(v.value));
          if (v.slot > node.paxos.slots.compacted)
            this.checkDurablyAccepted(from, v.slot, ballotToTerm(v.ballot), 'a PROMISE reporting');
        }
        break;
    }
  }

  private checkDurablyAccepted(mc: SimMachine, slot: number, term: number, what: string): void {
    const best = this.refresh(mc).best.get(slot);
    check(
      best !== undefined && best >= term,
      () =>
        `node ${mc.id} sent ${what} slot ${slot} at ballot term ${term} before its acceptance was durable (its disk holds ${best ?? 'nothing'} there)`,
    );
  }

  private noteBallot(term: number, id: NodeId): void {
    if (this.ballotsSeen.has(term)) return;
    this.ballotsSeen.add(term);
    this.h.stats.leaders++;
    this.h.stats.maxTerm = Math.max(this.h.stats.maxTerm, term);
    this.h.trace(`BALLOT ${term} led by n${id}`);
  }

  private noteValue(slot: number, term: number, key: string): void {
    const k = `${slot}:${term}`;
    const prior = this.acceptValue.get(k);
    check(
      prior === undefined || prior === key,
      () => `two values proposed in slot ${slot} at ballot term ${term}: ${prior} and ${key}`,
    );
    if (prior === undefined) this.acceptValue.set(k, key);
    const set = this.acceptors.get(k);
    if (set !== undefined && set.size >= this.quorum) this.noteChosen(slot, term, key);
  }

  /** One more durable acceptance of (slot, ballot): a quorum of them chooses its value, which must be the slot's only one. */
  private noteAcceptor(slot: number, term: number, id: NodeId): void {
    const k = `${slot}:${term}`;
    let set = this.acceptors.get(k);
    if (set === undefined) this.acceptors.set(k, (set = new Set()));
    set.add(id);
    const key = this.acceptValue.get(k);
    if (set.size >= this.quorum && key !== undefined) this.noteChosen(slot, term, key);
  }

  private noteChosen(slot: number, term: number, key: string): void {
    const prior = this.chosenTruth.get(slot);
    check(
      prior === undefined || prior.key === key,
      () =>
        `two values chosen in slot ${slot}: ${prior!.key} at ballot term ${prior!.term} and ${key} at ballot term ${term}`,
    );
    if (prior === undefined) this.chosenTruth.set(slot, { key, term });
  }

  // ---- the durable record log, decoded from the simulated disk -------------------------------

  /** Re-reads what changed on the host's durable image (segments by length); notes new durable acceptances. */
  private refresh(mc: SimMachine): DurableRecords {
    let d = this.durable.get(mc.id);
    if (d === undefined) this.durable.set(mc.id, (d = { gen: -1, segments: new Map(), best: new Map() }));
    const gen = mc.fs.durableGeneration;
    if (d.gen === gen) return d;
    d.gen = gen;
    const dir = this.walDir(mc);
    const segments = new Map<string, SegmentScan>();
    for (const name of mc.fs.durableFiles(dir)) {
      if (!SEGMENT_NAME.test(name)) continue;
      const bytes = mc.fs.durableView(`${dir}/${name}`);
      if (bytes === undefined) continue;
      const seg = scanAccepted(bytes, d.segments.get(name), (a) => {
        if ((d.best.get(a.slot) ?? 0) < a.term) d.best.set(a.slot, a.term);
        this.noteDurable(mc.id, a);
      });
      segments.set(name, seg);
    }
    d.segments = segments;
    return d;
  }

  private noteDurable(id: NodeId, a: DurableAccepted): void {
    this.noteValue(a.slot, a.term, a.key);
    this.noteAcceptor(a.slot, a.term, id);
  }

  // ---- applies, resets, boots, steps ---------------------------------------------------------

  override onApplied(mc: SimMachine, results: ApplyResult[], entry: Entry): void {
    const s = this.seenOf(mc);
    const core = mc.paxos!.paxos;
    const slot = entry.index;
    check(slot === s.applied + 1, () => `node ${mc.id} applied slot ${slot} after ${s.applied} (not once, in order)`);
    check(
      slot <= core.slots.chosen,
      () => `node ${mc.id} applied slot ${slot} beyond its chosen prefix ${core.slots.chosen}`,
    );
    let truth = this.chosenTruth.get(slot);
    if (truth === undefined) {
      // Acceptances that became durable within this step, not read yet.
      for (const id of this.durable.keys()) this.refreshById(id);
      this.refresh(mc);
      truth = this.chosenTruth.get(slot);
    }
    const key = entryValueKey(entry);
    check(
      truth !== undefined && truth.key === key,
      () =>
        `node ${mc.id} applied ${key} in slot ${slot}, but ${truth === undefined ? 'no value was chosen there (no quorum of durable acceptances)' : `${truth.key} was chosen`}`,
    );
    this.noteApplied(mc, s, results, entry);
  }

  private readonly machinesById = new Map<NodeId, SimMachine>();

  private refreshById(id: NodeId): void {
    const m = this.machinesById.get(id);
    if (m !== undefined) this.refresh(m);
  }

  override onStateReset(mc: SimMachine, installed: boolean): void {
    const s = this.seenOf(mc);
    const node = mc.paxos;
    if (node === undefined) return;
    const at = node.stateMachine.appliedIndex;
    this.checkInstalled(mc, s, at, installed);
    this.noteStateReset(s, at);
  }

  override onBoot(mc: SimMachine): void {
    this.machinesById.set(mc.id, mc);
    const core = mc.paxos!.paxos;
    const s = this.seenOf(mc);
    const hs = this.durableHardState(mc);
    const promised = ballotToTerm(core.promised);
    this.durable.delete(mc.id); // the WAL may have cut a torn tail at open: read the disk afresh
    check(promised === hs.term, () => `node ${mc.id} restarted promising ${promised}, durable promise ${hs.term}`);
    const d = this.refresh(mc);
    // A lost WAL tail takes records the scan may still see elsewhere on the disk (an original
    // before the snapshot whose copy after it was lost, which recovery rightly does not read): a
    // replica recovering from one may hold less than the scan, never more; so may one that lost a
    // tail in an earlier life, for the slots it has since learned (its chosen prefix, which the
    // floor keeps out of every later proposal: departure 8).
    if (core.recovering) this.tailLostOnce.add(mc.id);
    const lostOnce = this.tailLostOnce.has(mc.id);
    for (const [slot, term] of d.best) {
      if (slot <= core.slots.compacted) continue;
      const a = core.slots.acceptedAt(slot);
      const got = a === undefined ? undefined : ballotToTerm(a.ballot);
      const mayHoldLess = core.recovering || (lostOnce && slot <= core.slots.chosen);
      check(
        mayHoldLess ? got === undefined || got <= term : got === term,
        () => `node ${mc.id} restarted with slot ${slot} accepted at ${got ?? 'nothing'}, its disk holds ${term}`,
      );
    }
    s.termSeen = promised;
    s.commitSeen = core.slots.chosen;
  }

  override checkStep(machines: Iterable<SimMachine>, _now: number): void {
    for (const mc of machines) {
      const node = mc.paxos;
      if (node === undefined || mc.status !== 'up') continue;
      const s = this.seenOf(mc);
      const core = node.paxos;
      const promised = ballotToTerm(core.promised);
      const before = Math.max(s.termSeen, this.promiseSeen.get(mc.id) ?? 0);
      check(promised >= before, () => `node ${mc.id}: its promise went back ${before} -> ${promised}`);
      s.termSeen = promised;
      this.promiseSeen.set(mc.id, promised);
      const chosen = core.slots.chosen;
      check(chosen >= s.commitSeen, () => `node ${mc.id}: its chosen prefix went back ${s.commitSeen} -> ${chosen}`);
      s.commitSeen = chosen;
      if (chosen > this.commitMax) this.commitMax = chosen;
      this.durableHardState(mc); // the durable promise never goes back (checked as it is read)
      this.refresh(mc);
    }
  }

  /** Fixed membership: every host not removed. */
  override members(machines: Map<NodeId, SimMachine>): SimMachine[] {
    return [...machines.values()].filter((m) => m.status !== 'removed');
  }
}

/**
 * Reads the ACCEPTED records of one segment's durable bytes from where the last read stopped,
 * decoded with the WAL's and the record log's own codecs.
 */
function scanAccepted(
  bytes: Uint8Array,
  prior: SegmentScan | undefined,
  onAccepted: (a: DurableAccepted) => void,
): SegmentScan {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const same =
    prior !== undefined &&
    bytes.byteLength >= prior.end &&
    (prior.lastAt < 0 || view.getUint32(prior.lastAt + 4, true) === prior.lastCrc);
  const scan: SegmentScan = same ? { ...prior } : { end: 0, lastAt: -1, lastCrc: 0 };
  while (scan.end < bytes.byteLength) {
    const r = decodeWalRecord(bytes, view, scan.end, bytes.byteLength);
    if (r.kind !== 'entry') break; // a torn or partial tail: recovery stops there too
    scan.lastAt = scan.end;
    scan.lastCrc = view.getUint32(scan.end + 4, true);
    scan.end = r.end;
    const rec = decodePaxosRecord(r.data);
    if (rec.kind !== RecordKind.ACCEPTED || rec.ref === true) continue;
    onAccepted({ slot: rec.slot, term: ballotToTerm(rec.ballot), ballot: rec.ballot, key: valueKey(rec.value) });
  }
  return scan;
}

function dataKey(d: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
  return `${d.length}:${(mix(h >>> 0, d.length) >>> 0).toString(16)}`;
}

export function valueKey(v: PaxosValue): string {
  return v.type === ValueType.NOOP
    ? `noop@${ballotToTerm(v.origin)}`
    : `cmd@${ballotToTerm(v.origin)}:${dataKey(v.data)}`;
}

/** The same key for a chosen value as the replica hands it to its observers (paxos-node.ts toEntry). */
function entryValueKey(e: Entry): string {
  return e.type === EntryType.NOOP ? `noop@${e.term}` : `cmd@${e.term}:${dataKey(e.data)}`;
}

function fmt(b: Ballot): string {
  return `${b.round}.${b.leader}`;
}

const PAXOS_NAME: Record<number, string> = Object.fromEntries(Object.entries(PaxosMessageType).map(([k, v]) => [v, k]));
