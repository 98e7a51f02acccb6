// Feeds the read models (model.ts) from Kafka with a kafkajs consumer group, and persists them.
//
// Positions are the model's own: it records, per topic partition, the next offset it has
// applied, and that is where consumption resumes — after a restart (from the snapshot file),
// after a rebalance, and on a rebuild (an empty model: offset zero). On every group join the
// consumer seeks each assigned partition to the model's next offset; a batch that still starts
// past it is refused and the seek repeated (bounded), and records before it are dropped by the
// model itself (offset rule). So the group's committed offsets never decide what is applied:
// they are written after each snapshot, for monitoring tools, and are at most the snapshot's.
//
// Persistence: every SNAPSHOT_INTERVAL_MS (and at stop) the whole model — views, consumed
// offsets and de-duplication marks together — is serialized at one instant between batches and
// written atomically (fs-atomic.ts); a restart loads it and resumes from its offsets, so state
// and offsets are always consistent.

import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { logLevel, type Admin, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage } from 'kafkajs';
import { EventsCodec } from '../codec.js';
import { atomicWriteFile, readFileIfExists } from '../fs-atomic.js';
import { ensureTopics, kafkaClient } from '../kafka.js';
import {
  ALL_TOPICS,
  EVENT_TOPIC_PARTITIONS_DEFAULT,
  TOPIC_FILLS,
  TOPIC_ORDERS,
  TOPIC_PROGRESS,
  TOPIC_TRADES,
} from '../topics.js';
import { ReadModels, type ConsumedRecord, type ReadModelsJson } from './model.js';
import {
  SNAPSHOT_INTERVAL_MS,
  LAG_POLL_MS,
  SEEK_ATTEMPTS_MAX,
  FETCH_MAX_WAIT_MS,
  SESSION_TIMEOUT_MS,
  HEARTBEAT_INTERVAL_MS,
} from './limits.js';
import { errorMessage, linesLog, type Log } from '../../ops/log.js';

export const SNAPSHOT_FILE = 'read-models.json';

/** Which topics each read model is built from (lag is reported per read model). */
export const READ_MODEL_TOPICS = {
  orders: [TOPIC_ORDERS],
  fills: [TOPIC_FILLS],
  positions: [TOPIC_FILLS],
  candles: [TOPIC_TRADES],
  consistency: [TOPIC_PROGRESS],
} as const;
export type ReadModelName = keyof typeof READ_MODEL_TOPICS;

export interface PartitionLag {
  topic: string;
  partition: number;
  next_offset: number;
  high_watermark: number;
  lag: number;
}

export interface ReadModelLag {
  /** Records in the model's topics not yet applied (Σ over partitions of high watermark − next offset). */
  lag: number;
  partitions: PartitionLag[];
}

export interface ReadModelConsumerOptions {
  brokers: string[];
  /** Consumer group; default derived from dataDir (each query process needs its own group: it must see every partition). */
  groupId?: string;
  /** Where the snapshot file lives; undefined: in memory only (tests, rebuilds). */
  dataDir?: string;
  /** Ignore any snapshot file and build from offset zero (a rebuild). */
  fromScratch?: boolean;
  /** Partitions of event topics created if missing (the publisher's default). */
  partitions?: number;
  snapshotIntervalMs?: number;
  /** Default: text lines on stderr (linesLog). */
  log?: Log;
  kafkaLogLevel?: logLevel;
}

interface SnapshotFile {
  version: 1;
  groupId: string;
  writtenAtMs: number;
  model: ReadModelsJson;
}

export class ReadModelConsumer {
  model: ReadModels;
  readonly groupId: string;
  private readonly opts: ReadModelConsumerOptions;
  private readonly log: Log;
  private readonly codec = EventsCodec.get();
  private readonly kafka: Kafka;
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private readonly high = new Map<string, number>();
  /** Partitions assigned at the last group join. */
  private assigned: { topic: string; partition: number }[] = [];
  /** Partitions whose first batch after the join started at or before the model's offset. */
  private readonly synced = new Set<string>();
  private readonly seekAttempts = new Map<string, number>();
  private snapshotTimer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private dirty = false;
  private snapshotWriting: Promise<void> | undefined;
  private stopped = false;
  readonly stats = { batches: 0, undecodable: 0, seeks: 0, gaps: 0, snapshotsWritten: 0, joins: 0 };

  constructor(opts: ReadModelConsumerOptions) {
    this.opts = opts;
    this.log = opts.log ?? linesLog((l) => console.error(`[read-models] ${l}`));
    this.groupId =
      opts.groupId ??
      `matchbook-read-models-${createHash('sha256')
        .update(path.resolve(opts.dataDir ?? randomUUID()))
        .digest('hex')
        .slice(0, 12)}`;
    this.kafka = kafkaClient(opts.brokers, `matchbook-read-models`, this.log, opts.kafkaLogLevel ?? logLevel.WARN);
    this.model = new ReadModels();
    if (opts.dataDir !== undefined) {
      mkdirSync(opts.dataDir, { recursive: true });
      if (opts.fromScratch !== true) {
        const loaded = this.loadSnapshot(opts.dataDir);
        if (loaded !== undefined) this.model = loaded;
      }
    }
  }

