// Replay for audit: rebuild each shard's state from its replicas' write-ahead logs (and
// snapshots) through the replicas' own code path — ShardStateMachine.apply on every committed
// entry, in index order — and check what the files claim (audit/README.md):
//
//   - every WAL record verifies (CRC32C, contiguous indexes, terms never decreasing);
//   - replicas agree: entries of the same index and term are byte-identical;
//   - the state at every snapshot index equals the snapshot each replica recorded there;
//   - every report the gateway chained is regenerated from the log and the chain re-hashed
//     to each head the exchange signed (audit/chain.ts).
//
// Replicas are read in lockstep, one entry index at a time. The entry applied at index k is the
// one of the highest term among the replicas that hold a verifiable record for k (Raft: a
// later term's entry replaces an uncommitted one); when one replica's record is damaged, a
// peer's copy keeps the replay going, so one run finds every defect.

import { createHash } from 'node:crypto';
import { ByteWriter } from '../engine/byte-writer.js';
import type { EventBuffer } from '../engine/event-buffer.js';
import { encodeEventsTo } from '../engine/event-codec.js';
import { eventToJson } from '../engine/json-codec.js';
import { hashSnapshot } from '../engine/snapshot.js';
import { EventKind } from '../engine/types.js';
import { decodeSnapshotEnvelope } from '../shard/snapshot-envelope.js';
import type { EntryType, Entry } from '../replicator/log.js';
import { ShardStateMachine, type ApplyResult } from '../shard/state-machine.js';
import { execRowBytesMax, execRowLength, writeExecRow } from './canonical.js';
import { ChainCheck, type ChainSummary, type RecordBuffer, type ReportSource, type Unavailable } from './chain.js';
import { Findings, type Finding } from './findings.js';
import { SourceError, type ShardSource, type Sources } from './sources.js';
import {
  LogReader,
  loadSnapshotFile,
  openReplicaFiles,
  range,
  type LogProblem,
  type ReadItem,
  type ReplicaFiles,
  type SnapshotFile,
} from './wal-reader.js';
import { commandData } from '../replicator/log.js';

export type StartMode = 'auto' | 'genesis' | 'snapshot';

/** Called after each applied entry with its results and events (rows [0, events.count)); read inside the call. */
export type AppliedHook = (entry: Entry, results: ApplyResult[], events: EventBuffer) => void;

export interface ShardReplayOptions {
  source: ShardSource;
  from: StartMode;
  /** Last log index to apply; default: the end of the longest log. */
  toIndex?: number;
  /** Compare with the replicas' snapshots. */
  verifySnapshots: boolean;
  findings: Findings;
  /** Record the state hash every this many entries (0: never). */
  checkpointEvery?: number;
}

export interface ShardSummary {
  shard: number;
  replicas: string[];
  start: { mode: 'genesis' | 'snapshot'; index: number; replica?: string; file?: string };
  /** Index of the last entry applied. */
  endIndex: number;
  stoppedBy: 'end' | 'to-index' | 'unreadable';
  /** Highest index the files prove committed (hard states, snapshots, a majority of replicas holding it in the newest term). */
  commitKnown: number;
  /** Entries applied beyond commitKnown (durable on some replica, not proven committed). */
  uncommittedApplied: number;
  entries: number;
  commands: number;
  /** Commands applied to the engine (the rest are retried duplicates or sequence gaps, refused by the session table). */
  applied: number;
  events: number;
  execIdLast: number;
  stateHash: string;
  snapshotsChecked: number;
  checkpoints: { index: number; stateHash: string }[];
}

interface Replica {
  files: ReplicaFiles;
  reader: LogReader;
  item: ReadItem | undefined;
  /** False once its log took another branch (a lower-term entry where the chosen log has a higher one). */
  active: boolean;
  /** A torn tail, classified at the end (it depends on what the peers hold). */
  tail: LogProblem | undefined;
  provided: number;
}

