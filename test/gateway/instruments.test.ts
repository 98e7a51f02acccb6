// gateway/instruments.ts without sockets: the instrument the API answers (the band as the engine
// checks it, clamped at 0; a replica that does not trade a configured symbol), the check of a
// replica's answer, and FreshReads — a caller never gets a read that started before it, and
// however many callers come, at most one read runs and one waits.

import { describe, expect, it } from 'vitest';
import type { InstrumentConfig } from '../../engine/types.js';
import { FreshReads, instrumentOut, parseInstrumentStates, shardInstruments } from '../../gateway/instruments.js';

const CFG: InstrumentConfig = {
  symbol: 'ETH-USD',
  tickSize: 5,
  lotSize: 10,
  minQty: 20,
  maxQty: 1_000_000,
  maxPrice: 5_000_000,
  priceBandTicks: 100,
  referencePrice: 300_000,
  sessionCloseUtcUs: 79_200_000_000,
  priceDecimals: 2,
  qtyDecimals: 3,
};

describe('instrumentOut', () => {
  it('the band is the engine state’s reference ± ticks × tick size; the rest is the config', () => {
    expect(instrumentOut(3, CFG, { symbol: 'ETH-USD', halted: true, referencePrice: 200_000 })).toEqual({
      symbol: 'ETH-USD',
      shard: 3,
      status: 'HALTED',
      tick_size: 5,
      lot_size: 10,
      min_quantity: 20,
      max_quantity: 1_000_000,
      max_price: 5_000_000,
      price_decimals: 2,
      quantity_decimals: 3,
      reference_price: 200_000,
      price_band_ticks: 100,
      band_low_price: 199_500,
      band_high_price: 200_500,
      session_close_utc_us: 79_200_000_000,
    });
  });

  it('no band without a reference price or without band ticks; the low edge never goes below 0', () => {
    const noRef = instrumentOut(0, CFG, { symbol: 'ETH-USD', halted: false, referencePrice: 0 });
    expect([noRef.band_low_price, noRef.band_high_price, noRef.status]).toEqual([0, 0, 'TRADING']);
    const noTicks = instrumentOut(
      0,
      { ...CFG, priceBandTicks: 0 },
      { symbol: 'ETH-USD', halted: false, referencePrice: 7 },
    );
    expect([noTicks.band_low_price, noTicks.band_high_price]).toEqual([0, 0]);
    const low = instrumentOut(0, CFG, { symbol: 'ETH-USD', halted: false, referencePrice: 100 });
    expect([low.band_low_price, low.band_high_price]).toEqual([0, 600]);
  });

  it('a replica answer without a configured symbol is a configuration mismatch, not a guess', () => {
    expect(shardInstruments(1, [CFG], [{ symbol: 'BTC-USD', halted: false, referencePrice: 1 }])).toBe(
      'the replicas of shard 1 do not trade ETH-USD (configuration mismatch)',
    );
  });
});

describe('parseInstrumentStates', () => {
  it('takes a well-formed answer and refuses anything else', () => {
    const good = { ok: true, instruments: [{ symbol: 'X', halted: false, referencePrice: 5, extra: 1 }] };
    expect(parseInstrumentStates(good)).toEqual([{ symbol: 'X', halted: false, referencePrice: 5 }]);
    for (const bad of [
      { ok: false, error: 'NOT_LEADER' },
      { ok: true },
      { ok: true, instruments: [null] },
      { ok: true, instruments: [{ symbol: 'X', halted: 'no', referencePrice: 5 }] },
      { ok: true, instruments: [{ symbol: 'X', halted: false, referencePrice: -1 }] },
      { ok: true, instruments: [{ symbol: 'X', halted: false, referencePrice: 1.5 }] },
    ])
      expect(parseInstrumentStates(bad as Record<string, unknown>)).toBeUndefined();
  });
});

describe('FreshReads', () => {
  /** A read the test finishes by hand; `started` counts the reads begun. */
  function manualReads() {
    const pending: ((v: number) => void)[] = [];
    let started = 0;
    const reads = new FreshReads<number>(
      () =>
        new Promise<number>((resolve) => {
          started++;
          pending.push(resolve);
        }),
    );
    return { reads, pending, started: () => started };
  }

  it('callers while a read runs share the next one, which starts when it ends', async () => {
    const m = manualReads();
    const first = m.reads.get();
    const second = m.reads.get();
    const third = m.reads.get();
    expect(m.started()).toBe(1);
    expect(second).toBe(third);
    m.pending[0]!(1);
    expect(await first).toBe(1);
    for (let i = 0; i < 10 && m.started() < 2; i++) await Promise.resolve();
    expect(m.started()).toBe(2); // the waiting one started once the first ended
    m.pending[1]!(2);
    expect(await second).toBe(2); // not the read that was already running when they came
    const fourth = m.reads.get(); // nothing running: a read of its own
    expect(m.started()).toBe(3);
    m.pending[2]!(3);
    expect(await fourth).toBe(3);
  });

  it('a thousand callers during one read cost two reads', async () => {
    const m = manualReads();
    const all = Array.from({ length: 1_000 }, () => m.reads.get());
    m.pending[0]!(10);
    await all[0];
    for (let i = 0; i < 10 && m.pending.length < 2; i++) await Promise.resolve();
    m.pending[1]!(20);
    const values = await Promise.all(all);
    expect(m.started()).toBe(2);
    expect(values[0]).toBe(10);
    expect(new Set(values.slice(1))).toEqual(new Set([20]));
  });

  it('a failed read fails its callers; the next read still runs', async () => {
    let n = 0;
    const reads = new FreshReads<number>(async () => {
      n++;
      if (n === 1) throw new Error('replicas away');
      return n;
    });
    const a = reads.get();
    const b = reads.get();
    await expect(a).rejects.toThrow('replicas away');
    expect(await b).toBe(2);
  });
});
