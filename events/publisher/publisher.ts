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
// Another log, another broker (issue 18). L is resumed from only if it is about the replicas'
// log: the progress record carries the identity of the log at L (log-identity.ts), and step 3
// compares it with the replicas' entry at L (or their snapshot at L, or a replay to their
// snapshot past it); a log that differs — a wiped exchange publishing into kept topics — is
// refused (state 'refused', an error logged, not ready), rechecked every LOG_RECHECK_DELAY_MS.
// And L is about the broker read from: records name the Kafka cluster id their session started
// on (others are passed over), their offsets must be within the broker's, and a produce answer
// below the offsets this publisher already holds (a broker wiped or replaced under it) ends the
// session, so the next one re-reads its resume point from the broker it now talks to.
//
// Backlog: the publisher holds one chunk of entries (ENTRIES_CHUNK_BYTES) and one batch of
// records (RECORDS_PER_SEND_MAX) at a time; the rest of its backlog is the replicas' log. The
// replicas compact their log through their previous snapshot (replicator/README.md), so the
// log keeps at least snapshotIntervalEntries entries behind their applied index; a publisher
// further behind than that finds its next entry compacted: it restores the replicas' newest
// snapshot and reports the events in between as a GAP (log line, status) — they cannot be
// reconstructed. That is the documented retention bound.

import type { TlsMaterial } from '../../ops/tls-settings.js';
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
import { decimalsOfConfig, EventsCodec, type ProgressRecord } from '../codec.js';
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
import { readLastProgress, shardKey, type FoundProgress } from './progress.js';
import {
  anchorOf,
  anchorOfProgress,
  entryMismatch,
  stateMismatch,
  type LogAnchor,
  type StateAt,
} from './log-identity.js';
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
  LOG_RECHECK_DELAY_MS,
} from './limits.js';
import { errorMessage, linesLog, type Log } from '../../ops/log.js';

export interface PublisherOptions {
  shardConfig: ShardConfig;
  endpoints: ClientEndpoint[];
  /** TLS to the replicas (the cluster file's "tls"); undefined: plain TCP. */
  tls?: TlsMaterial;
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
   * Everything from there goes on the wire again; consumers drop what they already have. The
   * log check (the progress record's identity against the replicas' log) is skipped then: the
   * operator's word replaces it.
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
  state: 'starting' | 'replaying' | 'publishing' | 'retrying' | 'refused' | 'stopped';
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
  /**
   * The resume point against the replicas' log (step 3): 'none' (no progress record, or
   * republishing), 'checking', 'waiting' (their log ends before it), 'verified', 'legacy'
   * (a record without identity: only its seq compared), 'mismatch' (another log: refused),
   * 'unverifiable' (the entry is compacted and nothing else compares: refused).
   */
  logCheck: 'none' | 'checking' | 'waiting' | 'verified' | 'legacy' | 'mismatch' | 'unverifiable';
  /** Why, for 'waiting', 'mismatch' and 'unverifiable'. */
  logCheckReason: string | undefined;
  /** Kafka cluster id of the broker this session talks to. */
  clusterId: string;
  /** Sessions ended because the broker held fewer records than this publisher had written (wiped or replaced). */
  brokerResets: number;
}

/** A committed entry as the replicas send it. */
type RawEntry = Extract<EntriesReply, { kind: 'entries' }>['entries'][number];

