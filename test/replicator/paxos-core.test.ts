// Scenario tests of the Multi-Paxos core named after the rules of "Paxos Made Simple" (Lamport
// 2001: P1, P2, phases 1 and 2, learning, a distinguished proposer) and "Paxos Made Moderately
// Complex" (van Renesse & Altinbuken 2015: ballots, pvalues, scouts and commanders, preemption,
// leader failure detection). The test drives the cores by hand: it decides which messages are
// delivered, and plays the host (persist, send, apply) through ready()/advance().

import { describe, expect, it } from 'vitest';
import { PaxosCore } from '../../replicator/paxos/paxos-core.js';
import {
  PaxosMessageType,
  PaxosProposeError,
  PaxosRole,
  RecordKind,
  ValueType,
  type Ballot,
  type NodeId,
  type PaxosMessage,
  type PaxosReady,
  type PaxosRecoveredState,
  type PaxosValue,
} from '../../replicator/paxos/types.js';
import { LEARN_SLOTS_MAX, PIPELINE_SLOTS_MAX, bytes, paxosConfig, text } from './paxos-harness.js';

const { PREPARE, PROMISE, ACCEPT, ACCEPTED, NACK, HEARTBEAT, LEARN } = PaxosMessageType;
const MEMBERS = [1, 2, 3];
const ELECTION_TICKS = paxosConfig(1, MEMBERS, () => 0).electionTicks;

const b = (round: number, leader: NodeId): Ballot => ({ round, leader });
const val = (s: string, origin: Ballot): PaxosValue => ({ type: ValueType.NORMAL, origin, data: bytes(s) });

function core(id: NodeId, recovered?: PaxosRecoveredState): PaxosCore {
  return new PaxosCore(
    paxosConfig(id, MEMBERS, () => 0),
    recovered,
  );
}

function msg(
  type: PaxosMessageType,
  from: NodeId,
  to: NodeId,
  ballot: Ballot,
  extra: Partial<PaxosMessage> = {},
): PaxosMessage {
  return { type, from, to, ballot, index: 0, slot: 0, values: [], ...extra };
}

function accept(from: NodeId, to: NodeId, ballot: Ballot, slot: number, value: PaxosValue, index = 0): PaxosMessage {
  return msg(ACCEPT, from, to, ballot, { slot, index, values: [{ slot, ballot, value }] });
}

/** The host for one Ready: everything persisted and sent at once. */
function drain(c: PaxosCore): PaxosReady {
  const rd = c.ready();
  c.advance();
  return rd;
}

const sent = (rd: PaxosReady): PaxosMessage[] => [...rd.messages, ...rd.messagesAfterPersist];

/** A network of cores driven by hand: deliver() pumps messages until none is left, skipping those `drop` refuses. */
class Net {
  readonly cores = new Map<NodeId, PaxosCore>();
  readonly applied = new Map<NodeId, string[]>();
  queue: PaxosMessage[] = [];
  readonly snapshotRequests: { from: NodeId; to: NodeId; slot: number }[] = [];

  constructor(ids = MEMBERS) {
    for (const id of ids) this.add(core(id));
  }

  add(c: PaxosCore): void {
    this.cores.set(c.id, c);
    if (!this.applied.has(c.id)) this.applied.set(c.id, []);
  }

  get(id: NodeId): PaxosCore {
    return this.cores.get(id)!;
  }

  flush(id: NodeId): PaxosReady[] {
    const out: PaxosReady[] = [];
    const c = this.get(id);
    while (c.hasReady()) {
      const rd = drain(c);
      this.queue.push(...sent(rd));
      this.applied.get(id)!.push(...rd.chosen.map((e) => text(e.value)));
      for (const r of rd.snapshotRequests) this.snapshotRequests.push({ from: id, ...r });
      out.push(rd);
    }
    return out;
  }

  /** Delivers until only held messages are left; `drop` loses messages (also those to a removed core). */
  deliver(drop: (m: PaxosMessage) => boolean = () => false, hold: (m: PaxosMessage) => boolean = () => false): void {
    const held: PaxosMessage[] = [];
    for (let guard = 0; this.queue.length > 0; guard++) {
      if (guard > 10_000) throw new Error('deliver: no quiescence');
      const m = this.queue.shift()!;
      if (hold(m)) held.push(m);
      else if (!drop(m) && this.cores.has(m.to)) {
        this.get(m.to).step(m);
        this.flush(m.to);
      }
    }
    this.queue = held;
  }

