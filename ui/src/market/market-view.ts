// The market view of the selected instrument: one feed connection (feed-socket.ts) drives the
// ladder and depth chart (l2, checksum-verified), the tape (trades), the live candles (candles)
// and the ticker's last price and status; the query API adds candle history and the 24-hour
// figures. Messages are applied as they come; panels are drawn once per animation frame.
// Test hook: window.__matchbook.market, read-only counters (stream-sync.ts SyncCounters).

import type { DataMessage, ServerMessage } from '../../../feed/types.js';
import type { PageContext } from '../context.js';
import { CandlesChart } from './candles-chart.js';
import { DepthChart } from './depth-chart.js';
import { FeedSocket } from './feed-socket.js';
import { FrameLoop } from './frame-loop.js';
import { Ladder } from './ladder.js';
import type { Decimals } from './market-format.js';
import { L2Sync, newSyncCounters, SeqTracker } from './stream-sync.js';
import { exposeTestHook } from '../dom.js';
import { Tape } from './tape.js';
import { Ticker } from './ticker.js';

function panel(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page has no #${id}`);
  return el;
}

class MarketView {
  readonly counters = newSyncCounters();
  private readonly sync: L2Sync;
  private readonly trades = new SeqTracker(this.counters);
  private readonly candleSeq = new SeqTracker(this.counters);
  private readonly ladder = new Ladder(panel('ladder'));
  private readonly depth: DepthChart;
  private readonly tape = new Tape(panel('tape'));
  private readonly candles: CandlesChart;
  private readonly ticker: Ticker;
  private readonly feedNote: HTMLElement;
  private readonly socket: FeedSocket;
  private readonly frame = new FrameLoop(() => this.draw());
  private bookDirty = true;

  constructor(private readonly ctx: PageContext) {
    this.sync = new L2Sync(ctx.symbol, this.counters);
    this.depth = new DepthChart(panel('depth'), this.decimals());
    this.candles = new CandlesChart(panel('candles'), {
      decimals: () => this.decimals(),
      queryUrl: ctx.queryUrl,
      serverNowMs: () => ctx.serverNowMs(),
      requestDraw: () => this.frame.request(),
    });
    this.ticker = new Ticker(panel('ticker'), ctx.queryUrl, () => this.decimals());
    this.feedNote = document.createElement('div');
    this.feedNote.className = 'note feed-note';
    panel('ladder').appendChild(this.feedNote);
    this.socket = new FeedSocket((s) => ctx.feedUrls(s), ctx.symbol, {
      onConnected: (url) => this.connected(url),
      onMessage: (m) => this.onMessage(m),
      onDisconnected: (why, retryInMs) => this.disconnected(why, retryInMs),
    });
    this.load(ctx.symbol);
    ctx.onSymbol((s) => {
      this.socket.setSymbol(s);
      this.load(s);
    });
  }

  decimals(): Decimals {
    const i = this.ctx.instruments.get(this.socket?.symbol ?? this.ctx.symbol) ?? this.ctx.instrument;
    return { price: i.price_decimals, qty: i.quantity_decimals };
  }

  /** A new symbol: every panel starts again (the feed's snapshots refill them). */
  private load(symbol: string): void {
    this.sync.reset(symbol);
    this.trades.reset();
    this.candleSeq.reset();
    this.tape.reset([]);
    this.candles.load(symbol);
    this.ticker.load(symbol);
    this.ticker.onStatus(this.ctx.instruments.get(symbol)?.status ?? '—');
    this.bookDirty = true;
    this.frame.request();
  }

  /** Seqs are per feed server: a new connection starts every stream again from its snapshot. */
  private connected(url: string): void {
    this.sync.reset(this.socket.symbol);
    this.trades.reset();
    this.candleSeq.reset();
    this.feedNote.textContent = `feed ${url}`;
    this.bookDirty = true;
    this.frame.request();
  }

  private disconnected(why: string, retryInMs: number): void {
    this.counters.feedRetryMs = retryInMs;
    this.feedNote.textContent = `feed: ${why}; trying the next member…`;
  }

  private onMessage(m: ServerMessage): void {
    if (m.type === 'resync') {
      if (m.symbol !== this.socket.symbol) return;
      if (m.channel === 'l2') {
        this.sync.serverResync();
        this.bookDirty = true;
      } else this.counters.resyncs++;
      this.frame.request();
      return;
    }
    if (m.type === 'error') this.feedNote.textContent = `feed error ${m.code}: ${m.message}`;
    if ((m.type === 'snapshot' || m.type === 'update') && m.symbol === this.socket.symbol) this.onData(m);
  }

  private onData(m: DataMessage): void {
    if (m.type === 'snapshot') this.socket.snapshotArrived(m.channel);
    switch (m.channel) {
      case 'l2':
        if (this.sync.apply(m) === 'resync') this.socket.resubscribe('l2');
        this.bookDirty = true;
        break;
      case 'trades': {
        const got = this.trades.accept(m);
        if (got === 'gap') this.socket.resubscribe('trades');
        if (got !== 'apply') return;
        if (m.type === 'snapshot') this.tape.reset(m.trades);
        else this.tape.add(m.trades);
        for (const t of m.trades) this.ticker.onTrade(t.price, t.ts_us);
        break;
      }
      case 'candles': {
        const got = this.candleSeq.accept(m);
        if (got === 'gap') this.socket.resubscribe('candles');
        if (got === 'apply') this.candles.onFeedCandles(m.candles);
        break;
      }
      case 'status':
        this.ticker.onStatus(m.status);
        break;
      default:
        return;
    }
    this.frame.request();
  }

  private draw(): void {
    const d = this.decimals();
    if (this.bookDirty) {
      this.bookDirty = false;
      this.ladder.render(this.sync.book, this.sync.synced, d);
      this.depth.render(this.sync.book, this.sync.synced, d);
    }
    if (this.tape.dirty) this.tape.render(d);
    if (this.candles.dirty) this.candles.render();
    this.ticker.render();
  }
}

/** Mounts the market view's panels in #view-market; every panel follows ctx.onSymbol. */
export function mountMarket(ctx: PageContext): void {
  const view = new MarketView(ctx);
  exposeTestHook('market', view.counters);
}
