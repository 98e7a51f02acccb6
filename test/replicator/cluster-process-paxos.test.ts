// Three real replica processes with "consensus": "multipaxos" (processes/replica.ts building a
// PaxosNode over the Multi-Paxos TCP transport, fsync on), mirroring cluster-process.test.ts: a
// stream of orders from two pipelined clients through the replica client, the leader SIGKILLed
// mid-stream, the clients carrying on through their retry logic, the killed node restarted and
// caught up through a snapshot (the survivors compacted past it, and the leader that queued
// messages for it was restarted). Then:
// every acknowledged order is applied exactly once and the three replicas hold the same state
// at the same applied index.
//
// Orders are BUY limits that never trade and never expire, so the final book is the history:
// an order applied twice would show as a second exec report (REJECTED: duplicate clOrdId), an
// order lost as a missing clOrdId. No assertion is about timing; every wait is bounded.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicaClient, type SubmitResult } from '../../replicator/client/client.js';
import { ProcessCluster } from '../../replicator/process-cluster.js';
import { convergedStatuses, ordersDumps } from './process-cluster-checks.js';

const CLIENTS = 2;
const ORDERS_PER_CLIENT_PER_PHASE = 300; // two phases: 1,200 commands in all
/** Then orders one at a time while the killed node is down: one slot each, so the survivors compact past it. */
const SEQUENTIAL_ORDERS = 40;
/** Small, so that snapshots are taken and compacted while the killed node is down. */
const SNAPSHOT_INTERVAL_SLOTS = 4;
const WAIT_MS = 30_000;

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.create({
    consensus: 'multipaxos',
    snapshotIntervalEntries: SNAPSHOT_INTERVAL_SLOTS,
    timeTickMs: 200,
  });
  await cluster.startAll();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

/** Order n of client k (whose account is k). */
function order(clientId: number, n: number) {
  return {
    type: 'new',
    account: clientId,
    clOrdId: `c${clientId}-${n}`,
    symbol: 'BTC-USD',
    side: 'BUY',
    ordType: 'LIMIT',
    tif: 'GTC',
    price: 4_900_000 + (n % 500),
    qty: 1 + (n % 7),
  };
}

/** Submits `phase`'s orders from every client; `onAck` sees the acknowledgement count after each. */
function submitPhase(
  clients: ReplicaClient[],
  phase: number,
  acked: Map<string, SubmitResult>,
  onAck: () => void,
): Promise<unknown> {
  const all: Promise<void>[] = [];
  for (const [i, c] of clients.entries()) {
    const client = i + 1;
    for (let k = 0; k < ORDERS_PER_CLIENT_PER_PHASE; k++) {
      const n = phase * ORDERS_PER_CLIENT_PER_PHASE + k + 1;
      all.push(
        c.submit(order(client, n)).then((r) => {
          const key = `c${client}-${n}`;
          expect(acked.has(key), `${key} acknowledged twice`).toBe(false);
          acked.set(key, r);
          onAck();
        }),
      );
    }
  }
  return Promise.all(all);
}

describe('a 3-process Multi-Paxos cluster', () => {
  it('survives a leader SIGKILL mid-stream: exactly-once, identical replicas, restarted node caught up', async () => {
    const leader1 = await cluster.waitForLeader();
    expect((await cluster.status(leader1))?.consensus).toBe('multipaxos');
    const clients = Array.from(
      { length: CLIENTS },
      () => new ReplicaClient({ endpoints: cluster.endpoints, requestTimeoutMs: 1_000 }),
    );
    const acked = new Map<string, SubmitResult>();
    try {
      // Phase 1: SIGKILL the leader once 200 orders are acknowledged (from the acknowledgement
      // path itself, so it lands mid-stream whatever the speed of the machine).
      let killed: Promise<void> | undefined;
      await submitPhase(clients, 0, acked, () => {
        if (killed === undefined && acked.size >= 200) killed = cluster.kill(leader1);
      });
      await killed;
      const leader2 = await cluster.waitForLeader(WAIT_MS, leader1);
      expect(leader2).not.toBe(leader1);
      // Phase 2, with the killed node down: the survivors take snapshots past what it holds.
      await submitPhase(clients, 1, acked, () => undefined);
      for (let k = 0; k < SEQUENTIAL_ORDERS; k++) {
        const n = 2 * ORDERS_PER_CLIENT_PER_PHASE + k + 1;
        acked.set(`c1-${n}`, await clients[0]!.submit(order(1, n)));
      }
      // The leader queued its messages to the dead node in memory (the transport's peer queue)
      // and would replay them; a restart of that leader drops them, so the killed node must
      // catch up from replicas that compacted past it: through a snapshot.
      await cluster.kill(leader2);
      await cluster.start(leader2);
      await cluster.start(leader1);
      const total = CLIENTS * ORDERS_PER_CLIENT_PER_PHASE * 2 + SEQUENTIAL_ORDERS;
      expect(acked.size).toBe(total);
      const stats = clients.map((c) => c.stats);
      expect(stats.reduce((n, s) => n + s.failovers, 0)).toBeGreaterThan(0); // the kill was felt

      // Convergence: all three at the same applied index with the same state hash (time ticks
      // keep coming, so poll until a moment where they agree).
      const final = await convergedStatuses(cluster, WAIT_MS);
      const restarted = final.find((s) => s.id === leader1)!;
      console.log(
        `multipaxos: acked ${acked.size}; leader ${leader1} → ${leader2}; converged at slot ${final[0]!.applied}; ` +
          `restarted node: snapshots installed ${restarted.stats.snapshotsInstalled}, slots applied ${restarted.stats.entriesApplied}; ` +
          `snapshots taken ${final.map((s) => s.stats.snapshotsTaken).join('/')}`,
      );
      expect(final.every((s) => s.consensus === 'multipaxos')).toBe(true);
      expect(final.some((s) => s.stats.snapshotsTaken > 0)).toBe(true);
      // The survivors compacted past the slots it held: it caught up through a snapshot sent over the transport.
      expect(restarted.stats.snapshotsInstalled).toBeGreaterThan(0);

      // Exactly once, from the state of each replica.
      const dumps = await ordersDumps(cluster);
      for (const d of dumps) {
        expect(d.truncated).toBe(false);
        expect(d.liveOrderCount).toBe(total);
        expect(d.execIdLast).toBe(total); // one exec report per order: none applied twice
        const ids = new Set(d.orders.map((o) => `${o.account}:${o.clOrdId}`));
        expect(ids.size).toBe(total);
        for (const key of acked.keys()) expect(ids.has(`${key.slice(1).split('-')[0]}:${key}`), key).toBe(true);
        expect(d.orders).toEqual(dumps[0]!.orders);
      }
    } finally {
      for (const c of clients) c.close();
    }
    for (const id of cluster.ids) expect(await cluster.terminate(id)).toBe(0);
  }, 180_000);
});
