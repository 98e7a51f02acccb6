// Fuzz of the replica↔replica TCP transport (replicator/transport/): the frame decoder and the
// HELLO handshake. Streams of a HELLO (valid, or mutated: magic, version, node id, cluster id,
// lengths) and RAFT_MESSAGE / RAFT_BATCH frames of random messages (valid, or byte-mutated),
// plus trailing garbage, cut into random chunks and written to a real TcpTransport over
// loopback, one connection at a time.
//
// The expected outcome comes from a reference: the same bytes through a FrameDecoder one byte
// at a time, then the documented connection rules (HELLO first, once; the receiver's cluster;
// a node id that is neither 0 nor the receiver's; every message from the HELLO's node to the
// receiver). Asserted per stream: what the transport delivered is a prefix of the reference's
// messages (all of them when the stream breaks no rule); a stream that breaks a rule is closed
// and logged with the reason of one of its violations; a stream that breaks none stays open.
// After every batch: no inbound connection is left behind, a real peer's messages still arrive,
// heapUsed does not keep growing. Also, without sockets: any byte string decodes the same
// whatever the chunking, and every accepted message re-encodes to the same message.
//
// Reproduce a failure: FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/fuzz/raft-frames.fuzz.test.ts
// (seed and path are printed by fast-check); FUZZ_RUNS_SCALE=10 for a longer run.

import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EntryType, MessageType, type Message, type NodeId } from '../../replicator/raft/types.js';
import {
  FrameDecodeError,
  FrameDecoder,
  HELLO_FRAME_BYTES_MAX,
  PROTOCOL_VERSION,
  encodeHello,
  encodeMessages,
  type DecodedFrame,
} from '../../replicator/transport/raft-codec.js';
import { TcpTransport, type TransportLogFields } from '../../replicator/transport/tcp-transport.js';
import { NO_LOG } from '../../ops/log.js';
import { collectLog, type LogRecord } from '../ops/collect-log.js';
import { HeapWatch, concatBytes, fcParams, mutationsArb, mutate, splitAt, waitFor } from './harness.js';

const CLUSTER = 'fuzz-cluster';
const SELF: NodeId = 2;
const FRAME_MAX = 1 << 20;
const heap = new HeapWatch();

let receiver: TcpTransport;
let peer: TcpTransport;
const received: Message[] = [];
const logs: LogRecord<TransportLogFields>[] = [];
let peerIndex = 0;

beforeAll(async () => {
  receiver = new TcpTransport({
    selfId: SELF,
    clusterId: CLUSTER,
    listen: { host: '127.0.0.1', port: 0 },
    peers: new Map(),
    onMessages: (msgs) => received.push(...msgs.map(plain)),
    limits: { frameBytesMax: FRAME_MAX, helloTimeoutMs: 60_000, inboundConnectionsMax: 256 },
    random: () => 0.5,
    log: collectLog(logs, 100_000),
  });
  await receiver.start();
  peer = new TcpTransport({
    selfId: 1,
    clusterId: CLUSTER,
    listen: { host: '127.0.0.1', port: 0 },
    peers: new Map([[SELF, { host: '127.0.0.1', port: receiver.port }]]),
    onMessages: () => undefined,
    limits: { reconnectDelayMsMin: 5, reconnectDelayMsMax: 50, connectionStableMs: 10 },
    random: () => 0.5,
    log: NO_LOG,
  });
  await peer.start();
});

afterAll(async () => {
  await peer?.stop();
  await receiver?.stop();
});

/** A message as plain data (entry and snapshot data copied out of the receive buffers). */
function plain(m: Message): Message {
  const out: Message = { ...m, entries: m.entries.map((e) => ({ ...e, data: new Uint8Array(e.data) })) };
  if (m.snapshot !== undefined)
    out.snapshot = {
      ...m.snapshot,
      meta: {
        ...m.snapshot.meta,
        conf: { voters: [...m.snapshot.meta.conf.voters], learners: [...m.snapshot.meta.conf.learners] },
      },
      data: new Uint8Array(m.snapshot.data),
    };
  else delete out.snapshot;
  return out;
}

const show = (m: Message): string =>
  JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));

// ---------------------------------------------------------------------------------------------
// The reference: decode byte by byte, then the connection rules

interface Expected {
  messages: Message[];
  /** Close reasons the transport may log: the first rule broken in stream order, and the decode error if there is one (a chunk is decoded whole before its frames are checked). */
  reasons: Set<string>;
}

