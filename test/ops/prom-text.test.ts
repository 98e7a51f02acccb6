// ops/prom-text.ts: the exposition reader the page's operator console uses on other processes' /metrics.

import { describe, expect, it } from 'vitest';
import { histogramQuantileBound, parsePromText, samplesOf, sumOf } from '../../ops/prom-text.js';

const TEXT = [
  '# HELP matchbook_feed_subscriptions Subscriptions',
  '# TYPE matchbook_feed_subscriptions gauge',
  'matchbook_feed_subscriptions{channel="l2",component="replica"} 3',
  'matchbook_feed_subscriptions{channel="trades",component="replica"} 2',
  'odd_label{v="a \\"quoted\\", comma} brace",w="x"} 1.5',
  'no_labels 7 1712345678000',
  'broken{v="unterminated} 1',
  'not a sample',
  'fsync_seconds_bucket{le="0.001"} 90',
  'fsync_seconds_bucket{le="0.01"} 99',
  'fsync_seconds_bucket{le="0.1"} 100',
  'fsync_seconds_bucket{le="+Inf"} 100',
  'empty_bucket{le="1"} 0',
  'empty_bucket{le="+Inf"} 0',
  'slow_bucket{le="1"} 0',
  'slow_bucket{le="+Inf"} 5',
].join('\n');

describe('parsePromText', () => {
  const all = parsePromText(TEXT);

  it('reads names, labels (escapes included) and values, skipping comments and malformed lines', () => {
    expect(samplesOf(all, 'odd_label')).toEqual([
      { name: 'odd_label', labels: { v: 'a "quoted", comma} brace', w: 'x' }, value: 1.5 },
    ]);
    expect(sumOf(all, 'no_labels')).toBe(7);
    expect(samplesOf(all, 'broken')).toEqual([]);
    expect(all.some((s) => s.name === 'not')).toBe(false);
  });

  it('sums over label sets, filtered by a subset of labels; undefined when absent', () => {
    expect(sumOf(all, 'matchbook_feed_subscriptions')).toBe(5);
    expect(sumOf(all, 'matchbook_feed_subscriptions', { channel: 'l2' })).toBe(3);
    expect(sumOf(all, 'missing')).toBeUndefined();
  });

  it('gives the upper bound of the bucket holding a quantile, null before any observation, Infinity past the last', () => {
    expect(histogramQuantileBound(all, 'fsync_seconds', 0.99)).toBe(0.01);
    expect(histogramQuantileBound(all, 'fsync_seconds', 0.5)).toBe(0.001);
    expect(histogramQuantileBound(all, 'fsync_seconds', 1)).toBe(0.1);
    expect(histogramQuantileBound(all, 'empty', 0.99)).toBeNull();
    expect(histogramQuantileBound(all, 'missing', 0.99)).toBeNull();
    expect(histogramQuantileBound(all, 'slow', 0.99)).toBe(Infinity);
  });
});
