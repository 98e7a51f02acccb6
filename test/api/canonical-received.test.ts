// canonicalOfReceived: the signed canonical form recomputed from a report as a client received
// it. Over gRPC the project's client decodes an enum at its zero value as "UNSPECIFIED" where the
// canonical form (docs/report-signatures.md) has "" — the seed benchmark's consistency check
// compared them as they were and counted every gRPC acknowledgement as inconsistent.

import { describe, expect, it } from 'vitest';
import { toReport } from '../../api/execution-report.js';
import { canonicalReport } from '../../api/report-canonical.js';
import { canonicalOfReceived } from '../../api/report-verify.js';
import { ExecType, LiquidityInd, OrdStatus, OrdType, Side, Tif, type ExecReport } from '../../engine/types.js';
import { OrderEntryCodec } from '../../gateway/grpc-server.js';

const base: ExecReport = {
  kind: 'exec',
  seq: 9,
  tsUs: 1_700_000_000_000_000,
  execId: 3,
  orderId: 9,
  clOrdId: 'c-9',
  account: 1,
  symbol: 'BTC-USD',
  side: Side.BUY,
  ordType: OrdType.LIMIT,
  tif: 0,
  execType: ExecType.NEW,
  ordStatus: OrdStatus.NEW,
  price: 5_000_000,
  stopPrice: 0,
  orderQty: 10,
  cumQty: 0,
  leavesQty: 10,
  lastQty: 0,
  lastPx: 0,
  cumNotional: 0,
  displayQty: 0,
  reason: 0,
  tradeId: 0,
  lastLiquidityInd: 0,
} as ExecReport;

describe('canonicalOfReceived', () => {
  it('a report through gRPC (zero enums decoded as UNSPECIFIED) gives the canonical form that was signed', () => {
    const codec = OrderEntryCodec.get();
    for (const e of [
      base,
      {
        ...base,
        tif: Tif.GTC,
        execType: ExecType.TRADE,
        ordStatus: OrdStatus.FILLED,
        lastQty: 10,
        lastPx: 5_000_000,
        cumQty: 10,
        leavesQty: 0,
        cumNotional: 50_000_000,
        lastLiquidityInd: LiquidityInd.REMOVED_LIQUIDITY,
      } as ExecReport,
    ]) {
      const sent = toReport(0, e, { priceDecimals: 2, qtyDecimals: 4 });
      const bytes = codec.encode('OrderSessionResponse', { request_id: 1, reports: [sent] });
      const got = (codec.decode('OrderSessionResponse', bytes) as { reports: Record<string, unknown>[] }).reports[0]!;
      if (e.tif === 0) expect(got.time_in_force).toBe('UNSPECIFIED');
      expect(canonicalOfReceived(got)).toBe(canonicalReport(sent));
      expect(canonicalOfReceived(JSON.parse(JSON.stringify(sent)))).toBe(canonicalReport(sent)); // REST's JSON
    }
  });

  it('is undefined for a field that is no valid value', () => {
    expect(
      canonicalOfReceived({ ...toReport(0, base), price: -1 } as unknown as Record<string, unknown>),
    ).toBeUndefined();
  });
});
