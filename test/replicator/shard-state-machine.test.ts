// The replicated state machine: batches of commands per entry, exactly-once client sessions,
// dense engine sequence numbers, snapshots that include them.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { EventKind } from '../../engine/types.js';
import { encodeCommand } from '../../engine/command-codec.js';
import { commandFromJson } from '../../engine/json-codec.js';
import { ApplyOutcome, ShardStateMachine, decodeBatch, encodeBatch, type LoggedCommand } from '../../replicator/shard-state-machine.js';
import { EntryType, type Entry } from '../../replicator/raft/types.js';
import { parseConfig } from '../../engine/config.js';

const config = parseConfig(JSON.parse(readFileSync('engine/examples/instruments.json', 'utf8')));
const order = (clOrdId: string, price = 4999000) => ({ type: 'new', account: 1, clOrdId, symbol: 'BTC-USD', side: 'BUY', ordType: 'LIMIT', price, qty: 10 });
const body = (command: Record<string, unknown>): Uint8Array => encodeCommand(commandFromJson(command) as object);
let index = 0;
const cmd = (clientId: number, requestSeq: number, command: Record<string, unknown>): LoggedCommand => ({ clientId, requestSeq, tsUs: 1_700_000_000_000_000 + index, body: body(command) });
const batchEntry = (cmds: LoggedCommand[]): Entry => ({ index: ++index, term: 1, type: EntryType.NORMAL, data: encodeBatch(cmds) });
const entry = (clientId: number, requestSeq: number, command: Record<string, unknown>): Entry => batchEntry([cmd(clientId, requestSeq, command)]);
const one = (sm: ShardStateMachine, e: Entry) => {
  const r = sm.apply(e);
  expect(r).toHaveLength(1);
  return r[0]!;
};

describe('shard state machine', () => {
  it('round-trips a batch and refuses garbage', () => {
    const cmds = [cmd(7, 3, order('a')), cmd(8, 1, { type: 'cancel', account: 1, clOrdId: 'a' })];
    expect(decodeBatch(encodeBatch(cmds))).toEqual(cmds);
    expect(decodeBatch(new Uint8Array([9, 9, 9]))).toBeUndefined();
    const bytes = encodeBatch(cmds);
    expect(decodeBatch(bytes.subarray(0, bytes.length - 1))).toBeUndefined();
  });

  it('applies each (client, request) exactly once, in order, and refuses gaps', () => {
    index = 0;
    const sm = new ShardStateMachine(config);
    expect(one(sm, entry(1, 1, order('a')))).toMatchObject({ outcome: ApplyOutcome.APPLIED, seq: 1, appliedIndex: 1 });
    expect(sm.events.count).toBeGreaterThan(0);
    // A retry of request 1 (e.g. resent to a new leader): not applied again.
    const dup = one(sm, entry(1, 1, order('a')));
    expect(dup).toMatchObject({ outcome: ApplyOutcome.DUPLICATE, appliedIndex: 1, seq: 1 });
    expect(sm.events.count).toBe(0);
    // Skipping request 2 is refused: applying 3 first would make a later 2 look like a duplicate.
    expect(one(sm, entry(1, 3, order('c'))).outcome).toBe(ApplyOutcome.SEQUENCE_GAP);
    expect(one(sm, entry(1, 2, order('b')))).toMatchObject({ outcome: ApplyOutcome.APPLIED, seq: 2 });
    // A new client must start at request 1.
    expect(one(sm, entry(2, 5, order('x'))).outcome).toBe(ApplyOutcome.SEQUENCE_GAP);
    expect(sm.engine.liveOrderCount).toBe(2);
    expect(sm.lastSeq).toBe(2);
  });

  it('a batch gets one result per command, dense seqs, and each command its own event rows', () => {
    index = 0;
    const sm = new ShardStateMachine(config);
    const results = sm.apply(batchEntry([cmd(1, 1, order('a')), cmd(2, 1, order('b', 4998000)), cmd(1, 1, order('a')), cmd(1, 2, { type: 'cancel', account: 1, clOrdId: 'a' })]));
    expect(results.map((r) => r.outcome)).toEqual([ApplyOutcome.APPLIED, ApplyOutcome.APPLIED, ApplyOutcome.DUPLICATE, ApplyOutcome.APPLIED]);
    expect(results.map((r) => r.seq)).toEqual([1, 2, 1, 3]);
    expect(results.every((r) => r.appliedIndex === 1)).toBe(true);
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
    expect(sm.apply({ index: ++index, term: 1, type: EntryType.NORMAL, data: new Uint8Array([1, 2, 3]) })).toEqual([]);
    expect(sm.events.kind[0]).toBe(EventKind.COMMAND_REJECT);
    expect(sm.lastSeq).toBe(1);
    // An undecodable command body inside a good batch: applied (the session advances) as a reject.
    const r = one(sm, batchEntry([{ clientId: 1, requestSeq: 1, tsUs: 1, body: new Uint8Array([0xff, 0xee]) }]));
    expect(r).toMatchObject({ outcome: ApplyOutcome.APPLIED, seq: 2 });
    expect(sm.events.kind[r.eventsFrom]).toBe(EventKind.COMMAND_REJECT);
  });

  it('no-op entries apply nothing and consume no seq', () => {
    index = 0;
    const sm = new ShardStateMachine(config);
    expect(sm.apply({ index: ++index, term: 1, type: EntryType.NORMAL, data: new Uint8Array(0) })).toEqual([]);
    expect(sm.lastSeq).toBe(0);
    expect(sm.appliedIndex).toBe(1);
  });

  it('snapshot/restore keeps the engine, the seq and the sessions: a retry after restore is still a duplicate', () => {
    index = 0;
    const a = new ShardStateMachine(config);
    a.apply(entry(1, 1, order('a')));
    a.apply(entry(2, 1, order('b', 4998000)));
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
