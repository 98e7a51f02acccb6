// A small WebSocket client (RFC 6455) over node:net, so the feed client needs no dependency
// on Node 20 (which has no WebSocket global without a flag): handshake with Sec-WebSocket-Accept
// check, masked client frames, fragmented messages, ping → pong, the close handshake, a limit
// on message size, and pause()/resume() of reading (a slow consumer, on purpose, in tests).
// No extensions (permessage-deflate is not offered), no TLS: the feed is served on loopback or
// behind a terminating proxy.

import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

/** Largest message accepted by default (bytes): a full-depth snapshot of a deep book fits. */
export const WS_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;
/** Socket reads land in this buffer, shared by the connections of a thread (each read is consumed before the next). */
const READ_BUFFER_BYTES = 256 * 1024;
let readBuffer: Buffer | undefined;
/** Largest HTTP response head of the handshake. */
const HANDSHAKE_BYTES_MAX = 16 * 1024;
export const WS_CONNECT_TIMEOUT_MS = 10_000;
/** After our close frame, the server has this long to answer before the socket is destroyed. */
const CLOSE_TIMEOUT_MS = 2_000;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const Opcode = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

export class WsProtocolError extends Error {
  override name = 'WsProtocolError';
  constructor(
    message: string,
    /** The close code to send (RFC 6455 §7.4). */
    readonly code: number,
  ) {
    super(message);
  }
}

/**
 * Splits the server's byte stream into frames. A frame's payload is handed out as a view into
 * the received bytes, valid only during the callback. Chunks of a partial frame are collected
 * and joined once the frame is complete (one copy, whatever the number of chunks).
 */
export class WsFrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes needed before the next parse attempt can make progress. */
  private needed = 2;

  constructor(private readonly frameBytesMax: number = WS_MESSAGE_BYTES_MAX) {}

  /**
   * Parses what arrived. `chunk` may be a view into a buffer that is reused after the call:
   * whatever must be kept (an incomplete frame) is copied.
   */
  push(chunk: Buffer, onFrame: (opcode: number, fin: boolean, payload: Buffer) => void): void {
    let data: Buffer;
    if (this.buffered === 0) {
      data = chunk;
    } else {
      this.buffered += chunk.length;
      if (this.buffered < this.needed) {
        this.chunks.push(Buffer.from(chunk));
        return;
      }
      this.chunks.push(chunk);
      data = Buffer.concat(this.chunks, this.buffered);
      this.chunks = [];
      this.buffered = 0;
    }
    let o = 0;
    const n = data.length;
    for (;;) {
      const left = n - o;
      if (left < 2) {
        this.needed = 2;
        break;
      }
      const b0 = data[o]!;
      const b1 = data[o + 1]!;
      if ((b0 & 0x70) !== 0) throw new WsProtocolError('reserved bits set (no extension was negotiated)', 1002);
      if ((b1 & 0x80) !== 0) throw new WsProtocolError('masked frame from the server', 1002);
      let len = b1 & 0x7f;
      let head = 2;
      if (len === 126) {
        if (left < 4) {
          this.needed = 4;
          break;
        }
        len = data.readUInt16BE(o + 2);
        head = 4;
      } else if (len === 127) {
        if (left < 10) {
          this.needed = 10;
          break;
        }
        const hi = data.readUInt32BE(o + 2);
        if (hi > 0x1f_ffff) throw new WsProtocolError('frame length beyond 2^53', 1009);
        len = hi * 0x1_0000_0000 + data.readUInt32BE(o + 6);
        head = 10;
      }
      if (len > this.frameBytesMax)
        throw new WsProtocolError(`frame of ${len} bytes (limit ${this.frameBytesMax})`, 1009);
      if (left < head + len) {
        this.needed = head + len;
        break;
      }
      onFrame(b0 & 0x0f, (b0 & 0x80) !== 0, data.subarray(o + head, o + head + len));
      o += head + len;
    }
    if (o < n) {
      this.chunks.push(Buffer.from(data.subarray(o)));
      this.buffered = n - o;
    }
  }
}

