// Raft wire codec and TCP transport: codec round trips (every message type, random messages,
// arbitrary chunk splits), refusal of oversize and garbage input, and real loopback sockets
// (127.0.0.1, OS-chosen ports): exchange between three transports, reconnect, queue limits,
// backpressure, protocol violations, stop(). Waits are bounded polls for events; nothing
// asserts on timing.

import net from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { EntryType, MessageType, type Entry, type Message, type NodeId } from '../../replicator/raft/types.js';
import {
  FRAME_BYTES_MAX,
  FRAME_HEADER_BYTES,
  FrameDecodeError,
  FrameDecoder,
  FrameErrorCode,
  FrameType,
  HELLO_FRAME_BYTES_MAX,
  MESSAGE_FIXED_BYTES,
  PROTOCOL_VERSION,
  encodeHello,
  encodeMessages,
  messageEncodedBytes,
  type DecodedFrame,
} from '../../replicator/transport/raft-codec.js';
import { freePort } from '../../replicator/process-cluster.js';
import { PAXOS_PROTOCOL_VERSION, encodePaxosHello } from '../../replicator/transport/paxos-codec.js';
import {
  TcpTransport,
  type PeerAddress,
  type TransportLimits,
  type TransportLogFields,
} from '../../replicator/transport/tcp-transport.js';
import { collectLog, type LogRecord } from '../ops/collect-log.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function msg(type: MessageType, from: NodeId, to: NodeId, fields: Partial<Message> = {}): Message {
  return {
    type,
    from,
    to,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
    ...fields,
  };
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 31) & 0xff;
  return b;
}

/** Copies data into plain Uint8Arrays, so decoded subarrays of Buffers compare equal to the originals. */
function plain(m: Message): Message {
  const out: Message = { ...m, entries: m.entries.map((e) => ({ ...e, data: new Uint8Array(e.data) })) };
  if (m.snapshot !== undefined) {
    const s = m.snapshot;
    out.snapshot = {
      ...s,
      meta: { ...s.meta, conf: { voters: [...s.meta.conf.voters], learners: [...s.meta.conf.learners] } },
      data: new Uint8Array(s.data),
    };
  } else delete out.snapshot;
  return out;
}

function decodeAll(chunks: Uint8Array[], decoder = new FrameDecoder()): DecodedFrame[] {
  const frames: DecodedFrame[] = [];
  for (const c of chunks) frames.push(...decoder.push(c));
  return frames;
}

function messagesOf(frames: DecodedFrame[]): Message[] {
  const out: Message[] = [];
  for (const f of frames) if (f.kind === 'messages') out.push(...f.messages.map(plain));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function errorOf(fn: () => unknown): FrameDecodeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FrameDecodeError);
    return e as FrameDecodeError;
  }
  throw new Error('expected a FrameDecodeError');
}

/** One example of every message type, with entries and snapshot chunks where the type has them. */
function everyType(): Message[] {
  const entries: Entry[] = [
    { index: 11, term: 3, type: EntryType.NORMAL, data: bytes(100, 1) },
    { index: 12, term: 3, type: EntryType.NOOP, data: new Uint8Array(0) },
    { index: 13, term: 4, type: EntryType.CONF_CHANGE, data: bytes(9, 2) },
  ];
  const big = 2 ** 53 - 1;
  return [
    msg(MessageType.PRE_VOTE, 1, 2, { term: 5, index: 10, logTerm: 4 }),
    msg(MessageType.PRE_VOTE_RESP, 2, 1, { term: 5, reject: true }),
    msg(MessageType.VOTE, 1, 3, { term: 5, index: 10, logTerm: 4, context: 1 }),
    msg(MessageType.VOTE_RESP, 3, 1, { term: 5 }),
    msg(MessageType.APPEND, 1, 2, { term: 4, index: 10, logTerm: 3, commit: 9, entries }),
    msg(MessageType.APPEND_RESP, 2, 1, { term: 4, index: 7, reject: true, rejectHint: 6, logTerm: 2 }),
    msg(MessageType.HEARTBEAT, 1, 2, { term: 4, commit: big, context: 77 }),
    msg(MessageType.HEARTBEAT_RESP, 2, 1, { term: 4, context: 77 }),
    msg(MessageType.SNAPSHOT, 1, 2, {
      term: 4,
      snapshot: {
        meta: { index: 1000, term: 3, conf: { voters: [1, 2, 3], learners: [4] } },
        size: 5000,
        offset: 4096,
        data: bytes(904, 3),
        done: true,
      },
    }),
    msg(MessageType.SNAPSHOT, 1, 3, {
      term: 4,
      snapshot: {
        meta: { index: 1000, term: 3, conf: { voters: [], learners: [] } },
        size: 5000,
        offset: 0,
        data: new Uint8Array(0),
        done: false,
      },
    }),
    msg(MessageType.SNAPSHOT_RESP, 2, 1, { term: 4, index: 4096 }),
    msg(MessageType.TIMEOUT_NOW, 1, 2, { term: 4 }),
    msg(MessageType.READ_INDEX, 2, 1, { term: 4, context: big }),
    msg(MessageType.READ_INDEX_RESP, 1, 2, { term: 4, index: 42, context: big }),
  ];
}

