// The replicated state machine: batches of commands per entry, exactly-once client sessions
// (registered, with ids the state machine allocates; evicted ones refused), dense engine
// sequence numbers, snapshots that include them.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { EventKind } from '../../engine/types.js';
import { encodeCommand } from '../../engine/command-codec.js';
import { commandFromJson } from '../../engine/json-codec.js';
import { ApplyOutcome, OUTCOME_NAMES, ShardStateMachine } from '../../shard/state-machine.js';
import { decodeBatch, encodeBatch, registerCommand, type LoggedCommand } from '../../shard/batch-codec.js';
import { EntryType, type Entry } from '../../replicator/raft/types.js';
import { parseConfig } from '../../engine/config.js';

const config = parseConfig(JSON.parse(readFileSync('engine/examples/instruments.json', 'utf8')));
const order = (clOrdId: string, price = 4999000) => ({
  type: 'new',
  account: 1,
  clOrdId,
  symbol: 'BTC-USD',
  side: 'BUY',
  ordType: 'LIMIT',
  price,
  qty: 10,
});
const body = (command: Record<string, unknown>): Uint8Array => encodeCommand(commandFromJson(command) as object);
let index = 0;
const cmd = (clientId: number, requestSeq: number, command: Record<string, unknown>): LoggedCommand => ({
  clientId,
  requestSeq,
  tsUs: 1_700_000_000_000_000 + index,
  body: body(command),
});
const batchEntry = (cmds: LoggedCommand[]): Entry => ({
  index: ++index,
  term: 1,
  type: EntryType.NORMAL,
  data: encodeBatch(cmds),
});
const entry = (clientId: number, requestSeq: number, command: Record<string, unknown>): Entry =>
  batchEntry([cmd(clientId, requestSeq, command)]);
const registration = (): Entry => batchEntry([registerCommand(1_700_000_000_000_000 + index)]);
const noop = (): Entry => ({ index: ++index, term: 1, type: EntryType.NORMAL, data: new Uint8Array(0) });
/** The replicas' call: the entry's index and bytes. */
const applyEntry = (sm: ShardStateMachine, e: Entry) => sm.apply(e.index, e.data);
const one = (sm: ShardStateMachine, e: Entry) => {
  const r = applyEntry(sm, e);
  expect(r).toHaveLength(1);
  return r[0]!;
};
/** Registers a session; returns its id. */
const register = (sm: ShardStateMachine): number => {
  const r = one(sm, registration());
  expect(r.outcome).toBe(ApplyOutcome.REGISTERED);
  return r.clientId;
};