export interface WsHandlers {
  /** A complete message; `data` is valid only during the call (copy it to keep it). */
  onMessage(data: Buffer, isBinary: boolean): void;
  /** Once, whatever ended the connection: the close code received (1006 if none). */
  onClose(code: number, reason: string): void;
}

export interface WsConnectOptions {
  messageBytesMax?: number;
  connectTimeoutMs?: number;
  /** wss://: the CA (PEM) the server's certificate must chain to (default Node's roots). */
  ca?: string | Buffer;
}

/**
 * The TCP (ws://) or TLS (wss://) socket of a connection and the event after which it carries the
 * upgrade request; every chunk read goes to deliver(). ws:// reads into one reused buffer (onread:
 * no allocation per read); wss:// takes node:tls's chunks.
 */
function dialWs(
  u: URL,
  host: string,
  opts: WsConnectOptions,
  deliver: (chunk: Buffer) => void,
): { socket: net.Socket; readyEvent: 'connect' | 'secureConnect' } {
  if (u.protocol === 'wss:') {
    const socket = tls.connect({
      host,
      port: u.port === '' ? 443 : Number(u.port),
      ...(net.isIP(host) === 0 ? { servername: host } : {}),
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
    });
    socket.on('data', (chunk: Buffer) => deliver(chunk));
    return { socket, readyEvent: 'secureConnect' };
  }
  const socket = net.connect({
    host,
    port: u.port === '' ? 80 : Number(u.port),
    onread: {
      buffer: () => (readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES)),
      callback: (n: number, buf: Uint8Array) => {
        deliver(Buffer.from(buf.buffer, buf.byteOffset, n));
        return true;
      },
    },
  });
  return { socket, readyEvent: 'connect' };
}

