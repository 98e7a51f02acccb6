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
// Sessions are evicted least-recently-used by log time, deterministically, and are part of
// the snapshot.
//
// Batch entry layout (little-endian; proto/client-frames.md shares the command encoding):
//   u8 version (2) | u32 count | count × ( f64 clientId | f64 requestSeq | f64 tsUs | u32 length | command bytes )

import { Engine } from '../engine/engine.js';
import { EventBuffer } from '../engine/event-buffer.js';
import { decodeCommand } from '../engine/command-codec.js';
import { readSnapshot, writeSnapshot, hashSnapshot } from '../engine/snapshot.js';
import type { Command, ShardConfig } from '../engine/types.js';
import { EntryType, type Entry } from './raft/types.js';

/** Sessions kept per shard; beyond it the least recently used is forgotten (a forgotten client must start a new clientId at request 1). */
export const SESSION_COUNT_MAX = 100_000;
/** Largest encoded command accepted (bytes of the command codec). */
export const COMMAND_BYTES_MAX = 64 * 1024;
/** Commands packed into one log entry at most. */
export const BATCH_COMMANDS_MAX = 4096;
/** Bytes of one batch entry at most (1 MiB = the Raft core's APPEND_BYTES_MAX, so an entry always fits one APPEND). */
export const BATCH_BYTES_MAX = 1024 * 1024;

const BATCH_VERSION = 2;
const BATCH_HEADER_BYTES = 1 + 4;
/** Per command in a batch: clientId, requestSeq, tsUs (f64 each) and the body length (u32). */
export const BATCH_COMMAND_OVERHEAD_BYTES = 8 + 8 + 8 + 4;
const SNAPSHOT_MAGIC = 0x3253534d; // 'MSS2'
/** Per session in a snapshot: f64 clientId, f64 lastRequestSeq, f64 lastAppliedIndex, f64 lastSeq. */
const SESSION_RECORD_BYTES = 32;

/** One client command as the leader logs it: who, which request, the leader's clock, the encoded engine command. */
export interface LoggedCommand {
  clientId: number;
  requestSeq: number;
  tsUs: number;
  /** engine/command-codec.ts encoding of the command (without seq/tsUs). */
  body: Uint8Array;
}

/** Bytes a batch of these commands takes in a log entry. */
export function batchBytes(commands: readonly LoggedCommand[]): number {
  let n = BATCH_HEADER_BYTES;
  for (const c of commands) n += BATCH_COMMAND_OVERHEAD_BYTES + c.body.length;
  return n;
}

export function encodeBatch(commands: readonly LoggedCommand[]): Uint8Array {
  const out = new Uint8Array(batchBytes(commands));
  const v = new DataView(out.buffer);
  v.setUint8(0, BATCH_VERSION);
  v.setUint32(1, commands.length, true);
  let o = BATCH_HEADER_BYTES;
  for (const c of commands) {
    v.setFloat64(o, c.clientId, true);
    v.setFloat64(o + 8, c.requestSeq, true);
    v.setFloat64(o + 16, c.tsUs, true);
    v.setUint32(o + 24, c.body.length, true);
    out.set(c.body, o + BATCH_COMMAND_OVERHEAD_BYTES);
    o += BATCH_COMMAND_OVERHEAD_BYTES + c.body.length;
  }
  return out;
}

/** Decodes a batch entry (tests, tools); undefined if the bytes are not one. */
export function decodeBatch(data: Uint8Array): LoggedCommand[] | undefined {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < BATCH_HEADER_BYTES || v.getUint8(0) !== BATCH_VERSION) return undefined;
  const count = v.getUint32(1, true);
  const out: LoggedCommand[] = [];
  let o = BATCH_HEADER_BYTES;
  for (let k = 0; k < count; k++) {
    if (o + BATCH_COMMAND_OVERHEAD_BYTES > data.length) return undefined;
    const len = v.getUint32(o + 24, true);
    if (o + BATCH_COMMAND_OVERHEAD_BYTES + len > data.length) return undefined;
    out.push({
      clientId: v.getFloat64(o, true),
      requestSeq: v.getFloat64(o + 8, true),
      tsUs: v.getFloat64(o + 16, true),
      body: data.slice(o + BATCH_COMMAND_OVERHEAD_BYTES, o + BATCH_COMMAND_OVERHEAD_BYTES + len),
    });
    o += BATCH_COMMAND_OVERHEAD_BYTES + len;
  }
  return o === data.length ? out : undefined;
}

