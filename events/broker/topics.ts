// Topics and their partition logs on disk, plus the broker's own small metadata file
// (cluster id, producer-id block).
//
// Layout under the data directory:
//   meta.json                     {"version":1,"clusterId":…,"producerIdBlockEnd":…}, replaced atomically
//   topics/<topic>/topic.json     {"name":…,"partitions":N}
//   topics/<topic>/<partition>/   one PartitionLog (log.ts)
//   staging/                      topics being created; deleted at open
//   offsets/commits.log           committed group offsets (offsets.ts)
//
// A topic is created in staging/ (partition directories, then topic.json), fsynced, and
// renamed into topics/ in one step, so a crash leaves either the whole topic or nothing.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PartitionLog, createEmptyLog, type PartitionLogOptions } from './log.js';
import { ErrorCode, assert } from './protocol.js';
import { atomicWriteFileSync, fsyncDirSync } from './fs-util.js';
import { TOPICS_MAX, PARTITIONS_PER_TOPIC_MAX, PARTITIONS_TOTAL_MAX, TOPIC_NAME_CHARS_MAX } from './limits.js';

/** Producer ids reserved per write of meta.json: ids are unique across restarts, at most this many are skipped by a restart. */
export const PRODUCER_ID_BLOCK_SIZE = 1000;

const TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;

export function topicNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'topic name is empty';
  if (name.length > TOPIC_NAME_CHARS_MAX) return `topic name longer than ${TOPIC_NAME_CHARS_MAX} characters`;
  if (name === '.' || name === '..') return `topic name "${name}" is not allowed`;
  if (!TOPIC_NAME.test(name)) return 'topic names may contain only ASCII letters, digits, ".", "_" and "-"';
  return undefined;
}

export interface Topic {
  readonly name: string;
  readonly partitions: readonly PartitionLog[];
}

interface Meta {
  version: 1;
  clusterId: string;
  producerIdBlockEnd: number;
}

export interface CreateResult {
  error: ErrorCode;
  message: string | null;
}

export class TopicStore {
  readonly topics = new Map<string, Topic>();
  private meta: Meta;
  private nextProducerId: number;
  private partitionCount = 0;

  private constructor(
    private readonly dataDir: string,
    private readonly logOptions: PartitionLogOptions,
  ) {
    fs.mkdirSync(path.join(dataDir, 'topics'), { recursive: true });
    fs.rmSync(path.join(dataDir, 'staging'), { recursive: true, force: true });
    const metaFile = path.join(dataDir, 'meta.json');
    fs.rmSync(`${metaFile}.tmp`, { force: true });
    if (fs.existsSync(metaFile)) {
      const m = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as Meta;
      assert(
        m.version === 1 && typeof m.clusterId === 'string' && Number.isSafeInteger(m.producerIdBlockEnd),
        `${metaFile}: unrecognised content`,
      );
      this.meta = m;
    } else {
      // Kafka cluster ids are 22-character URL-safe base64 of 16 random bytes.
      this.meta = { version: 1, clusterId: crypto.randomBytes(16).toString('base64url'), producerIdBlockEnd: 0 };
      atomicWriteFileSync(metaFile, JSON.stringify(this.meta));
    }
    // Ids of the block reserved by the previous run may have been handed out: start after it.
    this.nextProducerId = this.meta.producerIdBlockEnd;
  }

  /** Opens every topic and recovers every partition log (synchronous; throws LogCorruptionError). */
  static open(dataDir: string, logOptions: PartitionLogOptions): TopicStore {
    const store = new TopicStore(dataDir, logOptions);
    const topicsDir = path.join(dataDir, 'topics');
    for (const name of fs.readdirSync(topicsDir).sort()) {
      const dir = path.join(topicsDir, name);
      const desc = JSON.parse(fs.readFileSync(path.join(dir, 'topic.json'), 'utf8')) as {
        name?: unknown;
        partitions?: unknown;
      };
      assert(
        desc.name === name && Number.isSafeInteger(desc.partitions) && (desc.partitions as number) >= 1,
        `${dir}/topic.json: does not describe topic ${name}`,
      );
      const partitions: PartitionLog[] = [];
      for (let p = 0; p < (desc.partitions as number); p++)
        partitions.push(PartitionLog.open(path.join(dir, String(p)), logOptions));
      store.topics.set(name, { name, partitions });
      store.partitionCount += partitions.length;
    }
    return store;
  }

  get clusterId(): string {
    return this.meta.clusterId;
  }

  get(name: string): Topic | undefined {
    return this.topics.get(name);
  }

  partition(topic: string, partition: number): PartitionLog | undefined {
    return this.topics.get(topic)?.partitions[partition];
  }

  /** Validates and (unless validateOnly) creates a topic, durably, before returning. */
  create(name: string, partitions: number, validateOnly = false): CreateResult {
    const problem = topicNameProblem(name);
    if (problem !== undefined) return { error: ErrorCode.INVALID_TOPIC_EXCEPTION, message: problem };
    if (this.topics.has(name))
      return { error: ErrorCode.TOPIC_ALREADY_EXISTS, message: `topic ${name} already exists` };
    if (!Number.isSafeInteger(partitions) || partitions < 1 || partitions > PARTITIONS_PER_TOPIC_MAX) {
      return {
        error: ErrorCode.INVALID_PARTITIONS,
        message: `partitions must be 1..${PARTITIONS_PER_TOPIC_MAX}, got ${partitions}`,
      };
    }
    if (this.topics.size >= TOPICS_MAX)
      return { error: ErrorCode.POLICY_VIOLATION, message: `the broker holds its maximum of ${TOPICS_MAX} topics` };
    if (this.partitionCount + partitions > PARTITIONS_TOTAL_MAX)
      return {
        error: ErrorCode.POLICY_VIOLATION,
        message: `the broker holds at most ${PARTITIONS_TOTAL_MAX} partitions`,
      };
    if (validateOnly) return { error: ErrorCode.NONE, message: null };
    const staging = path.join(this.dataDir, 'staging', name);
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    for (let p = 0; p < partitions; p++) createEmptyLog(path.join(staging, String(p)));
    fsyncDirSync(staging);
    atomicWriteFileSync(path.join(staging, 'topic.json'), JSON.stringify({ name, partitions }));
    const final = path.join(this.dataDir, 'topics', name);
    fs.renameSync(staging, final);
    fsyncDirSync(path.join(this.dataDir, 'topics'));
    const logs: PartitionLog[] = [];
    for (let p = 0; p < partitions; p++) logs.push(PartitionLog.open(path.join(final, String(p)), this.logOptions));
    this.topics.set(name, { name, partitions: logs });
    this.partitionCount += partitions;
    return { error: ErrorCode.NONE, message: null };
  }

  /** A producer id never handed out before, also across restarts. */
  allocateProducerId(): number {
    if (this.nextProducerId >= this.meta.producerIdBlockEnd) {
      this.meta = { ...this.meta, producerIdBlockEnd: this.nextProducerId + PRODUCER_ID_BLOCK_SIZE };
      atomicWriteFileSync(path.join(this.dataDir, 'meta.json'), JSON.stringify(this.meta));
    }
    return this.nextProducerId++;
  }

  async close(): Promise<void> {
    for (const t of this.topics.values()) for (const p of t.partitions) await p.close();
  }
}
