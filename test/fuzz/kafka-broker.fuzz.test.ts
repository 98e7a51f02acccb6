// Fuzz of the embedded Kafka-protocol broker (events/broker/server.ts → broker.ts) over real
// TCP: a well-formed request of every API at every supported version (produce with a real
// record batch, fetch, list offsets, metadata, group and offset requests, create topics, init
// producer id), byte-mutated (flips, truncations, insertions, extreme values in any field:
// sizes, array counts, string lengths, versions, the record batch), plus random frames, frames
// whose size prefix lies, and unknown API keys and versions; record batches mutated behind a
// recomputed CRC32C (so they reach the record checks and, if accepted, the log — which must then
// reopen after a restart); consumer groups driven by several clients with random operations.
//
// Per input, on its own connection and one at a time: the broker answers with the request's
// correlation id, or closes the connection with a logged reason (a warn record "closing a
// client connection: …"); a closed connection changed nothing (topics, every partition's log
// end, committed offsets, producer-id block). Never: an internal error (onFatal, an error-level
// log record). After every batch:
// a bystander connection still gets ApiVersions, a control topic still reads back exactly the
// records produced to it at the start, and heapUsed does not keep growing.
//
// Reproduce a failure: FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/fuzz/kafka-broker.fuzz.test.ts
// (seed and path are printed by fast-check); FUZZ_RUNS_SCALE=10 for a longer run.

import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPPORTED_VERSIONS } from '../../events/broker/messages.js';
import { ApiKey, ErrorCode, type Reader, type Writer } from '../../events/broker/protocol.js';
import { decodeRecords, encodeRecordBatch, readBatchHeader } from '../../events/broker/record-batch.js';
import { startBroker, type RunningBroker } from '../../events/broker/server.js';
import { crc32c } from '@aws-crypto/crc32c';
import { RawClient, removeTmpDirs, requestFrame, tmpDir } from '../events/broker/helpers.js';
import { HeapWatch, fcParams, mutationsArb, mutate } from './harness.js';
import { collectLog, type LogRecord } from '../ops/collect-log.js';

let running: RunningBroker;
let bystander: RawClient;
let dataDir: string;
const brokerOptions = () => ({
  dataDir,
  port: 0,
  fsync: 'never' as const,
  log: collectLog(logRecords, 50_000),
  onFatal: (e: Error) => fatal.push(e),
});
const logRecords: LogRecord[] = [];
const fatal: Error[] = [];
const heap = new HeapWatch();
const CONTROL = 'control';
const CONTROL_VALUES = ['c-0', 'c-1', 'c-2'];

beforeAll(async () => {
  dataDir = tmpDir('mb-fuzz-broker-');
  running = await startBroker(brokerOptions());
  bystander = await RawClient.connect(running.port);
  const created = await bystander.request(ApiKey.CreateTopics, 3, (w) => {
    w.array([CONTROL, 'fz'], (w2, n) => w2.string(n).int32(2).int16(1).int32(0).int32(0));
    w.int32(5_000).bool(false);
  });
  created.int32();
  for (const t of created.array((x) => ({ name: x.string(), error: x.int16(), message: x.nullableString() })))
    expect(t.error).toBe(ErrorCode.NONE);
  const r = await bystander.request(ApiKey.Produce, 7, produceBody(CONTROL, 0, batchOf(CONTROL_VALUES)));
  r.array((x) => [x.string(), x.array((y) => [y.int32(), y.int16(), y.int64(), y.int64(), y.int64()])]);
}, 30_000);

afterAll(async () => {
  bystander?.close();
  await running?.close();
  removeTmpDirs();
});

// ---------------------------------------------------------------------------------------------
// Well-formed requests

const batchOf = (values: string[], pid = -1, epoch = -1, seq = -1) =>
  encodeRecordBatch({
    records: values.map((v) => ({ key: Buffer.from('k'), value: Buffer.from(v) })),
    producerId: pid,
    producerEpoch: epoch,
    baseSequence: seq,
    nowMs: 1_700_000_000_000,
  });

