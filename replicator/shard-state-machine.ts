// The replicated state machine of one shard: committed log entries in, engine events out.
// Every replica runs it on the same committed entries, so every replica holds the same
// engine state (same state hash at the same applied index).
//
// Client sessions (Raft thesis §6.3): each client command carries (clientId, requestSeq).
// A retry of a request that was already applied (for instance resent to a new leader after
// a timeout) is recognised and not applied again, so a command is applied exactly once.
// Sessions are evicted least-recently-used by log time, deterministically, and are part of
// the snapshot.

import { Engine } from '../engine/engine.js';
import { EventBuffer } from '../engine/event-buffer.js';
import { commandFromJson } from '../engine/json-codec.js';
import { readSnapshot, writeSnapshot, hashSnapshot } from '../engine/snapshot.js';
import type { Command, ShardConfig } from '../engine/types.js';
import { EntryType, type Entry } from './raft/types.js';

/** Sessions kept per shard; beyond it the least recently used is forgotten (a forgotten client must start a new clientId at request 1). */
export const SESSION_COUNT_MAX = 100_000;
/** Largest command payload accepted in a log entry. */
export const COMMAND_BYTES_MAX = 64 * 1024;

const ENVELOPE_VERSION = 1;
const HEADER_BYTES = 1 + 8 + 8 + 8;
const SNAPSHOT_MAGIC = 0x3153534d; // 'MSS1'
/** Per session in a snapshot: f64 clientId, f64 lastRequestSeq, f64 lastAppliedIndex. */
const SESSION_RECORD_BYTES = 24;

/** What a client proposes: who, which request, the leader's clock, and the engine command (JSON form). */
export interface ClientCommand {
  clientId: number;
  requestSeq: number;
  tsUs: number;
  /** Engine command without seq/tsUs (the log supplies them). */
  command: Record<string, unknown>;
}

export function encodeClientCommand(c: ClientCommand): Uint8Array {
  const json = Buffer.from(JSON.stringify(c.command), 'utf8');
  const out = new Uint8Array(HEADER_BYTES + json.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, ENVELOPE_VERSION);
  v.setFloat64(1, c.clientId, true);
  v.setFloat64(9, c.requestSeq, true);
  v.setFloat64(17, c.tsUs, true);
  out.set(json, HEADER_BYTES);
  return out;
}