/** Replays one shard; also the report source for the chain check (regenerate pulls it forward). */
export class ShardReplay {
  readonly shard: number;
  readonly sm: ShardStateMachine;
  onApplied: AppliedHook | undefined;
  private readonly replicas: Replica[];
  private readonly findings: Findings;
  private readonly toIndex: number;
  private nextIndex: number;
  private stoppedBy: ShardSummary['stoppedBy'] | undefined;
  private readonly snapshotChecks = new Map<number, { replica: string; file: SnapshotFile }[]>();
  readonly commitKnown: number;
  readonly start: ShardSummary['start'];
  /** Exec ids up to this were emitted before the replay's start (they are in the starting snapshot). */
  readonly startExecId: number;
  private counts = { entries: 0, commands: 0, applied: 0, events: 0, uncommittedApplied: 0, snapshotsChecked: 0 };
  private readonly checkpointEvery: number;
  private readonly checkpoints: { index: number; stateHash: string }[] = [];
  /**
   * Chain capture: how many more times each exec id will be asked for (`wanted`), and where its
   * exec record is kept until then (`loc`: chunk × 2^32 + offset + 1; 0 = not captured). Records
   * go into 4 MiB chunks, dropped once every record in them was asked for.
   */
  private wanted = new Uint32Array(0);
  private loc = new Float64Array(0);
  private wantedAny = false;
  private chunks: (Uint8Array | undefined)[] = [];
  private chunkViews: (DataView | undefined)[] = [];
  private chunkRefs: number[] = [];
  private chunkPos = 0;

  constructor(opts: ShardReplayOptions) {
    const src = opts.source;
    this.shard = src.shard;
    this.findings = opts.findings;
    this.toIndex = opts.toIndex ?? Number.MAX_SAFE_INTEGER;
    this.checkpointEvery = opts.checkpointEvery ?? 0;
    this.sm = new ShardStateMachine(src.engineConfig);
    const files = src.replicaDirs.map((d) => openReplicaFiles(d));
    this.replicas = files.map((f) => ({
      files: f,
      reader: new LogReader(f),
      item: undefined,
      active: true,
      tail: undefined,
      provided: 0,
    }));
    for (const f of files) {
      if (f.hardStateProblem !== undefined)
        this.findings.fail('wal', `hard state unreadable: ${f.hardStateProblem}`, {
          shard: this.shard,
          replica: f.name,
          file: 'hardstate',
        });
      const last = f.last?.index ?? f.firstIndex - 1;
      if (
        f.hardState !== undefined &&
        f.hardState.commit > last &&
        f.snapshots.every((s) => s.index < f.hardState!.commit)
      ) {
        this.findings.fail(
          'wal',
          `hard state says entries up to ${f.hardState.commit} are committed, but the log ends at ${last}: committed entries are gone`,
          { shard: this.shard, replica: f.name, index: last + 1 },
        );
      }
    }
    this.commitKnown = commitKnown(files, src.clusterSize);
    const begun = this.chooseStart(opts.from);
    this.start = begun;
    this.nextIndex = begun.index + 1;
    this.startExecId = this.sm.engine.execIdLast;
    if (opts.verifySnapshots) this.planSnapshotChecks(begun.index);
  }

  get replicaNames(): string[] {
    return this.replicas.map((r) => r.files.name);
  }

  // -------------------------------------------------------------------------------------------
  // Start: genesis or a snapshot
  // -------------------------------------------------------------------------------------------

  private chooseStart(mode: StartMode): ShardSummary['start'] {
    const genesisOk = this.replicas.some((r) => r.files.segments.length > 0 && r.files.firstIndex === 1);
    if (mode === 'genesis' || (mode === 'auto' && genesisOk)) {
      if (!genesisOk) {
        const firsts = this.replicas.map((r) => `${r.files.name} from ${r.files.firstIndex}`).join(', ');
        throw new SourceError(
          `shard ${this.shard}: no replica's log starts at index 1 (${firsts}): compacted into snapshots; use --from-snapshot`,
        );
      }
      return { mode: 'genesis', index: 0 };
    }
    // The oldest snapshot some log continues from: every later snapshot is then checked.
    const candidates = this.replicas
      .flatMap((r) => r.files.snapshots.map((s) => ({ r, s })))
      .sort((a, b) => a.s.index - b.s.index);
    for (const { r, s } of candidates) {
      if (s.index > this.toIndex) break;
      const continues = this.replicas.some(
        (x) => x.files.firstIndex <= s.index + 1 && (x.files.last?.index ?? x.files.firstIndex - 1) >= s.index,
      );
      if (!continues) continue;
      const snap = loadSnapshotFile(s);
      if (typeof snap === 'string') {
        this.findings.fail('snapshot', `unreadable: ${snap}`, {
          shard: this.shard,
          replica: r.files.name,
          index: s.index,
          file: s.name,
        });
        continue;
      }
      try {
        this.sm.restore(decodeSnapshotEnvelope(snap.bytes).sm);
      } catch (err) {
        this.findings.fail('snapshot', `does not restore: ${(err as Error).message}`, {
          shard: this.shard,
          replica: r.files.name,
          index: s.index,
          file: s.name,
        });
        continue;
      }
      if (this.sm.appliedIndex !== s.index) {
        this.findings.fail('snapshot', `restores the state at index ${this.sm.appliedIndex}, not ${s.index}`, {
          shard: this.shard,
          replica: r.files.name,
          index: s.index,
          file: s.name,
        });
        continue;
      }
      return { mode: 'snapshot', index: s.index, replica: r.files.name, file: s.name };
    }
    if (mode === 'auto' && candidates.length === 0 && this.replicas.every((r) => r.files.segments.length === 0))
      return { mode: 'genesis', index: 0 };
    throw new SourceError(
      `shard ${this.shard}: no usable snapshot that a log continues from (snapshots: ${candidates.map((c) => `${c.r.files.name}/${c.s.index}`).join(', ') || 'none'})`,
    );
  }

