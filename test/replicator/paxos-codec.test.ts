// The Multi-Paxos wire codec (replicator/transport/paxos-codec.ts, spec proto/paxos-frames.md):
// every item kind round-trips under fast-check, decoding does not depend on chunk boundaries,
// values are views into the frame, the limits and layouts hold, and a Raft replica and a
// Multi-Paxos replica refuse each other's HELLO with WRONG_PROTOCOL. Fuzz of malformed frames:
// test/fuzz/paxos-frames.fuzz.test.ts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PAXOS_ACCEPT_WINDOW_SLOTS, PAXOS_LEARN_SLOTS_MAX, SNAPSHOT_CHUNK_BYTES } from '../../replicator/limits.js';
import { BALLOT_ZERO, type PaxosMessage, PaxosMessageType, ValueType } from '../../replicator/paxos/types.js';
import {
  FrameDecodeError,
  FrameErrorCode,
  type FrameErrorCode as Code,
} from '../../replicator/transport/frame-codec.js';
import {
  PAXOS_MESSAGE_FIXED_BYTES,
  PAXOS_MESSAGE_VALUES_MAX,
  PAXOS_PROTOCOL_VERSION,
  PaxosFrameDecoder,
  PaxosFrameType,
  type PaxosDecodedFrame,
  type PaxosWireItem,
  SLOT_VALUE_HEADER_BYTES,
  SNAPSHOT_CHUNK_FIXED_BYTES,
  checkPaxosItem,
  encodePaxosHello,
  encodePaxosItems,
  paxosItemEncodedBytes,
  paxosItemsFrameBytes,
  snapshotChunks,
} from '../../replicator/transport/paxos-codec.js';
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  PROTOCOL_VERSION,
  encodeHello,
} from '../../replicator/transport/raft-codec.js';
import { itemArb, messageArb, plainItem, showItem } from './paxos-codec-arbs.js';

function items(frames: PaxosDecodedFrame[]): PaxosWireItem[] {
  return frames.flatMap((f) => (f.kind === 'items' ? f.items : []));
}

function errorOf(f: () => unknown): FrameDecodeError {
  try {
    f();
  } catch (e) {
    if (e instanceof FrameDecodeError) return e;
    throw e;
  }
  throw new Error('expected a FrameDecodeError');
}

const codeOf = (bytes: Uint8Array, d = new PaxosFrameDecoder()): Code => errorOf(() => d.push(bytes)).code;

function msg(type: PaxosMessage['type'], extra: Partial<PaxosMessage> = {}): PaxosMessage {
  return { type, from: 1, to: 2, ballot: { round: 3, leader: 1 }, index: 4, slot: 0, values: [], ...extra };
}

/** A frame of `type` around `payload`. */
function frame(type: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(5 + payload.byteLength);
  new DataView(b.buffer).setUint32(0, 1 + payload.byteLength, true);
  b[4] = type;
  b.set(payload, 5);
  return b;
}

