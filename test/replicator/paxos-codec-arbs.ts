// fast-check arbitraries of what the Multi-Paxos wire codec carries (replicator/transport/
// paxos-codec.ts): messages of every type as the core builds them and snapshot chunks, with
// ballots and slots up to 2^53 − 1. Shared by paxos-codec.test.ts and the frames fuzz.

import fc from 'fast-check';
import {
  PAXOS_MESSAGE_VALUES_MAX,
  type PaxosSnapshotChunk,
  type PaxosWireItem,
} from '../../replicator/transport/paxos-codec.js';
import {
  BALLOT_ZERO,
  type Ballot,
  type PaxosMessage,
  PaxosMessageType,
  type PaxosValue,
  type SlotValue,
  ValueType,
} from '../../replicator/paxos/types.js';

const U53 = Number.MAX_SAFE_INTEGER;

/** Mostly small numbers, sometimes the edges (0, 2^32 ± 1, 2^53 − 1). */
export const u53Arb: fc.Arbitrary<number> = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 1000 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, U53 - 1, U53) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: U53 }) },
);

export const ballotArb: fc.Arbitrary<Ballot> = fc.record({ round: u53Arb, leader: u53Arb });

/** Data: empty, small, or (rarely) large. */
export const dataArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1024, max: 200_000 }), fc.integer({ min: 0, max: 255 }))
      .map(([n, b]) => new Uint8Array(n).fill(b)),
  },
);

/** A client value (with an origin, or BALLOT_ZERO: none) or a no-op (never with data). */
export const valueArb: fc.Arbitrary<PaxosValue> = fc.oneof(
  fc.record({
    type: fc.constant(ValueType.NORMAL),
    origin: fc.oneof(fc.constant(BALLOT_ZERO), ballotArb),
    data: dataArb,
  }),
  fc.record({
    type: fc.constant(ValueType.NOOP),
    origin: fc.oneof(fc.constant(BALLOT_ZERO), ballotArb),
    data: fc.constant(new Uint8Array(0)),
  }),
);

export const slotValueArb: fc.Arbitrary<SlotValue> = fc.record({ slot: u53Arb, ballot: ballotArb, value: valueArb });

const typeArb = fc.constantFrom(...Object.values(PaxosMessageType));

/** A message of any type, with the values its type carries (ACCEPT: one, of its slot and ballot). */
export function messageArb(
  from: fc.Arbitrary<number> = u53Arb,
  to: fc.Arbitrary<number> = u53Arb,
): fc.Arbitrary<PaxosMessage> {
  return fc
    .record({
      type: typeArb,
      from,
      to,
      ballot: ballotArb,
      index: u53Arb,
      slot: u53Arb,
      values: fc.array(slotValueArb, { maxLength: PAXOS_MESSAGE_VALUES_MAX }),
      accepted: valueArb,
    })
    .map(({ accepted, ...m }): PaxosMessage => {
      if (m.type === PaxosMessageType.ACCEPT)
        return { ...m, values: [{ slot: m.slot, ballot: m.ballot, value: accepted }] };
      if (m.type === PaxosMessageType.PROMISE || m.type === PaxosMessageType.LEARN) return m;
      // The recovery pair carries a nonce ≥ 1 in `slot`; a query no ballot nor index.
      if (m.type === PaxosMessageType.RECOVER_QUERY)
        return { ...m, ballot: BALLOT_ZERO, index: 0, slot: Math.max(1, m.slot), values: [] };
      if (m.type === PaxosMessageType.RECOVER_REPLY) return { ...m, slot: Math.max(1, m.slot), values: [] };
      return { ...m, values: [] };
    });
}

/** A chunk of a snapshot of `size` bytes at `offset`; done exactly on the last one. */
export function chunkArb(
  from: fc.Arbitrary<number> = u53Arb,
  to: fc.Arbitrary<number> = u53Arb,
): fc.Arbitrary<PaxosSnapshotChunk> {
  return fc
    .record({ from, to, slot: u53Arb, offset: u53Arb, data: dataArb, rest: fc.oneof(fc.constant(0), u53Arb) })
    .map(({ from, to, slot, offset, data, rest }) => {
      const start = Math.min(offset, U53 - data.byteLength);
      const size = Math.min(U53, start + data.byteLength + rest);
      return { from, to, slot, size, offset: start, done: start + data.byteLength === size, data };
    });
}

export function itemArb(from?: fc.Arbitrary<number>, to?: fc.Arbitrary<number>): fc.Arbitrary<PaxosWireItem> {
  return fc.oneof(
    { weight: 4, arbitrary: messageArb(from, to).map((message): PaxosWireItem => ({ kind: 'message', message })) },
    { weight: 1, arbitrary: chunkArb(from, to).map((chunk): PaxosWireItem => ({ kind: 'snapshotChunk', chunk })) },
  );
}

/** An item as plain data, its bytes copied out of the frame (to compare, and to outlive the buffer). */
export function plainItem(item: PaxosWireItem): PaxosWireItem {
  if (item.kind === 'snapshotChunk')
    return { kind: 'snapshotChunk', chunk: { ...item.chunk, data: new Uint8Array(item.chunk.data) } };
  const m = item.message;
  return {
    kind: 'message',
    message: {
      ...m,
      ballot: { ...m.ballot },
      values: m.values.map((sv) => ({
        slot: sv.slot,
        ballot: { ...sv.ballot },
        value: { type: sv.value.type, origin: { ...sv.value.origin }, data: new Uint8Array(sv.value.data) },
      })),
    },
  };
}

/** A stable text of an item (bytes as hex), for equality in assertions. */
export const showItem = (item: PaxosWireItem): string =>
  JSON.stringify(plainItem(item), (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