  private loadSnapshot(dir: string): ReadModels | undefined {
    const file = path.join(dir, SNAPSHOT_FILE);
    const bytes = readFileIfExists(file);
    if (bytes === undefined) return undefined;
    try {
      const s = JSON.parse(bytes.toString('utf8')) as SnapshotFile;
      if (s.version !== 1) throw new Error(`version ${String(s.version)}`);
      const m = ReadModels.fromJSON(s.model);
      this.log.info('restored the read models from their snapshot', {
        file,
        writtenAt: new Date(s.writtenAtMs).toISOString(),
        eventsApplied: m.stats.applied,
      });
      return m;
    } catch (err) {
      // Rebuilding from offset zero gives the same result, only later.
      this.log.warn('read models snapshot unreadable: rebuilding from offset zero', { file, err: errorMessage(err) });
      return undefined;
    }
  }

  /**
   * Connects, joins the group and starts consuming (resolves once running; records arrive
   * afterwards). On failure (no broker yet) everything it opened is closed again and it may be
   * called again.
   */
  async start(): Promise<void> {
    try {
      await this.startOnce();
    } catch (err) {
      clearInterval(this.snapshotTimer);
      clearInterval(this.lagTimer);
      await this.consumer?.disconnect().catch(() => undefined);
      await this.admin?.disconnect().catch(() => undefined);
      this.consumer = undefined;
      this.admin = undefined;
      throw err;
    }
  }

