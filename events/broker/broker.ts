// The broker's request handlers: one decoded request in, one encoded response body out
// (or none, for acks=0 produce). Owns the topic store, the group coordinator, the offset
// store and the long-polling fetches. The network edge (server.ts) frames bytes and keeps
// responses in order per connection; nothing here touches a socket.

import './limits-check.js';
import crypto from 'node:crypto';
import path from 'node:path';
import { GroupCoordinator, type JoinResult, type Reply, type SyncResult } from './groups.js';
import { LogFailedError, type FsyncPolicy, type PartitionLog } from './log.js';
import * as m from './messages.js';
import { OffsetStore, type OffsetCommitEntry } from './offsets.js';
import { OFFSET_METADATA_CHARS_MAX } from './limits.js';
import { ApiKey, ErrorCode, ProtocolError, Writer, assert, type Reader, type RequestHeader } from './protocol.js';
import { checkProducedRecords } from './record-batch.js';
import { TopicStore, topicNameProblem } from './topics.js';
import { PARTITIONS_PER_TOPIC_MAX } from './limits.js';
import { FETCH_BYTES_MAX, FETCH_WAIT_MS_MAX, FETCH_WAITERS_MAX, GROUP_TIMER_MAX_MS } from './limits.js';
import { NO_LOG, type Log } from '../../ops/log.js';

/** The one broker's node id in Metadata and FindCoordinator. */
export const NODE_ID = 1;
/** Characters of the client id kept at the start of a member id. */
const CLIENT_ID_IN_MEMBER_ID_CHARS_MAX = 200;

export interface BrokerConfig {
  dataDir: string;
  /** Default 'always': acknowledged and visible only once fdatasynced. */
  fsync?: FsyncPolicy;
  /** Create unknown topics named in Metadata requests that allow it (default true). Produce never creates. */
  autoCreateTopics?: boolean;
  /** Partitions of an auto-created topic, or of CreateTopics with -1 (default 1). */
  defaultPartitions?: number;
  segmentBytesMax?: number;
  retentionBytes?: number;
  retentionMs?: number;
  /** Lowest session timeout a JoinGroup may ask for (default groups.ts GROUP_SESSION_TIMEOUT_MS_MIN). */
  sessionTimeoutMsMin?: number;
  nowMs?: () => number;
  /** Default: nothing logged. */
  log?: Log;
  /** Storage failed (fsync/write error): the broker must be restarted. Default: log. */
  onFatal?: (err: Error) => void;
}

/**
 * Decodes one request body (version v), acts on it and returns the encoded response body, or
 * null when no response is due (produce with acks=0). Throws ProtocolError for a malformed body.
 */
type Handler = (v: number, r: Reader, header: RequestHeader) => Buffer[] | null | Promise<Buffer[] | null>;

/** The response body encode writes. */
function respond(encode: (w: Writer) => void): Buffer[] {
  const w = new Writer();
  encode(w);
  return w.finish();
}

interface FetchWaiter {
  logs: Set<PartitionLog>;
  wake: () => void;
}

export class Broker {
  readonly topics: TopicStore;
  readonly groups: GroupCoordinator;
  readonly offsets: OffsetStore;
  private readonly nowMs: () => number;
  private readonly log: Log;
  private readonly pendingGroupReplies = new Map<number, { kind: Reply['kind']; resolve: (reply: Reply) => void }>();
  private nextToken = 1;
  private readonly fetchWaiters = new Set<FetchWaiter>();
  /** The group deadline timer, and the nowMs() at which it fires (Infinity: not armed). */
  private groupTimer: NodeJS.Timeout | undefined;
  private groupTimerAtMs = Infinity;
  private inflight = 0;
  private inflightDone: (() => void) | undefined;
  private closing = false;
  /** Host and port written into Metadata and FindCoordinator responses; set once listening. */
  private advertisedHost = '127.0.0.1';
  private advertisedPort = -1;

