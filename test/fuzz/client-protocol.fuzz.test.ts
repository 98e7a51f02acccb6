// Fuzz of the replicas' client protocol (replicator/client/server.ts, proto/client-frames.md)
// against a real one-member replica in this process (ReplicaNode + ClientServer over TCP, fsync
// off): JSON frames (random JSON; commands, registrations, status, order and entries requests with fields of
// the wrong type, extreme or unicode values), SUBMIT frames (byte-mutated valid batches, random
// command bodies, lying counts and lengths), unknown frame types, length prefixes that lie (0,
// over the 8 MiB limit, longer or shorter than the frame), all cut into random chunks.
//
// Per input, on its own connection, one at a time: a reference parse of the bytes says how many
// answers are due (a JSON reply per JSON or unknown-type frame and per refused SUBMIT, one result
// per command of an accepted SUBMIT, FRAME_TOO_LARGE then a close for a bad length prefix); the
// server gives exactly those, each well-formed (JSON {id, ok, error?}; RESULTS frames that decode
// to the last byte, events included), and closes the connection only after FRAME_TOO_LARGE. An
// input the server refused as a whole (frame-level and BAD_REQUEST errors only) did not move the
// applied index. After every batch: the replica's state hash equals a replay of its committed
// log by a fresh state machine (the commands the fuzz got in were applied deterministically),
// a well-formed command still works, and heapUsed does not keep growing.
//
// Reproduce a failure: FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/fuzz/client-protocol.fuzz.test.ts
// (seed and path are printed by fast-check); FUZZ_RUNS_SCALE=10 for a longer run.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteReader } from '../../engine/byte-writer.js';
import { decodeEvents } from '../../engine/event-codec.js';
import { ReplicaNode } from '../../replicator/node.js';
import { encodeJsonCommand } from '../../shard/json-command.js';
import { COMMAND_BYTES_MAX } from '../../shard/batch-codec.js';
import { ShardStateMachine } from '../../shard/state-machine.js';
import {
  CLIENT_FRAME_BYTES_MAX,
  CLIENT_BATCH_COMMANDS_MAX,
  FrameType,
  encodeFrame,
  encodeSubmitFrame,
} from '../../replicator/client/protocol.js';
import { ClientServer } from '../../replicator/client/server.js';
import { requestOnce } from '../../replicator/client/client.js';
import {
  HeapWatch,
  concatBytes,
  fcParams,
  mutationsArb,
  mutate,
  nastyJsonValue,
  shardConfig,
  splitAt,
  waitFor,
} from './harness.js';
import { commandData } from '../../replicator/log.js';
import { NO_LOG } from '../../ops/log.js';

let node: ReplicaNode;
let server: ClientServer;
let dir: string;
const fatal: unknown[] = [];
const heap = new HeapWatch();
let requestSeq = 0;
/** Sessions registered before the fuzz: 1–3 for its inputs (the state machine allocates them densely), 4 for the check after each batch. */
const FUZZ_SESSIONS = [1, 2, 3];
const CHECK_SESSION = 4;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-fuzz-client-'));
  node = new ReplicaNode({
    id: 1,
    members: [1],
    dataDir: dir,
    shardConfig,
    send: () => undefined,
    fsync: false,
    timeTickMs: 0,
    onFatal: (e) => fatal.push(e),
    log: NO_LOG,
  });
  node.start();
  await waitFor('leader', () => node.status().role === 'LEADER');
  server = new ClientServer({ node, host: '127.0.0.1', port: 0, log: NO_LOG });
  await server.start();
  const ids: unknown[] = [];
  for (let k = 0; k < 4; k++)
    ids.push((await requestOnce({ host: '127.0.0.1', port: server.port }, { op: 'register' })).clientId);
  expect(ids).toEqual([...FUZZ_SESSIONS, CHECK_SESSION]);
}, 30_000);