  tick(id: NodeId, ticks: number): void {
    for (let k = 0; k < ticks; k++) this.get(id).tick();
    this.flush(id);
  }

  /** Ticks `id` until it campaigns (its timeout is electionTicks: random() = 0). */
  campaign(id: NodeId): void {
    for (let k = 0; k < 2 * ELECTION_TICKS && this.get(id).role === PaxosRole.FOLLOWER; k++) this.get(id).tick();
    this.flush(id);
  }

  propose(id: NodeId, s: string): { slot: number; ballot: Ballot } {
    const r = this.get(id).propose(bytes(s));
    if (!r.ok) throw new Error(`propose at ${id}: ${r.error}`);
    this.flush(id);
    return r;
  }
}

function elect(net: Net, id: NodeId): void {
  net.campaign(id);
  net.deliver();
  expect(net.get(id).role).toBe(PaxosRole.LEADER);
}

describe('P1 — an acceptor never accepts a proposal below its promise (phase 1b / 2b)', () => {
  it('P1: an acceptor accepts no proposal with a ballot below its promise; it answers NACK with the ballot it promised', () => {
    const c2 = core(2);
    c2.step(msg(PREPARE, 3, 2, b(5, 3)));
    drain(c2);
    c2.step(accept(1, 2, b(4, 1), 1, val('old', b(4, 1))));
    const rd = drain(c2);
    expect(rd.records).toEqual([]);
    expect(sent(rd).map((m) => [m.type, m.to, m.ballot])).toEqual([[NACK, 1, b(5, 3)]]);
    expect(c2.slots.acceptedAt(1)).toBeUndefined();
  });

  it('phase 1b: a promise is saved before PROMISE leaves, and a lower PREPARE is refused', () => {
    const c2 = core(2);
    c2.step(msg(PREPARE, 3, 2, b(5, 3)));
    const rd = drain(c2);
    expect(rd.promised).toEqual(b(5, 3));
    expect(rd.messages).toEqual([]); // PROMISE waits for the persist step
    expect(rd.messagesAfterPersist.map((m) => [m.type, m.ballot])).toEqual([[PROMISE, b(5, 3)]]);
    c2.step(msg(PREPARE, 1, 2, b(5, 1)));
    const rd2 = drain(c2);
    expect(rd2.promised).toBeUndefined();
    expect(sent(rd2).map((m) => [m.type, m.ballot])).toEqual([[NACK, b(5, 3)]]);
  });

  it('phase 2b: an accepted value is recorded before ACCEPTED leaves', () => {
    const c2 = core(2);
    c2.step(accept(1, 2, b(1, 1), 1, val('x', b(1, 1))));
    const rd = drain(c2);
    expect(rd.records.map((r) => [r.kind, r.slot, text(r.value)])).toEqual([[RecordKind.ACCEPTED, 1, 'x']]);
    expect(rd.messages).toEqual([]);
    expect(rd.messagesAfterPersist.map((m) => [m.type, m.slot])).toEqual([[ACCEPTED, 1]]);
  });

  it('acceptors accept slots out of order and keep holes (unlike Raft), and report every accepted slot in a promise', () => {
    const c2 = core(2);
    c2.step(accept(1, 2, b(1, 1), 3, val('c', b(1, 1))));
    c2.step(accept(1, 2, b(1, 1), 1, val('a', b(1, 1))));
    expect(drain(c2).records.map((r) => r.slot)).toEqual([3, 1]);
    c2.step(msg(PREPARE, 3, 2, b(2, 3)));
    const promise = sent(drain(c2)).find((m) => m.type === PROMISE)!;
    expect(promise.values.map((v) => [v.slot, text(v.value), v.ballot])).toEqual([
      [1, 'a', b(1, 1)],
      [3, 'c', b(1, 1)],
    ]);
  });
});

