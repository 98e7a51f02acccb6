// Three real replica processes on loopback (processes/replica.ts over the TCP transport, fsync
// on): a stream of orders from two pipelined clients, the leader SIGKILLed mid-stream, the
// clients carrying on through their retry logic, the killed node restarted and caught up.
// Then: every acknowledged order is applied exactly once, the three replicas hold the same
// state at the same applied index, and their logs agree entry by entry.
//
// Orders are BUY limits that never trade and never expire, so the final book is the
// history: each applied NewOrder leaves exactly one live order and exactly one exec report
// (NEW). An order applied twice would show as a second exec report (REJECTED: duplicate
// clOrdId), an order lost as a missing clOrdId. No assertion is about timing; every wait is
// bounded.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicaClient, type SubmitResult } from '../../replicator/client/client.js';
import { ProcessCluster } from '../../replicator/process-cluster.js';
import { convergedStatuses, ordersDumps } from './process-cluster-checks.js';
import { Wal } from '../../replicator/wal/wal.js';
import type { NodeId } from '../../replicator/raft/types.js';

const CLIENTS = 2;
const ORDERS_PER_CLIENT_PER_PHASE = 500; // two phases: 2,000 commands in all
/** Small, so that the log is compacted while the killed node is down and it may need a snapshot. */
const SNAPSHOT_INTERVAL_ENTRIES = 4; // entries are batches of commands (2,000 commands fit in ~20)
const WAIT_MS = 30_000;

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.create({ snapshotIntervalEntries: SNAPSHOT_INTERVAL_ENTRIES, timeTickMs: 200 });
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

