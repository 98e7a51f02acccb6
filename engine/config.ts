// Shard configuration: parsing from JSON (string enums) and the range checks that
// make integer arithmetic in the engine exact. A bad config is an operator error:
// it throws at startup, never at match time.

import { Stp, type InstrumentConfig, type ShardConfig } from './types.js';

/** Hard ceiling on live orders per shard, whatever the config says (typed-array sizes stay addressable). */
export const ORDER_COUNT_MAX_LIMIT = 1 << 24;
export const INSTRUMENT_COUNT_MAX = 1 << 12;
export const ACCOUNT_ID_MAX = 0xffff_ffff;
/** One UTC day in microseconds (DAY orders expire at the next session close). */
export const DAY_US = 86_400_000_000;

const STP_BY_NAME: Record<string, Stp> = {
  NONE: Stp.NONE,
  EXPIRE_TAKER: Stp.EXPIRE_TAKER,
  EXPIRE_MAKER: Stp.EXPIRE_MAKER,
  EXPIRE_BOTH: Stp.EXPIRE_BOTH,
  DECREMENT_AND_CANCEL: Stp.DECREMENT_AND_CANCEL,
};

export function stpFromName(name: unknown): Stp | undefined {
  return typeof name === 'string' ? STP_BY_NAME[name] : undefined;
}

function fail(path: string, message: string): never {
  throw new Error(`config ${path}: ${message}`);
}

function int(value: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value))
    fail(path, `must be an integer, got ${JSON.stringify(value)}`);
  if (value < min || value > max) fail(path, `must be in [${min}, ${max}], got ${value}`);
  return value;
}

/** Parses a JSON shard configuration (enums as strings), applies defaults, validates. */
export function parseConfig(json: unknown): ShardConfig {
  if (typeof json !== 'object' || json === null) fail('', 'must be an object');
  const raw = json as Record<string, unknown>;
  const instruments = raw.instruments;
  if (!Array.isArray(instruments) || instruments.length === 0) fail('instruments', 'must be a non-empty array');
  const accounts = raw.accounts ?? [];
  if (!Array.isArray(accounts)) fail('accounts', 'must be an array');
  const defaultStp = raw.defaultStp === undefined ? Stp.EXPIRE_TAKER : stpFromName(raw.defaultStp);
  if (defaultStp === undefined) fail('defaultStp', `unknown mode ${JSON.stringify(raw.defaultStp)}`);
  const config: ShardConfig = {
    shardId: raw.shardId === undefined ? 0 : int(raw.shardId, 'shardId', 0, 0xffff),
    defaultStp,
    orderCountMax:
      raw.orderCountMax === undefined ? 1_000_000 : int(raw.orderCountMax, 'orderCountMax', 1, ORDER_COUNT_MAX_LIMIT),
    accounts: accounts.map((a: Record<string, unknown>, i: number) => {
      const stp = stpFromName(a?.stp ?? 'EXPIRE_TAKER');
      if (stp === undefined) fail(`accounts[${i}].stp`, `unknown mode ${JSON.stringify(a?.stp)}`);
      return { id: int(a?.id, `accounts[${i}].id`, 1, ACCOUNT_ID_MAX), stp };
    }),
    instruments: instruments.map((x: Record<string, unknown>, i: number): InstrumentConfig => {
      const p = `instruments[${i}]`;
      if (typeof x?.symbol !== 'string' || !/^[A-Za-z0-9._\-/]{1,32}$/.test(x.symbol))
        fail(`${p}.symbol`, 'must be 1-32 characters of [A-Za-z0-9._-/]');
      return {
        symbol: x.symbol,
        tickSize: int(x.tickSize ?? 1, `${p}.tickSize`, 1),
        lotSize: int(x.lotSize ?? 1, `${p}.lotSize`, 1),
        minQty: int(x.minQty ?? x.lotSize ?? 1, `${p}.minQty`, 1),
        maxQty: int(x.maxQty, `${p}.maxQty`, 1),
        maxPrice: int(x.maxPrice, `${p}.maxPrice`, 1),
        priceBandTicks: int(x.priceBandTicks ?? 0, `${p}.priceBandTicks`, 0),
        referencePrice:
          x.referencePrice === undefined || x.referencePrice === null
            ? null
            : int(x.referencePrice, `${p}.referencePrice`, 1),
        sessionCloseUtcUs: int(x.sessionCloseUtcUs ?? 0, `${p}.sessionCloseUtcUs`, 0, DAY_US - 1),
        priceDecimals: int(x.priceDecimals ?? 0, `${p}.priceDecimals`, 0, 18),
        qtyDecimals: int(x.qtyDecimals ?? 0, `${p}.qtyDecimals`, 0, 18),
      };
    }),
  };
  validateConfig(config);
  return config;
}

/** Checks a (numeric) configuration; throws on the first problem. */
export function validateConfig(config: ShardConfig): void {
  int(config.orderCountMax, 'orderCountMax', 1, ORDER_COUNT_MAX_LIMIT);
  if (config.instruments.length > INSTRUMENT_COUNT_MAX) fail('instruments', `at most ${INSTRUMENT_COUNT_MAX}`);
  if (!Object.values(Stp).includes(config.defaultStp)) fail('defaultStp', 'unknown mode');
  const symbols = new Set<string>();
  config.instruments.forEach((x, i) => {
    const p = `instruments[${i}]`;
    if (symbols.has(x.symbol)) fail(`${p}.symbol`, `duplicate symbol ${x.symbol}`);
    symbols.add(x.symbol);
    int(x.tickSize, `${p}.tickSize`, 1);
    int(x.lotSize, `${p}.lotSize`, 1);
    int(x.minQty, `${p}.minQty`, 1);
    int(x.maxQty, `${p}.maxQty`, x.minQty);
    int(x.maxPrice, `${p}.maxPrice`, x.tickSize);
    int(x.priceBandTicks, `${p}.priceBandTicks`, 0);
    if (x.minQty % x.lotSize !== 0) fail(`${p}.minQty`, 'must be a multiple of lotSize');
    if (x.maxQty % x.lotSize !== 0) fail(`${p}.maxQty`, 'must be a multiple of lotSize');
    if (x.maxPrice % x.tickSize !== 0) fail(`${p}.maxPrice`, 'must be a multiple of tickSize');
    // maxPrice and maxQty are safe integers (int() above), so every price and quantity is an exact
    // double; their product may pass 2^53 (a wide instrument): notionals are then kept exact in
    // two limbs (notional.ts).
    // priceBandTicks * tickSize is compared with prices: keep it exact too.
    if (x.priceBandTicks * x.tickSize > Number.MAX_SAFE_INTEGER)
      fail(`${p}.priceBandTicks`, 'band * tickSize exceeds 2^53-1');
    if (x.referencePrice !== null) int(x.referencePrice, `${p}.referencePrice`, 1, x.maxPrice);
    int(x.sessionCloseUtcUs, `${p}.sessionCloseUtcUs`, 0, DAY_US - 1);
  });
  const ids = new Set<number>();
  config.accounts.forEach((a, i) => {
    int(a.id, `accounts[${i}].id`, 1, ACCOUNT_ID_MAX);
    if (ids.has(a.id)) fail(`accounts[${i}].id`, `duplicate account ${a.id}`);
    ids.add(a.id);
    if (!Object.values(Stp).includes(a.stp)) fail(`accounts[${i}].stp`, 'unknown mode');
  });
}
