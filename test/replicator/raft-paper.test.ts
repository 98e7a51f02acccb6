// Scenario tests of the replica's Raft named after the sections of the Raft paper (Ongaro &
// Ousterhout, "In Search of an Understandable Consensus Algorithm", 2014) and of the thesis
// (Ongaro 2014, "Consensus: Bridging Theory and Practice") they check. Three (or more)
// production replicas (ReplicaNode, real WAL on a simulated disk) are driven by hand: the test
// decides who ticks and which messages are delivered, dropped or altered (manual-cluster.ts).

import { describe, expect, it } from 'vitest';
import { RaftCore } from '../../replicator/raft/raft-core.js';
import {
  ConfChangeType,
  MessageType,
  ProposeError,
  Role,
  type Message,
  type NodeId,
  type RaftConfig,
} from '../../replicator/raft/types.js';
import { Prng } from '../../replicator/prng.js';
import { ELECTION_TICKS, ManualCluster } from './manual-cluster.js';

const { LEADER, FOLLOWER, CANDIDATE, PRE_CANDIDATE } = Role;

/** Timeouts: node 1 first (electionTicks), then node 2 (+3), node 3 last (+9). */
const ORDER_123 = (id: NodeId) => (id === 1 ? 0 : id === 2 ? 3 : 9);

function msg(partial: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message {
  return { logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: 0, ...partial };
}

function cmd(seq: number) {
  return new Uint8Array([9, seq & 0xff]);
}

describe('§5.1 terms', () => {
  it('a server that receives a request with a stale term rejects it and replies with its current term, so a stale leader steps down', () => {
    // Figure 2: AppendEntries "reply false if term < currentTerm"; the reply carries currentTerm.
    // Without a reply, a node whose term ran ahead (repeated campaigns in a partition) can only
    // pull the cluster to its term through its own vote requests; if its membership is stale
    // (the voters it asks were removed meanwhile), nothing ever reaches it and it never catches up.
    const cl = new ManualCluster([1, 2, 3], { preVote: false, checkQuorum: false });
    cl.elect(1);
    cl.isolate(3);
    cl.tick(3, 3 * ELECTION_TICKS);
    const t3 = cl.core(3).term;
    expect(t3).toBeGreaterThan(cl.core(1).term);
    cl.dropQueued();
    cl.heal();
    cl.tick(1); // heartbeats of term 1
    cl.deliver(); // node 3 gets a stale-term HEARTBEAT
    const replies = cl.queue.filter((m) => m.from === 3 && m.to === 1);
    expect(replies.length).toBeGreaterThan(0);
    expect(replies.every((m) => m.term === t3)).toBe(true);
    cl.deliver();
    expect(cl.core(1).term).toBe(t3);
    expect(cl.core(1).role).toBe(FOLLOWER);
  });
});

describe('§5.2 leader election', () => {
  it('a follower that hears nothing for an election timeout becomes candidate, votes for itself durably, and wins with a majority', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.tick(1, ELECTION_TICKS - 1);
    expect(cl.core(1).role).toBe(FOLLOWER);
    cl.tick(1);
    expect(cl.core(1).role).toBe(CANDIDATE);
    expect(cl.core(1).term).toBe(1);
    expect(cl.node(1).disk.hardState).toMatchObject({ term: 1, vote: 1 });
    expect(cl.queue.filter((m) => m.type === MessageType.VOTE).map((m) => [m.to, m.term])).toEqual([
      [2, 1],
      [3, 1],
    ]);
    cl.isolate(3); // one other vote is enough: 2 of 3
    cl.stabilize();
    expect(cl.core(1).role).toBe(LEADER);
    expect(cl.core(2).role).toBe(FOLLOWER);
    expect(cl.core(2).leader).toBe(1);
    expect(cl.node(2).disk.hardState).toMatchObject({ term: 1, vote: 1 });
    expect(cl.core(3).term).toBe(0);
  });

  it('a split vote leaves both candidates without a majority; a new election in a higher term resolves it', () => {
    // Nodes 1 and 2 time out together; afterwards node 2 draws a longer timeout.
    const draws = new Map<NodeId, number>();
    const cl = new ManualCluster([1, 2, 3], {
      timeoutOffset: (id) => {
        const k = draws.get(id) ?? 0;
        draws.set(id, k + 1);
        return id === 3 ? 9 : id === 2 && k >= 1 ? 9 : 0;
      },
    });
    cl.isolate(3);
    cl.tick(1, ELECTION_TICKS);
    cl.tick(2, ELECTION_TICKS);
    expect([cl.core(1).role, cl.core(2).role]).toEqual([CANDIDATE, CANDIDATE]);
    cl.stabilize();
    // Each voted for itself in term 1 and refused the other.
    expect([cl.core(1).role, cl.core(2).role]).toEqual([CANDIDATE, CANDIDATE]);
    expect(cl.sentOfType(MessageType.VOTE_RESP).every((m) => m.reject)).toBe(true);
    for (let i = 0; i < 2 * ELECTION_TICKS && cl.leader() === undefined; i++) {
      cl.tickAll();
      cl.stabilize();
    }
    expect(cl.leader()?.id).toBe(1);
    expect(cl.core(1).term).toBe(2);
    expect(cl.core(2).role).toBe(FOLLOWER);
  });

  it('election timeouts are randomized in [electionTicks, 2·electionTicks) and redrawn on every election', () => {
    const firstTimeouts = new Set<number>();
    for (let seed = 1; seed <= 200; seed++) {
      const rng = new Prng(seed);
      const core = new RaftCore(config(1, [1, 2, 3], { random: (n) => rng.int(n) }));
      let ticks = 0;
      while (core.role === FOLLOWER) {
        core.tick();
        ticks++;
        expect(ticks).toBeLessThan(2 * ELECTION_TICKS);
      }
      expect(ticks).toBeGreaterThanOrEqual(ELECTION_TICKS);
      firstTimeouts.add(ticks);
    }
    expect(firstTimeouts.size).toBeGreaterThanOrEqual(ELECTION_TICKS / 2);
    // One node, many failed elections: the interval between them varies.
    const rng = new Prng(7);
    const core = new RaftCore(config(1, [1, 2, 3], { random: (n) => rng.int(n) }));
    const intervals = new Set<number>();
    let last = core.term;
    let ticks = 0;
    while (intervals.size < 3 && ticks < 1000) {
      core.tick();
      ticks++;
      if (core.term !== last) {
        intervals.add(ticks);
        last = core.term;
        ticks = 0;
      }
      if (core.hasReady()) core.advance(core.ready());
    }
    expect(intervals.size).toBeGreaterThanOrEqual(3);
  });

  it('a vote survives a crash: a restarted node does not vote twice in the same term (§5.2, Figure 2 persistent state)', () => {
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: ORDER_123 });
    cl.isolate(3);
    cl.tick(1, ELECTION_TICKS); // candidate in term 1
    cl.deliver(); // VOTE to 2; 2 grants after persisting
    expect(cl.node(2).disk.hardState).toMatchObject({ term: 1, vote: 1 });
    cl.crash(2);
    cl.restart(2);
    expect(cl.core(2).term).toBe(1);
    cl.dropQueued();
    cl.heal();
    cl.isolate(1);
    cl.tickUntil(3, () => cl.core(3).role === CANDIDATE);
    expect(cl.core(3).term).toBe(1);
    cl.stabilize();
    const answers = cl.sentOfType(MessageType.VOTE_RESP, (m) => m.from === 2 && m.to === 3);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((m) => m.reject)).toBe(true);
    expect(cl.core(3).role).not.toBe(LEADER);
  });
});

