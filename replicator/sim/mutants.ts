// Planted bugs: each one a small edit of the production source that reintroduces a bug the
// simulator must catch (the seven of the replication-safety audit and earlier ones). They prove
// that the simulator can fail — a simulator that passes every mutant checks nothing. The
// production code carries no trace of them: `npm run sim -- --mutant NAME` copies the sources
// into .sim-mutants/NAME/, applies the edit there (it must match exactly once) and runs the
// simulator from that copy.

import fs from 'node:fs';
import path from 'node:path';

export interface Mutant {
  name: string;
  /** The bug it plants, in a line. */
  bug: string;
  /** Source file, relative to the repository root. */
  file: string;
  find: string;
  replace: string;
  /** The profile that catches it soonest (what --check-mutants runs unless --profile is given). */
  profile: string;
  /** The protocol it plants a bug in (default raft): what --check-mutants and --mutant run it on. */
  consensus?: 'raft' | 'multipaxos';
}

export const MUTANTS: readonly Mutant[] = [
  {
    name: 'commit-ahead-of-log',
    bug: 'the hard state saved before a Ready carries the in-memory commit index, which may name entries this Ready is about to overwrite (audit #1)',
    file: 'replicator/raft/raft-core.ts',
    find: 'return { term: this.term, vote: this.vote, commit: Math.min(this.log.committed, this.log.stable) };',
    replace: 'return { term: this.term, vote: this.vote, commit: this.log.committed };',
    profile: 'mixed',
  },
  {
    name: 'membership-reverts-on-restart',
    bug: "a restarted replica takes its snapshot's configuration and ignores the membership changes in its log (audit #2)",
    file: 'replicator/raft/raft-core.ts',
    find: 'for (const e of this.log.entries)\n      if (e.type === EntryType.CONF_CHANGE) this.confLog.appended(e.index, decodeConfChange(e.data));',
    replace: '',
    profile: 'membership',
  },
  {
    name: 'tail-lost-cleared-by-any-append',
    bug: 'a replica that lost acknowledged entries stops waiting at the first APPEND it accepts, however stale (audit #3)',
    file: 'replicator/raft/raft-core.ts',
    find: 'const reached = lost.mustReach !== undefined && last >= lost.mustReach;',
    replace: 'const reached = true;',
    profile: 'lost WAL tails',
  },
  {
    name: 'tail-lost-votes-with-its-log',
    bug: 'a replica that lost acknowledged entries judges candidates by the shorter log it has left',
    file: 'replicator/raft/raft-core.ts',
    find: 'if (canVote && this.log.isUpToDate(m.index, m.logTerm) && this.upToDateWithLostTail(m.index, m.logTerm)) {',
    replace: 'if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {',
    profile: 'lost WAL tails',
  },
  {
    name: 'torn-write-is-lost-tail',
    bug: 'recovery treats every cut tail, a torn never-synced write too, as lost acknowledged data: a power cut on every host leaves no replica that may campaign (audit #4)',
    file: 'replicator/wal/wal.ts',
    find: 'const lost = synced !== undefined ? end < synced : damaged !== undefined || end < commitSaved;',
    replace: 'const lost = damaged !== undefined || (synced !== undefined ? end < synced : end < commitSaved);',
    profile: 'power cuts',
  },
  {
    name: 'evicted-session-reapplies',
    bug: "an evicted session's request 1 is taken for a new session and applied again (audit #5)",
    file: 'shard/state-machine.ts',
    find: 'return this.refused(\n        clientId <= this.sessionsAllocated ? ApplyOutcome.SESSION_EXPIRED : ApplyOutcome.UNKNOWN_SESSION,\n        clientId,\n        requestSeq,\n        from,\n      );',
    replace:
      'if (requestSeq !== 1) return this.refused(ApplyOutcome.SEQUENCE_GAP, clientId, requestSeq, from); this.sessions.set(clientId, { lastRequestSeq: 0, lastAppliedIndex: 0, lastSeq: 0 }); return this.applyCommand(index, clientId, requestSeq, tsUs, data, offset, length);',
    profile: 'sessions',
  },
  {
    name: 'removed-voter-still-counted',
    bug: 'removing a voter never takes effect in the configurations: a leader that removed itself and stopped is still counted by the others (audit #6)',
    file: 'replicator/raft/membership.ts',
    find: 'const voters = conf.voters.filter((v) => v !== cc.node);',
    replace:
      'const voters = cc.type === ConfChangeType.REMOVE ? [...conf.voters] : conf.voters.filter((v) => v !== cc.node);',
    profile: 'membership',
  },
  {
    name: 'messages-before-term-saved',
    bug: "a Ready's messages leave before its new term and vote are saved: a single voter's first APPENDs to its learners (audit #7)",
    file: 'replicator/node.ts',
    find: 'if (rd.hardState !== undefined) this.maybeSaveHardState(rd.hardState);\n    // 2. Messages that do not depend on this Ready being durable.\n    if (rd.messages.length > 0) this.opts.send(rd.messages);',
    replace:
      'if (rd.messages.length > 0) this.opts.send(rd.messages);\n    if (rd.hardState !== undefined) this.maybeSaveHardState(rd.hardState);',
    profile: 'mixed',
  },
  {
    name: 'commit-past-matched-prefix',
    bug: "a follower takes the leader's commit index past the prefix the APPEND matched, over a stale suffix",
    file: 'replicator/raft/raft-core.ts',
    find: 'this.log.commitTo(Math.min(m.commit, lastNew));',
    replace: 'this.log.commitTo(Math.min(m.commit, this.log.lastIndex));',
    profile: 'mixed',
  },
  {
    name: 'ack-before-fsync',
    bug: "acknowledgements and votes leave before the Ready's entries are fsynced",
    file: 'replicator/node.ts',
    find: '    this.wal.syncThen((err) =>',
    replace:
      '    if (rd.messagesAfterPersist.length > 0) this.opts.send(rd.messagesAfterPersist.splice(0));\n    this.wal.syncThen((err) =>',
    profile: 'no faults',
  },

  {
    name: 'vote-not-saved',
    bug: 'a vote cast in a term whose number was already saved is not saved',
    file: 'replicator/node.ts',
    find: 'if (saved !== undefined && saved.term === hs.term && saved.vote === hs.vote) return;',
    replace: 'if (saved !== undefined && saved.term === hs.term) return;',
    profile: 'partitions',
  },
  {
    name: 'resent-last-request-reapplied',
    bug: "a resent copy of a session's last request is applied again",
    file: 'shard/state-machine.ts',
    find: 'if (requestSeq <= last) {',
    replace: 'if (requestSeq < last) {',
    profile: 'partitions',
  },

  // ---- Multi-Paxos (PaxosNode, replicator/paxos/): run with --consensus multipaxos ----
  {
    name: 'paxos-accepted-before-durable',
    bug: "ACCEPTED and PROMISE leave with the Ready's other messages, before its records are fdatasynced",
    file: 'replicator/paxos/paxos-node.ts',
    find: "if (rd.messages.length > 0) this.opts.send(rd.messages.map((message) => ({ kind: 'message', message })));",
    replace:
      "const early = [...rd.messages, ...rd.messagesAfterPersist.splice(0)];\n    if (early.length > 0) this.opts.send(early.map((message) => ({ kind: 'message', message })));",
    profile: 'no faults',
    consensus: 'multipaxos',
  },
  {
    name: 'paxos-accept-below-promise',
    bug: 'an acceptor accepts an ACCEPT of a ballot below its promise (P1 broken)',
    file: 'replicator/paxos/paxos-core.ts',
    find: 'if (c < 0) {\n      this.msgs.push(message(NACK, this.id, m.from, this.promised, this.slots.chosen));\n      return false;',
    replace:
      'if (c < 0 && m.type !== ACCEPT) {\n      this.msgs.push(message(NACK, this.id, m.from, this.promised, this.slots.chosen));\n      return false;',
    profile: 'partitions',
    consensus: 'multipaxos',
  },
  {
    name: 'paxos-reported-values-ignored',
    bug: 'a new leader ignores the values its promisers reported and proposes a no-op in every open slot',
    file: 'replicator/paxos/paxos-core.ts',
    find: 'best.get(s)?.value ?? { type: ValueType.NOOP',
    replace: '{ type: ValueType.NOOP',
    profile: 'partitions',
    consensus: 'multipaxos',
  },
  {
    name: 'paxos-promise-not-raised',
    bug: 'an acceptor answers a higher PREPARE with PROMISE without raising (and saving) its promise',
    file: 'replicator/paxos/paxos-core.ts',
    find: 'if (compareBallots(m.ballot, this.promised) > 0) {\n      this.becomeFollower(0);\n      this.setPromised(m.ballot);\n    }',
    replace: 'if (compareBallots(m.ballot, this.promised) > 0) {\n      this.becomeFollower(0);\n    }',
    profile: 'no faults',
    consensus: 'multipaxos',
  },
  {
    name: 'paxos-recovering-promises',
    bug: 'a replica that lost acknowledged records with its WAL tail answers PREPARE while recovering (departure 8)',
    file: 'replicator/paxos/paxos-core.ts',
    find: '    if (this.tailRecovery !== undefined) return;\n    if (compareBallots(m.ballot, this.promised) > 0) {',
    replace: '    if (compareBallots(m.ballot, this.promised) > 0) {',
    profile: 'lost WAL tails',
    consensus: 'multipaxos',
  },
  {
    name: 'paxos-floor-wait-off',
    bug: 'a leader below its floor waits forever to learn it (no new phase 1)',
    file: 'replicator/paxos/paxos-core.ts',
    find: 'if (++this.floorWaitElapsed >= FLOOR_WAIT_ELECTION_TIMEOUTS * this.cfg.electionTicks) this.campaign();',
    replace: '++this.floorWaitElapsed;',
    profile: '5 nodes, lost WAL tails',
    consensus: 'multipaxos',
  },
  {
    name: 'paxos-learn-other-ballot',
    bug: "a follower learns a slot from the leader's chosen prefix although it accepted that slot at another ballot",
    file: 'replicator/paxos/paxos-core.ts',
    find: 'if (a !== undefined && ballotEquals(a.ballot, m.ballot))',
    replace: 'if (a !== undefined)',
    profile: 'partitions',
    consensus: 'multipaxos',
  },
  {
    name: 'paxos-recovery-lowest-ballot',
    bug: 'a new leader re-proposes, per slot, the value of the lowest ballot its promisers reported',
    file: 'replicator/paxos/paxos-core.ts',
    find: 'if (b === undefined || compareBallots(v.ballot, b.ballot) > 0) best.set(v.slot, v);',
    replace: 'if (b === undefined || compareBallots(v.ballot, b.ballot) < 0) best.set(v.slot, v);',
    profile: 'partitions',
    consensus: 'multipaxos',
  },
];