  /** Opens the data directory: recovers every partition log and the committed offsets (synchronous; throws on corruption). */
  constructor(private readonly config: BrokerConfig) {
    this.nowMs = config.nowMs ?? Date.now;
    this.log = config.log ?? NO_LOG;
    const dp = config.defaultPartitions ?? 1;
    assert(
      Number.isSafeInteger(dp) && dp >= 1 && dp <= PARTITIONS_PER_TOPIC_MAX,
      `defaultPartitions must be 1..${PARTITIONS_PER_TOPIC_MAX}, got ${dp}`,
    );
    const warn = (msg: string) => this.log.warn(msg);
    this.topics = TopicStore.open(config.dataDir, {
      fsync: config.fsync ?? 'always',
      ...(config.segmentBytesMax !== undefined ? { segmentBytesMax: config.segmentBytesMax } : {}),
      ...(config.retentionBytes !== undefined ? { retentionBytes: config.retentionBytes } : {}),
      ...(config.retentionMs !== undefined ? { retentionMs: config.retentionMs } : {}),
      nowMs: this.nowMs,
      warn,
    });
    for (const t of this.topics.topics.values()) for (const p of t.partitions) this.watch(p);
    this.offsets = OffsetStore.open(path.join(config.dataDir, 'offsets'), {
      fsync: (config.fsync ?? 'always') === 'always',
      warn,
    });
    // Kafka's member id form, client id + UUID; the client id is clipped so the id always fits a protocol string.
    this.groups = new GroupCoordinator(
      (clientId) => `${clientId.slice(0, CLIENT_ID_IN_MEMBER_ID_CHARS_MAX)}-${crypto.randomUUID()}`,
      {
        ...(config.sessionTimeoutMsMin !== undefined ? { sessionTimeoutMsMin: config.sessionTimeoutMsMin } : {}),
      },
    );
  }

  setAdvertisedAddress(host: string, port: number): void {
    this.advertisedHost = host;
    this.advertisedPort = port;
  }

  private get defaultPartitions(): number {
    return this.config.defaultPartitions ?? 1;
  }

  private watch(p: PartitionLog): void {
    p.onAdvance = () => {
      for (const w of this.fetchWaiters) if (w.logs.has(p)) w.wake();
    };
  }

  private fatal(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    this.log.error('storage failed: nothing more is acknowledged, the broker must be restarted', { err: e.message });
    this.config.onFatal?.(e);
  }

  /**
   * Handles one request whose header is supported (the server checked the version). Returns
   * the response body chunks, or null when no response is due (produce with acks=0).
   * Throws ProtocolError for a malformed body.
   */
  async handle(header: RequestHeader, r: Reader): Promise<Buffer[] | null> {
    assert(
      m.isSupported(header.apiKey, header.apiVersion),
      `unsupported ${header.apiKey} v${header.apiVersion} reached the broker`,
    );
    if (this.closing) throw new ProtocolError('broker is closing');
    this.inflight++;
    try {
      return await this.dispatch(header, r);
    } finally {
      this.inflight--;
      if (this.inflight === 0) this.inflightDone?.();
    }
  }

  private dispatch(header: RequestHeader, r: Reader): Buffer[] | null | Promise<Buffer[] | null> {
    const handler = this.handlers[header.apiKey as ApiKey];
    assert(handler !== undefined, `no handler for api key ${header.apiKey}`);
    return handler(header.apiVersion, r, header);
  }

