// The group coordinator as a pure state machine: driven by hand with a fake clock and
// deterministic member ids; every transition is checked through its replies and describe().

import { describe, expect, it } from 'vitest';
import {
  GroupCoordinator,
  type JoinRequest,
  type JoinResult,
  type Reply,
  type SyncResult,
} from '../../../events/broker/groups.js';
import { ErrorCode } from '../../../events/broker/protocol.js';

const meta = (s: string) => Buffer.from(s);

function coordinator() {
  let n = 0;
  return new GroupCoordinator((clientId) => `${clientId}-${++n}`);
}

function joinReq(memberId: string, over: Partial<JoinRequest> = {}): JoinRequest {
  return {
    groupId: 'g',
    memberId,
    clientId: 'c',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: 'consumer',
    protocols: [{ name: 'roundrobin', metadata: meta(`meta-${memberId}`) }],
    ...over,
  };
}

function joinOf(replies: Reply[], token: number): JoinResult | undefined {
  const r = replies.find((x) => x.token === token);
  return r?.kind === 'join' ? r.result : undefined;
}

function syncOf(replies: Reply[], token: number): SyncResult | undefined {
  const r = replies.find((x) => x.token === token);
  return r?.kind === 'sync' ? r.result : undefined;
}

/** One member joins and syncs: generation 1, Stable. */
function stableWithOne(gc: GroupCoordinator, now = 0): string {
  const j = joinOf(gc.join(1, joinReq(''), now), 1);
  expect(j).toMatchObject({ error: ErrorCode.NONE, generationId: 1, protocolName: 'roundrobin' });
  const id = (j as JoinResult).memberId;
  expect(j?.leaderId).toBe(id);
  expect(j?.members.map((m) => m.memberId)).toEqual([id]);
  expect(gc.describe('g')?.state).toBe('CompletingRebalance');
  const s = syncOf(
    gc.sync(
      2,
      { groupId: 'g', memberId: id, generationId: 1, assignments: [{ memberId: id, assignment: meta('all') }] },
      now,
    ),
    2,
  );
  expect(s).toEqual({ error: ErrorCode.NONE, assignment: meta('all') });
  expect(gc.describe('g')?.state).toBe('Stable');
  return id;
}