/** Step 4's state (publishing) for one session: the chunk in hand, and what is acknowledged but not yet covered by a written progress record. */
interface PublishState {
  readonly producer: Producer;
  readonly source: EntrySource;
  readonly builder: RecordBuilder;
  readonly progressPartition: number;
  /** Progress not yet written: the index (with seq and the log's identity there) through which everything is acknowledged. */
  pending: LogAnchor | undefined;
  /** Records acknowledged but not covered by a written progress record. */
  uncovered: number;
  /** Whether the entries not covered by a written progress record include more than time ticks. */
  uncoveredCommands: boolean;
  lastProgressAtMs: number;
  /** "topic/partition"s this session's producer has written (a replaced broker refuses its later batches there). */
  readonly written: Set<string>;
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

/** The replicas' log is not (or cannot be shown to be) the one the progress record is about: no publishing. */
class LogRefusal extends Error {
  constructor(
    readonly kind: 'mismatch' | 'unverifiable',
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** The resume point being checked in step 3; `checkpoint`: whether the state machine came from the local checkpoint this session. */
interface ResumeCheck {
  readonly anchor: LogAnchor;
  readonly legacy: boolean;
  checkpoint: boolean;
  done: boolean;
}

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
  /** The raw entry applied last (its term and bytes go into progress records), or the snapshot restored last (no bytes). */
  private lastEntry: { index: number; term: number; type: number; data: Uint8Array | undefined } | undefined;
  /** Next offset of the progress partition after the records this publisher knows of there. */
  private progressNextOffset = 0;
  /** The local checkpoint proved to be of another log: not restored again by this process. */
  private checkpointDistrusted = false;
  /** Whether the state machine's state has the local checkpoint in its history (not only the replicas' entries and snapshots). */
  private smFromCheckpoint = false;
  /** The last refusal logged (logged again only when it changes). */
  private refusalLogged: string | undefined;

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
      logCheck: 'none',
      logCheckReason: undefined,
      clusterId: '',
      brokerResets: 0,
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
      let refused = false;
      try {
        await this.session();
      } catch (err) {
        if (this.stopping) break;
        if (err instanceof LogRefusal) {
          refused = true;
          this.refuse(err);
        } else if (!(err instanceof StopSession)) {
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
      this.st.state = refused ? 'refused' : 'retrying';
      // A session that ran a while resets the backoff: the failure is a new one.
      if (Date.now() - startedAt > SESSION_RETRY_DELAY_MS_MAX) delay = SESSION_RETRY_DELAY_MS;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, refused ? LOG_RECHECK_DELAY_MS : delay);
        this.wakeRetry = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeRetry = undefined;
      delay = Math.min(SESSION_RETRY_DELAY_MS_MAX, delay * 2);
    }
  }

  /**
   * Step 3 found the replicas' log is not the progress record's (or cannot tell): publish
   * nothing of this shard. Logged at error once per distinct reason; the next session (after
   * LOG_RECHECK_DELAY_MS) reads the progress record again, so deleting the topics (or
   * pointing at a fresh broker) lets it go on by itself.
   */
  private refuse(err: LogRefusal): void {
    this.st.logCheck = err.kind;
    this.st.logCheckReason = err.reason;
    this.st.lastError = err.reason;
    // What it replayed is the other log's: the next check starts from scratch.
    this.resetStateMachine();
    if (this.refusalLogged === err.reason) return;
    this.refusalLogged = err.reason;
    this.log.error(
      err.kind === 'mismatch'
        ? "REFUSED: the replicas' log is not the one the last progress record in Kafka is about (a wiped exchange publishing into kept topics?): publishing nothing of this shard, which would skip the new log's first entries. Delete the topics (or use a fresh broker / cluster) to publish this log; --republish-from only to publish it into these topics anyway"
        : "REFUSED: the last progress record in Kafka cannot be checked against the replicas' log (its entry is compacted and nothing else compares): publishing nothing of this shard. If it is the same exchange, restart with --republish-from (first index the replicas hold, or 1); if not, delete the topics",
      {
        reason: err.reason,
        publishedIndex: this.st.publishedIndex,
        clusterId: this.st.clusterId,
        recheckInMs: LOG_RECHECK_DELAY_MS,
      },
    );
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
    this.st.clusterId = (await admin.describeCluster()).clusterId;
    this.checkStop();

    // 1. Where the previous runs got to (on this cluster, within this broker's records).
    const found = await readLastProgress(kafka, admin, this.shard, this.st.clusterId);
    this.checkStop();
    this.progressNextOffset = found === undefined ? 0 : found.offset + 1;
    const last = await this.trustedProgress(admin, found);
    let published = this.resumePoint(last);
    const check = this.resumeCheck(last, published);

    // 2. The state machine: kept from the previous session if it is not past L (it is after a
    //    failed send), else the local checkpoint, else empty.
    const fromCheckpoint = this.prepareStateMachine(published);
    this.log.info(
      last === undefined
        ? 'publisher session started: no progress record, publishing from the start'
        : 'publisher session started',
      {
        session: this.st.sessions,
        publishedIndex: published,
        publishedSeq: this.st.publishedSeq,
        appliedIndex: this.sm.appliedIndex,
        clusterId: this.st.clusterId,
        logCheck: this.st.logCheck,
      },
    );

    this.checkpointCapturedIndex = Math.min(this.checkpointCapturedIndex, this.sm.appliedIndex);
    const source = new EntrySource(this.opts.endpoints, this.log, this.opts.tls);
    this.source = source;

    // 3. Silent replay up to the published index, checking that it is the recorded log.
    published = await this.replaySilently(
      source,
      published,
      check === undefined ? undefined : { ...check, checkpoint: fromCheckpoint, done: false },
    );
    this.st.publishedIndex = published;
    if (this.opts.republishFromIndex !== undefined && this.st.publishedSeq === 0)
      this.st.publishedSeq = this.sm.lastSeq;

    // 4. Publish.
    await this.publishSession(kafka, source, partitions, progressPartition, published > (last?.log_index ?? 0));
  }

