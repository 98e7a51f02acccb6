// Membership changes on real replica processes, driven by the operator CLI
// (cli/operator-commands.ts: add-node, remove-node, cluster status): a fourth member listed in
// the cluster file with "join": true is started, added (learner → caught up → voter), takes
// part in commits and holds the same state as the others, survives a restart as a voter; then
// the leader itself is removed, the remaining three elect a new leader and go on. Snapshots are
// frequent, so the new member catches up from a snapshot rather than from the whole log.
// No assertion is about timing; every wait is bounded.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOperatorCaptured } from '../cli/run-operator.js';
import type { NodeStatus } from '../../replicator/log.js';
import { ReplicaClient } from '../../replicator/client/client.js';
import { ProcessCluster, sleep } from '../../replicator/process-cluster.js';
import type { NodeId } from '../../replicator/raft/types.js';

const WAIT_MS = 30_000;
const SNAPSHOT_INTERVAL_ENTRIES = 4;

let cluster: ProcessCluster;
let client: ReplicaClient;
let n = 0;

beforeAll(async () => {
  cluster = await ProcessCluster.create({
    joining: 1,
    fsync: false,
    snapshotIntervalEntries: SNAPSHOT_INTERVAL_ENTRIES,
    timeTickMs: 200,
  });
  await cluster.startAll();
  await cluster.waitForLeader();
  client = new ReplicaClient({ endpoints: cluster.endpoints, requestTimeoutMs: 2_000 });
}, 60_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
});

/** Runs an operator command against this cluster's file, with console.log/error captured. */
const cli = (...argv: string[]) => runOperatorCaptured([...argv, '--cluster', cluster.configPath]);

async function placeOrders(count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, () => {
      n++;
      return client.submit({
        type: 'new',
        account: 1 + (n % 5),
        clOrdId: `m-${n}`,
        symbol: 'BTC-USD',
        side: n % 2 === 0 ? 'BUY' : 'SELL',
        ordType: 'LIMIT',
        tif: 'GTC',
        price: 4_900_000 + (n % 40) * (n % 2 === 0 ? -1 : 1),
        qty: 1 + (n % 5),
      });
    }),
  );
}

/**
 * Places orders one at a time (one log entry each, so snapshots come due) until every voter's
 * log is compacted, so that a member joining now can only catch up from a snapshot. How many
 * entries 300 concurrent orders make depends on the machine's speed (the leader batches).
 */
async function placeUntilCompacted(): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    // Every voter, since any of them may be the leader by the time the new member starts.
    const ss = await Promise.all(cluster.ids.map((id) => cluster.status(id)));
    if (ss.every((s) => s !== undefined && s.firstIndex > 1)) return;
    if (Date.now() > deadline)
      throw new Error(
        `the voters' logs were not all compacted: ${JSON.stringify(ss.map((s) => s && { id: s.id, firstIndex: s.firstIndex, snapshotIndex: s.snapshotIndex, applied: s.applied }))}`,
      );
    await placeOrders(1);
  }
}

/** Waits until `cond` holds (bounded by WAIT_MS). */
async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Waits until every node in `ids` has applied the same index with the same state hash. */
async function converged(ids: NodeId[]): Promise<NodeStatus[]> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const ss = await Promise.all(ids.map((id) => cluster.status(id, true)));
    if (
      ss.every((s) => s !== undefined) &&
      ss.every((s) => s!.applied === ss[0]!.applied && s!.stateHash === ss[0]!.stateHash)
    )
      return ss as NodeStatus[];
    if (Date.now() > deadline)
      throw new Error(
        `nodes ${ids} did not converge: ${JSON.stringify(ss.map((s) => s && { id: s.id, applied: s.applied, hash: s.stateHash?.slice(0, 12) }))}\n${ids.map((id) => cluster.tail(id, 10)).join('\n')}`,
      );
    await sleep(50);
  }
}

describe('membership changes through the operator CLI', () => {
  it('add-node: a joining member becomes a voter with the same state; it survives a restart', async () => {
    await placeOrders(300);
    await placeUntilCompacted();
    const [joiner] = cluster.joinIds as [NodeId];
    // Not running yet: refused with the command to start it.
    const early = await cli('add-node', '--node', String(joiner));
    expect(early.code).toBe(1);
    expect(early.err).toContain('start it first');
    // Unknown to the file: a usage error.
    expect((await cli('add-node', '--node', '99')).code).toBe(2);

    await cluster.start(joiner);
    const before = await cli('cluster', 'status', '--json');
    const rowsBefore = (JSON.parse(before.out) as { members: { member: number; membership?: string }[] }).members;
    expect(rowsBefore.find((r) => r.member === joiner)?.membership).toBe('none');

    const added = await cli('add-node', '--node', String(joiner));
    expect(added.code, added.err).toBe(0);
    const result = JSON.parse(added.out) as {
      conf: { voters: number[]; learners: number[] };
      steps: { step: string }[];
    };
    expect(result.steps.map((s) => s.step)).toEqual(['add-learner', 'caught-up', 'promote']);
    expect(result.conf).toEqual({ voters: [1, 2, 3, joiner], learners: [] });
    // Again: nothing to do.
    const again = await cli('add-node', '--node', String(joiner));
    expect(again.code).toBe(0);
    expect(again.out).toContain('already a voter');

    await placeOrders(200);
    const all = [...cluster.ids, joiner];
    const ss = await converged(all);
    for (const s of ss) expect(s.conf).toEqual({ voters: [1, 2, 3, joiner], learners: [] });
    // It caught up from the leader's snapshot: the log before it was compacted away.
    expect(ss.find((s) => s.id === joiner)!.stats.snapshotsInstalled).toBeGreaterThanOrEqual(1);
    // (A member slower than the status timeout shows as unreachable, without a membership: read again.)
    const memberships = async () =>
      (
        JSON.parse((await cli('cluster', 'status', '--json')).out) as { members: { membership?: string }[] }
      ).members.map((r) => r.membership);
    await until('every member a voter in cluster status', async () =>
      (await memberships()).every((m) => m === 'voter'),
    );
    expect(await memberships()).toEqual(['voter', 'voter', 'voter', 'voter']);

    // A restart recovers the membership (from its snapshot or by re-applying the change).
    await cluster.kill(joiner);
    await placeOrders(100);
    await cluster.start(joiner);
    await placeOrders(50);
    const after = await converged(all);
    expect(after.find((s) => s.id === joiner)!.conf.voters).toContain(joiner);
  });

  it('remove-node: the leader removes itself, the other three elect a leader and go on', async () => {
    const leader = await cluster.waitForLeader();
    const removed = await cli('remove-node', '--node', String(leader));
    expect(removed.code, removed.err).toBe(0);
    const conf = (JSON.parse(removed.out) as { conf: { voters: number[] } }).conf;
    expect(conf.voters).not.toContain(leader);
    expect(conf.voters).toHaveLength(3);
    await cluster.kill(leader);
    const rest = [...cluster.ids, ...cluster.joinIds].filter((id) => id !== leader);
    await placeOrders(200); // the client finds the new leader by itself
    const ss = await converged(rest);
    for (const s of ss) expect(s.conf.voters).toEqual(conf.voters);
    const leaders = async () =>
      (await Promise.all(rest.map((id) => cluster.status(id)))).filter((s) => s?.role === 'LEADER').length;
    await until('one leader among the other three', async () => (await leaders()) === 1);
    // Removing a node that is no longer a member is a no-op; the last voters are protected by the core.
    const twice = await cli('remove-node', '--node', String(leader));
    expect(twice.code).toBe(0);
    expect(twice.out).toContain('not a member');
  });
});