function produceBody(topic: string, partition: number, records: Buffer, acks = -1): (w: Writer) => void {
  return (w) => {
    w.nullableString(null).int16(acks).int32(5_000);
    w.array([topic], (w2, t) => {
      w2.string(t);
      w2.array([partition], (w3, p) => w3.int32(p).bytes(records));
    });
  };
}

/** The body of a well-formed request of `key` at version `v` (fields as the decoders in messages.ts read them). */
function bodyOf(key: number, v: number): (w: Writer) => void {
  switch (key) {
    case ApiKey.ApiVersions:
      return () => undefined;
    case ApiKey.Metadata:
      return (w) => {
        w.array(['fz'], (w2, t) => w2.string(t));
        if (v >= 4) w.bool(false);
        if (v >= 8) w.bool(false).bool(false);
      };
    case ApiKey.Produce:
      return produceBody('fz', 1, batchOf(['a', 'bb', 'ccc']), 1);
    case ApiKey.Fetch:
      return (w) => {
        w.int32(-1).int32(10).int32(1);
        if (v >= 3) w.int32(1 << 20);
        if (v >= 4) w.int8(0);
        if (v >= 7) w.int32(0).int32(-1);
        w.array(['fz'], (w2, t) => {
          w2.string(t);
          w2.array([0, 1], (w3, p) => {
            w3.int32(p);
            if (v >= 9) w3.int32(-1);
            w3.int64(0);
            if (v >= 5) w3.int64(-1);
            w3.int32(1 << 20);
          });
        });
        if (v >= 7) w.int32(0);
        if (v >= 11) w.string('');
      };
    case ApiKey.ListOffsets:
      return (w) => {
        w.int32(-1);
        if (v >= 2) w.int8(0);
        w.array(['fz'], (w2, t) => {
          w2.string(t);
          w2.array([0], (w3, p) => {
            w3.int32(p);
            if (v >= 4) w3.int32(-1);
            w3.int64(-1);
          });
        });
      };
    case ApiKey.OffsetCommit:
      return (w) => {
        w.string('fzg');
        if (v >= 1) w.int32(-1).string('');
        if (v >= 7) w.nullableString(null);
        if (v >= 2 && v <= 4) w.int64(-1);
        w.array(['fz'], (w2, t) => {
          w2.string(t);
          w2.array([0], (w3, p) => {
            w3.int32(p).int64(1);
            if (v >= 6) w3.int32(-1);
            if (v === 1) w3.int64(-1);
            w3.nullableString('m');
          });
        });
      };
    case ApiKey.OffsetFetch:
      return (w) => {
        w.string('fzg');
        w.array(['fz'], (w2, t) => w2.string(t).array([0, 1], (w3, p) => w3.int32(p)));
      };
    case ApiKey.FindCoordinator:
      return (w) => {
        w.string('fzg');
        if (v >= 1) w.int8(0);
      };
    case ApiKey.JoinGroup:
      return (w) => {
        w.string('fzg').int32(6_000);
        if (v >= 1) w.int32(1_000);
        w.string('');
        if (v >= 5) w.nullableString(null);
        w.string('consumer');
        w.array(['range'], (w2, n) => w2.string(n).bytes(Buffer.from([0, 1, 0, 0, 0, 0])));
      };
    case ApiKey.Heartbeat:
      return (w) => {
        w.string('fzg').int32(1).string('m-1');
        if (v >= 3) w.nullableString(null);
      };
    case ApiKey.LeaveGroup:
      return (w) => {
        w.string('fzg');
        if (v <= 2) w.string('m-1');
        else w.array(['m-1'], (w2, m) => w2.string(m).nullableString(null));
      };
    case ApiKey.SyncGroup:
      return (w) => {
        w.string('fzg').int32(1).string('m-1');
        if (v >= 3) w.nullableString(null);
        w.array([['m-1', Buffer.from([0, 1])] as const], (w2, [m, a]) => w2.string(m).bytes(a));
      };
    case ApiKey.CreateTopics:
      return (w) => {
        w.array(['fz-new'], (w2, n) =>
          w2
            .string(n)
            .int32(1)
            .int16(1)
            .int32(0)
            .array([['retention.ms', '1000'] as const], (w3, [k, val]) => w3.string(k).nullableString(val)),
        );
        w.int32(1_000);
        if (v >= 1) w.bool(true); // validate only: a valid one creates nothing
      };
    case ApiKey.InitProducerId:
      return (w) => w.nullableString(null).int32(60_000);
    default:
      throw new Error(`no template for api key ${key}`);
  }
}

