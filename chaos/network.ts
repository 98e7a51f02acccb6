// The replicas' network under the chaos supervisor: one FaultProxy per directed link (node A
// dials node B through proxy A→B: ProcessClusterOptions.linkAddress), and the partitions of
// the issue built from them: isolate a node, split the cluster in two, cut one direction.

import type { NodeId } from '../replicator/log.js';
import type { Prng } from '../replicator/prng.js';
import { FaultProxy, NO_FAULT, type LinkFault } from './fault-proxy.js';

export class ChaosNetwork {
  private readonly links = new Map<string, FaultProxy>();

  constructor(private readonly rng: Prng) {}

  private static key(from: NodeId, to: NodeId): string {
    return `${from}>${to}`;
  }

  /** For ProcessClusterOptions.linkAddress: starts the proxy for from→to in front of `real`. */
  async link(from: NodeId, to: NodeId, real: { host: string; port: number }): Promise<{ host: string; port: number }> {
    const p = new FaultProxy(`${from}→${to}`, real, this.rng.fork(from * 1_000 + to));
    this.links.set(ChaosNetwork.key(from, to), p);
    return { host: '127.0.0.1', port: await p.start() };
  }

  proxy(from: NodeId, to: NodeId): FaultProxy {
    const p = this.links.get(ChaosNetwork.key(from, to));
    if (p === undefined) throw new Error(`no link ${from}→${to}`);
    return p;
  }

  private all(): FaultProxy[] {
    return [...this.links.values()];
  }

  private nodes(): NodeId[] {
    return [...new Set([...this.links.keys()].map((k) => Number(k.split('>')[0])))];
  }

  /** Every link to and from `id` blackholed: the node is alone (it still serves its clients). */
  isolate(id: NodeId): void {
    for (const other of this.nodes()) {
      if (other === id) continue;
      this.proxy(id, other).set({ blackhole: true });
      this.proxy(other, id).set({ blackhole: true });
    }
  }

  /** No link between the two groups, in either direction. */
  split(a: NodeId[], b: NodeId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.proxy(x, y).set({ blackhole: true });
        this.proxy(y, x).set({ blackhole: true });
      }
    }
  }

  /** Messages from→to are lost; to→from still flow (an asymmetric partition). */
  cutOneWay(from: NodeId, to: NodeId): void {
    this.proxy(from, to).set({ blackhole: true });
  }

  /** Every link slowed (delay, jitter) and/or made lossy. */
  degrade(f: Partial<LinkFault>): void {
    for (const p of this.all()) p.set(f);
  }

  /** Every link's connections reset now. */
  resetAll(): void {
    for (const p of this.all()) p.reset();
  }

  heal(): void {
    for (const p of this.all()) p.set(NO_FAULT);
  }

  stats(): { bytesForwarded: number; bytesDropped: number; resets: number; connections: number } {
    const s = { bytesForwarded: 0, bytesDropped: 0, resets: 0, connections: 0 };
    for (const p of this.all()) {
      s.bytesForwarded += p.stats.bytesForwarded;
      s.bytesDropped += p.stats.bytesDropped;
      s.resets += p.stats.resets;
      s.connections += p.stats.connections;
    }
    return s;
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((p) => p.stop()));
  }
}
