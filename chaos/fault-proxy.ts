// A TCP fault proxy for one directed replica→replica link (chaos/README.md). The replica
// transport dials one outbound connection per peer and writes Raft frames only on it
// (replicator/transport/tcp-transport.ts), so a proxy placed on the address node A dials for
// node B carries exactly the messages A→B: blocking it alone is a one-way partition.
//
// Faults, changed at any time with set():
//   delayMs, jitterMs  every chunk is held delayMs + U[0, jitterMs) before it is written on,
//                      never reordered within a connection (a chunk leaves after the one before)
//   blackhole          chunks are swallowed; the connections stay open (a silent network).
//                      Healing resets every connection, so both ends resynchronise on a fresh
//                      stream instead of reading a frame cut in the middle.
//   dropRate           per chunk, the chance that it is lost; TCP never loses part of a stream,
//                      so a loss is modelled as what it becomes in practice: the connection is
//                      reset with that chunk and everything queued behind it lost.
//   reset()            every open connection is destroyed now (both ends see a reset).
// Randomness comes from an injected seeded PRNG, so a chaos run's fault timing is replayable
// given the same seed (the machine's scheduling is not).

import net from 'node:net';
import type { Prng } from '../replicator/prng.js';

/** Bytes held in one direction of one connection before the proxy stops reading its source (backpressure). */
export const PROXY_QUEUE_BYTES_MAX = 16 * 1024 * 1024;
/** Connections through one proxy at most; more are refused (reset at once). */
export const PROXY_CONNECTIONS_MAX = 64;

export interface LinkFault {
  blackhole: boolean;
  delayMs: number;
  jitterMs: number;
  dropRate: number;
}

export const NO_FAULT: LinkFault = { blackhole: false, delayMs: 0, jitterMs: 0, dropRate: 0 };

export interface ProxyStats {
  connections: number;
  bytesForwarded: number;
  bytesDropped: number;
  resets: number;
}

interface Direction {
  from: net.Socket;
  to: net.Socket;
  queue: Buffer[];
  queuedBytes: number;
  /** When the last queued chunk is due (ms, performance clock): later chunks never overtake it. */
  lastDueMs: number;
  timer: NodeJS.Timeout | undefined;
  dues: number[];
}

interface Conn {
  client: net.Socket;
  upstream: net.Socket;
  dirs: Direction[];
  closed: boolean;
}

export class FaultProxy {
  private server: net.Server | undefined;
  private readonly conns = new Set<Conn>();
  private fault: LinkFault = { ...NO_FAULT };
  readonly stats: ProxyStats = { connections: 0, bytesForwarded: 0, bytesDropped: 0, resets: 0 };
  port = 0;

  constructor(
    readonly name: string,
    private readonly target: { host: string; port: number },
    private readonly rng: Prng,
    private readonly listenHost = '127.0.0.1',
  ) {}

  async start(port = 0): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.listenHost, () => resolve());
    });
    const a = server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
    return this.port;
  }

  get current(): LinkFault {
    return { ...this.fault };
  }

  set(f: Partial<LinkFault>): void {
    const next = { ...this.fault, ...f };
    if (!(next.delayMs >= 0 && next.jitterMs >= 0 && next.dropRate >= 0 && next.dropRate <= 1))
      throw new RangeError(`${this.name}: bad fault ${JSON.stringify(f)}`);
    const healing = this.fault.blackhole && !next.blackhole;
    this.fault = next;
    if (next.blackhole) for (const c of this.conns) for (const d of c.dirs) this.discardQueue(d);
    if (healing) this.reset();
  }

  heal(): void {
    this.set(NO_FAULT);
  }

  /** Destroys every open connection now. */
  reset(): void {
    for (const c of [...this.conns]) this.close(c, true);
  }

  async stop(): Promise<void> {
    this.reset();
    const s = this.server;
    this.server = undefined;
    if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    if (this.conns.size >= PROXY_CONNECTIONS_MAX) {
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const upstream = net.connect({ host: this.target.host, port: this.target.port });
    upstream.setNoDelay(true);
    const conn: Conn = { client, upstream, dirs: [], closed: false };
    conn.dirs = [this.direction(client, upstream), this.direction(upstream, client)];
    this.conns.add(conn);
    this.stats.connections++;
    for (const d of conn.dirs) {
      d.from.on('data', (chunk: Buffer) => this.onData(conn, d, chunk));
    }
    const end = () => this.close(conn, false);
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
      s.on('end', end);
    }
  }

  private direction(from: net.Socket, to: net.Socket): Direction {
    return { from, to, queue: [], queuedBytes: 0, lastDueMs: 0, timer: undefined, dues: [] };
  }

  private onData(conn: Conn, d: Direction, chunk: Buffer): void {
    if (conn.closed) return;
    const f = this.fault;
    if (f.blackhole) {
      this.stats.bytesDropped += chunk.length;
      return;
    }
    if (f.dropRate > 0 && this.rng.chance(f.dropRate)) {
      this.stats.bytesDropped += chunk.length;
      this.close(conn, true);
      return;
    }
    if (f.delayMs === 0 && f.jitterMs === 0 && d.queue.length === 0) {
      this.stats.bytesForwarded += chunk.length;
      d.to.write(chunk);
      return;
    }
    const now = performance.now();
    const due = Math.max(
      d.lastDueMs,
      now + f.delayMs + (f.jitterMs > 0 ? (this.rng.next() / 2 ** 32) * f.jitterMs : 0),
    );
    d.lastDueMs = due;
    d.queue.push(chunk);
    d.dues.push(due);
    d.queuedBytes += chunk.length;
    if (d.queuedBytes > PROXY_QUEUE_BYTES_MAX) d.from.pause();
    if (d.timer === undefined) this.arm(conn, d);
  }

  private arm(conn: Conn, d: Direction): void {
    const wait = Math.max(0, d.dues[0]! - performance.now());
    d.timer = setTimeout(() => {
      d.timer = undefined;
      if (conn.closed) return;
      const now = performance.now();
      while (d.queue.length > 0 && d.dues[0]! <= now) {
        const chunk = d.queue.shift()!;
        d.dues.shift();
        d.queuedBytes -= chunk.length;
        this.stats.bytesForwarded += chunk.length;
        d.to.write(chunk);
      }
      if (d.from.isPaused() && d.queuedBytes <= PROXY_QUEUE_BYTES_MAX / 2) d.from.resume();
      if (d.queue.length > 0) this.arm(conn, d);
    }, wait);
  }

  private discardQueue(d: Direction): void {
    clearTimeout(d.timer);
    d.timer = undefined;
    this.stats.bytesDropped += d.queuedBytes;
    d.queue = [];
    d.dues = [];
    d.queuedBytes = 0;
    if (d.from.isPaused()) d.from.resume();
  }

  private close(conn: Conn, reset: boolean): void {
    if (conn.closed) return;
    conn.closed = true;
    this.conns.delete(conn);
    for (const d of conn.dirs) this.discardQueue(d);
    if (reset) this.stats.resets++;
    for (const s of [conn.client, conn.upstream]) {
      if (reset && !s.destroyed && s.readyState === 'open') s.resetAndDestroy();
      else s.destroy();
    }
  }
}
