// The events publisher of one shard: replays the shard's committed log with its own
// ShardStateMachine — the same code path as every replica, so its engine events are exactly
// the replicas' — and publishes the execution reports and trades to Kafka
// (events/README.md). It runs beside the exchange, asynchronously: order acknowledgement
// never waits for it, and when the brokers are slow or gone it falls behind and catches up.
//
// A session (a start, or a restart after any failure):
//   1. connect to Kafka, create the topics if missing, read back the shard's last progress
//      record: L = the last log index whose events are all published;
//   2. restore the local checkpoint (a state-machine snapshot at an index ≤ L), if any;
//   3. replay committed entries from the replicas silently up to L (their events are out);
//   4. publish: pull a bounded chunk of committed entries, apply each, turn its events into
//      records, sendBatch them with the idempotent producer (acks = all, one request in
//      flight), then record progress (in the next send, or alone when caught up).
// Any failure ends the session; the next one starts over from step 1 (a backoff in between),
// so every record after L is sent again at worst: duplicates on the wire, never a gap, which
// consumers drop by (shard, log_index, position).
//
// Backlog: the publisher holds one chunk of entries (ENTRIES_CHUNK_BYTES) and one batch of
// records (RECORDS_PER_SEND_MAX) at a time; the rest of its backlog is the replicas' log. The
// replicas compact their log through their previous snapshot (replicator/README.md), so the
// log keeps at least snapshotIntervalEntries entries behind their applied index; a publisher
// further behind than that finds its next entry compacted: it restores the replicas' newest
// snapshot and reports the events in between as a GAP (log line, status) — they cannot be
// reconstructed. That is the documented retention bound.

import './limits-check.js';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import {
  Partitioners,
  logLevel,
  type Admin,
  type Message,
  type Producer,
  type RecordMetadata,
  type TopicMessages,
} from 'kafkajs';
import type { ShardConfig } from '../../engine/types.js';
import { decodeSnapshotEnvelope } from '../../shard/snapshot-envelope.js';
import { ShardStateMachine } from '../../shard/state-machine.js';
import type { EntriesReply } from '../../replicator/client/protocol.js';
import type { ClientEndpoint } from '../../replicator/client/client.js';
import { EventsCodec, type ProgressRecord } from '../codec.js';
import { ensureTopics, kafkaClient } from '../kafka.js';
import { partitionOf } from '../partitioner.js';
import {
  EVENT_TOPIC_PARTITIONS_DEFAULT,
  HEADER_LOG_INDEX,
  HEADER_SEQ,
  HEADER_SHARD,
  HEADER_TYPE,
  RecordType,
  TOPIC_PROGRESS,
} from '../topics.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { EntrySource, EntrySourceClosedError } from './entry-source.js';
import { readLastProgress, shardKey } from './progress.js';
import { RecordBuilder, type OutRecord } from './records.js';
import { commandData } from '../../replicator/log.js';
import { assertFor, type Assert } from '../../ops/assert.js';
import {
  ENTRIES_CHUNK_BYTES,
  ENTRIES_REPLAY_CHUNK_BYTES,
  ENTRIES_WAIT_MS,
  RECORDS_PER_SEND_MAX,
  PROGRESS_IDLE_INTERVAL_MS,
  PROGRESS_TICKS_INTERVAL_MS,
  CHECKPOINT_INTERVAL_ENTRIES,
  CHECKPOINT_INTERVAL_MS,
  SESSION_RETRY_DELAY_MS,
  SESSION_RETRY_DELAY_MS_MAX,
  GAPS_KEPT,
  PRODUCE_TIMEOUT_MS,
} from './limits.js';
import { errorMessage, linesLog, type Log } from '../../ops/log.js';

