// Request decoders and response encoders for every API and version this broker speaks, and
// the version table it advertises through ApiVersions. Pure: bytes ⇄ plain objects.
//
// Only non-flexible versions are implemented (flexible versions need compact strings and
// tagged fields). Both clients this project is checked against negotiate down to them:
// kafkajs 2.2.4 implements no flexible version at all, and librdkafka picks, per API, the
// highest version both sides support (it first sends ApiVersions v3, gets
// UNSUPPORTED_VERSION with this table, and retries with v2). The minimum for Produce (3)
// and Fetch (4) is where record batch v2 starts, the only message format stored here.
// Field layouts follow the Kafka message definitions (clients/src/main/resources/common/message).

import { ApiKey, type ErrorCode, type Reader, type Writer } from './protocol.js';

/** [min, max] version per API key: exactly what the handlers implement. */
export const SUPPORTED_VERSIONS: ReadonlyMap<number, readonly [number, number]> = new Map<
  number,
  readonly [number, number]
>([
  [ApiKey.Produce, [3, 7]],
  [ApiKey.Fetch, [4, 11]],
  [ApiKey.ListOffsets, [1, 5]],
  [ApiKey.Metadata, [0, 8]],
  [ApiKey.OffsetCommit, [0, 7]],
  [ApiKey.OffsetFetch, [0, 5]],
  [ApiKey.FindCoordinator, [0, 2]],
  [ApiKey.JoinGroup, [0, 5]],
  [ApiKey.Heartbeat, [0, 3]],
  [ApiKey.LeaveGroup, [0, 3]],
  [ApiKey.SyncGroup, [0, 3]],
  [ApiKey.ApiVersions, [0, 2]],
  [ApiKey.CreateTopics, [0, 4]],
  [ApiKey.InitProducerId, [0, 1]],
]);

export function isSupported(apiKey: number, version: number): boolean {
  const range = SUPPORTED_VERSIONS.get(apiKey);
  return range !== undefined && version >= range[0] && version <= range[1];
}

/** "Not requested" value of the authorized-operations bitfields (Metadata v8). */
const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

// ---- ApiVersions (18) -----------------------------------------------------------------

export function encodeApiVersionsResponse(w: Writer, v: number, error: ErrorCode): void {
  w.int16(error);
  w.array([...SUPPORTED_VERSIONS], (w2, [key, [min, max]]) => w2.int16(key).int16(min).int16(max));
  if (v >= 1) w.int32(0);
}

// ---- Metadata (3) ---------------------------------------------------------------------

export interface MetadataRequest {
  /** null: all topics. */
  topics: string[] | null;
  allowAutoTopicCreation: boolean;
}

export function decodeMetadataRequest(r: Reader, v: number): MetadataRequest {
  const topics = v === 0 ? r.array((x) => x.string()) : r.nullableArray((x) => x.string());
  const allowAutoTopicCreation = v >= 4 ? r.bool() : true;
  if (v >= 8) {
    r.bool();
    r.bool();
  }
  // In v0 an empty list means every topic.
  return { topics: v === 0 && topics !== null && topics.length === 0 ? null : topics, allowAutoTopicCreation };
}

export interface MetadataPartition {
  error: ErrorCode;
  partition: number;
  leaderId: number;
  leaderEpoch: number;
  replicas: number[];
}

export interface MetadataTopic {
  error: ErrorCode;
  name: string;
  partitions: MetadataPartition[];
}

export interface MetadataResponse {
  brokers: { nodeId: number; host: string; port: number }[];
  clusterId: string;
  controllerId: number;
  topics: MetadataTopic[];
}

export function encodeMetadataResponse(w: Writer, v: number, res: MetadataResponse): void {
  if (v >= 3) w.int32(0);
  w.array(res.brokers, (w2, b) => {
    w2.int32(b.nodeId).string(b.host).int32(b.port);
    if (v >= 1) w2.nullableString(null);
  });
  if (v >= 2) w.nullableString(res.clusterId);
  if (v >= 1) w.int32(res.controllerId);
  w.array(res.topics, (w2, t) => {
    w2.int16(t.error).string(t.name);
    if (v >= 1) w2.bool(false);
    w2.array(t.partitions, (w3, p) => {
      w3.int16(p.error).int32(p.partition).int32(p.leaderId);
      if (v >= 7) w3.int32(p.leaderEpoch);
      w3.int32Array(p.replicas).int32Array(p.replicas);
      if (v >= 5) w3.int32Array([]);
    });
    if (v >= 8) w2.int32(AUTHORIZED_OPERATIONS_OMITTED);
  });
  if (v >= 8) w.int32(AUTHORIZED_OPERATIONS_OMITTED);
}

