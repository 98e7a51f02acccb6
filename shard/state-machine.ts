// The replicated state machine of one shard: committed log entries in, engine events out.
// Every replica runs it on the same committed entries, so every replica holds the same
// engine state (same state hash at the same applied index).
//
// A log entry carries a BATCH of client commands (the leader packs whatever proposals queued
// while it was busy into one entry, so Raft, the WAL and the network pay per batch, not per
// command). Each command gets the next engine sequence number (`seq`, dense over the shard's
// history: the engine's orderId of a new order is its seq), so (log index, position) and seq
// map one to one. Command bodies are in the binary command codec (engine/command-codec.ts).
//
// Client sessions (Raft thesis §6.3): each client command carries (clientId, requestSeq).
// A retry of a request that was already applied (for instance resent to a new leader after
// a timeout) is recognised and not applied again, so a command is applied exactly once.
// Sessions are REGISTERED: a client first logs a register command (clientId 0, requestSeq 0,
// empty body) and the state machine allocates its id from a dense counter, so it knows every
// id it ever handed out. That is what makes eviction safe: the table keeps at most
// sessionCountMax sessions (a registration into a full table evicts the least recently used,
// deterministically), and a request of an evicted session is refused SESSION_EXPIRED — never
// taken for a new session's request 1, which would apply it a second time. Client ids < 0 are
// the replicas' own commands (the leader's time ticks): applied without a session, never
// deduplicated (a leader proposes each tick once and never resends it). The counter and the
// table are part of the snapshot.
//
// The batch layout is batch-codec.ts's. The state machine knows nothing of the log that
// carries its entries: apply() takes an index and the entry's bytes (empty for the log's own
// entries: no-ops, membership changes), and replicator/ sees it through its StateMachine
// interface.

import { Engine } from '../engine/engine.js';
import { EventBuffer } from '../engine/event-buffer.js';
import { decodeCommand } from '../engine/command-codec.js';
import { readSnapshot, writeSnapshot, hashSnapshot } from '../engine/snapshot.js';
import type { Command, ShardConfig } from '../engine/types.js';
import { BATCH_VERSION_OLD, BatchCursor, batchCommandCount } from './batch-codec.js';

/**
 * Sessions kept per shard (default of the constructor's sessionCountMax). A registration into a
 * full table evicts the least recently used; that session's requests are then refused
 * SESSION_EXPIRED. A full table takes 3.2 MB of every snapshot (32 bytes per session).
 */
export const SESSION_COUNT_MAX = 100_000;
const SNAPSHOT_MAGIC = 0x3353534d; // 'MSS3'
const SNAPSHOT_MAGIC_OLD = 0x3253534d; // 'MSS2': implicit sessions, refused
/** Per session in a snapshot: f64 clientId, f64 lastRequestSeq, f64 lastAppliedIndex, f64 lastSeq. */
const SESSION_RECORD_BYTES = 32;

export const ApplyOutcome = {
  /** Applied to the engine as `seq`; its events are rows [eventsFrom, eventsTo) of the buffer. */
  APPLIED: 1,
  /** requestSeq ≤ the session's last: already applied (at `appliedIndex`/`seq` when it is the last one, else earlier); nothing changed. */
  DUPLICATE: 2,
  /** requestSeq skips ahead of last + 1 (a session's first request must be 1): refused, nothing changed; retryable: resend from last + 1. */
  SEQUENCE_GAP: 3,
  /**
   * A register command: a new session `clientId` (dense: 1, 2, …) was created with no request
   * applied; the least recently used session was evicted if the table was full. No engine seq
   * is consumed, no events. The only outcome besides APPLIED that changes state.
   */
  REGISTERED: 4,
  /**
   * The session was registered but has been evicted since: refused, nothing changed. NOT
   * retryable: whether this request (if it is a resend) took effect before the eviction cannot
   * be told any more, and resending it under a new session could apply it twice.
   */
  SESSION_EXPIRED: 5,
  /** clientId was never allocated (above every id handed out, or 0 without being a register command): refused, nothing changed; not retryable. */
  UNKNOWN_SESSION: 6,
} as const;
export type ApplyOutcome = (typeof ApplyOutcome)[keyof typeof ApplyOutcome];