describe('group coordinator', () => {
  it('a lone member: join → CompletingRebalance (generation 1, leader) → sync → Stable; heartbeats succeed', () => {
    const gc = coordinator();
    const id = stableWithOne(gc);
    expect(gc.heartbeat('g', id, 1, 100)).toBe(ErrorCode.NONE);
    expect(gc.heartbeat('g', id, 0, 100)).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect(gc.heartbeat('g', 'nobody', 1, 100)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(gc.checkCommit('g', id, 1, 100)).toBe(ErrorCode.NONE);
    expect(gc.checkCommit('g', id, 2, 100)).toBe(ErrorCode.ILLEGAL_GENERATION);
  });

  it('a second member triggers a rebalance; it completes when the first rejoins; the leader assigns both', () => {
    const gc = coordinator();
    const a = stableWithOne(gc);
    // B joins: the group waits for A, so B's join is pending (no reply for token 10).
    const r1 = gc.join(10, joinReq(''), 1_000);
    expect(joinOf(r1, 10)).toBeUndefined();
    expect(gc.describe('g')?.state).toBe('PreparingRebalance');
    // A learns about it from its heartbeat; its commits of generation 1 are still accepted.
    expect(gc.heartbeat('g', a, 1, 1_100)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    expect(gc.checkCommit('g', a, 1, 1_100)).toBe(ErrorCode.NONE);
    // A rejoins: both joins are answered, generation 2; only the leader (A) gets the member list.
    const r2 = gc.join(11, joinReq(a), 1_200);
    const ja = joinOf(r2, 11);
    const jb = joinOf(r2, 10);
    expect(ja).toMatchObject({ error: ErrorCode.NONE, generationId: 2, leaderId: a, memberId: a });
    const b = (jb as JoinResult).memberId;
    expect(jb).toMatchObject({ error: ErrorCode.NONE, generationId: 2, leaderId: a, members: [] });
    expect(ja?.members.map((m) => m.memberId).sort()).toEqual([a, b].sort());
    expect(gc.checkCommit('g', a, 2, 1_200)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    // B's sync waits for the leader's; the leader's sync answers both.
    expect(
      syncOf(gc.sync(12, { groupId: 'g', memberId: b, generationId: 2, assignments: [] }, 1_300), 12),
    ).toBeUndefined();
    const r3 = gc.sync(
      13,
      {
        groupId: 'g',
        memberId: a,
        generationId: 2,
        assignments: [
          { memberId: a, assignment: meta('p0') },
          { memberId: b, assignment: meta('p1') },
        ],
      },
      1_300,
    );
    expect(syncOf(r3, 13)).toEqual({ error: ErrorCode.NONE, assignment: meta('p0') });
    expect(syncOf(r3, 12)).toEqual({ error: ErrorCode.NONE, assignment: meta('p1') });
    expect(gc.describe('g')).toMatchObject({ state: 'Stable', generationId: 2 });
    // An old-generation sync is refused.
    expect(syncOf(gc.sync(14, { groupId: 'g', memberId: b, generationId: 1, assignments: [] }, 1_400), 14)?.error).toBe(
      ErrorCode.ILLEGAL_GENERATION,
    );
  });

  it('a member leaving moves the group to PreparingRebalance; the survivor rejoins alone and leads', () => {
    const gc = coordinator();
    const a = stableWithOne(gc);
    const r = gc.join(10, joinReq(''), 0);
    const ja = joinOf(gc.join(11, joinReq(a), 0), 11) as JoinResult;
    const b = ja.members.map((m) => m.memberId).find((id) => id !== a) as string;
    void r;
    gc.sync(12, { groupId: 'g', memberId: a, generationId: 2, assignments: [] }, 0);
    expect(gc.describe('g')?.state).toBe('Stable');
    const left = gc.leave('g', [a, 'ghost'], 10);
    expect(left.errors).toEqual([ErrorCode.NONE, ErrorCode.UNKNOWN_MEMBER_ID]);
    expect(gc.describe('g')).toMatchObject({ state: 'PreparingRebalance', members: [b] });
    const jb = joinOf(gc.join(13, joinReq(b), 20), 13);
    expect(jb).toMatchObject({ error: ErrorCode.NONE, generationId: 3, leaderId: b });
    expect(jb?.members.map((m) => m.memberId)).toEqual([b]);
    // The last member leaving empties the group (and tick forgets it).
    gc.leave('g', [b], 30);
    expect(gc.describe('g')?.state).toBe('Empty');
    gc.tick(40);
    expect(gc.describe('g')).toBeUndefined();
  });

  it('a member whose session expires is removed and the others rebalance without it', () => {
    const gc = coordinator();
    const a = stableWithOne(gc, 0);
    gc.join(10, joinReq(''), 0);
    const j = joinOf(gc.join(11, joinReq(a), 0), 11) as JoinResult;
    const b = j.members.map((m) => m.memberId).find((id) => id !== a) as string;
    gc.sync(12, { groupId: 'g', memberId: a, generationId: 2, assignments: [] }, 0);
    gc.sync(13, { groupId: 'g', memberId: b, generationId: 2, assignments: [] }, 0);
    // A keeps heartbeating, B goes silent past its 10 s session timeout.
    for (let t = 2_000; t <= 10_000; t += 2_000) expect(gc.heartbeat('g', a, 2, t)).toBe(ErrorCode.NONE);
    expect(gc.tick(10_000)).toEqual([]);
    expect(gc.describe('g')?.members).toHaveLength(2);
    gc.tick(10_001);
    expect(gc.describe('g')).toMatchObject({ state: 'PreparingRebalance', members: [a] });
    expect(gc.heartbeat('g', b, 2, 10_002)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect(joinOf(gc.join(14, joinReq(a), 10_100), 14)).toMatchObject({ generationId: 3, members: [{ memberId: a }] });
  });

  it('at the rebalance deadline, members that did not rejoin are dropped and the join completes', () => {
    const gc = coordinator();
    const a = stableWithOne(gc, 0);
    gc.heartbeat('g', a, 1, 0);
    expect(joinOf(gc.join(10, joinReq('', { rebalanceTimeoutMs: 5_000 }), 1_000), 10)).toBeUndefined();
    // A heartbeats (so its session stays alive) but never rejoins; deadline = 1 000 + 30 000 (A's rebalance timeout).
    for (let t = 2_000; t < 31_000; t += 2_000) gc.heartbeat('g', a, 1, t);
    expect(gc.tick(30_999)).toEqual([]);
    const done = gc.tick(31_000);
    const jb = joinOf(done, 10);
    expect(jb).toMatchObject({ error: ErrorCode.NONE, generationId: 2 });
    expect(jb?.leaderId).toBe(jb?.memberId);
    expect(gc.heartbeat('g', a, 1, 31_001)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('refuses bad joins: empty group id, session timeout out of bounds, unknown member, no common protocol, wrong protocol type', () => {
    const gc = coordinator();
    expect(joinOf(gc.join(1, joinReq('', { groupId: '' }), 0), 1)?.error).toBe(ErrorCode.INVALID_GROUP_ID);
    expect(joinOf(gc.join(2, joinReq('', { sessionTimeoutMs: 10 }), 0), 2)?.error).toBe(
      ErrorCode.INVALID_SESSION_TIMEOUT,
    );
    expect(joinOf(gc.join(3, joinReq('who'), 0), 3)?.error).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    stableWithOne(gc);
    expect(joinOf(gc.join(4, joinReq('', { protocols: [{ name: 'range', metadata: meta('') }] }), 0), 4)?.error).toBe(
      ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
    );
    expect(joinOf(gc.join(5, joinReq('', { protocolType: 'connect' }), 0), 5)?.error).toBe(
      ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
    );
    expect(gc.describe('g')?.state).toBe('Stable');
  });

  it('picks the protocol most members prefer among those all support', () => {
    const gc = coordinator();
    const p = (...names: string[]) => names.map((name) => ({ name, metadata: meta(name) }));
    gc.join(1, joinReq('', { protocols: p('range', 'roundrobin') }), 0);
    const a = gc.describe('g')?.members[0] as string;
    gc.sync(2, { groupId: 'g', memberId: a, generationId: 1, assignments: [] }, 0);
    gc.join(3, joinReq('', { protocols: p('roundrobin', 'range') }), 0);
    gc.join(4, joinReq('', { protocols: p('roundrobin') }), 0);
    const r = gc.join(5, joinReq(a, { protocols: p('range', 'roundrobin') }), 0);
    expect(joinOf(r, 5)).toMatchObject({ generationId: 2, protocolName: 'roundrobin' });
    expect(joinOf(r, 5)?.members.every((m) => Buffer.from(m.metadata).toString() === 'roundrobin')).toBe(true);
  });

  it('commits from outside the group protocol are accepted only while the group has no members', () => {
    const gc = coordinator();
    expect(gc.checkCommit('solo', '', -1, 0)).toBe(ErrorCode.NONE);
    stableWithOne(gc);
    expect(gc.checkCommit('g', '', -1, 0)).toBe(ErrorCode.ILLEGAL_GENERATION);
  });
});
