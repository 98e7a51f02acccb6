// The 24-hour ticker: last, change, high, low and volume from the query API's public
// GET {query_url}/v1/market/ticker/{symbol}, asked TICKER_POLL_MS after the previous answer; the
// last price (and the change against the window's open) live from the feed's trades; the instrument's status from the
// feed's status channel. A null (no trade in the window, an empty exchange) or an unreachable
// query service shows "—", with a note saying why.

import { formatUnits } from '../../../api/decimal.js';
import { TICKER_POLL_MS, TICKER_POLL_TIMEOUT_MS } from '../limits.js';
import { DASH, type Decimals, priceText } from './market-format.js';

/** The fields of the query API's ticker the page shows (prices in units). */
export interface TickerAnswer {
  symbol: string;
  open: number | null;
  high: number | null;
  low: number | null;
  last: number | null;
  /** Σ qty as its exact decimal string (the number may have passed 2^53). */
  volume_decimal?: string;
  volume: number;
  last_trade_ts_us: number;
}

const STATS = ['last', 'change', 'high', 'low', 'volume', 'status'] as const;
type Stat = (typeof STATS)[number];
const LABELS: Record<Stat, string> = {
  last: 'Last',
  change: '24h change',
  high: '24h high',
  low: '24h low',
  volume: '24h volume',
  status: 'Status',
};

/** "+12.34 (+0.25%)" exactly: the percentage truncated to 2 decimals with BigInt. */
export function changeText(last: number | null, open: number | null, d: Decimals): string {
  if (last === null || open === null) return DASH;
  const change = BigInt(last) - BigInt(open);
  const sign = change > 0n ? '+' : '';
  const pct = open === 0 ? '' : ` (${sign}${formatUnits((change * 10_000n) / BigInt(open), 2)}%)`;
  return `${sign}${formatUnits(change, d.price)}${pct}`;
}

function extreme(a: number | null, b: number | null, pick: (x: number, y: number) => number): number | null {
  return a === null ? b : b === null ? a : pick(a, b);
}

export class Ticker {
  private readonly values = new Map<Stat, HTMLElement>();
  private readonly title: HTMLElement;
  private readonly note: HTMLElement;
  private answer: TickerAnswer | null = null;
  private live: { price: number; tsUs: number } | null = null;
  private status = DASH;
  private symbol = '';
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pollToken = 0;

  constructor(
    panel: HTMLElement,
    private readonly queryUrl: string | null,
    private readonly decimals: () => Decimals,
  ) {
    panel.replaceChildren();
    this.title = document.createElement('strong');
    this.title.className = 'symbol';
    panel.appendChild(this.title);
    for (const k of STATS) {
      const box = document.createElement('div');
      box.className = 'stat';
      box.dataset.k = k;
      const label = document.createElement('span');
      label.className = 'k';
      label.textContent = LABELS[k];
      const value = document.createElement('span');
      value.className = 'v num';
      value.textContent = DASH;
      box.append(label, value);
      panel.appendChild(box);
      this.values.set(k, value);
    }
    this.note = document.createElement('span');
    this.note.className = 'note';
    panel.appendChild(this.note);
  }

  /** A new symbol: forget the old one's numbers and ask for the new one's now and every TICKER_POLL_MS. */
  load(symbol: string): void {
    this.symbol = symbol;
    this.answer = null;
    this.live = null;
    this.status = DASH;
    this.title.textContent = symbol;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const token = ++this.pollToken; // ends the previous symbol's chain of polls
    if (this.queryUrl === null) this.note.textContent = '24h figures need the query service (none configured)';
    else void this.poll(token);
    this.render();
  }

  onTrade(price: number, tsUs: number): void {
    if (this.live === null || tsUs >= this.live.tsUs) this.live = { price, tsUs };
  }

  onStatus(status: string): void {
    this.status = status;
  }

  /**
   * One ask, then the next TICKER_POLL_MS after it ended: never two at once, so a query service
   * slower than the interval is still heard (overlapping asks each superseded the one before).
   */
  private async poll(token: number): Promise<void> {
    const url = `${this.queryUrl}/v1/market/ticker/${encodeURIComponent(this.symbol)}`;
    try {
      const r = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(TICKER_POLL_TIMEOUT_MS) });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const answer = (await r.json()) as TickerAnswer;
      if (token !== this.pollToken) return;
      this.answer = answer;
      this.note.textContent = '';
    } catch (err) {
      if (token !== this.pollToken) return;
      this.note.textContent = `24h figures unavailable: ${String(err)}`;
    }
    this.render();
    this.timer = setTimeout(() => void this.poll(token), TICKER_POLL_MS);
  }

  render(): void {
    const d = this.decimals();
    const a = this.answer;
    // The feed's last trade when it is at least as new as the one the query service knew.
    const useLive = this.live !== null && (a === null || this.live.tsUs >= a.last_trade_ts_us);
    const last = useLive ? this.live!.price : (a?.last ?? null);
    this.set('last', priceText(last, d));
    this.set('change', changeText(last, a?.open ?? null, d));
    // A live trade newer than the answer widens the window's range until the next answer.
    const liveNow = useLive && a !== null ? last : null;
    this.set('high', priceText(extreme(a?.high ?? null, liveNow, Math.max), d));
    this.set('low', priceText(extreme(a?.low ?? null, liveNow, Math.min), d));
    const volume = a === null ? DASH : (a.volume_decimal ?? formatUnits(BigInt(Math.trunc(a.volume)), d.qty));
    this.set('volume', volume);
    this.set('status', this.status);
  }

  private set(k: Stat, text: string): void {
    const el = this.values.get(k)!;
    if (el.textContent !== text) el.textContent = text;
    if (k === 'change') el.className = `v num ${text.startsWith('-') ? 'ask' : text.startsWith('+') ? 'bid' : ''}`;
  }
}
