// CPU per execution report on the gateway's reply path, stage by stage, in one process: the
// engine's report → the API report with its decimal strings (toReport), its canonical form
// (canonicalReport, hashed and signed), and an OrderSessionResponse carrying it encoded for
// gRPC (OrderEntryCodec.encode). A microbenchmark of the code that dominates the gateway's CPU
// per order (bench-grpc.ts measures it end to end); it exists to catch a regression of one
// stage without the noise of a whole exchange. CPU time (process.cpuUsage), median of rounds.
//
//   npx tsx bench/gateway/bench-report-path.ts [--rounds 9]
// Last line: JSON {toReportNs, canonicalNs, encodeNs, perReportNs}.

import { parseArgs } from 'node:util';
import { toReport } from '../../api/execution-report.js';
import { canonicalReport } from '../../api/report-canonical.js';
import type { ExecReport } from '../../engine/types.js';
import { OrderEntryCodec } from '../../gateway/grpc-server.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '9' } } });
const ROUNDS = Number(values.rounds);
const REPORTS = 2_000;
const PASSES = 50;
const DECIMALS = { priceDecimals: 2, qtyDecimals: 4 };

/** A NEW report, or (every third) a full fill of a resting order, as a crossing stream produces. */
function execOf(i: number): ExecReport {
  const filled = i % 3 === 0;
  const px = 5_000_000 + (i % 100);
  return {
    kind: 'exec',
    seq: i,
    tsUs: 1_700_000_000_000_000 + i,
    execId: i * 3,
    orderId: i,
    clOrdId: `c-${i}`,
    account: 1 + (i % 4),
    symbol: 'BTC-USD',
    side: (1 + (i % 2)) as 1 | 2,
    ordType: 1,
    tif: 1,
    execType: filled ? 2 : 0,
    ordStatus: filled ? 2 : 0,
    price: px,
    stopPrice: 0,
    orderQty: 10,
    cumQty: filled ? 10 : 0,
    leavesQty: filled ? 0 : 10,
    lastQty: filled ? 10 : 0,
    lastPx: filled ? px : 0,
    cumNotional: filled ? 10 * px : 0,
    displayQty: 0,
    reason: 0,
    tradeId: filled ? i : 0,
    lastLiquidityInd: filled ? 2 : 0,
  } as ExecReport;
}

const execs = Array.from({ length: REPORTS }, (_, i) => execOf(i));
const reports = execs.map((e) => toReport(0, e, DECIMALS));
const codec = OrderEntryCodec.get();
const stages: Record<string, (i: number) => unknown> = {
  toReportNs: (i) => toReport(0, execs[i]!, DECIMALS),
  canonicalNs: (i) => canonicalReport(reports[i]!),
  encodeNs: (i) =>
    codec.encode('OrderSessionResponse', {
      request_id: i,
      outcomes: [{ result: { seq: i, log_index: i, shard: 0, reports: [reports[i]] } }],
    }),
};

function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1_000;
}

const samples: Record<string, number[]> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, stage] of Object.entries(stages)) {
    const start = cpuNs();
    for (let pass = 0; pass < PASSES; pass++) for (let i = 0; i < REPORTS; i++) stage(i);
    (samples[name] ??= []).push((cpuNs() - start) / (REPORTS * PASSES));
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const out: Record<string, number> = {};
for (const [name, xs] of Object.entries(samples)) out[name] = Math.round(median(xs));
out.perReportNs = out.toReportNs! + out.canonicalNs! + out.encodeNs!;
console.log(`reports ${REPORTS} × ${PASSES} passes × ${ROUNDS} rounds, CPU ns per report (median):`);
console.log(JSON.stringify(out));
