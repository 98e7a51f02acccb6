// The replicated state machine: exactly-once client sessions, snapshots that include them.
import { describe, expect, it } from 'vitest';
import { EventKind } from '../../engine/types.js';
import { ApplyOutcome, ShardStateMachine, decodeClientCommand, encodeClientCommand } from '../../replicator/shard-state-machine.js';
import { EntryType, type Entry } from '../../replicator/raft/types.js';
import { parseConfig } from '../../engine/config.js';
import { readFileSync } from 'node:fs';

const config = parseConfig(JSON.parse(readFileSync('engine/examples/instruments.json', 'utf8')));
const order = (clOrdId: string, price = 4999000) => ({ type: 'new', account: 1, clOrdId, symbol: 'BTC-USD', side: 'BUY', ordType: 'LIMIT', price, qty: 10 });
let index = 0;
const entry = (clientId: number, requestSeq: number, command: Record<string, unknown>): Entry => ({
  index: ++index,
  term: 1,
  type: EntryType.NORMAL,
  data: encodeClientCommand({ clientId, requestSeq, tsUs: 1_700_000_000_000_000 + index, command }),
});

describe('shard state machine', () => {
  it('round-trips the client command envelope and refuses garbage', () => {
    const c = { clientId: 7, requestSeq: 3, tsUs: 123, command: order('a') };
    expect(decodeClientCommand(encodeClientCommand(c))).toEqual(c);
    expect(decodeClientCommand(new Uint8Array([9, 9, 9]))).toBeUndefined();
  });

  it('applies each (client, request) exactly once, in order, and refuses gaps', () => {
    index = 0;
    const sm = new ShardStateMachine(config);
    expect(sm.apply(entry(1, 1, order('a'))).outcome).toBe(ApplyOutcome.APPLIED);
    expect(sm.events.count).toBeGreaterThan(0);
    // A retry of request 1 (e.g. resent to a new leader): not applied again.
    const dup = sm.apply(entry(1, 1, order('a')));
    expect(dup).toMatchObject({ outcome: ApplyOutcome.DUPLICATE, appliedIndex: 1 });
    expect(sm.events.count).toBe(0);
    // Skipping request 2 is refused: applying 3 first would make a later 2 look like a duplicate.
    expect(sm.apply(entry(1, 3, order('c'))).outcome).toBe(ApplyOutcome.SEQUENCE_GAP);
    expect(sm.apply(entry(1, 2, order('b'))).outcome).toBe(ApplyOutcome.APPLIED);
    // A new client must start at request 1.
    expect(sm.apply(entry(2, 5, order('x'))).outcome).toBe(ApplyOutcome.SEQUENCE_GAP);
    expect(sm.engine.liveOrderCount).toBe(2);
  });

  it('a malformed payload consumes its index as a command_reject on every replica', () => {
    index = 0;
    const sm = new ShardStateMachine(config);
    const r = sm.apply({ index: ++index, term: 1, type: EntryType.NORMAL, data: new Uint8Array([1, 2, 3]) });
    expect(r.outcome).toBe(ApplyOutcome.NOT_A_COMMAND);
    expect(sm.events.kind[0]).toBe(EventKind.COMMAND_REJECT);
  });

  it('snapshot/restore keeps the engine and the sessions: a retry after restore is still a duplicate', () => {
    index = 0;
    const a = new ShardStateMachine(config);
    a.apply(entry(1, 1, order('a')));
    a.apply(entry(2, 1, order('b', 4998000)));
    const b = new ShardStateMachine(config);
    b.restore(a.snapshot());
    expect(b.stateHash()).toBe(a.stateHash());
    const retry = entry(2, 1, order('b', 4998000));
    expect(b.apply(retry).outcome).toBe(ApplyOutcome.DUPLICATE);
    expect(a.apply(retry).outcome).toBe(ApplyOutcome.DUPLICATE);
    const next = entry(1, 2, order('c', 4997000));
    a.apply(next);
    b.apply(next);
    expect(b.stateHash()).toBe(a.stateHash());
  });
});
