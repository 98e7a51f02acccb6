// Fuzz of the Multi-Paxos wire codec (replicator/transport/paxos-codec.ts, proto/paxos-frames.md):
// streams of a HELLO (valid, of Raft, or mutated) and PAXOS_MESSAGE / PAXOS_BATCH frames of random
// items (valid, or byte-mutated: flips, truncations, insertions, extreme values), plus trailing
// garbage, and plain random bytes, cut into random chunks and pushed into a PaxosFrameDecoder.
// No sockets yet: no transport speaks Multi-Paxos (replicator/paxos/README.md, "what the wiring
// needs"); mirrors the socket-free part of raft-frames.fuzz.test.ts.
//
// Asserted per input: push() throws only FrameDecodeError, with a documented code, and never one
// that wraps another exception (a decoder bug); the outcome does not depend on chunking (the
// reference decodes one byte at a time); every accepted item passes checkPaxosItem (what the
// Multi-Paxos core would receive keeps the codec's contract: ACCEPT with its one value, bounded
// value counts, chunks inside their snapshot) and re-encodes to bytes that decode to it; what is
// held never exceeds the frame limit; a valid stream cut short is incomplete, not refused; a
// Raft HELLO is refused WRONG_PROTOCOL. After all batches, heapUsed has not kept growing.
//
// Reproduce a failure: FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/fuzz/paxos-frames.fuzz.test.ts
// (seed and path are printed by fast-check); FUZZ_RUNS_SCALE=10 for a longer run.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecodeError, FrameErrorCode, HELLO_FRAME_BYTES_MAX } from '../../replicator/transport/frame-codec.js';
import {
  PAXOS_MESSAGE_VALUES_MAX,
  PAXOS_PROTOCOL_VERSION,
  PaxosFrameDecoder,
  type PaxosDecodedFrame,
  SNAPSHOT_CHUNK_FIXED_BYTES,
  checkPaxosItem,
  encodePaxosHello,
  encodePaxosItems,
  paxosItemEncodedBytes,
} from '../../replicator/transport/paxos-codec.js';
import { PROTOCOL_VERSION, encodeHello } from '../../replicator/transport/raft-codec.js';
import { itemArb, showItem } from '../replicator/paxos-codec-arbs.js';
import { HeapWatch, concatBytes, fcParams, mutationsArb, mutate, splitAt } from './harness.js';

const FRAME_MAX = 1 << 20;
const CODES = new Set<string>(Object.values(FrameErrorCode));
const heap = new HeapWatch();

/** Small items only (in big data, mutations land in the data, which proves little, and byte-at-a-time decoding is slow). */
const smallItemArb = itemArb(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 })).filter(
  (it) => paxosItemEncodedBytes(it) <= 2048,
);

const helloArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constant(encodePaxosHello({ protocolVersion: PAXOS_PROTOCOL_VERSION, nodeId: 1, clusterId: 'fuzz' })),
  },
  {
    weight: 1,
    arbitrary: fc.constant(encodeHello({ protocolVersion: PROTOCOL_VERSION, nodeId: 1, clusterId: 'fuzz' })),
  },
  {
    weight: 2,
    arbitrary: mutationsArb.map((mu) =>
      mutate(encodePaxosHello({ protocolVersion: PAXOS_PROTOCOL_VERSION, nodeId: 1, clusterId: 'fuzz' }), mu),
    ),
  },
);

const frameArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.array(smallItemArb, { minLength: 1, maxLength: 4 }), fc.option(mutationsArb, { freq: 2, nil: undefined }))
  .map(([items, mu]) => (mu === undefined ? encodePaxosItems(items) : mutate(encodePaxosItems(items), mu)));

const streamArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(helloArb, fc.array(frameArb, { maxLength: 4 }), fc.uint8Array({ maxLength: 24 }))
  .map(([hello, frames, garbage]) => concatBytes([hello, ...frames, garbage]));

interface Outcome {
  frames: PaxosDecodedFrame[];
  error: string | undefined;
}

/** Decodes `chunks` as one stream; checks the decoder's contract at every push. */
function run(chunks: readonly Uint8Array[]): Outcome {
  const d = new PaxosFrameDecoder({ frameBytesMax: FRAME_MAX, firstFrameBytesMax: HELLO_FRAME_BYTES_MAX });
  const frames: PaxosDecodedFrame[] = [];
  let pushed = 0;
  for (const c of chunks) {
    pushed += c.byteLength;
    try {
      frames.push(...d.push(c));
    } catch (e) {
      expect(e).toBeInstanceOf(FrameDecodeError);
      const err = e as FrameDecodeError;
      expect(CODES.has(err.code), err.message).toBe(true);
      // The decoder turns any other exception into MALFORMED_PAYLOAD "decoder: …": that is a bug.
      expect(err.message, 'an exception other than a FrameDecodeError escaped decoding').not.toMatch(/: decoder: /);
      expect(() => d.push(new Uint8Array(1))).toThrow(err); // failed for good
      return { frames, error: err.code };
    }
    // A plain check, not expect(): this runs once per byte in the reference.
    if (d.bufferedBytes > Math.min(pushed, FRAME_MAX)) throw new Error(`holds ${d.bufferedBytes} bytes of ${pushed}`);
  }
  return { frames, error: undefined };
}