  private planSnapshotChecks(startIndex: number): void {
    for (const r of this.replicas) {
      for (const s of r.files.snapshots) {
        if (s.index < startIndex) {
          this.findings.note('snapshot', `older than the replay's start (${startIndex}): not checked`, {
            shard: this.shard,
            replica: r.files.name,
            index: s.index,
            file: s.name,
          });
          continue;
        }
        if (s.index > this.toIndex) continue;
        if (
          s.index === startIndex &&
          this.start.mode === 'snapshot' &&
          r.files.name === this.start.replica &&
          s.name === this.start.file
        )
          continue;
        const list = this.snapshotChecks.get(s.index) ?? [];
        list.push({ replica: r.files.name, file: s });
        this.snapshotChecks.set(s.index, list);
      }
    }
    // Copies of the starting snapshot on other replicas: compared with the state it restored.
    const atStart = this.snapshotChecks.get(startIndex);
    if (atStart !== undefined) {
      this.snapshotChecks.delete(startIndex);
      this.checkSnapshots(startIndex, atStart);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Stepping
  // -------------------------------------------------------------------------------------------

  /** Applies the next entry; false when there is none (end of the logs, --to-index, or an index no replica can provide). */
  step(): boolean {
    if (this.stoppedBy !== undefined) return false;
    const k = this.nextIndex;
    if (k > this.toIndex) {
      this.stoppedBy = 'to-index';
      return false;
    }
    let chosen: Replica | undefined;
    let later = false;
    for (const r of this.replicas) {
      if (!r.active) continue;
      const it = this.fill(r, k);
      if (it.kind !== 'entry') continue;
      if (it.index !== k) {
        later = true;
        continue;
      }
      if (chosen === undefined || it.term > (chosen.item as EntryItem).term) chosen = r;
    }
    if (chosen === undefined) {
      if (later) {
        this.findings.fail(
          'wal',
          `no replica holds a verifiable record of entry ${k}: the replay cannot go past ${k - 1}`,
          { shard: this.shard, index: k },
        );
        this.stoppedBy = 'unreadable';
      } else {
        this.stoppedBy = 'end';
      }
      return false;
    }
    const e = chosen.item as EntryItem;
    if (this.replicas.length > 1) this.compareReplicas(k, chosen, e);
    for (const r of this.replicas) {
      if (r.item?.kind === 'entry' && r.item.index === k) {
        r.item = undefined;
        r.provided++;
      }
    }
    if (!this.apply({ index: k, term: e.term, type: e.type as EntryType, data: e.data })) return false;
    this.nextIndex = k + 1;
    return true;
  }

  /** The replica's next item at or after index k (problems recorded on the way). */
  private fill(r: Replica, k: number): ReadItem {
    for (;;) {
      if (r.item === undefined) r.item = r.reader.next();
      const it = r.item;
      if (it.kind === 'problem') {
        this.recordProblem(r, it.problem);
        r.item = undefined;
        continue;
      }
      if (it.kind === 'entry' && it.index < k) {
        r.item = undefined; // before the replay's start: read (and checked), not applied
        continue;
      }
      return it;
    }
  }

  private recordProblem(r: Replica, p: LogProblem): void {
    if (p.kind === 'tail') {
      r.tail = p;
      return;
    }
    const missing =
      p.resumeIndex === undefined
        ? `entries from ${p.index} on`
        : p.resumeIndex > p.index
          ? `entries ${range(p.index, p.resumeIndex)}`
          : undefined;
    this.findings.fail(
      'wal',
      `${p.kind === 'gap' ? 'missing record' : p.kind === 'corrupt' ? 'damaged record' : 'record out of place'}: ${p.reason}${missing !== undefined && p.kind !== 'gap' ? ` (${missing} lost from this replica)` : ''}`,
      {
        shard: this.shard,
        replica: p.replica,
        index: p.index,
        file: p.file,
        offset: p.offset,
      },
    );
  }

  private compareReplicas(k: number, chosen: Replica, e: EntryItem): void {
    for (const r of this.replicas) {
      if (r === chosen || !r.active || r.item?.kind !== 'entry' || r.item.index !== k) continue;
      const o = r.item;
      if (o.term === e.term) {
        if (o.type !== e.type || !bytesEqual(o.data, e.data)) {
          const at = firstDifference(o.data, e.data);
          this.findings.fail(
            'replicas',
            `entry ${k} (term ${e.term}) differs from ${chosen.files.name}'s: ${o.type !== e.type ? `type ${o.type} vs ${e.type}` : `first difference at byte ${at} of ${Math.max(o.data.length, e.data.length)}`}; Raft logs agree on every entry of the same index and term`,
            {
              shard: this.shard,
              replica: r.files.name,
              index: k,
              file: o.file,
              offset: o.offset,
            },
          );
        }
        continue;
      }
      // Different terms: the replica with the lower one holds an entry a later leader replaced.
      const where = { shard: this.shard, replica: r.files.name, index: k, file: o.file, offset: o.offset };
      if (k <= this.commitKnown)
        this.findings.fail(
          'replicas',
          `term ${o.term} where ${chosen.files.name} has term ${e.term}, at an index known committed (${this.commitKnown}): committed entries differ`,
          where,
        );
      else
        this.findings.note(
          'replicas',
          `diverges from ${chosen.files.name} at ${k} (term ${o.term} vs ${e.term}): an uncommitted suffix a later leader replaced; not compared further`,
          where,
        );
      r.active = false;
    }
  }

  /** False if the state machine threw (a broken engine invariant): nothing after it can be trusted. */
  private apply(entry: Entry): boolean {
    let results: ApplyResult[];
    try {
      results = this.sm.apply(entry.index, commandData(entry));
    } catch (err) {
      this.findings.fail('replay', `the state machine failed: ${(err as Error).message}`, {
        shard: this.shard,
        index: entry.index,
      });
      this.stoppedBy = 'unreadable';
      return false;
    }
    const ev = this.sm.events;
    this.counts.entries++;
    this.counts.commands += results.length;
    for (const r of results) if (r.outcome === 1) this.counts.applied++;
    this.counts.events += ev.count;
    if (entry.index > this.commitKnown) this.counts.uncommittedApplied++;
    if (this.wantedAny) this.capture(ev);
    if (this.onApplied !== undefined) this.onApplied(entry, results, ev);
    const checks = this.snapshotChecks.get(entry.index);
    if (checks !== undefined) this.checkSnapshots(entry.index, checks);
    if (this.checkpointEvery > 0 && this.counts.entries % this.checkpointEvery === 0)
      this.checkpoints.push({ index: entry.index, stateHash: this.sm.stateHash() });
    return true;
  }

  private checkSnapshots(index: number, checks: { replica: string; file: SnapshotFile }[]): void {
    const mine = this.sm.snapshot();
    for (const { replica, file } of checks) {
      const where = { shard: this.shard, replica, index, file: file.name };
      const snap = loadSnapshotFile(file);
      if (typeof snap === 'string') {
        this.findings.fail('snapshot', `unreadable: ${snap}`, where);
        continue;
      }
      let recorded: Uint8Array;
      try {
        recorded = decodeSnapshotEnvelope(snap.bytes).sm;
      } catch (err) {
        this.findings.fail('snapshot', (err as Error).message, where);
        continue;
      }
      this.counts.snapshotsChecked++;
      if (bytesEqual(recorded, mine)) continue;
      this.findings.fail(
        'snapshot',
        `state hash ${hashSnapshot(recorded)} recorded, ${hashSnapshot(mine)} replayed: ${describeStateDifference(recorded, mine)}`,
        where,
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Report source (chain check)
  // -------------------------------------------------------------------------------------------

  want(execId: number): void {
    if (execId >= this.wanted.length) {
      const size = Math.max(execId + 1, this.wanted.length * 2, 1024);
      const w = new Uint32Array(size);
      w.set(this.wanted);
      this.wanted = w;
      const l = new Float64Array(size);
      l.set(this.loc);
      this.loc = l;
    }
    this.wanted[execId]!++;
    this.wantedAny = true;
  }

  private capture(ev: EventBuffer): void {
    const wanted = this.wanted;
    const n = wanted.length;
    const kind = ev.kind;
    const id = ev.id;
    for (let i = 0; i < ev.count; i++) {
      if (kind[i] !== EventKind.EXEC) continue;
      const x = id[i]!;
      if (x >= n || wanted[x] === 0) continue;
      const need = execRowBytesMax(ev, i);
      let c = this.chunks.length - 1;
      if (c < 0 || this.chunkPos + need > this.chunks[c]!.length) {
        const chunk = new Uint8Array(Math.max(RECORD_CHUNK_BYTES, need));
        this.chunks.push(chunk);
        this.chunkViews.push(new DataView(chunk.buffer));
        this.chunkRefs.push(0);
        this.dropChunkIfDone(c);
        c++;
        this.chunkPos = 0;
      }
      const at = this.chunkPos;
      this.chunkPos = writeExecRow(this.chunks[c]!, this.chunkViews[c]!, at, this.shard, ev, i);
      this.loc[x] = c * 2 ** 32 + at + 1;
      this.chunkRefs[c]! += wanted[x]!;
    }
  }

  private dropChunkIfDone(c: number): void {
    if (c >= 0 && c < this.chunks.length - 1 && this.chunkRefs[c] === 0) {
      this.chunks[c] = undefined;
      this.chunkViews[c] = undefined;
    }
  }

  regenerate(execId: number, out: RecordBuffer): Unavailable | undefined {
    if (execId <= this.startExecId)
      return { unavailable: 'before-start', detail: `exec ids up to ${this.startExecId} are in the starting snapshot` };
    let l = execId < this.loc.length ? this.loc[execId]! : 0;
    while (l === 0) {
      if (this.sm.engine.execIdLast >= execId) {
        return {
          unavailable: 'missing',
          detail: `exec id ${execId} was emitted at or before index ${this.sm.appliedIndex} but is named more often than planned`,
        };
      }
      if (!this.step()) {
        const where = `the replay ended at index ${this.sm.appliedIndex} with exec ids up to ${this.sm.engine.execIdLast}`;
        if (this.stoppedBy === 'to-index') return { unavailable: 'beyond-end', detail: `${where} (--to-index)` };
        if (this.stoppedBy === 'unreadable')
          return { unavailable: 'unreadable', detail: `${where}: the log is unreadable after it` };
        return { unavailable: 'missing', detail: `${where}, the end of every replica's log` };
      }
      l = this.loc[execId]!;
    }
    const c = Math.floor((l - 1) / 2 ** 32);
    const at = (l - 1) % 2 ** 32;
    const chunk = this.chunks[c]!;
    out.append(chunk, at, execRowLength(this.chunkViews[c]!, at));
    if (--this.wanted[execId]! === 0) this.loc[execId] = 0;
    this.chunkRefs[c]!--;
    this.dropChunkIfDone(c);
    return undefined;
  }

  // -------------------------------------------------------------------------------------------

  /** Replays what is left, classifies torn tails, closes the files. */
  finish(): ShardSummary {
    while (this.step());
    for (const r of this.replicas) {
      r.reader.close();
      const p = r.tail;
      if (p === undefined) continue;
      const where = { shard: this.shard, replica: p.replica, index: p.index, file: p.file, offset: p.offset };
      const ownCommit = r.files.hardState?.commit ?? 0;
      if (p.index <= ownCommit) {
        this.findings.fail(
          'wal',
          `damaged record at the end of the log: ${p.reason}; this replica's hard state says entries up to ${ownCommit} were committed, so it was durable: not a torn write`,
          where,
        );
      } else {
        const peer = this.replicas.find((x) => x !== r && x.provided > 0 && (x.files.last?.index ?? 0) >= p.index);
        this.findings.note(
          'wal',
          `unreadable tail: ${p.reason}. Beyond this replica's own commit index (${ownCommit}): what a write cut short by a crash leaves${peer !== undefined ? `; entry ${p.index} taken from ${peer.files.name}` : '; the replay ends before it'}`,
          where,
        );
      }
    }
    this.chunks = [];
    this.chunkViews = [];
    return {
      shard: this.shard,
      replicas: this.replicaNames,
      start: this.start,
      endIndex: this.sm.appliedIndex,
      stoppedBy: this.stoppedBy ?? 'end',
      commitKnown: this.commitKnown,
      uncommittedApplied: this.counts.uncommittedApplied,
      entries: this.counts.entries,
      commands: this.counts.commands,
      applied: this.counts.applied,
      events: this.counts.events,
      execIdLast: this.sm.engine.execIdLast,
      stateHash: this.sm.stateHash(),
      snapshotsChecked: this.counts.snapshotsChecked,
      checkpoints: this.checkpoints,
    };
  }
}

type EntryItem = Extract<ReadItem, { kind: 'entry' }>;

/** Bytes of one chunk of captured exec records. */
const RECORD_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * The highest index the files prove committed: any replica's hard-state commit (saved lazily:
 * a lower bound) or snapshot (taken of applied state), and — when every member's directory is
 * given — the index a majority holds in the newest term any log has (Raft's election rule
 * makes every later leader keep those entries).
 */
export function commitKnown(files: ReplicaFiles[], clusterSize: number): number {
  let c = 0;
  for (const f of files) {
    c = Math.max(c, f.hardState?.commit ?? 0);
    for (const s of f.snapshots) c = Math.max(c, s.index);
  }
  if (files.length >= clusterSize) {
    const lasts = files.map((f) => f.last).filter((l): l is { index: number; term: number } => l !== undefined);
    const top = Math.max(0, ...lasts.map((l) => l.term));
    const inTop = lasts
      .filter((l) => l.term === top)
      .map((l) => l.index)
      .sort((a, b) => b - a);
    const majority = Math.floor(clusterSize / 2) + 1;
    if (inTop.length >= majority) c = Math.max(c, inTop[majority - 1]!);
  }
  return c;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.length === b.length &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
  );
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Which part of two state-machine snapshots (shard/state-machine.ts layout) differs. */
export function describeStateDifference(recorded: Uint8Array, replayed: Uint8Array): string {
  const head = (b: Uint8Array) => {
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    if (b.length < 32) return undefined;
    const engineLength = v.getUint32(28, true);
    return {
      appliedIndex: v.getFloat64(4, true),
      lastSeq: v.getFloat64(12, true),
      nowUs: v.getFloat64(20, true),
      engine: b.subarray(32, 32 + engineLength),
      sessions: b.subarray(32 + engineLength),
    };
  };
  const a = head(recorded);
  const b = head(replayed);
  if (a === undefined || b === undefined) return 'malformed snapshot';
  const parts: string[] = [];
  if (a.appliedIndex !== b.appliedIndex) parts.push(`applied index ${a.appliedIndex} vs ${b.appliedIndex}`);
  if (a.lastSeq !== b.lastSeq) parts.push(`engine seq ${a.lastSeq} vs ${b.lastSeq}`);
  if (a.nowUs !== b.nowUs) parts.push(`log time ${a.nowUs} vs ${b.nowUs}`);
  if (!bytesEqual(a.engine, b.engine))
    parts.push(
      `engine state (book, orders, counters) differs, first at byte ${firstDifference(a.engine, b.engine)} of the engine image`,
    );
  if (!bytesEqual(a.sessions, b.sessions)) parts.push('client session table differs');
  return parts.length > 0 ? parts.join('; ') : 'different bytes';
}

// ---------------------------------------------------------------------------------------------
// The whole replay
// ---------------------------------------------------------------------------------------------

export interface ReplayOptions {
  sources: Sources;
  from: StartMode;
  toIndex?: number;
  /** Run the checks (snapshots, report chain); without it, only the logs' own integrity is checked. */
  verify: boolean;
  /** Reports as received by a client, compared one by one (JSON lines). */
  reportsFile?: string;
  /** Every event as a JSON line (pipe-mode format); one shard only. */
  eventsOut?: (line: string) => void;
  /** SHA-256 over every event in the binary event codec, entry by entry. */
  eventsDigest?: boolean;
  checkpointEvery?: number;
  /** Hashing threads for the chain: undefined = automatic (one for large chains), 0 = this thread. */
  hashThreads?: number;
  /** Extra per-entry hook (the audit export). */
  onApplied?: (shard: number, entry: Entry, results: ApplyResult[], events: EventBuffer) => void;
  /** Called once per shard before its first entry, with the index the files prove committed. */
  onShardStart?: (shard: number, commitKnown: number) => void;
}

export interface ReplayResult {
  exitCode: number;
  findings: Finding[];
  counts: Findings['counts'];
  shards: ShardSummary[];
  chain: ChainSummary | undefined;
  eventsDigest: string | undefined;
  elapsedMs: number;
}

export async function replay(opts: ReplayOptions): Promise<ReplayResult> {
  const t0 = performance.now();
  const findings = new Findings();
  const { sources } = opts;
  if (opts.toIndex !== undefined && sources.shards.length > 1)
    throw new SourceError("--to-index is an index of one shard's log: give --shard too");
  if (opts.eventsOut !== undefined && sources.shards.length > 1)
    throw new SourceError("--events-out writes one shard's events: give --shard too");
  const shards = sources.shards.map(
    (source) =>
      new ShardReplay({
        source,
        from: opts.from,
        ...(opts.toIndex !== undefined ? { toIndex: opts.toIndex } : {}),
        verifySnapshots: opts.verify,
        findings,
        checkpointEvery: opts.checkpointEvery ?? 0,
      }),
  );
  for (const s of shards) opts.onShardStart?.(s.shard, s.commitKnown);
  const digest = opts.eventsDigest === true ? createHash('sha256') : undefined;
  const writer = new ByteWriter(1 << 16);
  for (const s of shards) {
    const out = opts.eventsOut;
    const extra = opts.onApplied;
    if (out === undefined && digest === undefined && extra === undefined) continue;
    s.onApplied = (entry, results, ev) => {
      if (digest !== undefined) {
        writer.reset();
        encodeEventsTo(writer, ev, 0, ev.count);
        digest.update(writer.view());
      }
      if (out !== undefined) for (let i = 0; i < ev.count; i++) out(eventToJson(ev.event(i)));
      if (extra !== undefined) extra(s.shard, entry, results, ev);
    };
  }
  let chain: ChainSummary | undefined;
  const gw = sources.gateway;
  if (opts.verify && gw !== undefined && (gw.journalPath !== undefined || gw.headsPath !== undefined)) {
    const byShard = new Map(shards.map((s) => [s.shard, s]));
    const source: ReportSource = {
      startExecId: (shard) => byShard.get(shard)?.startExecId,
      want: (shard, execId) => byShard.get(shard)!.want(execId),
      regenerate: (shard, execId, out) => {
        const s = byShard.get(shard);
        return s === undefined
          ? { unavailable: 'not-replayed', detail: `shard ${shard} is not replayed` }
          : s.regenerate(execId, out);
      },
    };
    const check = new ChainCheck(
      {
        journalPath: gw.journalPath,
        headsPath: gw.headsPath,
        publicKeyPath: gw.publicKeyPath,
        hashThreads: opts.hashThreads ?? -1,
        ...(opts.reportsFile !== undefined ? { reportsFile: opts.reportsFile } : {}),
      },
      findings,
    );
    check.plan(source);
    await check.run(source);
    chain = check.summary;
  } else if (opts.verify && opts.reportsFile !== undefined) {
    throw new SourceError('--reports needs the gateway directory (chain-journal.bin, chain-heads.jsonl)');
  }
  const summaries = shards.map((s) => s.finish());
  for (const s of summaries) {
    if (s.stoppedBy === 'to-index') findings.note('replay', `stopped at --to-index ${s.endIndex}`, { shard: s.shard });
    if (s.uncommittedApplied > 0)
      findings.note(
        'replay',
        `${s.uncommittedApplied} entries after index ${s.commitKnown} were replayed that the files do not prove committed (give every replica's directory to prove more)`,
        { shard: s.shard },
      );
  }
  return {
    exitCode: findings.exitCode(),
    findings: findings.list,
    counts: findings.counts,
    shards: summaries,
    chain,
    eventsDigest: digest?.digest('hex'),
    elapsedMs: performance.now() - t0,
  };
}