export const ApplyOutcome = {
  /** Applied to the engine as `seq`; its events are rows [eventsFrom, eventsTo) of the buffer. */
  APPLIED: 1,
  /** requestSeq ≤ the session's last: already applied (at `appliedIndex`/`seq` when it is the last one, else earlier); nothing changed. */
  DUPLICATE: 2,
  /** requestSeq skips ahead of last + 1 (or a new session not starting at 1): refused, nothing changed; resend from last + 1. */
  SEQUENCE_GAP: 3,
} as const;
export type ApplyOutcome = (typeof ApplyOutcome)[keyof typeof ApplyOutcome];
export interface ApplyResult {
  outcome: ApplyOutcome;
  clientId: number;
  requestSeq: number;
  /** Log index at which the command took effect (for DUPLICATE: the original index, or 0 if older than the session's last). */
  appliedIndex: number;
  /** Engine sequence number of the command (for DUPLICATE as appliedIndex; 0 for SEQUENCE_GAP). */
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
  appliedIndex = 0;
  /** Engine sequence number of the last command applied (dense: one per command in the log). */
  lastSeq = 0;
  /** Log time of the newest applied command (sessions age by it). */
  private nowUs = 0;

  constructor(private readonly config: ShardConfig) {
    this.engine = new Engine(config);
  }

  /**
   * Applies one committed entry: one result per command of the batch, in order (none for a
   * no-op or membership entry). Events of all its commands are in `this.events` (cleared first).
   */
  apply(entry: Entry): ApplyResult[] {
    if (entry.index <= this.appliedIndex) throw new Error(`state machine: entry ${entry.index} already applied (at ${this.appliedIndex})`);
    this.appliedIndex = entry.index;
    this.events.clear();
    if (entry.type !== EntryType.NORMAL || entry.data.length === 0) return [];
    const data = entry.data;
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const count = validBatchCount(data, v);
    if (count < 0) {
      // Still consume a sequence number in the engine, so replicas stay identical and the reject is visible.
      this.malformed();
      return [];
    }
    const results: ApplyResult[] = new Array(count);
    let o = BATCH_HEADER_BYTES;
    for (let k = 0; k < count; k++) {
      const clientId = v.getFloat64(o, true);
      const requestSeq = v.getFloat64(o + 8, true);
      const tsUs = v.getFloat64(o + 16, true);
      const len = v.getUint32(o + 24, true);
      results[k] = this.applyCommand(entry.index, clientId, requestSeq, tsUs, data, o + BATCH_COMMAND_OVERHEAD_BYTES, len);
      o += BATCH_COMMAND_OVERHEAD_BYTES + len;
    }
    return results;
  }

