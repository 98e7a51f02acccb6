// ListInstruments (gRPC) and GET /v1/instruments (REST): what a client needs to place a valid
// order without the engine's config file — per instrument its shard, tick and lot sizes,
// quantity and price limits, display decimals, price band and trading status.
//
// The static part comes from the shard configs the gateway validates against (the same files the
// replicas load); the state an admin changes — halt/resume and the reference price that centres
// the band — is the engine's, read from the shard's replicas (op 'instruments', after a ReadIndex:
// a halt acknowledged before the request is seen, whichever gateway or admin sent it).
//
// The route needs no authentication, so the replicas are protected from a flood by coalescing:
// per shard at most one read runs and one waits to run; every request joins the first read that
// starts after it arrived (so it never gets a state older than itself).

import type { InstrumentConfig } from '../engine/types.js';

/** One instrument as the API answers it (proto exchange.v1.Instrument; REST: the same JSON names). */
export interface InstrumentOut {
  symbol: string;
  shard: number;
  /** TradingStatus without its prefix. */
  status: 'TRADING' | 'HALTED';
  tick_size: number;
  lot_size: number;
  min_quantity: number;
  max_quantity: number;
  max_price: number;
  price_decimals: number;
  quantity_decimals: number;
  reference_price: number;
  price_band_ticks: number;
  band_low_price: number;
  band_high_price: number;
  session_close_utc_us: number;
}

/** An instrument's engine state, as a replica answers op 'instruments' (replicator/log.ts InstrumentState). */
export interface InstrumentEngineState {
  symbol: string;
  halted: boolean;
  referencePrice: number;
}

/**
 * The API's view of one instrument: its config and its engine state. The band is the engine's
 * (engine/engine.ts inBand): reference ± price_band_ticks × tick_size, inclusive, when both are
 * non-zero; the config guarantees band × tick ≤ 2^53 − 1 and the reference ≤ maxPrice, so the sum
 * stays exact.
 */
export function instrumentOut(shard: number, cfg: InstrumentConfig, state: InstrumentEngineState): InstrumentOut {
  const ref = state.referencePrice;
  const width = cfg.priceBandTicks * cfg.tickSize;
  const banded = ref > 0 && cfg.priceBandTicks > 0;
  return {
    symbol: cfg.symbol,
    shard,
    status: state.halted ? 'HALTED' : 'TRADING',
    tick_size: cfg.tickSize,
    lot_size: cfg.lotSize,
    min_quantity: cfg.minQty,
    max_quantity: cfg.maxQty,
    max_price: cfg.maxPrice,
    price_decimals: cfg.priceDecimals,
    quantity_decimals: cfg.qtyDecimals,
    reference_price: ref,
    price_band_ticks: cfg.priceBandTicks,
    band_low_price: banded ? Math.max(0, ref - width) : 0,
    band_high_price: banded ? ref + width : 0,
    session_close_utc_us: cfg.sessionCloseUtcUs,
  };
}

/**
 * A shard's instruments from its config and a replica's answer, in config order; a string (the
 * reason) if the answer does not hold every configured symbol (the gateway's and the replicas'
 * configs differ: an operator error).
 */
export function shardInstruments(
  shard: number,
  configs: readonly InstrumentConfig[],
  states: readonly InstrumentEngineState[],
): InstrumentOut[] | string {
  const bySymbol = new Map(states.map((s) => [s.symbol, s]));
  const out: InstrumentOut[] = [];
  for (const cfg of configs) {
    const st = bySymbol.get(cfg.symbol);
    if (st === undefined) return `the replicas of shard ${shard} do not trade ${cfg.symbol} (configuration mismatch)`;
    out.push(instrumentOut(shard, cfg, st));
  }
  return out;
}

/** Checks a replica's op 'instruments' answer; undefined if it is not one. */
export function parseInstrumentStates(reply: Record<string, unknown>): InstrumentEngineState[] | undefined {
  if (reply.ok !== true || !Array.isArray(reply.instruments)) return undefined;
  const out: InstrumentEngineState[] = [];
  for (const x of reply.instruments as unknown[]) {
    const o = x as Partial<InstrumentEngineState> | null;
    if (
      typeof o !== 'object' ||
      o === null ||
      typeof o.symbol !== 'string' ||
      typeof o.halted !== 'boolean' ||
      !Number.isSafeInteger(o.referencePrice) ||
      (o.referencePrice as number) < 0
    )
      return undefined;
    out.push({ symbol: o.symbol, halted: o.halted, referencePrice: o.referencePrice as number });
  }
  return out;
}

/**
 * Runs `read` for callers, at most one run at a time and one more waiting: a caller gets the
 * result of a run that started after its call (the running one if none was running, else the
 * next one, shared by everyone who arrived meanwhile).
 */
export class FreshReads<T> {
  private running: Promise<T> | undefined;
  private waiting: Promise<T> | undefined;

  constructor(private readonly read: () => Promise<T>) {}

  get(): Promise<T> {
    if (this.running === undefined) return this.start();
    this.waiting ??= this.running.then(
      () => this.startWaiting(),
      () => this.startWaiting(),
    );
    return this.waiting;
  }

  private startWaiting(): Promise<T> {
    this.waiting = undefined;
    return this.start();
  }

  private start(): Promise<T> {
    const p = this.read().finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }
}
