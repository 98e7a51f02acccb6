// The canonical form of an execution report and the hash chain over it, defined once: the
// gateway chains and signs what it sends with it (gateway/report-chain.ts), a client or an
// auditor checks received reports with it (verifyChain), and the audit regenerates the chain
// from the log with it (audit/canonical.ts, audit/chain.ts).
//
//   canonical(report) = the report's JSON with the CANONICAL_FIELDS only, in that order (the
//                       ExecutionReport message's order), so without chain_seq, chain_hash and
//                       signature
//   chain_hash(0)     = CHAIN_GENESIS, 64 zero hex digits
//   chain_hash(n)     = sha256_hex(chain_hash(n-1) + "\n" + canonical(report n))        chainStep
//   head message      = `matchbook-report-chain/2\n${n}\n${chain_hash(n)}`, signed by the
//                       exchange (Ed25519)                                              headMessage
//
// Version 2 (REPORT_CHAIN_VERSION) added time_in_force, avg_px and last_liquidity_ind to the
// canonical form; the version is in every signed head message (and on each head line), so a
// head of one version never verifies as another. The full specification, a worked example and
// test vectors: docs/report-signatures.md, docs/report-signatures-vectors.json.
//
// canonical() runs once per report on the gateway's main thread and once per regenerated report
// in a replay, so it is written as one template literal rather than JSON.stringify of an object
// built field by field (several times faster). There are two such writers: canonicalReport
// below, over report objects, and the audit's, over its binary exec records. Both are compiled
// from canonicalTemplate(), so the field list, its order and the punctuation exist only here;
// canonicalReportReference is the definition spelled out with JSON.stringify, for the tests.

import { createHash, type KeyObject } from 'node:crypto';
import type { ExecutionReportFields, ExecutionReportOut } from './execution-report.js';
import { jsonStringifyExact } from './json-exact.js';
import { ed25519Verify } from './signing.js';

export const CHAIN_GENESIS = '0'.repeat(64);

/** Version of the canonical form and chain: bumped whenever the canonical form's fields or the chain's rules change. */
export const REPORT_CHAIN_VERSION = 2;
/** What every signed head message starts with (it names the version). */
export const HEAD_MESSAGE_PREFIX = `matchbook-report-chain/${REPORT_CHAIN_VERSION}\n`;

/** Field order of the canonical form (ExecutionReport in proto/exchange/v1/order_entry.proto). */
export const CANONICAL_FIELDS = [
  'exec_id',
  'order_id',
  'client_order_id',
  'orig_client_order_id',
  'account',
  'symbol',
  'side',
  'order_type',
  'time_in_force',
  'exec_type',
  'order_status',
  'price',
  'stop_price',
  'order_qty',
  'cum_qty',
  'leaves_qty',
  'last_qty',
  'last_px',
  'cum_notional',
  'avg_px',
  'display_qty',
  'reason',
  'trade_id',
  'last_liquidity_ind',
  'seq',
  'ts_us',
] as const satisfies readonly (keyof ExecutionReportFields<string>)[];
export type CanonicalField = (typeof CANONICAL_FIELDS)[number];

/** The fields that are strings (JSON strings in the canonical form); the others are numbers. */
export const CANONICAL_STRING_FIELDS: ReadonlySet<CanonicalField> = new Set<CanonicalField>([
  'client_order_id',
  'orig_client_order_id',
  'symbol',
  'side',
  'order_type',
  'exec_type',
  'order_status',
  'time_in_force',
  'avg_px',
  'reason',
  'last_liquidity_ind',
]);

/**
 * JavaScript source of the template literal that writes the canonical form: `json(field)` is
 * the expression of the field's JSON text (a number, which the template writes as
 * Number#toString does, the same text as JSON for any finite number; a bigint — a wide
 * instrument's cum_notional — which it writes as its decimal digits, the exact JSON integer;
 * or a string already in JSON quotes), and `before`, if given, the expression of text to write before it (the audit's
 * hashing writes the previous hash and the newline in the same string).
 */
export function canonicalTemplate(json: (field: CanonicalField) => string, before?: string): string {
  const fields = CANONICAL_FIELDS.map((f) => `"${f}":\${${json(f)}}`).join(',');
  return `\`${before === undefined ? '' : `\${${before}}`}{${fields}}\``;
}

/**
 * canonical(r): the template compiled over a report object (string fields through
 * JSON.stringify for escaping). The same bytes as canonicalReportReference(r), at a fraction of
 * its cost (test/gateway/report-chain.test.ts compares them).
 */
export const canonicalReport = new Function(
  `return function canonicalReport(r) { return ${canonicalTemplate((f) => (CANONICAL_STRING_FIELDS.has(f) ? `JSON.stringify(r.${f})` : `r.${f}`))}; };`,
)() as (r: ExecutionReportFields<string>) => string;

/**
 * The canonical form by definition (slow; tests compare canonicalReport against it): the JSON of
 * the fields in order, a bigint cum_notional as its exact integer literal.
 */
export function canonicalReportReference(r: ExecutionReportFields<string>): string {
  const o: Record<string, unknown> = {};
  for (const f of CANONICAL_FIELDS) o[f] = r[f];
  return jsonStringifyExact(o);
}

export function chainStep(prevHash: string, canonical: string): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonical).digest('hex');
}

export function headMessage(seq: number, hash: string): string {
  return `${HEAD_MESSAGE_PREFIX}${seq}\n${hash}`;
}

/** A signed chain head (a line of the gateway's chain-heads.jsonl). */
export interface ChainHead {
  chain_seq: number;
  chain_hash: string;
  ts_ms: number;
  signature: string;
  start?: boolean;
  /** REPORT_CHAIN_VERSION of the gateway that signed it (absent: version 1, before it was written). */
  version?: number;
}

/** Auditor's check: the reports (in chain order, from chain_seq 1) hash to the signed head. */
export function verifyChain(
  reports: ExecutionReportOut[],
  head: ChainHead,
  publicKey: KeyObject,
): { ok: true } | { ok: false; at: number; why: string } {
  if (!ed25519Verify(publicKey, headMessage(head.chain_seq, head.chain_hash), head.signature))
    return { ok: false, at: head.chain_seq, why: 'head signature does not verify' };
  let hash = CHAIN_GENESIS;
  for (let k = 0; k < reports.length; k++) {
    const r = reports[k]!;
    if (r.chain_seq !== k + 1) return { ok: false, at: k + 1, why: `report ${k} has chain_seq ${r.chain_seq}` };
    hash = chainStep(hash, canonicalReport(r));
    if (hash !== r.chain_hash)
      return { ok: false, at: r.chain_seq, why: 'chain_hash differs (report altered or missing before it)' };
    if (r.chain_seq === head.chain_seq)
      return hash === head.chain_hash ? { ok: true } : { ok: false, at: r.chain_seq, why: 'head hash differs' };
  }
  return { ok: false, at: reports.length, why: `reports end before the head's chain_seq ${head.chain_seq}` };
}