describe('paxos-codec round trip', () => {
  it('every item kind, alone or batched, decodes to what was encoded; sizes are as computed', () => {
    fc.assert(
      fc.property(fc.array(itemArb(), { minLength: 1, maxLength: 6 }), (its) => {
        const bytes = encodePaxosItems(its);
        const sum = its.reduce((n, it) => n + paxosItemEncodedBytes(it), 0);
        expect(bytes.byteLength).toBe(paxosItemsFrameBytes(its.length, sum));
        const frames = new PaxosFrameDecoder().push(bytes);
        expect(frames).toHaveLength(1);
        const f = frames[0]!;
        expect(f.kind).toBe('items');
        if (f.kind !== 'items') return;
        expect(f.frameType).toBe(its.length === 1 ? PaxosFrameType.PAXOS_MESSAGE : PaxosFrameType.PAXOS_BATCH);
        expect(f.frameBytes).toBe(bytes.byteLength);
        expect(f.items.map(showItem)).toEqual(its.map(showItem));
        // Canonical: decoded items encode to the same bytes.
        expect(Buffer.from(encodePaxosItems(f.items)).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('covers every message type and both value types', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(messageArb(), (m) => {
        seen.add(`type ${m.type}`);
        for (const sv of m.values) seen.add(`value ${sv.value.type}`);
        const out = items(new PaxosFrameDecoder().push(encodePaxosItems([{ kind: 'message', message: m }])));
        expect(out.map(showItem)).toEqual([showItem({ kind: 'message', message: m })]);
      }),
      { numRuns: 400 },
    );
    for (const t of Object.values(PaxosMessageType)) expect(seen).toContain(`type ${t}`);
    expect(seen).toContain(`value ${ValueType.NORMAL}`);
    expect(seen).toContain(`value ${ValueType.NOOP}`);
  });

  it('decoding does not depend on chunk boundaries (HELLO then frames, split anywhere)', () => {
    const hello = encodePaxosHello({ protocolVersion: PAXOS_PROTOCOL_VERSION, nodeId: 7, clusterId: 'c' });
    fc.assert(
      fc.property(
        fc.array(fc.array(itemArb(), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (batches, cuts) => {
          const stream = Buffer.concat([hello, ...batches.map((b) => encodePaxosItems(b))]);
          const points = [...new Set(cuts.map((c) => c % stream.byteLength))].sort((a, b) => a - b);
          const d = new PaxosFrameDecoder();
          const frames: PaxosDecodedFrame[] = [];
          let from = 0;
          for (const p of [...points, stream.byteLength]) {
            frames.push(...d.push(stream.subarray(from, p)));
            from = p;
          }
          expect(d.bufferedBytes).toBe(0);
          expect(frames[0]).toEqual({ kind: 'hello', hello: { protocolVersion: 1, nodeId: 7, clusterId: 'c' } });
          expect(items(frames).map(showItem)).toEqual(batches.flat().map(showItem));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('value and chunk data are views into the frame, not copies', () => {
    const data = Uint8Array.of(1, 2, 3);
    const m = msg(PaxosMessageType.ACCEPT, {
      slot: 9,
      values: [
        { slot: 9, ballot: { round: 3, leader: 1 }, value: { type: ValueType.NORMAL, origin: BALLOT_ZERO, data } },
      ],
    });
    const bytes = encodePaxosItems([
      { kind: 'message', message: m },
      { kind: 'snapshotChunk', chunk: { from: 1, to: 2, slot: 9, size: 3, offset: 0, done: true, data } },
    ]);
    const [a, b] = items(new PaxosFrameDecoder().push(bytes));
    const va = a?.kind === 'message' ? a.message.values[0]!.value.data : undefined;
    const vb = b?.kind === 'snapshotChunk' ? b.chunk.data : undefined;
    expect(va?.buffer).toBe(bytes.buffer);
    expect(vb?.buffer).toBe(bytes.buffer);
    expect(Object.getPrototypeOf(va)).toBe(Uint8Array.prototype);
    expect([...(va ?? [])]).toEqual([1, 2, 3]);
  });

  it('snapshotChunks cuts a whole snapshot into chunks that cover it once, the last one done', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 1200 }), (size, chunkBytes) => {
        const data = new Uint8Array(size).map((_, i) => i & 0xff);
        const chunks = snapshotChunks(1, 2, 50, data, chunkBytes);
        expect(chunks.length).toBe(Math.max(1, Math.ceil(size / chunkBytes)));
        expect(Buffer.concat(chunks.map((c) => c.data)).equals(Buffer.from(data))).toBe(true);
        expect(chunks.map((c) => c.done)).toEqual(chunks.map((_, i) => i === chunks.length - 1));
        for (const c of chunks) {
          expect(c.data.byteLength).toBeLessThanOrEqual(chunkBytes);
          expect(() => checkPaxosItem({ kind: 'snapshotChunk', chunk: c })).not.toThrow();
        }
      }),
      { numRuns: 100 },
    );
    expect(snapshotChunks(1, 2, 3, new Uint8Array(10), SNAPSHOT_CHUNK_BYTES)).toHaveLength(1);
  });
});

describe('paxos-codec layouts and limits', () => {
  it('lays a message out as proto/paxos-frames.md says', () => {
    const m = msg(PaxosMessageType.PROMISE, {
      from: 0x0102,
      to: 2 ** 40 + 5,
      values: [
        {
          slot: 6,
          ballot: { round: 7, leader: 8 },
          value: { type: ValueType.NOOP, origin: { round: 9, leader: 10 }, data: new Uint8Array(0) },
        },
      ],
    });
    const b = encodePaxosItems([{ kind: 'message', message: m }]);
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    expect(b.byteLength).toBe(FRAME_HEADER_BYTES + PAXOS_MESSAGE_FIXED_BYTES + SLOT_VALUE_HEADER_BYTES);
    expect(v.getUint32(0, true)).toBe(b.byteLength - 4);
    expect(b[4]).toBe(16);
    expect(b[5]).toBe(PaxosMessageType.PROMISE);
    expect(v.getUint32(6, true)).toBe(0x0102); // from
    expect([v.getUint32(14, true), v.getUint32(18, true)]).toEqual([5, 2 ** 8]); // to, low then high half
    expect([v.getUint32(22, true), v.getUint32(30, true)]).toEqual([3, 1]); // ballot round, leader
    expect(v.getUint32(38, true)).toBe(4); // index
    expect(v.getUint32(54, true)).toBe(1); // value count
    const o = 5 + PAXOS_MESSAGE_FIXED_BYTES;
    expect([v.getUint32(o, true), v.getUint32(o + 8, true), v.getUint32(o + 16, true)]).toEqual([6, 7, 8]);
    expect(b[o + 24]).toBe(ValueType.NOOP);
    expect([v.getUint32(o + 25, true), v.getUint32(o + 33, true), v.getUint32(o + 41, true)]).toEqual([9, 10, 0]);
    const c = encodePaxosItems([
      {
        kind: 'snapshotChunk',
        chunk: { from: 1, to: 2, slot: 3, size: 4, offset: 0, done: true, data: new Uint8Array(4) },
      },
    ]);
    expect(c.byteLength).toBe(FRAME_HEADER_BYTES + SNAPSHOT_CHUNK_FIXED_BYTES + 4);
    expect(c[5]).toBe(9);
  });

  it('the value limit ties to the accept window and LEARN size; one over it is refused', () => {
    expect(PAXOS_MESSAGE_VALUES_MAX).toBe(Math.max(PAXOS_ACCEPT_WINDOW_SLOTS, PAXOS_LEARN_SLOTS_MAX));
    const value = {
      slot: 1,
      ballot: { round: 1, leader: 1 },
      value: { type: ValueType.NORMAL, origin: BALLOT_ZERO, data: Uint8Array.of(1) },
    };
    const learn = (n: number): Uint8Array =>
      encodePaxosItems([{ kind: 'message', message: msg(PaxosMessageType.LEARN, { values: Array(n).fill(value) }) }]);
    expect(items(new PaxosFrameDecoder().push(learn(PAXOS_MESSAGE_VALUES_MAX)))[0]).toBeDefined();
    expect(codeOf(learn(PAXOS_MESSAGE_VALUES_MAX + 1))).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    expect(items(new PaxosFrameDecoder({ valuesPerMessageMax: 40 }).push(learn(40)))).toHaveLength(1);
    expect(() =>
      checkPaxosItem({
        kind: 'message',
        message: msg(PaxosMessageType.PROMISE, { values: Array(PAXOS_MESSAGE_VALUES_MAX + 1).fill(value) }),
      }),
    ).toThrow(RangeError);
  });

  it('refuses to encode what the decoder would refuse (local bugs are RangeErrors)', () => {
    const bad: PaxosWireItem[] = [
      { kind: 'message', message: msg(PaxosMessageType.ACCEPT) }, // no value
      { kind: 'message', message: msg(9 as PaxosMessage['type']) },
      { kind: 'message', message: msg(12 as PaxosMessage['type']) },
      { kind: 'message', message: msg(PaxosMessageType.RECOVER_REPLY, { slot: 0 }) }, // nonce 0
      { kind: 'message', message: msg(PaxosMessageType.RECOVER_QUERY, { slot: 5 }) }, // with a ballot and index
      { kind: 'message', message: msg(PaxosMessageType.HEARTBEAT, { from: -1 }) },
      { kind: 'message', message: msg(PaxosMessageType.HEARTBEAT, { index: 2 ** 53 }) },
      { kind: 'message', message: msg(PaxosMessageType.NACK, { ballot: { round: 0.5, leader: 1 } }) },
      {
        kind: 'message',
        message: msg(PaxosMessageType.ACCEPTED, {
          values: [
            {
              slot: 0,
              ballot: BALLOT_ZERO,
              value: { type: ValueType.NOOP, origin: BALLOT_ZERO, data: new Uint8Array(0) },
            },
          ],
        }),
      },
      {
        kind: 'message',
        message: msg(PaxosMessageType.LEARN, {
          values: [
            {
              slot: 1,
              ballot: BALLOT_ZERO,
              value: { type: ValueType.NOOP, origin: BALLOT_ZERO, data: Uint8Array.of(1) },
            },
          ],
        }),
      },
      {
        kind: 'snapshotChunk',
        chunk: { from: 1, to: 2, slot: 3, size: 2, offset: 0, done: true, data: new Uint8Array(3) },
      },
      {
        kind: 'snapshotChunk',
        chunk: { from: 1, to: 2, slot: 3, size: 4, offset: 0, done: true, data: new Uint8Array(3) },
      },
    ];
    for (const it of bad) expect(() => encodePaxosItems([it]), JSON.stringify(it)).toThrow(RangeError);
    expect(() => encodePaxosItems([])).toThrow(RangeError);
    const hb: PaxosWireItem = { kind: 'message', message: msg(PaxosMessageType.HEARTBEAT) };
    expect(() => encodePaxosItems([hb], FRAME_HEADER_BYTES + PAXOS_MESSAGE_FIXED_BYTES - 1)).toThrow(RangeError);
    expect(
      new PaxosFrameDecoder({ frameBytesMax: FRAME_HEADER_BYTES + PAXOS_MESSAGE_FIXED_BYTES }).push(
        encodePaxosItems([hb]),
      ),
    ).toHaveLength(1);
  });

  it('refuses an ACCEPT whose value is of another slot or ballot (the core would assert)', () => {
    const sv = {
      slot: 5,
      ballot: { round: 3, leader: 1 },
      value: { type: ValueType.NORMAL, origin: BALLOT_ZERO, data: new Uint8Array(0) },
    };
    const good = encodePaxosItems([
      { kind: 'message', message: msg(PaxosMessageType.ACCEPT, { slot: 5, values: [sv] }) },
    ]);
    expect(items(new PaxosFrameDecoder().push(good))).toHaveLength(1);
    const otherSlot = good.slice();
    otherSlot[5 + PAXOS_MESSAGE_FIXED_BYTES] = 6; // value.slot
    expect(codeOf(otherSlot)).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    const otherBallot = good.slice();
    otherBallot[5 + PAXOS_MESSAGE_FIXED_BYTES + 8] = 4; // value.ballot.round
    expect(codeOf(otherBallot)).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    const noValue = encodePaxosItems([{ kind: 'message', message: msg(PaxosMessageType.HEARTBEAT) }]);
    noValue[5] = PaxosMessageType.ACCEPT;
    expect(codeOf(noValue)).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
  });

  it('RECOVER_QUERY (10) and RECOVER_REPLY (11): the nonce in `slot`, round trip; a zero nonce or a query with a ballot or index is malformed', () => {
    const query = msg(PaxosMessageType.RECOVER_QUERY, { ballot: BALLOT_ZERO, index: 0, slot: 2 ** 53 - 1 });
    const reply = msg(PaxosMessageType.RECOVER_REPLY, {
      ballot: { round: 7, leader: 2 },
      index: 41,
      slot: 2 ** 53 - 1,
    });
    for (const m of [query, reply]) {
      const bytes = encodePaxosItems([{ kind: 'message', message: m }]);
      expect(bytes.byteLength).toBe(5 + PAXOS_MESSAGE_FIXED_BYTES);
      expect(bytes[5]).toBe(m.type);
      expect(items(new PaxosFrameDecoder().push(bytes)).map(showItem)).toEqual([
        showItem({ kind: 'message', message: m }),
      ]);
      const zeroNonce = bytes.slice();
      zeroNonce.fill(0, 5 + 41, 5 + 49); // slot = nonce
      expect(codeOf(zeroNonce), `type ${m.type} nonce 0`).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    }
    const q = encodePaxosItems([{ kind: 'message', message: query }]);
    for (const at of [5 + 17, 5 + 25, 5 + 33]) {
      const p = q.slice(); // ballot.round, ballot.leader, index
      p[at] = 1;
      expect(codeOf(p), `query byte ${at}`).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    }
  });

  it('refuses malformed frames with a code', () => {
    const hb = encodePaxosItems([{ kind: 'message', message: msg(PaxosMessageType.HEARTBEAT) }]);
    const payload = hb.subarray(5);
    expect(codeOf(Uint8Array.of(0, 0, 0, 0))).toBe(FrameErrorCode.FRAME_TOO_SMALL);
    expect(codeOf(frame(18, payload))).toBe(FrameErrorCode.UNKNOWN_FRAME_TYPE);
    expect(codeOf(frame(16, payload.subarray(0, payload.byteLength - 1)))).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    expect(codeOf(frame(16, Buffer.concat([payload, Uint8Array.of(0)])))).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    expect(codeOf(frame(17, Uint8Array.of(0, 0, 0, 0)))).toBe(FrameErrorCode.MALFORMED_PAYLOAD); // empty batch
    // A count far beyond the bytes left is refused before anything is allocated for it.
    expect(codeOf(frame(17, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1)))).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    const count = hb.slice();
    new DataView(count.buffer).setUint32(5 + 49, 0xffff_ffff, true);
    expect(codeOf(count)).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    for (const [at, v] of [
      [5, 0],
      [5, 9 + 3],
      [13, 0xff],
    ] as const) {
      const p = hb.slice(); // kind 0, kind 12 (after RECOVER_REPLY), from's high half above 2^21
      p[at] = v;
      if (at === 13) p[12] = 0xff;
      expect(codeOf(p), `byte ${at} = ${v}`).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    }
    const chunk = encodePaxosItems([
      {
        kind: 'snapshotChunk',
        chunk: { from: 1, to: 2, slot: 3, size: 8, offset: 0, done: false, data: new Uint8Array(4) },
      },
    ]);
    const badDone = chunk.slice();
    badDone[5 + 41] = 2;
    expect(codeOf(badDone)).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    const doneEarly = chunk.slice();
    doneEarly[5 + 41] = 1; // done, but 4 of 8 bytes
    expect(codeOf(doneEarly)).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
    // The first-frame limit, as Raft's.
    expect(codeOf(hb, new PaxosFrameDecoder({ firstFrameBytesMax: 40 }))).toBe(FrameErrorCode.FRAME_TOO_LARGE);
  });
});

describe('paxos-codec HELLO: Raft and Multi-Paxos refuse each other', () => {
  const paxosHello = encodePaxosHello({ protocolVersion: PAXOS_PROTOCOL_VERSION, nodeId: 3, clusterId: 'shard-1' });
  const raftHello = encodeHello({ protocolVersion: PROTOCOL_VERSION, nodeId: 3, clusterId: 'shard-1' });

  it("keeps Raft's HELLO bytes (magic MBRF, version 1) and differs only in the magic", () => {
    expect(Buffer.from(raftHello).toString('hex')).toBe(
      `17000000014d4252460100030000000000000007${Buffer.from('shard-1').toString('hex')}`,
    );
    expect(Buffer.from(paxosHello.subarray(5, 9)).toString('latin1')).toBe('MBPF');
    expect(Buffer.from(paxosHello.subarray(9))).toEqual(Buffer.from(raftHello.subarray(9)));
  });

  it('a Raft HELLO to a Multi-Paxos decoder, and the reverse, is WRONG_PROTOCOL', () => {
    const e = errorOf(() => new PaxosFrameDecoder().push(raftHello));
    expect(e.code).toBe(FrameErrorCode.WRONG_PROTOCOL);
    expect(e.message).toContain('the peer speaks Raft, this replica speaks Multi-Paxos');
    const r = errorOf(() => new FrameDecoder().push(paxosHello));
    expect(r.code).toBe(FrameErrorCode.WRONG_PROTOCOL);
    expect(r.message).toContain('the peer speaks Multi-Paxos, this replica speaks Raft');
    // Each still decodes its own, and refuses a magic of neither (BAD_MAGIC) and another version.
    expect(new PaxosFrameDecoder().push(paxosHello)).toEqual([
      { kind: 'hello', hello: { protocolVersion: 1, nodeId: 3, clusterId: 'shard-1' } },
    ]);
    const neither = paxosHello.slice();
    neither[7] = 0x58; // "MBXF"
    expect(codeOf(neither)).toBe(FrameErrorCode.BAD_MAGIC);
    expect(codeOf(encodePaxosHello({ protocolVersion: 2, nodeId: 3, clusterId: 'c' }))).toBe(
      FrameErrorCode.UNSUPPORTED_VERSION,
    );
  });

  it("Raft's frame types on a Multi-Paxos stream are WRONG_PROTOCOL; Multi-Paxos frames on a Raft stream are unknown", () => {
    const hb = encodePaxosItems([{ kind: 'message', message: msg(PaxosMessageType.HEARTBEAT) }]);
    for (const t of [2, 3]) expect(codeOf(frame(t, hb.subarray(5)))).toBe(FrameErrorCode.WRONG_PROTOCOL);
    expect(errorOf(() => new FrameDecoder().push(hb)).code).toBe(FrameErrorCode.UNKNOWN_FRAME_TYPE);
  });

  it('decoded items survive as plain copies', () => {
    const it0: PaxosWireItem = { kind: 'message', message: msg(PaxosMessageType.HEARTBEAT_RESP) };
    expect(plainItem(items(new PaxosFrameDecoder().push(encodePaxosItems([it0])))[0]!)).toEqual(it0);
  });
});
