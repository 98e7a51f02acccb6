// The client protocol's op 'entries' (what the publisher replays), against a real one-member
// ReplicaNode over TCP: committed entries in order, bounded by bytes; a long poll that answers
// when the next entry is applied; the newest snapshot once the entries asked for are compacted.
// A reader replaying what it gets ends with the replica's state hash.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntrySource } from '../../events/publisher/entry-source.js';
import { ReplicaNode } from '../../replicator/node.js';
import { decodeSnapshotEnvelope } from '../../shard/snapshot-envelope.js';
import { ShardStateMachine } from '../../shard/state-machine.js';
import { ClientServer, registerSession } from '../../replicator/client/server.js';
import { orderFlow, removeTmpDirs, shardConfig, tmpDir, waitFor } from './helpers.js';
import { commandData } from '../../replicator/log.js';
import { NO_LOG } from '../../ops/log.js';

let node: ReplicaNode;
let server: ClientServer;
let source: EntrySource;
let clientId = 0;
let clientSeq = 0;

async function submit(n: number): Promise<void> {
  if (clientId === 0) clientId = await registerSession(node);
  for (const command of orderFlow(n, 100 + clientSeq))
    await node.propose({ clientId, requestSeq: ++clientSeq, command });
}

beforeAll(async () => {
  node = new ReplicaNode({
    id: 1,
    members: [1],
    dataDir: tmpDir(),
    shardConfig,
    send: () => undefined,
    fsync: false,
    snapshotIntervalEntries: 10,
    timeTickMs: 0,
    onFatal: (err) => console.error('replica failed', err),
    log: NO_LOG,
  });
  node.start();
  await waitFor(() => node.status().role === 'LEADER', 'the single member to lead');
  server = new ClientServer({ node, host: '127.0.0.1', port: 0, log: NO_LOG });
  await server.start();
  source = new EntrySource([{ id: 1, host: '127.0.0.1', port: server.port }]);
});

afterAll(async () => {
  source.close();
  await server.stop();
  await node.stop();
  removeTmpDirs();
});

describe("client protocol op 'entries'", () => {
  it('serves committed entries in order, bounded by bytes, and replaying them gives the replica state', async () => {
    await submit(6);
    const applied = node.status().applied;
    const one = await source.read(1, 1, 0);
    expect(one.kind).toBe('entries');
    if (one.kind !== 'entries') return;
    expect(one.entries.map((e) => e.index)).toEqual([1]);
    const all = await source.read(1, 1 << 20, 0);
    if (all.kind !== 'entries') throw new Error('expected entries');
    expect(all.entries.map((e) => e.index)).toEqual(Array.from({ length: applied }, (_, k) => k + 1));
    expect(all.applied).toBe(applied);
    const sm = new ShardStateMachine(shardConfig);
    for (const e of all.entries) sm.apply(e.index, commandData(e));
    expect(sm.stateHash()).toBe(node.stateHash());
    // Nothing new yet: an immediate empty answer.
    const none = await source.read(applied + 1, 1 << 20, 0);
    expect(none.kind === 'entries' && none.entries.length === 0).toBe(true);
  });

  it('a caught-up reader waits for the next applied entry', async () => {
    const from = node.status().applied + 1;
    const waiting = source.read(from, 1 << 20, 4_000);
    await submit(1);
    const r = await waiting;
    expect(r.kind === 'entries' && r.entries[0]?.index).toBe(from);
  });

  it('a caught-up reader of a ReplicaNode is woken by the apply, not by a poll timer; with nothing applied it gets an empty answer at its deadline', async () => {
    const from = node.status().applied + 1;
    const waiting = source.read(from, 1 << 20, 150);
    await waitFor(
      () => (server as unknown as { entryWaiters: Set<unknown> }).entryWaiters.size === 1,
      'the read to wait',
    );
    expect((server as unknown as { entryPollTimer: unknown }).entryPollTimer).toBeUndefined();
    const r = await waiting;
    expect(r.kind === 'entries' && r.entries.length).toBe(0);
    expect((server as unknown as { entryDeadlineTimer: unknown }).entryDeadlineTimer).toBeUndefined();
    // Two readers with different deadlines: the earlier one is answered empty, the later one by the apply.
    const early = source.read(from, 1 << 20, 50);
    const other = new EntrySource([{ id: 1, host: '127.0.0.1', port: server.port }]);
    try {
      const late = other.read(from, 1 << 20, 4_000);
      const e = await early;
      expect(e.kind === 'entries' && e.entries.length).toBe(0);
      await submit(1);
      const l = await late;
      expect(l.kind === 'entries' && l.entries[0]?.index).toBe(from);
    } finally {
      other.close();
    }
  });

  it('answers the newest snapshot for compacted entries; restoring it and reading on reaches the replica state', async () => {
    // Snapshots are taken after a Ready, one saving at a time: keep entries coming until the
    // replica has taken two and compacted through the first.
    await waitFor(
      async () => {
        await submit(5);
        return node.status().firstIndex > 1;
      },
      'the log to be compacted',
      30_000,
      20,
    );
    const st = node.status();
    const r = await source.read(1, 1 << 20, 0);
    expect(r.kind).toBe('snapshot');
    if (r.kind !== 'snapshot') return;
    expect(r.firstIndex).toBe(st.firstIndex);
    expect(r.index).toBeGreaterThanOrEqual(st.firstIndex - 1);
    const sm = new ShardStateMachine(shardConfig);
    sm.restore(decodeSnapshotEnvelope(r.data).sm);
    expect(sm.appliedIndex).toBe(r.index);
    const applied = node.status().applied;
    while (sm.appliedIndex < applied) {
      const more = await source.read(sm.appliedIndex + 1, 1 << 20, 0);
      if (more.kind !== 'entries') throw new Error('expected entries after the snapshot');
      for (const e of more.entries) sm.apply(e.index, commandData(e));
    }
    expect(sm.stateHash()).toBe(node.stateHash());
  });
});
