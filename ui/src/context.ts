// What every panel of the page shares: the server's UiConfig, the instruments (decimals), the
// selected symbol, and the server's clock (requests are signed with server time: a phone with
// a skewed clock would otherwise be refused by the gateway's receive window).

import type { UiConfig } from '../../api/ui-contract.js';
import { GET_JSON_TIMEOUT_MS } from './limits.js';

/** GET /v1/instruments of the gateway, the fields the page uses. */
export interface InstrumentInfo {
  symbol: string;
  shard: number;
  status: string;
  tick_size: number;
  lot_size: number;
  price_decimals: number;
  quantity_decimals: number;
}

export type SymbolListener = (symbol: string) => void;

export class PageContext {
  private symbolNow: string;
  private readonly listeners: SymbolListener[] = [];

  constructor(
    readonly config: UiConfig,
    readonly instruments: ReadonlyMap<string, InstrumentInfo>,
    /** Server time − local time, ms (GET /v1/time at load). */
    readonly clockOffsetMs: number,
    firstSymbol: string,
  ) {
    this.symbolNow = firstSymbol;
  }

  get symbol(): string {
    return this.symbolNow;
  }

  get instrument(): InstrumentInfo {
    return this.instruments.get(this.symbolNow)!;
  }

  /** The feed URLs of the shard trading `symbol`, as the page can reach them. */
  feedUrls(symbol: string): string[] {
    const shard = this.config.shards.find((s) => s.symbols.includes(symbol));
    return (shard?.feed_urls ?? []).map(reachableUrl);
  }

  /** The query service's base URL as the page can reach it, or null. */
  get queryUrl(): string | null {
    return this.config.query_url === null ? null : reachableUrl(this.config.query_url);
  }

  serverNowMs(): number {
    return Date.now() + this.clockOffsetMs;
  }

  setSymbol(symbol: string): void {
    if (symbol === this.symbolNow || !this.instruments.has(symbol)) return;
    this.symbolNow = symbol;
    for (const l of this.listeners) l(symbol);
  }

  /** Called after every change of the selected symbol (not for the first one). */
  onSymbol(listener: SymbolListener): void {
    this.listeners.push(listener);
  }
}

/** Hosts that name the server's own machine (URL.hostname keeps an IPv6 address in brackets). */
const SERVER_OWN_HOSTS = new Set(['0.0.0.0', '127.0.0.1', 'localhost', '[::]', '[::1]']);

/** A loopback or wildcard host is the server's own: the page reaches it at its own hostname. */
export function reachableUrl(url: string): string {
  const u = new URL(url);
  if (SERVER_OWN_HOSTS.has(u.hostname)) u.hostname = location.hostname;
  return u.toString().replace(/\/$/, '');
}

export async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(GET_JSON_TIMEOUT_MS) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return (await r.json()) as T;
}

export async function loadContext(): Promise<PageContext> {
  const t0 = Date.now();
  const [config, list, time] = await Promise.all([
    getJson<UiConfig>('/v1/ui/config'),
    getJson<{ instruments: InstrumentInfo[] }>('/v1/instruments'),
    getJson<{ server_time_ms: number }>('/v1/time'),
  ]);
  const t1 = Date.now();
  const offset = time.server_time_ms - (t0 + t1) / 2;
  const instruments = new Map(list.instruments.map((i) => [i.symbol, i]));
  const wanted = new URLSearchParams(location.hash.split('?')[1] ?? '').get('symbol');
  const first = wanted !== null && instruments.has(wanted) ? wanted : (list.instruments[0]?.symbol ?? '');
  return new PageContext(config, instruments, offset, first);
}
