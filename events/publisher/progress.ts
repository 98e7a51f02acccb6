// Reading back the publisher's last progress record for a shard (topic
// exchange.publisher-progress.v1): where a restarted publisher resumes. The topic has one
// partition (a shard's records all land on partitionOf(shard key)); the last record of the
// shard is found by reading windows of PROGRESS_SCAN_WINDOW_RECORDS from the end backwards, so
// the cost does not grow with the topic's history.

import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { EventsCodec, type ProgressRecord } from '../codec.js';
import { partitionOf } from '../partitioner.js';
import { TOPIC_PROGRESS } from '../topics.js';
import { PROGRESS_SCAN_WINDOW_RECORDS, PROGRESS_SCAN_STEPS_MAX, PROGRESS_READ_TIMEOUT_MS } from './limits.js';

export function shardKey(shard: number): Buffer {
  return Buffer.from(String(shard), 'utf8');
}

/** A progress record read back, with its offset in the progress partition. */
export interface FoundProgress {
  record: ProgressRecord;
  offset: number;
}

/**
 * The newest progress record of `shard` written on the cluster `clusterId`, or undefined if
 * there is none. A record that names another cluster was written by a session that started on
 * another broker and did not notice the broker was replaced under it: what it says published is
 * not in this cluster, so it is passed over (older ones are read instead). Records without a
 * cluster id (written before issue 18) are taken as they are.
 */
export async function readLastProgress(
  kafka: Kafka,
  admin: Admin,
  shard: number,
  clusterId: string,
): Promise<FoundProgress | undefined> {
  const md = await admin.fetchTopicMetadata({ topics: [TOPIC_PROGRESS] });
  const partitions = md.topics[0]?.partitions.length ?? 0;
  if (partitions < 1) throw new Error(`topic ${TOPIC_PROGRESS} has no partitions`);
  const key = shardKey(shard);
  const partition = partitionOf(key, partitions);
  const offsets = await admin.fetchTopicOffsets(TOPIC_PROGRESS);
  const po = offsets.find((o) => o.partition === partition);
  if (po === undefined) throw new Error(`no offsets for ${TOPIC_PROGRESS}/${partition}`);
  const low = Number(po.low);
  let end = Number(po.high);
  for (let step = 0; step < PROGRESS_SCAN_STEPS_MAX && end > low; step++) {
    const start = Math.max(low, end - PROGRESS_SCAN_WINDOW_RECORDS);
    const found = await readWindow(kafka, partition, start, end, shard, clusterId);
    if (found !== undefined) return found;
    end = start;
  }
  return undefined;
}

/** The last record with `key` among offsets [start, end) of the progress partition. */
async function readWindow(
  kafka: Kafka,
  partition: number,
  start: number,
  end: number,
  shard: number,
  clusterId: string,
): Promise<FoundProgress | undefined> {
  const codec = EventsCodec.get();
  const key = shardKey(shard);
  const consumer = kafka.consumer({
    groupId: `matchbook-publisher-resume-${randomUUID()}`,
    maxWaitTimeInMs: 100,
    retry: { retries: 3 },
  });
  let last: FoundProgress | undefined;
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const timer = setTimeout(
    () =>
      fail(
        new Error(`reading ${TOPIC_PROGRESS}/${partition} [${start}, ${end}) took over ${PROGRESS_READ_TIMEOUT_MS} ms`),
      ),
    PROGRESS_READ_TIMEOUT_MS,
  );
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [TOPIC_PROGRESS], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        if (batch.partition !== partition) return;
        for (const m of batch.messages) {
          resolveOffset(m.offset);
          const offset = Number(m.offset);
          if (offset < start) continue;
          if (offset >= end) return finish();
          if (m.key !== null && key.equals(m.key) && m.value !== null) {
            try {
              const p = codec.decodeProgress(m.value);
              const sameCluster = p.cluster_id === undefined || p.cluster_id === '' || p.cluster_id === clusterId;
              if (p.shard === shard && sameCluster) last = { record: p, offset };
            } catch {
              // Not a PublisherProgress: someone else's record; skip it.
            }
          }
          if (offset === end - 1) return finish();
        }
      },
    });
    consumer.seek({ topic: TOPIC_PROGRESS, partition, offset: String(start) });
    await done;
    return last;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
  }
}
