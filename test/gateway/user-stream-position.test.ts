// The user stream's position update of one report (gateway/user-stream-position.ts), pure: signs,
// exact quote deltas past 2^53 (a bigint written as its exact integer literal), the decimal
// strings at the report's own scales, and nothing for a report without a fill. The same over
// real sockets: test/gateway/user-stream-positions.test.ts. And the login's min_seq, where a
// client's re-sync of positions starts.

import { describe, expect, it } from 'vitest';
import { parse } from 'lossless-json';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { baseOf, quoteOf } from '../../api/symbol-currencies.js';
import { positionUpdateMessage, positionUpdateOf } from '../../gateway/user-stream-position.js';
import { Prng } from '../../replicator/prng.js';
import { UserStreamHub } from '../../gateway/user-stream.js';

/** A TRADE report with just what the update reads (the rest is irrelevant filler). */
function fill(side: string, px: number, qty: number, d?: { p: number; q: number }): ExecutionReportOut {
  const r = {
    exec_id: 7,
    order_id: 3 * 2 ** 44 + 5,
    symbol: 'BTC-USD',
    side,
    last_px: px,
    last_qty: qty,
    seq: 42,
  } as unknown as ExecutionReportOut;
  if (d !== undefined) {
    // The test's own formatting: digits with the point inserted d places from the right.
    const fmt = (n: number, k: number) =>
      k === 0
        ? String(n)
        : `${String(n)
            .padStart(k + 1, '0')
            .slice(0, -k)}.${String(n)
            .padStart(k + 1, '0')
            .slice(-k)}`;
    r.last_px_decimal = fmt(px, d.p);
    r.last_qty_decimal = fmt(qty, d.q);
  }
  return r;
}

/** Signed units → a decimal string with k digits after the point, via BigInt (independent of api/decimal.ts). */
function dec(units: bigint, k: number): string {
  const neg = units < 0n;
  const digits = (neg ? -units : units).toString().padStart(k + 1, '0');
  const text = k === 0 ? digits : `${digits.slice(0, -k)}.${digits.slice(-k)}`;
  return neg ? `-${text}` : text;
}

