// One replica cluster's status as an operator sees it: every member's role, term, commit and
// applied index over its client port (replicator/client/server.ts, op 'status'), with its lag
// behind the leader. Shared by `matchbook cluster status` (cli/operator-commands.ts) and the
// browser page's operator console (gateway/ui-cluster-view.ts, GET /v1/ui/cluster).

import type { MemberConfig } from '../cluster-config.js';
import type { TlsMaterial } from '../../ops/tls-settings.js';
import type { NodeStatus } from '../log.js';
import { requestOnce } from './client.js';

/** A member as the operator reaches it: its addresses and the cluster's client TLS (the cluster file's `tls`), if any. */
export type Member = MemberConfig & { tls?: TlsMaterial | undefined };

/** One status request to one member; an unreachable member is reported so, not waited for. */
export const STATUS_TIMEOUT_MS = 1_000;

export interface MemberStatusRow {
  member: number;
  endpoint: string;
  reachable: boolean;
  error?: string;
  role?: NodeStatus['role'];
  term?: number;
  leader?: number;
  commit?: number;
  applied?: number;
  /** commit - applied on this member. */
  lag?: number;
  /** The leader's commit - this member's applied (undefined without a reachable leader). */
  behindLeader?: number;
  snapshotIndex?: number;
  /** In the leader's membership (or this member's own view without a reachable leader). */
  membership?: 'voter' | 'learner' | 'none';
  /** The member's replicated-log protocol (a replica that does not report it runs Raft). */
  consensus?: 'raft' | 'multipaxos';
}

export async function statusOf(m: Member): Promise<{ ok: true; status: NodeStatus } | { ok: false; error: string }> {
  try {
    const r = await requestOnce(m.client, { op: 'status' }, STATUS_TIMEOUT_MS, m.tls);
    if (r.ok !== true) return { ok: false, error: String(r.message ?? r.error ?? 'error reply') };
    return { ok: true, status: r.status as NodeStatus };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

export async function clusterRows(members: Member[]): Promise<MemberStatusRow[]> {
  const replies = await Promise.all(members.map(statusOf));
  const leaderStatus = replies.find(
    (r): r is { ok: true; status: NodeStatus } => r.ok && r.status.role === 'LEADER',
  )?.status;
  return members.map((m, k) => {
    const r = replies[k]!;
    const endpoint = `${m.client.host}:${m.client.port}`;
    if (!r.ok) return { member: m.id, endpoint, reachable: false, error: r.error };
    const s = r.status;
    return {
      member: m.id,
      endpoint,
      reachable: true,
      role: s.role,
      term: s.term,
      leader: s.leader,
      commit: s.commit,
      applied: s.applied,
      lag: s.commit - s.applied,
      ...(leaderStatus !== undefined ? { behindLeader: Math.max(0, leaderStatus.commit - s.applied) } : {}),
      snapshotIndex: s.snapshotIndex,
      membership: membershipOf(m.id, (leaderStatus ?? s).conf),
      consensus: s.consensus ?? 'raft',
    };
  });
}

function membershipOf(id: number, conf: NodeStatus['conf'] | undefined): MemberStatusRow['membership'] {
  if (conf === undefined) return undefined;
  return conf.voters.includes(id) ? 'voter' : conf.learners.includes(id) ? 'learner' : 'none';
}
