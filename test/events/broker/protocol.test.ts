// The broker over real TCP, spoken to byte by byte: version negotiation, closing on bad
// input without harm to other connections, idempotent dedup of a re-sent produce request,
// sequence gaps, CRC errors, acks=0, long-poll fetch, and in-order responses.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../../events/broker/server.js';
import { ApiKey, ErrorCode, type Reader, type Writer } from '../../../events/broker/protocol.js';
import { decodeRecords, encodeRecordBatch, readBatchHeader } from '../../../events/broker/record-batch.js';
import { RawClient, removeTmpDirs, requestFrame, tmpDir } from './helpers.js';
import { collectLog, type LogRecord } from '../../ops/collect-log.js';

let running: RunningBroker;
const clients: RawClient[] = [];
const logRecords: LogRecord[] = [];

beforeEach(async () => {
  logRecords.length = 0;
  running = await startBroker({ dataDir: tmpDir(), port: 0, log: collectLog(logRecords) });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await running.close();
  removeTmpDirs();
});

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(running.port);
  clients.push(c);
  return c;
}

function readApiVersions(
  r: Reader,
  v: number,
): { error: number; apis: Map<number, [number, number]>; throttle?: number } {
  const error = r.int16();
  const apis = new Map<number, [number, number]>();
  for (const e of r.array((x) => [x.int16(), x.int16(), x.int16()] as const)) apis.set(e[0], [e[1], e[2]]);
  return v >= 1 ? { error, apis, throttle: r.int32() } : { error, apis };
}

async function createTopic(c: RawClient, name: string, partitions: number): Promise<number> {
  const r = await c.request(ApiKey.CreateTopics, 3, (w) => {
    w.array([name], (w2, n) => w2.string(n).int32(partitions).int16(1).int32(0).int32(0));
    w.int32(5_000).bool(false);
  });
  r.int32();
  const [res] = r.array((x) => ({ name: x.string(), error: x.int16(), message: x.nullableString() }));
  return res?.error ?? -999;
}

async function initProducerId(c: RawClient): Promise<{ producerId: number; epoch: number }> {
  const r = await c.request(ApiKey.InitProducerId, 1, (w) => w.nullableString(null).int32(60_000));
  r.int32();
  expect(r.int16()).toBe(ErrorCode.NONE);
  return { producerId: r.int64(), epoch: r.int16() };
}

function produceBody(topic: string, partition: number, records: Buffer, acks = -1): (w: Writer) => void {
  return (w) => {
    w.nullableString(null).int16(acks).int32(5_000);
    w.array([topic], (w2, t) => {
      w2.string(t);
      w2.array([partition], (w3, p) => w3.int32(p).bytes(records));
    });
  };
}

function readProduce(r: Reader): { error: number; baseOffset: number; logStartOffset: number } {
  const [t] = r.array((x) => ({
    name: x.string(),
    partitions: x.array((y) => ({
      partition: y.int32(),
      error: y.int16(),
      baseOffset: y.int64(),
      appendTime: y.int64(),
      logStartOffset: y.int64(),
    })),
  }));
  const p = t?.partitions[0];
  if (p === undefined) throw new Error('no partition in produce response');
  return { error: p.error, baseOffset: p.baseOffset, logStartOffset: p.logStartOffset };
}

async function latestOffset(c: RawClient, topic: string, partition: number): Promise<number> {
  const r = await c.request(ApiKey.ListOffsets, 2, (w) => {
    w.int32(-1).int8(0);
    w.array([topic], (w2, t) => {
      w2.string(t);
      w2.array([partition], (w3, p) => w3.int32(p).int64(-1));
    });
  });
  r.int32();
  const [t] = r.array((x) => ({
    name: x.string(),
    partitions: x.array((y) => ({ partition: y.int32(), error: y.int16(), ts: y.int64(), offset: y.int64() })),
  }));
  return t?.partitions[0]?.offset ?? -999;
}