const API_VERSIONS: [number, number][] = [];
for (const [key, [min, max]] of SUPPORTED_VERSIONS) for (let v = min; v <= max; v++) API_VERSIONS.push([key, v]);

type Input = { what: string; bytes: Buffer; correlationId: number };
let nextCorrelation = 1;
function input(what: string, bytes: Uint8Array, correlationId: number): Input {
  const b = Buffer.from(bytes);
  return {
    what,
    bytes: b,
    correlationId,
    [fc.toStringMethod]: () =>
      `${what}: ${b.subarray(0, 80).toString('hex')}${b.byteLength > 80 ? `… (${b.byteLength} bytes)` : ''}`,
  } as Input;
}

const inputArb: fc.Arbitrary<Input> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(...API_VERSIONS)
      .map(([k, v]) => input(`api ${k} v${v}`, requestFrame(k, v, 4242, bodyOf(k, v)), 4242)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...API_VERSIONS), mutationsArb)
      .map(([[k, v], ms]) => input(`api ${k} v${v} mutated`, mutate(requestFrame(k, v, 4242, bodyOf(k, v)), ms), 4242)),
  },
  {
    // The request mutated after the size prefix, the prefix then set to the real size: the broken bytes reach the decoders.
    weight: 6,
    arbitrary: fc.tuple(fc.constantFrom(...API_VERSIONS), mutationsArb).map(([[k, v], ms]) => {
      const f = requestFrame(k, v, 4242, bodyOf(k, v));
      const body = Buffer.from(mutate(f.subarray(4), ms));
      const size = Buffer.alloc(4);
      size.writeInt32BE(body.byteLength);
      return input(`api ${k} v${v} body mutated`, Buffer.concat([size, body]), 4242);
    }),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(...API_VERSIONS), fc.integer({ min: -3, max: 3 })).map(([[k, v], delta]) => {
      const f = requestFrame(k, v, 4242, bodyOf(k, v));
      f.writeInt32BE(f.readInt32BE(0) + delta, 0); // the size prefix lies
      return input(`api ${k} v${v} size ${delta > 0 ? '+' : ''}${delta}`, f, 4242);
    }),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: -5, max: 80 }), fc.integer({ min: -2, max: 20 })).map(([k, v]) =>
      input(
        `api ${k} v${v} empty body`,
        requestFrame(k, v, 4242, () => undefined),
        4242,
      ),
    ),
  },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 100 }).map((b) => input('random bytes', b, -1)) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ minLength: 8, maxLength: 100 }).map((b) => {
      const size = Buffer.alloc(4);
      size.writeInt32BE(b.byteLength);
      return input('random frame', Buffer.concat([size, b]), -1);
    }),
  },
);

// ---------------------------------------------------------------------------------------------
// One input, one connection

type Outcome = { kind: 'answered'; correlationId: number; bytes: number } | { kind: 'closed' } | { kind: 'pending' };

