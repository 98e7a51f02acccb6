// The market-data projector alone (no sockets): fed the events of random order flows, its L2
// and L3 books equal the engine's after every log entry; a client model that applies only the
// emitted messages ends with the same books, every checksum verifying; sequences are dense;
// throttled updates conflate but end in the same book; candles bucket by log time; a projector
// built from an engine mid-flow (a snapshot restore) carries on exactly.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import { Side } from '../../engine/types.js';
import { l2Checksum, checksumString, crc32 } from '../../feed/checksum.js';
import { LocalL2Book, LocalL3Book } from '../../feed/client/local-book.js';
import { MarketDataProjector } from '../../feed/projector.js';
import {
  Channel,
  type CandlesMessage,
  type DataMessage,
  type L2Message,
  type L3Message,
  type TradesMessage,
} from '../../feed/types.js';
import { SYM_A, SYM_B, T0_US, flowConfig, runFlow, toEngineCommand } from './flow.js';
import { readSnapshot, writeSnapshot } from '../../engine/snapshot.js';

const SYMBOLS = [SYM_A, SYM_B];

function engineLevels(engine: Engine, symbol: string, side: Side) {
  return engine.bookLevels(symbol, side).map((l) => [l.price, l.qty, l.orderCount]);
}
function engineOrders(engine: Engine, symbol: string, side: Side) {
  return engine.bookOrders(symbol, side).map((o) => [o.orderId, o.price, o.visibleQty]);
}

/** What a client holds if it applies every message in order (and checks seqs and checksums). */
class ClientModel {
  readonly l2 = new Map(SYMBOLS.map((s) => [s, new LocalL2Book(s)]));
  readonly l2t = new Map(SYMBOLS.map((s) => [s, new LocalL2Book(s)]));
  readonly l3 = new Map(SYMBOLS.map((s) => [s, new LocalL3Book(s)]));
  readonly lastSeq = new Map<string, number>();
  checksumFailures = 0;
  messages: DataMessage[] = [];

  constructor(p: MarketDataProjector) {
    for (const s of SYMBOLS) {
      this.l2.get(s)!.applySnapshot(p.snapshot(s, Channel.L2) as L2Message);
      this.l2t.get(s)!.applySnapshot(p.snapshot(s, Channel.L2_THROTTLED) as L2Message);
      this.l3.get(s)!.applySnapshot(p.snapshot(s, Channel.L3) as L3Message);
      for (const ch of Object.values(Channel)) this.lastSeq.set(`${s}/${ch}`, p.lastSeq(s, ch));
    }
  }

  on = (m: DataMessage): void => {
    this.messages.push(m);
    const key = `${m.symbol}/${m.channel}`;
    expect(m.type).toBe('update');
    expect(m.seq, `${key} seq`).toBe(this.lastSeq.get(key)! + 1);
    this.lastSeq.set(key, m.seq);
    if (m.channel === Channel.L2 || m.channel === Channel.L2_THROTTLED) {
      const book = (m.channel === Channel.L2 ? this.l2 : this.l2t).get(m.symbol)!;
      book.applyUpdate(m);
      if (book.checksum() !== m.checksum) this.checksumFailures++;
    } else if (m.channel === Channel.L3) {
      this.l3.get(m.symbol)!.applyUpdate(m);
    }
  };
}

function checkBooks(engine: Engine, p: MarketDataProjector, c: ClientModel, where: string): void {
  for (const s of SYMBOLS) {
    for (const [side, name] of [
      [Side.BUY, 'BUY'],
      [Side.SELL, 'SELL'],
    ] as const) {
      const levels = engineLevels(engine, s, side);
      expect(p.levels(s, side), `${where} projector L2 ${s} ${name}`).toEqual(levels);
      expect(c.l2.get(s)!.levels(name), `${where} client L2 ${s} ${name}`).toEqual(levels);
      expect(c.l3.get(s)!.ordersOf(name), `${where} client L3 ${s} ${name}`).toEqual(engineOrders(engine, s, side));
      expect(c.l3.get(s)!.levels(name), `${where} client L3 as levels ${s} ${name}`).toEqual(levels);
    }
    const snap = p.snapshot(s, Channel.L3) as L3Message;
    expect(snap.bids).toEqual(engineOrders(engine, s, Side.BUY));
    expect(snap.asks).toEqual(engineOrders(engine, s, Side.SELL));
  }
  expect(c.checksumFailures, `${where} checksum failures`).toBe(0);
  expect(p.stats.anomalies, `${where} anomalies`).toBe(0);
}