export function decodeClientCommand(data: Uint8Array): ClientCommand | undefined {
  if (data.length < HEADER_BYTES || data.length > HEADER_BYTES + COMMAND_BYTES_MAX) return undefined;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (v.getUint8(0) !== ENVELOPE_VERSION) return undefined;
  const clientId = v.getFloat64(1, true);
  const requestSeq = v.getFloat64(9, true);
  const tsUs = v.getFloat64(17, true);
  if (!Number.isSafeInteger(clientId) || !Number.isSafeInteger(requestSeq) || !Number.isSafeInteger(tsUs)) return undefined;
  let command: unknown;
  try {
    command = JSON.parse(Buffer.from(data.buffer, data.byteOffset + HEADER_BYTES, data.length - HEADER_BYTES).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof command !== 'object' || command === null || Array.isArray(command)) return undefined;
  return { clientId, requestSeq, tsUs, command: command as Record<string, unknown> };
}

export const ApplyOutcome = {
  /** Applied to the engine; its events are in the buffer. */
  APPLIED: 1,
  /** requestSeq ≤ the session's last: already applied (at `appliedIndex` when it is the last one, else earlier); nothing changed. */
  DUPLICATE: 2,
  /** requestSeq skips ahead of last + 1 (or a new session not starting at 1): refused, nothing changed; resend from last + 1. */
  SEQUENCE_GAP: 3,
  /** Not a command (no-op or membership entry), or an undecodable payload (logged as a command_reject event). */
  NOT_A_COMMAND: 4,
} as const;
export type ApplyOutcome = (typeof ApplyOutcome)[keyof typeof ApplyOutcome];
export interface ApplyResult {
  outcome: ApplyOutcome;
  clientId: number;
  requestSeq: number;
  /** Log index at which the command took effect (for DUPLICATE: the original index). */
  appliedIndex: number;
}

/** LRU order is the Map's insertion order (a used session is re-inserted at the back). */
interface Session {
  lastRequestSeq: number;
  lastAppliedIndex: number;
}

export class ShardStateMachine {
  engine: Engine;
  readonly events = new EventBuffer();
  private sessions = new Map<number, Session>();
  appliedIndex = 0;
  /** Log time of the newest applied command (sessions age by it). */
  private nowUs = 0;

  constructor(private readonly config: ShardConfig) {
    this.engine = new Engine(config);
  }

  /** Applies one committed entry. Events of an applied command are in `this.events` (cleared first). */
  apply(entry: Entry): ApplyResult {
    if (entry.index <= this.appliedIndex) throw new Error(`state machine: entry ${entry.index} already applied (at ${this.appliedIndex})`);
    this.appliedIndex = entry.index;
    this.events.clear();
    if (entry.type !== EntryType.NORMAL) return { outcome: ApplyOutcome.NOT_A_COMMAND, clientId: 0, requestSeq: 0, appliedIndex: entry.index };
    const c = decodeClientCommand(entry.data);
    if (c === undefined) {
      // Still consume the index in the engine, so replicas stay identical and the reject is visible.
      this.engine.apply({ type: 'malformed', seq: entry.index, tsUs: this.nowUs } as unknown as Command, this.events);
      return { outcome: ApplyOutcome.NOT_A_COMMAND, clientId: 0, requestSeq: 0, appliedIndex: entry.index };
    }
    if (c.tsUs > this.nowUs) this.nowUs = c.tsUs;
    // Requests of one client are applied in order, each exactly once. The Raft log keeps a prefix of
    // what a client sent in order, so a client resending everything unacknowledged, in order, to a
    // new leader sees DUPLICATE for what already took effect and APPLIED for the rest.
    const session = this.sessions.get(c.clientId);
    const last = session?.lastRequestSeq ?? 0;
    if (c.requestSeq <= last) {
      return { outcome: ApplyOutcome.DUPLICATE, clientId: c.clientId, requestSeq: c.requestSeq, appliedIndex: c.requestSeq === last ? session!.lastAppliedIndex : 0 };
    }
    if (c.requestSeq !== last + 1) {
      return { outcome: ApplyOutcome.SEQUENCE_GAP, clientId: c.clientId, requestSeq: c.requestSeq, appliedIndex: 0 };
    }
    const parsed = commandFromJson(c.command);
    const cmd = ('error' in parsed ? { type: 'malformed' } : parsed) as Command;
    (cmd as { seq: number }).seq = entry.index;
    (cmd as { tsUs: number }).tsUs = c.tsUs;
    this.engine.apply(cmd, this.events);
    // Move the session to the back of the map: Map iteration order is the LRU order.
    this.sessions.delete(c.clientId);
    this.sessions.set(c.clientId, { lastRequestSeq: c.requestSeq, lastAppliedIndex: entry.index });
    if (this.sessions.size > SESSION_COUNT_MAX) this.sessions.delete(this.sessions.keys().next().value!);
    return { outcome: ApplyOutcome.APPLIED, clientId: c.clientId, requestSeq: c.requestSeq, appliedIndex: entry.index };
  }

  /** Engine snapshot plus the session table, in LRU order (so a restore evicts identically). */
  snapshot(): Uint8Array {
    const engineBytes = writeSnapshot(this.engine);
    const sessionBytes = 8 + this.sessions.size * SESSION_RECORD_BYTES;
    const out = new Uint8Array(4 + 8 + 8 + 4 + engineBytes.length + sessionBytes);
    const v = new DataView(out.buffer);
    let o = 0;
    v.setUint32(o, SNAPSHOT_MAGIC, true);
    o += 4;
    v.setFloat64(o, this.appliedIndex, true);
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
      o += SESSION_RECORD_BYTES;
    }
    return out;
  }

  restore(bytes: Uint8Array): void {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 24 || v.getUint32(0, true) !== SNAPSHOT_MAGIC) throw new Error('state machine snapshot: bad magic');
    let o = 4;
    const appliedIndex = v.getFloat64(o, true);
    o += 8;
    const nowUs = v.getFloat64(o, true);
    o += 8;
    const engineLength = v.getUint32(o, true);
    o += 4;
    const engine = readSnapshot(this.config, bytes.subarray(o, o + engineLength));
    o += engineLength;
    const count = v.getFloat64(o, true);
    o += 8;
    if (o + count * SESSION_RECORD_BYTES !== bytes.length) throw new Error('state machine snapshot: bad length');
    const sessions = new Map<number, Session>();
    for (let k = 0; k < count; k++) {
      sessions.set(v.getFloat64(o, true), { lastRequestSeq: v.getFloat64(o + 8, true), lastAppliedIndex: v.getFloat64(o + 16, true) });
      o += SESSION_RECORD_BYTES;
    }
    this.engine = engine;
    this.sessions = sessions;
    this.appliedIndex = appliedIndex;
    this.nowUs = nowUs;
  }

  /** SHA-256 of the snapshot: equal on every replica at equal applied index. */
  stateHash(): string {
    return hashSnapshot(this.snapshot());
  }
}