  /** Step 4's setup: the idempotent producer, then publish() until the session ends. */
  private async publishSession(
    kafka: ReturnType<typeof kafkaClient>,
    source: EntrySource,
    partitions: ConstructorParameters<typeof RecordBuilder>[1],
    progressPartition: number,
    progressDue: boolean,
  ): Promise<void> {
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 2_000 },
    });
    this.producer = producer;
    await producer.connect();
    this.st.state = 'publishing';
    const pending = progressDue ? this.anchorNow() : undefined;
    await this.publish({
      producer,
      source,
      builder: new RecordBuilder(this.shard, partitions, decimalsOfConfig(this.opts.shardConfig)),
      progressPartition,
      pending,
      uncovered: 0,
      uncoveredCommands: pending !== undefined,
      lastProgressAtMs: 0,
      written: new Set(),
      checkpointDue: undefined,
      queue: [],
      head: 0,
      prefetch: undefined,
    });
  }

  /**
   * Step 1's sanity check: a progress record whose offsets are past this broker's ends describes
   * records the broker does not hold (topics deleted and recreated, or records lost): resuming
   * after it would leave them out, so it is not used and everything is published again from
   * index 1 (duplicates for consumers to drop, no gap).
   */
  private async trustedProgress(admin: Admin, found: FoundProgress | undefined): Promise<ProgressRecord | undefined> {
    if (found === undefined) return undefined;
    const rec = found.record;
    for (const topic of new Set(rec.offsets.map((o) => o.topic))) {
      const highs = await admin.fetchTopicOffsets(topic);
      for (const o of rec.offsets) {
        if (o.topic !== topic) continue;
        const high = highs.find((h) => h.partition === o.partition)?.high;
        if (high !== undefined && Number(high) >= o.next_offset) continue;
        this.log.error(
          'the last progress record covers records this broker does not hold (topics recreated or records lost): publishing again from index 1',
          {
            topic,
            partition: o.partition,
            nextOffset: o.next_offset,
            highWatermark: high ?? null,
            logIndex: rec.log_index,
          },
        );
        return undefined;
      }
    }
    return rec;
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
    if (this.republishing(published)) {
      const republishFrom = this.opts.republishFromIndex!;
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

  /** Whether this session republishes from the operator's index below the published one (first session only). */
  private republishing(published: number): boolean {
    const from = this.opts.republishFromIndex;
    return from !== undefined && this.st.sessions === 1 && published >= from;
  }

  /** What step 3 must check of the resume point: undefined when there is no record (or the operator republishes). */
  private resumeCheck(
    last: ProgressRecord | undefined,
    published: number,
  ): { anchor: LogAnchor; legacy: boolean } | undefined {
    this.st.logCheckReason = undefined;
    if (last === undefined || published < last.log_index) {
      this.st.logCheck = 'none';
      return undefined;
    }
    const { anchor, legacy } = anchorOfProgress(last);
    this.st.logCheck = 'checking';
    if (legacy)
      this.log.warn(
        'the last progress record has no log identity (written before this version): resuming after comparing its seq only',
        { logIndex: anchor.logIndex, seq: anchor.seq },
      );
    return { anchor, legacy };
  }

  /** The state machine's point now, with the identity of the log there (what a progress record at it carries). */
  private anchorNow(): LogAnchor {
    return anchorOf(this.stateAt(), this.lastEntry);
  }

  private stateAt(): StateAt {
    return { appliedIndex: this.sm.appliedIndex, lastSeq: this.sm.lastSeq, logTimeUs: this.sm.logTimeUs };
  }

  /**
   * Step 2: a state machine at or below the published index to replay from. Returns whether its
   * state comes from the local checkpoint (a state that disagrees with the replicas' log may
   * then be the checkpoint's fault rather than the log's).
   */
  private prepareStateMachine(published: number): boolean {
    if (this.sm.appliedIndex > published) this.resetStateMachine();
    const ckpt = this.checkpointDistrusted ? undefined : loadCheckpoint(this.opts.dataDir, this.shard, this.log);
    if (ckpt !== undefined && ckpt.logIndex > this.sm.appliedIndex) {
      if (ckpt.logIndex <= published) {
        this.sm.restore(ckpt.state);
        assert(
          this.sm.appliedIndex === ckpt.logIndex,
          `checkpoint at ${ckpt.logIndex} restores the state machine at ${this.sm.appliedIndex}`,
        );
        this.st.checkpointIndex = ckpt.logIndex;
        this.smFromCheckpoint = true;
        this.lastEntry = undefined;
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
    return this.smFromCheckpoint;
  }

  private resetStateMachine(): void {
    this.sm = new ShardStateMachine(this.opts.shardConfig);
    this.smFromCheckpoint = false;
    this.lastEntry = undefined;
  }

  /**
   * Step 3: applies committed entries up to the published index without publishing them (their
   * events are out), checking on the way that they are the log the progress record is about.
   * Returns the published index, moved up when the replicas had compacted entries before it (a
   * gap: their snapshot is restored instead; only without a check — with one, that is refused).
   */
  private async replaySilently(
    source: EntrySource,
    published: number,
    check: ResumeCheck | undefined,
  ): Promise<number> {
    this.st.state = 'replaying';
    while (this.sm.appliedIndex < published || (check !== undefined && !check.done)) {
      this.checkStop();
      // The entry at the resume point itself is read even when the state machine is already there.
      const from =
        check !== undefined && !check.done
          ? Math.min(this.sm.appliedIndex + 1, check.anchor.logIndex)
          : this.sm.appliedIndex + 1;
      const r = await source.read(from, ENTRIES_REPLAY_CHUNK_BYTES, ENTRIES_WAIT_MS);
      this.st.replicaApplied = r.applied;
      if (r.kind === 'snapshot') {
        if (check !== undefined && !check.done) {
          await this.checkAtSnapshot(source, check, r);
          continue;
        }
        if (r.index > published) {
          this.noteGap(published, r.index);
          published = r.index;
        }
        this.restoreSnapshot(r);
        continue;
      }
      if (r.entries.length === 0 && check !== undefined && !check.done) this.noteLogShort(check, r.applied);
      for (const e of r.entries) {
        if (e.index > published) break;
        if (e.index > this.sm.appliedIndex) this.applyEntry(e);
        if (check !== undefined) this.checkEntry(check, e);
      }
    }
    return published;
  }

  /** Step 3's check after one entry: before the resume point the log may not be past it; at it, the entry and the state must be the recorded ones. */
  private checkEntry(check: ResumeCheck, e: RawEntry): void {
    if (check.done) return;
    if (e.index === check.anchor.logIndex) {
      const entryWrong = entryMismatch(check.anchor, e);
      if (entryWrong !== undefined) throw new LogRefusal('mismatch', entryWrong);
    }
    const stateWrong = stateMismatch(check.anchor, this.stateAt());
    if (stateWrong !== undefined) this.stateDisagrees(check, stateWrong);
    if (e.index === check.anchor.logIndex) this.checkPassed(check);
  }

  /** The state replayed disagrees with the record: the log's fault, or a checkpoint of another log's. */
  private stateDisagrees(check: ResumeCheck, why: string): never {
    if (check.checkpoint) {
      // The entries are the replicas'; the state under them came from the local checkpoint.
      this.checkpointDistrusted = true;
      this.resetStateMachine();
      this.log.warn("local checkpoint disagrees with the replicas' log: not used again; replaying from their log", {
        why,
        checkpointIndex: this.st.checkpointIndex,
      });
      throw new Error(`checkpoint of another log (${why})`);
    }
    throw new LogRefusal('mismatch', why);
  }

  private checkPassed(check: ResumeCheck): void {
    check.done = true;
    this.st.logCheck = check.legacy ? 'legacy' : 'verified';
    this.st.logCheckReason = undefined;
    this.refusalLogged = undefined;
  }

  /**
   * The replicas' log ends before the resume point: wait (a lagging replica), saying so. A state
   * machine already past their log's end (the local checkpoint) cannot be checked against it:
   * it is dropped and their log replayed from its start, so a new log shows itself there.
   */
  private noteLogShort(check: ResumeCheck, applied: number): void {
    if (applied < this.sm.appliedIndex) {
      this.resetStateMachine();
      check.checkpoint = false;
    }
    if (this.st.logCheck === 'waiting') return;
    this.st.logCheck = 'waiting';
    this.st.logCheckReason = `the replicas' log ends at index ${applied}, before the published index ${check.anchor.logIndex}`;
    this.log.warn(
      "the replicas' log ends before the last published index: waiting for it to get there before publishing (if it is a new exchange, it is refused once its log shows it)",
      { applied, publishedIndex: check.anchor.logIndex },
    );
  }

  /**
   * Step 3's check when the replicas answer their snapshot (the entries asked for are compacted):
   * below the resume point it is restored and replay goes on; at it, its term and state must be
   * the recorded ones; past it, the resume point can be checked only by replaying this
   * publisher's own state at it up to the snapshot (verifyBySnapshot), else it is refused.
   */
  private async checkAtSnapshot(
    source: EntrySource,
    check: ResumeCheck,
    r: Extract<EntriesReply, { kind: 'snapshot' }>,
  ): Promise<void> {
    const a = check.anchor;
    if (r.index <= a.logIndex) {
      this.restoreSnapshot(r);
      check.checkpoint = false; // the state is the replicas' own now
      if (r.index === a.logIndex && a.term !== 0 && r.term !== a.term)
        throw new LogRefusal(
          'mismatch',
          `the replicas' snapshot at ${a.logIndex} has term ${r.term}, the progress record's entry term ${a.term}`,
        );
      const wrong = stateMismatch(a, this.stateAt());
      if (wrong !== undefined) throw new LogRefusal('mismatch', wrong);
      if (r.index === a.logIndex) this.checkPassed(check);
      return;
    }
    if (this.sm.appliedIndex !== a.logIndex)
      throw new LogRefusal(
        'unverifiable',
        `the replicas compacted their log through index ${r.index}, past the published index ${a.logIndex}, and this publisher has no state at ${a.logIndex} to replay to their snapshot`,
      );
    await this.verifyBySnapshot(source, check, r);
  }

  /**
   * The entry at the resume point is compacted, but this publisher's state machine is there (its
   * checkpoint): a copy of it replays the replicas' entries after it up to their snapshot and
   * must reach exactly the snapshot's state. Another log cannot (other sessions, orders, times).
   */
  private async verifyBySnapshot(
    source: EntrySource,
    check: ResumeCheck,
    snap: Extract<EntriesReply, { kind: 'snapshot' }>,
  ): Promise<void> {
    const copy = new ShardStateMachine(this.opts.shardConfig);
    copy.restore(this.sm.snapshot());
    while (copy.appliedIndex < snap.index) {
      this.checkStop();
      const r = await source.read(copy.appliedIndex + 1, ENTRIES_REPLAY_CHUNK_BYTES, ENTRIES_WAIT_MS);
      if (r.kind === 'snapshot')
        throw new LogRefusal(
          'unverifiable',
          `the replicas compacted their log past the published index ${check.anchor.logIndex} and past the entries after it`,
        );
      for (const e of r.entries) if (e.index <= snap.index) copy.apply(e.index, commandData(e));
    }
    const theirs = decodeSnapshotEnvelope(snap.data).sm;
    if (!Buffer.from(copy.snapshot()).equals(Buffer.from(theirs))) {
      this.stateDisagrees(
        check,
        `this publisher's state at ${check.anchor.logIndex} replayed with the replicas' entries does not reach their snapshot's state at ${snap.index}`,
      );
    }
    this.checkPassed(check);
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
      ps.pending = this.anchorNow();
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
    const through = this.anchorNow();
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
  private progressMessage(ps: PublishState, p: LogAnchor): TopicMessages {
    const rec: ProgressRecord = {
      shard: this.shard,
      log_index: p.logIndex,
      seq: p.seq,
      log_term: p.term,
      ...(p.entrySha256 !== undefined ? { entry_sha256: p.entrySha256 } : {}),
      log_time_us: p.logTimeUs ?? 0,
      cluster_id: this.st.clusterId,
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
  private async send(ps: PublishState, records: OutRecord[], withProgress: LogAnchor | undefined): Promise<void> {
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
    const progressKey = `${TOPIC_PROGRESS}/${ps.progressPartition}`;
    const targets = [...counts.keys(), ...(withProgress !== undefined ? [progressKey] : [])];
    const fresh = targets.filter((k) => !ps.written.has(k));
    if (fresh.length > 0) await this.preflight(fresh, progressKey);
    const meta: RecordMetadata[] = await ps.producer.sendBatch({
      topicMessages,
      acks: -1,
      timeout: PRODUCE_TIMEOUT_MS,
    });
    this.takeOffsets(meta, counts, withProgress !== undefined ? ps.progressPartition : undefined);
    for (const k of fresh) ps.written.add(k);
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

  /**
   * Before this session's producer first writes to a partition: the broker must still be the
   * cluster the session started on and hold every record this publisher knows of there. A
   * broker wiped or replaced under the publisher accepts a new producer's first batch to a
   * partition at offset 0 (its later ones it refuses: unknown sequence), and records of later
   * log indexes ahead of the ones a new session would publish again would make consumers drop
   * those as duplicates. So the session ends before writing; the next one resumes from what the
   * broker it now talks to holds.
   */
  private async preflight(keys: string[], progressKey: string): Promise<void> {
    const admin = this.admin;
    assert(admin !== undefined, 'preflight without an admin client');
    const lost: string[] = [];
    const { clusterId } = await admin.describeCluster();
    if (clusterId !== this.st.clusterId) lost.push(`cluster id ${clusterId}, not ${this.st.clusterId}`);
    for (const topic of new Set(keys.map((k) => k.slice(0, k.lastIndexOf('/'))))) {
      const highs = await admin.fetchTopicOffsets(topic);
      for (const k of keys) {
        if (!k.startsWith(`${topic}/`)) continue;
        const partition = Number(k.slice(k.lastIndexOf('/') + 1));
        const expected = k === progressKey ? this.progressNextOffset : (this.offsets.get(k)?.next_offset ?? 0);
        const high = Number(highs.find((h) => h.partition === partition)?.high ?? 0);
        if (high < expected) lost.push(`${k} ends at ${high}, below ${expected}`);
      }
    }
    if (lost.length > 0) this.brokerLost(lost);
  }

  /** The broker does not hold what this publisher wrote: end the session (counted, logged). */
  private brokerLost(lost: string[]): never {
    this.st.brokerResets++;
    this.log.error(
      'the broker holds fewer records than this publisher wrote (wiped or replaced under it): starting a new session, which resumes from what this broker holds',
      { lost, clusterId: this.st.clusterId },
    );
    throw new Error(`broker lost records: ${lost.join('; ')}`);
  }

  /**
   * The produce answer's base offsets become this publisher's offsets. One below what it already
   * holds there (its own acknowledged records, or the progress record it resumed from) means the
   * broker lost them after the preflight (replaced within that round trip): the session ends,
   * and the next one reads its resume point from this broker (the progress records this session
   * wrote name the cluster it started on: passed over there).
   */
  private takeOffsets(
    meta: RecordMetadata[],
    counts: Map<string, number>,
    progressPartition: number | undefined,
  ): void {
    const lost: string[] = [];
    for (const m of meta) {
      const k = `${m.topicName}/${m.partition}`;
      const base = Number(m.baseOffset);
      assert(Number.isSafeInteger(base) && base >= 0, `produce to ${k} answered base offset ${m.baseOffset}`);
      if (m.topicName === TOPIC_PROGRESS && m.partition === progressPartition) {
        if (base < this.progressNextOffset) lost.push(`${k} at ${base}, below ${this.progressNextOffset}`);
        this.progressNextOffset = Math.max(this.progressNextOffset, base + 1);
        continue;
      }
      const n = counts.get(k);
      if (n === undefined) continue;
      const prev = this.offsets.get(k)?.next_offset ?? 0;
      if (base < prev) lost.push(`${k} at ${base}, below ${prev}`);
      this.offsets.set(k, { topic: m.topicName, partition: m.partition, next_offset: Math.max(prev, base + n) });
      counts.delete(k);
    }
    assert(counts.size === 0, `no produce result for ${[...counts.keys()].join(', ')}`);
    if (lost.length > 0) this.brokerLost(lost);
  }

  /** Applies one entry; returns whether it held only the replicas' own commands (time ticks: a negative client id). */
  private applyEntry(e: RawEntry): boolean {
    assert(e.index === this.sm.appliedIndex + 1, `entry ${e.index} after applied ${this.sm.appliedIndex}`);
    const results = this.sm.apply(e.index, commandData(e));
    this.lastEntry = e;
    if (results.length === 0) return false; // no-op, membership or malformed entries: counted as commands (progress within a second)
    for (const r of results) if (r.clientId >= 0) return false;
    return true;
  }

  private restoreSnapshot(r: Extract<EntriesReply, { kind: 'snapshot' }>): void {
    const { sm } = decodeSnapshotEnvelope(r.data);
    this.sm.restore(sm);
    this.smFromCheckpoint = false;
    this.lastEntry = { index: r.index, term: r.term, type: 0, data: undefined };
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
