// Writes docs/report-signatures-vectors.json: the test vectors of docs/report-signatures.md,
// computed with the code that signs reports (api/execution-report.ts, api/report-canonical.ts,
// api/signing.ts). test/gateway/report-vectors.test.ts recomputes every value from the file's
// inputs and compares, so the document cannot drift from the code. Run after a deliberate
// change of the canonical form (and bump REPORT_CHAIN_VERSION):
//   npx tsx scripts/report-signature-vectors.ts

import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { toReport } from '../api/execution-report.js';
import { jsonStringifyExact } from '../api/json-exact.js';
import {
  CHAIN_GENESIS,
  HEAD_MESSAGE_PREFIX,
  REPORT_CHAIN_VERSION,
  canonicalReport,
  chainStep,
  headMessage,
} from '../api/report-canonical.js';
import { ed25519PrivateKeyFromSeed, ed25519RawPublicKey, ed25519Sign, hmacSign } from '../api/signing.js';
import { ExecType, LiquidityInd, OrdStatus, OrdType, Reason, Side, Tif, type ExecReport } from '../engine/types.js';

const HMAC_SECRET = 'demo-secret-1-change-me';
const SEED = createHash('sha256').update('matchbook report-signature test vectors').digest('base64');
const T0 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z in µs

/** Order 41 of account 1: BUY 10 @ 5000100 GTC, fills 2 @ 5000000 and 1 @ 5000100 at entry, then canceled. */
function events(): ExecReport[] {
  const base = {
    kind: 'exec' as const,
    orderId: 41,
    clOrdId: 'vec-1',
    account: 1,
    symbol: 'BTC-USD',
    side: Side.BUY,
    ordType: OrdType.LIMIT,
    tif: Tif.GTC,
    price: 5_000_100,
    stopPrice: 0,
    orderQty: 10,
    displayQty: 0,
  };
  return [
    {
      ...base,
      seq: 41,
      tsUs: T0,
      execId: 101,
      execType: ExecType.NEW,
      ordStatus: OrdStatus.NEW,
      cumQty: 0,
      leavesQty: 10,
      lastQty: 0,
      lastPx: 0,
      cumNotional: 0,
      reason: Reason.NONE,
      tradeId: 0,
      lastLiquidityInd: 0,
    },
    {
      ...base,
      seq: 41,
      tsUs: T0,
      execId: 103,
      execType: ExecType.TRADE,
      ordStatus: OrdStatus.PARTIALLY_FILLED,
      cumQty: 2,
      leavesQty: 8,
      lastQty: 2,
      lastPx: 5_000_000,
      cumNotional: 10_000_000,
      reason: Reason.NONE,
      tradeId: 7,
      lastLiquidityInd: LiquidityInd.REMOVED_LIQUIDITY,
    },
    {
      ...base,
      seq: 41,
      tsUs: T0,
      execId: 105,
      execType: ExecType.TRADE,
      ordStatus: OrdStatus.PARTIALLY_FILLED,
      cumQty: 3,
      leavesQty: 7,
      lastQty: 1,
      lastPx: 5_000_100,
      cumNotional: 15_000_100,
      reason: Reason.NONE,
      tradeId: 8,
      lastLiquidityInd: LiquidityInd.REMOVED_LIQUIDITY,
    },
    {
      ...base,
      seq: 42,
      tsUs: T0 + 1_000,
      execId: 106,
      execType: ExecType.CANCELED,
      ordStatus: OrdStatus.CANCELED,
      cumQty: 3,
      leavesQty: 0,
      lastQty: 0,
      lastPx: 0,
      cumNotional: 15_000_100,
      reason: Reason.CANCELED_BY_USER,
      tradeId: 0,
      lastLiquidityInd: 0,
    },
  ];
}

/**
 * A wide instrument's fill (maxPrice × maxQty ≥ 2^53, engine/notional.ts): order 77 of account 1
 * on BTC-USD with 8 quantity decimals, BUY 999.99999999 BTC (99_999_999_999) @ 999,999.99 USD
 * (99_999_999) filled at once: cum_notional 9999999899900000001, above 2^53 and held by no double.
 */
function wideFill(): ExecReport {
  return {
    kind: 'exec',
    orderId: 77,
    clOrdId: 'vec-wide',
    account: 1,
    symbol: 'BTC-USD',
    side: Side.BUY,
    ordType: OrdType.LIMIT,
    tif: Tif.GTC,
    price: 99_999_999,
    stopPrice: 0,
    orderQty: 99_999_999_999,
    displayQty: 0,
    seq: 77,
    tsUs: T0 + 2_000,
    execId: 201,
    execType: ExecType.TRADE,
    ordStatus: OrdStatus.FILLED,
    cumQty: 99_999_999_999,
    leavesQty: 0,
    lastQty: 99_999_999_999,
    lastPx: 99_999_999,
    cumNotional: 99_999_999_999n * 99_999_999n,
    reason: Reason.NONE,
    tradeId: 9,
    lastLiquidityInd: LiquidityInd.REMOVED_LIQUIDITY,
  };
}

const key = ed25519PrivateKeyFromSeed(SEED);
let hash = CHAIN_GENESIS;
const reports = events().map((e, k) => {
  const r = toReport(0, e);
  const canonical = canonicalReport(r);
  const prev = hash;
  hash = chainStep(prev, canonical);
  r.chain_seq = k + 1;
  r.chain_hash = hash;
  r.signature = hmacSign(HMAC_SECRET, canonical);
  return { report: r, canonical, previous_chain_hash: prev };
});
const headSeq = reports.length;
const head = {
  chain_seq: headSeq,
  chain_hash: hash,
  ts_ms: T0 / 1000 + 2,
  signature: ed25519Sign(key, headMessage(headSeq, hash)),
  start: true,
  version: REPORT_CHAIN_VERSION,
};
/** The wide report as the first report of a gateway run of its own (chain_seq 1, from the genesis). */
const wide = (() => {
  const r = toReport(0, wideFill());
  const canonical = canonicalReport(r);
  r.chain_seq = 1;
  r.chain_hash = chainStep(CHAIN_GENESIS, canonical);
  r.signature = hmacSign(HMAC_SECRET, canonical);
  return { report: r, canonical, previous_chain_hash: CHAIN_GENESIS };
})();
const vectors = {
  comment:
    'Test vectors of docs/report-signatures.md; test/gateway/report-vectors.test.ts checks them against the code.',
  version: REPORT_CHAIN_VERSION,
  genesis: CHAIN_GENESIS,
  head_message_prefix: HEAD_MESSAGE_PREFIX,
  hmac_secret: HMAC_SECRET,
  ed25519_seed_base64: SEED,
  ed25519_public_key_base64: ed25519RawPublicKey(key),
  reports,
  head: { line: head, message: headMessage(headSeq, hash) },
  wide_report: wide,
};
writeFileSync(
  new URL('../docs/report-signatures-vectors.json', import.meta.url),
  `${jsonStringifyExact(vectors, 2)}\n`,
);