describe('§5.3 log replication', () => {
  it('an entry is committed once the leader has it on a majority; followers learn the commit index', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    const to3 = (m: Message) => m.to === 3; // node 3 is slow: its messages wait
    const r = cl.propose(1);
    expect(r).toMatchObject({ ok: true, index: 2 });
    expect(cl.core(1).termAt(2)).toBe(1);
    expect(cl.core(1).commitIndex).toBe(1);
    const held = cl.take(to3);
    cl.deliver(); // APPEND reaches 2
    expect(cl.core(2).lastIndex).toBe(2);
    expect(cl.core(1).commitIndex).toBe(1); // 2's answer is not in yet
    cl.deliver(); // APPEND_RESP reaches 1
    expect(cl.core(1).commitIndex).toBe(2);
    expect(cl.node(1).applied.map((e) => e.index)).toEqual([1, 2]);
    cl.stabilizeHolding(to3, held);
    expect(cl.core(2).commitIndex).toBe(2);
    expect(cl.core(3).lastIndex).toBe(1);
    cl.release(held);
    cl.stabilize();
    expect(cl.logOf(3)).toEqual(cl.logOf(1));
    expect(cl.core(3).commitIndex).toBe(2);
  });

  it('the leader retries AppendEntries until the follower has every entry, even when no new proposal comes (lost last APPEND)', () => {
    // "If followers crash or run slowly, or if network packets are lost, the leader retries
    // AppendEntries RPCs indefinitely ... until all followers eventually store all log entries."
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    cl.propose(1);
    cl.stabilize(); // both followers replicating
    cl.propose(1);
    // Every APPEND to 3 is lost until the entry commits (a short one-way outage), and also
    // the empty APPEND that announces the new commit index.
    cl.stabilize((m) => !(m.type === MessageType.APPEND && m.to === 3));
    expect(cl.core(1).commitIndex).toBe(3);
    expect(cl.core(3).lastIndex).toBe(2);
    for (let i = 0; i < 5 * ELECTION_TICKS; i++) {
      cl.tick(1);
      cl.stabilize();
    }
    expect(cl.core(3).lastIndex).toBe(3);
    expect(cl.core(3).commitIndex).toBe(3);
  });

  it('a follower with conflicting uncommitted entries has them overwritten by the leader', () => {
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: ORDER_123 });
    cl.elect(1);
    cl.isolate(1);
    cl.propose(1);
    cl.propose(1); // 2/1 and 3/1 exist only on node 1
    expect(cl.logOf(1)).toEqual(['1/1', '2/1', '3/1']);
    cl.elect(2); // term 2 with node 3's vote
    cl.propose(2);
    cl.propose(2);
    cl.stabilize();
    expect(cl.logOf(2)).toEqual(['1/1', '2/2', '3/2', '4/2']);
    expect(cl.core(2).commitIndex).toBe(4);
    cl.heal();
    cl.tick(2);
    cl.stabilize();
    expect(cl.core(1).role).toBe(FOLLOWER);
    expect(cl.logOf(1)).toEqual(cl.logOf(2));
    expect(cl.logOf(3)).toEqual(cl.logOf(2));
    expect(cl.node(1).sm.stateHash()).toBe(cl.node(2).sm.stateHash());
  });

  it('fast backtracking (Figure 7): a follower with a long divergent suffix is repaired with O(1) rejections, not one per entry', () => {
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: ORDER_123 });
    cl.elect(1);
    cl.isolate(1);
    for (let i = 0; i < 30; i++) cl.propose(1); // 2..31 of term 1, only on node 1
    cl.elect(2);
    for (let i = 0; i < 40; i++) cl.propose(2); // 2..42 of term 2 on nodes 2 and 3
    cl.stabilize();
    cl.crash(2);
    cl.heal();
    const from = cl.sent.length;
    cl.elect(3); // term 3, last 42/2: its first probe to node 1 is at 42, far past the divergence at 2
    cl.tick(3);
    cl.stabilize();
    const rejections = cl.sent
      .slice(from)
      .filter((m) => m.type === MessageType.APPEND_RESP && m.from === 1 && m.reject);
    expect(rejections.length).toBeGreaterThan(0);
    expect(rejections.length).toBeLessThanOrEqual(2);
    expect(cl.logOf(1)).toEqual(cl.logOf(3));
  });
});