function fetchBody(
  topic: string,
  partition: number,
  offset: number,
  maxWaitMs: number,
  minBytes: number,
): (w: Writer) => void {
  return (w) => {
    w.int32(-1)
      .int32(maxWaitMs)
      .int32(minBytes)
      .int32(1 << 20)
      .int8(0)
      .int32(0)
      .int32(-1);
    w.array([topic], (w2, t) => {
      w2.string(t);
      w2.array([partition], (w3, p) =>
        w3
          .int32(p)
          .int32(-1)
          .int64(offset)
          .int64(-1)
          .int32(1 << 20),
      );
    });
    w.int32(0).string('');
  };
}

function readFetchValues(r: Reader): { error: number; highWatermark: number; values: string[] } {
  r.int32();
  expect(r.int16()).toBe(ErrorCode.NONE);
  r.int32();
  const [t] = r.array((x) => ({
    name: x.string(),
    partitions: x.array((y) => {
      const partition = y.int32();
      const error = y.int16();
      const highWatermark = y.int64();
      y.int64();
      y.int64();
      y.array((z) => [z.int64(), z.int64()]);
      y.int32();
      return { partition, error, highWatermark, records: y.nullableBytes() };
    }),
  }));
  const p = t?.partitions[0];
  if (p === undefined) throw new Error('no partition in fetch response');
  const values: string[] = [];
  const recs = p.records ?? Buffer.alloc(0);
  for (let at = 0; at < recs.byteLength; ) {
    const h = readBatchHeader(recs, at);
    if (h === undefined) break;
    for (const rec of decodeRecords(recs.subarray(at, at + h.sizeBytes)))
      values.push(Buffer.from(rec.value ?? []).toString());
    at += h.sizeBytes;
  }
  return { error: p.error, highWatermark: p.highWatermark, values };
}

const batchOf = (values: string[], pid = -1, epoch = -1, seq = -1) =>
  encodeRecordBatch({
    records: values.map((v) => ({ key: null, value: Buffer.from(v) })),
    producerId: pid,
    producerEpoch: epoch,
    baseSequence: seq,
    nowMs: 1_700_000_000_000,
  });

describe('version negotiation', () => {
  it('answers ApiVersions v0–v2 with the table, and v3 (flexible) with UNSUPPORTED_VERSION and the table in the v0 layout', async () => {
    const c = await connect();
    for (const v of [0, 1, 2]) {
      const res = readApiVersions(await c.request(ApiKey.ApiVersions, v, () => undefined), v);
      expect(res.error).toBe(ErrorCode.NONE);
      expect(res.apis.get(ApiKey.Produce)).toEqual([3, 7]);
      expect(res.apis.get(ApiKey.Fetch)).toEqual([4, 11]);
      expect(res.apis.get(ApiKey.ApiVersions)).toEqual([0, 2]);
    }
    // A v3 request as librdkafka sends it: header v2 (tagged fields) and a compact body.
    const body = Buffer.from([0x00, 0x06, 0x6b, 0x63, 0x61, 0x74, 0x00, 0x02, 0x31, 0x00]); // tags, compact strings, tags
    const frame = requestFrame(ApiKey.ApiVersions, 3, 77, (w) => w.raw(body), 'kcat');
    const res = readApiVersions(await c.requestBytes(frame, 77), 0);
    expect(res.error).toBe(ErrorCode.UNSUPPORTED_VERSION);
    expect(res.apis.get(ApiKey.ApiVersions)).toEqual([0, 2]);
    // The connection is still usable.
    expect(readApiVersions(await c.request(ApiKey.ApiVersions, 2, () => undefined), 2).error).toBe(ErrorCode.NONE);
  });

  it('closes the connection on an unknown api key, an unsupported version, an oversized frame or a malformed body — and keeps serving others', async () => {
    const bystander = await connect();
    const cases: Buffer[] = [
      requestFrame(57, 0, 1, () => undefined),
      requestFrame(ApiKey.Metadata, 12, 1, () => undefined),
      Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
      Buffer.from([0xff, 0xff, 0xff, 0xf0]),
      requestFrame(ApiKey.Metadata, 1, 1, (w) => w.int32(5).string('only-one')),
      requestFrame(ApiKey.Produce, 7, 1, (w) => w.nullableString(null).int16(-1)),
      requestFrame(ApiKey.JoinGroup, 5, 1, (w) =>
        w
          .string('g')
          .int32(10_000)
          .int32(10_000)
          .string('')
          .nullableString(null)
          .string('consumer')
          .int32(2_000_000_000),
      ),
    ];
    for (const bytes of cases) {
      const c = await connect();
      c.write(bytes);
      await c.closed;
    }
    expect(logRecords.filter((r) => r.level === 'warn' && r.msg.startsWith('closing a client connection')).length).toBe(
      cases.length,
    );
    expect(logRecords.some((r) => r.level === 'error')).toBe(false);
    expect(readApiVersions(await bystander.request(ApiKey.ApiVersions, 2, () => undefined), 2).error).toBe(
      ErrorCode.NONE,
    );
  });
});

