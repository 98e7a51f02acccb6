// Test kit for the matching engine: a default two-instrument configuration, command
// builders that fill seq/tsUs, and `run` that returns the events of one command while
// checking the README's per-report invariants.

import { expect } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import {
  ExecType,
  OrdStatus,
  OrdType,
  Side,
  Stp,
  type AmendCommand,
  type BookEvent,
  type CancelCommand,
  type Command,
  type EngineEvent,
  type ExecReport,
  type MassCancelCommand,
  type NewOrderCommand,
  type ShardConfig,
  type TradeEvent,
} from '../../engine/types.js';

export const BTC = 'BTC-USD';
export const ETH = 'ETH-USD';
/** 2023-11-14T22:13:20Z in microseconds. */
export const T0 = 1_700_000_000_000_000;
export const DAY_US = 86_400_000_000;
/** BTC session close: 21:00 UTC. */
export const BTC_CLOSE_US = 21 * 3_600_000_000;
/** First BTC session close after T0 (T0 is 22:13:20 UTC, so it is tomorrow's 21:00). */
export const BTC_NEXT_CLOSE = Math.floor(T0 / DAY_US) * DAY_US + DAY_US + BTC_CLOSE_US;

/** BTC band: reference 1_000_000 ± 1000 ticks * 5 = [995_000, 1_005_000]. */
export const BTC_REF = 1_000_000;
export const BTC_BAND_LOW = 995_000;
export const BTC_BAND_HIGH = 1_005_000;

export function defaultConfig(overrides: Partial<ShardConfig> = {}): ShardConfig {
  return {
    shardId: 0,
    defaultStp: Stp.EXPIRE_TAKER,
    orderCountMax: 1_000_000,
    accounts: [],
    instruments: [
      {
        symbol: BTC,
        tickSize: 5,
        lotSize: 10,
        minQty: 10,
        maxQty: 1_000_000,
        maxPrice: 10_000_000,
        priceBandTicks: 1000,
        referencePrice: BTC_REF,
        sessionCloseUtcUs: BTC_CLOSE_US,
        priceDecimals: 2,
        qtyDecimals: 4,
      },
      {
        // No band, lot 1, minQty above the lot; maxPrice * maxQty = 9e15 < 2^53.
        symbol: ETH,
        tickSize: 1,
        lotSize: 1,
        minQty: 5,
        maxQty: 100_000_000,
        maxPrice: 90_000_000,
        priceBandTicks: 0,
        referencePrice: null,
        sessionCloseUtcUs: 0,
        priceDecimals: 2,
        qtyDecimals: 0,
      },
    ],
    ...overrides,
  };
}

/** Builder input: every field optional and of any type (tests send malformed values on purpose).
 *  A key present with value `undefined` is removed from the command (a missing field). */
export type Loose<T> = { [K in keyof T]?: unknown } & { [k: string]: unknown };

function strip<T>(o: Record<string, unknown>): T {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o as T;
}

const TERMINAL: ReadonlySet<number> = new Set([
  OrdStatus.FILLED,
  OrdStatus.CANCELED,
  OrdStatus.EXPIRED,
  OrdStatus.REJECTED,
]);

/** Applies one command and returns its events; checks the invariants every report must satisfy. */
export function run(engine: Engine, cmd: Command, out: EventBuffer = new EventBuffer()): EngineEvent[] {
  out.clear();
  engine.apply(cmd, out);
  const events = out.toEvents();
  checkInvariants(cmd, events);
  return events;
}