describe('§5.4 safety', () => {
  it('§5.4.1 election restriction: a candidate whose log lacks committed entries cannot win', () => {
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: (id) => (id === 1 ? 0 : id === 3 ? 1 : 9) });
    cl.elect(1);
    cl.isolate(3);
    for (let i = 0; i < 3; i++) cl.propose(1);
    cl.stabilize();
    expect(cl.core(2).commitIndex).toBe(4);
    expect(cl.core(3).lastIndex).toBe(1);
    cl.crash(1);
    cl.heal();
    cl.tickUntil(3, () => cl.core(3).role === CANDIDATE);
    cl.stabilize();
    expect(cl.core(3).role).not.toBe(LEADER);
    expect(cl.sentOfType(MessageType.VOTE_RESP, (m) => m.from === 2 && m.to === 3).every((m) => m.reject)).toBe(true);
    cl.elect(2);
    expect(cl.core(2).commitIndex).toBeGreaterThanOrEqual(4);
    cl.stabilize();
    expect(cl.logOf(3)).toEqual(cl.logOf(2));
  });

  it('§5.4.2 (Figure 8) a leader does not commit an entry of an earlier term by counting replicas', () => {
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: ORDER_123 });
    cl.elect(1); // term 1, noop 1/1 committed everywhere
    // S1 appends X = 2/1 and crashes before replicating it.
    cl.isolate(1);
    cl.propose(1, 0x58);
    expect(cl.logOf(1)).toEqual(['1/1', '2/1']);
    cl.crash(1);
    cl.heal();
    // S2 becomes leader of term 2 with S3's vote; its noop 2/2 reaches nobody; S2 crashes.
    cl.tickUntil(2, () => cl.core(2).role === CANDIDATE);
    cl.stabilize((m) => m.type !== MessageType.APPEND);
    expect(cl.core(2).role).toBe(LEADER);
    expect(cl.logOf(2)).toEqual(['1/1', '2/2']);
    cl.crash(2);
    // S1 restarts from its disk and wins term 3 with S3's vote (2/1 is more up to date than 1/1).
    cl.restart(1);
    const onlyX = (m: Message): boolean | Message =>
      m.type === MessageType.APPEND && m.from === 1 ? { ...m, entries: m.entries.filter((e) => e.index <= 2) } : true;
    for (let i = 0; i < 10 * ELECTION_TICKS && cl.core(1).role !== LEADER; i++) {
      cl.tick(1);
      cl.stabilize(onlyX);
    }
    expect(cl.core(1).role).toBe(LEADER);
    expect(cl.core(1).term).toBe(3);
    // S1 replicates X (term 1) to S3 but not its own noop (term 3): X is on a majority...
    cl.stabilize(onlyX);
    expect(cl.core(3).termAt(2)).toBe(1);
    // ...yet it must not be committed: it is not of the leader's term. (S1's commit index may be
    // below 1 after its restart: it is saved lazily, a lower bound.)
    expect(cl.core(1).commitIndex).toBeLessThan(2);
    expect(cl.core(3).commitIndex).toBe(1);
    // Indeed S2 can still win (its 2/2 beats 2/1) and overwrite X on S3, which is only safe because X was never committed.
    cl.crash(1);
    cl.restart(2);
    for (let i = 0; i < 10 * ELECTION_TICKS && cl.core(2).role !== LEADER; i++) {
      cl.tick(2);
      cl.stabilize();
    }
    expect(cl.core(2).role).toBe(LEADER);
    cl.stabilize();
    expect(cl.core(3).termAt(2)).toBe(2);
    expect(cl.core(2).commitIndex).toBe(cl.core(2).lastIndex);
    expect(cl.logOf(3)).toEqual(cl.logOf(2));
  });
});

