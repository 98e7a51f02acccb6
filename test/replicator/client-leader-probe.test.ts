// The replica client's leader probe (replicator/client/README.md), over real replica processes:
// a leader that goes silent (SIGSTOP: its connections stay open, nothing answers, no reset) is
// left as soon as the others have elected a new leader, not after the request timeout — the
// timeout is set to 60 s here, so only the probe can explain that the requests get through; a
// leader that is only slow (test-mode fsync delay) answers the probe's status and is kept.
// Exactly once is checked from each replica's book. No assertion is about timing; every wait is
// bounded by a generous deadline.

import { afterEach, describe, expect, it } from 'vitest';
import { type ProbeReply, probeFailoverTarget, ReplicaClient, requestOnce } from '../../replicator/client/client.js';
import { ProcessCluster } from '../../replicator/process-cluster.js';
import { convergedStatuses, ordersDumps } from './process-cluster-checks.js';

/** Far beyond any wait of these tests: a request that gets through did not time out. */
const REQUEST_TIMEOUT_MS = 60_000;
/** Deadline for the orders submitted while the leader is stopped (the old code needs 60 s). */
const ORDERS_DEADLINE_MS = 20_000;
const WAIT_MS = 30_000;
const ORDERS = 40;

let cluster: ProcessCluster | undefined;
let stopped: number | undefined;

afterEach(async () => {
  if (stopped !== undefined) cluster?.pause(stopped, false);
  stopped = undefined;
  await cluster?.stop();
  cluster = undefined;
});

function order(n: number) {
  return {
    type: 'new',
    account: 7,
    clOrdId: `p-${n}`,
    symbol: 'BTC-USD',
    side: 'BUY',
    ordType: 'LIMIT',
    tif: 'GTC',
    price: 4_900_000 + n,
    qty: 1,
  };
}

/** Resolves with `p`, or rejects after `ms` naming `what`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Every replica holds each of `count` orders exactly once (one exec report each: none applied twice). */
async function expectEachOrderOnce(c: ProcessCluster, count: number): Promise<void> {
  await convergedStatuses(c, WAIT_MS);
  const dumps = await ordersDumps(c);
  for (const d of dumps) {
    expect(d.truncated).toBe(false);
    expect(d.liveOrderCount).toBe(count);
    expect(d.execIdLast).toBe(count);
    expect(new Set(d.orders.map((o) => o.clOrdId)).size).toBe(count);
    expect(d.orders).toEqual(dumps[0]!.orders);
  }
}

describe.each(['raft', 'multipaxos'])('leader probe (%s)', (consensus) => {
  it('leaves a stopped leader for the new one long before the request timeout, each order applied once', async () => {
    cluster = await ProcessCluster.create({ consensus, timeTickMs: 200 });
    await cluster.startAll();
    const leader1 = await cluster.waitForLeader(WAIT_MS);
    const client = new ReplicaClient({ endpoints: cluster.endpoints, requestTimeoutMs: REQUEST_TIMEOUT_MS });
    try {
      // Registered, and talking to the leader, before it stops.
      const first = await within(client.submit(order(0)), WAIT_MS, 'first order');
      expect(first.node).toBe(leader1);
      expect(client.target).toBe(leader1);

      stopped = leader1;
      cluster.pause(leader1, true);
      const results = await within(
        Promise.all(Array.from({ length: ORDERS }, (_, k) => client.submit(order(k + 1)))),
        ORDERS_DEADLINE_MS,
        'orders while the leader is stopped',
      );
      const seqs = results.map((r) => r.requestSeq);
      expect(new Set(seqs).size).toBe(ORDERS);
      for (const r of results) expect(r.node).not.toBe(leader1);
      expect(client.target).not.toBe(leader1);
      expect(client.stats.probeFailovers).toBeGreaterThanOrEqual(1);
      expect(client.stats.timeouts).toBe(0);
      expect(client.stats.acked).toBe(ORDERS + 1);
    } finally {
      client.close();
    }

    cluster.pause(leader1, false);
    stopped = undefined;
    await expectEachOrderOnce(cluster, ORDERS + 1);
  }, 120_000);
});

describe('leader probe, slow leader', () => {
  it('keeps a leader that is slow but answers its status (no probe failover)', async () => {
    cluster = await ProcessCluster.create({ env: { MATCHBOOK_TEST_FAULTS: '1' }, timeTickMs: 200 });
    await cluster.startAll();
    const leader = await cluster.waitForLeader(WAIT_MS);
    // Each fdatasync of the leader takes 100 ms longer: every order waits over the probe's 50 ms.
    const r = await requestOnce(cluster.endpoint(leader), { op: 'test-fsync-delay', ms: 100 }, 5_000);
    expect(r.ok).toBe(true);
    const client = new ReplicaClient({
      endpoints: cluster.endpoints,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      probeAfterMs: 50,
      probeIntervalMs: 50,
    });
    try {
      // One at a time, so that each order waits for the slow fsync on its own.
      for (let n = 0; n < 20; n++) await within(client.submit(order(n)), WAIT_MS, `order ${n}`);
      expect(client.stats.probes).toBeGreaterThanOrEqual(1);
      expect(client.stats.probeFailovers).toBe(0);
      expect(client.stats.timeouts).toBe(0);
    } finally {
      client.close();
    }
    await requestOnce(cluster.endpoint(leader), { op: 'test-fsync-delay', ms: 0 }, 5_000);
    await expectEachOrderOnce(cluster, 20);
  }, 120_000);
});

describe('probeFailoverTarget', () => {
  const leaderOf = (id: number, leader: number): ProbeReply => ({
    id,
    role: id === leader ? 'LEADER' : 'FOLLOWER',
    leader,
  });
  it('fails over only from a silent target to a leader a majority names and that answers as LEADER', () => {
    expect(probeFailoverTarget(1, 3, [undefined, leaderOf(2, 2), leaderOf(3, 2)])).toBe(2);
    // The target answers: alive, only slow.
    expect(probeFailoverTarget(1, 3, [leaderOf(1, 1), leaderOf(2, 2), leaderOf(3, 2)])).toBeUndefined();
    // No majority of all endpoints (only the new leader itself answers).
    expect(probeFailoverTarget(1, 3, [undefined, leaderOf(2, 2), undefined])).toBeUndefined();
    // A majority names 2, but 2 does not answer as leader (or at all).
    expect(probeFailoverTarget(1, 3, [undefined, undefined, leaderOf(3, 2)])).toBeUndefined();
    expect(
      probeFailoverTarget(1, 3, [undefined, { id: 2, role: 'CANDIDATE', leader: 0 }, leaderOf(3, 2)]),
    ).toBeUndefined();
    // The followers still name the silent target: no election yet.
    expect(probeFailoverTarget(1, 3, [undefined, leaderOf(2, 1), leaderOf(3, 1)])).toBeUndefined();
    // Five replicas: three must agree.
    expect(
      probeFailoverTarget(1, 5, [undefined, leaderOf(2, 2), leaderOf(3, 2), undefined, undefined]),
    ).toBeUndefined();
    expect(probeFailoverTarget(1, 5, [undefined, leaderOf(2, 2), leaderOf(3, 2), leaderOf(4, 2), undefined])).toBe(2);
  });
});
