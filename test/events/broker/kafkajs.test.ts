// The broker against kafkajs 2.2.4 over real TCP: admin, the idempotent producer, a consumer
// group that rebalances when a member joins and when one leaves, committed offsets, and a
// broker restart on the same data directory (messages and commits kept, consumers resume
// with no duplicates). Assertions are on what was delivered, never on timing.

import { Kafka, logLevel, type Consumer, type EachMessagePayload, type Producer } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../../events/broker/server.js';
import { removeTmpDirs, tmpDir, waitFor } from './helpers.js';

const brokers: RunningBroker[] = [];
const consumers: Consumer[] = [];
const producers: Producer[] = [];

afterEach(async () => {
  for (const c of consumers.splice(0)) await c.disconnect().catch(() => undefined);
  for (const p of producers.splice(0)) await p.disconnect().catch(() => undefined);
  for (const b of brokers.splice(0)) await b.close();
  removeTmpDirs();
});

async function start(dataDir: string): Promise<RunningBroker> {
  const b = await startBroker({ dataDir, port: 0, sessionTimeoutMsMin: 1_000 });
  brokers.push(b);
  return b;
}

async function stop(b: RunningBroker): Promise<void> {
  brokers.splice(brokers.indexOf(b), 1);
  await b.close();
}

function client(b: RunningBroker, clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: [`127.0.0.1:${b.port}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 50, maxRetryTime: 1_000 },
  });
}

interface Delivered {
  consumer: string;
  partition: number;
  offset: number;
  key: string;
  value: string;
}

async function consume(
  kafka: Kafka,
  name: string,
  groupId: string,
  topic: string,
  out: Delivered[],
): Promise<Consumer> {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 6_000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 100,
    maxWaitTimeInMs: 100,
    retry: { retries: 8, initialRetryTime: 50 },
  });
  consumers.push(consumer);
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }: EachMessagePayload) => {
      out.push({
        consumer: name,
        partition,
        offset: Number(message.offset),
        key: message.key?.toString() ?? '',
        value: message.value?.toString() ?? '',
      });
    },
  });
  return consumer;
}

async function disconnect(c: Consumer): Promise<void> {
  consumers.splice(consumers.indexOf(c), 1);
  await c.disconnect();
}

/** Each partition's deliveries, in delivery order. */
function byPartition(ds: readonly Delivered[]): Map<number, Delivered[]> {
  const m = new Map<number, Delivered[]>();
  for (const d of ds) {
    let list = m.get(d.partition);
    if (list === undefined) m.set(d.partition, (list = []));
    list.push(d);
  }
  return m;
}

/** Every offset of every partition exactly once, in order, from `from[partition]` (default 0). */
function expectExactlyOnceInOrder(
  ds: readonly Delivered[],
  total: number,
  from: Map<number, number> = new Map(),
): void {
  expect(ds).toHaveLength(total);
  for (const [partition, list] of byPartition(ds)) {
    const start = from.get(partition) ?? 0;
    expect(list.map((d) => d.offset)).toEqual(list.map((_, i) => start + i));
  }
}

describe('kafkajs against the broker', () => {
  it('admin, idempotent producer, a rebalancing consumer group, commits, and a restart', async () => {
    const dataDir = tmpDir();
    let broker = await start(dataDir);
    let kafka = client(broker, 'it');
    const topic = 'engine-events';

    const admin = kafka.admin();
    await admin.connect();
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })).toBe(true);
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] })).toBe(false); // already exists
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0]?.partitions.map((p) => [p.partitionId, p.leader]).sort()).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
    ]);

    // Two consumers in one group: wait until both hold assignments (generation with 2 members, Stable).
    const got: Delivered[] = [];
    const a = await consume(kafka, 'A', 'readers', topic, got);
    const b = await consume(kafka, 'B', 'readers', topic, got);
    await waitFor(
      () =>
        broker.broker.groups.describe('readers')?.members.length === 2 &&
        broker.broker.groups.describe('readers')?.state === 'Stable',
      'a stable group of two',
    );

    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    producers.push(producer);
    await producer.connect();
    const produce = async (from: number, to: number) => {
      for (let i = from; i < to; i += 10) {
        const messages = [];
        for (let j = i; j < Math.min(i + 10, to); j++) messages.push({ key: `account-${j % 7}`, value: `event-${j}` });
        const acks = await producer.send({ topic, acks: -1, messages });
        for (const ack of acks) expect(ack.errorCode).toBe(0);
      }
    };
    await produce(0, 120);
    await waitFor(() => got.length >= 120, '120 deliveries');
    expect(new Set(got.map((d) => d.consumer))).toEqual(new Set(['A', 'B']));

    // B leaves: the group rebalances and A takes over B's partitions from B's committed offsets.
    await disconnect(b);
    await waitFor(
      () =>
        broker.broker.groups.describe('readers')?.members.length === 1 &&
        broker.broker.groups.describe('readers')?.state === 'Stable',
      'a stable group of one',
    );
    await produce(120, 180);
    await waitFor(() => got.length >= 180, '180 deliveries');
    await new Promise((r) => setTimeout(r, 300)); // room for a duplicate to show up, if one were coming
    expectExactlyOnceInOrder(got, 180);
    expect(got.slice(120).every((d) => d.consumer === 'A')).toBe(true);
    // Same key → same partition, and each partition in production order.
    const parts = byPartition(got);
    const partitionOfKey = new Map<string, number>();
    for (const [partition, list] of parts) {
      for (const d of list) {
        expect(partitionOfKey.get(d.key) ?? partition).toBe(partition);
        partitionOfKey.set(d.key, partition);
      }
      const numbers = list.map((d) => Number(d.value.slice('event-'.length)));
      expect(numbers).toEqual([...numbers].sort((x, y) => x - y));
    }

    // A stops (committing what it processed); committed offsets are the partition ends.
    await disconnect(a);
    const ends = new Map<number, number>();
    for (const [p, list] of byPartition(got)) ends.set(p, list.length);
    const committed = await admin.fetchOffsets({ groupId: 'readers', topics: [topic] });
    expect(committed[0]?.partitions.map((p) => [p.partition, Number(p.offset)]).sort()).toEqual([...ends].sort());
    await admin.disconnect();
    await producer.disconnect();
    producers.splice(0);

    // Restart on the same data directory.
    await stop(broker);
    broker = await start(dataDir);
    kafka = client(broker, 'it-2');
    const admin2 = kafka.admin();
    await admin2.connect();
    const committedAfter = await admin2.fetchOffsets({ groupId: 'readers', topics: [topic] });
    expect(committedAfter[0]?.partitions.map((p) => [p.partition, Number(p.offset)]).sort()).toEqual([...ends].sort());
    await admin2.disconnect();

    const producer2 = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    producers.push(producer2);
    await producer2.connect();
    const produce2 = async (from: number, to: number) => {
      const acks = await producer2.send({
        topic,
        acks: -1,
        messages: Array.from({ length: to - from }, (_, k) => ({
          key: `account-${(from + k) % 7}`,
          value: `event-${from + k}`,
        })),
      });
      for (const ack of acks) expect(ack.errorCode).toBe(0);
    };
    await produce2(180, 210);

    // The group resumes from its committed offsets: only the 30 new messages, once each.
    const resumed: Delivered[] = [];
    await consume(kafka, 'C', 'readers', topic, resumed);
    await waitFor(() => resumed.length >= 30, '30 deliveries after restart');
    await new Promise((r) => setTimeout(r, 300));
    expectExactlyOnceInOrder(resumed, 30, ends);
    expect(resumed.map((d) => d.value).sort()).toEqual(Array.from({ length: 30 }, (_, k) => `event-${180 + k}`).sort());

    // Everything acknowledged before the restart is still there: a new group reads all 210.
    const audit: Delivered[] = [];
    await consume(kafka, 'D', 'audit', topic, audit);
    await waitFor(() => audit.length >= 210, '210 deliveries to a new group');
    expectExactlyOnceInOrder(audit, 210);
    expect(audit.map((d) => d.value).sort()).toEqual(Array.from({ length: 210 }, (_, k) => `event-${k}`).sort());
  }, 60_000);
});