const u64 = fc.maxSafeNat();
const idArb = fc.integer({ min: 0, max: 2 ** 53 - 1 });
const entryArb: fc.Arbitrary<Entry> = fc.record({
  index: u64,
  term: u64,
  type: fc.constantFrom(EntryType.NORMAL, EntryType.NOOP, EntryType.CONF_CHANGE),
  data: fc.uint8Array({ maxLength: 200 }),
});
const messageArb: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom(...Object.values(MessageType)),
    from: idArb,
    to: idArb,
    term: u64,
    logTerm: u64,
    index: u64,
    entries: fc.array(entryArb, { maxLength: 6 }),
    commit: u64,
    reject: fc.boolean(),
    rejectHint: u64,
    context: u64,
    snapshot: fc.option(
      fc.record({
        meta: fc.record({
          index: u64,
          term: u64,
          conf: fc.record({ voters: fc.array(idArb, { maxLength: 7 }), learners: fc.array(idArb, { maxLength: 3 }) }),
        }),
        size: u64,
        offset: u64,
        data: fc.uint8Array({ maxLength: 300 }),
        done: fc.boolean(),
      }),
      { nil: undefined },
    ),
  })
  .map((m) => {
    const out: Message = { ...m };
    if (m.snapshot === undefined) delete out.snapshot;
    return out;
  });

// ---------------------------------------------------------------------------------------------
// Codec

