// Consumer-group coordinator (Kafka's classic protocol: JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup), as a pure state machine: no sockets, no timers, no randomness of its own.
// Time comes in as `nowMs` on every call; member ids come from an injected generator.
// JoinGroup and SyncGroup may have to wait for other members, so the caller passes a
// token with each; every call returns the replies it completes (for any tokens, its own
// included when ready), and tick(nowMs) returns those completed by timeouts. The host maps
// tokens to pending requests. Group state lives in memory only (committed offsets are
// persisted separately, offsets.ts): after a broker restart members get UNKNOWN_MEMBER_ID
// and join again, as after a coordinator move in Kafka.
//
// States, per group:
//   Empty                — no members (committed offsets may exist).
//   PreparingRebalance   — waiting for every known member to (re)send JoinGroup; ends when all
//                          have, or at the rebalance deadline (the largest rebalance timeout of
//                          the members), when the members that did not rejoin are removed.
//   CompletingRebalance  — generation bumped, JoinGroup answered (the leader got every
//                          member's metadata); waiting for the leader's SyncGroup.
//   Stable               — assignments handed out; heartbeats keep members alive.
// A member joining or leaving, or a member's session expiring (no heartbeat, join, sync or
// commit within its session timeout), moves the group to PreparingRebalance.
//
// Simplifications against Kafka: no MEMBER_ID_REQUIRED round trip (a new member is admitted
// at once), static membership (group.instance.id) is accepted but treated as dynamic, no
// initial rebalance delay.

import { ErrorCode, assert } from './protocol.js';
import {
  GROUP_MEMBERS_MAX,
  GROUPS_MAX,
  GROUP_SESSION_TIMEOUT_MS_MIN,
  GROUP_SESSION_TIMEOUT_MS_MAX,
  GROUP_NAME_CHARS_MAX,
} from './limits.js';

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable';

export interface Protocol {
  name: string;
  metadata: Uint8Array;
}

export interface JoinRequest {
  groupId: string;
  memberId: string;
  clientId: string;
  sessionTimeoutMs: number;
  /** Equal to the session timeout for JoinGroup v0. */
  rebalanceTimeoutMs: number;
  protocolType: string;
  protocols: Protocol[];
}

export interface JoinResult {
  error: ErrorCode;
  generationId: number;
  protocolName: string;
  leaderId: string;
  memberId: string;
  /** Every member's metadata for the leader; empty for the others. */
  members: { memberId: string; metadata: Uint8Array }[];
}

export interface SyncRequest {
  groupId: string;
  memberId: string;
  generationId: number;
  /** Only the leader's is used. */
  assignments: { memberId: string; assignment: Uint8Array }[];
}

export interface SyncResult {
  error: ErrorCode;
  assignment: Uint8Array;
}

export type Reply =
  | { token: number; kind: 'join'; result: JoinResult }
  | { token: number; kind: 'sync'; result: SyncResult };

interface Member {
  id: string;
  clientId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocols: Protocol[];
  lastSeenMs: number;
  /** Token of its pending JoinGroup (PreparingRebalance), if any. */
  joinToken: number | undefined;
  /** Token of its pending SyncGroup (CompletingRebalance), if any. */
  syncToken: number | undefined;
  assignment: Uint8Array;
}

interface Group {
  id: string;
  state: GroupState;
  generationId: number;
  protocolType: string | undefined;
  protocolName: string;
  leaderId: string;
  /** Insertion order = join order. */
  members: Map<string, Member>;
  rebalanceDeadlineMs: number;
}

export interface GroupSummary {
  state: GroupState;
  generationId: number;
  leaderId: string;
  protocolName: string;
  members: string[];
}

const EMPTY = new Uint8Array(0);

function joinError(error: ErrorCode, memberId = ''): JoinResult {
  return { error, generationId: -1, protocolName: '', leaderId: '', memberId, members: [] };
}

function sameProtocols(a: readonly Protocol[], b: readonly Protocol[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => p.name === b[i]?.name && Buffer.compare(p.metadata, b[i]?.metadata ?? EMPTY) === 0)
  );
}

export class GroupCoordinator {
  private readonly groups = new Map<string, Group>();

  constructor(
    private readonly newMemberId: (clientId: string) => string,
    private readonly limits: { membersMax?: number; groupsMax?: number; sessionTimeoutMsMin?: number } = {},
  ) {}