describe('§5.5 follower and candidate crashes', () => {
  it('a crashed follower restarts from its durable state only and catches up', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    cl.crash(3);
    for (let i = 0; i < 5; i++) cl.propose(1);
    cl.stabilize();
    expect(cl.core(1).commitIndex).toBe(7);
    cl.restart(3);
    expect(cl.core(3).term).toBe(1);
    expect(cl.core(3).lastIndex).toBe(2);
    expect(cl.core(3).role).toBe(FOLLOWER);
    cl.tick(1);
    cl.stabilize();
    expect(cl.logOf(3)).toEqual(cl.logOf(1));
    cl.tick(1);
    cl.stabilize();
    expect(cl.core(3).commitIndex).toBe(7);
    expect(cl.node(3).sm.appliedIndex).toBe(7);
    expect(cl.node(3).sm.stateHash()).toBe(cl.node(1).sm.stateHash());
  });

  it('a follower whose host loses power in the middle of a write (torn: a prefix of the entries durable) recovers and catches up', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    cl.stabilize();
    for (let i = 0; i < 6; i++) cl.propose(1);
    // Node 3 takes the APPEND and writes the entries; its process is killed as it starts the
    // fdatasync, and the host's power goes: what was not synced is lost or torn.
    const others = cl.take((m) => m.to !== 3);
    const dead = cl.killAtDiskCall(3, 1);
    cl.deliver(); // node 3's APPENDs only
    expect(dead()).toBe(true);
    cl.powerLoss(3);
    cl.release(others);
    cl.stabilize(); // 1 and 2 commit without it
    expect(cl.core(1).commitIndex).toBe(7);
    cl.restart(3);
    expect(cl.core(3).lastIndex).toBeGreaterThanOrEqual(1);
    expect(cl.core(3).lastIndex).toBeLessThanOrEqual(7);
    expect(cl.core(3).logTailLost).toBe(false); // a torn write never synced is not a lost tail
    cl.tick(1);
    cl.stabilize();
    expect(cl.logOf(3)).toEqual(cl.logOf(1));
    cl.tick(1);
    cl.stabilize();
    expect(cl.core(3).commitIndex).toBe(7);
    expect(cl.node(3).sm.stateHash()).toBe(cl.node(1).sm.stateHash());
  });
});

