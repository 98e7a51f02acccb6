// Random order flow for the feed tests: every kind of command that changes a book (limits of
// every TIF, post-only, icebergs, market orders, stops, amends up/down/price, cancels, mass
// cancels, kill switches, halts, GTD expiries, self-trade prevention in every mode), drawn from
// the project's seeded PRNG so one seed reproduces a flow. Commands refer to orders the flow
// placed (it remembers ids; some are gone by then, which the engine rejects, as in real life).

import { Engine } from '../../engine/engine.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import {
  EventKind,
  InstrumentStatus,
  OrdStatus,
  OrdType,
  PostOnly,
  Side,
  Stp,
  Tif,
  type Command,
  type ShardConfig,
} from '../../engine/types.js';
import { Prng } from '../../replicator/prng.js';

export const SYM_A = 'BTC-USD';
export const SYM_B = 'ETH-USD';
export const T0_US = 1_700_000_000_000_000;

export function flowConfig(): ShardConfig {
  return {
    shardId: 0,
    defaultStp: Stp.EXPIRE_TAKER,
    orderCountMax: 100_000,
    accounts: [
      { id: 1, stp: Stp.EXPIRE_TAKER },
      { id: 2, stp: Stp.EXPIRE_MAKER },
      { id: 3, stp: Stp.EXPIRE_BOTH },
      { id: 4, stp: Stp.DECREMENT_AND_CANCEL },
      { id: 5, stp: Stp.NONE },
    ],
    instruments: [
      {
        symbol: SYM_A,
        tickSize: 5,
        lotSize: 10,
        minQty: 10,
        maxQty: 1_000_000,
        maxPrice: 10_000_000,
        priceBandTicks: 1000,
        referencePrice: 1_000_000,
        sessionCloseUtcUs: 0,
        priceDecimals: 2,
        qtyDecimals: 4,
      },
      {
        symbol: SYM_B,
        tickSize: 1,
        lotSize: 1,
        minQty: 1,
        maxQty: 100_000_000,
        maxPrice: 90_000_000,
        priceBandTicks: 0,
        referencePrice: null,
        sessionCloseUtcUs: 0,
        priceDecimals: 2,
        qtyDecimals: 0,
      },
    ],
  };
}

/**
 * flowConfig with BTC-USD wide, as issue 19's BTC-USD: maxPrice 100,000,000 (1,000,000.00 USD) ×
 * maxQty 100,000,000,000 (1,000 BTC to 8 decimals) = 10^19 units > 2^53. The flow runs on it
 * unchanged (its prices and quantities are within both configs).
 */
export function wideFlowConfig(): ShardConfig {
  const c = flowConfig();
  c.instruments[0] = { ...c.instruments[0]!, maxPrice: 100_000_000, maxQty: 100_000_000_000, qtyDecimals: 8 };
  return c;
}

/** A command without seq/tsUs (the runner or the state machine stamps them). */
export type FlowCommand = Record<string, unknown> & { type: string };

export class Flow {
  private readonly rng: Prng;
  /** Live orders (resting or pending stops) → account, as the engine's reports said. */
  private readonly live = new Map<number, number>();
  private readonly halted = new Set<string>();
  private readonly blocked = new Set<number>();
  private n = 0;
  /** Log time of the next command (µs); advances 0–400 ms per command so candles and GTD expiries happen. */
  tsUs = T0_US;

