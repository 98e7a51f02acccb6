// Three real replica processes with "consensus": "multipaxos" (processes/replica.ts, fsync on,
// the Multi-Paxos TCP transport): a follower is SIGKILLed, the newest segment of its WAL is cut
// as chaos/faults.ts's wal-truncate does (records it had synced and acknowledged are gone), and
// it is restarted on the damaged files. It must come back up recovering (replicator/paxos/
// README.md, departure 8) — before, it refused to start (PAXOS_WAL_TAIL_LOST) — be caught up,
// remove its `tail-lost` marker, and take part in phase 1 again: with the leader then killed,
// the two left can only elect if it promises. Every acknowledged order is applied exactly once
// on every replica. No assertion is about timing; every wait is bounded and generous.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicaClient } from '../../replicator/client/client.js';
import { ProcessCluster } from '../../replicator/process-cluster.js';
import { convergedStatuses, ordersDumps, untilCluster } from './process-cluster-checks.js';

const ORDERS_PER_PHASE = 40;
const WAIT_MS = 60_000;
/** Bytes cut off the newest WAL segment: several records, all synced. */
const CUT_BYTES = 300;

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.create({ consensus: 'multipaxos', snapshotIntervalEntries: 1_000, timeTickMs: 0 });
  await cluster.startAll();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

function order(n: number) {
  return {
    type: 'new',
    account: 1,
    clOrdId: `t-${n}`,
    symbol: 'BTC-USD',
    side: 'BUY',
    ordType: 'LIMIT',
    tif: 'GTC',
    price: 4_900_000 + n,
    qty: 1,
  };
}

const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> =>
  untilCluster(cluster, what, fn, timeoutMs);

async function submitPhase(client: ReplicaClient, phase: number): Promise<void> {
  for (let k = 1; k <= ORDERS_PER_PHASE; k++) await client.submit(order(phase * ORDERS_PER_PHASE + k));
}

function cutNewestSegment(id: number): void {
  const dir = cluster.dataDirOf(id);
  const seg = fs
    .readdirSync(dir)
    .filter((f) => /^wal-\d+\.log$/.test(f))
    .sort()
    .at(-1)!;
  const file = path.join(dir, seg);
  fs.truncateSync(file, Math.max(0, fs.statSync(file).size - CUT_BYTES));
}

describe('a 3-process Multi-Paxos cluster with a follower restarted on a cut WAL tail', () => {
  it('the follower comes back recovering, is caught up, promises again; every acknowledged order applied once everywhere', async () => {
    const leader1 = await cluster.waitForLeader();
    const client = new ReplicaClient({ endpoints: cluster.endpoints, requestTimeoutMs: 2_000 });
    try {
      await submitPhase(client, 0);
      const follower = cluster.ids.find((id) => id !== leader1)!;
      // Idle and caught up first, so every record of its WAL is synced: the cut takes acknowledged ones.
      await until('the follower caught up', async () => {
        const [l, f] = await Promise.all([cluster.status(leader1), cluster.status(follower)]);
        return l !== undefined && f !== undefined && f.applied === l.applied && l.applied >= ORDERS_PER_PHASE
          ? true
          : undefined;
      });
      await cluster.kill(follower);
      cutNewestSegment(follower);
      await cluster.start(follower);
      // The WAL found acknowledged records gone: the replica says so and starts recovering.
      await until('the recovery warning', async () =>
        cluster.tail(follower, 200).includes('no promise and no campaign until caught up') ? true : undefined,
      );
      await submitPhase(client, 1);
      await until('the follower out of recovery, its marker removed', async () => {
        const s = await cluster.status(follower);
        return s !== undefined && !s.logTailLost && !fs.existsSync(path.join(cluster.dataDirOf(follower), 'tail-lost'))
          ? true
          : undefined;
      });
      // Only the recovered follower and the third replica are left: a leader needs its promise.
      await cluster.kill(leader1);
      await cluster.waitForLeader(WAIT_MS, leader1);
      await submitPhase(client, 2);
      await cluster.start(leader1);
      const total = 3 * ORDERS_PER_PHASE;
      await convergedStatuses(cluster, WAIT_MS);
      const dumps = await ordersDumps(cluster);
      for (const d of dumps) {
        expect(d.liveOrderCount).toBe(total);
        expect(d.execIdLast).toBe(total); // one exec report per order: none applied twice
        expect(d.orders).toEqual(dumps[0]!.orders);
      }
    } finally {
      client.close();
    }
    for (const id of cluster.ids) expect(await cluster.terminate(id)).toBe(0);
  }, 240_000);
});