/** Names of the outcomes (wire replies, the audit export): one table for every user. */
export const OUTCOME_NAMES: Readonly<Record<number, string>> = {
  [ApplyOutcome.APPLIED]: 'APPLIED',
  [ApplyOutcome.DUPLICATE]: 'DUPLICATE',
  [ApplyOutcome.SEQUENCE_GAP]: 'SEQUENCE_GAP',
  [ApplyOutcome.REGISTERED]: 'REGISTERED',
  [ApplyOutcome.SESSION_EXPIRED]: 'SESSION_EXPIRED',
  [ApplyOutcome.UNKNOWN_SESSION]: 'UNKNOWN_SESSION',
};

export interface ShardStateMachineOptions {
  /** Sessions kept at most (default SESSION_COUNT_MAX); tests use a small one to reach eviction. Every replica must use the same. */
  sessionCountMax?: number;
}
export interface ApplyResult {
  outcome: ApplyOutcome;
  /** The command's clientId; for REGISTERED the id just allocated. */
  clientId: number;
  requestSeq: number;
  /** Log index at which the command took effect (for DUPLICATE: the original index, or 0 if older than the session's last; REGISTERED: the registration's; 0 when refused). */
  appliedIndex: number;
  /** Engine sequence number of the command (for DUPLICATE as appliedIndex; 0 for REGISTERED and refusals). */
  seq: number;
  /** Its events: rows [eventsFrom, eventsTo) of the state machine's event buffer, until the next apply(). */
  eventsFrom: number;
  eventsTo: number;
}

/** LRU order is the Map's insertion order (a used session is re-inserted at the back). */
interface Session {
  lastRequestSeq: number;
  lastAppliedIndex: number;
  lastSeq: number;
}

export class ShardStateMachine {
  engine: Engine;
  readonly events = new EventBuffer();
  private sessions = new Map<number, Session>();
  /** Session ids handed out so far: ids 1..sessionsAllocated were registered (some may be evicted). */
  sessionsAllocated = 0;
  appliedIndex = 0;
  /** Engine sequence number of the last command applied (dense: one per command in the log). */
  lastSeq = 0;
  /** Log time of the newest applied command. */
  private nowUs = 0;
  /** The newest command time (µs) of the last applied entry (batch-codec.ts batchTimeUs); 0 for an entry without commands. */
  entryTimeUs = 0;
  private readonly sessionCountMax: number;

  constructor(
    private readonly config: ShardConfig,
    opts: ShardStateMachineOptions = {},
  ) {
    this.engine = new Engine(config);
    this.sessionCountMax = opts.sessionCountMax ?? SESSION_COUNT_MAX;
    if (!Number.isSafeInteger(this.sessionCountMax) || this.sessionCountMax < 1)
      throw new RangeError(`sessionCountMax ${this.sessionCountMax}`);
  }

  /** Log time of the newest applied command (µs; only grows along a log): the events publisher records it to recognise its log. */
  get logTimeUs(): number {
    return this.nowUs;
  }

  /** Sessions in the table now (≤ sessionCountMax). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /**
   * Applies one committed entry: one result per command of the batch, in order (none for an
   * entry without data: the log's no-ops and membership changes). Events of all its commands
   * are in `this.events` (cleared first).
   */
  apply(index: number, data: Uint8Array): ApplyResult[] {
    if (index <= this.appliedIndex)
      throw new Error(`state machine: entry ${index} already applied (at ${this.appliedIndex})`);
    this.appliedIndex = index;
    this.events.clear();
    this.entryTimeUs = 0;
    if (data.length === 0) return [];
    if (data[0] === BATCH_VERSION_OLD) {
      throw new Error(
        `log entry ${index}: log written by an older matchbook (batch version ${BATCH_VERSION_OLD}): this version registers client sessions; wipe the data directory`,
      );
    }
    const count = batchCommandCount(data);
    if (count < 0) {
      // Still consume a sequence number in the engine, so replicas stay identical and the reject is visible.
      this.malformed();
      return [];
    }
    const results: ApplyResult[] = new Array(count);
    let k = 0;
    for (const c = new BatchCursor(data, count); c.next(); k++) {
      if (Number.isSafeInteger(c.tsUs) && c.tsUs > this.entryTimeUs) this.entryTimeUs = c.tsUs;
      results[k] = this.applyCommand(index, c.clientId, c.requestSeq, c.tsUs, data, c.bodyOffset, c.bodyLength);
    }
    return results;
  }