function send(bytes: Buffer, waitMs: number): Promise<{ outcome: Outcome; closeLogged: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port: running.port });
    let buf = Buffer.alloc(0);
    let done = false;
    const logsBefore = logRecords.length;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      // The close reason is logged synchronously with the close.
      setImmediate(() =>
        resolve({
          outcome: o,
          closeLogged: logRecords
            .slice(logsBefore)
            .some((r) => r.level === 'warn' && r.msg.startsWith('closing a client connection')),
        }),
      );
    };
    const timer = setTimeout(() => finish({ kind: 'pending' }), waitMs);
    s.on('error', () => undefined);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.byteLength < 8) return;
      const size = buf.readInt32BE(0);
      if (buf.byteLength < 4 + size) return;
      finish({ kind: 'answered', correlationId: buf.readInt32BE(4), bytes: size });
    });
    s.on('close', () => finish({ kind: 'closed' }));
  });
}

/** What a refused request must not have changed. */
function brokerState(): string {
  const b = running.broker;
  const topics = [...b.topics.topics.entries()]
    .map(([name, t]) => `${name}:${t.partitions.map((p) => p.logEndOffset).join(',')}`)
    .sort();
  const groups = (
    b.offsets as unknown as { groups: Map<string, Map<string, { offset: number; metadata: string | null }>> }
  ).groups;
  const offsets = [...groups]
    .map(([g, m]) => `${g}=${[...m].map(([k, o]) => `${k}@${o.offset}:${o.metadata}`).join(';')}`)
    .sort();
  return JSON.stringify({ topics, offsets });
}

async function readControl(): Promise<string[]> {
  const r = await bystander.request(ApiKey.Fetch, 11, bodyOfFetch(CONTROL));
  r.int32();
  expect(r.int16()).toBe(ErrorCode.NONE);
  r.int32();
  const [t] = r.array((x) => ({
    name: x.string(),
    partitions: x.array((y) => {
      y.int32();
      y.int16();
      y.int64();
      y.int64();
      y.int64();
      y.array((z) => [z.int64(), z.int64()]);
      y.int32();
      return y.nullableBytes();
    }),
  }));
  const recs = t?.partitions[0] ?? Buffer.alloc(0);
  const values: string[] = [];
  for (let at = 0; at < recs.byteLength; ) {
    const h = readBatchHeader(recs, at);
    if (h === undefined) break;
    for (const rec of decodeRecords(recs.subarray(at, at + h.sizeBytes)))
      values.push(Buffer.from(rec.value ?? []).toString());
    at += h.sizeBytes;
  }
  return values;
}

function bodyOfFetch(topic: string): (w: Writer) => void {
  return (w) => {
    w.int32(-1)
      .int32(0)
      .int32(0)
      .int32(1 << 20)
      .int8(0)
      .int32(0)
      .int32(-1);
    w.array([topic], (w2, t) => {
      w2.string(t);
      w2.array([0], (w3, p) =>
        w3
          .int32(p)
          .int32(-1)
          .int64(0)
          .int64(-1)
          .int32(1 << 20),
      );
    });
    w.int32(0).string('');
  };
}

// ---------------------------------------------------------------------------------------------

