// Partition logs (append, read, segments, recovery with torn tails, producer dedup rebuilt
// from the log, retention, timestamps) and the committed-offsets file. Temp dirs only.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LogCorruptionError, PartitionLog, type PartitionLogOptions } from '../../../events/broker/log.js';
import { OffsetStore } from '../../../events/broker/offsets.js';
import { ProducerStateTable } from '../../../events/broker/producer-state.js';
import { ErrorCode } from '../../../events/broker/protocol.js';
import {
  checkProducedRecords,
  decodeRecords,
  encodeRecordBatch,
  readBatchHeader,
  type BatchHeader,
} from '../../../events/broker/record-batch.js';
import { removeTmpDirs, tmpDir } from './helpers.js';

const logs: PartitionLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close().catch(() => undefined);
  removeTmpDirs();
});

function open(dir: string, options: PartitionLogOptions = {}): PartitionLog {
  const log = PartitionLog.open(dir, { warn: () => undefined, ...options });
  logs.push(log);
  return log;
}

function batch(
  values: string[],
  extra: { producerId?: number; producerEpoch?: number; baseSequence?: number; timestampMs?: number } = {},
): { buf: Buffer; h: BatchHeader } {
  const buf = encodeRecordBatch({
    records: values.map((v, i) => ({
      key: Buffer.from(`k-${v}`),
      value: Buffer.from(v),
      timestampMs: (extra.timestampMs ?? 1_000) + i,
    })),
    ...(extra.producerId !== undefined
      ? { producerId: extra.producerId, producerEpoch: extra.producerEpoch ?? 0, baseSequence: extra.baseSequence ?? 0 }
      : {}),
  });
  const check = checkProducedRecords(buf, 7);
  if (!check.ok) throw new Error(check.reason);
  return { buf, h: check.header };
}

function append(log: PartitionLog, values: string[], extra: Parameters<typeof batch>[1] = {}) {
  const b = batch(values, extra);
  return log.appendProduced(b.buf, b.h);
}

/** Every value in the log from `offset`, reading batch by batch through read(). */
function readAll(log: PartitionLog, from = 0, maxBytes = 1 << 20): { offset: number; value: string }[] {
  const out: { offset: number; value: string }[] = [];
  let offset = from;
  for (;;) {
    const r = log.read(offset, maxBytes);
    expect(r.error).toBe(ErrorCode.NONE);
    if (r.records.byteLength === 0) return out;
    let at = 0;
    while (at < r.records.byteLength) {
      const h = readBatchHeader(r.records, at) as BatchHeader;
      for (const rec of decodeRecords(r.records.subarray(at, at + h.sizeBytes))) {
        if (rec.offset >= offset) out.push({ offset: rec.offset, value: Buffer.from(rec.value ?? []).toString() });
      }
      at += h.sizeBytes;
      offset = h.baseOffset + h.lastOffsetDelta + 1;
    }
  }
}