describe('P2 — a chosen value survives every later ballot (phase 1 recovery)', () => {
  /**
   * Node 1 accepted a (slot 1) and c (slot 3) at ballot 1.1 before it crashed; node 2 accepted b
   * in slot 1 at ballot 2.2; node 3 is unreachable. Node 1 restarts and leads ballot 3.1 with
   * the promises of 1 and 2.
   */
  function recoveryScenario(): Net {
    const net = new Net();
    net.cores.delete(3);
    net.get(2).step(accept(3, 2, b(2, 2), 1, val('b', b(2, 2))));
    net.flush(2);
    net.queue = [];
    const rec = (slot: number, s: string) => ({
      kind: RecordKind.ACCEPTED,
      slot,
      ballot: b(1, 1),
      value: val(s, b(1, 1)),
      valueInAccepted: false,
    });
    net.add(core(1, { promised: b(2, 2), snapshotSlot: 0, records: [rec(1, 'a'), rec(3, 'c')] }));
    net.campaign(1);
    expect(net.get(1).ballot).toEqual(b(3, 1));
    net.deliver(undefined, (m) => m.type !== PREPARE && m.type !== PROMISE); // phase 1 only
    expect(net.get(1).role).toBe(PaxosRole.LEADER);
    return net;
  }

  const proposedBy1 = (net: Net) =>
    net.queue.filter((m) => m.type === ACCEPT && m.from === 1 && m.to === 2).map((m) => [m.slot, m.values[0]!.value]);

  it('a new leader re-proposes the highest-ballot value reported for each unchosen slot, keeping its origin', () => {
    const net = recoveryScenario();
    const slot1 = proposedBy1(net).find(([s]) => s === 1)![1] as PaxosValue;
    expect(text(slot1)).toBe('b'); // 2.2 beats 1.1
    expect(slot1.origin).toEqual(b(2, 2)); // still 2.2's proposal: its proposer answers its client
    expect(net.get(1).slots.acceptedAt(1)).toMatchObject({ ballot: b(3, 1) });
  });

  it('holes are filled with no-ops (slot 2: no promise reported anything)', () => {
    const net = recoveryScenario();
    expect(proposedBy1(net).map(([s, v]) => [s, text(v as PaxosValue)])).toEqual([
      [1, 'b'],
      [2, '<noop>'],
      [3, 'c'],
    ]);
    net.deliver();
    expect(net.applied.get(1)).toEqual(['b', '<noop>', 'c']);
  });

  it('P2: if a value is chosen in a slot, every higher-ballot proposal in that slot carries it', () => {
    const net = new Net();
    elect(net, 1);
    net.propose(1, 'x');
    net.deliver((m) => m.to === 3 || m.from === 3); // chosen by 1 and 2; 3 never hears of it
    expect(net.applied.get(1)).toEqual(['x']);
    // 1 is cut off; 3 takes over with a higher ballot through 2's promise.
    net.cores.delete(1);
    net.campaign(3);
    net.deliver(undefined, (m) => m.type === ACCEPT); // phase 1 only
    expect(net.get(3).role).toBe(PaxosRole.LEADER);
    const slot1 = net.queue.filter((m) => m.type === ACCEPT && m.slot === 1);
    expect(slot1.length).toBeGreaterThan(0);
    for (const m of slot1) expect(text(m.values[0]!.value)).toBe('x');
    net.deliver();
    expect(net.applied.get(3)).toEqual(['x']);
  });

  it('a new leader does not propose in slots a promiser reports chosen: it learns them', () => {
    const net = new Net();
    elect(net, 1);
    for (const s of ['p', 'q', 'r']) net.propose(1, s);
    net.deliver((m) => m.to === 3 || m.from === 3);
    net.tick(1, 2); // heartbeat: 2 learns the chosen prefix
    net.deliver((m) => m.to === 3 || m.from === 3);
    expect(net.get(2).status().chosen).toBe(3);
    net.cores.delete(1);
    net.campaign(3);
    net.deliver((m) => m.type === LEARN); // 3 leads without knowing slots 1–3
    expect(net.get(3).role).toBe(PaxosRole.LEADER);
    expect(net.get(3).status().chosen).toBe(0);
    expect(net.propose(3, 's').slot).toBe(4); // 1–3 are chosen (2 said so): not 3's to fill
    net.deliver((m) => m.type === LEARN);
    expect(net.applied.get(3)).toEqual([]); // 4 is chosen, but 1–3 are not known here yet
    net.tick(3, 2); // a heartbeat shows 2 that the leader is behind: 2 sends what it knows
    net.deliver();
    expect(net.applied.get(3)).toEqual(['p', 'q', 'r', 's']);
  });
});