/** Masks a client frame (RFC 6455 §5.3). */
function frame(opcode: number, payload: Uint8Array): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 0x1_0000_0000), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  const mask = out.subarray(head, head + 4);
  randomFillSync(mask);
  for (let i = 0; i < len; i++) out[head + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

export class WsConnection {
  private readonly parser: WsFrameParser;
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private fragmentBinary = false;
  private closeSent = false;
  private closed = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly handlers: WsHandlers,
    private readonly messageBytesMax: number,
  ) {
    this.parser = new WsFrameParser(messageBytesMax);
  }

  /** Opens a connection to a ws:// or wss:// URL; rejects on a refused connection, a failed TLS or WebSocket handshake or the timeout. */
  static connect(url: string, handlers: WsHandlers, opts: WsConnectOptions = {}): Promise<WsConnection> {
    const u = new URL(url);
    if (u.protocol !== 'ws:' && u.protocol !== 'wss:')
      return Promise.reject(new Error(`ws: only ws:// or wss:// URLs (got ${u.protocol})`));
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    const key = randomBytes(16).toString('base64');
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    const timeoutMs = opts.connectTimeoutMs ?? WS_CONNECT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      // onread: no Buffer is allocated per read (the parser copies only incomplete frames).
      let deliver: (chunk: Buffer) => void = () => undefined;
      const { socket, readyEvent } = dialWs(u, host, opts, (chunk) => deliver(chunk));
      socket.setNoDelay(true);
      let head = Buffer.alloc(0);
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`ws: no handshake from ${url} within ${timeoutMs} ms`)), timeoutMs);
      socket.once('error', fail);
      socket.once('close', () => fail(new Error(`ws: ${url} closed the connection during the handshake`)));
      socket.once(readyEvent, () => {
        socket.write(
          `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      deliver = (chunk: Buffer) => {
        if (settled) return;
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > HANDSHAKE_BYTES_MAX) fail(new Error('ws: handshake response too large'));
          return;
        }
        const lines = head.subarray(0, end).toString('latin1').split('\r\n');
        const status = lines[0] ?? '';
        const headers = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const c = l.indexOf(':');
          if (c > 0) headers.set(l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim());
        }
        if (!/^HTTP\/1\.1 101\b/.test(status)) {
          fail(
            new Error(
              `ws: ${url} refused the upgrade: ${status} ${head.subarray(end + 4, end + 4 + 200).toString('utf8')}`,
            ),
          );
          return;
        }
        if (headers.get('sec-websocket-accept') !== accept || headers.get('upgrade')?.toLowerCase() !== 'websocket') {
          fail(new Error('ws: bad handshake (Sec-WebSocket-Accept or Upgrade)'));
          return;
        }
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        const ws = new WsConnection(socket, handlers, opts.messageBytesMax ?? WS_MESSAGE_BYTES_MAX);
        ws.attach();
        deliver = (c) => ws.onData(c);
        resolve(ws);
        const rest = head.subarray(end + 4);
        if (rest.length > 0) ws.onData(rest);
      };
    });
  }

  private attach(): void {
    this.socket.on('error', () => this.socket.destroy());
    this.socket.on('close', () => this.finish(1006, ''));
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.parser.push(chunk, (op, fin, payload) => this.onFrame(op, fin, payload));
    } catch (err) {
      const code = err instanceof WsProtocolError ? err.code : 1002;
      this.close(code, (err as Error).message.slice(0, 100));
    }
  }

  private onFrame(op: number, fin: boolean, payload: Buffer): void {
    if (this.closed) return;
    switch (op) {
      case Opcode.TEXT:
      case Opcode.BINARY:
        if (this.fragments.length > 0) throw new WsProtocolError('new message inside a fragmented one', 1002);
        if (fin) return this.handlers.onMessage(payload, op === Opcode.BINARY);
        this.fragmentBinary = op === Opcode.BINARY;
        this.fragments.push(Buffer.from(payload));
        this.fragmentBytes = payload.length;
        return;
      case Opcode.CONTINUATION: {
        if (this.fragments.length === 0) throw new WsProtocolError('continuation without a message', 1002);
        this.fragmentBytes += payload.length;
        if (this.fragmentBytes > this.messageBytesMax)
          throw new WsProtocolError(`message over ${this.messageBytesMax} bytes`, 1009);
        this.fragments.push(Buffer.from(payload));
        if (!fin) return;
        const whole = Buffer.concat(this.fragments, this.fragmentBytes);
        this.fragments = [];
        this.fragmentBytes = 0;
        return this.handlers.onMessage(whole, this.fragmentBinary);
      }
      case Opcode.PING:
        if (!this.closeSent) this.socket.write(frame(Opcode.PONG, payload));
        return;
      case Opcode.PONG:
        return;
      case Opcode.CLOSE: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        const reason = payload.length > 2 ? payload.subarray(2).toString('utf8') : '';
        if (!this.closeSent) {
          this.closeSent = true;
          this.socket.write(frame(Opcode.CLOSE, payload.subarray(0, 2)));
        }
        this.socket.end();
        this.finish(code, reason);
        return;
      }
      default:
        throw new WsProtocolError(`unknown opcode ${op}`, 1002);
    }
  }

  private finish(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.onClose(code, reason);
  }

  get isOpen(): boolean {
    return !this.closed && !this.closeSent;
  }

  /** Sends a text (string) or binary message; false if the connection is closing or closed. */
  send(data: string | Uint8Array): boolean {
    if (!this.isOpen) return false;
    this.socket.write(
      typeof data === 'string' ? frame(Opcode.TEXT, Buffer.from(data, 'utf8')) : frame(Opcode.BINARY, data),
    );
    return true;
  }

  /** Starts the close handshake; the socket is destroyed if the server does not answer in time. */
  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    if (!this.closeSent) {
      this.closeSent = true;
      const r = Buffer.from(reason.slice(0, 120), 'utf8');
      const p = Buffer.allocUnsafe(2 + r.length);
      p.writeUInt16BE(code, 0);
      r.copy(p, 2);
      this.socket.write(frame(Opcode.CLOSE, p));
      this.socket.resume(); // a paused socket would never see the answer
    }
    setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS).unref();
  }

  /** Drops the connection at once, no close handshake. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Stops reading: the server's buffer for this connection grows (a deliberately slow consumer). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }
}