  private applyCommand(
    index: number,
    clientId: number,
    requestSeq: number,
    tsUs: number,
    data: Uint8Array,
    offset: number,
    length: number,
  ): ApplyResult {
    const from = this.events.count;
    if (!Number.isSafeInteger(clientId) || !Number.isSafeInteger(requestSeq) || !Number.isSafeInteger(tsUs)) {
      this.malformed();
      return {
        outcome: ApplyOutcome.SEQUENCE_GAP,
        clientId: 0,
        requestSeq: 0,
        appliedIndex: 0,
        seq: 0,
        eventsFrom: from,
        eventsTo: from,
      };
    }
    if (tsUs > this.nowUs) this.nowUs = tsUs;
    // The replicas' own commands (time ticks): no session. A leader proposes each once and never
    // resends it, so there is nothing to deduplicate, and a session per leader term would fill
    // the table over a long run.
    if (clientId < 0) return this.applyToEngine(index, clientId, requestSeq, tsUs, data, offset, length);
    if (clientId === 0) {
      if (requestSeq === 0 && length === 0) return this.register(index, requestSeq, from);
      return this.refused(ApplyOutcome.UNKNOWN_SESSION, clientId, requestSeq, from);
    }
    // Requests of one client are applied in order, each exactly once. The Raft log keeps a prefix of
    // what a client sent in order, so a client resending everything unacknowledged, in order, to a
    // new leader sees DUPLICATE for what already took effect and APPLIED for the rest.
    const session = this.sessions.get(clientId);
    if (session === undefined) {
      // Evicted: its requests may have taken effect, and a new session's request 1 is not what this is.
      return this.refused(
        clientId <= this.sessionsAllocated ? ApplyOutcome.SESSION_EXPIRED : ApplyOutcome.UNKNOWN_SESSION,
        clientId,
        requestSeq,
        from,
      );
    }
    const last = session.lastRequestSeq;
    if (requestSeq <= last) {
      const same = requestSeq === last;
      return {
        outcome: ApplyOutcome.DUPLICATE,
        clientId,
        requestSeq,
        appliedIndex: same ? session.lastAppliedIndex : 0,
        seq: same ? session.lastSeq : 0,
        eventsFrom: from,
        eventsTo: from,
      };
    }
    if (requestSeq !== last + 1) return this.refused(ApplyOutcome.SEQUENCE_GAP, clientId, requestSeq, from);
    const r = this.applyToEngine(index, clientId, requestSeq, tsUs, data, offset, length);
    // Move the session to the back of the map: Map iteration order is the LRU order.
    this.sessions.delete(clientId);
    session.lastRequestSeq = requestSeq;
    session.lastAppliedIndex = index;
    session.lastSeq = r.seq;
    this.sessions.set(clientId, session);
    return r;
  }

  private applyToEngine(
    index: number,
    clientId: number,
    requestSeq: number,
    tsUs: number,
    data: Uint8Array,
    offset: number,
    length: number,
  ): ApplyResult {
    const from = this.events.count;
    const seq = ++this.lastSeq;
    const cmd = decodeCommand(data, offset, length, seq, tsUs) ?? ({ seq, tsUs } as unknown as Command); // no type: MALFORMED_COMMAND
    this.engine.apply(cmd, this.events);
    return {
      outcome: ApplyOutcome.APPLIED,
      clientId,
      requestSeq,
      appliedIndex: index,
      seq,
      eventsFrom: from,
      eventsTo: this.events.count,
    };
  }

  /** A new session at the back of the LRU order; into a full table, the least recently used goes. */
  private register(index: number, requestSeq: number, from: number): ApplyResult {
    if (this.sessions.size >= this.sessionCountMax) this.sessions.delete(this.sessions.keys().next().value!);
    const clientId = ++this.sessionsAllocated;
    this.sessions.set(clientId, { lastRequestSeq: 0, lastAppliedIndex: 0, lastSeq: 0 });
    return {
      outcome: ApplyOutcome.REGISTERED,
      clientId,
      requestSeq,
      appliedIndex: index,
      seq: 0,
      eventsFrom: from,
      eventsTo: from,
    };
  }

  private refused(outcome: ApplyOutcome, clientId: number, requestSeq: number, from: number): ApplyResult {
    return { outcome, clientId, requestSeq, appliedIndex: 0, seq: 0, eventsFrom: from, eventsTo: from };
  }

  /** An undecodable payload: the engine rejects it under the next sequence number. */
  private malformed(): void {
    const seq = ++this.lastSeq;
    this.engine.apply({ seq, tsUs: this.nowUs } as unknown as Command, this.events); // no type: MALFORMED_COMMAND
  }

