// Regression tests for the replication-safety audit (issue 15): one scenario per bug, each
// named after it, on production replicas driven by hand (manual-cluster.ts). Each fails on the
// code before its fix; the planted bug of the same name (npm run sim -- --list-mutants) puts
// the bug back for the simulator.

import { describe, expect, it } from 'vitest';
import { ConfChangeType, EntryType, MessageType, Role, type Message } from '../../replicator/raft/types.js';
import { SIM_DATA_DIR } from '../../replicator/sim/sim-machine.js';
import { ELECTION_TICKS, ManualCluster } from './manual-cluster.js';

const { LEADER, CANDIDATE } = Role;

function msg(partial: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message {
  return { logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: 0, ...partial };
}

describe('replication safety (issue 15 audit)', () => {
  it('#1 commit saved ahead of the log: a term change and an APPEND that overwrites a stale tail in one Ready save a commit that names no stale entry', () => {
    // Node 3 holds 2/1 and 3/1, never committed. Leader 2 of term 2 committed 2/2 and 3/2
    // without it; its first word to node 3 is the APPEND that overwrites that tail, with commit
    // 3 — node 3 learns term 2 from the same message. Before the fix, node 3 saved its new term
    // with commit 3 while its log still held the stale 2/1, 3/1; the WAL refused to cut
    // "committed" entries and the replica died (or, restarted from that file, applied 2/1).
    const cl = new ManualCluster([1, 2, 3, 4, 5], { timeoutOffset: (id) => (id === 1 ? 0 : id === 2 ? 3 : 9) });
    cl.elect(1);
    const t1 = cl.core(1).term;
    // 2/1 and 3/1 reach node 3 only, and its acknowledgements are lost: never committed.
    for (const id of [2, 4, 5]) cl.isolate(id, [1]);
    cl.propose(1, 1);
    cl.propose(1, 2);
    cl.stabilize((m) => !(m.type === MessageType.APPEND_RESP && m.from === 3));
    expect(cl.core(3).lastIndex).toBe(3);
    expect(cl.core(1).commitIndex).toBeLessThan(2);
    cl.crash(1);
    cl.heal();
    // Node 2 leads term 2 with 4 and 5 while node 3 hears nothing, and commits 2/2 and 3/2.
    cl.isolate(3);
    cl.elect(2);
    cl.propose(2, 3);
    cl.stabilize();
    const lead = cl.core(2);
    expect(lead.term).toBeGreaterThan(t1);
    expect(lead.commitIndex).toBeGreaterThanOrEqual(3);
    const entries = [2, 3].map((i) => lead.entryAt(i)!);
    expect(entries.every((e) => e.term === lead.term)).toBe(true);
    cl.heal();
    cl.dropQueued();
    cl.release([
      msg({
        type: MessageType.APPEND,
        from: 2,
        to: 3,
        term: lead.term,
        index: 1,
        logTerm: cl.core(3).termAt(1)!,
        entries,
        commit: 3,
      }),
    ]);
    cl.deliver(); // before the fix: node 3 died here (the WAL refused to cut "committed" entries)
    expect(cl.core(3).term).toBe(lead.term);
    expect(cl.logOf(3).slice(0, 3)).toEqual(cl.logOf(2).slice(0, 3));
    // The commit index on disk names only what is on disk and the leader's.
    expect(cl.node(3).disk.hardState.commit).toBeLessThanOrEqual(1);
    cl.crash(3);
    cl.restart(3);
    expect(cl.core(3).termAt(2)).toBe(lead.term);
    for (const e of cl.node(3).applied) expect(e.term === t1 && e.index > 1).toBe(false); // never applied a stale entry
  });

  it('#2 membership reverts after a restart: a replica restarted on a log with newer configurations uses them, so a partition cannot elect two leaders in one term', () => {
    // {1,2,3} grows to {1,2,3,4,5}; partition {1,2} | {3,4,5}; node 1 restarts. Before the fix it
    // re-applied only up to its last saved commit and came back with voters {1,2,3}: it won a term
    // with node 2's vote while {3,4,5} elected their own leader in the same term.
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: (id) => (id === 1 ? 0 : id === 5 ? 3 : 9) });
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    for (const id of [4, 5]) {
      cl.add(id);
      for (const type of [ConfChangeType.ADD_LEARNER, ConfChangeType.PROMOTE]) {
        expect(cl.core(1).proposeConfChange({ type, node: id }).ok).toBe(true);
        cl.process(1);
        cl.stabilize();
        cl.tick(1);
        cl.stabilize();
      }
    }
    expect(cl.core(1).conf().voters).toEqual([1, 2, 3, 4, 5]);
    for (const a of [1, 2]) cl.isolate(a, [3, 4, 5]);
    cl.crash(1);
    cl.restart(1);
    expect(cl.core(1).conf().voters).toEqual([1, 2, 3, 4, 5]);
    // Both sides try for a while.
    for (let i = 0; i < 6 * ELECTION_TICKS; i++) {
      cl.tickAll();
      cl.stabilize();
    }
    const leadersByTerm = new Map<number, Set<number>>();
    for (const m of cl.sent) {
      if (m.type !== MessageType.APPEND && m.type !== MessageType.HEARTBEAT) continue;
      let set = leadersByTerm.get(m.term);
      if (set === undefined) leadersByTerm.set(m.term, (set = new Set()));
      set.add(m.from);
    }
    for (const [term, set] of leadersByTerm) expect(set.size, `leaders of term ${term}: ${[...set]}`).toBe(1);
    expect(cl.core(1).role).not.toBe(LEADER);
    expect(cl.core(2).role).not.toBe(LEADER);
  });

  it('#3 the lost-tail rule cleared by a stale APPEND: a replica that lost acknowledged entries holds to them whatever old APPEND arrives late', () => {
    // Node 3 acknowledged 2..5 (committed with the leader while node 2 was away), then its disk
    // lost 3..5. An old APPEND from the same leader (entries up to 2) arrives late. Before the
    // fix that APPEND "reached the leader's last index when it was sent" and ended the wait:
    // node 3 then voted for node 2, whose log lacks the committed 3..5.
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: (id) => (id === 1 ? 0 : id === 2 ? 3 : 9) });
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    const old = cl.sent
      .filter((m) => m.type === MessageType.APPEND && m.to === 3 && m.entries.some((e) => e.index === 2))
      .pop()!;
    expect(old).toBeDefined();
    cl.isolate(2);
    for (let i = 0; i < 3; i++) cl.propose(1);
    cl.stabilize();
    expect(cl.core(1).commitIndex).toBe(5);
    cl.loseTail(3, 3); // 3..5 gone from node 3's disk
    expect(cl.core(3).logTailLost).toBe(true);
    cl.release([old]);
    cl.deliver();
    expect(cl.core(3).logTailLost).toBe(true); // the late APPEND covers nothing it lost
    cl.crash(1);
    cl.heal();
    cl.tickUntil(2, () => cl.core(2).role === CANDIDATE);
    cl.stabilize();
    expect(cl.core(2).role).not.toBe(LEADER);
    expect(
      cl
        .sentOfType(MessageType.VOTE_RESP, (m) => m.from === 3 && m.to === 2 && m.term === cl.core(2).term)
        .every((m) => m.reject),
    ).toBe(true);
  });

  it('#4 torn writes mark acknowledged-data loss: after a power cut on every host in the middle of writes, no replica waits for lost data and a leader is elected', () => {
    // Every host loses power while entries it wrote are not yet synced: each WAL ends in a
    // torn, never-acknowledged record. Before the fix recovery could not tell that from damaged
    // acknowledged data, marked every replica "tail lost", and none would ever campaign.
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: (id) => (id === 1 ? 0 : id === 2 ? 3 : 9) });
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    const committed = cl.core(1).commitIndex;
    // Each node is killed at the start of its next fdatasync (the new entry is written, not
    // synced), then every host loses power.
    const dead = [1, 2, 3].map((id) => cl.killAtDiskCall(id, 1));
    cl.propose(1);
    cl.stabilize();
    expect(dead.every((d) => d())).toBe(true);
    for (const id of [1, 2, 3]) cl.powerLoss(id, true); // every host keeps a torn last record
    for (const id of [1, 2, 3]) cl.restart(id);
    for (const id of [1, 2, 3]) expect(cl.core(id).logTailLost).toBe(false);
    // Every WAL really ended torn (recovery kept the cut bytes beside it).
    const cut = [1, 2, 3].filter((id) =>
      cl
        .node(id)
        .machine.fs.files(`${SIM_DATA_DIR}/node-${id}`)
        .some((f) => f.includes('.corrupt-')),
    );
    expect(cut).toEqual([1, 2, 3]);
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    cl.tick(1);
    cl.stabilize();
    for (const id of [2, 3]) expect(cl.core(id).commitIndex).toBe(cl.core(1).lastIndex);
    expect(cl.core(1).commitIndex).toBeGreaterThan(committed);
  });

  it('#4 (liveness) a replica that lost acknowledged entries still votes for a candidate holding them: one lost tail and one down node out of 3 still elect a leader', () => {
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: (id) => (id === 1 ? 0 : id === 2 ? 3 : 9) });
    cl.elect(1);
    for (let i = 0; i < 3; i++) cl.propose(1);
    cl.stabilize();
    cl.loseTail(3, 2);
    expect(cl.core(3).logTailLost).toBe(true);
    cl.crash(1);
    cl.tickUntil(2, () => cl.core(2).role === CANDIDATE);
    cl.stabilize();
    expect(cl.core(2).role).toBe(LEADER); // node 3 voted: node 2's log is at least what node 3 had
    cl.tick(2);
    cl.stabilize();
    expect(cl.core(3).logTailLost).toBe(false);
    expect(cl.logOf(3)).toEqual(cl.logOf(2));
  });

  it('#6 a leader that removed itself and stopped before the others learned the commit is not counted by them', () => {
    // Voters {1,2}; leader 1 removes itself; the change commits with node 2's acknowledgement,
    // node 1 steps down and stops before node 2 hears the new commit index. Before the fix node 2
    // applied configurations only when committed, so it still counted node 1 and, alone, could
    // never win an election.
    const cl = new ManualCluster([1, 2], { timeoutOffset: (id) => (id === 1 ? 0 : 3) });
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    expect(cl.core(1).proposeConfChange({ type: ConfChangeType.REMOVE, node: 1 }).ok).toBe(true);
    cl.process(1);
    // Node 2 gets the entry and acknowledges it; what node 1 sends after the commit is lost.
    cl.deliver(); // APPEND to 2
    cl.deliver(); // the ack to 1: committed, node 1 steps down
    expect(cl.core(1).role).not.toBe(LEADER);
    const removal = cl.core(1).lastIndex;
    expect(cl.core(2).commitIndex).toBeLessThan(removal);
    cl.crash(1);
    expect(cl.core(2).conf().voters).toEqual([2]);
    cl.tickUntil(2, () => cl.core(2).role === LEADER, 4 * ELECTION_TICKS);
    cl.propose(2);
    cl.stabilize();
    expect(cl.core(2).commitIndex).toBe(cl.core(2).lastIndex);
  });

  it("#7 single voter with learners: the new leader's APPENDs leave only after its new term is saved", () => {
    // Voter 1 with learner 2. Campaigning alone, node 1 becomes leader in the same step; before
    // the fix its APPENDs to the learner were handed to the transport before the term was saved,
    // so a crash there left a learner holding entries of a term its leader had not recorded.
    // The cluster's send hook (manual-cluster.ts) fails any message whose term is not durable.
    const cl = new ManualCluster([1], { timeoutOffset: () => 0 });
    cl.elect(1);
    cl.propose(1);
    cl.add(2);
    expect(cl.core(1).proposeConfChange({ type: ConfChangeType.ADD_LEARNER, node: 2 }).ok).toBe(true);
    cl.process(1);
    cl.stabilize();
    cl.tick(1);
    cl.stabilize();
    expect(cl.logOf(2)).toEqual(cl.logOf(1));
    cl.crash(1);
    cl.restart(1);
    const before = cl.sent.length;
    cl.elect(1); // term + 1, leader at once, APPENDs to the learner in that Ready
    const appends = cl.sent.slice(before).filter((m) => m.type === MessageType.APPEND && m.to === 2);
    expect(appends.length).toBeGreaterThan(0);
    expect(cl.node(1).disk.hardState.term).toBe(cl.core(1).term);
    cl.stabilize();
    expect(cl.logOf(2)).toEqual(cl.logOf(1));
  });

  it('a late answer to a read of an earlier life of a replica does not answer a read of this one (found by the simulator)', () => {
    // Node 2 forwards a read to leader 1; the answer is held back; node 2 restarts (same term) and
    // reads again after more commands were acknowledged. Before the fix read contexts restarted
    // at 1 in every process, so the old answer matched the new read and returned a stale index.
    const cl = new ManualCluster([1, 2, 3]);
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    cl.read(2, 1);
    const held = cl.stabilizeHolding((m) => m.type === MessageType.READ_INDEX_RESP);
    expect(held.length).toBe(1);
    cl.crash(2);
    cl.restart(2);
    for (let i = 0; i < 3; i++) cl.propose(1);
    cl.stabilize();
    cl.tick(1);
    cl.stabilize();
    const required = cl.core(1).commitIndex;
    cl.read(2, 2);
    cl.release(held); // the old answer arrives first
    cl.stabilize();
    for (const r of cl.node(2).readStates) expect(r.index).toBeGreaterThanOrEqual(required);
    expect(cl.node(2).readStates.length).toBe(1);
  });
});