export interface PublisherOptions {
  shardConfig: ShardConfig;
  endpoints: ClientEndpoint[];
  brokers: string[];
  /** Local checkpoint directory. */
  dataDir: string;
  /** Partitions of event topics the publisher creates. */
  partitions?: number;
  chunkBytes?: number;
  checkpointIntervalEntries?: number;
  checkpointIntervalMs?: number;
  /** Default: text lines on stderr (linesLog). */
  log?: Log;
  kafkaLogLevel?: logLevel;
  /**
   * First session only: publish again from this log index even if Kafka's progress record is
   * past it (an operator's repair after records were lost downstream, e.g. a topic recreated).
   * Everything from there goes on the wire again; consumers drop what they already have.
   */
  republishFromIndex?: number;
}

export interface PublisherGap {
  /** Events of log indexes (from, to] could not be published: the replicas had compacted them. */
  from: number;
  to: number;
  atMs: number;
}

export interface PublisherStatus {
  shard: number;
  state: 'starting' | 'replaying' | 'publishing' | 'retrying' | 'stopped';
  /** Last log index whose events are all acknowledged by the brokers. */
  publishedIndex: number;
  /** Its engine seq (read-your-writes marks compare against it). */
  publishedSeq: number;
  /** Log index the publisher's state machine has applied. */
  appliedIndex: number;
  /** Applied index of the replica it reads from (last seen). */
  replicaApplied: number;
  replica: number;
  /** Entries applied by the replica and not yet published. */
  lagEntries: number;
  recordsSent: number;
  batchesSent: number;
  progressRecordsSent: number;
  sessions: number;
  gapCount: number;
  gapEntries: number;
  gaps: PublisherGap[];
  checkpointIndex: number;
  lastError: string | undefined;
}

/** A committed entry as the replicas send it. */
type RawEntry = Extract<EntriesReply, { kind: 'entries' }>['entries'][number];

/** Step 4's state (publishing) for one session: the chunk in hand, and what is acknowledged but not yet covered by a written progress record. */
interface PublishState {
  readonly producer: Producer;
  readonly source: EntrySource;
  readonly builder: RecordBuilder;
  readonly progressPartition: number;
  /** Progress not yet written: the index and seq through which everything is acknowledged. */
  pending: { logIndex: number; seq: number } | undefined;
  /** Records acknowledged but not covered by a written progress record. */
  uncovered: number;
  /** Whether the entries not covered by a written progress record include more than time ticks. */
  uncoveredCommands: boolean;
  lastProgressAtMs: number;
  /** A captured checkpoint, written once a progress record at or past its index is acknowledged. */
  checkpointDue: { logIndex: number; state: Uint8Array } | undefined;
  /** The chunk of entries in hand, applied up to head. */
  queue: RawEntry[];
  head: number;
  /** The next chunk, requested while the last records of this one are being sent. */
  prefetch: Promise<EntriesReply> | undefined;
}

const assert: Assert = assertFor('publisher');

class StopSession extends Error {}

export class Publisher {
  readonly shard: number;
  private readonly opts: PublisherOptions;
  private readonly log: Log;
  private readonly codec = EventsCodec.get();
  private readonly chunkBytes: number;
  private readonly checkpointIntervalEntries: number;
  private readonly checkpointIntervalMs: number;
  private readonly publisherId = randomUUID();
  private source: EntrySource | undefined;
  private sm: ShardStateMachine;
  private running: Promise<void> | undefined;
  private stopping = false;
  private wakeRetry: (() => void) | undefined;
  private producer: Producer | undefined;
  private admin: Admin | undefined;
  /** Next offset per "topic/partition" after this publisher's acknowledged writes (carried over from the last progress record). */
  private offsets = new Map<string, { topic: string; partition: number; next_offset: number }>();
  private readonly st: PublisherStatus;
  private lastCheckpointAtMs = Date.now();
  /** Log index of the last state captured for a checkpoint (written or not). */
  private checkpointCapturedIndex = 0;
  private checkpointWriting = false;
  /** Captured while another write was in progress: written after it (the newest wins). */
  private checkpointQueued: { logIndex: number; state: Uint8Array } | undefined;

