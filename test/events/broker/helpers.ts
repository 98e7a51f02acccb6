// Shared helpers for the broker tests: temporary data directories and a minimal raw Kafka
// client over TCP (built on the broker's own protocol primitives) for protocol-level checks
// that no real client would make, such as re-sending identical produce bytes.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Reader, Writer } from '../../../events/broker/protocol.js';

const dirs: string[] = [];

export function tmpDir(prefix = 'matchbook-broker-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export function removeTmpDirs(): void {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Encodes a request frame: size, header v1 (key, version, correlation id, client id), body. */
export function requestFrame(
  apiKey: number,
  version: number,
  correlationId: number,
  body: (w: Writer) => void,
  clientId: string | null = 'raw-test',
): Buffer {
  const w = new Writer();
  w.int16(apiKey).int16(version).int32(correlationId).nullableString(clientId);
  body(w);
  const payload = Buffer.concat(w.finish());
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.byteLength);
  return Buffer.concat([size, payload]);
}

/** One TCP connection; responses are matched to requests by correlation id. */
export class RawClient {
  private buf = Buffer.alloc(0);
  private nextCorrelationId = 1;
  private readonly waiting = new Map<number, (body: Reader) => void>();
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.byteLength >= 4) {
        const size = this.buf.readInt32BE(0);
        if (this.buf.byteLength < 4 + size) break;
        const frame = this.buf.subarray(4, 4 + size);
        this.buf = this.buf.subarray(4 + size);
        const correlationId = frame.readInt32BE(0);
        const resolve = this.waiting.get(correlationId);
        this.waiting.delete(correlationId);
        resolve?.(new Reader(Buffer.from(frame), 4));
      }
    });
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends a request and resolves with its response body (after the correlation id). */
  request(apiKey: number, version: number, body: (w: Writer) => void): Promise<Reader> {
    const id = this.nextCorrelationId++;
    const frame = requestFrame(apiKey, version, id, body);
    return this.requestBytes(frame, id);
  }

  /** Sends pre-built frame bytes whose correlation id is `correlationId`. */
  requestBytes(frame: Buffer, correlationId: number): Promise<Reader> {
    const done = new Promise<Reader>((resolve, reject) => {
      this.waiting.set(correlationId, resolve);
      void this.closed.then(() => reject(new Error('connection closed')));
    });
    this.socket.write(frame);
    return done;
  }

  /** Writes bytes with no response expected. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Polls `check` until it returns true (bounded), for waiting on asynchronous clients. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