function reference(bytes: Uint8Array): Expected {
  const d = new FrameDecoder({ frameBytesMax: FRAME_MAX, firstFrameBytesMax: HELLO_FRAME_BYTES_MAX });
  const frames: DecodedFrame[] = [];
  let decodeError: string | undefined;
  for (let i = 0; i < bytes.byteLength && decodeError === undefined; i++) {
    try {
      frames.push(...d.push(bytes.subarray(i, i + 1)));
    } catch (e) {
      if (!(e instanceof FrameDecodeError)) throw e;
      decodeError = e.code;
    }
  }
  const messages: Message[] = [];
  let peerId: number | null = null;
  let rule: string | undefined;
  for (const f of frames) {
    if (f.kind === 'hello') {
      if (peerId !== null) rule = 'UNEXPECTED_HELLO';
      else if (f.hello.clusterId !== CLUSTER) rule = 'WRONG_CLUSTER';
      else if (f.hello.nodeId === SELF || f.hello.nodeId <= 0) rule = 'BAD_NODE_ID';
      else peerId = f.hello.nodeId;
    } else if (peerId === null) rule = 'HELLO_EXPECTED';
    else if (f.messages.some((m) => m.from !== peerId || m.to !== SELF)) rule = 'SENDER_MISMATCH';
    else messages.push(...f.messages.map(plain));
    if (rule !== undefined) break;
  }
  const reasons = new Set<string>();
  if (rule !== undefined) reasons.add(rule);
  if (decodeError !== undefined) reasons.add(decodeError);
  return { messages, reasons };
}

// ---------------------------------------------------------------------------------------------
// Inputs

const u64 = fc.oneof(fc.nat({ max: 1_000 }), fc.maxSafeNat());
const messageArb = (from: number, to: number): fc.Arbitrary<Message> =>
  fc
    .record({
      type: fc.constantFrom(...Object.values(MessageType)),
      term: u64,
      logTerm: u64,
      index: u64,
      commit: u64,
      reject: fc.boolean(),
      rejectHint: u64,
      context: u64,
      entries: fc.array(
        fc.record({
          index: u64,
          term: u64,
          type: fc.constantFrom(EntryType.NORMAL, EntryType.NOOP, EntryType.CONF_CHANGE),
          data: fc.uint8Array({ maxLength: 60 }),
        }),
        { maxLength: 3 },
      ),
      snapshot: fc.option(
        fc.record({
          meta: fc.record({
            index: u64,
            term: u64,
            conf: fc.record({
              voters: fc.array(fc.nat({ max: 9 }), { maxLength: 5 }),
              learners: fc.array(fc.nat({ max: 9 }), { maxLength: 2 }),
            }),
          }),
          size: u64,
          offset: u64,
          data: fc.uint8Array({ maxLength: 80 }),
          done: fc.boolean(),
        }),
        { nil: undefined },
      ),
    })
    .map((m) => {
      const out: Message = { ...m, from, to };
      if (m.snapshot === undefined) delete out.snapshot;
      return out;
    });

interface Stream {
  bytes: Uint8Array;
  cuts: number[];
}

const helloArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constant(encodeHello({ protocolVersion: PROTOCOL_VERSION, nodeId: 3, clusterId: CLUSTER })),
  },
  {
    weight: 2,
    arbitrary: mutationsArb.map((ms) =>
      mutate(encodeHello({ protocolVersion: PROTOCOL_VERSION, nodeId: 3, clusterId: CLUSTER }), ms),
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        protocolVersion: fc.constantFrom(0, PROTOCOL_VERSION, PROTOCOL_VERSION + 1, 65_535),
        nodeId: fc.constantFrom(0, 1, SELF, 3, 2 ** 53 - 1),
        clusterId: fc.oneof(
          fc.constantFrom(CLUSTER, '', 'other', CLUSTER.toUpperCase(), `${CLUSTER}\u0000`),
          fc.string({ maxLength: 20 }),
        ),
      })
      .filter((h) => Buffer.byteLength(h.clusterId) <= 255)
      .map((h) => encodeHello(h)),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) }, // no HELLO at all
);

const frameArb = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.array(messageArb(3, SELF), { minLength: 1, maxLength: 3 }).map((ms) => encodeMessages(ms)),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.array(messageArb(3, SELF), { minLength: 1, maxLength: 3 }), mutationsArb)
      .map(([ms, mu]) => mutate(encodeMessages(ms), mu)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(1, 3, 4), fc.constantFrom(SELF, 1, 5))
      .chain(([from, to]) => messageArb(from, to))
      .map((m) => encodeMessages([m])),
  },
  {
    weight: 1,
    arbitrary: fc.constant(encodeHello({ protocolVersion: PROTOCOL_VERSION, nodeId: 3, clusterId: CLUSTER })),
  },
);

const streamArb: fc.Arbitrary<Stream> = fc
  .record({
    hello: helloArb,
    frames: fc.array(frameArb, { maxLength: 4 }),
    garbage: fc.option(fc.uint8Array({ minLength: 1, maxLength: 30 }), { freq: 5, nil: undefined }),
    cuts: fc.array(fc.nat(), { maxLength: 6 }),
  })
  .map(({ hello, frames, garbage, cuts }) => {
    const bytes = concatBytes([hello, ...frames, ...(garbage !== undefined ? [garbage] : [])]);
    return {
      bytes,
      cuts,
      [fc.toStringMethod]: () => `${Buffer.from(bytes).toString('hex')} cut at ${cuts.join(',')}`,
    } as Stream;
  });

// ---------------------------------------------------------------------------------------------

