// The Multi-Paxos replica host (replicator/paxos/paxos-node.ts) in this process: three
// PaxosNodes with the real WAL on temp directories (node:fs), the system runtime, and an
// in-memory transport between them (messages cloned, delivered asynchronously, dropped to a node
// that is down). Proposals are applied exactly once, in one order, on every replica; a leader
// that dies is replaced and its clients' resends are deduplicated; the dead replica restarts from
// its disk and catches up (through a snapshot once the others compacted past it); reads go
// through the leader; membership changes and leadership transfer are refused.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NO_LOG } from '../../ops/log.js';
import { registerSession } from '../../replicator/client/server.js';
import { ProposalError, ProposalErrorCode, type Entry } from '../../replicator/log.js';
import { PAXOS_FIXED_MEMBERSHIP, PaxosNode, type PaxosOutbound } from '../../replicator/paxos/paxos-node.js';
import { ApplyOutcome } from '../../shard/state-machine.js';
import { shardConfig, waitFor } from '../fuzz/harness.js';

const MEMBERS = [1, 2, 3];
const DEADLINE_MS = 60_000;
const SNAPSHOT_INTERVAL_SLOTS = 8;

class Cluster {
  readonly nodes = new Map<number, PaxosNode>();
  /** Applied entries per node id, over every life (a restart re-applies from its snapshot: keyed by slot). */
  readonly applied = new Map<number, Map<number, string>>();
  readonly fatal: unknown[] = [];

  constructor(readonly dataDir: string) {}

  start(id: number): PaxosNode {
    const seen = this.applied.get(id) ?? new Map<number, string>();
    this.applied.set(id, seen);
    const node: PaxosNode = new PaxosNode({
      id,
      members: MEMBERS,
      dataDir: this.dataDir,
      shardConfig,
      send: (out) => this.send(out),
      timeTickMs: 0,
      snapshotIntervalSlots: SNAPSHOT_INTERVAL_SLOTS,
      seed: 7,
      onFatal: (e) => this.fatal.push(e),
      log: NO_LOG,
      onApplied: (_a, e: Entry) => {
        const v = `${e.type}:${Buffer.from(e.data).toString('hex')}`;
        const prev = seen.get(e.index);
        // Re-applying after a restart must apply the same value: one value per slot.
        if (prev !== undefined && prev !== v) this.fatal.push(new Error(`node ${id}: slot ${e.index} changed value`));
        seen.set(e.index, v);
      },
    });
    node.start();
    this.nodes.set(id, node);
    return node;
  }

  private send(out: PaxosOutbound[]): void {
    for (const item of out) {
      const to = item.kind === 'message' ? item.message.to : item.to;
      const copy = structuredClone(item);
      setImmediate(() => this.nodes.get(to)?.receive([copy]));
    }
  }

  /** The process dies: nothing reaches it any more, then its files are released. */
  async kill(id: number): Promise<void> {
    const node = this.nodes.get(id)!;
    this.nodes.delete(id);
    await node.stop();
  }

  leader(): PaxosNode | undefined {
    const leaders = [...this.nodes.values()].filter((n) => n.status().role === 'LEADER');
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.kill(id);
  }

  describe(): string {
    return [...this.nodes.values()].map((n) => JSON.stringify({ ...n.status(), stats: undefined })).join('\n');
  }
}