// ---- CreateTopics (19) ----------------------------------------------------------------

export interface CreatableTopic {
  name: string;
  numPartitions: number;
  replicationFactor: number;
  assignmentCount: number;
  configs: { name: string; value: string | null }[];
}

export interface CreateTopicsRequest {
  topics: CreatableTopic[];
  timeoutMs: number;
  validateOnly: boolean;
}

export function decodeCreateTopicsRequest(r: Reader, v: number): CreateTopicsRequest {
  const topics = r.array((x) => ({
    name: x.string(),
    numPartitions: x.int32(),
    replicationFactor: x.int16(),
    assignmentCount: x.array((y) => ({ partition: y.int32(), brokers: y.array((z) => z.int32()) })).length,
    configs: x.array((y) => ({ name: y.string(), value: y.nullableString() })),
  }));
  const timeoutMs = r.int32();
  const validateOnly = v >= 1 ? r.bool() : false;
  return { topics, timeoutMs, validateOnly };
}

export function encodeCreateTopicsResponse(
  w: Writer,
  v: number,
  topics: { name: string; error: ErrorCode; message: string | null }[],
): void {
  if (v >= 2) w.int32(0);
  w.array(topics, (w2, t) => {
    w2.string(t.name).int16(t.error);
    if (v >= 1) w2.nullableString(t.message);
  });
}

// ---- Produce (0) ----------------------------------------------------------------------

export interface ProduceRequest {
  transactionalId: string | null;
  acks: number;
  timeoutMs: number;
  topics: { name: string; partitions: { partition: number; records: Buffer | null }[] }[];
}

export function decodeProduceRequest(r: Reader, _v: number): ProduceRequest {
  return {
    transactionalId: r.nullableString(),
    acks: r.int16(),
    timeoutMs: r.int32(),
    topics: r.array((x) => ({
      name: x.string(),
      partitions: x.array((y) => ({ partition: y.int32(), records: y.nullableBytes() })),
    })),
  };
}

export interface ProducePartitionResponse {
  partition: number;
  error: ErrorCode;
  baseOffset: number;
  logStartOffset: number;
}

export function encodeProduceResponse(
  w: Writer,
  v: number,
  topics: { name: string; partitions: ProducePartitionResponse[] }[],
): void {
  w.array(topics, (w2, t) => {
    w2.string(t.name);
    w2.array(t.partitions, (w3, p) => {
      w3.int32(p.partition).int16(p.error).int64(p.baseOffset);
      if (v >= 2) w3.int64(-1); // log append time: topics use CreateTime
      if (v >= 5) w3.int64(p.logStartOffset);
    });
  });
  if (v >= 1) w.int32(0);
}

// ---- Fetch (1) ------------------------------------------------------------------------

export interface FetchPartitionRequest {
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
}

export interface FetchRequest {
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  isolationLevel: number;
  sessionId: number;
  sessionEpoch: number;
  topics: { name: string; partitions: FetchPartitionRequest[] }[];
}

export function decodeFetchRequest(r: Reader, v: number): FetchRequest {
  r.int32(); // replica id: -1 for consumers; there are no followers here
  const maxWaitMs = r.int32();
  const minBytes = r.int32();
  const maxBytes = v >= 3 ? r.int32() : 0x7fffffff;
  const isolationLevel = v >= 4 ? r.int8() : 0;
  const sessionId = v >= 7 ? r.int32() : 0;
  const sessionEpoch = v >= 7 ? r.int32() : -1;
  const topics = r.array((x) => ({
    name: x.string(),
    partitions: x.array((y) => {
      const partition = y.int32();
      if (v >= 9) y.int32(); // current leader epoch: there is one leader, forever
      const fetchOffset = y.int64();
      if (v >= 5) y.int64(); // follower's log start offset
      return { partition, fetchOffset, partitionMaxBytes: y.int32() };
    }),
  }));
  if (v >= 7) r.array((x) => ({ name: x.string(), partitions: x.array((y) => y.int32()) }));
  if (v >= 11) r.string();
  return { maxWaitMs, minBytes, maxBytes, isolationLevel, sessionId, sessionEpoch, topics };
}

export interface FetchPartitionResponse {
  partition: number;
  error: ErrorCode;
  highWatermark: number;
  logStartOffset: number;
  records: Buffer | null;
}