afterAll(async () => {
  await server?.stop();
  await node?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The reference: how many answers the bytes call for

interface Due {
  json: number;
  results: number;
  tooLarge: boolean;
  /** The bytes end inside a frame: the server waits for the rest. */
  incomplete: boolean;
}

function submitCount(body: Uint8Array): number | undefined {
  const r = new ByteReader(body);
  try {
    const clientId = r.f64();
    const count = r.u32();
    if (!Number.isSafeInteger(clientId) || clientId < 1 || count > CLIENT_BATCH_COMMANDS_MAX) return undefined;
    for (let k = 0; k < count; k++) {
      const seq = r.f64();
      const len = r.u32();
      if (!Number.isSafeInteger(seq) || seq < 1 || len > COMMAND_BYTES_MAX) return undefined;
      r.bytes(len);
    }
    return r.remaining === 0 ? count : undefined;
  } catch {
    return undefined;
  }
}

function due(bytes: Uint8Array): Due {
  const d: Due = { json: 0, results: 0, tooLarge: false, incomplete: false };
  const b = Buffer.from(bytes);
  let at = 0;
  while (at < b.byteLength) {
    if (at + 4 > b.byteLength) {
      d.incomplete = true;
      break;
    }
    const n = b.readUInt32BE(at);
    if (n === 0 || n > CLIENT_FRAME_BYTES_MAX) {
      d.tooLarge = true;
      break;
    }
    if (at + 4 + n > b.byteLength) {
      d.incomplete = true;
      break;
    }
    const type = b[at + 4]!;
    const k = type === FrameType.SUBMIT ? submitCount(b.subarray(at + 5, at + 4 + n)) : undefined;
    if (k === undefined) d.json++;
    else d.results += k;
    at += 4 + n;
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// One input, one connection

interface Got {
  json: Record<string, unknown>[];
  results: { status: number; error?: string }[];
  entriesFrames: number;
  closed: boolean;
  /** A frame the client could not parse (a server bug). */
  malformed: string[];
}

function readReplies(buf: Buffer, got: Got): Buffer {
  while (buf.byteLength >= 4 && buf.byteLength >= 4 + buf.readUInt32BE(0)) {
    const n = buf.readUInt32BE(0);
    const type = buf[4]!;
    const body = buf.subarray(5, 4 + n);
    buf = buf.subarray(4 + n);
    try {
      if (type === FrameType.JSON) got.json.push(JSON.parse(body.toString('utf8')) as Record<string, unknown>);
      else if (type === FrameType.ENTRIES) got.entriesFrames++;
      else if (type === FrameType.RESULTS) {
        const r = new ByteReader(body);
        const count = r.u32();
        for (let k = 0; k < count; k++) {
          r.f64();
          r.f64();
          const status = r.u8();
          if (status === 1) {
            r.f64();
            r.f64();
            const len = r.u32();
            decodeEvents(r.bytes(len));
            got.results.push({ status });
          } else if (status === 2) {
            r.f64();
            r.f64();
            got.results.push({ status });
          } else if (status === 4) {
            // DUPLICATE_WITH_RESULT: a resent command, answered with the original's index, seq and events.
            r.f64();
            r.f64();
            decodeEvents(r.bytes(r.u32()));
            got.results.push({ status });
          } else if (status === 3) {
            const error = r.str();
            r.f64();
            r.u8();
            r.str();
            got.results.push({ status, error });
          } else throw new Error(`result status ${status}`);
        }
        r.expectEnd('RESULTS');
      } else throw new Error(`reply frame type ${type}`);
    } catch (e) {
      got.malformed.push(`${type}: ${(e as Error).message}`);
    }
  }
  return buf;
}

async function exchange(chunks: Uint8Array[], d: Due): Promise<Got> {
  const got: Got = { json: [], results: [], entriesFrames: 0, closed: false, malformed: [] };
  const s = net.connect({ host: '127.0.0.1', port: server.port });
  s.on('error', () => undefined);
  let buf: Buffer = Buffer.alloc(0);
  s.on('data', (c: Buffer) => {
    buf = readReplies(Buffer.concat([buf, c]), got);
  });
  s.on('close', () => {
    got.closed = true;
  });
  await new Promise<void>((r) => s.once('connect', () => r()));
  for (const c of chunks) {
    if (got.closed) break;
    s.write(c);
    await new Promise((r) => setImmediate(r));
  }
  const answered = () =>
    got.json.length + got.entriesFrames >= d.json + (d.tooLarge ? 1 : 0) && got.results.length >= d.results;
  // After a bad length prefix the server answers FRAME_TOO_LARGE and closes at once: the replies
  // of commands still being applied for that connection are dropped (the client resends them).
  if (d.tooLarge) await waitFor('close after FRAME_TOO_LARGE', () => got.closed, 10_000, 2);
  else if (d.incomplete) {
    await waitFor('the complete frames answered', answered, 10_000, 2);
    await new Promise((r) => setTimeout(r, 5)); // and nothing more
  } else
    await waitFor(
      () =>
        `every answer (due ${JSON.stringify(d)}; got ${got.json.length} JSON, ${got.entriesFrames} ENTRIES, ${got.results.length} results, malformed [${got.malformed.join('; ')}], closed ${got.closed})`,
      answered,
      10_000,
      2,
    );
  s.destroy();
  return got;
}

// ---------------------------------------------------------------------------------------------
// Inputs

const PLACE = {
  type: 'new_order',
  account: 1,
  clOrdId: 'fz',
  symbol: 'BTC-USD',
  side: 'BUY',
  ordType: 'LIMIT',
  tif: 'GTC',
  price: 4_950_000,
  qty: 2,
};
const jsonTemplates: Record<string, unknown>[] = [
  { id: 1, clientId: FUZZ_SESSIONS[0], requestSeq: 1, command: PLACE },
  { id: 2, op: 'status', hash: true },
  { id: 3, op: 'order', orderId: 1 },
  { id: 4, op: 'entries', fromIndex: 1, bytesMax: 1000, waitMs: 0 },
  { id: 'x', op: 'submit', clientId: FUZZ_SESSIONS[1], requestSeq: 1, command: { type: 'tick' } },
  { id: 6, op: 'register' },
];
const jsonFrameArb = fc
  .record({
    template: fc.constantFrom(...jsonTemplates),
    replace: fc.array(
      fc.tuple(
        fc.constantFrom(
          'id',
          'op',
          'clientId',
          'requestSeq',
          'command',
          'orderId',
          'fromIndex',
          'bytesMax',
          'waitMs',
          'hash',
        ),
        nastyJsonValue,
      ),
      { maxLength: 3 },
    ),
    commandField: fc.option(fc.tuple(fc.constantFrom(...Object.keys(PLACE), 'stp', 'expireTimeUs'), nastyJsonValue), {
      nil: undefined,
    }),
  })
  .map(({ template, replace, commandField }) => {
    const o: Record<string, unknown> = structuredClone(template);
    for (const [k, v] of replace) o[k] = v;
    // waitMs > 0 on a caught-up reader is a long poll (legitimately up to 5 s): keep runs short.
    if (typeof o.waitMs === 'number' && o.waitMs > 0) o.waitMs = 0;
    if (commandField !== undefined && typeof o.command === 'object' && o.command !== null && !Array.isArray(o.command))
      (o.command as Record<string, unknown>)[commandField[0]] = commandField[1];
    return encodeFrame(o);
  });

const validSubmit = () =>
  encodeSubmitFrame(
    FUZZ_SESSIONS[2]!,
    [1, 2, 3].map((k) => ({ requestSeq: k, body: encodeJsonCommand({ ...PLACE, clOrdId: `s${k}` }) })),
  );
const rawFrame = (type: number, body: Uint8Array, declared = body.byteLength + 1) => {
  const h = Buffer.alloc(5);
  h.writeUInt32BE(declared >>> 0, 0);
  h[4] = type;
  return concatBytes([h, body]);
};

const frameArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: jsonFrameArb },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }).map((j) => rawFrame(FrameType.JSON, Buffer.from(j))) },
  { weight: 3, arbitrary: mutationsArb.map((ms) => mutate(validSubmit(), ms)) },
  {
    // Submit frames whose body is mutated but whose length prefix is right: the broken bytes reach the parser.
    weight: 3,
    arbitrary: mutationsArb.map((ms) => rawFrame(FrameType.SUBMIT, mutate(validSubmit().subarray(5), ms))),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        clientId: fc.oneof(
          fc.constantFrom(0, -1, 1.5, 2 ** 53, Number.NaN, Infinity, ...FUZZ_SESSIONS),
          fc.integer({ min: 70, max: 10_000 }),
        ),
        bodies: fc.array(fc.uint8Array({ maxLength: 60 }), { maxLength: 5 }),
      })
      .map(({ clientId, bodies }) =>
        encodeSubmitFrame(
          clientId,
          bodies.map((body, k) => ({ requestSeq: k + 1, body })),
        ),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 }))
      .map(([t, b]) => rawFrame(t, b)),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      rawFrame(1, Buffer.from('{}'), 0),
      rawFrame(2, new Uint8Array(8), CLIENT_FRAME_BYTES_MAX + 1),
      rawFrame(2, new Uint8Array(8), 0xffff_ffff),
      rawFrame(2, Buffer.concat([Buffer.from(new Float64Array([7]).buffer), Buffer.from([0xff, 0xff, 0xff, 0xff])])),
    ),
  },
);

