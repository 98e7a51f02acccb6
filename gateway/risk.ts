// Pre-trade risk on the gateway's main thread (it needs state: open orders, rate buckets).
// Checks run before a command is sent to the shard; the engine still enforces its own rules
// (price band, STP, kill switch) after sequencing, so a check here is an early, cheaper reject.
//
// Open orders per account are counted from the execution reports this gateway sees (its own
// commands' reports include the maker fills they cause), plus places in flight. With several
// gateways in front of one exchange each counts only its own traffic: the limit is then per
// gateway (documented in gateway/README.md).

import type { InstrumentConfig } from '../engine/types.js';
import type { Notional } from '../engine/notional.js';
import type { RiskLimits } from '../config/gateway-config.js';
import { ErrorCode, ErrorReason, gatewayError, type GatewayError } from '../api/errors.js';
import type { ValidatedCommand } from './validate.js';
import type { RateLimitState } from './rate-limit-headers.js';

/** Token bucket (refill per ms, capacity), one per API key. */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;
  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.lastMs = nowMs;
  }
  private refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.lastMs);
    this.lastMs = nowMs;
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerSec) / 1000);
  }
  /** The bucket at nowMs, without taking anything. */
  state(nowMs: number): RateLimitState {
    this.refill(nowMs);
    return {
      limit: Math.floor(this.burst),
      remaining: Math.floor(this.tokens),
      resetMs: Math.ceil(((this.burst - this.tokens) * 1000) / this.ratePerSec),
    };
  }
  /** Takes `n` tokens, or returns the ms until they would be there. */
  take(n: number, nowMs: number): 0 | number {
    this.refill(nowMs);
    if (this.tokens >= n) {
      this.tokens -= n;
      return 0;
    }
    return Math.max(1, Math.ceil(((n - this.tokens) * 1000) / this.ratePerSec));
  }
}

export class AccountRisk {
  /** Live orders (global ids) known from reports. */
  readonly open = new Set<number>();
  /** Places sent and not answered yet. */
  pendingPlaces = 0;
  /** Kill switch engaged through this gateway's admin API. */
  blocked = false;
  constructor(
    readonly account: number,
    readonly limits: RiskLimits,
  ) {}
}

export interface PriceReference {
  /** Reference price of the symbol for the band and market-order notional (null: unknown). */
  reference(symbol: string): number | null;
  instrument(symbol: string): InstrumentConfig | undefined;
}

/**
 * Whether px × qty (safe integers) exceeds the limit, exactly, without a BigInt when the limit is
 * a number. A number limit M is a safe integer (config/gateway-config.ts), so the double product
 * decides exactly: rounding is monotone and M and M + 1 (≤ 2^53) are doubles, so a true product
 * > M rounds to at least M + 1 and one ≤ M rounds to at most M. A bigint limit is above 2^53 − 1:
 * a double product ≤ 2^53 − 1 is exact and below it; a larger one is compared as BigInts.
 */
export function overNotional(px: number, qty: number, limit: Notional): boolean {
  const product = px * qty;
  if (typeof limit === 'number') return product > limit;
  return product > Number.MAX_SAFE_INTEGER && BigInt(px) * BigInt(qty) > limit;
}

/** The pre-trade checks of one command; undefined = passes. */
export function checkRisk(a: AccountRisk, c: ValidatedCommand, prices: PriceReference): GatewayError | undefined {
  if (a.blocked && (c.op === 'PlaceOrder' || c.op === 'AmendOrder'))
    return gatewayError(
      ErrorCode.ACCOUNT_BLOCKED,
      ErrorReason.KILL_SWITCH,
      `account ${a.account} is blocked (kill switch)`,
    );
  if (c.op !== 'PlaceOrder' && c.op !== 'AmendOrder') return undefined;
  const L = a.limits;
  if (c.qty !== undefined && c.qty > L.maxOrderQty)
    return gatewayError(
      ErrorCode.RISK_MAX_QTY,
      ErrorReason.MAX_ORDER_QTY,
      `quantity ${c.qty} over the account's maximum ${L.maxOrderQty}`,
      { field: 'quantity' },
    );
  const sym = c.symbol;
  const ref = sym !== undefined ? prices.reference(sym) : null;
  const inst = sym !== undefined ? prices.instrument(sym) : undefined;
  // Notional at the order's limit price, or for a market order at the far edge of the band
  // (the worst price it could trade at), or at the reference price if there is no band.
  let px = c.price ?? c.stopPrice;
  if (px === undefined && ref !== null && inst !== undefined)
    px = inst.priceBandTicks > 0 ? ref + inst.priceBandTicks * inst.tickSize : ref;
  if (px !== undefined && c.qty !== undefined && overNotional(px, c.qty, L.maxNotional)) {
    return gatewayError(
      ErrorCode.RISK_MAX_NOTIONAL,
      ErrorReason.MAX_NOTIONAL,
      // The exact product (a wide instrument's passes 2^53): BigInt in the reject path only.
      `notional ${BigInt(px) * BigInt(c.qty)} over the account's maximum ${L.maxNotional}`,
    );
  }
  if (c.op === 'PlaceOrder' && a.open.size + a.pendingPlaces >= L.maxOpenOrders) {
    return gatewayError(
      ErrorCode.RISK_MAX_OPEN_ORDERS,
      ErrorReason.MAX_OPEN_ORDERS,
      `${a.open.size + a.pendingPlaces} open orders, the account's maximum is ${L.maxOpenOrders}`,
    );
  }
  if (c.price !== undefined && ref !== null && inst !== undefined && inst.priceBandTicks > 0) {
    const lo = ref - inst.priceBandTicks * inst.tickSize;
    const hi = ref + inst.priceBandTicks * inst.tickSize;
    if (c.price < lo || c.price > hi)
      return gatewayError(
        ErrorCode.RISK_PRICE_BAND,
        ErrorReason.PRICE_BAND,
        `price ${c.price} outside the band [${lo}, ${hi}] around the reference ${ref}`,
        { field: 'price' },
      );
  }
  return undefined;
}