  constructor(seed: number) {
    this.rng = new Prng(seed);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.rng.int(xs.length)]!;
  }

  private chance(p: number): boolean {
    return this.rng.next() / 4294967296 < p;
  }

  /** Learns from the engine's events which orders live and which instruments/accounts are stopped. */
  observe(buf: EventBuffer, from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const k = buf.kind[i];
      if (k === EventKind.EXEC) {
        const st = buf.ordStatus[i];
        if (st === OrdStatus.NEW || st === OrdStatus.PARTIALLY_FILLED || st === OrdStatus.PENDING_TRIGGER)
          this.live.set(buf.orderId[i]!, buf.account[i]!);
        else this.live.delete(buf.orderId[i]!);
      } else if (k === EventKind.INSTRUMENT_STATUS) {
        if (buf.aux[i] === InstrumentStatus.HALTED) this.halted.add(buf.symbol[i]!);
        else this.halted.delete(buf.symbol[i]!);
      } else if (k === EventKind.ACCOUNT_STATUS) {
        if (buf.flag[i] === 1) this.blocked.add(buf.account[i]!);
        else this.blocked.delete(buf.account[i]!);
      }
    }
  }

  get liveCount(): number {
    return this.live.size;
  }

  next(): FlowCommand {
    this.n++;
    this.tsUs += this.chance(0.02) ? 1_500_000 : this.rng.int(200_000);
    const r = this.rng.int(100);
    const account = 1 + this.rng.int(5);
    const sym = this.chance(0.7) ? SYM_A : SYM_B;
    const a = sym === SYM_A;
    const mid = a ? 1_000_000 : 500_000;
    const tick = a ? 5 : 1;
    const lot = a ? 10 : 1;
    const side = this.chance(0.5) ? 'BUY' : 'SELL';
    const price = mid + (side === 'BUY' ? -1 : 1) * tick * (this.rng.int(30) - 4);
    const qty = lot * (1 + this.rng.int(20));
    const base = { account, clOrdId: `f${this.n}`, symbol: sym, side };
    // Halts and kill switches are short: most of the flow trades.
    if (this.halted.has(sym) && this.chance(0.3)) return { type: 'resume', symbol: sym };
    if (this.blocked.size > 0 && this.chance(0.3))
      return { type: 'kill_switch', account: [...this.blocked][0]!, active: false };
    // Keep a book of a few hundred orders: more makers when thin, more cancels when thick.
    if (this.live.size < 150 && r >= 48 && r < 70)
      return { type: 'new', ...base, ordType: 'LIMIT', price, qty, tif: 'GTC' };
    if (this.live.size > 400 && r < 30) return this.cancelOne(account);
    if (r < 38) {
      const o: FlowCommand = {
        type: 'new',
        ...base,
        ordType: 'LIMIT',
        price,
        qty,
        tif: this.pick(['GTC', 'GTC', 'GTC', 'IOC', 'FOK', 'GTD', 'DAY']),
      };
      if (o.tif === 'GTD') o.expireTsUs = this.tsUs + this.rng.int(3_000_000) + 1;
      if ((o.tif === 'GTC' || o.tif === 'GTD') && this.chance(0.15))
        o.displayQty = lot * (1 + this.rng.int(Math.max(1, qty / lot - 1)));
      if (o.displayQty !== undefined && (o.displayQty as number) >= qty) delete o.displayQty;
      if (o.tif === 'GTC' && this.chance(0.1)) o.postOnly = this.pick(['REJECT', 'REPRICE']);
      if (this.chance(0.1))
        o.stp = this.pick(['NONE', 'EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH', 'DECREMENT_AND_CANCEL']);
      return o;
    }
    if (r < 44) return { type: 'new', ...base, ordType: 'MARKET', qty, tif: this.pick(['IOC', 'FOK']) };
    if (r < 48) {
      const stopPrice = mid + (side === 'BUY' ? 1 : -1) * tick * (1 + this.rng.int(15));
      return this.chance(0.5)
        ? { type: 'new', ...base, ordType: 'STOP_MARKET', stopPrice, qty }
        : {
            type: 'new',
            ...base,
            ordType: 'STOP_LIMIT',
            stopPrice,
            price: stopPrice + (side === 'BUY' ? 2 : -2) * tick,
            qty,
          };
    }
    // Amends and cancels name a live order of the right account most of the time.
    const [id, owner] = this.liveOne() ?? [1, account];
    const acct = this.chance(0.95) ? owner : account;
    if (r < 64) return { type: 'cancel', account: acct, orderId: id };
    if (r < 92) {
      const k = this.rng.int(3);
      if (k === 0) return { type: 'amend', account: acct, orderId: id, qty };
      if (k === 1) return { type: 'amend', account: acct, orderId: id, price };
      return { type: 'amend', account: acct, orderId: id, qty, price };
    }
    if (r < 94)
      return this.chance(0.7)
        ? { type: 'tick' }
        : {
            type: 'mass_cancel',
            account,
            ...(this.chance(0.5) ? { symbol: sym } : {}),
            ...(this.chance(0.3) ? { side } : {}),
          };
    if (r < 95) return this.chance(0.3) ? { type: 'kill_switch', account, active: true } : { type: 'tick' };
    if (r < 96) return this.chance(0.3) ? { type: 'halt', symbol: sym } : { type: 'tick' };
    if (r < 97) return { type: 'set_reference_price', symbol: SYM_A, price: 1_000_000 + 5 * (this.rng.int(21) - 10) };
    return { type: 'tick' };
  }

  private liveOne(): [number, number] | undefined {
    if (this.live.size === 0) return undefined;
    // Map order is insertion order: a random position is a random live order.
    let k = this.rng.int(this.live.size);
    for (const e of this.live) if (k-- === 0) return e;
    return undefined;
  }

  private cancelOne(account: number): FlowCommand {
    const [id, owner] = this.liveOne() ?? [1, account];
    return { type: 'cancel', account: owner, orderId: id };
  }
}

