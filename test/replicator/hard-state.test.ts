// A replica's hard state (term, vote, commit) is written before any entry or snapshot, so a
// data directory with a log but no hard-state file has lost it. Starting such a node as if it
// had never voted could let it vote twice in a term (two leaders): it must refuse to start,
// with an error that says what to do, and leave the directory as it was.

import { existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registerSession } from '../../replicator/client/server.js';
import { HardStateMissingError, ReplicaNode } from '../../replicator/node.js';
import { HARD_STATE_FILE } from '../../replicator/wal/hard-state.js';
import { SYM_A, flowConfig } from '../feed/flow.js';
import { until } from '../feed/harness.js';
import { engineStateHash } from '../../engine/snapshot.js';
import { NO_LOG } from '../../ops/log.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function node(dir: string, snapshotIntervalEntries: number): ReplicaNode {
  return new ReplicaNode({
    id: 1,
    members: [1],
    dataDir: dir,
    shardConfig: flowConfig(),
    send: () => undefined,
    fsync: false,
    snapshotIntervalEntries,
    timeTickMs: 0,
    onFatal: (err) => {
      throw err;
    },
    log: NO_LOG,
  });
}

async function runAndStop(dir: string, orders: number, snapshotIntervalEntries: number): Promise<string> {
  const n = node(dir, snapshotIntervalEntries);
  n.start();
  await until('leader', () => n.status().role === 'LEADER', 10_000);
  const clientId = await registerSession(n);
  for (let k = 1; k <= orders; k++) {
    await n.propose({
      clientId,
      requestSeq: k,
      command: {
        type: 'new',
        account: 1,
        clOrdId: `h${k}`,
        symbol: SYM_A,
        side: k % 2 === 0 ? 'BUY' : 'SELL',
        ordType: 'LIMIT',
        price: 1_000_000 + (k % 2 === 0 ? -k : k),
        qty: 10,
      },
    });
  }
  const hash = engineStateHash(n.stateMachine.engine);
  await n.stop();
  return hash;
}

describe('hard state on restart', () => {
  it.each([
    ['a log only', 1_000],
    ['a snapshot and a log', 3],
  ])(
    '%s without the hard-state file: refuses to start and changes nothing; with it: recovers',
    async (_name, interval) => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-hardstate-'));
      dirs.push(dir);
      const hash = await runAndStop(dir, 10, interval);
      const nodeDir = path.join(dir, 'node-1'); // the node's own directory under dataDir
      expect(existsSync(path.join(nodeDir, HARD_STATE_FILE))).toBe(true);

      // Restart with the file: same state.
      const ok = node(dir, interval);
      ok.start();
      await until(
        'replayed',
        () => ok.status().role === 'LEADER' && engineStateHash(ok.stateMachine.engine) === hash,
        10_000,
      );
      await ok.stop();

      unlinkSync(path.join(nodeDir, HARD_STATE_FILE));
      const before = readdirSync(nodeDir).sort();
      expect(before.length).toBeGreaterThan(0);
      const lost = node(dir, interval);
      let err: unknown;
      try {
        lost.start();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HardStateMissingError);
      expect((err as Error).message).toContain('no hard state file');
      expect((err as Error).message).toContain('add-node');
      expect(readdirSync(nodeDir).sort()).toEqual(before); // nothing written, nothing removed
      expect(existsSync(path.join(nodeDir, HARD_STATE_FILE))).toBe(false);
    },
  );

  it('an empty directory is a new node: starts with term 0 and no vote', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-hardstate-'));
    dirs.push(dir);
    const n = node(dir, 1_000);
    n.start();
    expect(n.status().term).toBeLessThanOrEqual(1);
    await until('leader', () => n.status().role === 'LEADER', 10_000);
    await n.stop();
  });
});