type Input = { bytes: Uint8Array; cuts: number[] };
const inputArb: fc.Arbitrary<Input> = fc
  .record({
    frames: fc.array(frameArb, { minLength: 1, maxLength: 4 }),
    tail: fc.option(fc.uint8Array({ minLength: 1, maxLength: 10 }), { freq: 6, nil: undefined }),
    cuts: fc.array(fc.nat(), { maxLength: 5 }),
  })
  .map(({ frames, tail, cuts }) => {
    const bytes = concatBytes([...frames, ...(tail !== undefined ? [tail] : [])]);
    return {
      bytes,
      cuts,
      [fc.toStringMethod]: () =>
        `${Buffer.from(bytes.subarray(0, 160)).toString('hex')}${bytes.byteLength > 160 ? `… (${bytes.byteLength} bytes)` : ''} cut at ${cuts.join(',')}`,
    } as Input;
  });

/** Frame-level and request-level refusals: nothing was proposed. */
const REFUSALS = new Set(['BAD_REQUEST', 'BAD_JSON', 'BAD_FRAME_TYPE', 'FRAME_TOO_LARGE']);

async function replayMatches(): Promise<void> {
  await waitFor('no proposal pending', () => node.status().pendingProposals === 0);
  const sm = new ShardStateMachine(shardConfig);
  const read = node.readCommitted(1, 1 << 30);
  expect(read.kind).toBe('entries');
  if (read.kind !== 'entries') return;
  for (const e of read.entries) sm.apply(e.index, commandData(e));
  expect(sm.appliedIndex).toBe(read.applied);
  expect(sm.stateHash(), 'a replay of the committed log gives the replica’s state').toBe(node.stateHash());
}