const ENUMS: Record<string, Record<string, number>> = {
  side: Side,
  ordType: OrdType,
  tif: Tif,
  postOnly: PostOnly,
  stp: Stp,
};

/** The JSON-style flow command → an engine command (numeric enums), stamped with seq/tsUs. */
export function toEngineCommand(c: FlowCommand, seq: number, tsUs: number): Command {
  const out: Record<string, unknown> = { ...c, seq, tsUs };
  for (const [k, table] of Object.entries(ENUMS)) if (typeof out[k] === 'string') out[k] = table[out[k] as string];
  return out as unknown as Command;
}

/**
 * Steps a flow on an engine one "log entry" (a group of 1–4 commands) at a time: each call of
 * nextEntry() applies the group and returns its events (rows [0, buf.count) of `buf`, valid
 * until the next call).
 */
export class FlowRunner {
  readonly flow: Flow;
  readonly buf = new EventBuffer();
  private readonly groups: Prng;
  seq: number;
  commands = 0;

  constructor(
    seed: number,
    readonly engine: Engine = new Engine(flowConfig()),
    startSeq = engine.lastSeq + 1,
  ) {
    this.flow = new Flow(seed);
    this.groups = new Prng(seed ^ 0x5a5a5a5a);
    this.seq = startSeq;
  }

  /** Applies the next 1–4 commands (at most `left`); returns the number applied. */
  nextEntry(left = Number.MAX_SAFE_INTEGER): number {
    const n = Math.min(left, 1 + this.groups.int(4));
    this.buf.clear();
    for (let k = 0; k < n; k++) {
      const c = this.flow.next();
      const from = this.buf.count;
      this.engine.apply(toEngineCommand(c, this.seq++, this.flow.tsUs), this.buf);
      this.flow.observe(this.buf, from, this.buf.count);
    }
    this.commands += n;
    return n;
  }
}

/**
 * Runs `count` flow commands on an engine, calling `onEntry(buf, from, to)` after every group
 * of 1–4 commands (a "log entry") with that group's event rows. Returns the engine.
 */
export function runFlow(
  seed: number,
  count: number,
  onEntry: (buf: EventBuffer, from: number, to: number, engine: Engine) => void,
  engine: Engine = new Engine(flowConfig()),
  startSeq = 1,
): Engine {
  const r = new FlowRunner(seed, engine, startSeq);
  let done = 0;
  while (done < count) {
    done += r.nextEntry(count - done);
    onEntry(r.buf, 0, r.buf.count, engine);
  }
  return engine;
}