  /** The handler of each supported API key (m.isSupported). */
  private readonly handlers: Record<ApiKey, Handler> = {
    [ApiKey.ApiVersions]: (v) => respond((w) => m.encodeApiVersionsResponse(w, v, ErrorCode.NONE)),
    [ApiKey.Metadata]: (v, r) =>
      respond((w) => m.encodeMetadataResponse(w, v, this.metadata(m.decodeMetadataRequest(r, v)))),
    [ApiKey.CreateTopics]: (v, r) => {
      const req = m.decodeCreateTopicsRequest(r, v);
      return respond((w) => m.encodeCreateTopicsResponse(w, v, this.createTopics(req)));
    },
    [ApiKey.Produce]: async (v, r) => {
      const req = m.decodeProduceRequest(r, v);
      const topics = await this.produce(req, v);
      if (req.acks === 0) return null;
      return respond((w) => m.encodeProduceResponse(w, v, topics));
    },
    [ApiKey.Fetch]: async (v, r) => {
      const res = await this.fetch(m.decodeFetchRequest(r, v));
      return respond((w) => m.encodeFetchResponse(w, v, res.error, res.topics));
    },
    [ApiKey.ListOffsets]: (v, r) =>
      respond((w) => m.encodeListOffsetsResponse(w, v, this.listOffsets(m.decodeListOffsetsRequest(r, v)))),
    [ApiKey.FindCoordinator]: (v, r) =>
      respond((w) => m.encodeFindCoordinatorResponse(w, v, this.findCoordinator(m.decodeFindCoordinatorRequest(r, v)))),
    [ApiKey.JoinGroup]: async (v, r, header) => {
      const req = m.decodeJoinGroupRequest(r, v);
      const result = await this.awaitGroupReply<JoinResult>('join', (token) =>
        this.groups.join(
          token,
          {
            groupId: req.groupId,
            memberId: req.memberId,
            clientId: header.clientId ?? '',
            sessionTimeoutMs: req.sessionTimeoutMs,
            rebalanceTimeoutMs: req.rebalanceTimeoutMs,
            protocolType: req.protocolType,
            protocols: req.protocols,
          },
          this.nowMs(),
        ),
      );
      return respond((w) => m.encodeJoinGroupResponse(w, v, result));
    },
    [ApiKey.SyncGroup]: async (v, r) => {
      const req = m.decodeSyncGroupRequest(r, v);
      const result = await this.awaitGroupReply<SyncResult>('sync', (token) =>
        this.groups.sync(token, req, this.nowMs()),
      );
      return respond((w) => m.encodeSyncGroupResponse(w, v, result.error, result.assignment));
    },
    [ApiKey.Heartbeat]: (v, r) => {
      const req = m.decodeHeartbeatRequest(r, v);
      const body = respond((w) =>
        m.encodeErrorOnlyResponse(
          w,
          v,
          this.groups.heartbeat(req.groupId, req.memberId, req.generationId, this.nowMs()),
          1,
        ),
      );
      this.armGroupTimer();
      return body;
    },
    [ApiKey.LeaveGroup]: (v, r) => {
      const members = this.leaveGroup(m.decodeLeaveGroupRequest(r, v));
      // v0–2 name one member, and its error is the response's.
      return respond((w) =>
        m.encodeLeaveGroupResponse(w, v, v <= 2 ? (members[0]?.error ?? ErrorCode.NONE) : ErrorCode.NONE, members),
      );
    },
    [ApiKey.OffsetCommit]: async (v, r) => {
      const req = m.decodeOffsetCommitRequest(r, v);
      const res = await this.offsetCommit(req);
      return respond((w) => m.encodeOffsetCommitResponse(w, v, res));
    },
    [ApiKey.OffsetFetch]: (v, r) => {
      const req = m.decodeOffsetFetchRequest(r, v);
      return respond((w) => m.encodeOffsetFetchResponse(w, v, ErrorCode.NONE, this.offsetFetch(req)));
    },
    [ApiKey.InitProducerId]: (v, r) => {
      const req = m.decodeInitProducerIdRequest(r, v);
      // Transactions are not implemented: only the idempotent producer (no transactional id).
      if (req.transactionalId !== null)
        return respond((w) =>
          m.encodeInitProducerIdResponse(w, v, { error: ErrorCode.INVALID_REQUEST, producerId: -1, producerEpoch: -1 }),
        );
      return respond((w) =>
        m.encodeInitProducerIdResponse(w, v, {
          error: ErrorCode.NONE,
          producerId: this.topics.allocateProducerId(),
          producerEpoch: 0,
        }),
      );
    },
  };

  /** Where a group's coordinator is: this broker, for any non-empty group id; transaction coordinators do not exist. */
  private findCoordinator(
    req: ReturnType<typeof m.decodeFindCoordinatorRequest>,
  ): Parameters<typeof m.encodeFindCoordinatorResponse>[2] {
    const ok = req.keyType === 0 && req.key !== '';
    return {
      error: ok ? ErrorCode.NONE : req.keyType === 0 ? ErrorCode.INVALID_GROUP_ID : ErrorCode.COORDINATOR_NOT_AVAILABLE,
      message: ok
        ? null
        : req.keyType === 0
          ? 'empty group id'
          : 'only group coordinators: transactions are not implemented',
      nodeId: ok ? NODE_ID : -1,
      host: ok ? this.advertisedHost : '',
      port: ok ? this.advertisedPort : -1,
    };
  }