  constructor(opts: PublisherOptions) {
    this.opts = opts;
    this.shard = opts.shardConfig.shardId;
    this.log = opts.log ?? linesLog((l) => console.error(`[publisher ${this.shard}] ${l}`));
    this.chunkBytes = opts.chunkBytes ?? ENTRIES_CHUNK_BYTES;
    this.checkpointIntervalEntries = opts.checkpointIntervalEntries ?? CHECKPOINT_INTERVAL_ENTRIES;
    this.checkpointIntervalMs = opts.checkpointIntervalMs ?? CHECKPOINT_INTERVAL_MS;
    assert(
      opts.republishFromIndex === undefined ||
        (Number.isSafeInteger(opts.republishFromIndex) && opts.republishFromIndex >= 1),
      `republishFromIndex ${opts.republishFromIndex} must be an integer ≥ 1`,
    );
    this.sm = new ShardStateMachine(opts.shardConfig);
    this.st = {
      shard: this.shard,
      state: 'starting',
      publishedIndex: 0,
      publishedSeq: 0,
      appliedIndex: 0,
      replicaApplied: 0,
      replica: 0,
      lagEntries: 0,
      recordsSent: 0,
      batchesSent: 0,
      progressRecordsSent: 0,
      sessions: 0,
      gapCount: 0,
      gapEntries: 0,
      gaps: [],
      checkpointIndex: 0,
      lastError: undefined,
    };
    mkdirSync(opts.dataDir, { recursive: true });
  }

  status(): PublisherStatus {
    return {
      ...this.st,
      appliedIndex: this.sm.appliedIndex,
      lagEntries: Math.max(0, this.st.replicaApplied - this.st.publishedIndex),
      replica: this.source?.replica ?? 0,
      gaps: [...this.st.gaps],
    };
  }

  /** Runs sessions until stop(). */
  start(): void {
    assert(this.running === undefined, 'start() twice');
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.source?.close();
    this.wakeRetry?.();
    await this.running;
    this.st.state = 'stopped';
  }

  private async run(): Promise<void> {
    let delay = SESSION_RETRY_DELAY_MS;
    while (!this.stopping) {
      this.st.sessions++;
      const startedAt = Date.now();
      try {
        await this.session();
      } catch (err) {
        if (this.stopping) break;
        if (!(err instanceof StopSession)) {
          const msg = err instanceof Error ? err.message : String(err);
          this.st.lastError = msg;
          this.log.warn('publisher session failed: starting over', {
            session: this.st.sessions,
            err: msg,
            delayMs: delay,
          });
        }
      } finally {
        await this.closeKafka();
        this.source?.close();
        this.source = undefined;
      }
      if (this.stopping) break;
      this.st.state = 'retrying';
      // A session that ran a while resets the backoff: the failure is a new one.
      if (Date.now() - startedAt > SESSION_RETRY_DELAY_MS_MAX) delay = SESSION_RETRY_DELAY_MS;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wakeRetry = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeRetry = undefined;
      delay = Math.min(SESSION_RETRY_DELAY_MS_MAX, delay * 2);
    }
  }

  private async closeKafka(): Promise<void> {
    const p = this.producer;
    const a = this.admin;
    this.producer = undefined;
    this.admin = undefined;
    await p?.disconnect().catch(() => undefined);
    await a?.disconnect().catch(() => undefined);
  }

  private checkStop(): void {
    if (this.stopping) throw new StopSession('stopping');
  }