/** What was accepted keeps the codec's contract, and re-encodes to itself. */
function checkAccepted(frames: readonly PaxosDecodedFrame[]): void {
  for (const f of frames) {
    if (f.kind !== 'items') continue;
    expect(f.items.length * SNAPSHOT_CHUNK_FIXED_BYTES).toBeLessThanOrEqual(f.frameBytes);
    for (const it of f.items) expect(() => checkPaxosItem(it, PAXOS_MESSAGE_VALUES_MAX)).not.toThrow();
    const again = new PaxosFrameDecoder({ frameBytesMax: FRAME_MAX }).push(encodePaxosItems(f.items));
    expect(again.flatMap((g) => (g.kind === 'items' ? g.items.map(showItem) : []))).toEqual(f.items.map(showItem));
  }
}

const showFrames = (frames: readonly PaxosDecodedFrame[]): unknown[] =>
  frames.map((f) => (f.kind === 'hello' ? f : f.items.map(showItem)));

/**
 * Whatever the chunking: the same error, and the same frames when there is none (after an error
 * the frames of the failing chunk are not returned, so a failed run's frames depend on where the
 * chunks end; the reference's are the ones before the bad frame).
 */
function expectSameOutcome(o: Outcome, reference: Outcome): void {
  expect(o.error).toBe(reference.error);
  if (reference.error === undefined) expect(showFrames(o.frames)).toEqual(showFrames(reference.frames));
  else expect(o.frames.length).toBeLessThanOrEqual(reference.frames.length);
}

function oneByteAtATime(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.byteLength; i++) out.push(bytes.subarray(i, i + 1));
  return out;
}

describe('Multi-Paxos frames fuzz', () => {
  it('streams of HELLO and frames, valid or mutated, in random chunks: refused with a code or decoded the same', () => {
    fc.assert(
      fc.property(
        fc.oneof(streamArb, fc.uint8Array({ maxLength: 300 })),
        fc.array(fc.nat(), { maxLength: 8 }),
        (bytes, cuts) => {
          const reference = run(oneByteAtATime(bytes));
          const whole = run([bytes]);
          const split = run(splitAt(bytes, cuts));
          expectSameOutcome(whole, reference);
          expectSameOutcome(split, reference);
          checkAccepted(reference.frames);
        },
      ),
      fcParams(1_500),
    );
    heap.sample();
  });

  it('valid streams cut short are incomplete, not refused; mutated frames after a good HELLO never crash', () => {
    const hello = encodePaxosHello({ protocolVersion: PAXOS_PROTOCOL_VERSION, nodeId: 1, clusterId: 'fuzz' });
    fc.assert(
      fc.property(
        fc.array(fc.array(smallItemArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
        fc.nat(),
        mutationsArb,
        (batches, cut, mu) => {
          const stream = concatBytes([hello, ...batches.map((b) => encodePaxosItems(b))]);
          const at = cut % (stream.byteLength + 1);
          const cutShort = run([stream.subarray(0, at)]);
          expect(cutShort.error).toBeUndefined();
          const full = run([stream]);
          expect(full.error).toBeUndefined();
          expect(showFrames(cutShort.frames)).toEqual(showFrames(full.frames.slice(0, cutShort.frames.length)));
          const mutated = concatBytes([hello, mutate(stream.subarray(hello.byteLength), mu)]);
          checkAccepted(run(oneByteAtATime(mutated)).frames);
        },
      ),
      fcParams(600),
    );
    heap.sample();
  });

  it('a Raft HELLO, whatever follows, is refused WRONG_PROTOCOL', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 53 - 1 }),
        fc.string({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 64 }),
        (nodeId, clusterId, rest) => {
          const raft = encodeHello({ protocolVersion: PROTOCOL_VERSION, nodeId, clusterId });
          expect(run([concatBytes([raft, rest])]).error).toBe(FrameErrorCode.WRONG_PROTOCOL);
        },
      ),
      fcParams(300),
    );
  });

  it('counts and lengths far beyond the frame are refused before anything is allocated for them', () => {
    const before = process.memoryUsage().arrayBuffers;
    const huge = (type: number, payload: number[]): Uint8Array => {
      const b = new Uint8Array(5 + payload.length);
      new DataView(b.buffer).setUint32(0, 1 + payload.length, true);
      b[4] = type;
      b.set(payload, 5);
      return b;
    };
    const ff = [0xff, 0xff, 0xff, 0xff];
    for (let i = 0; i < 2000; i++) {
      // a batch of 2^32 − 1 items; a PROMISE of 2^32 − 1 values; a chunk of 4 GiB of data; a frame of 4 GiB
      const promise = [2, ...new Array(48).fill(0), ...ff];
      const chunk = [9, ...new Array(40).fill(0), 0, ...ff];
      expect(run([huge(17, ff)]).error).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
      expect(run([huge(16, promise)]).error).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
      expect(run([huge(16, chunk)]).error).toBe(FrameErrorCode.MALFORMED_PAYLOAD);
      expect(run([Uint8Array.of(...ff, 16)]).error).toBe(FrameErrorCode.FRAME_TOO_LARGE);
    }
    // Far less than one refused allocation would cost (16 GiB of values, 4 GiB of data).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('heap does not grow across batches', () => {
    heap.sample();
    expect(heap.growthBytes(), heap.describe()).toBeLessThan(heap.slackBytes);
  });
});