describe('shard state machine', () => {
  it('round-trips a batch and refuses garbage', () => {
    const cmds = [cmd(7, 3, order('a')), cmd(8, 1, { type: 'cancel', account: 1, clOrdId: 'a' }), registerCommand(5)];
    expect(decodeBatch(encodeBatch(cmds))).toEqual(cmds);
    expect(decodeBatch(new Uint8Array([9, 9, 9]))).toBeUndefined();
    const bytes = encodeBatch(cmds);
    expect(bytes[0]).toBe(3); // batch version 3: registered sessions
    expect(decodeBatch(bytes.subarray(0, bytes.length - 1))).toBeUndefined();
  });

  it('applies each (client, request) exactly once, in order, and refuses gaps', () => {
    index = 0;
    const sm = new ShardStateMachine(config);
    expect(register(sm)).toBe(1);
    expect(one(sm, entry(1, 1, order('a')))).toMatchObject({ outcome: ApplyOutcome.APPLIED, seq: 1, appliedIndex: 2 });
    expect(sm.events.count).toBeGreaterThan(0);
    // A retry of request 1 (e.g. resent to a new leader): not applied again.
    const dup = one(sm, entry(1, 1, order('a')));
    expect(dup).toMatchObject({ outcome: ApplyOutcome.DUPLICATE, appliedIndex: 2, seq: 1 });
    expect(sm.events.count).toBe(0);
    // Skipping request 2 is refused: applying 3 first would make a later 2 look like a duplicate.
    expect(one(sm, entry(1, 3, order('c'))).outcome).toBe(ApplyOutcome.SEQUENCE_GAP);
    expect(one(sm, entry(1, 2, order('b')))).toMatchObject({ outcome: ApplyOutcome.APPLIED, seq: 2 });
    // A new session must start at request 1.
    expect(register(sm)).toBe(2);
    expect(one(sm, entry(2, 5, order('x'))).outcome).toBe(ApplyOutcome.SEQUENCE_GAP);
    expect(sm.engine.liveOrderCount).toBe(2);
    expect(sm.lastSeq).toBe(2);
  });

  it('a batch gets one result per command, dense seqs, and each command its own event rows', () => {
    index = 0;
    const sm = new ShardStateMachine(config);
    const regs = applyEntry(sm, batchEntry([registerCommand(1), registerCommand(1)]));
    expect(regs.map((r) => [r.outcome, r.clientId, r.seq])).toEqual([
      [ApplyOutcome.REGISTERED, 1, 0],
      [ApplyOutcome.REGISTERED, 2, 0],
    ]);
    expect(sm.lastSeq).toBe(0); // a registration is not an engine command
    const results = applyEntry(
      sm,
      batchEntry([
        cmd(1, 1, order('a')),
        cmd(2, 1, order('b', 4998000)),
        cmd(1, 1, order('a')),
        cmd(1, 2, { type: 'cancel', account: 1, clOrdId: 'a' }),
      ]),
    );
    expect(results.map((r) => r.outcome)).toEqual([
      ApplyOutcome.APPLIED,
      ApplyOutcome.APPLIED,
      ApplyOutcome.DUPLICATE,
      ApplyOutcome.APPLIED,
    ]);
    expect(results.map((r) => r.seq)).toEqual([1, 2, 1, 3]);
    expect(results.every((r) => r.appliedIndex === 2)).toBe(true);
    // Event rows of consecutive commands are adjacent and carry their command's seq.
    expect(results[0]!.eventsFrom).toBe(0);
    expect(results[1]!.eventsFrom).toBe(results[0]!.eventsTo);
    expect(results[2]!.eventsFrom).toBe(results[2]!.eventsTo);
    expect(results[3]!.eventsTo).toBe(sm.events.count);
    for (const r of results.filter((x) => x.outcome === ApplyOutcome.APPLIED)) {
      expect(r.eventsTo).toBeGreaterThan(r.eventsFrom);
      for (let i = r.eventsFrom; i < r.eventsTo; i++) expect(sm.events.seq[i]).toBe(r.seq);
    }
    expect(sm.engine.liveOrderCount).toBe(1);
  });

  it('a malformed payload consumes a seq as a command_reject on every replica', () => {
    index = 0;
    const sm = new ShardStateMachine(config);
    expect(
      applyEntry(sm, { index: ++index, term: 1, type: EntryType.NORMAL, data: new Uint8Array([1, 2, 3]) }),
    ).toEqual([]);
    expect(sm.events.kind[0]).toBe(EventKind.COMMAND_REJECT);
    expect(sm.lastSeq).toBe(1);
    // An undecodable command body inside a good batch: applied (the session advances) as a reject.
    const id = register(sm);
    const r = one(sm, batchEntry([{ clientId: id, requestSeq: 1, tsUs: 1, body: new Uint8Array([0xff, 0xee]) }]));
    expect(r).toMatchObject({ outcome: ApplyOutcome.APPLIED, seq: 2 });
    expect(sm.events.kind[r.eventsFrom]).toBe(EventKind.COMMAND_REJECT);
  });

  it('no-op entries apply nothing and consume no seq', () => {
    index = 0;
    const sm = new ShardStateMachine(config);
    expect(applyEntry(sm, noop())).toEqual([]);
    expect(sm.lastSeq).toBe(0);
    expect(sm.appliedIndex).toBe(1);
  });

  it('snapshot/restore keeps the engine, the seq and the sessions: a retry after restore is still a duplicate', () => {
    index = 0;
    const a = new ShardStateMachine(config);
    register(a);
    register(a);
    applyEntry(a, entry(1, 1, order('a')));
    applyEntry(a, entry(2, 1, order('b', 4998000)));
    const b = new ShardStateMachine(config);
    b.restore(a.snapshot());
    expect(b.stateHash()).toBe(a.stateHash());
    expect(b.lastSeq).toBe(2);
    const retry = entry(2, 1, order('b', 4998000));
    expect(one(b, retry)).toMatchObject({ outcome: ApplyOutcome.DUPLICATE, seq: 2 });
    expect(one(a, retry).outcome).toBe(ApplyOutcome.DUPLICATE);
    const next = entry(1, 2, order('c', 4997000));
    expect(one(a, next).seq).toBe(3);
    expect(one(b, next).seq).toBe(3);
    expect(b.stateHash()).toBe(a.stateHash());
  });
});