describe('partition log', () => {
  it('assigns offsets, reads from any offset (mid-batch too), and keeps everything across segments and reopen', async () => {
    const dir = tmpDir();
    const log = open(dir, { segmentBytesMax: 400 });
    const expected: { offset: number; value: string }[] = [];
    for (let i = 0; i < 30; i++) {
      const values = [`v${i}a`, `v${i}b`, `v${i}c`].slice(0, 1 + (i % 3));
      const res = append(log, values);
      expect(res).toEqual({ kind: 'appended', baseOffset: expected.length });
      for (const value of values) expected.push({ offset: expected.length, value });
    }
    await log.flush();
    expect(log.segmentCount).toBeGreaterThan(3);
    expect(log.logEndOffset).toBe(expected.length);
    expect(log.highWatermark).toBe(expected.length);
    expect(readAll(log)).toEqual(expected);
    expect(readAll(log, 7)).toEqual(expected.slice(7));
    // A small limit still returns one whole batch, so readers always progress.
    expect(log.read(0, 1).records.byteLength).toBeGreaterThan(0);
    expect(log.read(0, 1, false).records.byteLength).toBe(0);
    expect(log.read(expected.length + 1, 100).error).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    await log.close();

    const again = open(dir, { segmentBytesMax: 400 });
    expect(again.logEndOffset).toBe(expected.length);
    expect(readAll(again)).toEqual(expected);
    expect(append(again, ['after'])).toEqual({ kind: 'appended', baseOffset: expected.length });
  });

  it("under fsync 'always' readers see a batch only once flushed", async () => {
    const log = open(tmpDir());
    append(log, ['a']);
    expect(log.logEndOffset).toBe(1);
    expect(log.highWatermark).toBe(0);
    expect(log.read(0, 1000).records.byteLength).toBe(0);
    await log.flush();
    expect(log.highWatermark).toBe(1);
    expect(readAll(log).map((r) => r.value)).toEqual(['a']);
  });

  it('recovery truncates a torn tail (partial batch) and a corrupt last batch, keeping what came before', async () => {
    const dir = tmpDir();
    const log = open(dir);
    for (let i = 0; i < 5; i++) append(log, [`m${i}`]);
    await log.flush();
    await log.close();
    const file = path.join(dir, '00000000000000000000.log');
    const whole = fs.readFileSync(file);
    const oneBatch = whole.byteLength / 5;

    // A crash in the middle of writing a sixth batch: a partial batch at the end.
    const torn = batch(['torn']).buf.subarray(0, 40);
    fs.appendFileSync(file, torn);
    const warnings: string[] = [];
    const reopened = PartitionLog.open(dir, { warn: (w) => warnings.push(w) });
    logs.push(reopened);
    expect(warnings.join('\n')).toMatch(/truncating 40 bytes/);
    expect(fs.statSync(file).size).toBe(whole.byteLength);
    expect(readAll(reopened).map((r) => r.value)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(append(reopened, ['m5'])).toEqual({ kind: 'appended', baseOffset: 5 });
    await reopened.flush();
    await reopened.close();

    // A flipped bit inside the last batch: its CRC fails and it is cut off.
    const bytes = fs.readFileSync(file);
    bytes[bytes.byteLength - 3] = (bytes[bytes.byteLength - 3] as number) ^ 0xff;
    fs.writeFileSync(file, bytes);
    const third = open(dir);
    expect(third.logEndOffset).toBe(5);
    expect(fs.statSync(file).size).toBe(oneBatch * 5);
  });

  it('refuses to open when an older segment is damaged, and changes nothing', async () => {
    const dir = tmpDir();
    const log = open(dir, { segmentBytesMax: 200 });
    for (let i = 0; i < 12; i++) append(log, [`value-${i}`]);
    await log.flush();
    await log.close();
    const first = path.join(dir, '00000000000000000000.log');
    const bytes = fs.readFileSync(first);
    bytes.writeInt32BE(7, 8); // batch length too small for a header
    fs.writeFileSync(first, bytes);
    expect(() => PartitionLog.open(dir, { warn: () => undefined })).toThrow(LogCorruptionError);
    expect(fs.readFileSync(first)).toEqual(bytes);
  });

  it('deduplicates a retried idempotent batch, refuses gaps and old epochs, and remembers producers across reopen', async () => {
    const dir = tmpDir();
    const log = open(dir);
    expect(append(log, ['a', 'b'], { producerId: 5, baseSequence: 0 })).toEqual({ kind: 'appended', baseOffset: 0 });
    expect(append(log, ['c'], { producerId: 5, baseSequence: 2 })).toEqual({ kind: 'appended', baseOffset: 2 });
    expect(append(log, ['a', 'b'], { producerId: 5, baseSequence: 0 })).toEqual({ kind: 'duplicate', baseOffset: 0 });
    expect(append(log, ['c'], { producerId: 5, baseSequence: 2 })).toEqual({ kind: 'duplicate', baseOffset: 2 });
    expect(append(log, ['e'], { producerId: 5, baseSequence: 4 })).toMatchObject({
      kind: 'error',
      error: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
    expect(append(log, ['x'], { producerId: 6, baseSequence: 3 })).toMatchObject({
      kind: 'error',
      error: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    });
    expect(log.logEndOffset).toBe(3);
    await log.flush();
    await log.close();

    const again = open(dir);
    expect(append(again, ['c'], { producerId: 5, baseSequence: 2 })).toEqual({ kind: 'duplicate', baseOffset: 2 });
    expect(append(again, ['d'], { producerId: 5, baseSequence: 3 })).toEqual({ kind: 'appended', baseOffset: 3 });
    expect(append(again, ['z'], { producerId: 5, producerEpoch: 1, baseSequence: 0 })).toEqual({
      kind: 'appended',
      baseOffset: 4,
    });
    expect(append(again, ['old'], { producerId: 5, producerEpoch: 0, baseSequence: 4 })).toMatchObject({
      kind: 'error',
      error: ErrorCode.INVALID_PRODUCER_EPOCH,
    });
  });

  it('producer sequences wrap from 2^31 - 1 to 0', () => {
    const t = new ProducerStateTable();
    t.record(1, 0, 0x7ffffffe, 2, 10); // sequences 2^31-2 and 2^31-1
    expect(t.check(1, 0, 0, 1)).toEqual({ kind: 'append' });
    expect(t.check(1, 0, 0x7ffffffe, 2)).toEqual({ kind: 'duplicate', baseOffset: 10 });
    expect(t.check(1, 0, 1, 1)).toMatchObject({ kind: 'error', error: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER });
  });

  it('retention by bytes deletes whole old segments and moves the log start', async () => {
    const log = open(tmpDir(), { segmentBytesMax: 300, retentionBytes: 600 });
    for (let i = 0; i < 40; i++) append(log, [`retained-${i}`]);
    await log.flush();
    expect(log.logStartOffset).toBeGreaterThan(0);
    // Checked at each roll: at most the retained bytes plus the segment rolled and the active one.
    expect(log.sizeBytes).toBeLessThan(600 + 2 * 300);
    expect(log.read(0, 100).error).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    const rest = readAll(log, log.logStartOffset);
    expect(rest.at(-1)).toEqual({ offset: 39, value: 'retained-39' });
  });

  it('finds the first offset at or after a timestamp', async () => {
    const log = open(tmpDir());
    append(log, ['a', 'b', 'c'], { timestampMs: 1_000 }); // 1000, 1001, 1002
    append(log, ['d', 'e'], { timestampMs: 2_000 }); // 2000, 2001
    await log.flush();
    expect(log.offsetForTimestamp(0)).toEqual({ offset: 0, timestampMs: 1_000 });
    expect(log.offsetForTimestamp(1_001)).toEqual({ offset: 1, timestampMs: 1_001 });
    expect(log.offsetForTimestamp(1_500)).toEqual({ offset: 3, timestampMs: 2_000 });
    expect(log.offsetForTimestamp(9_999)).toBeUndefined();
  });
});

describe('committed offsets', () => {
  it('persists commits, keeps the last per partition, and survives a torn tail', async () => {
    const dir = tmpDir();
    const store = OffsetStore.open(dir);
    await store.commit('g1', [
      { topic: 't', partition: 0, offset: 5, metadata: null },
      { topic: 't', partition: 1, offset: 9, metadata: 'm' },
    ]);
    await store.commit('g1', [{ topic: 't', partition: 0, offset: 7, metadata: null }]);
    await store.commit('g2', [{ topic: 'u', partition: 3, offset: 1, metadata: '' }]);
    await store.close();
    fs.appendFileSync(path.join(dir, 'commits.log'), Buffer.from([0, 0, 0, 50, 1, 2, 3]));

    const warnings: string[] = [];
    const again = OffsetStore.open(dir, { warn: (w) => warnings.push(w) });
    expect(warnings).toHaveLength(1);
    expect(again.get('g1', 't', 0)).toEqual({ offset: 7, metadata: null });
    expect(again.get('g1', 't', 1)).toEqual({ offset: 9, metadata: 'm' });
    expect(again.get('g2', 'u', 3)).toEqual({ offset: 1, metadata: '' });
    expect(again.get('g2', 't', 0)).toBeUndefined();
    expect(again.list('g1').map((e) => [e.topic, e.partition, e.offset])).toEqual([
      ['t', 0, 7],
      ['t', 1, 9],
    ]);
    await again.close();
  });

  it('compacts a file dominated by overwritten commits, keeping the latest values', async () => {
    const dir = tmpDir();
    const store = OffsetStore.open(dir, { fsync: false });
    const metadata = 'x'.repeat(4000);
    for (let i = 0; i < 1500; i++) await store.commit('g', [{ topic: 't', partition: i % 3, offset: i, metadata }]);
    expect(fs.statSync(path.join(dir, 'commits.log')).size).toBeLessThan(4 * 1024 * 1024 + 10_000);
    await store.close();
    const again = OffsetStore.open(dir);
    expect([0, 1, 2].map((p) => again.get('g', 't', p)?.offset)).toEqual([1497, 1498, 1499]);
    await again.close();
  });
});
