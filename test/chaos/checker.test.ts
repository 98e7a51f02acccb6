// The chaos checker (chaos/checker.ts) on a small log and hand-made histories: a clean history
// passes with K = 100%, and each kind of violation is caught — an acknowledged order missing
// from the log, one applied twice, a refused one present, a report that differs from the
// replay, two orders logged against real-time order, replicas that disagree, unknown outcomes
// resolved either way; and replicas' logs that differ, reported at the first differing index
// with the replicas grouped by what they hold there.

import { describe, expect, it } from 'vitest';
import { check, firstLogDivergence, type CheckInput, type ReplicaLog } from '../../chaos/checker.js';
import type { Op } from '../../chaos/workload.js';
import { encodeCommand } from '../../engine/command-codec.js';
import { EventKind, type ExecReport } from '../../engine/types.js';
import { commandFromJson } from '../../engine/json-codec.js';
import { toReport } from '../../api/execution-report.js';
import { EntryType, type Entry } from '../../replicator/raft/types.js';
import { ShardStateMachine } from '../../shard/state-machine.js';
import { encodeBatch, registerCommand, type LoggedCommand } from '../../shard/batch-codec.js';
import { shardConfig } from '../events/helpers.js';
import { commandData } from '../../replicator/log.js';

const order = (account: number, clOrdId: string, side: 'BUY' | 'SELL', price: number) => ({
  type: 'new',
  account,
  clOrdId,
  symbol: 'BTC-USD',
  side,
  ordType: 'LIMIT',
  price,
  qty: 2,
});

/** One entry per command, each from its own session, registered in the same entry (the k-th registration gets clientId k + 1). */
function log(commands: Record<string, unknown>[]): Entry[] {
  return commands.map((c, k) => {
    const tsUs = 1_700_000_000_000_000 + k * 1_000;
    const lc: LoggedCommand = {
      clientId: k + 1,
      requestSeq: 1,
      tsUs,
      body: encodeCommand(commandFromJson(c) as object),
    };
    return { index: k + 1, term: 1, type: EntryType.NORMAL, data: encodeBatch([registerCommand(tsUs), lc]) };
  });
}

function replayHash(entries: Entry[]): {
  hash: string;
  applied: number;
  reportsOf: (index: number) => ReturnType<typeof toReport>[];
} {
  const sm = new ShardStateMachine(shardConfig);
  const byIndex = new Map<number, ReturnType<typeof toReport>[]>();
  for (const e of entries) {
    sm.apply(e.index, commandData(e));
    const out = [];
    for (let row = 0; row < sm.events.count; row++)
      if (sm.events.kind[row] === EventKind.EXEC) out.push(toReport(0, sm.events.event(row) as ExecReport));
    byIndex.set(e.index, out);
  }
  return { hash: sm.stateHash(), applied: sm.appliedIndex, reportsOf: (i) => byIndex.get(i) ?? [] };
}

let nextId = 0;
function op(p: Partial<Op> & Pick<Op, 'account' | 'clOrdId' | 'outcome' | 'sentAtMs' | 'doneAtMs'>): Op {
  return {
    id: nextId++,
    kind: 'new',
    orderId: 0,
    body: {},
    status: p.outcome === 'ok' ? 201 : 400,
    code: '',
    reports: [],
    ...p,
  };
}

const entries = log([
  order(1, 'a', 'BUY', 5_000_000),
  order(2, 'b', 'SELL', 5_000_000),
  order(1, 'c', 'BUY', 4_999_000),
  order(2, 'd', 'SELL', 5_001_000),
]);
const ref = replayHash(entries);
const replicas = [1, 2, 3].map((id) => ({ id, applied: ref.applied, stateHash: ref.hash }));

function input(ops: Op[], over: Partial<CheckInput> = {}): CheckInput {
  return { ops, entries, config: shardConfig, replicas, readModels: undefined, ...over };
}