describe('group requests', () => {
  it('a client id of maximal length still yields a member id that fits a protocol string', async () => {
    const c = await connect();
    const clientId = 'c'.repeat(32_000);
    const frame = requestFrame(
      ApiKey.JoinGroup,
      5,
      9,
      (w) => {
        w.string('long-client').int32(10_000).int32(10_000).string('').nullableString(null).string('consumer');
        w.array(['roundrobin'], (w2, n) => w2.string(n).bytes(Buffer.from('m')));
      },
      clientId,
    );
    const r = await c.requestBytes(frame, 9);
    r.int32();
    expect(r.int16()).toBe(ErrorCode.NONE);
    expect(r.int32()).toBe(1);
    r.string();
    r.string();
    const memberId = r.string();
    expect(memberId.startsWith('c'.repeat(200))).toBe(true);
    expect(memberId.length).toBeLessThan(300);
    expect(logRecords.some((r) => r.level === 'error')).toBe(false);
  });
});

describe('produce', () => {
  it('acknowledges a re-sent idempotent produce request (same bytes) without appending it again', async () => {
    const c = await connect();
    expect(await createTopic(c, 'dedup', 2)).toBe(ErrorCode.NONE);
    const { producerId, epoch } = await initProducerId(c);
    const frame = requestFrame(
      ApiKey.Produce,
      7,
      1000,
      produceBody('dedup', 1, batchOf(['a', 'b', 'c'], producerId, epoch, 0)),
    );
    const first = readProduce(await c.requestBytes(frame, 1000));
    expect(first).toMatchObject({ error: ErrorCode.NONE, baseOffset: 0 });
    // The same bytes again, as a producer retrying after a lost response would send them.
    const again = readProduce(await c.requestBytes(frame, 1000));
    expect(again).toMatchObject({ error: ErrorCode.NONE, baseOffset: 0 });
    expect(await latestOffset(c, 'dedup', 1)).toBe(3);

    // A gap in the sequence is refused; the next sequence is accepted.
    const gap = readProduce(
      await c.request(ApiKey.Produce, 7, produceBody('dedup', 1, batchOf(['x'], producerId, epoch, 5))),
    );
    expect(gap.error).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    const next = readProduce(
      await c.request(ApiKey.Produce, 7, produceBody('dedup', 1, batchOf(['d'], producerId, epoch, 3))),
    );
    expect(next).toMatchObject({ error: ErrorCode.NONE, baseOffset: 3 });
    expect(await latestOffset(c, 'dedup', 1)).toBe(4);
    // Sequences are per partition: partition 0 starts at 0.
    expect(
      readProduce(await c.request(ApiKey.Produce, 7, produceBody('dedup', 0, batchOf(['p0'], producerId, epoch, 0)))),
    ).toMatchObject({ error: ErrorCode.NONE, baseOffset: 0 });
    const fetched = readFetchValues(await c.request(ApiKey.Fetch, 11, fetchBody('dedup', 1, 0, 0, 0)));
    expect(fetched.values).toEqual(['a', 'b', 'c', 'd']);
  });

  it('refuses a batch with a bad CRC with CORRUPT_MESSAGE, and unknown partitions, and appends nothing', async () => {
    const c = await connect();
    await createTopic(c, 'crc', 1);
    const bad = batchOf(['payload']);
    bad[bad.byteLength - 2] = (bad[bad.byteLength - 2] as number) ^ 0x10;
    expect(readProduce(await c.request(ApiKey.Produce, 7, produceBody('crc', 0, bad))).error).toBe(
      ErrorCode.CORRUPT_MESSAGE,
    );
    expect(readProduce(await c.request(ApiKey.Produce, 7, produceBody('crc', 3, batchOf(['x'])))).error).toBe(
      ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    );
    expect(readProduce(await c.request(ApiKey.Produce, 7, produceBody('nope', 0, batchOf(['x'])))).error).toBe(
      ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    );
    expect(readProduce(await c.request(ApiKey.Produce, 7, produceBody('crc', 0, batchOf(['x']), 2))).error).toBe(
      ErrorCode.INVALID_REQUIRED_ACKS,
    );
    expect(await latestOffset(c, 'crc', 0)).toBe(0);
  });

  it('sends no response for acks=0, and still answers the next request in order', async () => {
    const c = await connect();
    await createTopic(c, 'fire', 1);
    c.write(requestFrame(ApiKey.Produce, 7, 500, produceBody('fire', 0, batchOf(['f1']), 0)));
    expect(await latestOffset(c, 'fire', 0)).toBe(1);
  });
});