const order = (k: number) => ({
  type: 'new',
  account: 1,
  clOrdId: `o${k}`,
  symbol: 'BTC-USD',
  side: 'BUY',
  ordType: 'LIMIT',
  tif: 'GTC',
  price: 4_990_000 + k,
  qty: 1,
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Proposes orders [from, to) through the current leader, retrying refusals, until each is answered APPLIED or DUPLICATE once. */
async function submit(cl: Cluster, clientId: number, from: number, to: number): Promise<Map<number, number>> {
  const outcomes = new Map<number, number>();
  const one = async (k: number): Promise<void> => {
    for (;;) {
      const leader = cl.leader();
      if (leader !== undefined) {
        try {
          const r = await leader.propose({ clientId, requestSeq: k, command: order(k) });
          outcomes.set(k, r.result.outcome);
          return;
        } catch (e) {
          if (!(e instanceof ProposalError) || !e.retryable) throw e;
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  // Sequential per client: the session table wants request numbers in order.
  for (let k = from; k < to; k++) await one(k);
  return outcomes;
}

async function converged(cl: Cluster): Promise<void> {
  await waitFor(
    () => `convergence:\n${cl.describe()}`,
    () => {
      const ns = [...cl.nodes.values()];
      const applied = ns.map((n) => n.stateMachine.appliedIndex);
      if (!applied.every((a) => a === applied[0])) return false;
      const hashes = ns.map((n) => n.stateHash());
      return hashes.every((h) => h === hashes[0]);
    },
    DEADLINE_MS,
    20,
  );
}

/** A cluster of MEMBERS on a fresh temporary data dir (removed after the tests). */
function newCluster(): Cluster {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-paxos-node-'));
  dirs.push(dataDir);
  return new Cluster(dataDir);
}

/** Starts every member and waits for a leader. */
async function startAll(cl: Cluster): Promise<void> {
  for (const id of MEMBERS) cl.start(id);
  await waitFor(
    () => `a leader:\n${cl.describe()}`,
    () => cl.leader() !== undefined,
    DEADLINE_MS,
    20,
  );
}

/** Every slot applied on two replicas holds the same value on both, and no replica died. */
function expectAppliedAgree(cl: { applied: Map<number, Map<number, unknown>>; fatal: unknown[] }): void {
  const maps = [...cl.applied.values()];
  for (const a of maps) for (const b of maps) for (const [slot, v] of a) if (b.has(slot)) expect(b.get(slot)).toBe(v);
  expect(cl.fatal).toEqual([]);
}

describe('PaxosNode: three replicas in-process over the real WAL', () => {
  it('applies proposals exactly once in one order on every replica, through a leader crash, a restart and snapshots', async () => {
    const cl = newCluster();
    try {
      await startAll(cl);
      const clientId = await registerSession(cl.leader()!);
      const first = await submit(cl, clientId, 1, 31);
      expect([...first.values()].every((o) => o === ApplyOutcome.APPLIED)).toBe(true);

      // Reads go through the leader's log; followers refuse them with the leader's id.
      const leader = cl.leader()!;
      const readAt = await new Promise<number>((resolve, reject) =>
        leader.readIndex((err, index) => (err ? reject(err) : resolve(index))),
      );
      expect(readAt).toBeGreaterThan(30);
      expect(leader.stateMachine.appliedIndex).toBeGreaterThanOrEqual(readAt);
      const follower = [...cl.nodes.values()].find((n) => n !== leader)!;
      const refused = await new Promise<ProposalError | undefined>((resolve) =>
        follower.readIndex((err) => resolve(err)),
      );
      expect(refused?.code).toBe(ProposalErrorCode.NOT_LEADER);
      const conf = await new Promise<unknown>((resolve) => leader.changeMembershipThen({ type: 1, node: 4 }, resolve));
      expect(conf).toMatchObject({ ok: false, error: 'CONF_CHANGE_INVALID', message: PAXOS_FIXED_MEMBERSHIP });
      expect(leader.transferLeadership(follower.id)).toMatchObject({ ok: false, error: 'BAD_TARGET' });
      await converged(cl);

      // The leader dies; another takes over; the last request resent is applied once only.
      const dead = leader.id;
      await cl.kill(dead);
      await waitFor(
        () => `a new leader:\n${cl.describe()}`,
        () => cl.leader() !== undefined,
        DEADLINE_MS,
        20,
      );
      expect(cl.leader()!.id).not.toBe(dead);
      const resent = await submit(cl, clientId, 30, 31);
      expect(resent.get(30)).toBe(ApplyOutcome.DUPLICATE);
      const second = await submit(cl, clientId, 31, 61);
      expect([...second.values()].every((o) => o === ApplyOutcome.APPLIED)).toBe(true);
      await converged(cl);

      // The dead replica restarts from its disk and catches up: the others compacted past it.
      const back = cl.start(dead);
      await converged(cl);
      expect(back.stats.snapshotsInstalled).toBeGreaterThan(0);
      const hashes = [...cl.nodes.values()].map((n) => n.stateHash());
      expect(new Set(hashes).size).toBe(1);
      for (const n of cl.nodes.values()) {
        expect(n.stateMachine.engine.liveOrderCount).toBe(60);
        if (n !== back) expect(n.stats.snapshotsTaken).toBeGreaterThan(0); // (back installed one)
      }
      expectAppliedAgree(cl);
    } finally {
      await cl.stopAll();
    }
  }, 120_000);

  it('recovers after a restart of the whole cluster: the same state, and progress', async () => {
    const cl = newCluster();
    try {
      await startAll(cl);
      const clientId = await registerSession(cl.leader()!);
      await submit(cl, clientId, 1, 21);
      await converged(cl);
      const hash = cl.leader()!.stateHash();
      const applied = cl.leader()!.stateMachine.appliedIndex;
      await cl.stopAll();
      for (const id of MEMBERS) cl.start(id);
      await waitFor(
        () => `recovered:\n${cl.describe()}`,
        () => [...cl.nodes.values()].every((n) => n.stateMachine.appliedIndex >= applied),
        DEADLINE_MS,
        20,
      );
      for (const n of cl.nodes.values()) if (n.stateMachine.appliedIndex === applied) expect(n.stateHash()).toBe(hash);
      await waitFor(
        () => `a leader:\n${cl.describe()}`,
        () => cl.leader() !== undefined,
        DEADLINE_MS,
        20,
      );
      const more = await submit(cl, clientId, 21, 26);
      expect([...more.values()].every((o) => o === ApplyOutcome.APPLIED)).toBe(true);
      await converged(cl);
      for (const n of cl.nodes.values()) expect(n.stateMachine.engine.liveOrderCount).toBe(25);
      expect(cl.fatal).toEqual([]);
    } finally {
      await cl.stopAll();
    }
  }, 120_000);

  it('a replica restarted on a WAL whose synced tail was cut comes back recovering, is caught up, promises again, and no acknowledged command is lost', async () => {
    const cl = newCluster();
    try {
      await startAll(cl);
      const clientId = await registerSession(cl.leader()!);
      await submit(cl, clientId, 1, 21);
      await converged(cl);
      const damaged = [...cl.nodes.values()].find((n) => n !== cl.leader())!.id;
      await cl.kill(damaged);
      // As chaos/faults.ts's wal-truncate: cut the newest segment's tail (records it had synced and acknowledged).
      const dir = path.join(cl.dataDir, `node-${damaged}`);
      const seg = fs
        .readdirSync(dir)
        .filter((f) => /^wal-\d+\.log$/.test(f))
        .sort()
        .at(-1)!;
      const size = fs.statSync(path.join(dir, seg)).size;
      fs.truncateSync(path.join(dir, seg), Math.max(0, size - 300));
      const back = cl.start(damaged); // refused to start before (PAXOS_WAL_TAIL_LOST)
      expect(back.status().logTailLost).toBe(true);
      expect(back.paxos.recovering).toBe(true);
      expect(fs.existsSync(path.join(dir, 'tail-lost'))).toBe(true);
      const more = await submit(cl, clientId, 21, 31);
      expect([...more.values()].every((o) => o === ApplyOutcome.APPLIED)).toBe(true);
      await waitFor(
        () => `node ${damaged} caught up:\n${cl.describe()}`,
        () => !back.status().logTailLost,
        DEADLINE_MS,
        20,
      );
      expect(fs.existsSync(path.join(dir, 'tail-lost'))).toBe(false);
      await converged(cl);
      // The leader dies: the two left elect only if the recovered replica promises (or campaigns) again.
      const leader = cl.leader()!.id;
      await cl.kill(leader);
      await waitFor(
        () => `a leader without ${leader}:\n${cl.describe()}`,
        () => cl.leader() !== undefined,
        DEADLINE_MS,
        20,
      );
      const last = await submit(cl, clientId, 31, 41);
      expect([...last.values()].every((o) => o === ApplyOutcome.APPLIED)).toBe(true);
      cl.start(leader);
      await converged(cl);
      for (const n of cl.nodes.values()) expect(n.stateMachine.engine.liveOrderCount).toBe(40);
      expectAppliedAgree(cl);
    } finally {
      await cl.stopAll();
    }
  }, 120_000);
});
