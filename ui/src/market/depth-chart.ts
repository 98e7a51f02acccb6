// The depth chart: cumulative size against price, bids and asks as two stepped areas on
// lightweight-charts' price-based x axis (createOptionsChart), from the best
// DEPTH_LEVELS_PER_SIDE levels a side of the page's l2 book. Coordinates are floats (drawing only).

import { AreaSeries, createOptionsChart, type IChartApiBase, type ISeriesApi, LineType } from 'lightweight-charts';
import type { LocalL2Book } from '../../../feed/client/local-book.js';
import type { Level } from '../../../feed/types.js';
import { DEPTH_LEVELS_PER_SIDE } from '../limits.js';
import { chartTheme } from './chart-theme.js';
import { chartNumber, type Decimals, panelHeading } from './market-format.js';

interface Point {
  time: number;
  value: number;
}

/** Best first levels → points in ascending price with the size summed from the best outwards. */
export function depthPoints(levels: Level[], d: Decimals, ascending: boolean): Point[] {
  let total = 0;
  const out: Point[] = levels.map((l) => {
    total += chartNumber(l[1], d.qty);
    return { time: chartNumber(l[0], d.price), value: total };
  });
  return ascending ? out : out.reverse();
}

export class DepthChart {
  private readonly chart: IChartApiBase<number>;
  private readonly bids: ISeriesApi<'Area', number>;
  private readonly asks: ISeriesApi<'Area', number>;
  private decimals: Decimals;

  constructor(panel: HTMLElement, d: Decimals) {
    panelHeading(panel, 'Depth');
    const box = document.createElement('div');
    box.className = 'chart-box';
    panel.appendChild(box);
    this.decimals = d;
    this.chart = createOptionsChart(box, {
      ...chartTheme(),
      // Axis labels only (the ladder has the exact figures): the horizontal (price) axis at the
      // price's decimals, the vertical one (cumulative size: the library's "price" scale) at the quantity's.
      localization: { precision: d.price, priceFormatter: (p: number) => p.toFixed(this.decimals.qty) },
    });
    const area = (color: string) => ({
      lineType: LineType.WithSteps,
      lineColor: color,
      topColor: `${color}66`,
      bottomColor: `${color}11`,
      lineWidth: 2 as const,
      priceLineVisible: false,
      lastValueVisible: false,
    });
    this.bids = this.chart.addSeries(AreaSeries, area('#26a69a'));
    this.asks = this.chart.addSeries(AreaSeries, area('#ef5350'));
  }

  render(book: LocalL2Book, synced: boolean, d: Decimals): void {
    if (d.price !== this.decimals.price)
      this.chart.applyOptions({ localization: { precision: d.price } } as Parameters<
        typeof this.chart.applyOptions
      >[0]);
    this.decimals = d;
    const bids = synced ? depthPoints(book.levels('BUY', DEPTH_LEVELS_PER_SIDE), d, false) : [];
    const asks = synced ? depthPoints(book.levels('SELL', DEPTH_LEVELS_PER_SIDE), d, true) : [];
    this.bids.setData(bids);
    this.asks.setData(asks);
    // The book moves: the x range follows it (a depth chart is read whole, not panned).
    this.chart.timeScale().fitContent();
  }
}
