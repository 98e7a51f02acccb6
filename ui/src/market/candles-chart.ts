// Candles with volume: lightweight-charts' CandlestickSeries and a HistogramSeries on an overlay
// scale, interval buttons 1s / 1m / 1h. 1s and 1m live from the feed's candles channel; the
// history of each interval, and 1h altogether, from the query API's public
// GET {query_url}/v1/market/candles/{symbol} (the current hour rebuilt from its 1 min candles,
// the live ones from the feed). Without the query API the chart shows what the feed sends and
// says so. The legend writes the latest candle exactly (formatUnits); the chart draws floats.

import {
  CandlestickSeries,
  createChart,
  HistogramSeries,
  type IChartApi,
  type ISeriesApi,
  type UTCTimestamp,
} from 'lightweight-charts';
import { parseDecimal } from '../../../api/decimal.js';
import type { Candle } from '../../../feed/types.js';
import { CANDLES_HISTORY_LIMIT, CANDLES_HISTORY_TIMEOUT_MS } from '../limits.js';
import { type Bar, CandleBars, CHART_INTERVALS, type ChartInterval, INTERVAL_US } from './candle-bars.js';
import { chartTheme } from './chart-theme.js';
import { chartNumber, type Decimals, panelHeading, priceText, qtyText } from './market-format.js';

export interface CandlesDeps {
  decimals(): Decimals;
  queryUrl: string | null;
  serverNowMs(): number;
  /** Asks for a frame: the chart changed outside a feed message (an interval chosen, the history in). */
  requestDraw(): void;
}

/** A candle of the query API (units, with the exact `_decimal` strings when the instrument's decimals are known). */
interface QueryCandle {
  start_us: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  volume_decimal?: string;
}

export function barOfFeed(c: Candle): Bar {
  return { start_us: c.start_us, open: c.open, high: c.high, low: c.low, close: c.close, volume: BigInt(c.volume) };
}

/** The volume from its exact decimal string when given (the number may have passed 2^53). */
export function barOfQuery(c: QueryCandle, qtyDecimals: number): Bar {
  const parsed = c.volume_decimal === undefined ? null : parseDecimal(c.volume_decimal, qtyDecimals);
  const volume = parsed?.ok === true ? parsed.units : BigInt(Math.trunc(c.volume));
  return { start_us: c.start_us, open: c.open, high: c.high, low: c.low, close: c.close, volume };
}

export class CandlesChart {
  private readonly chart: IChartApi;
  private readonly candles: ISeriesApi<'Candlestick'>;
  private readonly volume: ISeriesApi<'Histogram'>;
  private readonly legend: HTMLElement;
  private readonly note: HTMLElement;
  private readonly buttons = new Map<ChartInterval, HTMLButtonElement>();
  private bars = new CandleBars('1m');
  private symbol = '';
  private symbolOfNewest = '';
  private loadToken = 0;
  private lastDrawnStartUs = -1;
  /** The newest feed candle of each interval: a chart switched to another interval starts from it. */
  private readonly newestFeed = new Map<string, Candle>();

