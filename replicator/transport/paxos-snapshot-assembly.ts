// Multi-Paxos snapshots on the wire (paxos/README.md, "What the wiring needs" 2). PaxosNode sends
// a whole snapshot, `{ kind: 'snapshot', from, to, slot, data }`; the wire carries it as chunks
// (paxos-codec.ts: at most SNAPSHOT_CHUNK_BYTES of data each, so a frame stays small and a large
// snapshot does not hold up the messages queued behind it for a whole frame limit). Pure: the
// receiver reassembles (PaxosSnapshotAssembly) and hands PaxosNode.receive() whole snapshots;
// the sender's side, with its pacing, is paxos-transport.ts (toPaxosWireItems is the unpaced cut,
// for tests and tools).
//
// Reassembly, per sender: one snapshot at a time, chunks in offset order (one connection per
// sender keeps them in order; a drop in the sender's queue makes a gap). A chunk at offset 0
// starts a new snapshot, dropping one in progress (the sender offers again, newest first); a
// chunk of another snapshot (slot or size) than the one in progress is dropped alone; a gap in
// the one in progress drops it. A snapshot announced over `snapshotBytesMax` (PAXOS_SNAPSHOT_BYTES_MAX) is refused
// at its first chunk, so memory per sender stays under the limit. Drops are safe: the core asks
// for a snapshot again at the next catch-up, as for any lost message.

import type { PaxosMessage } from '../paxos/types.js';
import type { NodeId } from '../raft/types.js';
import { snapshotChunks, type PaxosSnapshotChunk, type PaxosWireItem } from './paxos-codec.js';

/** What a Multi-Paxos host sends and receives: a core message or a whole snapshot (= PaxosOutbound). */
export type PaxosDelivery =
  | { kind: 'message'; message: PaxosMessage }
  | { kind: 'snapshot'; from: NodeId; to: NodeId; slot: number; data: Uint8Array };

/** The wire items of `out`: messages as they are, each snapshot cut into chunks of at most `chunkBytes` (unpaced: tests, tools). */
export function toPaxosWireItems(out: readonly PaxosDelivery[], chunkBytes: number): PaxosWireItem[] {
  const items: PaxosWireItem[] = [];
  for (const o of out) {
    if (o.kind === 'message') items.push(o);
    else
      for (const chunk of snapshotChunks(o.from, o.to, o.slot, o.data, chunkBytes))
        items.push({ kind: 'snapshotChunk', chunk });
  }
  return items;
}

/** Why chunks were dropped (counted in PaxosSnapshotAssembly.stats). */
export interface SnapshotAssemblyStats {
  /** Whole snapshots reassembled and delivered. */
  delivered: number;
  /** First chunks of a snapshot over the size limit. */
  refusedTooLarge: number;
  /** Chunks that did not continue the snapshot in progress (gap, other slot or size), and snapshots abandoned by them or by a new one. */
  dropped: number;
}

interface InProgress {
  slot: number;
  size: number;
  filled: number;
  pieces: Uint8Array[];
}

export class PaxosSnapshotAssembly {
  private readonly bySender = new Map<NodeId, InProgress>();
  readonly stats: SnapshotAssemblyStats = { delivered: 0, refusedTooLarge: 0, dropped: 0 };

  constructor(private readonly snapshotBytesMax: number) {
    if (!Number.isSafeInteger(snapshotBytesMax) || snapshotBytesMax < 0)
      throw new RangeError(`PaxosSnapshotAssembly: snapshotBytesMax ${snapshotBytesMax}`);
  }

  /** The deliveries of `items`, in order: messages at once, a snapshot once its last chunk arrived. */
  receive(items: readonly PaxosWireItem[]): PaxosDelivery[] {
    const out: PaxosDelivery[] = [];
    for (const it of items) {
      if (it.kind === 'message') out.push(it);
      else {
        const snap = this.chunk(it.chunk);
        if (snap !== undefined) out.push(snap);
      }
    }
    return out;
  }

  /** Bytes held for snapshots in progress (all senders). */
  get bufferedBytes(): number {
    let n = 0;
    for (const p of this.bySender.values()) n += p.filled;
    return n;
  }

  private chunk(c: PaxosSnapshotChunk): PaxosDelivery | undefined {
    let p = this.bySender.get(c.from);
    if (c.offset === 0) {
      if (p !== undefined) this.stats.dropped++;
      this.bySender.delete(c.from);
      if (c.size > this.snapshotBytesMax) {
        this.stats.refusedTooLarge++;
        return undefined;
      }
      p = { slot: c.slot, size: c.size, filled: 0, pieces: [] };
      this.bySender.set(c.from, p);
    } else if (p === undefined || p.slot !== c.slot || p.size !== c.size) {
      // The tail of a snapshot no longer (or never) in progress: dropped alone.
      this.stats.dropped++;
      return undefined;
    } else if (p.filled !== c.offset) {
      // A gap in the snapshot in progress: it cannot complete.
      this.bySender.delete(c.from);
      this.stats.dropped++;
      return undefined;
    }
    // The chunk's data is a view into the transport's frame: keep a copy, not the frame.
    p.pieces.push(c.data.slice());
    p.filled += c.data.byteLength;
    if (!c.done) return undefined;
    this.bySender.delete(c.from);
    this.stats.delivered++;
    return { kind: 'snapshot', from: c.from, to: c.to, slot: c.slot, data: concat(p.pieces, p.size) };
  }
}

function concat(pieces: Uint8Array[], size: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.byteLength;
  }
  return out;
}