describe('client sessions (Raft thesis §6.3: registered, evicted sessions refused)', () => {
  // Every command at the same log time, so a refused one that changed nothing leaves the state
  // hash of a twin that got an empty entry at that index instead.
  const T = 1_700_000_000_000_000;
  const at = (clientId: number, requestSeq: number, command: Record<string, unknown>): LoggedCommand => ({
    clientId,
    requestSeq,
    tsUs: T,
    body: body(command),
  });
  const reg = (): LoggedCommand => registerCommand(T);
  /** Applies `e` to `sm` and an empty entry at the same index to `twin`. */
  const againstTwin = (sm: ShardStateMachine, twin: ShardStateMachine, e: Entry) => {
    const r = one(sm, e);
    applyEntry(twin, { ...e, data: new Uint8Array(0) });
    return r;
  };

  it('session eviction applies a command twice (issue): a resend of an evicted session is SESSION_EXPIRED, not applied again', () => {
    index = 0;
    const sm = new ShardStateMachine(config, { sessionCountMax: 2 });
    const twin = new ShardStateMachine(config, { sessionCountMax: 2 });
    const both = (e: Entry) => {
      applyEntry(twin, e);
      return one(sm, e);
    };
    const a = both(batchEntry([reg()])).clientId;
    expect(both(batchEntry([at(a, 1, order('a1'))]))).toMatchObject({ outcome: ApplyOutcome.APPLIED, seq: 1 });
    const b = both(batchEntry([reg()])).clientId;
    const c = both(batchEntry([reg()])).clientId; // the table (2) was full: A, least recently used, is evicted
    expect([a, b, c]).toEqual([1, 2, 3]);
    expect(sm.sessionCount).toBe(2);
    const seqBefore = sm.lastSeq;
    const liveBefore = sm.engine.liveOrderCount;
    // A's request 1 resent (its acknowledgement was lost): before the fix, a new implicit
    // session took it for its request 1 and applied it a second time.
    expect(againstTwin(sm, twin, batchEntry([at(a, 1, order('a1'))]))).toMatchObject({
      outcome: ApplyOutcome.SESSION_EXPIRED,
      clientId: a,
      seq: 0,
    });
    expect(sm.events.count).toBe(0);
    // A's next request: refused the same way, not a SEQUENCE_GAP forever.
    expect(againstTwin(sm, twin, batchEntry([at(a, 2, order('a2'))]))).toMatchObject({
      outcome: ApplyOutcome.SESSION_EXPIRED,
      clientId: a,
    });
    expect(sm.lastSeq).toBe(seqBefore);
    expect(sm.engine.liveOrderCount).toBe(liveBefore);
    expect(sm.stateHash(), 'refusals changed nothing').toBe(twin.stateHash());
    // The sessions still held work as before.
    expect(one(sm, batchEntry([at(b, 1, order('b1'))]))).toMatchObject({
      outcome: ApplyOutcome.APPLIED,
      seq: seqBefore + 1,
    });
  });

  it('evicts only when registering into a full table, the least recently used first', () => {
    index = 0;
    const sm = new ShardStateMachine(config, { sessionCountMax: 2 });
    const a = register(sm);
    const b = register(sm);
    // A used after B registered: B is now the least recently used.
    expect(one(sm, batchEntry([at(a, 1, order('a1'))])).outcome).toBe(ApplyOutcome.APPLIED);
    // Requests never evict anything.
    for (let k = 2; k <= 5; k++)
      expect(one(sm, batchEntry([at(a, k, { type: 'tick' })])).outcome).toBe(ApplyOutcome.APPLIED);
    expect(sm.sessionCount).toBe(2);
    const c = register(sm);
    expect(one(sm, batchEntry([at(b, 1, order('b1'))])).outcome).toBe(ApplyOutcome.SESSION_EXPIRED);
    expect(one(sm, batchEntry([at(a, 6, { type: 'tick' })])).outcome).toBe(ApplyOutcome.APPLIED);
    expect(one(sm, batchEntry([at(c, 1, { type: 'tick' })])).outcome).toBe(ApplyOutcome.APPLIED);
  });

  it('a session never registered is UNKNOWN_SESSION, and nothing changes', () => {
    index = 0;
    const sm = new ShardStateMachine(config);
    const twin = new ShardStateMachine(config);
    const a = register(sm);
    applyEntry(twin, { index, term: 1, type: EntryType.NORMAL, data: encodeBatch([reg()]) });
    // Above every id handed out; 0 when it is not exactly a registration (a request number, a body).
    for (const c of [
      at(a + 1, 1, order('x')),
      at(2 ** 40, 1, order('y')),
      at(0, 1, order('z')),
      { ...reg(), requestSeq: 1 },
      { ...reg(), body: body({ type: 'tick' }) },
    ]) {
      expect(againstTwin(sm, twin, batchEntry([c]))).toMatchObject({ outcome: ApplyOutcome.UNKNOWN_SESSION, seq: 0 });
    }
    expect(sm.sessionsAllocated).toBe(1);
    expect(sm.lastSeq).toBe(0);
    expect(sm.stateHash()).toBe(twin.stateHash());
  });

  it('registered ids are dense and the same on a replay and after snapshot + restore', () => {
    // A log: registrations among orders, with an eviction (limit 3) and refused requests.
    index = 0;
    const log: Entry[] = [];
    const push = (cmds: LoggedCommand[]) => log.push(batchEntry(cmds));
    push([reg(), reg()]);
    push([at(1, 1, order('a')), reg(), at(2, 1, order('b', 4998000))]);
    push([reg(), reg()]); // 4 and 5, into a full table: 1, then 3 are evicted
    push([at(1, 2, order('c')), at(5, 1, order('d', 4997000)), reg()]);
    const ids = (sm: ShardStateMachine) =>
      log.flatMap((e) =>
        applyEntry(sm, e)
          .filter((r) => r.outcome === ApplyOutcome.REGISTERED)
          .map((r) => r.clientId),
      );
    const first = new ShardStateMachine(config, { sessionCountMax: 3 });
    expect(ids(first)).toEqual([1, 2, 3, 4, 5, 6]);
    const replay = new ShardStateMachine(config, { sessionCountMax: 3 });
    expect(ids(replay)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(replay.stateHash()).toBe(first.stateHash());

    // Restored from a snapshot taken halfway, the rest of the log gives the same ids and state.
    const half = new ShardStateMachine(config, { sessionCountMax: 3 });
    for (const e of log.slice(0, 2)) applyEntry(half, e);
    const restored = new ShardStateMachine(config, { sessionCountMax: 3 });
    restored.restore(half.snapshot());
    expect(restored.sessionsAllocated).toBe(3);
    expect(restored.stateHash()).toBe(half.stateHash());
    const rest = log
      .slice(2)
      .flatMap((e) => applyEntry(restored, e).map((r) => [OUTCOME_NAMES[r.outcome], r.clientId]));
    expect(rest).toEqual([
      ['REGISTERED', 4],
      ['REGISTERED', 5],
      ['SESSION_EXPIRED', 1],
      ['APPLIED', 5],
      ['REGISTERED', 6],
    ]);
    expect(restored.stateHash()).toBe(first.stateHash());
    // The next registration agrees too, on both.
    const next = batchEntry([reg()]);
    expect(one(restored, next).clientId).toBe(7);
    expect(one(first, next).clientId).toBe(7);
    expect(restored.stateHash()).toBe(first.stateHash());
  });

  it('the replicas’ own commands (negative client ids: the leader’s ticks) are applied without a session', () => {
    index = 0;
    const sm = new ShardStateMachine(config, { sessionCountMax: 2 });
    const a = register(sm);
    const term = (t: number, n: number) => at(-t, n, { type: 'tick' });
    // Many leader terms, each ticking: no session is created, so nothing is ever evicted by them.
    for (let t = 1; t <= 50; t++)
      for (let n = 1; n <= 3; n++)
        expect(one(sm, batchEntry([term(t, n)]))).toMatchObject({ outcome: ApplyOutcome.APPLIED, clientId: -t });
    expect(sm.sessionCount).toBe(1);
    expect(sm.sessionsAllocated).toBe(1);
    expect(sm.lastSeq).toBe(150);
    // Not deduplicated either: a leader never resends a tick, so a copy is a new tick.
    expect(one(sm, batchEntry([term(1, 1)])).outcome).toBe(ApplyOutcome.APPLIED);
    expect(one(sm, batchEntry([at(a, 1, order('a'))])).outcome).toBe(ApplyOutcome.APPLIED);
    // And the snapshot holds no session for them.
    const b = new ShardStateMachine(config, { sessionCountMax: 2 });
    b.restore(sm.snapshot());
    expect(b.sessionCount).toBe(1);
  });

  it('refuses a log or snapshot written before sessions were registered (batch version 2, MSS2)', () => {
    index = 0;
    const sm = new ShardStateMachine(config);
    const v2 = encodeBatch([at(1, 1, order('a'))]);
    v2[0] = 2;
    expect(() => applyEntry(sm, { index: 1, term: 1, type: EntryType.NORMAL, data: v2 })).toThrow(
      /older matchbook \(batch version 2\).*registers client sessions; wipe the data directory/,
    );
    const snap = new ShardStateMachine(config).snapshot();
    snap.set([0x4d, 0x53, 0x53, 0x32], 0); // 'MSS2'
    expect(() => new ShardStateMachine(config).restore(snap)).toThrow(/older matchbook/);
    // A snapshot with more sessions than this replica keeps would evict differently: refused.
    const big = new ShardStateMachine(config, { sessionCountMax: 3 });
    for (let k = 0; k < 3; k++) register(big);
    expect(() => new ShardStateMachine(config, { sessionCountMax: 2 }).restore(big.snapshot())).toThrow(/at most 2/);
  });
});