  /**
   * Engine snapshot, then the session counter and table, in LRU order (so a restore evicts
   * identically):
   *   u32 magic 'MSS3' | f64 appliedIndex | f64 lastSeq | f64 nowUs | u32 engineLength | engine |
   *   f64 sessionsAllocated | f64 count | count × (f64 clientId | f64 lastRequestSeq | f64 lastAppliedIndex | f64 lastSeq)
   * (audit/replay.ts describeStateDifference reads the part before the sessions.)
   */
  snapshot(): Uint8Array {
    const engineBytes = writeSnapshot(this.engine);
    const sessionBytes = 8 + 8 + this.sessions.size * SESSION_RECORD_BYTES;
    const out = new Uint8Array(4 + 8 + 8 + 8 + 4 + engineBytes.length + sessionBytes);
    const v = new DataView(out.buffer);
    let o = 0;
    v.setUint32(o, SNAPSHOT_MAGIC, true);
    o += 4;
    v.setFloat64(o, this.appliedIndex, true);
    o += 8;
    v.setFloat64(o, this.lastSeq, true);
    o += 8;
    v.setFloat64(o, this.nowUs, true);
    o += 8;
    v.setUint32(o, engineBytes.length, true);
    o += 4;
    out.set(engineBytes, o);
    o += engineBytes.length;
    v.setFloat64(o, this.sessionsAllocated, true);
    o += 8;
    v.setFloat64(o, this.sessions.size, true);
    o += 8;
    for (const [id, s] of this.sessions) {
      v.setFloat64(o, id, true);
      v.setFloat64(o + 8, s.lastRequestSeq, true);
      v.setFloat64(o + 16, s.lastAppliedIndex, true);
      v.setFloat64(o + 24, s.lastSeq, true);
      o += SESSION_RECORD_BYTES;
    }
    return out;
  }

  restore(bytes: Uint8Array): void {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length >= 4 && v.getUint32(0, true) === SNAPSHOT_MAGIC_OLD) {
      throw new Error(
        'state machine snapshot written by an older matchbook (MSS2, implicit client sessions): this version registers client sessions; wipe the data directory',
      );
    }
    if (bytes.length < 48 || v.getUint32(0, true) !== SNAPSHOT_MAGIC)
      throw new Error('state machine snapshot: bad magic');
    let o = 4;
    const appliedIndex = v.getFloat64(o, true);
    o += 8;
    const lastSeq = v.getFloat64(o, true);
    o += 8;
    const nowUs = v.getFloat64(o, true);
    o += 8;
    const engineLength = v.getUint32(o, true);
    o += 4;
    if (o + engineLength + 16 > bytes.length) throw new Error('state machine snapshot: bad length');
    const engine = readSnapshot(this.config, bytes.subarray(o, o + engineLength));
    o += engineLength;
    const sessionsAllocated = v.getFloat64(o, true);
    o += 8;
    const count = v.getFloat64(o, true);
    o += 8;
    if (o + count * SESSION_RECORD_BYTES !== bytes.length) throw new Error('state machine snapshot: bad length');
    if (!Number.isSafeInteger(sessionsAllocated) || sessionsAllocated < count)
      throw new Error(`state machine snapshot: ${count} sessions but ${sessionsAllocated} allocated`);
    // A smaller limit than the snapshot's writer had would make this replica evict differently.
    if (count > this.sessionCountMax)
      throw new Error(`state machine snapshot: ${count} sessions, this replica keeps at most ${this.sessionCountMax}`);
    const sessions = new Map<number, Session>();
    for (let k = 0; k < count; k++) {
      const id = v.getFloat64(o, true);
      if (!Number.isSafeInteger(id) || id < 1 || id > sessionsAllocated)
        throw new Error(`state machine snapshot: session id ${id} outside 1..${sessionsAllocated}`);
      sessions.set(id, {
        lastRequestSeq: v.getFloat64(o + 8, true),
        lastAppliedIndex: v.getFloat64(o + 16, true),
        lastSeq: v.getFloat64(o + 24, true),
      });
      o += SESSION_RECORD_BYTES;
    }
    this.engine = engine;
    this.sessions = sessions;
    this.sessionsAllocated = sessionsAllocated;
    this.appliedIndex = appliedIndex;
    this.lastSeq = lastSeq;
    this.nowUs = nowUs;
  }

  /** SHA-256 of the snapshot: equal on every replica at equal applied index. */
  stateHash(): string {
    return hashSnapshot(this.snapshot());
  }
}
