// Committed consumer-group offsets, kept in memory and persisted in one append-only file,
// `<dir>/commits.log`, compacted by atomic replacement when it grows.
//
// Record: u32 payloadLength | u32 crc32c(payload) | payload (UTF-8 JSON
//   {"g": group, "o": [[topic, partition, offset, metadata], …]}), big-endian.
// A compacted file is the same records, one per group, holding every current offset.
//
// commit() appends one record and resolves after an fdatasync (shared by concurrent commits:
// group commit), so an acknowledged commit survives a crash. At open, records are replayed
// in order; a torn or corrupt record ends the replay and the file is truncated there (a
// commit is acknowledged only after its record is synced, so only unacknowledged commits
// can be torn). When the file passes OFFSETS_FILE_BYTES_MAX and holds at least twice the
// bytes of its live content, it is rewritten (temp file, fsync, rename, directory fsync).

import fs from 'node:fs';
import path from 'node:path';
import { crc32c } from '@aws-crypto/crc32c';
import { atomicWriteFileSync, fdatasync, writeAllSync } from './fs-util.js';
import { assert } from './protocol.js';
import { OFFSETS_FILE_BYTES_MAX } from './limits.js';

/** Largest single record (a compacted group with many partitions): a bigger length field is corruption. */
const RECORD_BYTES_MAX = 64 * 1024 * 1024;
const RECORD_HEADER_BYTES = 8;
const FILE_NAME = 'commits.log';

export interface CommittedOffset {
  offset: number;
  metadata: string | null;
}

export interface OffsetCommitEntry extends CommittedOffset {
  topic: string;
  partition: number;
}

type Row = [string, number, number, string | null];

function encodeRecord(group: string, rows: readonly Row[]): Buffer {
  const payload = Buffer.from(JSON.stringify({ g: group, o: rows }), 'utf8');
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.byteLength);
  out.writeUInt32BE(payload.byteLength, 0);
  out.writeUInt32BE(crc32c(payload) >>> 0, 4);
  payload.copy(out, RECORD_HEADER_BYTES);
  return out;
}

function parsePayload(payload: Buffer): { group: string; rows: Row[] } | undefined {
  try {
    const v = JSON.parse(payload.toString('utf8')) as { g?: unknown; o?: unknown };
    if (typeof v.g !== 'string' || !Array.isArray(v.o)) return undefined;
    const rows: Row[] = [];
    for (const r of v.o as unknown[]) {
      if (!Array.isArray(r) || r.length !== 4) return undefined;
      const [t, p, o, m] = r as unknown[];
      if (
        typeof t !== 'string' ||
        !Number.isSafeInteger(p) ||
        !Number.isSafeInteger(o) ||
        !(m === null || typeof m === 'string')
      )
        return undefined;
      rows.push([t, p as number, o as number, m as string | null]);
    }
    return { group: v.g, rows };
  } catch {
    return undefined;
  }
}