  private async session(): Promise<void> {
    this.st.state = 'starting';
    const kafka = kafkaClient(
      this.opts.brokers,
      `matchbook-publisher-${this.shard}`,
      this.log,
      this.opts.kafkaLogLevel ?? logLevel.WARN,
    );
    const admin = kafka.admin();
    this.admin = admin;
    await admin.connect();
    const partitions = await ensureTopics(admin, this.opts.partitions ?? EVENT_TOPIC_PARTITIONS_DEFAULT);
    const progressMd = await admin.fetchTopicMetadata({ topics: [TOPIC_PROGRESS] });
    const progressPartition = partitionOf(shardKey(this.shard), progressMd.topics[0]!.partitions.length);
    this.checkStop();

    // 1. Where the previous runs got to.
    const last = await readLastProgress(kafka, admin, this.shard);
    this.checkStop();
    let published = this.resumePoint(last);

    // 2. The state machine: kept from the previous session if it is not past L (it is after a
    //    failed send), else the local checkpoint, else empty.
    this.prepareStateMachine(published);
    this.log.info(
      last === undefined
        ? 'publisher session started: no progress record, publishing from the start'
        : 'publisher session started',
      {
        session: this.st.sessions,
        publishedIndex: published,
        publishedSeq: this.st.publishedSeq,
        appliedIndex: this.sm.appliedIndex,
      },
    );

    this.checkpointCapturedIndex = Math.min(this.checkpointCapturedIndex, this.sm.appliedIndex);
    const source = new EntrySource(this.opts.endpoints, this.log);
    this.source = source;

    // 3. Silent replay up to the published index.
    published = await this.replaySilently(source, published);
    this.st.publishedIndex = published;
    if (this.opts.republishFromIndex !== undefined && this.st.publishedSeq === 0)
      this.st.publishedSeq = this.sm.lastSeq;

    // 4. Publish.
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 2_000 },
    });
    this.producer = producer;
    await producer.connect();
    this.st.state = 'publishing';
    const builder = new RecordBuilder(this.shard, partitions);
    const pending = published > (last?.log_index ?? 0) ? { logIndex: published, seq: this.sm.lastSeq } : undefined;
    await this.publish({
      producer,
      source,
      builder,
      progressPartition,
      pending,
      uncovered: 0,
      uncoveredCommands: pending !== undefined,
      lastProgressAtMs: 0,
      checkpointDue: undefined,
      queue: [],
      head: 0,
      prefetch: undefined,
    });
  }

  /**
   * Step 1: the log index to resume after, from the last progress record (or, on the first
   * session, the operator's republish index below it); takes over the record's offsets.
   */
  private resumePoint(last: ProgressRecord | undefined): number {
    let published = last?.log_index ?? 0;
    this.offsets = new Map((last?.offsets ?? []).map((o) => [`${o.topic}/${o.partition}`, { ...o }]));
    this.st.publishedIndex = published;
    this.st.publishedSeq = last?.seq ?? 0;
    const republishFrom = this.opts.republishFromIndex;
    if (republishFrom !== undefined && this.st.sessions === 1 && published >= republishFrom) {
      this.log.info('republishing (--republish-from): consumers will see those records twice and drop the copies', {
        fromIndex: republishFrom,
        publishedIndex: published,
      });
      published = republishFrom - 1;
      this.st.publishedIndex = published;
      this.st.publishedSeq = 0; // set from the state machine once it is at `published`
    }
    return published;
  }

  /** Step 2: a state machine at or below the published index to replay from. */
  private prepareStateMachine(published: number): void {
    if (this.sm.appliedIndex > published) this.sm = new ShardStateMachine(this.opts.shardConfig);
    const ckpt = loadCheckpoint(this.opts.dataDir, this.shard, this.log);
    if (ckpt !== undefined && ckpt.logIndex > this.sm.appliedIndex) {
      if (ckpt.logIndex <= published) {
        this.sm.restore(ckpt.state);
        assert(
          this.sm.appliedIndex === ckpt.logIndex,
          `checkpoint at ${ckpt.logIndex} restores the state machine at ${this.sm.appliedIndex}`,
        );
        this.st.checkpointIndex = ckpt.logIndex;
      } else {
        // Kafka knows less than this machine published (topics recreated, another cluster):
        // the checkpoint is past the resume point and cannot be used.
        this.log.warn('local checkpoint is past the last published index in Kafka: ignored', {
          checkpointIndex: ckpt.logIndex,
          publishedIndex: published,
          republishFrom: published + 1,
        });
      }
    }
  }

  /**
   * Step 3: applies committed entries up to the published index without publishing them (their
   * events are out). Returns the published index, moved up when the replicas had compacted
   * entries before it (a gap: their snapshot is restored instead).
   */
  private async replaySilently(source: EntrySource, published: number): Promise<number> {
    this.st.state = 'replaying';
    while (this.sm.appliedIndex < published) {
      this.checkStop();
      const r = await source.read(this.sm.appliedIndex + 1, ENTRIES_REPLAY_CHUNK_BYTES, ENTRIES_WAIT_MS);
      this.st.replicaApplied = r.applied;
      if (r.kind === 'snapshot') {
        if (r.index > published) {
          this.noteGap(published, r.index);
          published = r.index;
        }
        this.restoreSnapshot(r);
        continue;
      }
      for (const e of r.entries) {
        if (e.index > published) break;
        this.applyEntry(e);
      }
    }
    return published;
  }

  /** Step 4, until a stop or a failure ends the session: pull a chunk, apply it, send its records, record progress. */
  private async publish(ps: PublishState): Promise<void> {
    for (;;) {
      if (this.stopping) {
        if (ps.pending !== undefined) await this.send(ps, [], ps.pending).catch(() => undefined);
        throw new StopSession('stopping');
      }
      if (ps.head >= ps.queue.length && !(await this.pullChunk(ps))) continue;
      await this.publishFromChunk(ps);
    }
  }

  /**
   * The chunk in hand is used up: pulls the next one (the prefetched one if any). Returns false
   * when there is nothing to publish yet (no new entries, or a snapshot restored over a gap);
   * when caught up it writes the pending progress once that is due.
   */
  private async pullChunk(ps: PublishState): Promise<boolean> {
    // Progress when caught up: at once after records, else when the interval of what is
    // uncovered (commands or only ticks) has passed; the read waits at most until then.
    const dueInMs =
      ps.pending === undefined
        ? Infinity
        : ps.uncovered > 0
          ? 0
          : ps.lastProgressAtMs +
            (ps.uncoveredCommands ? PROGRESS_IDLE_INTERVAL_MS : PROGRESS_TICKS_INTERVAL_MS) -
            Date.now();
    const flush = dueInMs <= 0;
    let r: EntriesReply;
    try {
      r = await (ps.prefetch ??
        ps.source.read(
          this.sm.appliedIndex + 1,
          this.chunkBytes,
          flush ? 0 : Math.min(ENTRIES_WAIT_MS, Math.ceil(dueInMs)),
        ));
    } catch (err) {
      // A stop interrupts the read: what is acknowledged gets its progress record first,
      // so the next start does not resend it.
      if (this.stopping && ps.pending !== undefined) await this.send(ps, [], ps.pending).catch(() => undefined);
      throw err;
    }
    ps.prefetch = undefined;
    this.st.replicaApplied = r.applied;
    if (r.kind === 'snapshot') {
      this.noteGap(this.sm.appliedIndex, r.index);
      this.restoreSnapshot(r);
      ps.pending = { logIndex: this.sm.appliedIndex, seq: this.sm.lastSeq };
      ps.uncoveredCommands = true;
      this.st.publishedIndex = this.sm.appliedIndex;
      this.st.publishedSeq = this.sm.lastSeq;
      return false;
    }
    if (r.entries.length === 0) {
      if (flush) {
        // Caught up: the state machine is at the progress about to be written.
        if (
          (ps.checkpointDue === undefined || ps.checkpointDue.logIndex < this.sm.appliedIndex) &&
          this.checkpointDueNow()
        )
          ps.checkpointDue = this.captureCheckpoint();
        await this.send(ps, [], ps.pending);
        ps.pending = undefined;
        ps.uncovered = 0;
      }
      return false;
    }
    assert(
      r.entries[0]!.index === this.sm.appliedIndex + 1,
      `replica answered entries from ${r.entries[0]!.index}, asked from ${this.sm.appliedIndex + 1}`,
    );
    ps.queue = r.entries;
    ps.head = 0;
    return true;
  }

  /**
   * Applies the next entries in hand (up to RECORDS_PER_SEND_MAX records), sends their records
   * with the progress pending so far, and makes their last index the pending progress.
   */
  private async publishFromChunk(ps: PublishState): Promise<void> {
    const records: OutRecord[] = [];
    while (ps.head < ps.queue.length && records.length < RECORDS_PER_SEND_MAX) {
      const e = ps.queue[ps.head++]!;
      if (!this.applyEntry(e)) ps.uncoveredCommands = true;
      ps.builder.addEntry(e.index, this.sm.events, records);
    }
    const through = { logIndex: this.sm.appliedIndex, seq: this.sm.lastSeq };
    if (ps.checkpointDue === undefined && this.checkpointDueNow()) ps.checkpointDue = this.captureCheckpoint();
    if (ps.head >= ps.queue.length) {
      // Fetch the next chunk while this one is being written.
      ps.prefetch = ps.source.read(through.logIndex + 1, this.chunkBytes, 0);
      ps.prefetch.catch(() => undefined);
    }
    if (records.length > 0) {
      await this.send(ps, records, ps.pending);
      if (ps.pending !== undefined) ps.uncovered = 0;
      ps.uncovered += records.length;
    }
    ps.pending = through;
    this.st.publishedIndex = through.logIndex;
    this.st.publishedSeq = through.seq;
  }

  /** The progress record saying everything through p is acknowledged, below this publisher's offsets. */
  private progressMessage(ps: PublishState, p: { logIndex: number; seq: number }): TopicMessages {
    const rec: ProgressRecord = {
      shard: this.shard,
      log_index: p.logIndex,
      seq: p.seq,
      offsets: [...this.offsets.values()].sort((a, b) =>
        a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1,
      ),
      events_published: this.st.recordsSent,
      publisher_id: this.publisherId,
    };
    const message: Message = {
      key: shardKey(this.shard),
      value: Buffer.from(this.codec.encodeProgress(rec)),
      partition: ps.progressPartition,
      headers: {
        [HEADER_TYPE]: RecordType.PROGRESS,
        [HEADER_SHARD]: String(this.shard),
        [HEADER_LOG_INDEX]: String(p.logIndex),
        [HEADER_SEQ]: String(p.seq),
      },
    };
    return { topic: TOPIC_PROGRESS, messages: [message] };
  }

  /**
   * One sendBatch of the records, plus a progress record when withProgress is given (acknowledged
   * together); then the offsets move past them, and a checkpoint covered by that progress is written.
   */
  private async send(
    ps: PublishState,
    records: OutRecord[],
    withProgress: { logIndex: number; seq: number } | undefined,
  ): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    const counts = new Map<string, number>();
    for (const r of records) {
      let list = byTopic.get(r.topic);
      if (list === undefined) byTopic.set(r.topic, (list = []));
      list.push({ key: r.key, value: r.value, headers: r.headers, partition: r.partition });
      const k = `${r.topic}/${r.partition}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    if (withProgress !== undefined) topicMessages.push(this.progressMessage(ps, withProgress));
    const meta: RecordMetadata[] = await ps.producer.sendBatch({
      topicMessages,
      acks: -1,
      timeout: PRODUCE_TIMEOUT_MS,
    });
    for (const m of meta) {
      const k = `${m.topicName}/${m.partition}`;
      const n = counts.get(k);
      if (n === undefined) continue;
      const base = Number(m.baseOffset);
      assert(Number.isSafeInteger(base) && base >= 0, `produce to ${k} answered base offset ${m.baseOffset}`);
      const prev = this.offsets.get(k);
      this.offsets.set(k, {
        topic: m.topicName,
        partition: m.partition,
        next_offset: Math.max(prev?.next_offset ?? 0, base + n),
      });
      counts.delete(k);
    }
    assert(counts.size === 0, `no produce result for ${[...counts.keys()].join(', ')}`);
    this.st.recordsSent += records.length;
    if (records.length > 0) this.st.batchesSent++;
    if (withProgress !== undefined) {
      this.st.progressRecordsSent++;
      ps.lastProgressAtMs = Date.now();
      if (withProgress.logIndex >= this.sm.appliedIndex) ps.uncoveredCommands = false;
      this.maybeWriteCheckpoint(ps.checkpointDue, withProgress.logIndex);
      if (ps.checkpointDue !== undefined && ps.checkpointDue.logIndex <= withProgress.logIndex)
        ps.checkpointDue = undefined;
    }
  }

  /** Applies one entry; returns whether it held only the replicas' own commands (time ticks: a negative client id). */
  private applyEntry(e: RawEntry): boolean {
    assert(e.index === this.sm.appliedIndex + 1, `entry ${e.index} after applied ${this.sm.appliedIndex}`);
    const results = this.sm.apply(e.index, commandData(e));
    if (results.length === 0) return false; // no-op, membership or malformed entries: counted as commands (progress within a second)
    for (const r of results) if (r.clientId >= 0) return false;
    return true;
  }

  private restoreSnapshot(r: Extract<EntriesReply, { kind: 'snapshot' }>): void {
    const { sm } = decodeSnapshotEnvelope(r.data);
    this.sm.restore(sm);
    assert(
      this.sm.appliedIndex === r.index,
      `snapshot ${r.index} restores the state machine at ${this.sm.appliedIndex}`,
    );
    this.log.info("restored the replicas' snapshot", { index: r.index });
  }

  private noteGap(from: number, to: number): void {
    if (to <= from) return;
    this.st.gapCount++;
    this.st.gapEntries += to - from;
    this.st.gaps.push({ from, to, atMs: Date.now() });
    if (this.st.gaps.length > GAPS_KEPT) this.st.gaps.shift();
    this.log.error(
      "GAP: the events of these log entries cannot be published: the replicas compacted them before this publisher read them (it fell more than a snapshot interval behind). Read models miss those events; continuing from the replicas' snapshot",
      { fromIndex: from + 1, toIndex: to, snapshotIndex: to },
    );
  }

  private checkpointDueNow(): boolean {
    const applied = this.sm.appliedIndex;
    if (applied <= this.checkpointCapturedIndex) return false;
    return (
      applied - this.checkpointCapturedIndex >= this.checkpointIntervalEntries ||
      Date.now() - this.lastCheckpointAtMs >= this.checkpointIntervalMs
    );
  }

  /** The state machine's state now, for a checkpoint written once its index is covered by a written progress record. */
  private captureCheckpoint(): { logIndex: number; state: Uint8Array } {
    this.checkpointCapturedIndex = this.sm.appliedIndex;
    this.lastCheckpointAtMs = Date.now();
    return { logIndex: this.sm.appliedIndex, state: this.sm.snapshot() };
  }

  /** Writes a captured checkpoint once a progress record at or past its index is acknowledged (in the background, one write at a time). */
  private maybeWriteCheckpoint(c: { logIndex: number; state: Uint8Array } | undefined, progressIndex: number): void {
    if (c === undefined || c.logIndex > progressIndex || c.logIndex <= this.st.checkpointIndex) return;
    if (this.checkpointWriting) {
      if (this.checkpointQueued === undefined || this.checkpointQueued.logIndex < c.logIndex) this.checkpointQueued = c;
      return;
    }
    this.checkpointWriting = true;
    saveCheckpoint(this.opts.dataDir, { shard: this.shard, logIndex: c.logIndex, state: c.state })
      .then(
        () => {
          this.st.checkpointIndex = Math.max(this.st.checkpointIndex, c.logIndex);
        },
        (err: unknown) => {
          // Only a cache: the next session replays from the replicas instead.
          this.log.warn('checkpoint write failed (ignored)', { logIndex: c.logIndex, err: errorMessage(err) });
        },
      )
      .finally(() => {
        this.checkpointWriting = false;
        const q = this.checkpointQueued;
        this.checkpointQueued = undefined;
        if (q !== undefined) this.maybeWriteCheckpoint(q, q.logIndex);
      });
  }
}

export { EntrySourceClosedError };
