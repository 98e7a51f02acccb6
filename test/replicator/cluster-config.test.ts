// The cluster file's "consensus" field (replicator/cluster-config.ts): Raft by default and by
// name; "multipaxos" by name, with its member ids at most PAXOS_NODE_ID_MAX and no joining
// member (fixed membership); anything else refused as unknown.

import { describe, expect, it } from 'vitest';
import { ClusterConfigError, parseClusterConfig } from '../../replicator/cluster-config.js';
import { PAXOS_NODE_ID_MAX } from '../../replicator/limits.js';

const base = {
  clusterId: 'c',
  dataDir: 'data',
  shardConfig: 'instruments.json',
  members: [{ id: 1, raft: '127.0.0.1:7101', client: '127.0.0.1:7201' }],
};

describe('cluster config: consensus', () => {
  it('is raft when absent and when named', () => {
    expect(parseClusterConfig(base, '/tmp').consensus).toBe('raft');
    expect(parseClusterConfig({ ...base, consensus: 'raft' }, '/tmp').consensus).toBe('raft');
  });

  it("accepts 'multipaxos' with member ids up to PAXOS_NODE_ID_MAX and refuses more, or a joining member", () => {
    expect(parseClusterConfig({ ...base, consensus: 'multipaxos' }, '/tmp').consensus).toBe('multipaxos');
    const at = (id: number, extra: object = {}) => ({
      ...base,
      consensus: 'multipaxos',
      members: [...base.members, { id, raft: '127.0.0.1:7102', client: '127.0.0.1:7202', ...extra }],
    });
    expect(parseClusterConfig(at(PAXOS_NODE_ID_MAX), '/tmp').members.map((m) => m.id)).toEqual([1, PAXOS_NODE_ID_MAX]);
    expect(() => parseClusterConfig(at(PAXOS_NODE_ID_MAX + 1), '/tmp')).toThrow(
      new ClusterConfigError(
        `cluster config: members[1].id: at most ${PAXOS_NODE_ID_MAX} (PAXOS_NODE_ID_MAX) with consensus "multipaxos", got ${PAXOS_NODE_ID_MAX + 1}`,
      ),
    );
    expect(() => parseClusterConfig(at(2, { join: true }), '/tmp')).toThrow(/members\[1\]\.join: .*fixed membership/);
    // Raft takes both.
    expect(
      parseClusterConfig({ ...at(PAXOS_NODE_ID_MAX + 1, { join: true }), consensus: 'raft' }, '/tmp').consensus,
    ).toBe('raft');
  });

  it('refuses an unknown name or a value that is not a string', () => {
    for (const v of ['pbft', 'Raft', '', 7, null, ['raft']])
      expect(() => parseClusterConfig({ ...base, consensus: v }, '/tmp'), JSON.stringify(v)).toThrow(
        /cluster config: consensus: must be one of "raft", .*"multipaxos", got /,
      );
  });
});