export function encodeFetchResponse(
  w: Writer,
  v: number,
  error: ErrorCode,
  topics: { name: string; partitions: FetchPartitionResponse[] }[],
): void {
  if (v >= 1) w.int32(0);
  if (v >= 7) w.int16(error).int32(0); // session id 0: no fetch session was created
  w.array(topics, (w2, t) => {
    w2.string(t.name);
    w2.array(t.partitions, (w3, p) => {
      w3.int32(p.partition).int16(p.error).int64(p.highWatermark);
      if (v >= 4) w3.int64(p.highWatermark); // last stable offset: no transactions, so the high watermark
      if (v >= 5) w3.int64(p.logStartOffset);
      if (v >= 4) w3.int32(0); // aborted transactions: none
      if (v >= 11) w3.int32(-1); // preferred read replica: none
      w3.nullableBytes(p.records);
    });
  });
}

// ---- ListOffsets (2) ------------------------------------------------------------------

export interface ListOffsetsRequest {
  isolationLevel: number;
  topics: { name: string; partitions: { partition: number; timestampMs: number }[] }[];
}

export function decodeListOffsetsRequest(r: Reader, v: number): ListOffsetsRequest {
  r.int32(); // replica id
  const isolationLevel = v >= 2 ? r.int8() : 0;
  const topics = r.array((x) => ({
    name: x.string(),
    partitions: x.array((y) => {
      const partition = y.int32();
      if (v >= 4) y.int32(); // current leader epoch
      return { partition, timestampMs: y.int64() };
    }),
  }));
  return { isolationLevel, topics };
}

export interface ListOffsetsPartitionResponse {
  partition: number;
  error: ErrorCode;
  timestampMs: number;
  offset: number;
}

export function encodeListOffsetsResponse(
  w: Writer,
  v: number,
  topics: { name: string; partitions: ListOffsetsPartitionResponse[] }[],
): void {
  if (v >= 2) w.int32(0);
  w.array(topics, (w2, t) => {
    w2.string(t.name);
    w2.array(t.partitions, (w3, p) => {
      w3.int32(p.partition).int16(p.error).int64(p.timestampMs).int64(p.offset);
      if (v >= 4) w3.int32(p.offset >= 0 ? 0 : -1); // leader epoch
    });
  });
}

// ---- FindCoordinator (10) -------------------------------------------------------------

export function decodeFindCoordinatorRequest(r: Reader, v: number): { key: string; keyType: number } {
  const key = r.string();
  return { key, keyType: v >= 1 ? r.int8() : 0 };
}

export function encodeFindCoordinatorResponse(
  w: Writer,
  v: number,
  res: { error: ErrorCode; message: string | null; nodeId: number; host: string; port: number },
): void {
  if (v >= 1) w.int32(0);
  w.int16(res.error);
  if (v >= 1) w.nullableString(res.message);
  w.int32(res.nodeId).string(res.host).int32(res.port);
}

// ---- JoinGroup (11), SyncGroup (14), Heartbeat (12), LeaveGroup (13) -----------------

export interface JoinGroupRequest {
  groupId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string;
  protocols: { name: string; metadata: Buffer }[];
}

export function decodeJoinGroupRequest(r: Reader, v: number): JoinGroupRequest {
  const groupId = r.string();
  const sessionTimeoutMs = r.int32();
  const rebalanceTimeoutMs = v >= 1 ? r.int32() : sessionTimeoutMs;
  const memberId = r.string();
  const groupInstanceId = v >= 5 ? r.nullableString() : null;
  const protocolType = r.string();
  // Copies: the coordinator keeps member metadata beyond this request's buffer.
  const protocols = r.array((x) => ({ name: x.string(), metadata: Buffer.from(x.bytes()) }));
  return { groupId, sessionTimeoutMs, rebalanceTimeoutMs, memberId, groupInstanceId, protocolType, protocols };
}

export function encodeJoinGroupResponse(
  w: Writer,
  v: number,
  res: {
    error: ErrorCode;
    generationId: number;
    protocolName: string;
    leaderId: string;
    memberId: string;
    members: { memberId: string; metadata: Uint8Array }[];
  },
): void {
  if (v >= 2) w.int32(0);
  w.int16(res.error).int32(res.generationId).string(res.protocolName).string(res.leaderId).string(res.memberId);
  w.array(res.members, (w2, m) => {
    w2.string(m.memberId);
    if (v >= 5) w2.nullableString(null);
    w2.bytes(m.metadata);
  });
}

export interface SyncGroupRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  assignments: { memberId: string; assignment: Buffer }[];
}

export function decodeSyncGroupRequest(r: Reader, v: number): SyncGroupRequest {
  const groupId = r.string();
  const generationId = r.int32();
  const memberId = r.string();
  if (v >= 3) r.nullableString(); // group instance id
  const assignments = r.array((x) => ({ memberId: x.string(), assignment: Buffer.from(x.bytes()) }));
  return { groupId, generationId, memberId, assignments };
}