  private applyCommand(index: number, clientId: number, requestSeq: number, tsUs: number, data: Uint8Array, offset: number, length: number): ApplyResult {
    const from = this.events.count;
    if (!Number.isSafeInteger(clientId) || !Number.isSafeInteger(requestSeq) || !Number.isSafeInteger(tsUs)) {
      this.malformed();
      return { outcome: ApplyOutcome.SEQUENCE_GAP, clientId: 0, requestSeq: 0, appliedIndex: 0, seq: 0, eventsFrom: from, eventsTo: from };
    }
    if (tsUs > this.nowUs) this.nowUs = tsUs;
    // Requests of one client are applied in order, each exactly once. The Raft log keeps a prefix of
    // what a client sent in order, so a client resending everything unacknowledged, in order, to a
    // new leader sees DUPLICATE for what already took effect and APPLIED for the rest.
    const session = this.sessions.get(clientId);
    const last = session?.lastRequestSeq ?? 0;
    if (requestSeq <= last) {
      const same = requestSeq === last;
      return {
        outcome: ApplyOutcome.DUPLICATE,
        clientId,
        requestSeq,
        appliedIndex: same ? session!.lastAppliedIndex : 0,
        seq: same ? session!.lastSeq : 0,
        eventsFrom: from,
        eventsTo: from,
      };
    }
    if (requestSeq !== last + 1) {
      return { outcome: ApplyOutcome.SEQUENCE_GAP, clientId, requestSeq, appliedIndex: 0, seq: 0, eventsFrom: from, eventsTo: from };
    }
    const seq = ++this.lastSeq;
    const cmd = decodeCommand(data, offset, length, seq, tsUs) ?? ({ seq, tsUs } as unknown as Command); // no type: MALFORMED_COMMAND
    this.engine.apply(cmd, this.events);
    // Move the session to the back of the map: Map iteration order is the LRU order.
    if (session !== undefined) {
      this.sessions.delete(clientId);
      session.lastRequestSeq = requestSeq;
      session.lastAppliedIndex = index;
      session.lastSeq = seq;
      this.sessions.set(clientId, session);
    } else {
      this.sessions.set(clientId, { lastRequestSeq: requestSeq, lastAppliedIndex: index, lastSeq: seq });
      if (this.sessions.size > SESSION_COUNT_MAX) this.sessions.delete(this.sessions.keys().next().value!);
    }
    return { outcome: ApplyOutcome.APPLIED, clientId, requestSeq, appliedIndex: index, seq, eventsFrom: from, eventsTo: this.events.count };
  }

  /** An undecodable payload: the engine rejects it under the next sequence number. */
  private malformed(): void {
    const seq = ++this.lastSeq;
    this.engine.apply({ seq, tsUs: this.nowUs } as unknown as Command, this.events); // no type: MALFORMED_COMMAND
  }

  /** Engine snapshot plus the session table, in LRU order (so a restore evicts identically). */
  snapshot(): Uint8Array {
    const engineBytes = writeSnapshot(this.engine);
    const sessionBytes = 8 + this.sessions.size * SESSION_RECORD_BYTES;
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
    if (bytes.length < 40 || v.getUint32(0, true) !== SNAPSHOT_MAGIC) throw new Error('state machine snapshot: bad magic');
    let o = 4;
    const appliedIndex = v.getFloat64(o, true);
    o += 8;
    const lastSeq = v.getFloat64(o, true);
    o += 8;
    const nowUs = v.getFloat64(o, true);
    o += 8;
    const engineLength = v.getUint32(o, true);
    o += 4;
    if (o + engineLength + 8 > bytes.length) throw new Error('state machine snapshot: bad length');
    const engine = readSnapshot(this.config, bytes.subarray(o, o + engineLength));
    o += engineLength;
    const count = v.getFloat64(o, true);
    o += 8;
    if (o + count * SESSION_RECORD_BYTES !== bytes.length) throw new Error('state machine snapshot: bad length');
    const sessions = new Map<number, Session>();
    for (let k = 0; k < count; k++) {
      sessions.set(v.getFloat64(o, true), { lastRequestSeq: v.getFloat64(o + 8, true), lastAppliedIndex: v.getFloat64(o + 16, true), lastSeq: v.getFloat64(o + 24, true) });
      o += SESSION_RECORD_BYTES;
    }
    this.engine = engine;
    this.sessions = sessions;
    this.appliedIndex = appliedIndex;
    this.lastSeq = lastSeq;
    this.nowUs = nowUs;
  }

  /** SHA-256 of the snapshot: equal on every replica at equal applied index. */
  stateHash(): string {
    return hashSnapshot(this.snapshot());
  }
}

/** Number of commands if `data` is a well-formed batch (lengths add up exactly), else -1. */
function validBatchCount(data: Uint8Array, v: DataView): number {
  if (data.length < BATCH_HEADER_BYTES || v.getUint8(0) !== BATCH_VERSION) return -1;
  const count = v.getUint32(1, true);
  if (count > BATCH_COMMANDS_MAX) return -1;
  let o = BATCH_HEADER_BYTES;
  for (let k = 0; k < count; k++) {
    if (o + BATCH_COMMAND_OVERHEAD_BYTES > data.length) return -1;
    const len = v.getUint32(o + 24, true);
    if (len > COMMAND_BYTES_MAX) return -1;
    o += BATCH_COMMAND_OVERHEAD_BYTES + len;
  }
  return o === data.length ? count : -1;
}