describe('§6 (thesis §4.1) membership changes, one server at a time', () => {
  it('adds a learner, promotes it, removes a voter; one change at a time; learners do not count for the quorum', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    cl.add(4); // starts with the genesis membership, which does not include it
    const add = cl.core(1).proposeConfChange({ type: ConfChangeType.ADD_LEARNER, node: 4 });
    expect(add.ok).toBe(true);
    cl.process(1);
    expect(cl.core(1).proposeConfChange({ type: ConfChangeType.ADD_LEARNER, node: 5 })).toMatchObject({
      ok: false,
      error: ProposeError.CONF_CHANGE_PENDING,
    });
    cl.stabilize();
    expect(cl.node(1).conf).toEqual({ voters: [1, 2, 3], learners: [4] });
    cl.tick(1);
    cl.stabilize();
    expect(cl.logOf(4)).toEqual(cl.logOf(1));
    expect(cl.core(4).conf()).toEqual({ voters: [1, 2, 3], learners: [4] });
    // A learner never campaigns.
    cl.tick(4, 5 * ELECTION_TICKS);
    expect(cl.core(4).role).toBe(FOLLOWER);
    cl.dropQueued();
    // Leader + learner are not a majority of the 3 voters (messages of 2 and 3 held back).
    const slow = (m: Message) => m.to === 2 || m.to === 3 || m.from === 2 || m.from === 3;
    const p = cl.propose(1);
    const held = cl.stabilizeHolding(slow);
    expect(cl.core(4).lastIndex).toBe(p.ok ? p.index : -1);
    expect(cl.core(1).commitIndex).toBeLessThan(p.ok ? p.index : 0);
    cl.release(held);
    cl.stabilize();
    expect(cl.core(1).commitIndex).toBe(p.ok ? p.index : -1);
    // Invalid changes are refused.
    expect(cl.core(1).proposeConfChange({ type: ConfChangeType.PROMOTE, node: 2 })).toMatchObject({
      ok: false,
      error: ProposeError.CONF_CHANGE_INVALID,
    });
    expect(cl.core(1).proposeConfChange({ type: ConfChangeType.ADD_LEARNER, node: 3 })).toMatchObject({
      ok: false,
      error: ProposeError.CONF_CHANGE_INVALID,
    });
    // Promote: 4 voters, quorum 3.
    expect(cl.core(1).proposeConfChange({ type: ConfChangeType.PROMOTE, node: 4 }).ok).toBe(true);
    cl.process(1);
    cl.stabilize();
    expect(cl.node(1).conf).toEqual({ voters: [1, 2, 3, 4], learners: [] });
    const q = cl.propose(1);
    const held2 = cl.stabilizeHolding(slow);
    expect(cl.core(1).commitIndex).toBeLessThan(q.ok ? q.index : 0); // 1 and 4 are 2 of 4
    cl.release(held2);
    cl.stabilize();
    expect(cl.core(1).commitIndex).toBe(q.ok ? q.index : -1);
    // Remove 3: voters 1, 2, 4.
    expect(cl.core(1).proposeConfChange({ type: ConfChangeType.REMOVE, node: 3 }).ok).toBe(true);
    cl.process(1);
    cl.stabilize();
    expect(cl.node(1).conf).toEqual({ voters: [1, 2, 4], learners: [] });
    cl.crash(3);
    const r = cl.propose(1);
    cl.stabilizeHolding((m) => m.to === 2 || m.from === 2);
    expect(cl.core(1).commitIndex).toBe(r.ok ? r.index : -1); // 1 and 4 are 2 of 3
    for (const id of [1, 4]) expect(cl.node(id).sm.stateHash()).toBe(cl.node(1).sm.stateHash());
  });

  it('a new leader changes membership only after committing an entry of its term', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.tickUntil(1, () => cl.core(1).role === CANDIDATE);
    cl.stabilize((m) => m.type !== MessageType.APPEND); // leader, noop not replicated
    expect(cl.core(1).role).toBe(LEADER);
    const r = cl.core(1).proposeConfChange({ type: ConfChangeType.ADD_LEARNER, node: 4 });
    expect(r.ok).toBe(false);
    expect([ProposeError.NOT_COMMITTED_IN_TERM, ProposeError.CONF_CHANGE_PENDING]).toContain(r.ok ? '' : r.error);
    cl.tick(1);
    cl.stabilize();
    expect(cl.core(1).proposeConfChange({ type: ConfChangeType.ADD_LEARNER, node: 4 }).ok).toBe(true);
  });

  it('a leader that removes itself steps down once the change is applied', () => {
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: ORDER_123 });
    cl.elect(1);
    expect(cl.core(1).proposeConfChange({ type: ConfChangeType.REMOVE, node: 1 }).ok).toBe(true);
    cl.process(1);
    cl.stabilize();
    expect(cl.core(1).role).toBe(FOLLOWER);
    expect(cl.node(2).conf).toEqual({ voters: [2, 3], learners: [] });
    cl.crash(1);
    cl.elect(2);
    const p = cl.propose(2);
    cl.stabilize();
    expect(cl.core(3).commitIndex).toBe(p.ok ? p.index : -1);
  });
});

describe('§9.6 PreVote and CheckQuorum (thesis §9.6, §6.2)', () => {
  it('PreVote: a partitioned node that rejoins does not bump its term nor depose the leader', () => {
    const cl = new ManualCluster([1, 2, 3], { preVote: true });
    cl.elect(1);
    const term = cl.core(1).term;
    cl.isolate(3);
    let sawPreCandidate = false;
    for (let i = 0; i < 5 * ELECTION_TICKS; i++) {
      cl.tick(3);
      sawPreCandidate ||= cl.core(3).role === PRE_CANDIDATE;
    }
    expect(sawPreCandidate).toBe(true);
    expect(cl.core(3).term).toBe(term);
    cl.dropQueued();
    cl.heal();
    cl.tick(1);
    cl.stabilize();
    for (let i = 0; i < 3 * ELECTION_TICKS; i++) {
      cl.tickAll();
      cl.stabilize();
    }
    expect(cl.core(1).role).toBe(LEADER);
    expect(cl.core(1).term).toBe(term);
    expect(cl.core(3).leader).toBe(1);
  });

  it('without PreVote the same rejoining node forces an election in a higher term (what PreVote prevents)', () => {
    const cl = new ManualCluster([1, 2, 3], { preVote: false });
    cl.elect(1);
    const term = cl.core(1).term;
    cl.isolate(3);
    cl.tick(3, 5 * ELECTION_TICKS);
    expect(cl.core(3).term).toBeGreaterThan(term + 1);
    cl.dropQueued();
    cl.heal();
    cl.tick(3, 2 * ELECTION_TICKS);
    cl.stabilize();
    expect(Math.max(cl.core(1).term, cl.core(2).term)).toBeGreaterThan(term);
  });

  it('CheckQuorum: a leader that stops hearing from a majority steps down within an election timeout or two', () => {
    const cl = new ManualCluster([1, 2, 3], { checkQuorum: true });
    cl.elect(1);
    for (let i = 0; i < 3 * ELECTION_TICKS; i++) {
      cl.tick(1);
      cl.stabilize();
    }
    expect(cl.core(1).role).toBe(LEADER); // hears from both followers
    cl.isolate(1);
    cl.tick(1, 2 * ELECTION_TICKS);
    expect(cl.core(1).role).toBe(FOLLOWER);
  });

  it('CheckQuorum lease: a follower that hears from its leader ignores a vote request of a higher term', () => {
    const cl = new ManualCluster([1, 2, 3], { checkQuorum: true });
    cl.elect(1);
    const term = cl.core(2).term;
    cl.core(2).step(msg({ type: MessageType.VOTE, from: 3, to: 2, term: term + 5, index: 100, logTerm: term }));
    cl.process(2);
    expect(cl.core(2).term).toBe(term);
    expect(cl.queue.filter((m) => m.type === MessageType.VOTE_RESP && m.from === 2)).toEqual([]);
  });
});