describe('membership from the log (thesis §4.1)', () => {
  it('a configuration takes effect when appended and is undone when the entry is overwritten', () => {
    const cl = new ManualCluster([1, 2, 3], { timeoutOffset: (id) => (id === 1 ? 0 : id === 2 ? 3 : 9) });
    cl.elect(1);
    cl.propose(1);
    cl.stabilize();
    cl.add(4);
    cl.isolate(1);
    expect(cl.core(1).proposeConfChange({ type: ConfChangeType.ADD_LEARNER, node: 4 }).ok).toBe(true);
    cl.process(1);
    expect(cl.core(1).conf().learners).toEqual([4]); // appended, not committed: in force here
    const at = cl.core(1).lastIndex;
    expect(cl.core(1).entryAt(at)!.type).toBe(EntryType.CONF_CHANGE);
    cl.crash(1);
    cl.heal();
    cl.elect(2);
    cl.propose(2);
    cl.stabilize();
    cl.restart(1);
    expect(cl.core(1).conf().learners).toEqual([4]); // its log still holds the change
    cl.tick(2);
    cl.stabilize();
    expect(cl.core(1).termAt(at)).not.toBe(1); // overwritten by the new leader…
    expect(cl.core(1).conf()).toEqual({ voters: [1, 2, 3], learners: [] }); // …and undone
  });
});