describe('checksum', () => {
  it('follows the documented formula', () => {
    expect(
      checksumString(
        [
          [100, 5],
          [99, 2],
        ],
        [[101, 7]],
      ),
    ).toBe('100:5:101:7:99:2');
    expect(checksumString([], [])).toBe('');
    expect(l2Checksum([], [])).toBe(0);
    // CRC-32/IEEE check value
    expect(crc32('123456789')).toBe(0xcbf43926);
    const bids = Array.from({ length: 12 }, (_, k) => [1000 - k, k + 1]);
    const asks = Array.from({ length: 3 }, (_, k) => [1001 + k, 10 * (k + 1)]);
    const s = checksumString(bids, asks);
    expect(s.split(':')).toHaveLength(2 * (10 + 3));
    expect(s.startsWith('1000:1:1001:10:999:2:1002:20:998:3:1003:30:997:4:')).toBe(true);
    expect(s.endsWith('991:10')).toBe(true);
  });
});

describe('projector', () => {
  it('L2 and L3 equal the engine after every entry of a long random flow; a client applying the messages agrees, checksums verify', () => {
    const engine = new Engine(flowConfig());
    const p = MarketDataProjector.fromEngine(engine);
    const c = new ClientModel(p);
    let entries = 0;
    runFlow(
      7,
      6000,
      (buf, from, to, eng) => {
        p.apply(buf, from, to);
        p.flush(c.on);
        entries++;
        if (entries % 25 === 0) checkBooks(eng, p, c, `entry ${entries}`);
      },
      engine,
    );
    checkBooks(engine, p, c, 'end');
    // The flow exercised every L3 operation and every channel.
    const ops = new Set(
      c.messages.flatMap((m) => (m.channel === Channel.L3 ? (m as L3Message).events!.map((e) => e.op) : [])),
    );
    expect([...ops].sort()).toEqual(['add', 'execute', 'modify', 'remove']);
    const channels = new Set(c.messages.map((m) => m.channel));
    for (const ch of [Channel.L2, Channel.L1, Channel.L3, Channel.TRADES, Channel.CANDLES, Channel.STATUS])
      expect(channels.has(ch), ch).toBe(true);
  });

  it('property: after any random flow, projected L2 == engine.bookLevels and L3 == engine.bookOrders', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 600 }), (seed, count) => {
        const engine = new Engine(flowConfig());
        const p = MarketDataProjector.fromEngine(engine);
        const c = new ClientModel(p);
        runFlow(
          seed,
          count,
          (buf, from, to) => {
            p.apply(buf, from, to);
            p.flush(c.on);
          },
          engine,
        );
        checkBooks(engine, p, c, `seed ${seed} count ${count}`);
      }),
      { numRuns: 60 },
    );
  });

  it('a projector built from an engine mid-flow (snapshot restore) carries on exactly; seqs move on by one', () => {
    const engine = new Engine(flowConfig());
    const p = MarketDataProjector.fromEngine(engine);
    let n = 0;
    runFlow(
      11,
      1500,
      (buf, from, to) => {
        p.apply(buf, from, to);
        p.flush(() => n++);
      },
      engine,
    );
    const seqBefore = p.lastSeq(SYM_A, Channel.L2);
    // A restored engine (as after a snapshot install) and a fresh projector from it; the old one reset.
    const restored = readSnapshot(flowConfig(), writeSnapshot(engine));
    const fresh = MarketDataProjector.fromEngine(restored);
    p.resetFromEngine(restored);
    expect(p.lastSeq(SYM_A, Channel.L2)).toBe(seqBefore + 1);
    const c1 = new ClientModel(p);
    const c2 = new ClientModel(fresh);
    runFlow(
      12,
      1500,
      (buf, from, to) => {
        p.apply(buf, from, to);
        p.flush(c1.on);
        fresh.apply(buf, from, to);
        fresh.flush(c2.on);
      },
      restored,
      restored.lastSeq + 1,
    );
    checkBooks(restored, p, c1, 'reset projector');
    checkBooks(restored, fresh, c2, 'fresh projector');
  });

  it('l2.throttled conflates (fewer messages) but ends in the same book, checksums verifying', () => {
    const engine = new Engine(flowConfig());
    const p = MarketDataProjector.fromEngine(engine);
    const c = new ClientModel(p);
    let entries = 0;
    runFlow(
      21,
      3000,
      (buf, from, to) => {
        p.apply(buf, from, to);
        p.flush(c.on);
        if (++entries % 10 === 0) p.flushThrottled(c.on);
      },
      engine,
    );
    p.flushThrottled(c.on);
    const full = c.messages.filter((m) => m.channel === Channel.L2 && m.symbol === SYM_A).length;
    const throttled = c.messages.filter((m) => m.channel === Channel.L2_THROTTLED && m.symbol === SYM_A).length;
    expect(throttled).toBeGreaterThan(0);
    expect(throttled).toBeLessThan(full / 3);
    for (const s of SYMBOLS) {
      for (const side of ['BUY', 'SELL'] as const)
        expect(c.l2t.get(s)!.levels(side)).toEqual(c.l2.get(s)!.levels(side));
    }
    expect(c.checksumFailures).toBe(0);
    // A throttled snapshot taken between intervals plus the next throttled update is exact too.
    runFlow(
      22,
      200,
      (buf, from, to) => {
        p.apply(buf, from, to);
        p.flush(() => undefined);
      },
      engine,
      engine.lastSeq + 1,
    );
    const late = new LocalL2Book(SYM_A);
    late.applySnapshot(p.snapshot(SYM_A, Channel.L2_THROTTLED) as L2Message);
    runFlow(
      23,
      200,
      (buf, from, to) => {
        p.apply(buf, from, to);
        p.flush(() => undefined);
      },
      engine,
      engine.lastSeq + 1,
    );
    p.flushThrottled((m) => {
      if (m.symbol === SYM_A) {
        expect(m.seq).toBe(late.seq + 1);
        late.applyUpdate(m as L2Message);
        expect(late.checksum()).toBe((m as L2Message).checksum);
      }
    });
    expect(late.levels('BUY')).toEqual(engineLevels(engine, SYM_A, Side.BUY));
    expect(late.levels('SELL')).toEqual(engineLevels(engine, SYM_A, Side.SELL));
  });

  it('trades and candles: OHLCV per 1 s and 1 min bucket of log time; a candle closes when log time passes its end', () => {
    const engine = new Engine(flowConfig());
    const p = MarketDataProjector.fromEngine(engine);
    const out: DataMessage[] = [];
    const buf = new EventBuffer();
    let seq = 1;
    const run = (c: Record<string, unknown> & { type: string }, ts: number) => {
      buf.clear();
      engine.apply(toEngineCommand(c, seq++, ts), buf);
      p.apply(buf, 0, buf.count);
      p.flush((m) => out.push(m));
    };
    const t = T0_US - (T0_US % 60_000_000); // a minute boundary
    run(
      { type: 'new', account: 1, clOrdId: 's1', symbol: SYM_B, side: 'SELL', ordType: 'LIMIT', price: 500, qty: 100 },
      t + 100,
    );
    run(
      {
        type: 'new',
        account: 2,
        clOrdId: 'b1',
        symbol: SYM_B,
        side: 'BUY',
        ordType: 'LIMIT',
        price: 500,
        qty: 10,
        tif: 'IOC',
      },
      t + 200,
    );
    run(
      { type: 'new', account: 1, clOrdId: 's2', symbol: SYM_B, side: 'SELL', ordType: 'LIMIT', price: 490, qty: 100 },
      t + 300,
    );
    run(
      {
        type: 'new',
        account: 2,
        clOrdId: 'b2',
        symbol: SYM_B,
        side: 'BUY',
        ordType: 'LIMIT',
        price: 500,
        qty: 30,
        tif: 'IOC',
      },
      t + 400_000,
    );
    run(
      { type: 'new', account: 2, clOrdId: 'b3', symbol: SYM_B, side: 'BUY', ordType: 'MARKET', qty: 5 },
      t + 1_200_000,
    ); // next second
    const trades = out.filter((m): m is TradesMessage => m.channel === Channel.TRADES).flatMap((m) => m.trades);
    expect(trades.map((x) => [x.price, x.qty, x.side, x.ts_us])).toEqual([
      [500, 10, 'BUY', t + 200],
      [490, 30, 'BUY', t + 400_000],
      [490, 5, 'BUY', t + 1_200_000],
    ]);
    const candles = out.filter((m): m is CandlesMessage => m.channel === Channel.CANDLES).flatMap((m) => m.candles);
    const closed1s = candles.filter((c) => c.interval === '1s' && c.closed);
    expect(closed1s).toEqual([
      {
        interval: '1s',
        start_us: t,
        open: 500,
        high: 500,
        low: 490,
        close: 490,
        volume: 40,
        trade_count: 2,
        closed: true,
      },
    ]);
    const last1m = candles.filter((c) => c.interval === '1m').at(-1)!;
    expect(last1m).toEqual({
      interval: '1m',
      start_us: t,
      open: 500,
      high: 500,
      low: 490,
      close: 490,
      volume: 45,
      trade_count: 3,
      closed: false,
    });
    // Log time passing the minute (a time tick: no events) closes the open candles.
    out.length = 0;
    p.advanceTime(t + 60_000_000);
    p.flush((m) => out.push(m));
    const closing = out.filter((m): m is CandlesMessage => m.channel === Channel.CANDLES).flatMap((m) => m.candles);
    expect(closing.map((c) => [c.interval, c.start_us, c.closed])).toEqual([
      ['1s', t + 1_000_000, true],
      ['1m', t, true],
    ]);
    const snap = p.snapshot(SYM_B, Channel.TRADES) as TradesMessage;
    expect(snap.trades.map((x) => x.trade_id)).toEqual(trades.map((x) => x.trade_id));
  });
});