describe('§6.4 (thesis) ReadIndex', () => {
  it('the leader answers a read at its commit index only after a quorum confirms its leadership', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    cl.propose(1);
    cl.propose(1);
    cl.stabilize();
    expect(cl.core(1).commitIndex).toBe(3);
    cl.read(1, 42);
    expect(cl.node(1).readStates).toEqual([]);
    cl.deliver(); // heartbeats carrying the read round
    expect(cl.node(1).readStates).toEqual([]);
    cl.deliver(); // their answers
    expect(cl.node(1).readStates).toEqual([{ index: 3, context: 42 }]);
  });

  it('a follower forwards the read to the leader and gets the read index back', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    cl.read(2, 43);
    cl.stabilize();
    expect(cl.node(2).readStates).toEqual([{ index: 2, context: 43 }]);
  });

  it('a leader cut off from the majority never answers (no stale read)', () => {
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: ORDER_123 });
    cl.elect(1);
    cl.isolate(1);
    cl.elect(2);
    cl.propose(2);
    cl.stabilize();
    cl.read(1, 44);
    for (let i = 0; i < 3; i++) {
      cl.tick(1);
      cl.stabilize();
    }
    expect(cl.node(1).readStates).toEqual([]);
  });

  it('a deposed leader that still hears from a minority never answers (5 nodes: acks of 1 follower are not a quorum)', () => {
    const cl = new ManualCluster([1, 2, 3, 4, 5], { timeoutOffset: (id) => (id === 1 ? 0 : id === 3 ? 2 : 9) });
    cl.elect(1);
    for (const a of [1, 2]) cl.isolate(a, [3, 4, 5]);
    cl.elect(3); // term 2 with 4 and 5
    cl.propose(3);
    cl.stabilize();
    expect(cl.core(1).role).toBe(LEADER); // has not noticed (no CheckQuorum here)
    cl.read(1, 46);
    for (let i = 0; i < 3; i++) {
      cl.tick(1);
      cl.stabilize();
    }
    expect(
      cl.sentOfType(MessageType.HEARTBEAT_RESP, (m) => m.from === 2 && m.to === 1 && m.context !== 0).length,
    ).toBeGreaterThan(0);
    expect(cl.node(1).readStates).toEqual([]);
  });

  it('a new leader defers reads until an entry of its term is committed', () => {
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: ORDER_123 });
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    cl.isolate(1);
    cl.tickUntil(2, () => cl.core(2).role === CANDIDATE);
    cl.stabilize((m) => m.type !== MessageType.APPEND);
    expect(cl.core(2).role).toBe(LEADER);
    cl.read(2, 45);
    cl.tick(2);
    cl.stabilize((m) => m.type !== MessageType.APPEND);
    expect(cl.node(2).readStates).toEqual([]);
    cl.tick(2);
    cl.stabilize();
    expect(cl.node(2).readStates).toEqual([{ index: 3, context: 45 }]);
  });
});

describe('thesis §3.10 leadership transfer', () => {
  it('the leader catches the target up, sends TimeoutNow, and the target wins the next term; proposals wait meanwhile', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    for (let i = 0; i < 3; i++) cl.propose(1);
    const held = cl.stabilizeHolding((m) => m.to === 3); // node 3 lags behind
    cl.release(held);
    expect(cl.core(3).lastIndex).toBe(1);
    expect(cl.core(1).transferLeadership(3)).toBe(true);
    cl.process(1);
    expect(cl.propose(1)).toMatchObject({ ok: false, error: ProposeError.TRANSFERRING_LEADERSHIP });
    cl.stabilize();
    expect(cl.sentOfType(MessageType.TIMEOUT_NOW, (m) => m.to === 3).length).toBeGreaterThanOrEqual(1);
    expect(cl.sentOfType(MessageType.TIMEOUT_NOW, (m) => m.to !== 3)).toEqual([]);
    expect(cl.core(3).role).toBe(LEADER);
    expect(cl.core(3).term).toBe(2);
    expect(cl.core(1).role).toBe(FOLLOWER);
    expect(cl.propose(3).ok).toBe(true);
    cl.stabilize();
    expect(cl.logOf(1)).toEqual(cl.logOf(3));
  });

  it('a transfer to an unreachable node is abandoned after an election timeout', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    cl.isolate(3);
    expect(cl.core(1).transferLeadership(3)).toBe(true);
    expect(cl.propose(1).ok).toBe(false);
    for (let i = 0; i < ELECTION_TICKS; i++) {
      cl.tick(1);
      cl.stabilize();
    }
    expect(cl.core(1).role).toBe(LEADER);
    expect(cl.propose(1).ok).toBe(true);
  });
});