describe('raft codec', () => {
  it('round-trips every message type, alone (RAFT_MESSAGE) and batched (RAFT_BATCH)', () => {
    const all = everyType();
    for (const m of all) {
      const frame = encodeMessages([m]);
      expect(frame[4]).toBe(FrameType.RAFT_MESSAGE);
      expect(frame.byteLength).toBe(FRAME_HEADER_BYTES + messageEncodedBytes(m));
      const frames = decodeAll([frame]);
      expect(frames).toHaveLength(1);
      expect(messagesOf(frames)).toEqual([plain(m)]);
    }
    const batch = encodeMessages(all);
    expect(batch[4]).toBe(FrameType.RAFT_BATCH);
    const frames = decodeAll([batch]);
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({
      kind: 'messages',
      frameType: FrameType.RAFT_BATCH,
      frameBytes: batch.byteLength,
    });
    expect(messagesOf(frames)).toEqual(all.map(plain));
  });

  it('decodes entry and snapshot data as views into the received chunk (no copy)', () => {
    const m = everyType()[4]!;
    const frame = encodeMessages([m]);
    const [f] = new FrameDecoder().push(frame);
    if (f?.kind !== 'messages') throw new Error('expected messages');
    const data = f.messages[0]!.entries[0]!.data;
    expect(data.buffer).toBe(frame.buffer);
  });

  it('round-trips random messages and batches (fast-check), deterministically', () => {
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 8 }), (msgs) => {
        const a = encodeMessages(msgs);
        const b = encodeMessages(msgs);
        expect(Buffer.compare(a, b)).toBe(0); // every byte written (allocUnsafe is safe)
        expect(messagesOf(decodeAll([a]))).toEqual(msgs.map(plain));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes a stream split at arbitrary points, with several frames per chunk', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(messageArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (batches, cutSeeds) => {
          const hello = encodeHello({ protocolVersion: PROTOCOL_VERSION, nodeId: 7, clusterId: 'c-1' });
          const stream = concat([hello, ...batches.map((b) => encodeMessages(b))]);
          const cuts = [...new Set(cutSeeds.map((c) => c % (stream.byteLength + 1)))].sort((x, y) => x - y);
          const chunks: Uint8Array[] = [];
          let prev = 0;
          for (const c of [...cuts, stream.byteLength]) {
            chunks.push(stream.slice(prev, c)); // slice: each chunk its own buffer, like socket reads
            prev = c;
          }
          const decoder = new FrameDecoder({ firstFrameBytesMax: HELLO_FRAME_BYTES_MAX });
          const frames = decodeAll(chunks, decoder);
          expect(frames[0]).toEqual({
            kind: 'hello',
            hello: { protocolVersion: PROTOCOL_VERSION, nodeId: 7, clusterId: 'c-1' },
          });
          expect(frames).toHaveLength(1 + batches.length);
          expect(messagesOf(frames)).toEqual(batches.flat().map(plain));
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('decodes one byte at a time', () => {
    const all = everyType();
    const stream = concat([encodeMessages(all.slice(0, 5)), encodeMessages([all[8]!]), encodeMessages(all.slice(5))]);
    const chunks = Array.from(stream, (b) => Uint8Array.of(b));
    expect(messagesOf(decodeAll(chunks))).toEqual(all.slice(0, 5).concat([all[8]!], all.slice(5)).map(plain));
  });

  it('refuses an oversize frame as soon as its length arrives, and stays failed', () => {
    const d = new FrameDecoder();
    const header = new Uint8Array(8);
    new DataView(header.buffer).setUint32(0, FRAME_BYTES_MAX - 3, true); // frame = 4 + length = MAX + 1
    const e = errorOf(() => d.push(header.subarray(0, 4)));
    expect(e.code).toBe(FrameErrorCode.FRAME_TOO_LARGE);
    expect(errorOf(() => d.push(new Uint8Array(1)))).toBe(e);
    expect(d.error).toBe(e);
    // The first-frame limit.
    const small = new FrameDecoder({ firstFrameBytesMax: HELLO_FRAME_BYTES_MAX });
    expect(
      errorOf(() =>
        small.push(
          encodeMessages([
            msg(MessageType.APPEND, 1, 2, { entries: [{ index: 1, term: 1, type: 1, data: bytes(600, 0) }] }),
          ]),
        ),
      ).code,
    ).toBe(FrameErrorCode.FRAME_TOO_LARGE);
    // Exactly at the limit is fine.
    const m = msg(MessageType.HEARTBEAT, 1, 2);
    expect(
      new FrameDecoder({ frameBytesMax: FRAME_HEADER_BYTES + MESSAGE_FIXED_BYTES }).push(encodeMessages([m])),
    ).toHaveLength(1);
    expect(() => encodeMessages([m], FRAME_HEADER_BYTES + MESSAGE_FIXED_BYTES - 1)).toThrow(RangeError);
  });

  it('refuses malformed payloads with a typed error', () => {
    const frame = (type: number, payload: Uint8Array): Uint8Array => {
      const b = new Uint8Array(5 + payload.byteLength);
      new DataView(b.buffer).setUint32(0, 1 + payload.byteLength, true);
      b[4] = type;
      b.set(payload, 5);
      return b;
    };
    const good = encodeMessages([everyType()[4]!]).slice(5); // an APPEND payload
    const code = (f: Uint8Array): FrameErrorCode => errorOf(() => new FrameDecoder().push(f)).code;
    expect(code(Uint8Array.of(0, 0, 0, 0))).toBe(FrameErrorCode.FRAME_TOO_SMALL);
    expect(code(frame(9, good))).toBe(FrameErrorCode.UNKNOWN_FRAME_TYPE);
    expect(code(frame(FrameType.RAFT_MESSAGE, good.subarray(0, good.byteLength - 1)))).toBe(
      FrameErrorCode.MALFORMED_PAYLOAD,
    ); // truncated
    expect(code(frame(FrameType.RAFT_MESSAGE, concat([good, Uint8Array.of(0)])))).toBe(
      FrameErrorCode.MALFORMED_PAYLOAD,
    ); // trailing byte
    const mutate = (at: number, v: number): Uint8Array => {
      const p = good.slice();
      p[at] = v;
      return frame(FrameType.RAFT_MESSAGE, p);
    };
    expect(code(mutate(0, 0))).toBe(FrameErrorCode.MALFORMED_PAYLOAD); // message type 0
    expect(code(mutate(0, 14))).toBe(FrameErrorCode.MALFORMED_PAYLOAD); // message type 14
    expect(code(mutate(1, 4))).toBe(FrameErrorCode.MALFORMED_PAYLOAD); // unknown flag
    expect(code(mutate(25, 0x20))).toBe(FrameErrorCode.MALFORMED_PAYLOAD); // term (offset 18): high half ≥ 2^21
    expect(code(mutate(MESSAGE_FIXED_BYTES + 16, 4))).toBe(FrameErrorCode.MALFORMED_PAYLOAD); // first entry's type 4
    expect(code(mutate(MESSAGE_FIXED_BYTES + 20, 0x10))).toBe(FrameErrorCode.MALFORMED_PAYLOAD); // first entry's data length past the end
    expect(code(mutate(69, 0xff))).toBe(FrameErrorCode.MALFORMED_PAYLOAD); // 2^24+ entries cannot fit
    expect(code(frame(FrameType.RAFT_BATCH, Uint8Array.of(0, 0, 0, 0)))).toBe(FrameErrorCode.MALFORMED_PAYLOAD); // empty batch
    expect(code(frame(FrameType.RAFT_BATCH, Uint8Array.of(0xff, 0xff, 0xff, 0xff)))).toBe(
      FrameErrorCode.MALFORMED_PAYLOAD,
    );
    const hello = encodeHello({ protocolVersion: PROTOCOL_VERSION, nodeId: 1, clusterId: 'x' });
    const badMagic = hello.slice();
    badMagic[5] = 0;
    expect(code(badMagic)).toBe(FrameErrorCode.BAD_MAGIC);
    expect(code(encodeHello({ protocolVersion: PROTOCOL_VERSION + 1, nodeId: 1, clusterId: 'x' }))).toBe(
      FrameErrorCode.UNSUPPORTED_VERSION,
    );
    const badUtf8 = hello.slice();
    badUtf8[20] = 0xff;
    expect(code(badUtf8)).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
  });

  it('never throws anything but FrameDecodeError on garbage or corrupted frames (fast-check)', () => {
    const check = (chunks: Uint8Array[]): void => {
      const d = new FrameDecoder({ frameBytesMax: 1 << 20 });
      try {
        for (const c of chunks) d.push(c);
      } catch (e) {
        expect(e).toBeInstanceOf(FrameDecodeError);
      }
    };
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }), check), { numRuns: 500 });
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (msgs, flips) => {
          const f = encodeMessages(msgs).slice();
          for (const [at, v] of flips) f[at % f.byteLength] = v;
          check([f]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses to encode what the format cannot carry', () => {
    expect(() => encodeMessages([])).toThrow(RangeError);
    expect(() => encodeMessages([msg(MessageType.APPEND, 1, 2, { term: -1 })])).toThrow(RangeError);
    expect(() => encodeMessages([msg(MessageType.APPEND, 1, 2, { index: 2 ** 53 })])).toThrow(RangeError);
    expect(() => encodeMessages([msg(99 as MessageType, 1, 2)])).toThrow(RangeError);
    expect(() => encodeHello({ protocolVersion: 1, nodeId: 1, clusterId: 'x'.repeat(256) })).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// TCP transport over loopback

const HOST = '127.0.0.1';
const FAST: Partial<TransportLimits> = { reconnectDelayMsMin: 10, reconnectDelayMsMax: 100, connectionStableMs: 50 };

interface Node {
  t: TcpTransport;
  received: Message[];
  logs: LogRecord<TransportLogFields>[];
}

const open: TcpTransport[] = [];
const rawServers: net.Server[] = [];
const rawSockets: net.Socket[] = [];

afterEach(async () => {
  await Promise.all(
    rawSockets.splice(0).map((s) => {
      const closed = s.closed ? Promise.resolve() : new Promise<void>((r) => s.once('close', () => r()));
      s.destroy();
      return closed;
    }),
  );
  await Promise.all(open.splice(0).map((t) => t.stop()));
  await Promise.all(rawServers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

function node(
  selfId: NodeId,
  opts: { clusterId?: string; port?: number; limits?: Partial<TransportLimits>; peers?: Map<NodeId, PeerAddress> } = {},
): Node {
  const received: Message[] = [];
  const logs: LogRecord<TransportLogFields>[] = [];
  const t = new TcpTransport({
    selfId,
    clusterId: opts.clusterId ?? 'test-cluster',
    listen: { host: HOST, port: opts.port ?? 0 },
    peers: opts.peers ?? new Map(),
    onMessages: (msgs) => received.push(...msgs),
    limits: { ...FAST, ...opts.limits },
    random: () => 0.5,
    log: collectLog(logs),
  });
  open.push(t);
  return { t, received, logs };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const stepMs = 5;
  for (let i = 0; i * stepMs < timeoutMs; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function appendMsg(from: NodeId, to: NodeId, i: number, dataBytes = 100): Message {
  return msg(MessageType.APPEND, from, to, {
    term: 1,
    index: i,
    logTerm: 1,
    commit: i,
    entries: [{ index: i + 1, term: 1, type: EntryType.NORMAL, data: bytes(dataBytes, i) }],
  });
}

/** A raw client socket to a transport, for speaking bad protocol. Resolves once connected. */
async function rawClient(port: number): Promise<{ s: net.Socket; closed: Promise<void> }> {
  const s = net.connect({ host: HOST, port });
  rawSockets.push(s);
  s.on('error', () => undefined);
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  await new Promise<void>((r, j) => {
    s.once('connect', () => r());
    s.once('error', j);
  });
  return { s, closed };
}

function hello(nodeId: NodeId, clusterId = 'test-cluster', protocolVersion = PROTOCOL_VERSION): Uint8Array {
  return encodeHello({ protocolVersion, nodeId, clusterId });
}

describe('TcpTransport', () => {
  it('three transports exchange messages, in order per sender, coalesced into batches', async () => {
    const ids = [1, 2, 3];
    const nodes = ids.map((id) => node(id));
    await Promise.all(nodes.map((n) => n.t.start()));
    for (const a of nodes)
      for (const b of nodes) if (a !== b) a.t.setPeer(ids[nodes.indexOf(b)]!, { host: HOST, port: b.t.port });
    const perPair = 300;
    for (let round = 0; round < 3; round++) {
      for (const [ai, a] of nodes.entries()) {
        const out: Message[] = [];
        for (const [bi] of nodes.entries()) {
          if (bi === ai) continue;
          for (let i = 0; i < perPair / 3; i++) out.push(appendMsg(ids[ai]!, ids[bi]!, round * 1000 + i));
        }
        a.t.send(out);
      }
    }
    await waitFor('all messages', () => nodes.every((n) => n.received.length === 2 * perPair));
    for (const [bi, b] of nodes.entries()) {
      for (const [ai] of nodes.entries()) {
        if (ai === bi) continue;
        const got = b.received.filter((m) => m.from === ids[ai]).map((m) => m.index);
        const want = [0, 1, 2].flatMap((round) => Array.from({ length: perPair / 3 }, (_, i) => round * 1000 + i));
        expect(got).toEqual(want);
      }
      expect(b.received.every((m) => m.to === ids[bi] && m.entries[0]!.data.byteLength === 100)).toBe(true);
    }
    expect(nodes[0]!.received.find((m) => m.from === 2 && m.index === 5)!.entries[0]!.data).toEqual(bytes(100, 5));
    const s = nodes[0]!.t.stats();
    expect(s.messagesSent).toBe(2 * perPair);
    expect(s.messagesReceived).toBe(2 * perPair);
    expect(s.framesSent).toBeLessThan(s.messagesSent); // coalesced
    expect(s.droppedMessages).toBe(0);
    expect(s.peers[2]).toMatchObject({
      connected: true,
      messagesSent: perPair,
      messagesReceived: perPair,
      connects: 1,
    });
    expect(s.inboundConnections).toBe(2);
  });

  it('reaches a peer that is down at first, once it starts (reconnect with backoff)', async () => {
    const port = await freePort();
    const a = node(1, { peers: new Map([[2, { host: HOST, port }]]) });
    await a.t.start();
    a.t.send([appendMsg(1, 2, 1), appendMsg(1, 2, 2)]);
    await waitFor('failed dials', () => a.t.stats().peers[2]!.reconnects >= 3);
    expect(a.t.stats().peers[2]).toMatchObject({ connected: false, queuedMessages: 2 });
    // A peer that is down is connection churn: logged at debug, not warn.
    expect(
      a.logs.some(
        (e) =>
          e.event === 'outbound_closed' &&
          e.reason === 'SOCKET_ERROR' &&
          e.detail === 'ECONNREFUSED' &&
          e.level === 'debug',
      ),
    ).toBe(true);
    const b = node(2, { port });
    await b.t.start();
    await waitFor('delivery after reconnect', () => b.received.length === 2);
    expect(b.received.map((m) => m.index)).toEqual([1, 2]);
    expect(a.t.stats().peers[2]).toMatchObject({ connected: true, queuedMessages: 0, connects: 1 });
    // The peer restarts: the sender notices, reconnects and delivers again.
    await b.t.stop();
    const b2 = node(2, { port });
    await b2.t.start();
    await waitFor('second connection', () => a.t.stats().peers[2]!.connects === 2);
    a.t.send([appendMsg(1, 2, 3)]);
    await waitFor('delivery to the restarted peer', () => b2.received.length === 1);
  });

  it('a peer that dials us ends our reconnect backoff to it at once (no one-way link after a restart)', async () => {
    const port = await freePort();
    // Backoff long enough that only the early redial can connect within the wait below.
    const a = node(1, {
      peers: new Map([[2, { host: HOST, port }]]),
      limits: { reconnectDelayMsMin: 20_000, reconnectDelayMsMax: 60_000 },
    });
    await a.t.start();
    a.t.send([appendMsg(1, 2, 1)]);
    await waitFor('a failed dial, then backoff', () => a.t.stats().peers[2]!.reconnects >= 1);
    const b = node(2, { port, peers: new Map([[1, { host: HOST, port: a.t.port }]]) });
    await b.t.start(); // dials a: its HELLO tells a that b is up
    await waitFor('a redials b on its HELLO, long before the backoff ends', () => b.received.length === 1, 3_000);
    expect(a.t.stats().peers[2]).toMatchObject({ connected: true, queuedMessages: 0, connects: 1, reconnects: 1 });
  });

  it('drops and counts the newest messages when a peer queue is full (unreachable peer)', async () => {
    const port = await freePort();
    const size = messageEncodedBytes(appendMsg(1, 2, 0));
    const a = node(1, {
      peers: new Map([[2, { host: HOST, port }]]),
      limits: { peerQueueMessagesMax: 10, peerQueueBytesMax: 1 << 20 },
    });
    await a.t.start();
    a.t.send(Array.from({ length: 25 }, (_, i) => appendMsg(1, 2, i)));
    a.t.send([appendMsg(1, 99, 0)]); // not a peer
    let s = a.t.stats();
    expect(s.peers[2]).toMatchObject({
      queuedMessages: 10,
      queuedBytes: 10 * size,
      droppedMessages: 15,
      droppedBytes: 15 * size,
    });
    expect(s.droppedMessages).toBe(15);
    expect(s.droppedUnknownPeer).toBe(1);
    expect(a.logs.filter((e) => e.event === 'queue_full').map((e) => e.level)).toEqual(['warn']); // once per episode, not per message
    // The byte limit, on another peer.
    const b = node(4, { peers: new Map([[2, { host: HOST, port }]]), limits: { peerQueueBytesMax: 3 * size } });
    await b.t.start();
    b.t.send(Array.from({ length: 5 }, (_, i) => appendMsg(4, 2, i)));
    expect(b.t.stats().peers[2]).toMatchObject({ queuedMessages: 3, droppedMessages: 2 });
    // A message larger than a frame is refused alone.
    const c = node(5, { peers: new Map([[2, { host: HOST, port }]]), limits: { frameBytesMax: 4096 } });
    c.t.send([appendMsg(5, 2, 0, 5000), appendMsg(5, 2, 1)]);
    s = c.t.stats();
    expect(s.droppedTooLarge).toBe(1);
    expect(s.peers[2]!.queuedMessages).toBe(1);
    // The queued ones are those sent first (the newest were dropped).
    const d = node(2, { port });
    await d.t.start();
    await waitFor('queued prefix delivered', () => d.received.filter((m) => m.from === 1).length === 10);
    expect(d.received.filter((m) => m.from === 1).map((m) => m.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('stops writing while write() returns false, resumes on drain, and closes a stalled connection', async () => {
    // A peer that accepts and does not read.
    let received = 0;
    const conns: net.Socket[] = [];
    const server = net.createServer((s) => {
      conns.push(s);
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => (received += d.byteLength));
      s.pause();
    });
    rawServers.push(server);
    await new Promise<void>((r) => server.listen(0, HOST, () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const big = { peerQueueBytesMax: 256 * 1024 * 1024 };
    const a = node(1, {
      peers: new Map([[2, { host: HOST, port }]]),
      limits: { ...big, batchBytesMax: 64 * 1024, writeStallMsMax: 60_000 },
    });
    await a.t.start();
    await waitFor('connected', () => a.t.stats().peers[2]!.connected);
    // How much the loopback socket buffers hold depends on the machine (tcp_wmem/tcp_rmem
    // autotuning, often up to 32 MiB), so send 16 MiB bursts until the socket pushes back.
    const BURST_MESSAGES = 4_000;
    const payload = bytes(4096, 0);
    let total = 0;
    const burstUntil = async (from: NodeId, t: TcpTransport, what: string, cond: () => boolean): Promise<void> => {
      for (let round = 0; !cond(); round++) {
        if (round === 32) throw new Error(`no ${what} after ${(total * 4) / 1024} MiB`);
        for (let i = 0; i < BURST_MESSAGES; i += 500) {
          t.send(
            Array.from({ length: 500 }, (_, j) =>
              msg(MessageType.APPEND, from, 2, {
                index: total + i + j,
                entries: [{ index: total + i + j + 1, term: 1, type: EntryType.NORMAL, data: payload }],
              }),
            ),
          );
        }
        total += BURST_MESSAGES;
        await waitFor(what, cond, 2_000).catch(() => undefined);
      }
    };
    await burstUntil(1, a.t, 'backpressure', () => a.t.stats().peers[2]!.backpressureWaits >= 1);
    await new Promise((r) => setTimeout(r, 50));
    const blocked = a.t.stats().peers[2]!;
    expect(blocked.queuedMessages).toBeGreaterThan(0); // held in our queue, not in Node's socket buffer
    expect(blocked.messagesSent + blocked.queuedMessages).toBe(total);
    for (const s of conns) s.resume();
    await waitFor(
      'queue drained',
      () => a.t.stats().peers[2]!.queuedMessages === 0 && received === a.t.stats().peers[2]!.bytesSent,
      30_000,
    );
    expect(a.t.stats().peers[2]).toMatchObject({ messagesSent: total, droppedMessages: 0 });

    // Stall: the reader stops for good; the sender gives up on the connection and redials.
    const b = node(3, { peers: new Map([[2, { host: HOST, port }]]), limits: { ...big, writeStallMsMax: 200 } });
    await b.t.start();
    await waitFor('connected', () => b.t.stats().peers[2]!.connected);
    // (the server pauses every connection it accepts, and this time nobody resumes them)
    await burstUntil(3, b.t, 'write stall', () => b.logs.some((e) => e.reason === 'WRITE_STALLED'));
    await waitFor('redialled', () => b.t.stats().peers[2]!.connects >= 2);
    for (const s of conns) s.destroy();
  });

  it('closes connections that send garbage, oversize frames or break the protocol, and keeps serving', async () => {
    // The default HELLO timeout (5 s) here, so that a stalled machine cannot turn a case below
    // into HELLO_TIMEOUT; that one is checked on its own transport with a short timeout.
    const b = node(2, { limits: { frameBytesMax: 1 << 20 } });
    await b.t.start();
    const port = b.t.port;
    const reasons = (): (string | undefined)[] =>
      b.logs.filter((e) => e.event === 'inbound_closed').map((e) => e.reason);
    const expectClosedWith = async (reason: string, write: (s: net.Socket) => void): Promise<void> => {
      const { s, closed } = await rawClient(port);
      write(s);
      await closed;
      await waitFor(`log ${reason}`, () => reasons().includes(reason));
    };
    await expectClosedWith(FrameErrorCode.FRAME_TOO_LARGE, (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')); // "GET " as a length
    await expectClosedWith(FrameErrorCode.UNKNOWN_FRAME_TYPE, (s) => s.write(Uint8Array.of(1, 0, 0, 0, 77)));
    await expectClosedWith(FrameErrorCode.BAD_MAGIC, (s) =>
      s.write(Uint8Array.of(16, 0, 0, 0, 1, ...new Uint8Array(15))),
    );
    // A Multi-Paxos replica dialling a Raft one: refused with the protocol named, not as garbage.
    await expectClosedWith(FrameErrorCode.WRONG_PROTOCOL, (s) =>
      s.write(encodePaxosHello({ protocolVersion: PAXOS_PROTOCOL_VERSION, nodeId: 1, clusterId: 'test-cluster' })),
    );
    await expectClosedWith('HELLO_EXPECTED', (s) => s.write(encodeMessages([appendMsg(1, 2, 0)])));
    await expectClosedWith('WRONG_CLUSTER', (s) => s.write(hello(1, 'other-cluster')));
    await expectClosedWith(FrameErrorCode.UNSUPPORTED_VERSION, (s) =>
      s.write(hello(1, 'test-cluster', PROTOCOL_VERSION + 1)),
    );
    await expectClosedWith('BAD_NODE_ID', (s) => s.write(hello(2)));
    await expectClosedWith('UNEXPECTED_HELLO', (s) => s.write(concat([hello(1), hello(1)])));
    await expectClosedWith('SENDER_MISMATCH', (s) => s.write(concat([hello(1), encodeMessages([appendMsg(3, 2, 0)])])));
    await expectClosedWith('SENDER_MISMATCH', (s) => s.write(concat([hello(1), encodeMessages([appendMsg(1, 5, 0)])])));
    // Oversize after HELLO: refused from the 4 length bytes alone.
    await expectClosedWith(FrameErrorCode.FRAME_TOO_LARGE, (s) => {
      const h = new Uint8Array(4);
      new DataView(h.buffer).setUint32(0, (1 << 20) - 3, true);
      s.write(concat([hello(1), h]));
    });
    await expectClosedWith(FrameErrorCode.MALFORMED_PAYLOAD, (s) => {
      const f = encodeMessages([appendMsg(1, 2, 0)]).slice();
      f[5] = 0; // message type 0
      s.write(concat([hello(1), f]));
    });
    expect(b.received).toHaveLength(0); // nothing from a bad connection was delivered
    expect(b.t.stats()).toMatchObject({ inboundRefused: 13, inboundConnections: 0 });
    expect(reasons()).not.toContain('HELLO_TIMEOUT');
    // A connection that never says HELLO is closed after helloTimeoutMs.
    const quiet = node(3, { limits: { helloTimeoutMs: 200 } });
    await quiet.t.start();
    const silent = await rawClient(quiet.t.port);
    await silent.closed;
    await waitFor('log HELLO_TIMEOUT', () =>
      quiet.logs.some((e) => e.event === 'inbound_closed' && e.reason === 'HELLO_TIMEOUT'),
    );
    expect(quiet.t.stats()).toMatchObject({ inboundRefused: 1, inboundConnections: 0 });
    await quiet.t.stop();
    // The transport still works for well-behaved peers.
    const a = node(1, { peers: new Map([[2, { host: HOST, port }]]) });
    await a.t.start();
    a.t.send([appendMsg(1, 2, 7)]);
    await waitFor('delivery after the abuse', () => b.received.length === 1);
    expect(b.received[0]!.index).toBe(7);
  });

  it('a transport of another cluster never gets its messages delivered', async () => {
    const b = node(2);
    await b.t.start();
    const a = node(1, { clusterId: 'other', peers: new Map([[2, { host: HOST, port: b.t.port }]]) });
    await a.t.start();
    a.t.send([appendMsg(1, 2, 1)]);
    await waitFor('refusals', () => b.logs.filter((e) => e.reason === 'WRONG_CLUSTER').length >= 2);
    await waitFor('sender backs off and redials', () => a.t.stats().peers[2]!.reconnects >= 2);
    expect(b.received).toHaveLength(0);
  });

  it('limits inbound connections', async () => {
    const b = node(2, { limits: { inboundConnectionsMax: 2 } });
    await b.t.start();
    await rawClient(b.t.port);
    await rawClient(b.t.port);
    const third = await rawClient(b.t.port);
    await third.closed;
    await waitFor('refusal logged', () =>
      b.logs.some((e) => e.reason === 'INBOUND_LIMIT' && e.level === 'warn' && e.inbound === 2),
    );
    expect(b.t.stats().inboundConnections).toBe(2);
  });

  it('a reconnecting peer replaces its previous inbound connection', async () => {
    const b = node(2);
    await b.t.start();
    const first = await rawClient(b.t.port);
    first.s.write(hello(1));
    await waitFor('identified', () => b.t.stats().inboundConnections === 1);
    const second = await rawClient(b.t.port);
    second.s.write(concat([hello(1), encodeMessages([appendMsg(1, 2, 9)])]));
    await first.closed;
    await waitFor('delivered on the new connection', () => b.received.length === 1);
    expect(b.logs.some((e) => e.reason === 'REPLACED' && e.level === 'debug')).toBe(true);
    expect(b.t.stats().inboundConnections).toBe(1);
  });

  it('stop() closes the server, every connection and timer (no open handles)', async () => {
    const kinds = (): Record<string, number> => {
      const c: Record<string, number> = {};
      for (const k of process.getActiveResourcesInfo())
        if (k === 'TCPSocketWrap' || k === 'TCPServerWrap' || k === 'Timeout') c[k] = (c[k] ?? 0) + 1;
      return c;
    };
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); // closed handles are released a loop turn later
    };
    await settle();
    const before = kinds();
    const down = await freePort();
    const nodes = [node(1), node(2), node(3)];
    await Promise.all(nodes.map((n) => n.t.start()));
    for (const [i, a] of nodes.entries()) {
      for (const [j, b] of nodes.entries()) if (i !== j) a.t.setPeer(j + 1, { host: HOST, port: b.t.port });
      a.t.setPeer(9, { host: HOST, port: down }); // in backoff: a pending reconnect timer
    }
    const pending = await rawClient(nodes[0]!.t.port); // unidentified: a pending HELLO timer
    for (const [i, a] of nodes.entries()) a.t.send([appendMsg(i + 1, ((i + 1) % 3) + 1, 0), appendMsg(i + 1, 9, 0)]);
    await waitFor('delivery', () => nodes.every((n) => n.received.length === 1));
    await waitFor('backoff', () => nodes.every((n) => n.t.stats().peers[9]!.reconnects >= 1));
    expect(kinds()).not.toEqual(before);
    const ports = nodes.map((n) => n.t.port);
    await Promise.all(nodes.map((n) => n.t.stop()));
    await pending.closed;
    await nodes[0]!.t.stop(); // idempotent
    pending.s.destroy();
    await settle();
    expect(kinds()).toEqual(before);
    for (const n of nodes) expect(n.t.stats()).toMatchObject({ inboundConnections: 0 });
    for (const n of nodes)
      for (const p of Object.values(n.t.stats().peers))
        expect(p).toMatchObject({ connected: false, queuedMessages: 0 });
    // The ports no longer accept.
    for (const port of ports) {
      const s = net.connect({ host: HOST, port });
      const err = await new Promise<NodeJS.ErrnoException>((r) => s.once('error', r));
      expect(err.code).toBe('ECONNREFUSED');
      s.destroy();
    }
    // send() after stop is a no-op.
    nodes[0]!.t.send([appendMsg(1, 2, 1)]);
    expect(nodes[0]!.t.stats().peers[2]!.queuedMessages).toBe(0);
  });
});
