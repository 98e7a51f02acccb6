// The cluster file's "consensus" field (replicator/cluster-config.ts): Raft by default and by
// name; "multipaxos" refused with a clear error while it is not in this build, so that nothing
// can run a Raft cluster and call it Multi-Paxos; anything else refused as unknown.

import { describe, expect, it } from 'vitest';
import { ClusterConfigError, CONSENSUS_PROTOCOLS, parseClusterConfig } from '../../replicator/cluster-config.js';

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

  it.runIf(!(CONSENSUS_PROTOCOLS as readonly string[]).includes('multipaxos'))(
    "refuses 'multipaxos' as not available in this build",
    () => {
      expect(() => parseClusterConfig({ ...base, consensus: 'multipaxos' }, '/tmp')).toThrow(
        new ClusterConfigError("cluster config: consensus 'multipaxos' is not available in this build"),
      );
    },
  );

  it('refuses an unknown name or a value that is not a string', () => {
    for (const v of ['pbft', 'Raft', '', 7, null, ['raft']])
      expect(() => parseClusterConfig({ ...base, consensus: v }, '/tmp'), JSON.stringify(v)).toThrow(
        /cluster config: consensus: must be one of "raft", .*"multipaxos", got /,
      );
  });
});
