// The network edge: a TCP server speaking Kafka's framing (int32 size, then the request),
// one request at a time per connection, responses in request order (Kafka's guarantee:
// the broker reads the next request of a connection only after answering the previous
// one), and startBroker(), the in-process API used by main.ts, tests and `npm start`.
//
// A malformed frame or body, an unknown API key or an unsupported version closes the
// connection with a logged reason, as Kafka does — except ApiVersions at an unsupported
// version, which is answered (in the v0 layout) with UNSUPPORTED_VERSION and the version
// table, so a client can retry at a version the broker speaks (KIP-511).

import net from 'node:net';
import { Broker, type BrokerConfig } from './broker.js';
import { isSupported, encodeApiVersionsResponse } from './messages.js';
import {
  ApiKey,
  ErrorCode,
  ProtocolError,
  REQUEST_HEADER_FIXED_BYTES,
  Reader,
  Writer,
  frameResponse,
  readHeaderPrefix,
} from './protocol.js';
import { KAFKA_REQUEST_BYTES_MAX, CONNECTIONS_MAX, CONNECTION_BUFFER_BYTES_MAX } from './limits.js';
import { errorStack, NO_LOG, type Log, type LogFields } from '../../ops/log.js';

export interface StartBrokerOptions extends BrokerConfig {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Port to bind; 0 = an ephemeral port (default 9092). */
  port?: number;
  /** Host clients are told to connect to (default: `host`, or 127.0.0.1 when binding 0.0.0.0 / ::). */
  advertisedHost?: string;
}

export interface RunningBroker {
  /** The bound port. */
  readonly port: number;
  readonly host: string;
  readonly broker: Broker;
  /** Stops listening, closes every connection, waits for in-flight work, closes storage. */
  close(): Promise<void>;
}

class Connection {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private busy = false;
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly broker: Broker,
    private readonly log: Log,
    private readonly onFatal: (err: unknown) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.byteLength;
      if (this.buffered > CONNECTION_BUFFER_BYTES_MAX) socket.pause();
      void this.pump();
    });
    socket.on('error', () => this.close(undefined));
    socket.on('close', () => this.close(undefined));
  }

  get peer(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  /** `reason`: why we close it (logged with `fields`); undefined when the client went away or the broker stops. */
  close(reason: string | undefined, fields: LogFields = {}): void {
    if (this.closed) return;
    this.closed = true;
    if (reason !== undefined) this.log.warn(`closing a client connection: ${reason}`, { peer: this.peer, ...fields });
    this.socket.destroy();
    this.chunks = [];
    this.buffered = 0;
  }

  /** The next whole frame's payload, or undefined if it has not fully arrived. */
  private nextFrame(): Buffer | undefined {
    if (this.buffered < 4) return undefined;
    if (this.chunks.length > 1 && (this.chunks[0] as Buffer).byteLength < 4) this.chunks = [Buffer.concat(this.chunks)];
    const size = (this.chunks[0] as Buffer).readInt32BE(0);
    if (size < REQUEST_HEADER_FIXED_BYTES || size > KAFKA_REQUEST_BYTES_MAX) {
      this.close('request size out of range', { size, min: REQUEST_HEADER_FIXED_BYTES, max: KAFKA_REQUEST_BYTES_MAX });
      return undefined;
    }
    if (this.buffered < 4 + size) return undefined;
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    const frame = all.subarray(4, 4 + size);
    const rest = all.subarray(4 + size);
    this.chunks = rest.byteLength > 0 ? [rest] : [];
    this.buffered = rest.byteLength;
    return frame;
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (;;) {
        if (this.closed) return;
        const frame = this.nextFrame();
        if (frame === undefined) break;
        const response = await this.process(frame);
        if (this.closed) return;
        if (response !== null) {
          this.socket.cork();
          let ok = true;
          for (const chunk of response) ok = this.socket.write(chunk);
          this.socket.uncork();
          // Slow reader: finish sending before reading on, so responses do not pile up in memory.
          if (!ok) {
            // Both listeners go once either fires: a 'close' listener left behind per slow write
            // would accumulate over a long-lived connection (MaxListenersExceededWarning).
            await new Promise<void>((resolve) => {
              const done = () => {
                this.socket.off('drain', done).off('close', done);
                resolve();
              };
              this.socket.once('drain', done).once('close', done);
            });
          }
        }
      }
      if (this.buffered <= CONNECTION_BUFFER_BYTES_MAX && this.socket.isPaused()) this.socket.resume();
    } finally {
      this.busy = false;
    }
  }

  /** One request → its framed response (null: none due). Closes the connection on bad input. */
  private async process(frame: Buffer): Promise<Buffer[] | null> {
    const r = new Reader(frame);
    const prefix = readHeaderPrefix(r);
    if (!isSupported(prefix.apiKey, prefix.apiVersion)) {
      if (prefix.apiKey === ApiKey.ApiVersions) {
        const w = new Writer();
        encodeApiVersionsResponse(w, 0, ErrorCode.UNSUPPORTED_VERSION);
        return frameResponse(prefix.correlationId, w.finish());
      }
      this.close('unsupported api key or version', { apiKey: prefix.apiKey, apiVersion: prefix.apiVersion });
      return null;
    }
    try {
      const clientId = r.nullableString();
      const body = await this.broker.handle({ ...prefix, clientId }, r);
      return body === null ? null : frameResponse(prefix.correlationId, body);
    } catch (err) {
      if (err instanceof ProtocolError) {
        this.close('refused a malformed request', {
          apiKey: prefix.apiKey,
          apiVersion: prefix.apiVersion,
          err: err.message,
        });
        return null;
      }
      // Not the client's fault: a bug. Drop this connection, report, keep serving the others.
      this.close('internal error handling a request', { apiKey: prefix.apiKey, apiVersion: prefix.apiVersion });
      this.onFatal(err);
      return null;
    }
  }
}

/** Opens the data directory (recovering every log) before listening, so a corrupt log stops it before any client connects. */
export async function startBroker(options: StartBrokerOptions): Promise<RunningBroker> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? NO_LOG;
  const onFatal = (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    log.error('fatal error: the broker must be restarted', { stack: errorStack(e) });
    options.onFatal?.(e);
  };
  const broker = new Broker({ ...options, onFatal });
  const server = net.createServer();
  server.maxConnections = CONNECTIONS_MAX;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 9092, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await broker.close();
    throw err;
  }
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  const port = address.port;
  broker.setAdvertisedAddress(
    options.advertisedHost ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host),
    port,
  );
  const connections = new Set<Connection>();
  server.on('connection', (socket) => {
    const conn = new Connection(socket, broker, log, onFatal);
    connections.add(conn);
    socket.on('close', () => connections.delete(conn));
  });
  let closing: Promise<void> | undefined;
  return {
    port,
    host,
    broker,
    close: () => {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const c of connections) c.close(undefined);
        await broker.close();
        await stopped;
      })();
      return closing;
    },
  };
}