describe('chaos checker', () => {
  it('a clean history: K = 100%, reports compared, real-time order checked', () => {
    const ops = [
      op({ account: 1, clOrdId: 'a', outcome: 'ok', sentAtMs: 0, doneAtMs: 10, reports: ref.reportsOf(1) }),
      op({ account: 2, clOrdId: 'b', outcome: 'ok', sentAtMs: 11, doneAtMs: 20, reports: ref.reportsOf(2) }),
      op({ account: 1, clOrdId: 'c', outcome: 'unknown', sentAtMs: 21, doneAtMs: 30 }),
      op({ account: 1, clOrdId: 'z', outcome: 'unknown', sentAtMs: 21, doneAtMs: 30 }),
      op({ account: 2, clOrdId: 'y', outcome: 'failed', sentAtMs: 31, doneAtMs: 32 }),
    ];
    const r = check(input(ops));
    expect(r.violations).toEqual([]);
    expect(r).toMatchObject({
      acked: 2,
      consistent: 2,
      k: 1,
      lost: 0,
      duplicates: 0,
      failed: 1,
      unknown: 2,
      unknownApplied: 1,
      unknownAbsent: 1,
    });
    expect(r.reportsCompared).toBe(ref.reportsOf(1).length + ref.reportsOf(2).length);
    expect(r.orderPairsChecked).toBe(1);
  });

  it('catches a lost order, a refused order in the log, and a report that differs', () => {
    const altered = ref.reportsOf(2).map((x, k) => (k === 0 ? { ...x, cum_qty: x.cum_qty + 1 } : x));
    const r = check(
      input([
        op({ account: 1, clOrdId: 'lost', outcome: 'ok', sentAtMs: 0, doneAtMs: 1 }),
        op({ account: 1, clOrdId: 'a', outcome: 'failed', sentAtMs: 2, doneAtMs: 3 }),
        op({ account: 2, clOrdId: 'b', outcome: 'ok', sentAtMs: 4, doneAtMs: 5, reports: altered }),
      ]),
    );
    expect(r.lost).toBe(1);
    expect(r.k).toBe(0);
    expect(r.violations.map((v) => v.check).sort()).toEqual(['exactly-once', 'refused-absent', 'reports']);
  });

  it('catches an order applied twice (two sessions logged the same client order id)', () => {
    const twice = log([order(1, 'a', 'BUY', 4_000_000), order(1, 'a', 'BUY', 4_000_000)]);
    const h = replayHash(twice);
    const r = check(
      input([op({ account: 1, clOrdId: 'a', outcome: 'ok', sentAtMs: 0, doneAtMs: 1 })], {
        entries: twice,
        replicas: [{ id: 1, applied: h.applied, stateHash: h.hash }],
      }),
    );
    expect(r.duplicates).toBe(1);
    expect(r.violations[0]!.check).toBe('exactly-once');
  });

  it('catches real-time order broken: acknowledged before the other was sent, yet logged after it', () => {
    // 'd' (index 4) was acknowledged before 'c' (index 3) was sent.
    const r = check(
      input([
        op({ account: 2, clOrdId: 'd', outcome: 'ok', sentAtMs: 0, doneAtMs: 5 }),
        op({ account: 1, clOrdId: 'c', outcome: 'ok', sentAtMs: 6, doneAtMs: 9 }),
      ]),
    );
    expect(r.violations.map((v) => v.check)).toEqual(['real-time-order']);
  });

  it('catches replicas that disagree with the replay, and counts no order consistent then', () => {
    const r = check(
      input([op({ account: 1, clOrdId: 'a', outcome: 'ok', sentAtMs: 0, doneAtMs: 1 })], {
        replicas: [...replicas.slice(0, 2), { id: 3, applied: ref.applied, stateHash: 'f'.repeat(64) }],
      }),
    );
    expect(r.violations.map((v) => v.check)).toEqual(['replicas']);
    expect(r.k).toBe(0);
  });

  describe("replicas' logs (check 7)", () => {
    /** A copy with its own buffers: equal logs are compared by content, not by identity. */
    const copy = (es: Entry[]): Entry[] => es.map((e) => ({ ...e, data: Uint8Array.from(e.data) }));
    const replicaLog = (id: number, es: Entry[]): ReplicaLog => ({ id, entries: copy(es) });
    // Node 2 lost index 3 onwards and holds a later leader's entries there: a no-op of term 2 at
    // 3, then the fourth order again at 4 in term 2.
    const diverged: Entry[] = [
      ...entries.slice(0, 2),
      { index: 3, term: 2, type: EntryType.NOOP, data: new Uint8Array(0) },
      { ...entries[3]!, term: 2 },
    ];

    it('names the first differing index and which replicas hold what there', () => {
      const logs = [replicaLog(1, entries), replicaLog(2, diverged), replicaLog(3, entries)];
      const r = check(
        input([op({ account: 1, clOrdId: 'a', outcome: 'ok', sentAtMs: 0, doneAtMs: 1, reports: ref.reportsOf(1) })], {
          logs,
        }),
      );
      expect(r.divergence).toMatchObject({
        index: 3,
        groups: [
          { ids: [1, 3], term: 1, type: 'NORMAL', bytes: entries[2]!.data.byteLength },
          { ids: [2], term: 2, type: 'NOOP', bytes: 0 },
        ],
        lastIndex: [
          { id: 1, last: 4 },
          { id: 2, last: 4 },
          { id: 3, last: 4 },
        ],
      });
      expect(r.violations.map((v) => v.check)).toEqual(['logs']);
      expect(r.violations[0]!.detail).toMatch(
        /^first differing log index 3: nodes 1, 3 hold term 1 NORMAL .*; node 2 holds term 2 NOOP \(0 bytes/,
      );
      // A divergence makes no acknowledged order consistent, like replicas that disagree.
      expect(r.k).toBe(0);
    });

    it('finds a difference in the bytes alone (same term and type), at its index', () => {
      const flipped = copy(entries);
      flipped[1]!.data[flipped[1]!.data.length - 1]! ^= 0x10;
      const d = firstLogDivergence([replicaLog(1, entries), { id: 2, entries: flipped }]);
      expect(d?.index).toBe(2);
      expect(d?.groups.map((g) => g.ids)).toEqual([[1], [2]]);
      expect(d!.groups[0]!.sha256).not.toBe(d!.groups[1]!.sha256);
    });

    it('the same logs, or a shorter one that is a prefix, are no divergence; a log not read whole is reported', () => {
      expect(
        firstLogDivergence([replicaLog(1, entries), replicaLog(2, entries), replicaLog(3, entries)]),
      ).toBeUndefined();
      expect(firstLogDivergence([replicaLog(1, entries), replicaLog(2, entries.slice(0, 2))])).toBeUndefined();
      const r = check(
        input([], {
          logs: [
            replicaLog(1, entries),
            { id: 2, entries: copy(entries.slice(0, 2)), error: 'entry source closed (wanted through 4)' },
          ],
        }),
      );
      expect(r.divergence).toBeUndefined();
      expect(r.violations.map((v) => v.check)).toEqual(['logs']);
      expect(r.violations[0]!.detail).toContain('replica 2');
    });

    it('a shorter log that differs within what it holds is a divergence at that index', () => {
      const d = firstLogDivergence([replicaLog(1, entries), replicaLog(2, diverged.slice(0, 3))]);
      expect(d).toMatchObject({
        index: 3,
        lastIndex: [
          { id: 1, last: 4 },
          { id: 2, last: 3 },
        ],
      });
    });
  });
});
