// Record batch v2: encode/decode round trips, CRC32C verification, produce-side validation.

import { crc32c } from '@aws-crypto/crc32c';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../events/broker/protocol.js';
import {
  BATCH_HEADER_BYTES,
  checkProducedRecords,
  decodeRecords,
  encodeRecordBatch,
  readBatchHeader,
  setBaseOffset,
  setPartitionLeaderEpoch,
} from '../../../events/broker/record-batch.js';

const enc = (s: string) => Buffer.from(s, 'utf8');

describe('record batch v2', () => {
  it('round-trips keys, values, null fields, headers and timestamps', () => {
    const records = [
      { key: enc('k1'), value: enc('hello'), timestampMs: 1_700_000_000_000 },
      {
        key: null,
        value: enc(''),
        timestampMs: 1_700_000_000_005,
        headers: [
          { key: 'h', value: enc('v') },
          { key: 'n', value: null },
        ],
      },
      { key: enc('k3'), value: null, timestampMs: 1_699_999_999_000 },
      { key: enc('x'.repeat(300)), value: Buffer.alloc(70_000, 7), timestampMs: 1_700_000_000_001 },
    ];
    const batch = encodeRecordBatch({ records, baseOffset: 42, producerId: 7, producerEpoch: 1, baseSequence: 100 });
    const h = readBatchHeader(batch, 0);
    expect(h).toMatchObject({
      baseOffset: 42,
      sizeBytes: batch.byteLength,
      magic: 2,
      lastOffsetDelta: 3,
      recordCount: 4,
      producerId: 7,
      producerEpoch: 1,
      baseSequence: 100,
    });
    expect(h?.baseTimestamp).toBe(1_699_999_999_000);
    expect(h?.maxTimestamp).toBe(1_700_000_000_005);
    const out = decodeRecords(batch);
    expect(out.map((r) => r.offset)).toEqual([42, 43, 44, 45]);
    expect(out.map((r) => r.timestampMs)).toEqual(records.map((r) => r.timestampMs));
    expect(out[0]?.key && Buffer.from(out[0].key).toString()).toBe('k1');
    expect(out[1]?.key).toBeNull();
    expect(out[1]?.headers.map((x) => [x.key, x.value === null ? null : Buffer.from(x.value).toString()])).toEqual([
      ['h', 'v'],
      ['n', null],
    ]);
    expect(out[2]?.value).toBeNull();
    expect(out[3]?.value?.byteLength).toBe(70_000);
    expect(checkProducedRecords(batch, 7)).toMatchObject({ ok: true });
  });

  it('rewriting baseOffset and the leader epoch keeps the CRC valid (it covers attributes onwards)', () => {
    const batch = encodeRecordBatch({ records: [{ key: enc('a'), value: enc('b') }] });
    setBaseOffset(batch, 0, 123_456_789_012);
    setPartitionLeaderEpoch(batch, 0, 9);
    expect(readBatchHeader(batch, 0)?.baseOffset).toBe(123_456_789_012);
    expect(checkProducedRecords(batch, 3)).toMatchObject({ ok: true });
  });

  it('refuses a corrupted byte anywhere under the CRC with CORRUPT_MESSAGE', () => {
    const batch = encodeRecordBatch({
      records: [
        { key: enc('key'), value: enc('value') },
        { key: null, value: enc('v2') },
      ],
    });
    for (let at = 21; at < batch.byteLength; at++) {
      const bad = Buffer.from(batch);
      bad[at] = (bad[at] as number) ^ 0x01;
      const res = checkProducedRecords(bad, 7);
      expect(res.ok, `flip at byte ${at}`).toBe(false);
      if (!res.ok && at >= BATCH_HEADER_BYTES) expect(res.error).toBe(ErrorCode.CORRUPT_MESSAGE);
    }
  });

  it('refuses truncated input, two batches in one partition, transactional batches and unknown codecs', () => {
    const batch = encodeRecordBatch({ records: [{ key: null, value: enc('v') }] });
    expect(checkProducedRecords(batch.subarray(0, 30), 7)).toMatchObject({
      ok: false,
      error: ErrorCode.CORRUPT_MESSAGE,
    });
    expect(checkProducedRecords(batch.subarray(0, batch.byteLength - 1), 7)).toMatchObject({
      ok: false,
      error: ErrorCode.CORRUPT_MESSAGE,
    });
    expect(checkProducedRecords(Buffer.concat([batch, batch]), 7)).toMatchObject({
      ok: false,
      error: ErrorCode.CORRUPT_MESSAGE,
    });
    expect(
      checkProducedRecords(encodeRecordBatch({ records: [{ key: null, value: enc('v') }], attributes: 0x10 }), 7),
    ).toMatchObject({ ok: false, error: ErrorCode.INVALID_REQUEST });
    expect(
      checkProducedRecords(encodeRecordBatch({ records: [{ key: null, value: enc('v') }], attributes: 0x05 }), 7),
    ).toMatchObject({ ok: false, error: ErrorCode.UNSUPPORTED_COMPRESSION_TYPE });
    expect(
      checkProducedRecords(encodeRecordBatch({ records: [{ key: null, value: enc('v') }], attributes: 0x04 }), 6),
    ).toMatchObject({ ok: false, error: ErrorCode.UNSUPPORTED_COMPRESSION_TYPE });
  });

  it('refuses a record count that disagrees with the records (CRC recomputed, so only structure is wrong)', () => {
    const batch = encodeRecordBatch({
      records: [
        { key: null, value: enc('a') },
        { key: null, value: enc('b') },
      ],
    });
    // Claim one record and lastOffsetDelta 0: the records then leave bytes over.
    batch.writeInt32BE(0, 23);
    batch.writeInt32BE(1, 57);
    batch.writeUInt32BE(crc32c(batch.subarray(21)) >>> 0, 17);
    expect(checkProducedRecords(batch, 7)).toMatchObject({ ok: false, error: ErrorCode.CORRUPT_MESSAGE });
  });
});
