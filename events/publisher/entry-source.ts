// The publisher's view of a shard's committed log: op 'entries' of the replicas' client
// protocol (replicator/client/protocol.ts, proto/client-frames.md) on one TCP connection, one
// request at a time. Any replica serves committed entries — they are the same everywhere — so
// the source sticks to the replica it talks to and moves to the next one on a failure, a
// timeout, or a replica whose applied index stops advancing (a partitioned follower would
// otherwise keep it behind: the leader's time ticks advance every healthy replica's log at
// least every TIME_TICK_MS).

import { connectSocket } from '../../replicator/client/socket-factory.js';
import type { TlsMaterial } from '../../ops/tls-settings.js';
import type net from 'node:net';
import {
  FrameReader,
  FrameType,
  decodeEntriesFrame,
  encodeFrame,
  type EntriesReply,
  type RawFrame,
} from '../../replicator/client/protocol.js';
import type { ClientEndpoint } from '../../replicator/client/client.js';
import {
  ENTRY_REQUEST_TIMEOUT_MS,
  ENTRY_SOURCE_STALE_MS,
  ENTRY_RETRY_DELAY_MS,
  ENTRY_RETRY_DELAY_MS_MAX,
  ENTRY_REPLY_BYTES_MAX,
} from './limits.js';
import { NO_LOG, type Log } from '../../ops/log.js';

export class EntrySourceClosedError extends Error {
  override name = 'EntrySourceClosedError';
}

interface Pending {
  id: number;
  resolve: (r: EntriesReply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class EntrySource {
  private readonly endpoints: ClientEndpoint[];
  private readonly log: Log;
  private socket: net.Socket | undefined;
  private reader = new FrameReader(ENTRY_REPLY_BYTES_MAX);
  private target = 0;
  private failures = 0;
  private nextId = 1;
  private pending: Pending | undefined;
  private closed = false;
  /** Applied index last reported by the current replica, and since when (Date.now()). */
  private lastApplied = 0;
  private lastAppliedAt = Date.now();

  /** `tls`: the cluster file's "tls" (mutual TLS to the replicas' client ports); undefined: plain TCP. */
  constructor(
    endpoints: ClientEndpoint[],
    log: Log = NO_LOG,
    private readonly tls?: TlsMaterial,
  ) {
    if (endpoints.length === 0) throw new RangeError('EntrySource: no replicas');
    this.endpoints = [...endpoints];
    this.log = log;
  }

  /** The replica currently read from. */
  get replica(): number {
    return this.endpoints[this.target % this.endpoints.length]!.id;
  }

  /**
   * Committed entries from `fromIndex` (at most about `bytesMax` of entry data), or the newest
   * snapshot when they are compacted; when there are none yet, the replica waits up to `waitMs`
   * for the next one. Retries across replicas until it gets an answer; rejects only on close().
   */
  async read(fromIndex: number, bytesMax: number, waitMs: number): Promise<EntriesReply> {
    for (;;) {
      if (this.closed) throw new EntrySourceClosedError('entry source closed');
      try {
        const r = await this.request(fromIndex, bytesMax, waitMs);
        this.failures = 0;
        this.noteApplied(r.applied);
        return r;
      } catch (err) {
        if (this.closed) throw new EntrySourceClosedError('entry source closed');
        this.failover(err instanceof Error ? err.message : String(err));
        const rounds = Math.floor(this.failures / this.endpoints.length);
        const delay = Math.min(ENTRY_RETRY_DELAY_MS_MAX, ENTRY_RETRY_DELAY_MS * 2 ** Math.min(rounds, 10));
        this.failures++;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.drop(new EntrySourceClosedError('entry source closed'));
  }

  private noteApplied(applied: number): void {
    const now = Date.now();
    if (applied !== this.lastApplied) {
      this.lastApplied = applied;
      this.lastAppliedAt = now;
    } else if (now - this.lastAppliedAt > ENTRY_SOURCE_STALE_MS && this.endpoints.length > 1) {
      this.failover(`replica ${this.replica} applied nothing for ${ENTRY_SOURCE_STALE_MS} ms`);
    }
  }

  private failover(why: string): void {
    const from = this.replica;
    this.drop(new Error(why));
    this.target++;
    this.lastApplied = 0;
    this.lastAppliedAt = Date.now();
    this.log.warn('entries: switching replicas', { from, why, to: this.replica });
  }

  private drop(err: Error): void {
    this.socket?.destroy();
    this.socket = undefined;
    this.reader = new FrameReader(ENTRY_REPLY_BYTES_MAX);
    const p = this.pending;
    this.pending = undefined;
    if (p !== undefined) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  private connect(): net.Socket {
    const ep = this.endpoints[this.target % this.endpoints.length]!;
    // A TLS socket holds what request() writes until its handshake is done.
    const { socket } = connectSocket(ep, this.tls);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      this.reader.push(chunk);
      for (;;) {
        let f: RawFrame | undefined;
        try {
          f = this.reader.next();
        } catch (err) {
          this.drop(err as Error);
          return;
        }
        if (f === undefined) return;
        this.onFrame(f);
        if (this.socket !== socket) return;
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket === socket) this.drop(new Error('connection closed'));
    });
    this.socket = socket;
    return socket;
  }

  private request(fromIndex: number, bytesMax: number, waitMs: number): Promise<EntriesReply> {
    const socket = this.socket ?? this.connect();
    const id = this.nextId++;
    return new Promise<EntriesReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending?.id === id) this.drop(new Error(`no answer within ${waitMs + ENTRY_REQUEST_TIMEOUT_MS} ms`));
      }, waitMs + ENTRY_REQUEST_TIMEOUT_MS);
      this.pending = { id, resolve, reject, timer };
      socket.write(encodeFrame({ id, op: 'entries', fromIndex, bytesMax, waitMs }));
    });
  }

  private onFrame(f: RawFrame): void {
    const p = this.pending;
    if (p === undefined) return;
    if (f.type === FrameType.ENTRIES) {
      let r: EntriesReply;
      try {
        r = decodeEntriesFrame(f.body);
      } catch (err) {
        this.drop(new Error(`bad ENTRIES frame: ${(err as Error).message}`));
        return;
      }
      if (r.id !== p.id) return; // an answer to a request given up on
      this.pending = undefined;
      clearTimeout(p.timer);
      p.resolve(r);
      return;
    }
    // A JSON error (an old replica without the op, a malformed request): this replica cannot serve.
    let message = `frame type ${f.type}`;
    if (f.type === FrameType.JSON) message = f.body.toString('utf8').slice(0, 500);
    this.drop(new Error(`replica refused: ${message}`));
  }
}