  /** Removes the members from their group; returns each with its error. */
  private leaveGroup(
    req: ReturnType<typeof m.decodeLeaveGroupRequest>,
  ): Parameters<typeof m.encodeLeaveGroupResponse>[3] {
    const { errors, replies } = this.groups.leave(
      req.groupId,
      req.members.map((x) => x.memberId),
      this.nowMs(),
    );
    this.deliver(replies);
    // A group left empty is dropped by tick() (bounded memory); no timer may be armed to do it.
    this.deliver(this.groups.tick(this.nowMs()));
    this.armGroupTimer();
    return req.members.map((x, i) => ({ ...x, error: errors[i] ?? ErrorCode.NONE }));
  }

  // ---- topics -------------------------------------------------------------------------

  private describeTopic(name: string): m.MetadataTopic {
    const t = this.topics.get(name);
    assert(t !== undefined, `describeTopic(${name})`);
    return {
      error: ErrorCode.NONE,
      name,
      partitions: t.partitions.map((_, i) => ({
        error: ErrorCode.NONE,
        partition: i,
        leaderId: NODE_ID,
        leaderEpoch: 0,
        replicas: [NODE_ID],
      })),
    };
  }

  private metadata(req: m.MetadataRequest): m.MetadataResponse {
    const names = req.topics ?? [...this.topics.topics.keys()];
    const topics = names.map((name): m.MetadataTopic => {
      if (this.topics.get(name) !== undefined) return this.describeTopic(name);
      if (topicNameProblem(name) !== undefined)
        return { error: ErrorCode.INVALID_TOPIC_EXCEPTION, name, partitions: [] };
      if (req.allowAutoTopicCreation && (this.config.autoCreateTopics ?? true)) {
        const created = this.topics.create(name, this.defaultPartitions);
        if (created.error === ErrorCode.NONE) {
          this.log.info('auto-created a topic', { topic: name, partitions: this.defaultPartitions });
          for (const p of this.topics.get(name)?.partitions ?? []) this.watch(p);
          return this.describeTopic(name);
        }
        return { error: created.error, name, partitions: [] };
      }
      return { error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, partitions: [] };
    });
    return {
      brokers: [{ nodeId: NODE_ID, host: this.advertisedHost, port: this.advertisedPort }],
      clusterId: this.topics.clusterId,
      controllerId: NODE_ID,
      topics,
    };
  }

  private createTopics(req: m.CreateTopicsRequest): { name: string; error: ErrorCode; message: string | null }[] {
    const counts = new Map<string, number>();
    for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    return req.topics.map((t) => {
      const fail = (error: ErrorCode, message: string) => ({ name: t.name, error, message });
      if ((counts.get(t.name) ?? 0) > 1)
        return fail(ErrorCode.INVALID_REQUEST, 'the topic appears more than once in the request');
      // -1 means the broker's default; Kafka accepts it at every version (kafkajs sends it with v3).
      if (t.replicationFactor !== 1 && t.replicationFactor !== -1)
        return fail(ErrorCode.INVALID_REPLICATION_FACTOR, 'a single-node broker has replication factor 1');
      if (t.assignmentCount > 0)
        return fail(ErrorCode.INVALID_REPLICA_ASSIGNMENT, 'manual replica assignment is not supported');
      for (const c of t.configs) {
        if (c.name === 'cleanup.policy' && c.value !== 'delete')
          return fail(ErrorCode.INVALID_CONFIG, 'only cleanup.policy=delete: log compaction is not implemented');
      }
      const partitions = t.numPartitions === -1 ? this.defaultPartitions : t.numPartitions;
      if (partitions > PARTITIONS_PER_TOPIC_MAX || partitions < 1)
        return fail(ErrorCode.INVALID_PARTITIONS, `partitions must be 1..${PARTITIONS_PER_TOPIC_MAX}`);
      const res = this.topics.create(t.name, partitions, req.validateOnly);
      if (res.error === ErrorCode.NONE && !req.validateOnly) {
        this.log.info('created a topic', { topic: t.name, partitions });
        for (const p of this.topics.get(t.name)?.partitions ?? []) this.watch(p);
      }
      return { name: t.name, error: res.error, message: res.message };
    });
  }