async function runStream(st: Stream): Promise<void> {
  const expected = reference(st.bytes);
  const from = received.length;
  const logsFrom = logs.length;
  const s = net.connect({ host: '127.0.0.1', port: receiver.port });
  s.setNoDelay(true);
  s.on('error', () => undefined);
  let closed = false;
  s.on('close', () => {
    closed = true;
  });
  await new Promise<void>((r) => s.once('connect', () => r()));
  const local = `127.0.0.1:${s.localPort}`;
  for (const chunk of splitAt(st.bytes, st.cuts)) {
    if (closed) break;
    await new Promise<void>((r) => s.write(chunk, () => r()));
    await new Promise((r) => setImmediate(r)); // one chunk per read, as far as TCP lets us
  }
  const refused = () =>
    logs
      .slice(logsFrom)
      .find((e) => e.event === 'inbound_closed' && e.remote === local && e.reason !== 'CLOSED_BY_PEER');
  const what = `${String(st)} → reference ${expected.messages.length} messages, ${[...expected.reasons].join('|') || 'no violation'}`;
  if (expected.reasons.size > 0) {
    await waitFor(`refusal of ${what}`, () => closed && refused() !== undefined, 5_000, 2);
    expect(expected.reasons.has(refused()!.reason!), `${what}: closed with ${refused()!.reason}`).toBe(true);
  } else {
    await waitFor(`delivery of ${what}`, () => received.length - from >= expected.messages.length, 5_000, 2);
    expect(refused(), what).toBeUndefined();
    expect(closed, what).toBe(false);
  }
  const got = received.slice(from);
  expect(got.length, what).toBeLessThanOrEqual(expected.messages.length);
  for (let i = 0; i < got.length; i++) expect(show(got[i]!), `${what}: message ${i}`).toBe(show(expected.messages[i]!));
  if (expected.reasons.size === 0) expect(got.length, what).toBe(expected.messages.length);
  s.destroy();
  await waitFor('raw connection gone', () => closed);
}

describe('Raft transport fuzz', () => {
  it('HELLO and frames, valid or mutated, in random chunks: a prefix of the reference delivered, a violation closed with its reason', async () => {
    heap.sample();
    await fc.assert(
      fc.asyncProperty(fc.array(streamArb, { minLength: 10, maxLength: 30 }), async (batch) => {
        for (const st of batch) await runStream(st);
        // Nothing left open from the raw connections (the real peer's connection is the only one).
        await waitFor('raw inbound connections closed', () => receiver.stats().inboundConnections <= 1, 5_000);
        // The real peer still gets through (a raw HELLO claiming its node id may have replaced its connection: it redials).
        const index = ++peerIndex;
        const before = received.length;
        peer.send([
          {
            type: MessageType.HEARTBEAT,
            from: 1,
            to: SELF,
            term: 1,
            logTerm: 0,
            index: 0,
            entries: [],
            commit: index,
            reject: false,
            rejectHint: 0,
            context: index,
          },
        ]);
        await waitFor(
          'the real peer’s heartbeat',
          () => received.slice(before).some((m) => m.from === 1 && m.context === index),
          10_000,
        );
        heap.sample();
      }),
      fcParams(12),
    );
  });

  it('decoding does not depend on chunking; accepted messages re-encode to themselves (no sockets)', () => {
    const bytesArb = fc.oneof(
      streamArb.map((s) => s.bytes),
      fc
        .tuple(fc.array(messageArb(3, SELF), { minLength: 1, maxLength: 4 }), mutationsArb)
        .map(([ms, mu]) => mutate(encodeMessages(ms), mu)),
    );
    fc.assert(
      fc.property(bytesArb, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const run = (chunks: Uint8Array[]) => {
          const d = new FrameDecoder({ frameBytesMax: FRAME_MAX });
          const frames: DecodedFrame[] = [];
          let error: string | undefined;
          for (const c of chunks) {
            try {
              frames.push(...d.push(c));
            } catch (e) {
              expect(e).toBeInstanceOf(FrameDecodeError);
              error = (e as FrameDecodeError).code;
              break;
            }
          }
          return { frames, error };
        };
        const whole = run([bytes]);
        const split = run(splitAt(bytes, cuts));
        expect(split.error).toBe(whole.error);
        if (whole.error === undefined) {
          expect(split.frames.length).toBe(whole.frames.length);
          for (let i = 0; i < whole.frames.length; i++) {
            const a = whole.frames[i]!;
            const b = split.frames[i]!;
            expect(a.kind).toBe(b.kind);
            if (a.kind === 'messages' && b.kind === 'messages') {
              expect(b.messages.map((m) => show(plain(m)))).toEqual(a.messages.map((m) => show(plain(m))));
              // Canonical: what was accepted encodes back to bytes that decode to the same messages.
              const again = new FrameDecoder({ frameBytesMax: FRAME_MAX }).push(encodeMessages(a.messages));
              expect(
                again.flatMap((f) => (f.kind === 'messages' ? f.messages.map((m) => show(plain(m))) : [])),
              ).toEqual(a.messages.map((m) => show(plain(m))));
            }
          }
        }
      }),
      fcParams(1_500),
    );
  });

  it('heap does not grow across batches', () => {
    heap.sample();
    expect(heap.growthBytes(), heap.describe()).toBeLessThan(heap.slackBytes);
  });
});