describe('§7 log compaction: InstallSnapshot', () => {
  it('a follower behind the compacted log gets the snapshot in chunks, restores its state machine, and then follows the log', () => {
    // The replica snapshots every 5 applied entries and compacts through the snapshot before
    // the newest (node.ts): after 11 entries the leader's log starts after its snapshot at 5.
    const cl = new ManualCluster([1, 2, 3], { snapshotChunkBytes: 16, snapshotIntervalEntries: 5 });
    cl.elect(1);
    cl.crash(3);
    for (let i = 0; i < 10; i++) cl.propose(1);
    cl.stabilize();
    cl.tick(1);
    cl.stabilize();
    const at = cl.core(1).firstIndex - 1;
    expect(at).toBe(5);
    cl.restart(3);
    cl.tick(1);
    cl.stabilize();
    const chunks = cl.sentOfType(MessageType.SNAPSHOT, (m) => m.to === 3);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.every((m) => m.snapshot?.meta.index === at)).toBe(true);
    expect(cl.node(3).disk.snapshotIndex).toBeGreaterThanOrEqual(at);
    cl.tick(1);
    cl.stabilize();
    expect(cl.node(3).sm.appliedIndex).toBe(cl.node(1).sm.appliedIndex);
    expect(cl.node(3).sm.stateHash()).toBe(cl.node(1).sm.stateHash());
    cl.propose(1);
    cl.stabilize();
    expect(cl.logOf(3)).toEqual(cl.logOf(1));
    expect(cl.node(3).sm.stateHash()).toBe(cl.node(1).sm.stateHash());
    // And it survives a restart from the snapshot on its disk.
    cl.crash(3);
    cl.restart(3);
    expect(cl.core(3).firstIndex).toBeGreaterThan(at);
    cl.tick(1);
    cl.stabilize();
    expect(cl.node(3).sm.stateHash()).toBe(cl.node(1).sm.stateHash());
  });

  it('a follower that already holds the snapshot’s last entry acknowledges no more than the snapshot index (its suffix may diverge)', () => {
    // Follower 3 got 1..5 in term 1 from leader 1 (commit 2). Leader 2 of term 2 holds 1..3 and
    // then entries of term 2, and sends its snapshot at 3/1. Entries 4..5 of node 3 are not the
    // leader's: acknowledging them would let the leader count them for a commit, and its next
    // heartbeat (commit = min(match, commit)) would make node 3 commit its own stale 4..5.
    // The core alone: what it answers does not depend on the host.
    const f = new RaftCore(config(3, [1, 2, 3]));
    const ents = [1, 2, 3, 4, 5].map((i) => ({ index: i, term: 1, type: 1 as const, data: cmd(i) }));
    f.step(msg({ type: MessageType.APPEND, from: 1, to: 3, term: 1, entries: ents, commit: 2 }));
    drain(f);
    const data = new Uint8Array([1, 2, 3]); // the state machine's bytes: opaque to the core
    f.step(
      msg({
        type: MessageType.SNAPSHOT,
        from: 2,
        to: 3,
        term: 2,
        snapshot: {
          meta: { index: 3, term: 1, conf: { voters: [1, 2, 3], learners: [] } },
          size: data.length,
          offset: 0,
          data,
          done: true,
        },
      }),
    );
    const out = drain(f);
    const acks = out.filter((m) => m.type === MessageType.APPEND_RESP && m.to === 2 && !m.reject);
    expect(acks.length).toBe(1);
    expect(acks[0]!.index).toBeLessThanOrEqual(3);
  });
});

// ---- helpers ----

function config(id: NodeId, voters: NodeId[], over: Partial<RaftConfig> = {}): RaftConfig {
  return {
    id,
    conf: { voters, learners: [] },
    electionTicks: ELECTION_TICKS,
    heartbeatTicks: 1,
    random: () => 0,
    inflightMessagesMax: 8,
    inflightBytesMax: 1 << 20,
    appendBytesMax: 1 << 20,
    uncommittedEntriesMax: 1000,
    snapshotChunkBytes: 1 << 20,
    preVote: false,
    checkQuorum: false,
    ...over,
  };
}