  // ---- produce ------------------------------------------------------------------------

  private async produce(
    req: m.ProduceRequest,
    v: number,
  ): Promise<{ name: string; partitions: m.ProducePartitionResponse[] }[]> {
    const touched = new Set<PartitionLog>();
    const results = req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p): m.ProducePartitionResponse & { log?: PartitionLog } => {
        const fail = (error: ErrorCode): m.ProducePartitionResponse => ({
          partition: p.partition,
          error,
          baseOffset: -1,
          logStartOffset: -1,
        });
        if (req.acks !== 0 && req.acks !== 1 && req.acks !== -1) return fail(ErrorCode.INVALID_REQUIRED_ACKS);
        if (req.transactionalId !== null) return fail(ErrorCode.INVALID_REQUEST);
        const log = this.topics.partition(t.name, p.partition);
        if (log === undefined) return fail(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        if (p.records === null) return fail(ErrorCode.CORRUPT_MESSAGE);
        const check = checkProducedRecords(p.records, v);
        if (!check.ok) {
          this.log.warn('produce rejected: bad records', {
            topic: t.name,
            partition: p.partition,
            reason: check.reason,
          });
          return fail(check.error);
        }
        try {
          const res = log.appendProduced(p.records, check.header);
          if (res.kind === 'error') {
            this.log.warn('produce refused', { topic: t.name, partition: p.partition, reason: res.reason });
            return fail(res.error);
          }
          touched.add(log);
          return {
            partition: p.partition,
            error: ErrorCode.NONE,
            baseOffset: res.baseOffset,
            logStartOffset: log.logStartOffset,
            log,
          };
        } catch (err) {
          if (!(err instanceof LogFailedError)) throw err;
          this.fatal(err);
          return fail(ErrorCode.KAFKA_STORAGE_ERROR);
        }
      }),
    }));
    const failed = new Set<PartitionLog>();
    await Promise.all(
      [...touched].map((log) =>
        log.flush().catch((err: unknown) => {
          failed.add(log);
          this.fatal(err);
        }),
      ),
    );
    return results.map((t) => ({
      name: t.name,
      partitions: t.partitions.map(({ log, ...p }) =>
        log !== undefined && failed.has(log) ? { ...p, error: ErrorCode.KAFKA_STORAGE_ERROR, baseOffset: -1 } : p,
      ),
    }));
  }

  // ---- fetch --------------------------------------------------------------------------

  private fetchOnce(req: m.FetchRequest): {
    bytes: number;
    anyError: boolean;
    topics: { name: string; partitions: m.FetchPartitionResponse[] }[];
    logs: Set<PartitionLog>;
  } {
    let budget = Math.min(Math.max(req.maxBytes, 0), FETCH_BYTES_MAX);
    let bytes = 0;
    let anyError = false;
    const logs = new Set<PartitionLog>();
    const topics = req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p): m.FetchPartitionResponse => {
        const log = this.topics.partition(t.name, p.partition);
        if (log === undefined) {
          anyError = true;
          return {
            partition: p.partition,
            error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            highWatermark: -1,
            logStartOffset: -1,
            records: null,
          };
        }
        logs.add(log);
        try {
          const limit = Math.min(Math.max(p.partitionMaxBytes, 0), budget);
          // The first batch of the response goes out whatever its size, so a consumer is never stuck behind a large one.
          const read =
            limit > 0 || bytes === 0
              ? log.read(p.fetchOffset, limit, bytes === 0)
              : { error: ErrorCode.NONE, records: Buffer.alloc(0) };
          if (read.error !== ErrorCode.NONE) anyError = true;
          bytes += read.records.byteLength;
          budget -= read.records.byteLength;
          return {
            partition: p.partition,
            error: read.error,
            highWatermark: log.highWatermark,
            logStartOffset: log.logStartOffset,
            records: read.records,
          };
        } catch (err) {
          if (!(err instanceof LogFailedError)) throw err;
          this.fatal(err);
          anyError = true;
          return {
            partition: p.partition,
            error: ErrorCode.KAFKA_STORAGE_ERROR,
            highWatermark: -1,
            logStartOffset: -1,
            records: null,
          };
        }
      }),
    }));
    return { bytes, anyError, topics, logs };
  }

  /** Answers once min_bytes are available, an error occurs, or max_wait_ms passes (long poll). */
  private async fetch(
    req: m.FetchRequest,
  ): Promise<{ error: ErrorCode; topics: { name: string; partitions: m.FetchPartitionResponse[] }[] }> {
    // Fetch sessions (KIP-227) are not implemented: session id 0 in every response tells the client to send full requests.
    if (req.sessionId !== 0) return { error: ErrorCode.FETCH_SESSION_ID_NOT_FOUND, topics: [] };
    const deadline = this.nowMs() + Math.min(Math.max(req.maxWaitMs, 0), FETCH_WAIT_MS_MAX);
    for (;;) {
      const res = this.fetchOnce(req);
      const waitMs = deadline - this.nowMs();
      if (
        res.bytes >= req.minBytes ||
        res.anyError ||
        waitMs <= 0 ||
        this.closing ||
        res.logs.size === 0 ||
        this.fetchWaiters.size >= FETCH_WAITERS_MAX
      ) {
        return { error: ErrorCode.NONE, topics: res.topics };
      }
      await new Promise<void>((resolve) => {
        const waiter: FetchWaiter = {
          logs: res.logs,
          wake: () => {
            clearTimeout(timer);
            this.fetchWaiters.delete(waiter);
            resolve();
          },
        };
        const timer = setTimeout(waiter.wake, waitMs);
        this.fetchWaiters.add(waiter);
      });
    }
  }

  // ---- list offsets -------------------------------------------------------------------

  private listOffsets(req: m.ListOffsetsRequest): { name: string; partitions: m.ListOffsetsPartitionResponse[] }[] {
    return req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p): m.ListOffsetsPartitionResponse => {
        const log = this.topics.partition(t.name, p.partition);
        if (log === undefined)
          return { partition: p.partition, error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, timestampMs: -1, offset: -1 };
        try {
          if (p.timestampMs === -1)
            return { partition: p.partition, error: ErrorCode.NONE, timestampMs: -1, offset: log.highWatermark };
          if (p.timestampMs === -2)
            return { partition: p.partition, error: ErrorCode.NONE, timestampMs: -1, offset: log.logStartOffset };
          if (p.timestampMs < 0)
            return { partition: p.partition, error: ErrorCode.INVALID_REQUEST, timestampMs: -1, offset: -1 };
          const found = log.offsetForTimestamp(p.timestampMs);
          return {
            partition: p.partition,
            error: ErrorCode.NONE,
            timestampMs: found?.timestampMs ?? -1,
            offset: found?.offset ?? -1,
          };
        } catch (err) {
          if (!(err instanceof LogFailedError)) throw err;
          this.fatal(err);
          return { partition: p.partition, error: ErrorCode.KAFKA_STORAGE_ERROR, timestampMs: -1, offset: -1 };
        }
      }),
    }));
  }

  // ---- groups and offsets -------------------------------------------------------------

  private deliver(replies: readonly Reply[]): void {
    for (const reply of replies) {
      const pending = this.pendingGroupReplies.get(reply.token);
      if (pending === undefined) continue; // its connection went away; nothing to answer
      assert(pending.kind === reply.kind, `group reply of kind ${reply.kind} for a pending ${pending.kind}`);
      this.pendingGroupReplies.delete(reply.token);
      pending.resolve(reply);
    }
  }

  private awaitGroupReply<T extends JoinResult | SyncResult>(
    kind: Reply['kind'],
    call: (token: number) => Reply[],
  ): Promise<T> {
    const token = this.nextToken++;
    const done = new Promise<T>((resolve) => {
      this.pendingGroupReplies.set(token, { kind, resolve: (reply) => resolve(reply.result as T) });
    });
    this.deliver(call(token));
    this.armGroupTimer();
    return done;
  }

  /**
   * Arms the group timer for the coordinator's earliest deadline, unless it is armed for that
   * or earlier already (it re-arms when it fires; a heartbeat only moves deadlines later).
   */
  private armGroupTimer(): void {
    if (this.closing) return;
    const next = this.groups.nextDeadlineMs();
    if (next === undefined) {
      clearTimeout(this.groupTimer);
      this.groupTimer = undefined;
      this.groupTimerAtMs = Infinity;
      return;
    }
    if (this.groupTimer !== undefined && this.groupTimerAtMs <= next) return;
    clearTimeout(this.groupTimer);
    const now = this.nowMs();
    const delay = Math.min(Math.max(next - now, 0), GROUP_TIMER_MAX_MS);
    this.groupTimerAtMs = now + delay;
    this.groupTimer = setTimeout(() => {
      this.groupTimer = undefined;
      this.groupTimerAtMs = Infinity;
      this.deliver(this.groups.tick(this.nowMs()));
      this.armGroupTimer();
    }, delay);
    this.groupTimer.unref();
  }

  private async offsetCommit(
    req: m.OffsetCommitRequest,
  ): Promise<{ name: string; partitions: { partition: number; error: ErrorCode }[] }[]> {
    const groupError = this.groups.checkCommit(req.groupId, req.memberId, req.generationId, this.nowMs());
    this.armGroupTimer();
    const entries: OffsetCommitEntry[] = [];
    const results = req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => {
        let error: ErrorCode = groupError;
        if (error === ErrorCode.NONE) {
          if (this.topics.partition(t.name, p.partition) === undefined) error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          else if (p.metadata !== null && p.metadata.length > OFFSET_METADATA_CHARS_MAX)
            error = ErrorCode.OFFSET_METADATA_TOO_LARGE;
          else entries.push({ topic: t.name, partition: p.partition, offset: p.offset, metadata: p.metadata });
        }
        return { partition: p.partition, error };
      }),
    }));
    try {
      await this.offsets.commit(req.groupId, entries);
    } catch (err) {
      this.fatal(err);
      for (const t of results)
        for (const p of t.partitions) if (p.error === ErrorCode.NONE) p.error = ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
    return results;
  }

  private offsetFetch(req: {
    groupId: string;
    topics: { name: string; partitions: number[] }[] | null;
  }): { name: string; partitions: m.OffsetFetchPartitionResponse[] }[] {
    if (req.topics === null) {
      const byTopic = new Map<string, m.OffsetFetchPartitionResponse[]>();
      for (const e of this.offsets.list(req.groupId)) {
        let list = byTopic.get(e.topic);
        if (list === undefined) byTopic.set(e.topic, (list = []));
        list.push({ partition: e.partition, offset: e.offset, metadata: e.metadata, error: ErrorCode.NONE });
      }
      return [...byTopic].map(([name, partitions]) => ({ name, partitions }));
    }
    return req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((partition) => {
        const c = this.offsets.get(req.groupId, t.name, partition);
        // No commit: offset -1 and empty metadata, as Kafka answers.
        return {
          partition,
          offset: c?.offset ?? -1,
          metadata: c === undefined ? '' : c.metadata,
          error: ErrorCode.NONE,
        };
      }),
    }));
  }

  /** Stops the timers, answers waiting requests, waits for handlers in flight, closes storage. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.groupTimer);
    this.groupTimer = undefined;
    for (const w of [...this.fetchWaiters]) w.wake();
    for (const [token, pending] of [...this.pendingGroupReplies]) {
      this.pendingGroupReplies.delete(token);
      const error = ErrorCode.COORDINATOR_NOT_AVAILABLE;
      pending.resolve(
        pending.kind === 'join'
          ? {
              token,
              kind: 'join',
              result: { error, generationId: -1, protocolName: '', leaderId: '', memberId: '', members: [] },
            }
          : { token, kind: 'sync', result: { error, assignment: new Uint8Array(0) } },
      );
    }
    if (this.inflight > 0) await new Promise<void>((resolve) => (this.inflightDone = resolve));
    await this.topics.close();
    await this.offsets.close();
  }
}