  private async startOnce(): Promise<void> {
    const admin = this.kafka.admin();
    this.admin = admin;
    await admin.connect();
    // Create the topics with their intended partition counts if the publisher has not yet:
    // subscribing to a missing topic would auto-create it with the broker's default.
    await ensureTopics(admin, this.opts.partitions ?? EVENT_TOPIC_PARTITIONS_DEFAULT);
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: HEARTBEAT_INTERVAL_MS,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
      retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 2_000 },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.stats.joins++;
      const assignment = e.payload.memberAssignment as Record<string, number[]>;
      this.assigned = Object.entries(assignment).flatMap(([topic, parts]) =>
        parts.map((partition) => ({ topic, partition })),
      );
      this.synced.clear();
      this.seekAttempts.clear();
      for (const { topic, partition } of this.assigned) this.seek(topic, partition);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error?: Error; restart?: boolean };
      // kafkajs restarts the consumer after a retriable crash; otherwise it has stopped.
      this.log[restart === true ? 'warn' : 'error']('Kafka consumer crashed', {
        err: errorMessage(error),
        restart: restart === true,
      });
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...ALL_TOPICS], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (p) => this.onBatch(p),
    });
    const interval = this.opts.snapshotIntervalMs ?? SNAPSHOT_INTERVAL_MS;
    if (this.opts.dataDir !== undefined) this.snapshotTimer = setInterval(() => void this.snapshot(), interval);
    this.lagTimer = setInterval(() => void this.pollHighWatermarks(), LAG_POLL_MS);
    await this.pollHighWatermarks();
  }

  private seek(topic: string, partition: number): void {
    this.stats.seeks++;
    this.consumer?.seek({ topic, partition, offset: String(this.model.nextOffset(topic, partition)) });
  }

  private async onBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const tp = `${topic}/${partition}`;
    this.high.set(tp, Number(batch.highWatermark));
    if (batch.messages.length === 0) return;
    this.stats.batches++;
    const next = this.model.nextOffset(topic, partition);
    const first = Number(batch.messages[0]!.offset);
    if (!this.synced.has(tp)) {
      if (first > next) {
        const n = (this.seekAttempts.get(tp) ?? 0) + 1;
        this.seekAttempts.set(tp, n);
        if (n <= SEEK_ATTEMPTS_MAX) {
          this.seek(topic, partition);
          return;
        }
        this.stats.gaps++;
        this.log.error('GAP: records the read models need are gone from Kafka (retention?): continuing without them', {
          topic,
          partition,
          firstOffset: first,
          neededOffset: next,
          lostFrom: next,
          lostTo: first - 1,
        });
      }
      this.synced.add(tp);
    }
    for (const m of batch.messages) {
      if (!isRunning() || isStale()) break;
      const rec = this.decode(topic, partition, m);
      if (rec !== undefined && this.model.apply(rec)) this.dirty = true;
      // Moves kafkajs's fetch position (not the group's committed offset: autoCommit is off).
      resolveOffset(m.offset);
    }
    await heartbeat();
  }

  private decode(topic: string, partition: number, m: KafkaMessage): ConsumedRecord | undefined {
    const offset = Number(m.offset);
    if (m.value === null) return this.undecodable(topic, partition, offset, 'no value');
    try {
      if (topic === TOPIC_TRADES)
        return { topic, partition, offset, type: 'trade', value: this.codec.decodeTrade(m.value) };
      if (topic === TOPIC_PROGRESS)
        return { topic, partition, offset, type: 'progress', value: this.codec.decodeProgress(m.value) };
      return { topic, partition, offset, type: 'exec', value: this.codec.decodeExec(m.value) };
    } catch (err) {
      return this.undecodable(topic, partition, offset, (err as Error).message);
    }
  }

  private undecodable(topic: string, partition: number, offset: number, why: string): undefined {
    this.stats.undecodable++;
    if (this.stats.undecodable <= 10)
      this.log.error('skipping an undecodable record (the first 10 are logged)', {
        topic,
        partition,
        offset,
        err: why,
      });
    return undefined;
  }

  private async pollHighWatermarks(): Promise<void> {
    const admin = this.admin;
    if (admin === undefined || this.stopped) return;
    try {
      for (const topic of ALL_TOPICS) {
        for (const o of await admin.fetchTopicOffsets(topic)) this.high.set(`${topic}/${o.partition}`, Number(o.high));
      }
    } catch (err) {
      this.log.warn('lag poll failed', { err: errorMessage(err) });
    }
  }

  /** Lag per read model, from the last known high watermarks. */
  lag(): Record<ReadModelName, ReadModelLag> {
    const out = {} as Record<ReadModelName, ReadModelLag>;
    for (const [name, topics] of Object.entries(READ_MODEL_TOPICS) as [ReadModelName, readonly string[]][]) {
      const partitions: PartitionLag[] = [];
      for (const [tp, high] of this.high) {
        const k = tp.lastIndexOf('/');
        const topic = tp.slice(0, k);
        if (!topics.includes(topic)) continue;
        const partition = Number(tp.slice(k + 1));
        const next = this.model.nextOffset(topic, partition);
        partitions.push({ topic, partition, next_offset: next, high_watermark: high, lag: Math.max(0, high - next) });
      }
      partitions.sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
      out[name] = { lag: partitions.reduce((s, p) => s + p.lag, 0), partitions };
    }
    return out;
  }

  /** Fetches fresh high watermarks and tells whether every partition is consumed to its end. */
  async caughtUp(): Promise<boolean> {
    await this.pollHighWatermarks();
    for (const [tp, high] of this.high) {
      const k = tp.lastIndexOf('/');
      if (this.model.nextOffset(tp.slice(0, k), Number(tp.slice(k + 1))) < high) return false;
    }
    return true;
  }

  /** Writes the snapshot file if the model changed (one write at a time), then commits its offsets to the group. */
  async snapshot(): Promise<void> {
    const dir = this.opts.dataDir;
    if (dir === undefined || !this.dirty) return;
    if (this.snapshotWriting !== undefined) return this.snapshotWriting;
    this.dirty = false;
    // Serialized now, between two batches: views, offsets and marks of one instant.
    const file: SnapshotFile = {
      version: 1,
      groupId: this.groupId,
      writtenAtMs: Date.now(),
      model: this.model.toJSON(),
    };
    const bytes = Buffer.from(JSON.stringify(file), 'utf8');
    const offsets = file.model.consumed;
    this.snapshotWriting = (async () => {
      try {
        await atomicWriteFile(path.join(dir, SNAPSHOT_FILE), bytes);
        this.stats.snapshotsWritten++;
        await this.commit(offsets);
      } catch (err) {
        this.dirty = true;
        this.log.warn('read models snapshot failed (retried at the next interval)', { err: errorMessage(err) });
      } finally {
        this.snapshotWriting = undefined;
      }
    })();
    return this.snapshotWriting;
  }

  /** Commits the snapshot's offsets for the partitions this member holds (informational: the model's offsets decide). */
  private async commit(offsets: [string, number][]): Promise<void> {
    const consumer = this.consumer;
    if (consumer === undefined || this.stopped) return;
    const mine = new Set(this.assigned.map((a) => `${a.topic}/${a.partition}`));
    const list = offsets
      .filter(([tp]) => mine.has(tp))
      .map(([tp, next]) => {
        const k = tp.lastIndexOf('/');
        return { topic: tp.slice(0, k), partition: Number(tp.slice(k + 1)), offset: String(next) };
      });
    if (list.length > 0)
      await consumer.commitOffsets(list).catch((err: unknown) =>
        this.log.warn('offset commit failed (informational: the read models keep their own offsets)', {
          err: errorMessage(err),
        }),
      );
  }

  /** Stops consuming, writes a last snapshot, leaves the group. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    clearInterval(this.snapshotTimer);
    clearInterval(this.lagTimer);
    const consumer = this.consumer;
    await consumer?.stop().catch(() => undefined);
    await this.snapshotWriting;
    await this.snapshot();
    this.stopped = true;
    await consumer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
  }
}
