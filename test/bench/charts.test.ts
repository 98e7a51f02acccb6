import { describe, expect, it } from 'vitest';
import { barChartSvg, escapeXml, formatShort, formatValue, lineChartSvg, wrapLabel } from '../../bench/suite/charts.js';
import { checkWellFormedXml } from './xml.js';

describe('lineChartSvg', () => {
  const svg = lineChartSvg({
    title: 'Latency vs offered load <p50 & p99>',
    xLabel: 'offered/s',
    yLabel: 'latency (ms)',
    logX: true,
    logY: true,
    series: [
      {
        name: 'p50',
        points: [
          { x: 1000, y: 1.5 },
          { x: 10_000, y: 2 },
          { x: 100_000, y: 3 },
        ],
      },
      {
        name: 'p99',
        points: [
          { x: 1000, y: 9 },
          { x: 10_000, y: null },
          { x: 100_000, y: 40 },
        ],
        dash: '8 4',
      },
      {
        name: 'p99.9 "tail"',
        points: [
          { x: 1000, y: 12 },
          { x: 10_000, y: 0 },
          { x: 100_000, y: 2500 },
        ],
      },
    ],
  });

  it('is well-formed SVG', () => {
    const names = checkWellFormedXml(svg);
    expect(names[0]).toBe('svg');
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
  });

  it('has the title, axis labels (marked log scale), and a legend entry per series', () => {
    expect(svg).toContain('Latency vs offered load &lt;p50 &amp; p99&gt;');
    expect(svg).toContain('offered/s (log scale)');
    expect(svg).toContain('latency (ms, log scale)');
    for (const name of ['p50', 'p99', 'p99.9 &quot;tail&quot;']) {
      expect(svg).toContain(`data-name="${name}"`);
      expect(svg).toContain(`>${name}</text>`);
    }
  });

  it('draws every drawable point and breaks a line at a missing one', () => {
    // 3 + 2 + 2 points (null and 0 on a log axis are left out).
    expect(svg.match(/<circle /g)).toHaveLength(7);
    // Only runs of two or more points are lines: p50 is one run of 3; p99 and p99.9 are two runs of 1 each.
    expect(svg.match(/<polyline /g)).toHaveLength(1);
    expect(svg).toContain('stroke-dasharray="8 4"');
  });

  it('labels the log axes with whole decades or 1-2-5 values', () => {
    expect(svg).toMatch(/>10k<\/text>/);
    expect(svg).toMatch(/>100k<\/text>/);
    expect(svg).toMatch(/>1,000<\/text>|>1k<\/text>/);
  });

  it('says "no data" when nothing can be drawn', () => {
    const empty = lineChartSvg({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: 's', points: [{ x: 1, y: null }] }],
    });
    checkWellFormedXml(empty);
    expect(empty).toContain('no data');
  });
});

describe('barChartSvg', () => {
  const svg = barChartSvg({
    title: 'Throughput per configuration',
    yLabel: 'commands/s',
    categories: ['Raft log (3 replicas, fsync)', 'gRPC gateway', 'REST & more'],
    groups: [
      { name: 'open loop', values: [100_000, 20_000, null] },
      { name: 'closed loop', values: [199_578, 7990, 9329] },
    ],
    valueLabels: true,
  });

  it('is well-formed SVG with a bar per value and a legend entry per group', () => {
    checkWellFormedXml(svg);
    // 5 bars + the white background rect + 2 legend boxes.
    expect(svg.match(/<rect /g)).toHaveLength(8);
    expect(svg).toContain('data-name="open loop"');
    expect(svg).toContain('data-name="closed loop"');
    expect(svg).toContain('REST &amp; more');
  });

  it('prints exact values below 100,000 and short ones above', () => {
    expect(svg).toContain('>7,990</text>');
    expect(svg).toContain('>200k</text>');
  });
});

describe('formatting', () => {
  it('formats ticks short and bar values exactly enough', () => {
    expect(formatShort(5000)).toBe('5k');
    expect(formatShort(2_280_090)).toBe('2.28M');
    expect(formatShort(0.25)).toBe('0.25');
    expect(formatValue(9449)).toBe('9,449');
    expect(formatValue(2_280_090)).toBe('2.28M');
  });

  it('escapes XML and wraps labels at spaces', () => {
    expect(escapeXml(`<a b="c" & 'd'>`)).toBe('&lt;a b=&quot;c&quot; &amp; &apos;d&apos;&gt;');
    expect(wrapLabel('Raft log (3 replicas, fsync)', 12)).toEqual(['Raft log (3', 'replicas,', 'fsync)']);
  });
});