  constructor(
    panel: HTMLElement,
    private readonly deps: CandlesDeps,
  ) {
    const head = panelHeading(panel, 'Candles');
    for (const iv of CHART_INTERVALS) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'interval';
      b.textContent = iv;
      b.dataset.interval = iv;
      b.addEventListener('click', () => this.load(this.symbol, iv));
      head.appendChild(b);
      this.buttons.set(iv, b);
    }
    this.legend = document.createElement('div');
    this.legend.className = 'legend';
    this.note = document.createElement('div');
    this.note.className = 'note';
    const box = document.createElement('div');
    box.className = 'chart-box';
    panel.append(this.legend, box, this.note);
    const built = buildChart(box);
    this.chart = built.chart;
    this.candles = built.candles;
    this.volume = built.volume;
  }

  get interval(): ChartInterval {
    return this.bars.interval;
  }

  get dirty(): boolean {
    return this.bars.dirty;
  }

  /** A new symbol or interval: empty chart, then the history (when the query API answers). */
  load(symbol: string, interval: ChartInterval = this.bars.interval): void {
    this.symbol = symbol;
    this.bars = new CandleBars(interval);
    this.lastDrawnStartUs = -1;
    for (const [iv, b] of this.buttons) b.classList.toggle('active', iv === interval);
    this.note.textContent = '';
    if (symbol !== this.symbolOfNewest) this.newestFeed.clear();
    this.symbolOfNewest = symbol;
    this.applyFeed([...this.newestFeed.values()]);
    this.deps.requestDraw();
    const token = ++this.loadToken;
    this.loadHistory(symbol, interval).then(
      (ok) => {
        if (token !== this.loadToken) return;
        if (!ok) this.note.textContent = 'history: no query service';
        // On a quiet market no feed message would draw it.
        this.deps.requestDraw();
      },
      (err: unknown) => {
        if (token === this.loadToken) this.note.textContent = `history unavailable (${String(err)}): live candles only`;
      },
    );
  }

  /** The feed's candles (snapshot or update) of the selected symbol. */
  onFeedCandles(list: readonly Candle[]): void {
    for (const c of list) {
      const held = this.newestFeed.get(c.interval);
      if (held === undefined || c.start_us >= held.start_us) this.newestFeed.set(c.interval, c);
    }
    this.applyFeed(list);
  }

  private applyFeed(list: readonly Candle[]): void {
    for (const c of list) {
      if (c.interval === this.bars.interval) this.bars.upsert(barOfFeed(c));
      else if (this.bars.interval === '1h' && c.interval === '1m') this.bars.addMinute(barOfFeed(c));
    }
  }

  private async loadHistory(symbol: string, interval: ChartInterval): Promise<boolean> {
    const base = this.deps.queryUrl;
    if (base === null) return false;
    const bars = this.bars;
    const token = this.loadToken;
    const q = this.deps.decimals().qty;
    const get = async (iv: ChartInterval, extra: string): Promise<Bar[]> => {
      const url = `${base}/v1/market/candles/${encodeURIComponent(symbol)}?interval=${iv}${extra}`;
      const r = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(CANDLES_HISTORY_TIMEOUT_MS) });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return ((await r.json()) as { candles: QueryCandle[] }).candles.map((c) => barOfQuery(c, q));
    };
    const history = await get(interval, `&limit=${CANDLES_HISTORY_LIMIT}`);
    // The current hour again from its minutes: the live 1 min candles then extend it.
    const hourUs = Math.floor((this.deps.serverNowMs() * 1000) / INTERVAL_US['1h']) * INTERVAL_US['1h'];
    const minutes = interval === '1h' ? await get('1m', `&start_us=${hourUs}&limit=60`) : [];
    if (token !== this.loadToken) return true;
    bars.addHistory(history);
    for (const m of minutes) bars.addMinute(m, true);
    return true;
  }

  render(): void {
    const changed = this.bars.take();
    if (changed === null) {
      const all = this.bars.all();
      this.candles.setData(all.map((b) => this.candleData(b)));
      this.volume.setData(all.map((b) => this.volumeData(b)));
      this.lastDrawnStartUs = all.at(-1)?.start_us ?? -1;
      this.chart.timeScale().scrollToRealTime();
    } else {
      for (const b of changed) {
        if (b.start_us < this.lastDrawnStartUs) continue; // an older bucket changed: drawn at the next whole redraw
        this.candles.update(this.candleData(b));
        this.volume.update(this.volumeData(b));
        this.lastDrawnStartUs = b.start_us;
      }
    }
    this.writeLegend(this.bars.latest());
  }

  private candleData(b: Bar) {
    const p = this.deps.decimals().price;
    return {
      time: (b.start_us / 1_000_000) as UTCTimestamp,
      open: chartNumber(b.open, p),
      high: chartNumber(b.high, p),
      low: chartNumber(b.low, p),
      close: chartNumber(b.close, p),
    };
  }

  private volumeData(b: Bar) {
    const color = b.close >= b.open ? '#26a69a88' : '#ef535088';
    return {
      time: (b.start_us / 1_000_000) as UTCTimestamp,
      value: chartNumber(b.volume, this.deps.decimals().qty),
      color,
    };
  }

  private writeLegend(b: Bar | undefined): void {
    const d = this.deps.decimals();
    const parts: [string, string][] = [
      ['open', priceText(b?.open, d)],
      ['high', priceText(b?.high, d)],
      ['low', priceText(b?.low, d)],
      ['close', priceText(b?.close, d)],
      ['volume', qtyText(b?.volume, d)],
    ];
    const spans = parts.map(([k, v]) => {
      const s = document.createElement('span');
      s.dataset.k = k;
      s.textContent = `${k[0]!.toUpperCase()} ${v}`;
      return s;
    });
    this.legend.replaceChildren(...spans);
  }
}

function buildChart(box: HTMLElement) {
  const chart = createChart(box, {
    ...chartTheme(),
    timeScale: { timeVisible: true, secondsVisible: true },
  });
  const candles = chart.addSeries(CandlestickSeries, {
    upColor: '#26a69a',
    downColor: '#ef5350',
    borderVisible: false,
    wickUpColor: '#26a69a',
    wickDownColor: '#ef5350',
  });
  const volume = chart.addSeries(HistogramSeries, { priceFormat: { type: 'volume' }, priceScaleId: '' });
  // Volume on an overlay scale in the bottom fifth, under the candles.
  volume.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  candles.priceScale().applyOptions({ scaleMargins: { top: 0.1, bottom: 0.25 } });
  return { chart, candles, volume };
}