  describe(groupId: string): GroupSummary | undefined {
    const g = this.groups.get(groupId);
    if (g === undefined) return undefined;
    return {
      state: g.state,
      generationId: g.generationId,
      leaderId: g.leaderId,
      protocolName: g.protocolName,
      members: [...g.members.keys()],
    };
  }

  join(token: number, req: JoinRequest, nowMs: number): Reply[] {
    const reply = (result: JoinResult): Reply[] => [{ token, kind: 'join', result }];
    if (req.groupId === '' || req.groupId.length > GROUP_NAME_CHARS_MAX)
      return reply(joinError(ErrorCode.INVALID_GROUP_ID));
    const minSession = this.limits.sessionTimeoutMsMin ?? GROUP_SESSION_TIMEOUT_MS_MIN;
    if (req.sessionTimeoutMs < minSession || req.sessionTimeoutMs > GROUP_SESSION_TIMEOUT_MS_MAX)
      return reply(joinError(ErrorCode.INVALID_SESSION_TIMEOUT, req.memberId));
    if (req.protocolType === '' || req.protocols.length === 0)
      return reply(joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, req.memberId));
    let g = this.groups.get(req.groupId);
    if (g === undefined) {
      if (req.memberId !== '') return reply(joinError(ErrorCode.UNKNOWN_MEMBER_ID, req.memberId));
      if (this.groups.size >= (this.limits.groupsMax ?? GROUPS_MAX))
        return reply(joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE));
      g = {
        id: req.groupId,
        state: 'Empty',
        generationId: 0,
        protocolType: undefined,
        protocolName: '',
        leaderId: '',
        members: new Map(),
        rebalanceDeadlineMs: 0,
      };
      this.groups.set(g.id, g);
    }
    // A member must share the group's protocol type, and some protocol with all the others.
    if (g.members.size > 0) {
      if (req.protocolType !== g.protocolType)
        return reply(joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, req.memberId));
      let common = new Set(req.protocols.map((p) => p.name));
      for (const m of g.members.values()) {
        if (m.id === req.memberId) continue;
        common = new Set(m.protocols.filter((p) => common.has(p.name)).map((p) => p.name));
      }
      if (common.size === 0) return reply(joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, req.memberId));
    }

    if (req.memberId === '') {
      if (g.members.size >= (this.limits.membersMax ?? GROUP_MEMBERS_MAX))
        return reply(joinError(ErrorCode.GROUP_MAX_SIZE_REACHED));
      const id = this.newMemberId(req.clientId);
      assert(!g.members.has(id), `member id ${id} issued twice`);
      g.protocolType ??= req.protocolType;
      g.members.set(id, {
        id,
        clientId: req.clientId,
        sessionTimeoutMs: req.sessionTimeoutMs,
        rebalanceTimeoutMs: req.rebalanceTimeoutMs,
        protocols: req.protocols,
        lastSeenMs: nowMs,
        joinToken: token,
        syncToken: undefined,
        assignment: EMPTY,
      });
      return this.startOrContinueRebalance(g, nowMs);
    }

    const m = g.members.get(req.memberId);
    if (m === undefined) return reply(joinError(ErrorCode.UNKNOWN_MEMBER_ID, req.memberId));
    m.lastSeenMs = nowMs;
    m.sessionTimeoutMs = req.sessionTimeoutMs;
    m.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    const unchanged = sameProtocols(m.protocols, req.protocols);
    if (unchanged && (g.state === 'CompletingRebalance' || (g.state === 'Stable' && m.id !== g.leaderId))) {
      // A retried or redundant join: answer with the current generation, no rebalance.
      return reply(this.joinResultFor(g, m.id));
    }
    const out: Reply[] = [];
    if (m.joinToken !== undefined)
      out.push({ token: m.joinToken, kind: 'join', result: joinError(ErrorCode.UNKNOWN_MEMBER_ID, m.id) });
    m.protocols = req.protocols;
    m.joinToken = token;
    out.push(...this.startOrContinueRebalance(g, nowMs));
    return out;
  }

  sync(token: number, req: SyncRequest, nowMs: number): Reply[] {
    const reply = (error: ErrorCode, assignment: Uint8Array = EMPTY): Reply[] => [
      { token, kind: 'sync', result: { error, assignment } },
    ];
    const g = this.groups.get(req.groupId);
    const m = g?.members.get(req.memberId);
    if (g === undefined || m === undefined) return reply(ErrorCode.UNKNOWN_MEMBER_ID);
    if (req.generationId !== g.generationId) return reply(ErrorCode.ILLEGAL_GENERATION);
    m.lastSeenMs = nowMs;
    if (g.state === 'PreparingRebalance') return reply(ErrorCode.REBALANCE_IN_PROGRESS);
    if (g.state === 'Stable') return reply(ErrorCode.NONE, m.assignment);
    assert(g.state === 'CompletingRebalance', `sync in state ${g.state}`);
    const out: Reply[] = [];
    if (m.syncToken !== undefined)
      out.push({
        token: m.syncToken,
        kind: 'sync',
        result: { error: ErrorCode.REBALANCE_IN_PROGRESS, assignment: EMPTY },
      });
    m.syncToken = token;
    if (m.id === g.leaderId) {
      const given = new Map(req.assignments.map((a) => [a.memberId, a.assignment]));
      g.state = 'Stable';
      for (const member of g.members.values()) {
        member.assignment = given.get(member.id) ?? EMPTY;
        if (member.syncToken !== undefined) {
          out.push({
            token: member.syncToken,
            kind: 'sync',
            result: { error: ErrorCode.NONE, assignment: member.assignment },
          });
          member.syncToken = undefined;
        }
      }
    }
    return out;
  }

  heartbeat(groupId: string, memberId: string, generationId: number, nowMs: number): ErrorCode {
    const g = this.groups.get(groupId);
    const m = g?.members.get(memberId);
    if (g === undefined || m === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION;
    m.lastSeenMs = nowMs;
    return g.state === 'PreparingRebalance' ? ErrorCode.REBALANCE_IN_PROGRESS : ErrorCode.NONE;
  }

  /** Removes members at their request. Returns an error per member id, and completed replies. */
  leave(groupId: string, memberIds: readonly string[], nowMs: number): { errors: ErrorCode[]; replies: Reply[] } {
    const g = this.groups.get(groupId);
    const errors: ErrorCode[] = [];
    const replies: Reply[] = [];
    for (const id of memberIds) {
      const m = g?.members.get(id);
      if (g === undefined || m === undefined) {
        errors.push(ErrorCode.UNKNOWN_MEMBER_ID);
        continue;
      }
      errors.push(ErrorCode.NONE);
      replies.push(...this.removeMember(g, m, nowMs));
    }
    return { errors, replies };
  }

  /**
   * Whether an OffsetCommit may be accepted. generationId -1 with an empty member id is a
   * commit from outside the group protocol, allowed only while the group has no members.
   */
  checkCommit(groupId: string, memberId: string, generationId: number, nowMs: number): ErrorCode {
    if (groupId === '' || groupId.length > GROUP_NAME_CHARS_MAX) return ErrorCode.INVALID_GROUP_ID;
    const g = this.groups.get(groupId);
    if (generationId < 0 && memberId === '') {
      return g === undefined || g.members.size === 0 ? ErrorCode.NONE : ErrorCode.ILLEGAL_GENERATION;
    }
    const m = g?.members.get(memberId);
    if (g === undefined || m === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION;
    m.lastSeenMs = nowMs;
    // While preparing a rebalance the generation is still the old one, and a member commits
    // what it processed before rejoining (Kafka accepts it): only the window between join and
    // sync, when assignments are in flux, refuses commits.
    if (g.state === 'CompletingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS;
    return ErrorCode.NONE;
  }

  /** Expires sessions and rebalance deadlines. */
  tick(nowMs: number): Reply[] {
    const out: Reply[] = [];
    for (const g of [...this.groups.values()]) {
      for (const m of [...g.members.values()]) {
        // A member waiting in JoinGroup is bounded by the rebalance deadline instead.
        if (m.joinToken === undefined && nowMs - m.lastSeenMs > m.sessionTimeoutMs)
          out.push(...this.removeMember(g, m, nowMs));
      }
      if (g.state === 'PreparingRebalance' && nowMs >= g.rebalanceDeadlineMs) {
        for (const m of [...g.members.values()]) if (m.joinToken === undefined) g.members.delete(m.id);
        out.push(...this.completeJoin(g));
      }
      // An empty group holds nothing worth keeping (offsets live in offsets.ts); dropping it bounds memory.
      if (g.state === 'Empty') this.groups.delete(g.id);
    }
    return out;
  }

  /** Earliest time at which tick() could change something, for the host's timer. */
  nextDeadlineMs(): number | undefined {
    let next: number | undefined;
    const at = (t: number) => {
      if (next === undefined || t < next) next = t;
    };
    for (const g of this.groups.values()) {
      if (g.state === 'PreparingRebalance') at(g.rebalanceDeadlineMs);
      for (const m of g.members.values()) if (m.joinToken === undefined) at(m.lastSeenMs + m.sessionTimeoutMs + 1);
    }
    return next;
  }

  private removeMember(g: Group, m: Member, nowMs: number): Reply[] {
    const out: Reply[] = [];
    if (m.joinToken !== undefined)
      out.push({ token: m.joinToken, kind: 'join', result: joinError(ErrorCode.UNKNOWN_MEMBER_ID, m.id) });
    if (m.syncToken !== undefined)
      out.push({ token: m.syncToken, kind: 'sync', result: { error: ErrorCode.UNKNOWN_MEMBER_ID, assignment: EMPTY } });
    g.members.delete(m.id);
    if (g.state === 'Empty') return out;
    out.push(...this.startOrContinueRebalance(g, nowMs));
    return out;
  }

  /** Enters PreparingRebalance (if not already) and completes the join if nobody is missing. */
  private startOrContinueRebalance(g: Group, nowMs: number): Reply[] {
    const out: Reply[] = [];
    if (g.state !== 'PreparingRebalance') {
      // Pending syncs of the previous generation can never succeed now.
      for (const m of g.members.values()) {
        if (m.syncToken !== undefined) {
          out.push({
            token: m.syncToken,
            kind: 'sync',
            result: { error: ErrorCode.REBALANCE_IN_PROGRESS, assignment: EMPTY },
          });
          m.syncToken = undefined;
        }
      }
      g.state = 'PreparingRebalance';
      let timeout = 0;
      for (const m of g.members.values()) timeout = Math.max(timeout, m.rebalanceTimeoutMs);
      g.rebalanceDeadlineMs = nowMs + timeout;
    }
    let allJoined = true;
    for (const m of g.members.values()) if (m.joinToken === undefined) allJoined = false;
    if (allJoined) out.push(...this.completeJoin(g));
    return out;
  }

  /** Bumps the generation, picks protocol and leader, answers every pending JoinGroup. */
  private completeJoin(g: Group): Reply[] {
    assert(g.state === 'PreparingRebalance', `completeJoin in state ${g.state}`);
    g.generationId++;
    if (g.members.size === 0) {
      g.state = 'Empty';
      g.protocolType = undefined;
      g.protocolName = '';
      g.leaderId = '';
      return [];
    }
    g.state = 'CompletingRebalance';
    g.protocolName = this.selectProtocol(g);
    if (!g.members.has(g.leaderId)) g.leaderId = g.members.keys().next().value as string;
    const out: Reply[] = [];
    for (const m of g.members.values()) {
      assert(m.joinToken !== undefined, `member ${m.id} has no pending join at completion`);
      out.push({ token: m.joinToken, kind: 'join', result: this.joinResultFor(g, m.id) });
      m.joinToken = undefined;
      m.assignment = EMPTY;
    }
    return out;
  }

  private joinResultFor(g: Group, memberId: string): JoinResult {
    const members =
      memberId === g.leaderId
        ? [...g.members.values()].map((m) => ({
            memberId: m.id,
            metadata: m.protocols.find((p) => p.name === g.protocolName)?.metadata ?? EMPTY,
          }))
        : [];
    return {
      error: ErrorCode.NONE,
      generationId: g.generationId,
      protocolName: g.protocolName,
      leaderId: g.leaderId,
      memberId,
      members,
    };
  }

  /** Kafka's rule: among protocols every member supports, the one most members list first-best. */
  private selectProtocol(g: Group): string {
    const all = [...g.members.values()];
    const first = all[0] as Member;
    const candidates = first.protocols
      .map((p) => p.name)
      .filter((name) => all.every((m) => m.protocols.some((p) => p.name === name)));
    assert(candidates.length > 0, `group ${g.id}: no common protocol (checked at join)`);
    const votes = new Map<string, number>();
    for (const m of all) {
      const pick = m.protocols.find((p) => candidates.includes(p.name));
      if (pick !== undefined) votes.set(pick.name, (votes.get(pick.name) ?? 0) + 1);
    }
    let best = candidates[0] as string;
    for (const name of candidates) if ((votes.get(name) ?? 0) > (votes.get(best) ?? 0)) best = name;
    return best;
  }
}