describe('the distinguished proposer (Multi-Paxos)', () => {
  it('phase 1 runs once per leadership: later proposals need only phase 2', () => {
    const net = new Net();
    elect(net, 1);
    for (const s of ['a', 'b', 'c']) net.propose(1, s);
    expect(net.queue.map((m) => m.type).filter((t) => t === PREPARE)).toEqual([]);
    net.deliver();
    expect(net.applied.get(2)).toEqual([]); // not yet told the prefix is chosen
    net.get(1).tick();
    net.get(1).tick();
    net.flush(1);
    net.deliver();
    for (const id of MEMBERS) expect(net.applied.get(id)).toEqual(['a', 'b', 'c']);
  });

  it('a leader does not acknowledge a proposal before it is chosen, and counts its own acceptance only once durable', () => {
    const net = new Net();
    elect(net, 1);
    const c1 = net.get(1);
    c1.propose(bytes('x'));
    const rd = c1.ready(); // the host is writing the record…
    expect(rd.records.map((r) => r.kind)).toEqual([RecordKind.ACCEPTED]);
    c1.step(msg(ACCEPTED, 2, 1, c1.ballot, { slot: 1 })); // …when 2 accepts: one of two needed
    expect(c1.status().chosen).toBe(0);
    c1.advance(); // now its own acceptance is durable
    expect(c1.status().chosen).toBe(1);
    expect(drain(c1).chosen.map((e) => text(e.value))).toEqual(['x']);
  });

  it('without a quorum nothing is chosen: the leader alone never acknowledges', () => {
    const net = new Net();
    elect(net, 1);
    net.propose(1, 'x');
    net.deliver(() => true);
    for (let k = 0; k < 10; k++) net.get(1).tick();
    net.flush(1);
    expect(net.applied.get(1)).toEqual([]);
    expect(net.get(1).status().chosen).toBe(0);
  });

  it('learners apply in slot order even when slots are chosen out of order', () => {
    const c2 = core(2);
    const v = (s: string, slot: number) => ({ slot, ballot: b(1, 1), value: val(s, b(1, 1)) });
    c2.step(msg(LEARN, 1, 2, b(1, 1), { values: [v('two', 2), v('three', 3)] }));
    expect(drain(c2).chosen).toEqual([]);
    c2.step(msg(LEARN, 1, 2, b(1, 1), { values: [v('one', 1)] }));
    expect(drain(c2).chosen.map((e) => [e.slot, text(e.value)])).toEqual([
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ]);
  });

  it('the pipeline window bounds the unchosen slots a leader proposes (PROPOSAL_QUEUE_FULL beyond it)', () => {
    const net = new Net();
    elect(net, 1);
    for (let k = 0; k < PIPELINE_SLOTS_MAX; k++) net.propose(1, `v${k}`);
    const r = net.get(1).propose(bytes('one too many'));
    expect(r).toEqual({ ok: false, error: PaxosProposeError.PROPOSAL_QUEUE_FULL, leader: 1 });
    net.deliver();
    expect(net.get(1).propose(bytes('fits again')).ok).toBe(true);
  });
});

