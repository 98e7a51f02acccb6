// The replicated state machine the simulation drives, behind an interface so the real
// engine-backed state machine can be plugged in later, and a toy deterministic one.
//
// Commands are {clientId, reqSeq, payload}. Each client has a session (Raft thesis §6.3):
// the state machine remembers the highest reqSeq applied per client, so a retried command
// that reaches the log twice is applied once (the second copy is a no-op that answers with
// the cached result). The toy machine keeps a small key-value map, the session table and
// a running SHA-256 chain over the commands it applied, comparable across replicas.

import { createHash } from 'node:crypto';
import { EntryType, type Entry, type SnapshotMeta } from '../raft/types.js';
import { check } from './sim-disk.js';

export interface Command {
  clientId: number;
  reqSeq: number;
  payload: Uint8Array;
}

/** Largest payload of a simulated command. */
export const COMMAND_PAYLOAD_BYTES_MAX = 64;
const COMMAND_HEADER_BYTES = 8;

export function encodeCommand(c: Command): Uint8Array {
  check(c.payload.byteLength <= COMMAND_PAYLOAD_BYTES_MAX, `command payload of ${c.payload.byteLength} bytes`);
  const out = new Uint8Array(COMMAND_HEADER_BYTES + c.payload.byteLength);
  const v = new DataView(out.buffer);
  v.setUint32(0, c.clientId, true);
  v.setUint32(4, c.reqSeq, true);
  out.set(c.payload, COMMAND_HEADER_BYTES);
  return out;
}

export function decodeCommand(data: Uint8Array): Command {
  check(data.byteLength >= COMMAND_HEADER_BYTES, `command of ${data.byteLength} bytes, too short`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { clientId: v.getUint32(0, true), reqSeq: v.getUint32(4, true), payload: data.slice(COMMAND_HEADER_BYTES) };
}

/** What applying one committed entry did. */
export type ApplyOutcome =
  | { kind: 'none' } // NOOP / CONF_CHANGE: only the applied index moves
  | { kind: 'applied'; clientId: number; reqSeq: number }
  | { kind: 'duplicate'; clientId: number; reqSeq: number; appliedAt: number }; // already applied (at appliedAt, if known)

/** The state machine of one replica. Volatile: a restarted node builds a fresh one and restores it from its snapshot. */
export interface ReplicaStateMachine {
  /** Index of the last applied entry (the snapshot's index right after restore). */
  readonly appliedIndex: number;
  /** Applies the committed entry at appliedIndex + 1 (any type). */
  apply(entry: Entry): ApplyOutcome;
  /** Serialized state at appliedIndex (includes the session table). */
  snapshot(): Uint8Array;
  /** Replaces the state with a snapshot taken at meta.index. */
  restore(meta: SnapshotMeta, data: Uint8Array): void;
  /** Hash of the state at appliedIndex, equal across replicas at equal applied index. */
  stateHash(): string;
  /** Hash at an earlier applied index, if still remembered (since the last restore, bounded). */
  hashAt(index: number): string | undefined;
  /** Highest reqSeq of `clientId` applied (0 for none): the session table. */
  lastReqSeq(clientId: number): number;
}

export type StateMachineFactory = () => ReplicaStateMachine;

/** Applied-index hashes remembered by the toy machine. */
export const HASH_HISTORY_MAX = 1024;
const KEYS = 16;
const ZERO_HASH = '0'.repeat(64);
const SNAPSHOT_MAGIC = 0x544f5953; // 'SYOT'

interface Session {
  reqSeq: number;
  appliedAt: number;
}

export class ToyStateMachine implements ReplicaStateMachine {
  appliedIndex = 0;
  private hash = ZERO_HASH;
  private readonly kv = new Array<number>(KEYS).fill(0);
  private sessions = new Map<number, Session>();
  private readonly history = new Map<number, string>();

  apply(entry: Entry): ApplyOutcome {
    check(entry.index === this.appliedIndex + 1, () => `state machine: applying entry ${entry.index} after ${this.appliedIndex} (not contiguous)`);
    this.appliedIndex = entry.index;
    let outcome: ApplyOutcome = { kind: 'none' };
    if (entry.type === EntryType.NORMAL) {
      const c = decodeCommand(entry.data);
      const s = this.sessions.get(c.clientId);
      if (s !== undefined && c.reqSeq <= s.reqSeq) {
        outcome = { kind: 'duplicate', clientId: c.clientId, reqSeq: c.reqSeq, appliedAt: c.reqSeq === s.reqSeq ? s.appliedAt : 0 };
      } else {
        this.sessions.set(c.clientId, { reqSeq: c.reqSeq, appliedAt: entry.index });
        if (c.payload.byteLength >= 2) this.kv[c.payload[0]! % KEYS] = c.payload[1]!;
        this.hash = createHash('sha256').update(this.hash).update(String(entry.index)).update(entry.data).digest('hex');
        outcome = { kind: 'applied', clientId: c.clientId, reqSeq: c.reqSeq };
      }
    }
    this.remember();
    return outcome;
  }

  snapshot(): Uint8Array {
    const n = this.sessions.size;
    const out = new Uint8Array(4 + 8 + 32 + KEYS + 4 + n * 16);
    const v = new DataView(out.buffer);
    let o = 0;
    v.setUint32(o, SNAPSHOT_MAGIC, true);
    o += 4;
    v.setFloat64(o, this.appliedIndex, true);
    o += 8;
    out.set(Buffer.from(this.hash, 'hex'), o);
    o += 32;
    for (let k = 0; k < KEYS; k++) out[o++] = this.kv[k]!;
    v.setUint32(o, n, true);
    o += 4;
    for (const [clientId, s] of this.sessions) {
      v.setUint32(o, clientId, true);
      v.setUint32(o + 4, s.reqSeq, true);
      v.setFloat64(o + 8, s.appliedAt, true);
      o += 16;
    }
    return out;
  }

  restore(meta: SnapshotMeta, data: Uint8Array): void {
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    check(data.byteLength >= 4 + 8 + 32 + KEYS + 4 && v.getUint32(0, true) === SNAPSHOT_MAGIC, `state machine: snapshot of ${data.byteLength} bytes is not a toy snapshot`);
    let o = 4;
    const index = v.getFloat64(o, true);
    o += 8;
    check(index === meta.index, () => `state machine: snapshot data taken at ${index} but its meta says ${meta.index}`);
    this.hash = Buffer.from(data.subarray(o, o + 32)).toString('hex');
    o += 32;
    for (let k = 0; k < KEYS; k++) this.kv[k] = data[o++]!;
    const n = v.getUint32(o, true);
    o += 4;
    check(data.byteLength === o + n * 16, `state machine: snapshot of ${data.byteLength} bytes, expected ${o + n * 16}`);
    this.sessions = new Map();
    for (let i = 0; i < n; i++, o += 16) this.sessions.set(v.getUint32(o, true), { reqSeq: v.getUint32(o + 4, true), appliedAt: v.getFloat64(o + 8, true) });
    this.appliedIndex = meta.index;
    this.history.clear();
    this.remember();
  }

  stateHash(): string {
    return this.hash;
  }

  hashAt(index: number): string | undefined {
    return this.history.get(index);
  }

  lastReqSeq(clientId: number): number {
    return this.sessions.get(clientId)?.reqSeq ?? 0;
  }

  private remember(): void {
    this.history.set(this.appliedIndex, this.hash);
    if (this.history.size > HASH_HISTORY_MAX) this.history.delete(this.appliedIndex - HASH_HISTORY_MAX);
  }
}
