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
// written atomically (fs-atomic.ts), with the Kafka cluster id it was built from; a restart
// loads it and resumes from its offsets, so state and offsets are always consistent.
//
// Rebuild rule. The model's offsets mean something only on the cluster and topics they were
// read from. A wiped or replaced broker starts its topics at offset zero again: resuming there
// would drop every new record below the old offsets as a re-delivery. So when the cluster id
// (Metadata) differs from the snapshot's, or a partition's next offset is past the broker's
// high watermark (the topic was recreated), or the snapshot has no cluster id, the model is
// discarded and rebuilt from offset zero — checked at start, on every high-watermark poll, and
// at once when a batch's high watermark is below the model's offset (that batch is not applied)
// — with a warning, a counter (stats.rebuilds), and rebuilding() set until it has caught up
// with the high watermarks seen when it was discarded (the query process is not ready then).
//
// Crashes: kafkajs restarts its consumer after a retriable crash; after any other this class
// starts a new one (backoff CONSUMER_RESTART_DELAY_MS…_MAX). running() is false from a crash
// until the consumer has joined its group again.

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
  CONSUMER_RESTART_DELAY_MS,
  CONSUMER_RESTART_DELAY_MS_MAX,
} from './limits.js';
import { errorMessage, linesLog, type Log } from '../../ops/log.js';

export const SNAPSHOT_FILE = 'read-models.json';

/** High watermark per "topic/partition" of every topic the read models read. */
async function fetchHighWatermarks(admin: Admin): Promise<Map<string, number>> {
  const highs = new Map<string, number>();
  for (const topic of ALL_TOPICS)
    for (const o of await admin.fetchTopicOffsets(topic)) highs.set(`${topic}/${o.partition}`, Number(o.high));
  return highs;
}

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

/** Version 1 files (no cluster id) are discarded: which cluster they were read from is unknown. */
const SNAPSHOT_VERSION = 2;

interface SnapshotFile {
  version: 2;
  groupId: string;
  /** The Kafka cluster id (Metadata) the model's offsets were read from. */
  clusterId: string;
  writtenAtMs: number;
  model: ReadModelsJson;
}

/** A rebuild from offset zero in progress: why, and the high watermarks it must reach (known once the broker answered). */
export interface Rebuild {
  reason: string;
  target: Map<string, number> | undefined;
}

/**
 * Why a model whose offsets are `next`, built from cluster `builtOn` (undefined: nothing read
 * yet), cannot continue on cluster `clusterId` whose partitions end at `highs` (every reason,
 * the first partition of each kind); undefined if it can. Pure: the rebuild rule.
 */
