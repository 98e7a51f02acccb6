// The replication benchmarks' workload (bench-replicator.ts, consensus-cpu.ts): per account, a GTC
// buy limit, then the cancel of the order it placed CANCEL_LAG_ORDERS orders earlier, alternately,
// so the book stays small (and with it the snapshots) however long the run.

/** Orders between a buy and its cancel, per account. */
export const CANCEL_LAG_ORDERS = 50;

/** Command `i` (0, 1, 2, …) of `account`: even i a buy, odd i the cancel of an earlier buy. */
export function buyCancelCommand(account: number, i: number): Record<string, unknown> {
  if (i % 2 === 1) return { type: 'cancel', account, clOrdId: `o${i - 1 - 2 * CANCEL_LAG_ORDERS}` };
  return {
    type: 'new',
    account,
    clOrdId: `o${i}`,
    symbol: 'BTC-USD',
    side: 'BUY',
    ordType: 'LIMIT',
    tif: 'GTC',
    price: 4_900_000 + (i % 1000),
    qty: 1,
  };
}