export function encodeSyncGroupResponse(w: Writer, v: number, error: ErrorCode, assignment: Uint8Array): void {
  if (v >= 1) w.int32(0);
  w.int16(error).bytes(assignment);
}

export function decodeHeartbeatRequest(
  r: Reader,
  v: number,
): { groupId: string; generationId: number; memberId: string } {
  const groupId = r.string();
  const generationId = r.int32();
  const memberId = r.string();
  if (v >= 3) r.nullableString();
  return { groupId, generationId, memberId };
}

export function encodeErrorOnlyResponse(w: Writer, v: number, error: ErrorCode, throttleFromVersion: number): void {
  if (v >= throttleFromVersion) w.int32(0);
  w.int16(error);
}

export function decodeLeaveGroupRequest(
  r: Reader,
  v: number,
): { groupId: string; members: { memberId: string; groupInstanceId: string | null }[] } {
  const groupId = r.string();
  if (v <= 2) return { groupId, members: [{ memberId: r.string(), groupInstanceId: null }] };
  return { groupId, members: r.array((x) => ({ memberId: x.string(), groupInstanceId: x.nullableString() })) };
}

export function encodeLeaveGroupResponse(
  w: Writer,
  v: number,
  error: ErrorCode,
  members: { memberId: string; groupInstanceId: string | null; error: ErrorCode }[],
): void {
  if (v >= 1) w.int32(0);
  w.int16(error);
  if (v >= 3) w.array(members, (w2, m) => w2.string(m.memberId).nullableString(m.groupInstanceId).int16(m.error));
}

// ---- OffsetCommit (8), OffsetFetch (9) ------------------------------------------------

export interface OffsetCommitRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  topics: { name: string; partitions: { partition: number; offset: number; metadata: string | null }[] }[];
}

export function decodeOffsetCommitRequest(r: Reader, v: number): OffsetCommitRequest {
  const groupId = r.string();
  const generationId = v >= 1 ? r.int32() : -1;
  const memberId = v >= 1 ? r.string() : '';
  if (v >= 7) r.nullableString(); // group instance id
  if (v >= 2 && v <= 4) r.int64(); // retention time: offsets are kept until overwritten
  const topics = r.array((x) => ({
    name: x.string(),
    partitions: x.array((y) => {
      const partition = y.int32();
      const offset = y.int64();
      if (v >= 6) y.int32(); // committed leader epoch
      if (v === 1) y.int64(); // commit timestamp
      return { partition, offset, metadata: y.nullableString() };
    }),
  }));
  return { groupId, generationId, memberId, topics };
}

export function encodeOffsetCommitResponse(
  w: Writer,
  v: number,
  topics: { name: string; partitions: { partition: number; error: ErrorCode }[] }[],
): void {
  if (v >= 3) w.int32(0);
  w.array(topics, (w2, t) => {
    w2.string(t.name);
    w2.array(t.partitions, (w3, p) => w3.int32(p.partition).int16(p.error));
  });
}

export function decodeOffsetFetchRequest(
  r: Reader,
  v: number,
): { groupId: string; topics: { name: string; partitions: number[] }[] | null } {
  const groupId = r.string();
  const read = (x: Reader) => ({ name: x.string(), partitions: x.array((y) => y.int32()) });
  const topics = v >= 2 ? r.nullableArray(read) : r.array(read);
  return { groupId, topics };
}

export interface OffsetFetchPartitionResponse {
  partition: number;
  offset: number;
  metadata: string | null;
  error: ErrorCode;
}

export function encodeOffsetFetchResponse(
  w: Writer,
  v: number,
  error: ErrorCode,
  topics: { name: string; partitions: OffsetFetchPartitionResponse[] }[],
): void {
  if (v >= 3) w.int32(0);
  w.array(topics, (w2, t) => {
    w2.string(t.name);
    w2.array(t.partitions, (w3, p) => {
      w3.int32(p.partition).int64(p.offset);
      if (v >= 5) w3.int32(-1); // committed leader epoch
      w3.nullableString(p.metadata).int16(p.error);
    });
  });
  if (v >= 2) w.int16(error);
}

// ---- InitProducerId (22) --------------------------------------------------------------

export function decodeInitProducerIdRequest(
  r: Reader,
  _v: number,
): { transactionalId: string | null; transactionTimeoutMs: number } {
  return { transactionalId: r.nullableString(), transactionTimeoutMs: r.int32() };
}

export function encodeInitProducerIdResponse(
  w: Writer,
  _v: number,
  res: { error: ErrorCode; producerId: number; producerEpoch: number },
): void {
  w.int32(0).int16(res.error).int64(res.producerId).int16(res.producerEpoch);
}