export class OffsetStore {
  /** group → "topic\0partition" → offset. */
  private readonly groups = new Map<string, Map<string, CommittedOffset & { topic: string; partition: number }>>();
  private fd: number;
  private size: number;
  private liveBytes = 0;
  private syncing: Promise<void> | undefined;
  /** Bytes ever appended by this process and how many of them are durable: logical counters that compaction does not reset, so a waiting commit's target stays meaningful. */
  private writtenBytes = 0;
  private syncedBytes = 0;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly fsyncEnabled: boolean,
    warn: (m: string) => void,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, FILE_NAME);
    fs.rmSync(`${file}.tmp`, { force: true });
    this.fd = fs.openSync(file, fs.existsSync(file) ? 'r+' : 'w+');
    const buf = fs.readFileSync(file);
    let pos = 0;
    while (pos < buf.byteLength) {
      if (pos + RECORD_HEADER_BYTES > buf.byteLength) break;
      const len = buf.readUInt32BE(pos);
      if (len > RECORD_BYTES_MAX || pos + RECORD_HEADER_BYTES + len > buf.byteLength) break;
      const payload = buf.subarray(pos + RECORD_HEADER_BYTES, pos + RECORD_HEADER_BYTES + len);
      if (crc32c(payload) >>> 0 !== buf.readUInt32BE(pos + 4)) break;
      const rec = parsePayload(payload);
      if (rec === undefined) break;
      this.apply(rec.group, rec.rows);
      pos += RECORD_HEADER_BYTES + len;
    }
    if (pos < buf.byteLength) {
      warn(
        `${file}: torn or corrupt record at byte ${pos}; truncating ${buf.byteLength - pos} bytes (never acknowledged)`,
      );
      fs.ftruncateSync(this.fd, pos);
      fs.fsyncSync(this.fd);
    }
    this.size = pos;
    this.recountLive();
  }

  static open(dir: string, options: { fsync?: boolean; warn?: (m: string) => void } = {}): OffsetStore {
    return new OffsetStore(dir, options.fsync ?? true, options.warn ?? (() => undefined));
  }

  private apply(group: string, rows: readonly Row[]): void {
    let g = this.groups.get(group);
    if (g === undefined) {
      g = new Map();
      this.groups.set(group, g);
    }
    for (const [topic, partition, offset, metadata] of rows)
      g.set(`${topic}\0${partition}`, { topic, partition, offset, metadata });
  }

  private recountLive(): void {
    let n = 0;
    for (const [group, g] of this.groups)
      n += encodeRecord(
        group,
        [...g.values()].map((e) => [e.topic, e.partition, e.offset, e.metadata] as Row),
      ).byteLength;
    this.liveBytes = n;
  }

  get(group: string, topic: string, partition: number): CommittedOffset | undefined {
    const e = this.groups.get(group)?.get(`${topic}\0${partition}`);
    return e === undefined ? undefined : { offset: e.offset, metadata: e.metadata };
  }

  /** Every committed offset of a group (OffsetFetch with a null topic list). */
  list(group: string): OffsetCommitEntry[] {
    return [...(this.groups.get(group)?.values() ?? [])].map((e) => ({ ...e }));
  }

  /** Persists and applies; resolves once durable (with fsync on). */
  async commit(group: string, entries: readonly OffsetCommitEntry[]): Promise<void> {
    assert(!this.closed, 'offset store is closed');
    if (entries.length === 0) return;
    const rows: Row[] = entries.map((e) => [e.topic, e.partition, e.offset, e.metadata]);
    const rec = encodeRecord(group, rows);
    writeAllSync(this.fd, rec, this.size);
    this.size += rec.byteLength;
    this.writtenBytes += rec.byteLength;
    this.apply(group, rows);
    this.liveBytes += rec.byteLength; // an upper bound until the next recount
    if (this.fsyncEnabled) await this.sync();
    if (this.size > OFFSETS_FILE_BYTES_MAX) this.maybeCompact();
  }

  private async sync(): Promise<void> {
    const target = this.writtenBytes;
    while (this.syncedBytes < target) {
      if (this.syncing === undefined) {
        const end = this.writtenBytes;
        this.syncing = fdatasync(this.fd).then(
          () => {
            this.syncing = undefined;
            this.syncedBytes = Math.max(this.syncedBytes, end);
          },
          (err: unknown) => {
            this.syncing = undefined;
            throw err;
          },
        );
      }
      await this.syncing;
    }
  }

  private maybeCompact(): void {
    if (this.syncing !== undefined) return; // next commit will retry; never swap the fd under an fdatasync
    this.recountLive();
    if (this.size < 2 * this.liveBytes) return;
    const chunks: Buffer[] = [];
    for (const [group, g] of this.groups)
      chunks.push(
        encodeRecord(
          group,
          [...g.values()].map((e) => [e.topic, e.partition, e.offset, e.metadata] as Row),
        ),
      );
    const file = path.join(this.dir, FILE_NAME);
    const data = Buffer.concat(chunks);
    atomicWriteFileSync(file, data);
    fs.closeSync(this.fd);
    this.fd = fs.openSync(file, 'r+');
    this.size = data.byteLength;
    // The rewritten file was fsynced: everything appended so far is durable.
    this.syncedBytes = this.writtenBytes;
    this.liveBytes = this.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.syncing !== undefined) await this.syncing.catch(() => undefined);
    this.closed = true;
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
  }
}