describe('fetch', () => {
  it('long-polls: a fetch waiting for min_bytes is answered when a producer appends', async () => {
    const consumer = await connect();
    const producer = await connect();
    await createTopic(producer, 'poll', 1);
    // Waits up to FETCH_WAIT_MS_MAX (30 s); the test's own timeout (below) is shorter, so only a wake-up passes.
    const pending = consumer.request(ApiKey.Fetch, 11, fetchBody('poll', 0, 0, 60_000, 1));
    let answered = false;
    void pending.then(() => (answered = true));
    await latestOffset(producer, 'poll', 0); // a round trip: the fetch is surely parked by now
    expect(answered).toBe(false);
    expect(
      readProduce(await producer.request(ApiKey.Produce, 7, produceBody('poll', 0, batchOf(['wake'])))),
    ).toMatchObject({ error: ErrorCode.NONE });
    const res = readFetchValues(await pending);
    expect(res.values).toEqual(['wake']);
    expect(res.highWatermark).toBe(1);
  }, 15_000);

  it('answers in request order on one connection, and OFFSET_OUT_OF_RANGE past the end', async () => {
    const c = await connect();
    await createTopic(c, 'order', 1);
    const order: string[] = [];
    const slow = c.request(ApiKey.Fetch, 11, fetchBody('order', 0, 0, 200, 1)).then((r) => {
      order.push('fetch');
      return r;
    });
    const quick = c
      .request(ApiKey.ApiVersions, 2, () => undefined)
      .then((r) => {
        order.push('apiVersions');
        return r;
      });
    await Promise.all([slow, quick]);
    expect(order).toEqual(['fetch', 'apiVersions']);
    const r = await c.request(ApiKey.Fetch, 11, fetchBody('order', 0, 5, 0, 0));
    r.int32();
    r.int16();
    r.int32();
    const [t] = r.array((x) => ({
      name: x.string(),
      partitions: x.array((y) => ({ partition: y.int32(), error: y.int16() })),
    }));
    expect(t?.partitions[0]?.error).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
  });
});