/** Every message one bare core sends (its Readies taken and advanced at once: no disk involved). */
function drain(core: RaftCore): Message[] {
  const out: Message[] = [];
  while (core.hasReady()) {
    const rd = core.ready();
    out.push(...rd.messages, ...rd.messagesAfterPersist);
    core.advance(rd);
  }
  return out;
}

describe('a replica whose WAL tail was cut off (acknowledged entries lost on its disk)', () => {
  // Raft assumes what a node acknowledged stays on its disk. When a damaged WAL tail is cut off
  // at recovery, entries the node acknowledged may be gone, and a leader may have counted them
  // towards a commit. Found by the 5-replica chaos run: a committed entry was overwritten.

  it('votes only for a candidate as up to date as the log it had, so a candidate without a committed entry cannot win with its vote', () => {
    const cl = new ManualCluster([1, 2, 3, 4, 5]);
    cl.elect(1); // term 1, noop 1/1
    cl.propose(1);
    cl.stabilize();
    // X = 3/1 reaches only nodes 2 and 3; with the leader that is 3 of 5: committed.
    cl.isolate(1, [4, 5]);
    cl.propose(1, 0x58);
    cl.stabilize();
    expect(cl.core(1).commitIndex).toBe(3);
    expect(cl.core(3).termAt(3)).toBe(1);
    // Node 3's disk loses X; the leader goes away.
    cl.loseTail(3, 1);
    expect(cl.core(3).lastIndex).toBe(2);
    expect(cl.core(3).logTailLost).toBe(true);
    cl.crash(1);
    cl.heal();
    // Node 4 (log 2/1) campaigns: 5 and 3 would make a majority with it, but 3 had 3/1.
    cl.tickUntil(4, () => cl.core(4).role === CANDIDATE);
    cl.stabilize();
    expect(cl.core(4).role).not.toBe(LEADER);
    const from3 = cl.sentOfType(MessageType.VOTE_RESP, (m) => m.from === 3 && m.to === 4);
    expect(from3.length).toBeGreaterThan(0);
    expect(from3.every((m) => m.reject)).toBe(true);
    // Node 2 holds X and wins with 4 and 5; node 3 catches up from it and may vote again.
    cl.elect(2);
    cl.stabilize();
    expect(cl.core(2).termAt(3)).toBe(1);
    expect(cl.logOf(3)).toEqual(cl.logOf(2));
    expect(cl.core(3).logTailLost).toBe(false);
    expect(cl.node(3).disk.tailLost).toBeUndefined();
    cl.tick(2); // a heartbeat carries the last commit index
    cl.stabilize();
    for (const id of [2, 3, 4, 5]) expect(cl.core(id).commitIndex).toBe(cl.core(2).lastIndex);
  });

  it('does not campaign while it waits, even when it hears from nobody', () => {
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: () => 0 });
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    cl.loseTail(3, 1);
    cl.crash(1);
    cl.crash(2);
    cl.tick(3, 10 * ELECTION_TICKS);
    expect(cl.core(3).role).toBe(FOLLOWER);
    expect(cl.sentOfType(MessageType.VOTE, (m) => m.from === 3)).toHaveLength(0);
    expect(cl.sentOfType(MessageType.PRE_VOTE, (m) => m.from === 3)).toHaveLength(0);
  });

  it('is repaired by a leader that believed it held more: the leader lowers its match and refills the log', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    for (let i = 0; i < 4; i++) cl.propose(1);
    cl.stabilize();
    expect(cl.core(3).lastIndex).toBe(5);
    // The leader's match for node 3 is 5; node 3 comes back holding 2.
    cl.loseTail(3, 3);
    for (let i = 0; i < 2; i++) cl.propose(1);
    cl.tick(1);
    cl.stabilize();
    expect(cl.logOf(3)).toEqual(cl.logOf(1));
    cl.tick(1);
    cl.stabilize();
    expect(cl.core(3).commitIndex).toBe(7);
    expect(cl.core(3).logTailLost).toBe(false);
    expect(cl.node(3).disk.tailLost).toBeUndefined();
    expect(cl.node(3).sm.stateHash()).toBe(cl.node(1).sm.stateHash());
  });

  it('a cut exactly on a record boundary is seen through the sync mark, and refilled', () => {
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    for (let i = 0; i < 4; i++) cl.propose(1);
    cl.stabilize();
    cl.loseTail(3, 3, true);
    expect(cl.core(3).logTailLost).toBe(true); // no damaged record, but the log ends below its sync mark
    for (let i = 0; i < 2; i++) cl.propose(1);
    cl.tick(1);
    cl.stabilize();
    expect(cl.logOf(3)).toEqual(cl.logOf(1));
  });

  it('a single voter has nobody to catch up from: it does not wait', () => {
    const cl = new ManualCluster([1]);
    cl.elect(1);
    cl.propose(1);
    cl.propose(1);
    cl.loseTail(1, 1);
    expect(cl.core(1).logTailLost).toBe(false);
    cl.process(1);
    expect(cl.node(1).disk.tailLost).toBeUndefined();
    cl.elect(1);
  });
});
