// uWS HttpResponse over node:http. Two kinds: an ordinary request's (a ServerResponse) and an
// upgrade request's (the raw socket node:http hands over for 'upgrade', answered by hand unless
// the handler upgrades it). Semantics kept from uWS: the status and headers are buffered until
// end/tryEnd; onAborted fires once when the client goes away before the answer was ended (and on
// close()), never after end; nothing is written after the abort; onData's chunk is a copy the
// handler may keep; cork runs its callback at once (node:http already writes a response's head
// and body with one write).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpResponse, RecognizedString, us_socket_context_t } from 'uWebSockets.js';
import { EMPTY_ARRAY_BUFFER, toArrayBuffer, toBuffer, toText } from './bytes.js';

export type UpgradeFn = (userData: unknown, key: string, protocol: string, extensions: string) => void;

/** What both kinds share: the buffered status line and headers, abort and end state. */
abstract class CompatResponseBase {
  protected statusCode = 200;
  protected statusMessage = 'OK';
  protected readonly headers: string[] = [];
  protected ended = false;
  protected aborted = false;
  private abortHandler: (() => void) | undefined;

  constructor(protected readonly socket: Duplex & { remoteAddress?: string }) {}

  writeStatus(status: RecognizedString): this {
    const text = toText(status);
    const sp = text.indexOf(' ');
    this.statusCode = Number(sp < 0 ? text : text.slice(0, sp));
    this.statusMessage = sp < 0 ? '' : text.slice(sp + 1);
    return this;
  }

  writeHeader(key: RecognizedString, value: RecognizedString): this {
    this.headers.push(toText(key), toText(value));
    return this;
  }

  protected hasHeader(lowerCaseKey: string): boolean {
    for (let i = 0; i < this.headers.length; i += 2) if (this.headers[i]!.toLowerCase() === lowerCaseKey) return true;
    return false;
  }

  onAborted(handler: () => void): this {
    this.abortHandler = handler;
    return this;
  }

  cork(cb: () => void): this {
    cb();
    return this;
  }

  getRemoteAddressAsText(): ArrayBuffer {
    return toArrayBuffer(Buffer.from(this.socket.remoteAddress ?? '', 'utf8'));
  }

  /** The client went away (or close() was called) before the answer ended: once, then nothing is written. */
  protected abort(): void {
    if (this.ended || this.aborted) return;
    this.aborted = true;
    const h = this.abortHandler;
    this.abortHandler = undefined;
    h?.();
  }

  protected checkWritable(): void {
    if (this.aborted)
      throw new Error('uWS.HttpResponse must not be accessed after uWS.HttpResponse.onAborted callback');
  }

  asUws(): HttpResponse {
    return this as unknown as HttpResponse;
  }
}

/** An ordinary request's response (node:http ServerResponse). */
export class CompatHttpResponse extends CompatResponseBase {
  private written = 0;
  private writableHandler: ((offset: number) => boolean) | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    super(req.socket);
    res.on('close', () => this.abort());
  }

  end(body?: RecognizedString, closeConnection?: boolean): this {
    this.checkWritable();
    if (this.ended) return this;
    this.ended = true;
    if (closeConnection === true) this.headers.push('connection', 'close');
    const bytes = toBuffer(body);
    // Given here, not left to node:http: a head written by writeHead() would make it chunk the body.
    if (!this.hasHeader('content-length')) this.headers.push('content-length', String(bytes.byteLength));
    this.writeHead();
    this.res.end(bytes);
    return this;
  }

  private writeHead(): void {
    if (!this.res.headersSent) this.res.writeHead(this.statusCode, this.statusMessage, this.headers);
  }

  /** Streams a body of known total size: [whether the chunk was taken at once, whether the body is done]. */
  tryEnd(chunk: RecognizedString, totalSize: number): [boolean, boolean] {
    this.checkWritable();
    if (!this.res.headersSent) this.headers.push('content-length', String(totalSize));
    this.writeHead();
    const bytes = toBuffer(chunk);
    this.written += bytes.byteLength;
    const ok = this.res.write(bytes);
    const done = this.written >= totalSize;
    if (done) {
      this.ended = true;
      this.res.end();
    } else if (!ok && this.writableHandler !== undefined) {
      this.res.once('drain', () => this.writableHandler?.(this.written));
    }
    return [ok, done];
  }

  getWriteOffset(): number {
    return this.written;
  }

  onWritable(handler: (offset: number) => boolean): this {
    this.writableHandler = handler;
    return this;
  }

  /** The body as copies (valid past the call), then an empty last chunk when it has all arrived. */
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): this {
    this.req.on('data', (b: Buffer) => {
      if (!this.aborted) handler(toArrayBuffer(b), false);
    });
    this.req.on('end', () => {
      if (!this.aborted) handler(EMPTY_ARRAY_BUFFER, true);
    });
    return this;
  }

  /** Closes the connection at once, without an answer; the abort handler runs. */
  close(): this {
    this.req.socket.destroy();
    this.abort();
    return this;
  }

  upgrade(): void {
    throw new Error('uws-compat: upgrade() outside a WebSocket route');
  }
}

/** An upgrade request's response: the raw socket, answered by hand or upgraded by `upgradeFn`. */
export class CompatUpgradeResponse extends CompatResponseBase {
  constructor(
    socket: Duplex & { remoteAddress?: string },
    private readonly upgradeFn: UpgradeFn,
  ) {
    super(socket);
    socket.on('close', () => this.abort());
  }

  end(body?: RecognizedString, _closeConnection?: boolean): this {
    this.checkWritable();
    if (this.ended) return this;
    this.ended = true;
    const bytes = toBuffer(body);
    let head = `HTTP/1.1 ${this.statusCode} ${this.statusMessage}\r\n`;
    for (let i = 0; i < this.headers.length; i += 2) head += `${this.headers[i]}: ${this.headers[i + 1]}\r\n`;
    // An upgrade request is never followed by another on its connection: it closes after the answer.
    head += `content-length: ${bytes.byteLength}\r\nconnection: close\r\n\r\n`;
    this.socket.end(Buffer.concat([Buffer.from(head, 'latin1'), bytes]));
    return this;
  }

  /** An upgrade request has no body (node:http does not parse one): the last, empty chunk at once. */
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): this {
    setImmediate(() => {
      if (!this.aborted && !this.ended) handler(EMPTY_ARRAY_BUFFER, true);
    });
    return this;
  }

  close(): this {
    this.socket.destroy();
    this.abort();
    return this;
  }

  upgrade(
    userData: unknown,
    key: RecognizedString,
    protocol: RecognizedString,
    extensions: RecognizedString,
    _context: us_socket_context_t,
  ): void {
    this.checkWritable();
    if (this.ended) throw new Error('uws-compat: upgrade() after the response ended');
    this.ended = true;
    this.upgradeFn(userData, toText(key), toText(protocol), toText(extensions));
  }
}