/** Source folders the simulator imports from (copied into a mutant's tree). */
export const MUTANT_TREE_DIRS = ['replicator', 'shard', 'engine', 'ops'];

export function mutantByName(name: string): Mutant {
  const m = MUTANTS.find((x) => x.name === name);
  if (m === undefined) throw new Error(`unknown mutant "${name}"; --list-mutants lists them`);
  return m;
}

/** Copies the sources into <root>/.sim-mutants/<name>/ with the mutant's edit applied; returns that directory. */
export function buildMutantTree(root: string, mutant: Mutant): string {
  const dir = path.join(root, '.sim-mutants', mutant.name);
  fs.rmSync(dir, { recursive: true, force: true });
  for (const d of MUTANT_TREE_DIRS) fs.cpSync(path.join(root, d), path.join(dir, d), { recursive: true });
  const file = path.join(dir, mutant.file);
  const src = fs.readFileSync(file, 'utf8');
  const at = src.indexOf(mutant.find);
  if (at < 0 || src.indexOf(mutant.find, at + 1) >= 0)
    throw new Error(
      `mutant ${mutant.name}: its edit must match ${mutant.file} exactly once (the code moved: update replicator/sim/mutants.ts)`,
    );
  fs.writeFileSync(file, src.slice(0, at) + mutant.replace + src.slice(at + mutant.find.length));
  return dir;
}