describe('replica client protocol fuzz', () => {
  it('JSON and SUBMIT frames, unknown types and lying lengths: exactly the answers due, well-formed; refusals change nothing', async () => {
    heap.sample();
    await fc.assert(
      fc.asyncProperty(fc.array(inputArb, { minLength: 10, maxLength: 25 }), async (batch) => {
        for (const input of batch) {
          const d = due(input.bytes);
          const before = node.status().applied;
          const got = await exchange(splitAt(input.bytes, input.cuts), d);
          const what = `${fc.stringify(input)}: due ${JSON.stringify(d)}`;
          expect(got.malformed, what).toEqual([]);
          if (d.tooLarge) {
            expect(got.json.length + got.entriesFrames, `${what}: JSON answers`).toBeLessThanOrEqual(d.json + 1);
            expect(got.results.length, `${what}: results`).toBeLessThanOrEqual(d.results);
          } else {
            expect(got.json.length + got.entriesFrames, `${what}: JSON answers`).toBe(d.json);
            expect(got.results.length, `${what}: results`).toBe(d.results);
          }
          expect(got.closed && !d.tooLarge && !d.incomplete, `${what}: closed without FRAME_TOO_LARGE`).toBe(false);
          if (d.tooLarge)
            expect(got.json[got.json.length - 1], what).toMatchObject({
              id: null,
              ok: false,
              error: 'FRAME_TOO_LARGE',
            });
          for (const j of got.json) {
            expect(typeof j.ok, `${what}: ${JSON.stringify(j)}`).toBe('boolean');
            if (j.ok === false) expect(typeof j.error, `${what}: ${JSON.stringify(j)}`).toBe('string');
            expect(j.error, what).not.toBe('INTERNAL');
          }
          for (const r of got.results) expect(r.error, what).not.toBe('INTERNAL');
          // (After FRAME_TOO_LARGE the replies of commands already proposed are dropped: not judged.)
          const refusedWhole =
            !d.tooLarge && d.results === 0 && got.json.every((j) => j.ok === false && REFUSALS.has(String(j.error)));
          if (refusedWhole) {
            await waitFor('no proposal pending', () => node.status().pendingProposals === 0);
            expect(node.status().applied, `${what}: a refused input moved the applied index`).toBe(before);
          }
        }
        expect(fatal).toEqual([]);
        await replayMatches();
        const r = (await requestOnce(
          { host: '127.0.0.1', port: server.port },
          { id: 9, clientId: CHECK_SESSION, requestSeq: ++requestSeq, command: { type: 'tick' } },
        )) as { ok: boolean; outcome?: string };
        expect(r).toMatchObject({ ok: true, outcome: 'APPLIED' });
        heap.sample();
      }),
      fcParams(10),
    );
  });

  it('heap does not grow across batches', () => {
    heap.sample();
    expect(heap.growthBytes(), heap.describe()).toBeLessThan(heap.slackBytes);
  });
});