describe('leader failure detection and preemption', () => {
  it('a preempted leader steps down: a NACK with a higher ballot ends its leadership, and its next ballot is higher', () => {
    const net = new Net();
    elect(net, 1);
    const c1 = net.get(1);
    c1.step(msg(NACK, 2, 1, b(9, 3)));
    expect(c1.role).toBe(PaxosRole.FOLLOWER);
    expect(c1.propose(bytes('x'))).toMatchObject({ ok: false, error: PaxosProposeError.NOT_LEADER });
    net.flush(1);
    net.queue = [];
    net.campaign(1);
    expect(c1.ballot.round).toBeGreaterThan(9);
  });

  it('heartbeats keep followers from campaigning; when they stop, a follower takes over with a higher ballot', () => {
    const net = new Net();
    elect(net, 1);
    const round = net.get(1).ballot.round;
    for (let k = 0; k < 5 * ELECTION_TICKS; k++) {
      for (const id of MEMBERS) net.get(id).tick();
      for (const id of MEMBERS) net.flush(id);
      net.deliver();
    }
    expect(net.queue.filter((m) => m.type === PREPARE)).toEqual([]);
    expect(net.get(2).role).toBe(PaxosRole.FOLLOWER);
    expect(net.get(1).role).toBe(PaxosRole.LEADER);
    net.cores.delete(1); // the leader fails
    for (let k = 0; k < 2 * ELECTION_TICKS; k++) {
      net.get(2).tick();
      net.get(3).tick();
      net.flush(2);
      net.flush(3);
      net.deliver();
    }
    const leaders = [2, 3].filter((id) => net.get(id).role === PaxosRole.LEADER);
    expect(leaders).toHaveLength(1);
    expect(net.get(leaders[0]!).ballot.round).toBeGreaterThan(round);
  });

  it('a leader that hears from no quorum for an election timeout steps down (CheckQuorum); one that hears from a quorum stays', () => {
    const net = new Net();
    elect(net, 1);
    const leader = net.get(1);
    const run = (ticks: number, drop: (m: PaxosMessage) => boolean) => {
      for (let k = 0; k < ticks; k++) {
        leader.tick();
        net.flush(1);
        net.deliver(drop);
      }
    };
    // Replica 3 cut off: replica 2 and the leader are a quorum of 3.
    run(3 * ELECTION_TICKS, (m) => m.to === 3 || m.from === 3);
    expect(leader.role).toBe(PaxosRole.LEADER);
    // Cut off from both: within two election timeouts it steps down, and a proposal is refused.
    run(2 * ELECTION_TICKS, (m) => m.from === 1 || m.to === 1);
    expect(leader.role).toBe(PaxosRole.FOLLOWER);
    expect(leader.propose(bytes('x'))).toMatchObject({ ok: false, error: PaxosProposeError.NOT_LEADER });
  });

  it('a stale leader coming back is preempted by the NACKs of acceptors that promised a higher ballot', () => {
    const net = new Net();
    elect(net, 1);
    const old = net.get(1);
    net.cores.delete(1);
    net.campaign(2);
    net.deliver();
    expect(net.get(2).role).toBe(PaxosRole.LEADER);
    net.add(old);
    net.propose(1, 'stale');
    net.deliver((m) => m.type === PREPARE);
    expect(old.role).toBe(PaxosRole.FOLLOWER);
    expect(net.applied.get(2)).not.toContain('stale');
  });
});

