// The TCP transport of a Multi-Paxos replica: TcpTransport with the Multi-Paxos codec
// (wire-codecs.ts), plus the snapshot chunking on the way out and the reassembly on the way in
// (paxos-snapshot-assembly.ts), so the host (paxos/paxos-node.ts) sends and receives whole
// snapshots, as PaxosNode.send and PaxosNode.receive speak them.

import { PAXOS_SNAPSHOT_BYTES_MAX, SNAPSHOT_CHUNK_BYTES } from '../limits.js';
import type { PaxosWireItem } from './paxos-codec.js';
import { PaxosSnapshotAssembly, toPaxosWireItems, type PaxosDelivery } from './paxos-snapshot-assembly.js';
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
}

export class PaxosTransport {
  private readonly tcp: TcpTransport<PaxosWireItem>;
  private readonly assembly: PaxosSnapshotAssembly;
  private readonly chunkBytes: number;

  constructor(options: PaxosTransportOptions) {
    const { onDeliveries, valuesPerMessageMax, snapshotBytesMax, snapshotChunkBytes, ...tcp } = options;
    this.assembly = new PaxosSnapshotAssembly(snapshotBytesMax ?? PAXOS_SNAPSHOT_BYTES_MAX);
    this.chunkBytes = snapshotChunkBytes ?? SNAPSHOT_CHUNK_BYTES;
    this.tcp = new TcpTransport<PaxosWireItem>({
      ...tcp,
      codec: paxosWireCodec(valuesPerMessageMax),
      onMessages: (items) => {
        const out = this.assembly.receive(items);
        if (out.length > 0) onDeliveries(out);
      },
    });
  }

  /** Queues messages and snapshots (cut into chunks) for their destinations; never blocks (a full queue drops). */
  send(out: PaxosDelivery[]): void {
    this.tcp.send(toPaxosWireItems(out, this.chunkBytes));
  }

  start(): Promise<void> {
    return this.tcp.start();
  }

  stop(): Promise<void> {
    return this.tcp.stop();
  }

  get port(): number {
    return this.tcp.port;
  }

  stats(): TransportStats & { snapshots: PaxosSnapshotAssembly['stats'] } {
    return { ...this.tcp.stats(), snapshots: { ...this.assembly.stats } };
  }
}