export function staleReason(
  builtOn: string | undefined,
  clusterId: string,
  next: ReadonlyMap<string, number>,
  highs: ReadonlyMap<string, number>,
): string | undefined {
  const reasons: string[] = [];
  if (builtOn !== undefined && builtOn !== clusterId)
    reasons.push(`the broker's cluster id ${clusterId} is not ${builtOn}, the one the read models were built from`);
  const ahead = [...next].find(([tp, offset]) => offset > (highs.get(tp) ?? 0));
  if (ahead !== undefined) {
    const [tp, offset] = ahead;
    const high = highs.get(tp);
    reasons.push(
      high === undefined
        ? `${tp}: the read models consumed it up to offset ${offset} but the broker has no such partition`
        : `${tp}: the read models' next offset ${offset} is past the broker's high watermark ${high}`,
    );
  }
  return reasons.length === 0 ? undefined : reasons.join('; ');
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
  /** stop() was called (stopped is set at its end, after the last snapshot). */
  private stopping = false;
  private restarting = false;
  /** The consumer crashed and has not joined its group since (kafkajs restarting it, or restartAfterCrash). */
  private crashed = false;
  /** The high-watermark poll in flight. */
  private polling: Promise<void> | undefined;
  /** The cluster id the model's offsets were read from (undefined: a model that has read nothing yet). */
  private builtOn: string | undefined;
  private rebuild: Rebuild | undefined;
  readonly stats = {
    batches: 0,
    undecodable: 0,
    seeks: 0,
    gaps: 0,
    snapshotsWritten: 0,
    joins: 0,
    rebuilds: 0,
    restarts: 0,
  };

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
      if (opts.fromScratch !== true) this.loadSnapshot(opts.dataDir);
    }
  }

  private loadSnapshot(dir: string): void {
    const file = path.join(dir, SNAPSHOT_FILE);
    const bytes = readFileIfExists(file);
    if (bytes === undefined) return;
    let s: SnapshotFile;
    try {
      s = JSON.parse(bytes.toString('utf8')) as SnapshotFile;
      if (s.version !== SNAPSHOT_VERSION || typeof s.clusterId !== 'string')
        throw new Error(`version ${String(s.version)}: it records no broker cluster id`);
      this.model = ReadModels.fromJSON(s.model);
    } catch (err) {
      // Rebuilding from offset zero gives the same result, only later.
      this.startRebuild(`snapshot ${file} unusable: ${errorMessage(err)}`, undefined);
      return;
    }
    this.builtOn = s.clusterId;
    this.log.info('restored the read models from their snapshot', {
      file,
      clusterId: s.clusterId,
      writtenAt: new Date(s.writtenAtMs).toISOString(),
      eventsApplied: this.model.stats.applied,
    });
  }

  /** Whether a Kafka consumer is running (false before start() succeeded, and from a crash until it has joined its group again). */
  running(): boolean {
    return this.consumer !== undefined && !this.crashed && !this.restarting && !this.stopping;
  }

  /** A rebuild in progress (the query process is not ready meanwhile), or undefined. */
  rebuilding(): { reason: string } | undefined {
    return this.rebuild === undefined ? undefined : { reason: this.rebuild.reason };
  }

  /**
   * Discards the model for an empty one (the query service's hooks carried over) that reads
   * every assigned partition from offset zero; it counts as rebuilt once it reaches `target`.
   */
  private startRebuild(reason: string, target: Map<string, number> | undefined): void {
    const onVisible = this.model.onVisible;
    this.model = new ReadModels();
    this.model.onVisible = onVisible;
    this.builtOn = undefined;
    this.dirty = true;
    this.stats.rebuilds++;
    this.rebuild = { reason, target };
    this.synced.clear();
    this.seekAttempts.clear();
    for (const { topic, partition } of this.assigned) this.seek(topic, partition);
    this.log.warn('read models discarded: rebuilding from offset zero (not ready until caught up)', { reason });
  }

  /**
   * Asks the broker for its cluster id and high watermarks (lag figures) and applies the rebuild
   * rule to them. The model's offsets are taken first: records consumed while the broker answers
   * may lie past the watermarks it sends, and must not look like offsets ahead of the broker.
   */
  private async checkIdentity(admin: Admin): Promise<void> {
    const model = this.model;
    const next = model.consumedOffsets();
    const { clusterId } = await admin.describeCluster();
    const highs = await fetchHighWatermarks(admin);
    for (const [tp, high] of highs) this.high.set(tp, high);
    // Stopped, or discarded meanwhile (a batch found it ahead): the next poll looks again.
    if (this.stopped || model !== this.model) return;
    const why = staleReason(this.builtOn, clusterId, next, highs);
    if (why !== undefined) this.startRebuild(why, new Map(highs));
    else if (this.rebuild !== undefined && this.rebuild.target === undefined) this.rebuild.target = new Map(highs);
    this.builtOn ??= clusterId;
    this.noteRebuildProgress();
  }

  /** Ends the rebuild once every partition is consumed to the high watermark it had when the rebuild began. */
  private noteRebuildProgress(): void {
    const r = this.rebuild;
    if (r?.target === undefined) return;
    for (const [tp, high] of r.target) {
      const k = tp.lastIndexOf('/');
      if (this.model.nextOffset(tp.slice(0, k), Number(tp.slice(k + 1))) < high) return;
    }
    this.rebuild = undefined;
    this.log.info('read models rebuilt: caught up with the broker', { reason: r.reason, clusterId: this.builtOn });
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
      await this.closeClients();
      throw err;
    }
  }

  private async closeClients(): Promise<void> {
    clearInterval(this.snapshotTimer);
    clearInterval(this.lagTimer);
    await this.consumer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    this.consumer = undefined;
    this.admin = undefined;
  }

  /**
   * A crash kafkajs does not restart from (e.g. the broker gone longer than its retries, as
   * when it is replaced): start again, with backoff, until it runs or stop() is called. The
   * new start applies the rebuild rule to whatever broker it finds.
   */
  private async restartAfterCrash(): Promise<void> {
    if (this.restarting || this.stopping) return;
    this.restarting = true;
    this.stats.restarts++;
    await this.closeClients();
    for (let delayMs = CONSUMER_RESTART_DELAY_MS; !this.stopping; ) {
      await new Promise((r) => setTimeout(r, delayMs));
      if (this.stopping) break;
      try {
        await this.start();
        if (this.stopping)
          await this.closeClients(); // stop() came while it started: it did not see this one
        else this.log.info('Kafka consumer restarted after its crash');
        break;
      } catch (err) {
        this.log.warn('Kafka consumer cannot restart yet: retrying', { err: errorMessage(err), delayMs });
        delayMs = Math.min(delayMs * 2, CONSUMER_RESTART_DELAY_MS_MAX);
      }
    }
    this.restarting = false;
  }

  private async startOnce(): Promise<void> {
    const admin = this.kafka.admin();
    this.admin = admin;
    await admin.connect();
    // Create the topics with their intended partition counts if the publisher has not yet:
    // subscribing to a missing topic would auto-create it with the broker's default.
    await ensureTopics(admin, this.opts.partitions ?? EVENT_TOPIC_PARTITIONS_DEFAULT);
    // Before any seek: a model from another cluster (or ahead of these topics) is discarded now.
    await this.checkIdentity(admin);
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
      this.crashed = false;
      const assignment = e.payload.memberAssignment as Record<string, number[]>;
      this.assigned = Object.entries(assignment).flatMap(([topic, parts]) =>
        parts.map((partition) => ({ topic, partition })),
      );
      this.synced.clear();
      this.seekAttempts.clear();
      for (const { topic, partition } of this.assigned) this.seek(topic, partition);
    });
    consumer.on(consumer.events.CRASH, (e) =>
      this.onCrash(consumer, e.payload as { error?: Error; restart?: boolean }),
    );
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
  }

  /** kafkajs's CRASH event of `consumer`: it restarts after a retriable crash; otherwise it has stopped, and we restart it. */
  private onCrash(consumer: Consumer, { error, restart }: { error?: Error; restart?: boolean }): void {
    this.log[restart === true ? 'warn' : 'error']('Kafka consumer crashed', {
      err: errorMessage(error),
      restart: restart === true,
    });
    if (consumer !== this.consumer) return;
    this.crashed = true; // not running until it has joined its group again
    if (restart !== true) void this.restartAfterCrash();
  }

  private seek(topic: string, partition: number): void {
    this.stats.seeks++;
    this.consumer?.seek({ topic, partition, offset: String(this.model.nextOffset(topic, partition)) });
  }

  private async onBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const tp = `${topic}/${partition}`;
    const high = Number(batch.highWatermark);
    this.high.set(tp, high);
    if (high >= 0 && this.model.nextOffset(topic, partition) > high) {
      // Past the broker's end: a wiped broker or a recreated topic (or a stale answer). Not
      // re-deliveries to drop: nothing is applied, and a poll applies the rebuild rule with
      // fresh watermarks (it rebuilds and seeks back here if the broker really is behind).
      void this.pollHighWatermarks();
      return;
    }
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
    this.noteRebuildProgress();
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

  /** Refreshes the high watermarks (lag) and applies the rebuild rule to them and to the cluster id; one at a time. */
  private pollHighWatermarks(): Promise<void> {
    const admin = this.admin;
    if (admin === undefined || this.stopped) return Promise.resolve();
    this.polling ??= this.checkIdentity(admin)
      .catch((err: unknown) => this.log.warn('lag poll failed', { err: errorMessage(err) }))
      .finally(() => {
        this.polling = undefined;
      });
    return this.polling;
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
    await this.polling; // a poll already in flight may have asked before the newest records
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
    // Without a cluster id the model has read nothing worth keeping (a stale file is discarded at load anyway).
    if (dir === undefined || !this.dirty || this.builtOn === undefined) return;
    if (this.snapshotWriting !== undefined) return this.snapshotWriting;
    this.dirty = false;
    // Serialized now, between two batches: views, offsets and marks of one instant.
    const file: SnapshotFile = {
      version: SNAPSHOT_VERSION,
      groupId: this.groupId,
      clusterId: this.builtOn,
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
    this.stopping = true;
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