describe('catch-up, snapshots and recovery', () => {
  it('catch-up: a replica that missed chosen slots gets them in bounded LEARN messages after a heartbeat', () => {
    const net = new Net();
    elect(net, 1);
    const values = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    for (const s of values) {
      net.propose(1, s);
      net.deliver((m) => m.to === 3);
    }
    expect(net.applied.get(3)).toEqual([]);
    for (let k = 0; k < 20 && net.applied.get(3)!.length < values.length; k++) {
      net.get(1).tick();
      net.flush(1);
      net.deliver((m) => m.type === LEARN && m.values.length > LEARN_SLOTS_MAX); // oversized LEARNs would fail here
    }
    expect(net.applied.get(3)).toEqual(values);
  });

  it('beyond what the leader retains, it asks its host to send a snapshot; installSnapshot resumes from the slot it covers', () => {
    const net = new Net();
    elect(net, 1);
    for (const s of ['a', 'b', 'c', 'd']) {
      net.propose(1, s);
      net.deliver((m) => m.to === 3);
    }
    net.get(1).compact(3);
    net.get(1).tick();
    net.get(1).tick();
    net.flush(1);
    net.deliver((m) => m.type === HEARTBEAT && m.to === 2);
    expect(net.snapshotRequests).toContainEqual({ from: 1, to: 3, slot: 3 });
    expect(net.get(3).installSnapshot(3)).toBe(true); // the host restored a, b, c from the snapshot
    expect(net.get(3).installSnapshot(2)).toBe(false);
    net.get(1).tick();
    net.get(1).tick();
    net.flush(1);
    net.deliver();
    expect(net.applied.get(3)).toEqual(['d']); // slot 4 only: 1–3 came in the snapshot
    expect(net.get(3).status()).toMatchObject({ chosen: 4, applied: 4, compacted: 3 });
  });

  it('a restarted acceptor recovers its promise and accepted values from what it persisted, and nothing else', () => {
    const c2 = core(2);
    c2.step(msg(PREPARE, 3, 2, b(4, 3)));
    c2.step(accept(3, 2, b(4, 3), 2, val('y', b(4, 3))));
    const rd = drain(c2);
    c2.step(msg(PREPARE, 1, 2, b(7, 1))); // promised, but never persisted (crash)
    const again = core(2, { promised: rd.promised!, snapshotSlot: 0, records: rd.records });
    expect(again.promised).toEqual(b(4, 3));
    again.step(msg(PREPARE, 1, 2, b(5, 1)));
    const promise = sent(drain(again)).find((m) => m.type === PROMISE)!;
    expect(promise.values.map((v) => [v.slot, text(v.value), v.ballot])).toEqual([[2, 'y', b(4, 3)]]);
  });

  it('a restarted learner re-applies its chosen values from its CHOSEN records, in slot order', () => {
    const net = new Net();
    elect(net, 1);
    net.propose(1, 'a');
    net.propose(1, 'b');
    net.deliver();
    const records = [] as PaxosReady['records'];
    let promised = b(0, 0);
    const fresh = core(2); // what 2 persists when it receives the leader's traffic
    for (const m of [
      accept(1, 2, net.get(1).ballot, 2, val('b', net.get(1).ballot)),
      accept(1, 2, net.get(1).ballot, 1, val('a', net.get(1).ballot), 2),
    ]) {
      fresh.step(m);
      const rd = drain(fresh);
      records.push(...rd.records);
      if (rd.promised) promised = rd.promised;
    }
    expect(records.filter((r) => r.kind === RecordKind.CHOSEN).map((r) => r.slot)).toEqual([1, 2]);
    const restarted = core(2, { promised, snapshotSlot: 0, records });
    expect(drain(restarted).chosen.map((e) => text(e.value))).toEqual(['a', 'b']);
  });
});

