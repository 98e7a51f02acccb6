// uWS HttpRequest over a node:http IncomingMessage. As in uWS it is valid only while the route
// (or upgrade) handler runs: afterwards every method throws, so code that would read freed
// memory on the native build fails loudly here too.

import type { IncomingMessage } from 'node:http';
import type { HttpRequest, RecognizedString } from 'uWebSockets.js';
import { toText } from './bytes.js';

export class CompatHttpRequest {
  private valid = true;
  readonly method: string;
  readonly url: string;
  /** The query string without its '?', or undefined when the target has none. */
  readonly query: string | undefined;
  params: readonly string[] = [];

  constructor(private readonly msg: IncomingMessage) {
    this.method = (msg.method ?? 'GET').toLowerCase();
    const target = msg.url ?? '/';
    const q = target.indexOf('?');
    this.url = q < 0 ? target : target.slice(0, q);
    this.query = q < 0 ? undefined : target.slice(q + 1);
  }

  /** Called when the handler returned: the request may no longer be read. */
  invalidate(): void {
    this.valid = false;
  }

  private check(): void {
    if (!this.valid) throw new Error('uWS.HttpRequest must not be accessed after await or route handler return!');
  }

  getHeader(lowerCaseKey: RecognizedString): string {
    this.check();
    const v = this.msg.headers[toText(lowerCaseKey)];
    if (v === undefined) return '';
    return Array.isArray(v) ? v.join(', ') : v;
  }

  getParameter(index: number): string {
    this.check();
    return this.params[index] ?? '';
  }

  getUrl(): string {
    this.check();
    return this.url;
  }

  /** Lower case, as the native build (the package's own emulation returned upper case: 405 everywhere). */
  getMethod(): string {
    this.check();
    return this.method;
  }

  getCaseSensitiveMethod(): string {
    this.check();
    return this.msg.method ?? 'GET';
  }

  getQuery(key?: string): string | undefined {
    this.check();
    if (key === undefined) return this.query;
    if (this.query === undefined) return undefined;
    return new URLSearchParams(this.query).get(key) ?? undefined;
  }

  forEach(cb: (key: string, value: string) => void): void {
    this.check();
    const raw = this.msg.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) cb(raw[i]!.toLowerCase(), raw[i + 1]!);
  }

  setYield(): HttpRequest {
    throw new Error('uws-compat: setYield is not implemented (matchbook does not use it)');
  }

  asUws(): HttpRequest {
    return this as unknown as HttpRequest;
  }
}