describe('Kafka-protocol broker fuzz', () => {
  it('mutated, truncated, lying and random requests: an answer or a close with a reason; a close changes nothing', async () => {
    heap.sample();
    await fc.assert(
      fc.asyncProperty(fc.array(inputArb, { minLength: 15, maxLength: 30 }), async (batch) => {
        for (const c of batch) {
          const before = brokerState();
          // A frame whose size prefix announces more than was sent waits for the rest (checked
          // briefly: it must not be answered or closed); Fetch long polls and group joins may wait
          // too; everything else answers or closes at once.
          const declared = c.bytes.byteLength >= 4 ? c.bytes.readInt32BE(0) : undefined;
          const incomplete =
            declared === undefined ||
            (declared >= 8 && declared <= 64 * 1024 * 1024 && c.bytes.byteLength - 4 < declared);
          const { outcome, closeLogged } = await send(c.bytes, incomplete ? 30 : 400);
          if (incomplete) expect(outcome.kind, String(c)).toBe('pending');
          if (outcome.kind === 'answered') {
            if (c.correlationId !== -1) expect(outcome.correlationId, String(c)).toBe(c.bytes.readInt32BE(8));
          } else if (outcome.kind === 'closed') {
            expect(closeLogged, `${String(c)}: closed without a logged reason`).toBe(true);
            expect(brokerState(), `${String(c)}: a refused request changed the broker`).toBe(before);
          }
          expect(fatal, String(c)).toEqual([]);
        }
        expect(logRecords.filter((r) => r.level === 'error')).toEqual([]);
        const versions = await bystander.request(ApiKey.ApiVersions, 2, () => undefined);
        expect(versions.int16()).toBe(ErrorCode.NONE);
        expect(await readControl()).toEqual(CONTROL_VALUES);
        heap.sample();
      }),
      fcParams(12),
    );
  });

  it('many requests pipelined on one connection, some broken: answers in order up to the broken one, then a close', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom(
              ...API_VERSIONS.filter(([k]) => k !== ApiKey.Fetch && k !== ApiKey.JoinGroup && k !== ApiKey.SyncGroup),
            ),
            fc.option(mutationsArb, { freq: 3, nil: undefined }),
          ),
          { minLength: 5, maxLength: 30 },
        ),
        async (reqs) => {
          const frames = reqs.map(([[k, v], ms], i) => {
            const f = requestFrame(k, v, 10_000 + i, bodyOf(k, v));
            return ms === undefined ? f : Buffer.from(mutate(f, ms));
          });
          const ids: number[] = [];
          await new Promise<void>((resolve) => {
            const s = net.connect({ host: '127.0.0.1', port: running.port });
            let buf = Buffer.alloc(0);
            const timer = setTimeout(() => s.destroy(), 1_500);
            s.on('error', () => undefined);
            s.on('connect', () => s.write(Buffer.concat(frames)));
            s.on('data', (d: Buffer) => {
              buf = Buffer.concat([buf, d]);
              while (buf.byteLength >= 8 && buf.byteLength >= 4 + buf.readInt32BE(0)) {
                ids.push(buf.readInt32BE(4));
                buf = buf.subarray(4 + buf.readInt32BE(0));
              }
              if (ids.length === frames.length) s.destroy();
            });
            s.on('close', () => {
              clearTimeout(timer);
              resolve();
            });
          });
          // Responses keep request order (a mutated frame may carry another id, or swallow the next frame).
          const expected = frames.map((f) => (f.byteLength >= 12 ? f.readInt32BE(8) : NaN));
          let at = 0;
          for (const id of ids) {
            while (at < expected.length && expected[at] !== id) at++;
            expect(at, `response ${id} out of order (${ids.join(',')} for ${expected.join(',')})`).toBeLessThan(
              expected.length,
            );
            at++;
          }
          expect(fatal).toEqual([]);
          expect(await readControl()).toEqual(CONTROL_VALUES);
        },
      ),
      fcParams(8),
    );
  });

  it('consumer groups driven by several clients at once with random joins, syncs, heartbeats, leaves and commits: no internal error', async () => {
    type Cmd =
      | {
          op: 'join';
          group: number;
          member: number;
          protocols: string[];
          type: string;
          session: number;
          rebalance: number;
        }
      | { op: 'sync'; group: number; member: number; generation: number; assign: number[] }
      | { op: 'heartbeat'; group: number; member: number; generation: number }
      | { op: 'leave'; group: number; members: number[] }
      | { op: 'commit'; group: number; member: number; generation: number; offset: number };
    const member = fc.integer({ min: -1, max: 12 }); // -1: '' (a new member), else one learnt so far (or an unknown id)
    const generation = fc.integer({ min: -2, max: 6 }); // ≥ 0: the group's generation + this - 1
    const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          op: fc.constant('join' as const),
          group: fc.nat(2),
          member: fc.oneof({ weight: 2, arbitrary: fc.constant(-1) }, { weight: 3, arbitrary: member }),
          protocols: fc.oneof(
            {
              weight: 5,
              arbitrary: fc.array(fc.constantFrom('range', 'roundrobin', 'sticky'), { minLength: 1, maxLength: 3 }),
            },
            { weight: 1, arbitrary: fc.constant<string[]>([]) },
          ),
          type: fc.constantFrom('consumer', 'consumer', 'consumer', 'connect', ''),
          session: fc.constantFrom(6_000, 10_000, 6_000, 500, 2_000_000),
          rebalance: fc.constantFrom(0, 50, 300, 300, -5),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          op: fc.constant('sync' as const),
          group: fc.nat(2),
          member,
          generation,
          assign: fc.array(fc.integer({ min: -1, max: 12 }), { maxLength: 4 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ op: fc.constant('heartbeat' as const), group: fc.nat(2), member, generation }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          op: fc.constant('leave' as const),
          group: fc.nat(2),
          members: fc.array(fc.integer({ min: -1, max: 12 }), { minLength: 1, maxLength: 3 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          op: fc.constant('commit' as const),
          group: fc.nat(2),
          member,
          generation,
          offset: fc.integer({ min: -2, max: 10 }),
        }),
      },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(cmdArb, { minLength: 3, maxLength: 12 }), { minLength: 2, maxLength: 5 }),
        async (clients) => {
          const groupNames = ['fzg-a', 'fzg-b', 'fzg-c'].map((g) => `${g}-${nextCorrelation++}`);
          const members: string[] = [];
          const generations = new Map<string, number>();
          const memberId = (k: number) => (k < 0 ? '' : (members[k % Math.max(1, members.length)] ?? `unknown-${k}`));
          const gen = (group: string, g: number) => (g < 0 ? g : (generations.get(group) ?? 0) + g - 1);
          await Promise.all(
            clients.map(async (cmds) => {
              const c = await RawClient.connect(running.port);
              try {
                for (const cmd of cmds) {
                  const group = groupNames[cmd.group]!;
                  let req: Promise<Reader>;
                  switch (cmd.op) {
                    case 'join':
                      req = c.request(ApiKey.JoinGroup, 5, (w) => {
                        w.string(group)
                          .int32(cmd.session)
                          .int32(cmd.rebalance)
                          .string(memberId(cmd.member))
                          .nullableString(null)
                          .string(cmd.type);
                        w.array(cmd.protocols, (w2, p) => w2.string(p).bytes(Buffer.from(p)));
                      });
                      break;
                    case 'sync':
                      req = c.request(ApiKey.SyncGroup, 3, (w) => {
                        w.string(group)
                          .int32(gen(group, cmd.generation))
                          .string(memberId(cmd.member))
                          .nullableString(null);
                        w.array(cmd.assign, (w2, a) => w2.string(memberId(a)).bytes(Buffer.from([a & 0xff])));
                      });
                      break;
                    case 'heartbeat':
                      req = c.request(ApiKey.Heartbeat, 3, (w) =>
                        w
                          .string(group)
                          .int32(gen(group, cmd.generation))
                          .string(memberId(cmd.member))
                          .nullableString(null),
                      );
                      break;
                    case 'leave':
                      req = c.request(ApiKey.LeaveGroup, 3, (w) =>
                        w.string(group).array(cmd.members, (w2, k) => w2.string(memberId(k)).nullableString(null)),
                      );
                      break;
                    case 'commit':
                      req = c.request(ApiKey.OffsetCommit, 7, (w) => {
                        w.string(group)
                          .int32(gen(group, cmd.generation))
                          .string(memberId(cmd.member))
                          .nullableString(null);
                        w.array(['fz'], (w2, t) =>
                          w2
                            .string(t)
                            .array([0], (w3, p) => w3.int32(p).int64(cmd.offset).int32(-1).nullableString(null)),
                        );
                      });
                      break;
                  }
                  // A join or sync may wait for the other members (bounded by the rebalance timeout).
                  const r = await Promise.race([
                    req,
                    new Promise<undefined>((res) => setTimeout(() => res(undefined), 1_500)),
                  ]);
                  if (r === undefined) break;
                  if (cmd.op === 'join') {
                    r.int32();
                    const error = r.int16();
                    const generationId = r.int32();
                    r.string();
                    r.string();
                    const id = r.string();
                    if (error === ErrorCode.NONE) {
                      generations.set(group, generationId);
                      if (!members.includes(id)) members.push(id);
                    }
                  }
                }
              } finally {
                c.close();
              }
            }),
          );
          expect(fatal).toEqual([]);
          expect(logRecords.filter((r) => r.level === 'error' || r.msg.includes('internal error'))).toEqual([]);
          expect(await readControl()).toEqual(CONTROL_VALUES);
        },
      ),
      fcParams(10),
    );
  }, 120_000);

  it('record batches mutated behind a valid CRC reach the record checks; whatever was accepted, the log reopens after a restart', async () => {
    const base = (pid: number, seq: number) =>
      batchOf(['x', 'yy', 'zzz', 'a'.repeat(300)], pid, pid >= 0 ? 0 : -1, pid >= 0 ? seq : -1);
    /** The batch mutated, then its length field and CRC32C made right again (what a buggy producer could send). */
    const fixed = (b: Buffer, ms: Parameters<typeof mutate>[1]): Buffer => {
      const m = Buffer.from(mutate(b, ms));
      if (m.byteLength < 61) return m;
      m.writeInt32BE(m.byteLength - 12, 8);
      m.writeUInt32BE(crc32c(m.subarray(21)) >>> 0, 17);
      return m;
    };
    // Mutations in the record area and in the header fields behind the CRC (attributes, deltas, timestamps, producer, count).
    const targetedArb = fc.array(
      fc.oneof(
        mutationsArb.map((ms) => ms[0]!),
        fc.record({
          kind: fc.constant('set' as const),
          at: fc.integer({ min: 21, max: 60 }),
          value: fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xff),
        }),
      ),
      { minLength: 1, maxLength: 3 },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: -1, max: 3 }), targetedArb), { minLength: 5, maxLength: 20 }),
        async (batches) => {
          const c = await RawClient.connect(running.port);
          try {
            for (const [pid, ms] of batches) {
              const records = fixed(base(pid, 0), ms);
              const r = await Promise.race([
                c.request(ApiKey.Produce, 7, produceBody('fz', 0, records)),
                c.closed.then(() => undefined),
              ]);
              if (r === undefined) break; // refused as malformed: the connection is closed, with a reason
              const [t] = r.array((x) => ({
                name: x.string(),
                partitions: x.array((y) => ({
                  partition: y.int32(),
                  error: y.int16(),
                  base: y.int64(),
                  t: y.int64(),
                  start: y.int64(),
                })),
              }));
              expect(Object.values(ErrorCode)).toContain(t!.partitions[0]!.error);
            }
          } finally {
            c.close();
          }
          expect(fatal).toEqual([]);
        },
      ),
      fcParams(6),
    );
    // Whatever went in must not stop the broker from opening its log again, nor break readers.
    bystander.close();
    await running.close();
    running = await startBroker(brokerOptions());
    bystander = await RawClient.connect(running.port);
    expect(await readControl()).toEqual(CONTROL_VALUES);
    const r = await bystander.request(ApiKey.Fetch, 11, bodyOfFetch('fz'));
    r.int32();
    expect(r.int16()).toBe(ErrorCode.NONE);
    expect(fatal).toEqual([]);
  });

  it('heap does not grow across batches', () => {
    heap.sample();
    expect(heap.growthBytes(), heap.describe()).toBeLessThan(heap.slackBytes);
  });
});