describe('positionUpdateOf', () => {
  it('a BUY adds base and pays quote; a SELL the opposite; shard and seq of the report', () => {
    expect(positionUpdateOf(fill('BUY', 5_000_000, 3, { p: 2, q: 4 }))).toEqual({
      shard: 3,
      seq: 42,
      exec_id: 7,
      symbol: 'BTC-USD',
      base_currency: 'BTC',
      quote_currency: 'USD',
      base_delta: 3,
      quote_delta: -15_000_000,
      base_delta_decimal: '0.0003',
      quote_delta_decimal: '-15.000000',
    });
    expect(positionUpdateOf(fill('SELL', 5_000_000, 3, { p: 2, q: 4 }))).toMatchObject({
      base_delta: -3,
      quote_delta: 15_000_000,
      base_delta_decimal: '-0.0003',
      quote_delta_decimal: '15.000000',
    });
  });

  it('nothing for a report without a fill', () => {
    expect(positionUpdateOf(fill('BUY', 5_000_000, 0, { p: 2, q: 4 }))).toBeUndefined();
  });

  it('no decimal strings when the report has none', () => {
    const u = positionUpdateOf(fill('BUY', 10, 2))!;
    expect(u.base_delta_decimal).toBeUndefined();
    expect(u.quote_delta_decimal).toBeUndefined();
  });

  it('a quote delta past 2^53 is an exact bigint, written as its exact integer literal', () => {
    const px = 100_000_000; // 1,000,000.00 with 2 decimals
    const qty = 100_000_000_000; // 1,000 BTC with 8 decimals
    const u = positionUpdateOf(fill('BUY', px, qty, { p: 2, q: 8 }))!;
    expect(u.quote_delta).toBe(-10_000_000_000_000_000_000n);
    expect(u.quote_delta_decimal).toBe('-1000000000.0000000000');
    const text = positionUpdateMessage('0123456789abcdef', 9, u);
    expect(text).toContain('"quote_delta":-10000000000000000000,');
    const back = parse(text, undefined, (s) => (Number.isSafeInteger(Number(s)) ? Number(s) : BigInt(s))) as Record<
      string,
      unknown
    >;
    expect(back).toMatchObject({ type: 'position_update', epoch: '0123456789abcdef', stream_seq: 9 });
    expect(back.quote_delta).toBe(-10_000_000_000_000_000_000n);
  });

  it('property: deltas are exact for random fills of either side, at the edge of 2^53 too', () => {
    const rng = new Prng(19);
    for (let i = 0; i < 5_000; i++) {
      const side = rng.chance(0.5) ? 'BUY' : 'SELL';
      const px = 1 + rng.int(2 ** 30) * (rng.chance(0.5) ? 2 ** 20 : 1);
      const qty = 1 + rng.int(2 ** 30);
      const d = { p: rng.int(9), q: rng.int(9) };
      const u = positionUpdateOf(fill(side, px, qty, d))!;
      const sign = side === 'BUY' ? 1n : -1n;
      const quote = -sign * BigInt(px) * BigInt(qty);
      expect(BigInt(u.quote_delta)).toBe(quote);
      // A number exactly when it is safe, a bigint beyond.
      expect(typeof u.quote_delta).toBe(
        quote >= -BigInt(Number.MAX_SAFE_INTEGER) && quote <= BigInt(Number.MAX_SAFE_INTEGER) ? 'number' : 'bigint',
      );
      expect(u.base_delta).toBe(Number(sign) * qty);
      expect(u.base_delta_decimal).toBe(dec(sign * BigInt(qty), d.q));
      expect(u.quote_delta_decimal).toBe(dec(quote, d.p + d.q));
    }
  });
});

describe('baseOf / quoteOf', () => {
  it('split a symbol at its last "-"; without one (or with nothing on a side) both are the symbol', () => {
    expect([baseOf('BTC-USD'), quoteOf('BTC-USD')]).toEqual(['BTC', 'USD']);
    expect([baseOf('BTC-PERP-USD'), quoteOf('BTC-PERP-USD')]).toEqual(['BTC-PERP', 'USD']);
    expect([baseOf('XYZ'), quoteOf('XYZ')]).toEqual(['XYZ', 'XYZ']);
    expect([baseOf('XYZ-'), quoteOf('XYZ-')]).toEqual(['XYZ-', 'XYZ-']);
  });
});

describe("the login's min_seq (UserStreamHub.minSeqAtLogin)", () => {
  const rep = (account: number, shard: number, seq: number) =>
    ({ account, seq, order_id: shard * 2 ** 44 + seq, exec_id: seq }) as unknown as ExecutionReportOut;

  it('is the highest seq published per shard, of any account (logged in or not), and survives a restore', () => {
    const hub = new UserStreamHub({ epoch: 'e1' });
    expect(hub.minSeqAtLogin()).toEqual({});
    hub.open(1);
    hub.publish(rep(1, 0, 5), 'a');
    hub.publish(rep(9, 0, 8), 'b'); // never logged in: not held, but counted
    hub.publish(rep(1, 2, 3), 'c');
    hub.publish(rep(1, 0, 7), 'd'); // an older seq does not lower it
    expect(hub.minSeqAtLogin()).toEqual({ '0': 8, '2': 3 });
    // A restart restores it from the journal: held reports and checkpoints.
    const again = new UserStreamHub({ epoch: 'e1' });
    again.restore([
      { k: 'open', a: 1 },
      { k: 'ckpt', streams: [{ a: 1, last: 2, min_seq: { '0': 6, '1': 4 } }] },
      { k: 'rep', a: 1, s: 3, c: 'x', r: rep(1, 0, 9) },
    ]);
    expect(again.minSeqAtLogin()).toEqual({ '0': 9, '1': 4 });
  });
});
