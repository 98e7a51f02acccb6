// The snapshot envelope: what a replica stores as a snapshot in its WAL and sends to a follower
// that fell behind — the log's membership at the snapshot's index, then the state machine's
// snapshot (state-machine.ts). The WAL stores (index, term, bytes) only, so the membership
// travels inside the bytes. Same bytes on disk and on the wire; the publisher and audit read
// the state machine's part with decodeSnapshotEnvelope.
//
//   u32 magic 'MBNS' | u32 version 1 | u32 voters | u32 learners | (voters + learners) × f64 id | state machine snapshot

/** The log's membership at a snapshot (the same shape as replicator/raft's ConfState). */
export interface SnapshotMembership {
  voters: number[];
  learners: number[];
}

const NODE_SNAPSHOT_MAGIC = 0x534e424d; // 'MBNS'
const NODE_SNAPSHOT_VERSION = 1;
/** Members in a snapshot's membership, at most (a sanity bound for decoding). */
export const SNAPSHOT_MEMBERS_MAX = 1024;

export function encodeSnapshotEnvelope(conf: SnapshotMembership, sm: Uint8Array): Uint8Array {
  const head = 4 + 4 + 4 + 4 + 8 * (conf.voters.length + conf.learners.length);
  const out = new Uint8Array(head + sm.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, NODE_SNAPSHOT_MAGIC, true);
  v.setUint32(4, NODE_SNAPSHOT_VERSION, true);
  v.setUint32(8, conf.voters.length, true);
  v.setUint32(12, conf.learners.length, true);
  let o = 16;
  for (const id of [...conf.voters, ...conf.learners]) {
    v.setFloat64(o, id, true);
    o += 8;
  }
  out.set(sm, o);
  return out;
}

export function decodeSnapshotEnvelope(bytes: Uint8Array): { conf: SnapshotMembership; sm: Uint8Array } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    bytes.length < 16 ||
    v.getUint32(0, true) !== NODE_SNAPSHOT_MAGIC ||
    v.getUint32(4, true) !== NODE_SNAPSHOT_VERSION
  ) {
    throw new Error('node snapshot: bad magic or version');
  }
  const nv = v.getUint32(8, true);
  const nl = v.getUint32(12, true);
  if (nv + nl > SNAPSHOT_MEMBERS_MAX || 16 + 8 * (nv + nl) > bytes.length)
    throw new Error('node snapshot: bad membership');
  const ids: number[] = [];
  for (let k = 0; k < nv + nl; k++) ids.push(v.getFloat64(16 + 8 * k, true));
  return { conf: { voters: ids.slice(0, nv), learners: ids.slice(nv) }, sm: bytes.subarray(16 + 8 * (nv + nl)) };
}