describe('departure 8 — a replica whose WAL lost acknowledged records recovers before it promises again', () => {
  const { RECOVER_QUERY, RECOVER_REPLY, HEARTBEAT_RESP } = PaxosMessageType;
  const lostTail = (id: NodeId, promised: Ballot, nonce: number, records: PaxosReady['records'] = []): PaxosCore =>
    core(id, { promised, snapshotSlot: 0, records, logTailLost: { recoveryNonce: nonce } });
  const reply = (from: NodeId, ballot: Ballot, highest: number, nonce: number): PaxosMessage =>
    msg(RECOVER_REPLY, from, 2, ballot, { index: highest, slot: nonce });

  /** 1 leads b(1,1); 'v' is chosen in slot 1 by 1 and 2 (3 never sees the ACCEPT); then 2 loses that acceptance and 1 goes away. */
  function chosenThenLost(recovering: boolean): { net: Net; one: PaxosCore } {
    const net = new Net();
    elect(net, 1);
    net.propose(1, 'v');
    net.deliver((m) => m.to === 3);
    expect(net.applied.get(1)).toEqual(['v']);
    const promised = net.get(2).promised;
    net.add(recovering ? lostTail(2, promised, 77) : core(2, { promised, snapshotSlot: 0, records: [] }));
    net.flush(2);
    const one = net.get(1);
    net.cores.delete(1); // cut off
    net.queue = [];
    return { net, one };
  }

  it('without the rule, the acceptor that forgot its acceptance promises with its damaged state and a chosen value is lost', () => {
    const { net } = chosenThenLost(false);
    net.campaign(3);
    net.deliver();
    expect(net.get(3).role).toBe(PaxosRole.LEADER); // quorum {3, 2}: 2 reported nothing in slot 1
    expect(net.propose(3, 'w').slot).toBe(1); // slot 1 looks free to the new leader
    net.deliver();
    expect(net.applied.get(3)).toEqual(['w']); // 'v' was chosen there: two values in one slot
    expect(net.applied.get(1)).toEqual(['v']);
  });

  it('with the rule, the recovering acceptor does not promise: the new leader needs one that remembers, and re-proposes the chosen value', () => {
    const { net, one } = chosenThenLost(true);
    net.campaign(3);
    net.deliver();
    expect(net.get(3).role).toBe(PaxosRole.CANDIDATE); // 2 ignored the PREPARE
    net.add(one); // 1 is back (it was only cut off): its promise reports 'v'
    net.tick(3, 2 * ELECTION_TICKS); // campaigns again, higher
    net.deliver();
    expect(net.get(3).role).toBe(PaxosRole.LEADER);
    expect(net.applied.get(3)).toEqual(['v']);
    // 2 asks, 3 answers its highest proposed slot (1), 2 learns slot 1 and leaves recovering.
    net.tick(2, ELECTION_TICKS);
    net.tick(3, ELECTION_TICKS);
    net.deliver();
    expect(net.get(2).recovering).toBe(false);
    expect(net.applied.get(2)).toEqual(['v']);
  });

  it('a recovering acceptor never promises nor campaigns; it accepts, learns and answers heartbeats', () => {
    const c2 = lostTail(2, b(2, 1), 5);
    const first = drain(c2);
    expect(first.messages.filter((m) => m.type === RECOVER_QUERY).map((m) => [m.to, m.slot])).toEqual([
      [1, 5],
      [3, 5],
    ]);
    c2.step(msg(PREPARE, 3, 2, b(1, 3))); // below its promise: a NACK (not a promise)
    expect(sent(drain(c2)).map((m) => [m.type, m.ballot])).toEqual([[NACK, b(2, 1)]]);
    c2.step(msg(PREPARE, 3, 2, b(3, 3))); // above: ignored, and not promised
    const ignored = drain(c2);
    expect(sent(ignored)).toEqual([]);
    expect(ignored.promised).toBeUndefined();
    let queries = 0;
    for (let k = 0; k < 10 * ELECTION_TICKS; k++) {
      c2.tick();
      const rd = drain(c2);
      expect(sent(rd).filter((m) => m.type === PREPARE)).toEqual([]);
      queries += rd.messages.filter((m) => m.type === RECOVER_QUERY).length;
    }
    expect(c2.role).toBe(PaxosRole.FOLLOWER);
    expect(queries).toBeGreaterThan(2); // asked again every heartbeat interval
    c2.step(accept(3, 2, b(3, 3), 1, val('w', b(3, 3))));
    const acc = drain(c2);
    expect(acc.promised).toEqual(b(3, 3)); // phase 2 raises the promise, durably, as usual
    expect(acc.records.map((r) => [r.kind, r.slot])).toEqual([[RecordKind.ACCEPTED, 1]]);
    expect(acc.messagesAfterPersist.map((m) => [m.type, m.slot])).toEqual([[ACCEPTED, 1]]);
    c2.step(msg(HEARTBEAT, 3, 2, b(3, 3), { index: 1 }));
    const hb = drain(c2);
    expect(hb.chosen.map((e) => text(e.value))).toEqual(['w']);
    expect(hb.messages.map((m) => [m.type, m.index])).toEqual([[HEARTBEAT_RESP, 1]]);
    c2.step(msg(LEARN, 3, 2, b(3, 3), { values: [{ slot: 2, ballot: b(3, 3), value: val('x', b(3, 3)) }] }));
    expect(drain(c2).chosen.map((e) => text(e.value))).toEqual(['x']);
    expect(c2.recovering).toBe(true); // no leader has answered its nonce yet
  });

  it('a stale RECOVER_REPLY (wrong nonce) or one below the promise at the loss does not end recovery; it ends once chosen ≥ H and the marker removal is durable', () => {
    const c2 = lostTail(2, b(2, 1), 5);
    drain(c2);
    c2.step(reply(3, b(3, 3), 0, 4)); // another life's nonce (delayed from before the loss)
    c2.step(reply(1, b(1, 1), 0, 5)); // a leader below the promise at the loss
    const stale = drain(c2);
    expect(stale.logTailRecovered).toBeUndefined();
    expect(c2.recovering).toBe(true);
    c2.step(reply(3, b(3, 3), 2, 5)); // H = 2, chosen prefix 0
    expect(drain(c2).logTailRecovered).toBeUndefined();
    c2.step(accept(3, 2, b(3, 3), 1, val('a', b(3, 3))));
    c2.step(accept(3, 2, b(3, 3), 2, val('b', b(3, 3)), 2)); // index 2: both chosen
    const learned = c2.ready();
    expect(learned.records.filter((r) => r.kind === RecordKind.CHOSEN).map((r) => r.slot)).toEqual([1, 2]);
    // Not in the Ready whose CHOSEN records are not durable yet.
    expect(learned.logTailRecovered).toBeUndefined();
    c2.advance();
    const done = c2.ready();
    expect(done.logTailRecovered).toBe(true);
    c2.step(msg(PREPARE, 3, 2, b(4, 3))); // the marker's removal is not durable yet: still no promise
    expect(c2.recovering).toBe(true);
    c2.advance();
    expect(sent(drain(c2)).filter((m) => m.type === PROMISE)).toEqual([]);
    expect(c2.recovering).toBe(false);
    c2.step(msg(PREPARE, 3, 2, b(5, 3)));
    const promise = sent(drain(c2)).find((m) => m.type === PROMISE)!;
    expect(promise.index).toBe(2); // its chosen prefix covers every slot where it may have lost an acceptance
  });

  it('the marker removal waits for the CHOSEN records that reach H to be durable, even when the reply comes after they were learned', () => {
    const c2 = lostTail(2, b(2, 1), 5);
    drain(c2);
    c2.step(accept(3, 2, b(3, 3), 1, val('a', b(3, 3)), 1)); // learned in memory, record not yet durable
    c2.step(reply(3, b(3, 3), 1, 5));
    const rd = c2.ready();
    expect(rd.records.some((r) => r.kind === RecordKind.CHOSEN && r.slot === 1)).toBe(true);
    expect(rd.logTailRecovered).toBeUndefined(); // a crash now would lose the CHOSEN record with the marker gone
    c2.advance();
    expect(drain(c2).logTailRecovered).toBe(true);
    expect(c2.recovering).toBe(false);
  });

  it('a restart while recovering finds the marker again and starts over with a new nonce', () => {
    const c2 = lostTail(2, b(2, 1), 5);
    drain(c2);
    const again = lostTail(2, b(2, 1), 6);
    const rd = drain(again);
    expect(rd.messages.filter((m) => m.type === RECOVER_QUERY).map((m) => m.slot)).toEqual([6, 6]);
    again.step(reply(3, b(3, 3), 0, 5)); // answers the previous life
    expect(drain(again).logTailRecovered).toBeUndefined();
    again.step(reply(3, b(3, 3), 0, 6));
    expect(drain(again).logTailRecovered).toBe(true);
    expect(again.recovering).toBe(false);
  });

  it('only a leader answers RECOVER_QUERY, with its ballot and highest proposed slot', () => {
    const net = new Net();
    net.get(3).step(msg(RECOVER_QUERY, 2, 3, b(0, 0), { slot: 9 }));
    expect(sent(drain(net.get(3)))).toEqual([]); // a follower does not answer
    elect(net, 1);
    net.propose(1, 'a');
    net.propose(1, 'b');
    net.get(1).step(msg(RECOVER_QUERY, 2, 1, b(0, 0), { slot: 9 }));
    const answer = sent(drain(net.get(1))).find((m) => m.type === RECOVER_REPLY)!;
    expect([answer.to, answer.ballot, answer.index, answer.slot]).toEqual([2, net.get(1).ballot, 2, 9]);
  });

  it('a single member does not wait: nobody holds what it lost', () => {
    const solo = new PaxosCore(
      paxosConfig(1, [1], () => 0),
      {
        promised: b(3, 1),
        snapshotSlot: 0,
        records: [],
        logTailLost: { recoveryNonce: 1 },
      },
    );
    expect(solo.recovering).toBe(false);
    expect(drain(solo).logTailRecovered).toBe(true);
    for (let k = 0; k < 2 * ELECTION_TICKS && solo.role !== PaxosRole.LEADER; k++) {
      solo.tick();
      drain(solo);
    }
    expect(solo.role).toBe(PaxosRole.LEADER);
  });
});