/** An event as JSON for a failure message; bigints (a wide instrument's cumNotional) as digits + n. */
function show(e: EngineEvent): string {
  return JSON.stringify(e, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

export function checkInvariants(cmd: Command, events: EngineEvent[]): void {
  let lastExecId = -Infinity;
  for (const e of events) {
    if (Number.isSafeInteger(cmd.seq)) expect(e.seq, `event seq of ${show(e)}`).toBe(cmd.seq);
    if (e.kind !== 'exec') continue;
    expect(e.execId, 'execId increasing').toBeGreaterThan(lastExecId);
    lastExecId = e.execId;
    if (e.execType === ExecType.REJECTED) {
      // FIX 4.4: the quantity asked for (0 if it was not a positive integer), nothing filled or left.
      const asked = (cmd as { qty?: unknown }).qty;
      const askedQty = typeof asked === 'number' && Number.isSafeInteger(asked) && asked > 0 ? asked : 0;
      expect(e.orderQty, `REJECTED orderQty in ${show(e)}`).toBe(askedQty);
      expect(e.cumQty + e.leavesQty, `REJECTED cum/leaves in ${show(e)}`).toBe(0);
    } else if (e.execType === ExecType.CANCELED || e.execType === ExecType.EXPIRED) {
      // FIX 4.4: a canceled or expired order keeps what was ordered; nothing is left.
      expect(e.leavesQty, `canceled/expired leavesQty in ${show(e)}`).toBe(0);
      expect(e.cumQty, `cumQty ≤ orderQty in ${show(e)}`).toBeLessThanOrEqual(e.orderQty);
    } else {
      expect(e.cumQty + e.leavesQty, `cumQty + leavesQty = orderQty in ${show(e)}`).toBe(e.orderQty);
    }
    if (TERMINAL.has(e.ordStatus)) expect(e.leavesQty, `terminal leavesQty in ${show(e)}`).toBe(0);
  }
  // Each fill: trade, the maker's exec TRADE, the taker's exec TRADE (same tradeId, lastQty, lastPx).
  events.forEach((e, i) => {
    const isTradeExec = e.kind === 'exec' && e.execType === ExecType.TRADE;
    if (isTradeExec) {
      const prev1 = events[i - 1];
      const prev2 = events[i - 2];
      expect(
        prev1?.kind === 'trade' || prev2?.kind === 'trade',
        `exec TRADE without a preceding trade event at ${i}`,
      ).toBe(true);
    }
    if (e.kind !== 'trade') return;
    const maker = events[i + 1];
    const taker = events[i + 2];
    expect(maker, `maker report after trade ${e.tradeId}`).toMatchObject({
      kind: 'exec',
      execType: ExecType.TRADE,
      orderId: e.makerOrderId,
      account: e.makerAccount,
      tradeId: e.tradeId,
      lastQty: e.qty,
      lastPx: e.price,
    });
    expect(taker, `taker report after trade ${e.tradeId}`).toMatchObject({
      kind: 'exec',
      execType: ExecType.TRADE,
      orderId: e.takerOrderId,
      account: e.takerAccount,
      tradeId: e.tradeId,
      lastQty: e.qty,
      lastPx: e.price,
      side: e.aggressorSide,
    });
  });
}

/** An engine plus a command clock. Commands get seq = previous + 1 and the kit's current tsUs
 *  unless given; a given tsUs becomes the kit's current time. `last` is the seq (order id) of the
 *  last command built. */
export class Kit {
  readonly engine: Engine;
  readonly out = new EventBuffer();
  seq = 0;
  tsUs = T0;
  last = 0;
  private lastExecId = -Infinity;
  private lastTradeId = 0;

  constructor(readonly config: ShardConfig = defaultConfig()) {
    this.engine = new Engine(config);
  }

  private stamp<T>(type: string, fields: Record<string, unknown>, defaults: Record<string, unknown> = {}): T {
    const seq = 'seq' in fields ? fields.seq : this.seq + 1;
    const tsUs = 'tsUs' in fields ? fields.tsUs : this.tsUs;
    if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq > this.seq) this.seq = seq;
    if (typeof tsUs === 'number' && Number.isSafeInteger(tsUs)) this.tsUs = tsUs;
    if (typeof seq === 'number') this.last = seq;
    return strip<T>({ type, seq, tsUs, ...defaults, ...fields });
  }

  // --- builders (do not apply) ---
  newOrder(f: Loose<NewOrderCommand> = {}): NewOrderCommand {
    const ordType = 'ordType' in f ? f.ordType : OrdType.LIMIT;
    const defaults: Record<string, unknown> = { account: 1, symbol: BTC, side: Side.BUY, ordType, qty: 10 };
    if (!('price' in f) && (ordType === OrdType.LIMIT || ordType === OrdType.STOP_LIMIT)) defaults.price = BTC_REF;
    const cmd = this.stamp<NewOrderCommand>('new', f, defaults);
    if (!('clOrdId' in f)) cmd.clOrdId = `o${cmd.seq}`;
    return cmd;
  }
  cancelCmd(f: Loose<CancelCommand>): CancelCommand {
    return this.stamp<CancelCommand>('cancel', f, { account: 1 });
  }
  amendCmd(f: Loose<AmendCommand>): AmendCommand {
    return this.stamp<AmendCommand>('amend', f, { account: 1 });
  }
  massCancelCmd(f: Loose<MassCancelCommand>): MassCancelCommand {
    return this.stamp<MassCancelCommand>('mass_cancel', f, { account: 1 });
  }
  cmd(type: string, f: Record<string, unknown> = {}): Command {
    return this.stamp<Command>(type, f);
  }

  // --- apply ---
  apply(cmd: Command): EngineEvent[] {
    const events = run(this.engine, cmd, this.out);
    for (const e of events) {
      if (e.kind === 'exec') {
        expect(e.execId, 'execId increases across commands').toBeGreaterThan(this.lastExecId);
        this.lastExecId = e.execId;
      } else if (e.kind === 'trade') {
        expect(e.tradeId, 'tradeId increases across commands').toBeGreaterThan(this.lastTradeId);
        this.lastTradeId = e.tradeId;
      }
    }
    return events;
  }
  new(f: Loose<NewOrderCommand> = {}): EngineEvent[] {
    return this.apply(this.newOrder(f));
  }
  cancel(f: Loose<CancelCommand>): EngineEvent[] {
    return this.apply(this.cancelCmd(f));
  }
  amend(f: Loose<AmendCommand>): EngineEvent[] {
    return this.apply(this.amendCmd(f));
  }
  massCancel(f: Loose<MassCancelCommand>): EngineEvent[] {
    return this.apply(this.massCancelCmd(f));
  }
  halt(symbol: string = BTC, f: Record<string, unknown> = {}): EngineEvent[] {
    return this.apply(this.cmd('halt', { symbol, ...f }));
  }
  resume(symbol: string = BTC, f: Record<string, unknown> = {}): EngineEvent[] {
    return this.apply(this.cmd('resume', { symbol, ...f }));
  }
  killSwitch(account: number, active: boolean, f: Record<string, unknown> = {}): EngineEvent[] {
    return this.apply(this.cmd('kill_switch', { account, active, ...f }));
  }
  setReferencePrice(symbol: string, price: number, f: Record<string, unknown> = {}): EngineEvent[] {
    return this.apply(this.cmd('set_reference_price', { symbol, price, ...f }));
  }
  setAccount(account: number, stp: number, f: Record<string, unknown> = {}): EngineEvent[] {
    return this.apply(this.cmd('set_account', { account, stp, ...f }));
  }
  tick(tsUs?: number, f: Record<string, unknown> = {}): EngineEvent[] {
    return this.apply(this.cmd('tick', tsUs === undefined ? f : { tsUs, ...f }));
  }

  // --- state views ---
  /** Resting orders of both sides of both instruments plus every live order by id, for equality checks. */
  view(ids: number[] = []): unknown {
    const symbols = this.config.instruments.map((i) => i.symbol);
    return {
      levels: symbols.map((s) => [this.engine.bookLevels(s, Side.BUY), this.engine.bookLevels(s, Side.SELL)]),
      orders: symbols.map((s) => [this.engine.bookOrders(s, Side.BUY), this.engine.bookOrders(s, Side.SELL)]),
      byId: ids.map((id) => this.engine.order(id) ?? null),
    };
  }
  /** Order ids of the resting orders at one side, in priority order. */
  priority(symbol: string, side: Side): number[] {
    return this.engine.bookOrders(symbol, side).map((o) => o.orderId);
  }
}

// --- expected-event builders (partial objects for toMatchObject) ---

export function exec(execType: ExecType, ordStatus: OrdStatus, f: Partial<ExecReport> = {}): Partial<ExecReport> {
  return { kind: 'exec', execType, ordStatus, ...f };
}
export function trade(f: Partial<TradeEvent>): Partial<TradeEvent> {
  return { kind: 'trade', ...f };
}
export function book(side: Side, price: number, qty: number, orderCount: number, symbol = BTC): BookEvent {
  return { kind: 'book', symbol, side, price, qty, orderCount } as BookEvent;
}

/** Drops execId (the only field a rejected command may change for later events). */
export function withoutExecIds(events: EngineEvent[]): unknown[] {
  return events.map((e) => {
    if (e.kind !== 'exec') return e;
    const { execId: _execId, ...rest } = e;
    return rest;
  });
}

/** One-line summaries, handy in failure messages. */
export function summary(events: EngineEvent[]): string[] {
  const name = <T extends Record<string, number>>(m: T, v: number) =>
    Object.keys(m).find((k) => m[k] === v) ?? String(v);
  return events.map((e) => {
    switch (e.kind) {
      case 'exec':
        return `exec ${name(ExecType, e.execType)} ${name(OrdStatus, e.ordStatus)} #${e.orderId} px=${e.price} q=${e.orderQty} cum=${e.cumQty} lv=${e.leavesQty} last=${e.lastQty}@${e.lastPx} r=${e.reason}`;
      case 'trade':
        return `trade ${e.qty}@${e.price} taker=#${e.takerOrderId} maker=#${e.makerOrderId}`;
      case 'book':
        return `book ${e.symbol} ${name(Side, e.side)} ${e.price} q=${e.qty} n=${e.orderCount}`;
      default:
        return JSON.stringify(e);
    }
  });
}
