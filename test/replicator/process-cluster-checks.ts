// What the replica-process tests (cluster-process*.test.ts, paxos-tail-lost-process.test.ts) wait
// for and read from a ProcessCluster: a condition polled until a deadline (the replicas' log tails
// in the error), every replica at the same applied index and state hash, and each replica's book.

import { expect } from 'vitest';
import { requestOnce } from '../../replicator/client/client.js';
import type { OrdersDump } from '../../replicator/client/protocol.js';
import type { NodeStatus } from '../../replicator/log.js';
import { type ProcessCluster, sleep } from '../../replicator/process-cluster.js';

/** Polls `fn` every 50 ms until it returns a value; past `timeoutMs` throws with every replica's last log lines. */
export async function untilCluster<T>(
  cluster: ProcessCluster,
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}\n${cluster.ids.map((id) => cluster.tail(id, 15)).join('\n')}`);
    await sleep(50);
  }
}

/** Every replica's status, once all report the same applied index and state hash (time ticks keep coming: polled). */
export function convergedStatuses(cluster: ProcessCluster, timeoutMs: number): Promise<NodeStatus[]> {
  return untilCluster(
    cluster,
    `${cluster.ids.length} replicas at the same applied index and hash`,
    async () => {
      const st = await Promise.all(cluster.ids.map((id) => cluster.status(id, true)));
      if (st.some((s) => s === undefined)) return undefined;
      const ss = st as NodeStatus[];
      return ss.every((s) => s.applied === ss[0]!.applied && s.stateHash === ss[0]!.stateHash) ? ss : undefined;
    },
    timeoutMs,
  );
}

/** Each replica's resting orders (client op 'orders'), in member order. */
export async function ordersDumps(cluster: ProcessCluster): Promise<OrdersDump[]> {
  const dumps: OrdersDump[] = [];
  for (const id of cluster.ids) {
    const r = await requestOnce(cluster.endpoint(id), { op: 'orders' }, 5_000);
    expect(r.ok).toBe(true);
    dumps.push(r as unknown as OrdersDump);
  }
  return dumps;
}
