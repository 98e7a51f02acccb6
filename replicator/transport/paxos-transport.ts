// The TCP transport of a Multi-Paxos replica: TcpTransport with the Multi-Paxos codec
// (wire-codecs.ts), plus the snapshot chunking on the way out and the reassembly on the way in
// (paxos-snapshot-assembly.ts), so the host (paxos/paxos-node.ts) sends and receives whole
// snapshots, as PaxosNode.send and PaxosNode.receive speak them.
//
// Snapshots are paced: a snapshot is cut into chunks at once (views into its bytes, which the
// node holds anyway), but the chunks are queued on the peer's connection only while that queue
// holds less than PAXOS_SNAPSHOT_QUEUED_BYTES_MAX; the rest wait here and are queued as the
// queue drains (checked every PAXOS_SNAPSHOT_PACE_MS). Why: the peer queue drops the newest
// messages beyond PEER_QUEUE_BYTES_MAX (tcp-transport.ts), so a snapshot queued whole and
// larger than that would lose its tail on every attempt and never arrive, and would crowd the
// core's messages out of the queue meanwhile.
//
// One snapshot at a time per peer: a new offer while one is still being queued is ignored and
// counted (the core asks again on every heartbeat response of a follower that is behind; restarting
// from offset 0 each time would never finish a large snapshot). Once the last chunk is queued,
// the next offer is sent in full, as the core asks.

import {
  PAXOS_SNAPSHOT_BYTES_MAX,
  PAXOS_SNAPSHOT_PACE_MS,
  PAXOS_SNAPSHOT_QUEUED_BYTES_MAX,
  SNAPSHOT_CHUNK_BYTES,
} from '../limits.js';
import type { NodeId } from '../raft/types.js';
import {
  SNAPSHOT_CHUNK_FIXED_BYTES,
  snapshotChunks,
  type PaxosSnapshotChunk,
  type PaxosWireItem,
} from './paxos-codec.js';
import { PaxosSnapshotAssembly, type PaxosDelivery } from './paxos-snapshot-assembly.js';
import { TcpTransport, type TcpTransportOptions, type TransportStats } from './tcp-transport.js';
import { paxosWireCodec } from './wire-codecs.js';

export interface PaxosTransportOptions extends Omit<TcpTransportOptions<PaxosWireItem>, 'codec' | 'onMessages'> {
  /** What arrived, snapshots whole, in arrival order per sender. May throw only for a local bug. */
  onDeliveries: (items: PaxosDelivery[]) => void;
  /** Values in one PROMISE or LEARN at most (default PAXOS_MESSAGE_VALUES_MAX; a host with larger windows passes max(acceptWindowSlots, learnSlotsMax)). */
  valuesPerMessageMax?: number;
  /** Bytes of one snapshot received (default PAXOS_SNAPSHOT_BYTES_MAX). */
  snapshotBytesMax?: number;
  /** Snapshot bytes per chunk sent (default SNAPSHOT_CHUNK_BYTES). */
  snapshotChunkBytes?: number;
  /** Bytes queued for a peer beyond which further snapshot chunks wait (default PAXOS_SNAPSHOT_QUEUED_BYTES_MAX). */
  snapshotQueuedBytesMax?: number;
}

/** What the snapshot pacing did (PaxosTransport.stats().snapshots, beside the reassembly's counts). */
export interface SnapshotSendStats {
  /** Snapshots whose chunks were all queued. */
  sent: number;
  /** Offers ignored because a snapshot to that peer was still being queued. */
  offersIgnored: number;
}

/** A snapshot whose chunks are being queued for one peer. */
interface Outgoing {
  chunks: PaxosSnapshotChunk[];
  next: number;
}

export class PaxosTransport {
  private readonly tcp: TcpTransport<PaxosWireItem>;
  private readonly assembly: PaxosSnapshotAssembly;
  private readonly chunkBytes: number;
  private readonly queuedBytesMax: number;
  private readonly outgoing = new Map<NodeId, Outgoing>();
  private paceTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly sendStats: SnapshotSendStats = { sent: 0, offersIgnored: 0 };

  constructor(options: PaxosTransportOptions) {
    const { onDeliveries, valuesPerMessageMax, snapshotBytesMax, snapshotChunkBytes, snapshotQueuedBytesMax, ...tcp } =
      options;
    this.assembly = new PaxosSnapshotAssembly(snapshotBytesMax ?? PAXOS_SNAPSHOT_BYTES_MAX);
    this.chunkBytes = snapshotChunkBytes ?? SNAPSHOT_CHUNK_BYTES;
    this.queuedBytesMax = snapshotQueuedBytesMax ?? PAXOS_SNAPSHOT_QUEUED_BYTES_MAX;
    this.tcp = new TcpTransport<PaxosWireItem>({
      ...tcp,
      codec: paxosWireCodec(valuesPerMessageMax),
      onMessages: (items) => {
        const out = this.assembly.receive(items);
        if (out.length > 0) onDeliveries(out);
      },
    });
  }

  /** Queues messages at once and snapshots chunk by chunk (paced); never blocks (a full peer queue drops). */
  send(out: PaxosDelivery[]): void {
    if (this.stopped) return;
    const messages: PaxosWireItem[] = [];
    for (const o of out) {
      if (o.kind === 'message') messages.push(o);
      else if (this.outgoing.has(o.to)) this.sendStats.offersIgnored++;
      else this.outgoing.set(o.to, { chunks: snapshotChunks(o.from, o.to, o.slot, o.data, this.chunkBytes), next: 0 });
    }
    if (messages.length > 0) this.tcp.send(messages);
    if (this.outgoing.size > 0 && this.paceTimer === undefined) this.pace();
  }

  /** Queues the waiting chunks of each peer while its queue has room; checks again later if some still wait. */
  private readonly pace = (): void => {
    this.paceTimer = undefined;
    if (this.stopped) return;
    for (const [to, s] of this.outgoing) {
      while (s.next < s.chunks.length) {
        const chunk = s.chunks[s.next]!;
        const queued = this.tcp.queuedBytes(to);
        // An empty queue always takes one chunk, whatever the limits, so a snapshot always progresses.
        if (queued > 0 && queued + SNAPSHOT_CHUNK_FIXED_BYTES + chunk.data.byteLength > this.queuedBytesMax) break;
        this.tcp.send([{ kind: 'snapshotChunk', chunk }]);
        s.next++;
      }
      if (s.next === s.chunks.length) {
        this.outgoing.delete(to);
        this.sendStats.sent++;
      }
    }
    if (this.outgoing.size > 0) this.paceTimer = setTimeout(this.pace, PAXOS_SNAPSHOT_PACE_MS);
  };

  start(): Promise<void> {
    return this.tcp.start();
  }

  /** Stops pacing (waiting chunks are dropped) and the TCP transport. */
  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    this.outgoing.clear();
    return this.tcp.stop();
  }

  get port(): number {
    return this.tcp.port;
  }

  stats(): TransportStats & { snapshots: PaxosSnapshotAssembly['stats'] & SnapshotSendStats } {
    return { ...this.tcp.stats(), snapshots: { ...this.assembly.stats, ...this.sendStats } };
  }
}
