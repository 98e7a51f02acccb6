// Idempotent-producer state of one partition: for each producer id, its epoch and the
// sequence ranges of its last few batches, so that a retried batch is acknowledged with its
// original offset instead of being appended twice, and a gap in sequences is refused.
// Rebuilt from the log's batch headers at open (the headers carry producer id, epoch and
// base sequence), so it survives restarts without a file of its own. Pure: no I/O.
//
// Rules (Kafka's, for non-transactional idempotent producers):
//   - a batch equal (first and last sequence) to one of the last PRODUCER_BATCHES_CACHED
//     batches of the same epoch is a duplicate: acknowledged with that batch's base offset;
//   - otherwise its base sequence must be the last sequence + 1 (wrapping at 2^31 - 1 → 0);
//   - a new epoch must start at sequence 0; an older epoch is fenced (INVALID_PRODUCER_EPOCH);
//   - an unknown producer must start at sequence 0.

import { ErrorCode, assert } from './protocol.js';
import { PRODUCER_BATCHES_CACHED, PRODUCERS_PER_PARTITION_MAX } from './limits.js';

const SEQUENCE_MAX = 0x7fffffff;

interface CachedBatch {
  firstSeq: number;
  lastSeq: number;
  baseOffset: number;
}

interface ProducerEntry {
  epoch: number;
  /** Oldest first; at most PRODUCER_BATCHES_CACHED. */
  batches: CachedBatch[];
}

export type SequenceCheck =
  | { kind: 'append' }
  | { kind: 'duplicate'; baseOffset: number }
  | { kind: 'error'; error: ErrorCode; reason: string };

/** Sequence of the batch's last record: base + count - 1, wrapping past 2^31 - 1 to 0. */
export function lastSequence(baseSeq: number, recordCount: number): number {
  return (baseSeq + recordCount - 1) % (SEQUENCE_MAX + 1);
}

function nextSequence(seq: number): number {
  return seq === SEQUENCE_MAX ? 0 : seq + 1;
}

export class ProducerStateTable {
  /** Map order is recency of the last append (re-inserted on each), for eviction. */
  private readonly producers = new Map<number, ProducerEntry>();

  constructor(private readonly producersMax = PRODUCERS_PER_PARTITION_MAX) {}

  get size(): number {
    return this.producers.size;
  }

  /** What to do with a batch; producerId < 0 means a non-idempotent producer: always append. */
  check(producerId: number, epoch: number, baseSeq: number, recordCount: number): SequenceCheck {
    if (producerId < 0) return { kind: 'append' };
    const entry = this.producers.get(producerId);
    if (entry === undefined) {
      if (baseSeq === 0) return { kind: 'append' };
      return {
        kind: 'error',
        error: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
        reason: `unknown producer ${producerId} starting at sequence ${baseSeq}`,
      };
    }
    if (epoch < entry.epoch)
      return {
        kind: 'error',
        error: ErrorCode.INVALID_PRODUCER_EPOCH,
        reason: `epoch ${epoch} is older than ${entry.epoch}`,
      };
    if (epoch > entry.epoch) {
      if (baseSeq === 0) return { kind: 'append' };
      return {
        kind: 'error',
        error: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
        reason: `new epoch ${epoch} starting at sequence ${baseSeq}`,
      };
    }
    const lastSeq = lastSequence(baseSeq, recordCount);
    for (const b of entry.batches) {
      if (b.firstSeq === baseSeq && b.lastSeq === lastSeq) return { kind: 'duplicate', baseOffset: b.baseOffset };
    }
    const newest = entry.batches[entry.batches.length - 1];
    const expected = newest === undefined ? 0 : nextSequence(newest.lastSeq);
    if (baseSeq === expected) return { kind: 'append' };
    return {
      kind: 'error',
      error: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
      reason: `sequence ${baseSeq}, expected ${expected}`,
    };
  }

  /** Records an appended batch (also used when rebuilding from the log, without check()). */
  record(producerId: number, epoch: number, baseSeq: number, recordCount: number, baseOffset: number): void {
    if (producerId < 0) return;
    assert(recordCount > 0, `batch of ${recordCount} records`);
    let entry = this.producers.get(producerId);
    if (entry === undefined || epoch !== entry.epoch) entry = { epoch, batches: [] };
    this.producers.delete(producerId); // re-inserted below: most recent last
    entry.batches.push({ firstSeq: baseSeq, lastSeq: lastSequence(baseSeq, recordCount), baseOffset });
    if (entry.batches.length > PRODUCER_BATCHES_CACHED) entry.batches.shift();
    this.producers.set(producerId, entry);
    if (this.producers.size > this.producersMax) {
      const oldest = this.producers.keys().next();
      if (oldest.done !== true) this.producers.delete(oldest.value);
    }
  }
}