describe('a 3-process cluster', () => {
  it('survives a leader SIGKILL mid-stream: exactly-once, identical replicas, restarted node caught up', async () => {
    const leader1 = await cluster.waitForLeader();
    const clients = Array.from(
      { length: CLIENTS },
      () => new ReplicaClient({ endpoints: cluster.endpoints, requestTimeoutMs: 1_000 }),
    );
    const acked = new Map<string, SubmitResult>();
    let sent = 0;
    // Crashes are triggered from the acknowledgement path itself, so they land mid-stream
    // whatever the speed of the machine.
    let trigger: { at: number; fire: () => void } | undefined;
    const submitPhase = (phase: number) => {
      const all: Promise<void>[] = [];
      for (const [i, c] of clients.entries()) {
        const client = i + 1;
        for (let k = 0; k < ORDERS_PER_CLIENT_PER_PHASE; k++) {
          const n = phase * ORDERS_PER_CLIENT_PER_PHASE + k + 1;
          sent++;
          all.push(
            c.submit(order(client, n)).then((r) => {
              const key = `c${client}-${n}`;
              expect(acked.has(key), `${key} acknowledged twice`).toBe(false);
              acked.set(key, r);
              if (trigger !== undefined && acked.size >= trigger.at) {
                const t = trigger;
                trigger = undefined;
                t.fire();
              }
            }),
          );
        }
      }
      return Promise.all(all);
    };

    try {
      // Phase 1: SIGKILL the leader once 300 orders are acknowledged.
      let killed1!: Promise<void>;
      let ackedBeforeKill = 0;
      trigger = {
        at: 300,
        fire: () => {
          ackedBeforeKill = acked.size;
          killed1 = cluster.kill(leader1);
        },
      };
      await submitPhase(0); // the clients retry to the new leader by themselves
      await killed1;
      const leader2 = await cluster.waitForLeader(WAIT_MS, leader1);
      expect(leader2).not.toBe(leader1);

      // Phase 2: restart the killed node while traffic goes on; then crash the new leader too
      // and restart it at once (down briefly: it may catch up from the log, truncating the
      // tail it wrote as leader, rather than from a snapshot).
      await cluster.start(leader1);
      let restarted2!: Promise<NodeId>;
      trigger = {
        at: CLIENTS * ORDERS_PER_CLIENT_PER_PHASE + 300,
        fire: () => {
          restarted2 = (async () => {
            const leader = await cluster.waitForLeader();
            await cluster.kill(leader);
            await cluster.start(leader);
            return leader;
          })();
        },
      };
      await submitPhase(1);
      const leader3 = await restarted2;
      expect(acked.size).toBe(sent);

      const stats = clients.map((c) => c.stats);
      console.log(
        `acked ${acked.size} (${ackedBeforeKill} before the kill); leader ${leader1} → ${leader2}; client stats ${JSON.stringify(stats)}`,
      );
      expect(stats.reduce((n, s) => n + s.failovers, 0)).toBeGreaterThan(0); // the kill was felt

      // Convergence: all three at the same applied index with the same state hash (time ticks
      // keep coming, so poll until a moment where they agree).
      const final = await convergedStatuses(cluster, WAIT_MS);
      const restarted = [leader1, leader3].map((id) => final.find((s) => s.id === id)!);
      console.log(
        `converged at applied ${final[0]!.applied}, hash ${final[0]!.stateHash!.slice(0, 16)}…; ` +
          restarted
            .map(
              (r) =>
                `restarted node ${r.id}: snapshots installed ${r.stats.snapshotsInstalled}, entries applied ${r.stats.entriesApplied}; `,
            )
            .join('') +
          `snapshots taken ${final.map((s) => s.stats.snapshotsTaken).join('/')}`,
      );
      for (const r of restarted) expect(r.applied).toBe(final[0]!.applied);
      expect(final.some((s) => s.stats.snapshotsTaken > 0)).toBe(true);

      // Exactly once, from the state of each replica (the dumps are taken at possibly
      // different applied indexes, but only time ticks can come after the last order).
      const dumps = await ordersDumps(cluster);
      const total = CLIENTS * ORDERS_PER_CLIENT_PER_PHASE * 2;
      for (const d of dumps) {
        expect(d.truncated).toBe(false);
        expect(d.liveOrderCount).toBe(total);
        // One exec report per order: none was applied twice (that would add a REJECTED report).
        expect(d.execIdLast).toBe(total);
        const ids = d.orders.map((o) => `${o.account}:${o.clOrdId}`);
        expect(new Set(ids).size).toBe(total);
        for (const key of acked.keys()) {
          const [cid] = key.slice(1).split('-');
          expect(ids.includes(`${cid}:${key}`), `acknowledged ${key} missing`).toBe(true);
        }
        // Order ids are engine sequence numbers: the same order at the same seq everywhere.
        expect(d.orders).toEqual(dumps[0]!.orders);
      }
      for (const [key, r] of acked) {
        if (r.outcome === 'APPLIED') {
          const o = dumps[0]!.orders.find((x) => x.clOrdId === key);
          expect(o?.orderId, `${key} applied at ${r.appliedIndex} as seq ${r.seq}`).toBe(r.seq);
        }
      }
    } finally {
      for (const c of clients) c.close();
    }

    // Graceful stop, then the logs on disk: wherever two replicas both hold an index, they
    // hold the same entry (Log Matching), and each log starts at or before its snapshot + 1.
    for (const id of cluster.ids) expect(await cluster.terminate(id)).toBe(0);
    const wals = cluster.ids.map((id) => Wal.open(cluster.dataDirOf(id), { warn: () => undefined }));
    try {
      const snaps = wals.map((w) => w.loadLatestSnapshot());
      const lo = Math.max(...wals.map((w) => w.firstIndex()));
      const hi = Math.min(...wals.map((w) => w.lastIndex()));
      expect(hi).toBeGreaterThanOrEqual(lo);
      const logs = wals.map((w) => w.entries(lo, hi + 1));
      for (let k = 0; k <= hi - lo; k++) {
        const a = logs[0]![k]!;
        for (const l of logs.slice(1)) {
          const b = l[k]!;
          expect(b.index).toBe(a.index);
          expect(b.term, `term at ${a.index}`).toBe(a.term);
          expect(Buffer.from(b.data).equals(Buffer.from(a.data)), `data at ${a.index}`).toBe(true);
        }
      }
      for (const [k, s] of snaps.entries()) expect(wals[k]!.firstIndex()).toBeLessThanOrEqual((s?.index ?? 0) + 1);
    } finally {
      for (const w of wals) await w.close();
    }
  }, 120_000);
});
