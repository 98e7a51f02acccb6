// The persisted state of one FIX session (API key + SenderCompID): the next outgoing and the next
// expected incoming MsgSeqNum, and the outgoing application messages kept for ResendRequests.
// Two files per session in the directory the edge gives (the gateway data dir's `fix/`):
//   <name>.seqnums   `<nextOut> <nextIn>\n`, fixed width, rewritten in place with one pwrite(2)
//   <name>.messages  append-only records [u32 seqNum][u32 length][message bytes]
// The name is derived from the key (a hash, plus a sanitised readable prefix), so no client text
// ever becomes a path. Every write is a write(2) that returns before the message is sent: a
// process crash loses nothing. There is no fsync: a machine crash may lose the last writes (see
// fix/README.md). The messages file is compacted (rewritten to the newest FIX_STORE_MESSAGES_MAX)
// when it holds twice as many.

import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { FIX_STORE_MESSAGES_MAX } from './limits.js';

const SEQNUMS_BYTES = 22;
const RECORD_HEADER_BYTES = 8;

/** What the session state machine reads from the store (session.ts). */
export interface SessionStoreView {
  readonly nextOutSeq: number;
  readonly nextInSeq: number;
  /** The stored outgoing application messages with begin ≤ seqNum ≤ end, in order (missing ones are absent). */
  range(begin: number, end: number): StoredMessage[];
}

export interface StoredMessage {
  seqNum: number;
  bytes: Buffer;
}

/** The file name (without extension) for a session key: readable prefix + hash; never a path. */
export function sessionFileName(apiKey: string, senderCompId: string): string {
  const hash = createHash('sha256').update(apiKey).update('\0').update(senderCompId).digest('hex').slice(0, 32);
  const readable = senderCompId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 32);
  return `${readable}-${hash}`;
}

interface Located {
  offset: number;
  length: number;
}

export class FixSessionStore implements SessionStoreView {
  private out = 1;
  private in = 1;
  private readonly seqFd: number;
  private msgFd: number;
  private msgSizeBytes = 0;
  /** seqNum → where its bytes are in the messages file; the newest FIX_STORE_MESSAGES_MAX only. */
  private readonly index = new Map<number, Located>();
  private recordsInFile = 0;
  private readonly messagesPath: string;

  private constructor(
    dir: string,
    name: string,
    private readonly messagesMax: number,
  ) {
    this.messagesPath = path.join(dir, `${name}.messages`);
    // Not O_APPEND: on Linux pwrite(2) on an O_APPEND file appends whatever the offset.
    this.seqFd = openSync(path.join(dir, `${name}.seqnums`), constants.O_RDWR | constants.O_CREAT, 0o600);
    this.msgFd = openSync(this.messagesPath, 'a+');
    this.load();
  }

  /** Opens (creating if needed) the store of a session key under `dir`. Throws on I/O errors. */
  static open(
    dir: string,
    apiKey: string,
    senderCompId: string,
    messagesMax = FIX_STORE_MESSAGES_MAX,
  ): FixSessionStore {
    mkdirSync(dir, { recursive: true });
    return new FixSessionStore(dir, sessionFileName(apiKey, senderCompId), messagesMax);
  }

  get nextOutSeq(): number {
    return this.out;
  }

  get nextInSeq(): number {
    return this.in;
  }

  private load(): void {
    const seq = Buffer.alloc(SEQNUMS_BYTES);
    const n = readSync(this.seqFd, seq, 0, SEQNUMS_BYTES, 0);
    const m = /^(\d{10}) (\d{10})\n$/.exec(seq.toString('latin1', 0, n));
    if (m !== null) {
      this.out = Math.max(1, Number(m[1]));
      this.in = Math.max(1, Number(m[2]));
    }
    const size = fstatSync(this.msgFd).size;
    const head = Buffer.alloc(RECORD_HEADER_BYTES);
    let offset = 0;
    // A torn tail (a machine crash mid-append) ends the scan and is cut off by the compaction below.
    while (offset + RECORD_HEADER_BYTES <= size) {
      readSync(this.msgFd, head, 0, RECORD_HEADER_BYTES, offset);
      const seqNum = head.readUInt32BE(0);
      const length = head.readUInt32BE(4);
      if (offset + RECORD_HEADER_BYTES + length > size) break;
      this.remember(seqNum, { offset: offset + RECORD_HEADER_BYTES, length });
      offset += RECORD_HEADER_BYTES + length;
      this.recordsInFile++;
    }
    this.msgSizeBytes = size;
    if (offset < size) this.compact();
  }

  private remember(seqNum: number, where: Located): void {
    this.index.delete(seqNum);
    this.index.set(seqNum, where);
    if (this.index.size > this.messagesMax) {
      const oldest = this.index.keys().next().value as number;
      this.index.delete(oldest);
    }
  }

  /** Both next sequence numbers, written in place (one write(2)). */
  setSeqNums(nextOut: number, nextIn: number): void {
    this.out = nextOut;
    this.in = nextIn;
    const text = `${String(nextOut).padStart(10, '0')} ${String(nextIn).padStart(10, '0')}\n`;
    writeSync(this.seqFd, Buffer.from(text, 'latin1'), 0, SEQNUMS_BYTES, 0);
  }

  /** Keeps an outgoing application message for resends (one write(2) of header + bytes). */
  append(seqNum: number, bytes: Buffer): void {
    const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + bytes.length);
    record.writeUInt32BE(seqNum, 0);
    record.writeUInt32BE(bytes.length, 4);
    bytes.copy(record, RECORD_HEADER_BYTES);
    writeSync(this.msgFd, record);
    this.remember(seqNum, { offset: this.msgSizeBytes + RECORD_HEADER_BYTES, length: bytes.length });
    this.msgSizeBytes += record.length;
    this.recordsInFile++;
    if (this.recordsInFile > 2 * this.messagesMax) this.compact();
  }

  range(begin: number, end: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (const [seqNum, where] of this.index) {
      if (seqNum < begin || seqNum > end) continue;
      const bytes = Buffer.alloc(where.length);
      readSync(this.msgFd, bytes, 0, where.length, where.offset);
      out.push({ seqNum, bytes });
    }
    return out.sort((a, b) => a.seqNum - b.seqNum);
  }

  /** ResetSeqNumFlag(141)=Y: both numbers back to 1, the stored messages gone. */
  reset(): void {
    this.index.clear();
    this.compact();
    this.setSeqNums(1, 1);
  }

  /** Rewrites the messages file with the indexed (newest) records: a new file, then rename. */
  private compact(): void {
    const records = this.range(1, Number.MAX_SAFE_INTEGER);
    const tmp = `${this.messagesPath}.tmp`;
    const fd = openSync(tmp, 'w');
    this.index.clear();
    let offset = 0;
    for (const { seqNum, bytes } of records) {
      const head = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
      head.writeUInt32BE(seqNum, 0);
      head.writeUInt32BE(bytes.length, 4);
      writeSync(fd, head);
      writeSync(fd, bytes);
      this.index.set(seqNum, { offset: offset + RECORD_HEADER_BYTES, length: bytes.length });
      offset += RECORD_HEADER_BYTES + bytes.length;
    }
    closeSync(fd);
    renameSync(tmp, this.messagesPath);
    closeSync(this.msgFd);
    this.msgFd = openSync(this.messagesPath, 'a+');
    this.msgSizeBytes = offset;
    this.recordsInFile = records.length;
  }

  close(): void {
    closeSync(this.seqFd);
    closeSync(this.msgFd);
  }
}
