// ReplicaNode's observer hooks, in process (one-member cluster on a temp dir): onStateReset
// once at start with the recovered engine, onApplied after every applied entry with all its
// events; a projector fed by them equals the engine, also across a restart that recovers
// from a snapshot plus log replay; an observer that throws is logged and never stops the node.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../engine/engine.js';
import { Side } from '../../engine/types.js';
import { MarketDataProjector } from '../../feed/projector.js';
import { registerSession } from '../../replicator/client/server.js';
import { ReplicaNode } from '../../replicator/node.js';
import { SYM_A, flowConfig } from './flow.js';
import { until } from './harness.js';
import { engineStateHash } from '../../engine/snapshot.js';
import { collectLog, type LogRecord } from '../ops/collect-log.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function startNode(
  dir: string,
  projector: MarketDataProjector,
  calls: { resets: Engine[]; applied: number; events: number; throwOnce: boolean },
  logs: LogRecord[],
): ReplicaNode {
  const node = new ReplicaNode({
    id: 1,
    members: [1],
    dataDir: dir,
    shardConfig: flowConfig(),
    send: () => undefined,
    fsync: false,
    snapshotIntervalEntries: 3,
    timeTickMs: 0,
    onFatal: (err) => {
      throw err;
    },
    log: collectLog(logs),
    onStateReset: (engine) => {
      calls.resets.push(engine);
      projector.resetFromEngine(engine);
    },
    onApplied: ({ index, results, events }) => {
      calls.applied++;
      calls.events += events.count;
      expect(index).toBeGreaterThan(0);
      if (calls.throwOnce) {
        calls.throwOnce = false;
        throw new Error('observer bug');
      }
      projector.apply(events, 0, events.count);
      projector.flush(() => undefined);
      expect(results.every((r) => r.eventsTo <= events.count)).toBe(true);
    },
  });
  node.start();
  return node;
}

const order = (k: number, side: 'BUY' | 'SELL', price: number) => ({
  type: 'new',
  account: 1 + (k % 3),
  clOrdId: `o${k}`,
  symbol: SYM_A,
  side,
  ordType: 'LIMIT',
  price,
  qty: 10 * (1 + (k % 4)),
});

describe('ReplicaNode observer hooks', () => {
  it('feed a projector that equals the engine, across a restart; a throwing observer is ignored', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-node-hooks-'));
    dirs.push(dir);
    const projector = new MarketDataProjector([SYM_A, 'ETH-USD']);
    const calls = { resets: [] as Engine[], applied: 0, events: 0, throwOnce: true };
    const logs: LogRecord[] = [];
    let node = startNode(dir, projector, calls, logs);
    expect(calls.resets).toHaveLength(1);
    await until('leader', () => node.status().role === 'LEADER', 10_000);
    // The first entry (the leader's no-op or the first order) hits the throwing observer.
    const clientId = await registerSession(node);
    let seq = 0;
    for (let k = 0; k < 20; k++)
      await node.propose({
        clientId,
        requestSeq: ++seq,
        command: order(k, k % 2 === 0 ? 'BUY' : 'SELL', 1_000_000 + (k % 2 === 0 ? -5 : 5) * (1 + (k % 5))),
      });
    expect(
      logs.some(
        (r) =>
          r.level === 'warn' &&
          r.msg === 'observer failed (ignored)' &&
          r.observer === 'onApplied' &&
          typeof r.stack === 'string',
      ),
    ).toBe(true);
    expect(calls.applied).toBeGreaterThan(1);
    expect(calls.events).toBeGreaterThan(0);
    // The projector missed one entry (the throw); a reset from the engine repairs it, as the feed service does.
    projector.resetFromEngine(node.stateMachine.engine);
    const engine = () => node.stateMachine.engine;
    expect(projector.levels(SYM_A, Side.BUY)).toEqual(
      engine()
        .bookLevels(SYM_A, Side.BUY)
        .map((l) => [l.price, l.qty, l.orderCount]),
    );
    for (let k = 20; k < 30; k++)
      await node.propose({ clientId, requestSeq: ++seq, command: order(k, 'SELL', 1_000_000 - 10) }); // these trade
    expect(projector.levels(SYM_A, Side.BUY)).toEqual(
      engine()
        .bookLevels(SYM_A, Side.BUY)
        .map((l) => [l.price, l.qty, l.orderCount]),
    );
    expect(projector.levels(SYM_A, Side.SELL)).toEqual(
      engine()
        .bookLevels(SYM_A, Side.SELL)
        .map((l) => [l.price, l.qty, l.orderCount]),
    );
    const hash = engineStateHash(engine());
    await node.stop();

    // Restart: recovery from the snapshot (onStateReset) plus the log after it (onApplied).
    const p2 = new MarketDataProjector([SYM_A, 'ETH-USD']);
    const calls2 = { resets: [] as Engine[], applied: 0, events: 0, throwOnce: false };
    node = startNode(dir, p2, calls2, logs);
    expect(calls2.resets).toHaveLength(1);
    expect(calls2.resets[0]!.lastSeq).toBeGreaterThan(0); // restored from a snapshot, not empty
    await until('replayed', () => node.status().role === 'LEADER' && engineStateHash(engine()) === hash, 10_000);
    expect(p2.levels(SYM_A, Side.BUY)).toEqual(
      engine()
        .bookLevels(SYM_A, Side.BUY)
        .map((l) => [l.price, l.qty, l.orderCount]),
    );
    expect(p2.levels(SYM_A, Side.SELL)).toEqual(
      engine()
        .bookLevels(SYM_A, Side.SELL)
        .map((l) => [l.price, l.qty, l.orderCount]),
    );
    await node.stop();
  });
});
