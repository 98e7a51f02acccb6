// What a client can check of the execution reports it received, from the documentation alone
// (docs/report-signatures.md): the checker behind `npx matchbook verify-reports FILE`. Pure:
// the CLI (cli/verify-reports.ts) reads the files and prints the result.
//
// Input: JSON lines, each either an execution report as received (REST's JSON, or a gRPC
// report in protobuf's JSON mapping: enum names with or without their prefix, uint64 as numbers
// or decimal strings, fields at their default omitted), or a signed chain head (a line of the
// gateway's chain-heads.jsonl: chain_seq, chain_hash, ts_ms, signature, no exec_id). Reports in
// the order received. The chain is one per gateway run, shared by every account (the scope of
// chain_seq), so a client's own reports are a subsequence of it:
//   - link: a report whose chain_seq is its predecessor's + 1 must have chain_hash =
//     sha256_hex(predecessor's chain_hash + "\n" + canonical(report)); one with chain_seq 1
//     starts a run from CHAIN_GENESIS. A chain_seq that does not increase starts a new run
//     (the gateway restarted). Across a gap (other accounts' reports) there is nothing to link.
//   - signature: with the API secret, each report's HMAC-SHA256 over canonical(report) (every
//     report, gaps or not; Ed25519 API keys get an empty signature and no HMAC).
//   - heads: with the exchange's public key, each head's Ed25519 signature over its message;
//     a head whose (chain_seq, chain_hash) equals a report's binds that report's chain_hash to the
//     exchange's key, and with it the content of that report and of every report before it back
//     to the first link that could not be checked (a gap) or failed.

import type { KeyObject } from 'node:crypto';
import type { ExecutionReportOut } from './execution-report.js';
import { jsonParseExact, jsonStringifyExact } from './json-exact.js';
import { notionalOfBigint } from '../engine/notional.js';
import { NOTIONAL_MAX } from './limits.js';
import {
  CANONICAL_FIELDS,
  CANONICAL_STRING_FIELDS,
  CHAIN_GENESIS,
  REPORT_CHAIN_VERSION,
  canonicalReport,
  chainStep,
  headMessage,
  type CanonicalField,
} from './report-canonical.js';
import { ed25519Verify, hmacVerify } from './signing.js';

/** Longest input line accepted (a report is well below 4 KiB; the longest client order id is 64 characters). */
export const VERIFY_LINE_CHARS_MAX = 64 * 1024;

/** proto3 enum prefixes of the report's enum fields (order_entry.proto), removed when present. */
const ENUM_PREFIXES: Partial<Record<CanonicalField, string>> = {
  side: 'SIDE_',
  order_type: 'ORDER_TYPE_',
  time_in_force: 'TIME_IN_FORCE_',
  exec_type: 'EXEC_TYPE_',
  order_status: 'ORDER_STATUS_',
  last_liquidity_ind: 'LAST_LIQUIDITY_IND_',
};

export interface VerifyOptions {
  /** The account's API secret: checks each report's HMAC signature. */
  hmacSecret?: string;
  /** The exchange's Ed25519 public key: checks the heads' signatures. */
  publicKey?: KeyObject;
}

export interface VerifyFailure {
  /** 1-based line of the input. */
  line: number;
  exec_id?: number;
  chain_seq?: number;
  why: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Every failure, in input order (failures[0] is the first bad line). */
  failures: VerifyFailure[];
  notes: string[];
  reports: number;
  heads: number;
  /** Reports whose chain_hash was recomputed from their predecessor (or genesis). */
  linked: number;
  /** Reports whose HMAC signature was checked. */
  hmacChecked: number;
  headsVerified: number;
  /** Reports bound to a signed head (equal to one, or linked to one that is). */
  coveredByHead: number;
}

interface ParsedReport {
  line: number;
  report: ExecutionReportOut;
}

interface ParsedHead {
  line: number;
  chain_seq: number;
  chain_hash: string;
  signature: string;
  version: number;
}

type Parsed = { kind: 'report'; v: ParsedReport } | { kind: 'head'; v: ParsedHead } | { kind: 'bad'; why: string };

/**
 * cum_notional as the canonical form needs it: a number up to 2^53 − 1, a bigint above (the
 * gateway's one rule, so both write the same digits), up to NOTIONAL_MAX; from a JSON integer
 * (parsed exactly) or protobuf's JSON mapping of a uint64 (a decimal string). Undefined if it
 * cannot be one.
 */
function notionalValue(v: unknown): number | bigint | undefined {
  let n: bigint;
  if (typeof v === 'bigint') n = v;
  else if (typeof v === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(v)) n = BigInt(v);
  else if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
  else return undefined;
  if (n < 0n || n > NOTIONAL_MAX) return undefined;
  return notionalOfBigint(n);
}

/** A report field as the canonical form needs it, from REST's JSON or protobuf's JSON mapping; undefined if it cannot be one. */
function canonicalValue(f: CanonicalField, v: unknown): string | number | bigint | undefined {
  if (CANONICAL_STRING_FIELDS.has(f)) {
    if (v === undefined) return '';
    if (typeof v !== 'string') return undefined;
    const prefix = ENUM_PREFIXES[f];
    if (prefix === undefined) return v;
    if (v === 'UNSPECIFIED' || v.endsWith('_UNSPECIFIED')) return ''; // the zero value, with or without prefix
    return v.startsWith(prefix) ? v.slice(prefix.length) : v;
  }
  if (v === undefined) return 0;
  if (f === 'cum_notional') return notionalValue(v);
  const n = typeof v === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** The canonical fields of a received report (any form: above), or why one is not a valid value. */
function canonicalFieldsOf(r: Record<string, unknown>): Record<string, unknown> | string {
  const report: Record<string, unknown> = {};
  for (const f of CANONICAL_FIELDS) {
    const v = canonicalValue(f, r[f]);
    if (v === undefined) return `field ${f} is not a valid value: ${jsonStringifyExact(r[f])}`;
    report[f] = v;
  }
  return report;
}

/**
 * The canonical form (what the chain hashes and the HMAC signs) of a report as a client received
 * it: REST's JSON, protobuf's JSON mapping, or the project's gRPC client's decoding, where an
 * enum at its zero value is "UNSPECIFIED" (the canonical form has ""). Undefined if a field is
 * not a valid value.
 */
export function canonicalOfReceived(r: Record<string, unknown>): string | undefined {
  const fields = canonicalFieldsOf(r);
  return typeof fields === 'string' ? undefined : canonicalReport(fields as unknown as ExecutionReportOut);
}

function parseLine(text: string): Parsed {
  if (text.length > VERIFY_LINE_CHARS_MAX)
    return { kind: 'bad', why: `longer than ${VERIFY_LINE_CHARS_MAX} characters` };
  let o: unknown;
  try {
    // Exactly: a wide instrument's cum_notional above 2^53 rounded would not verify.
    o = jsonParseExact(text);
  } catch {
    return { kind: 'bad', why: 'not JSON' };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { kind: 'bad', why: 'not a JSON object' };
  const r = o as Record<string, unknown>;
  const seq = canonicalValue('seq', r.chain_seq);
  // A head may be at 0 (signed before the first report: the genesis); a report is at 1 or later.
  if (typeof seq !== 'number' || (seq < 1 && r.exec_id !== undefined))
    return { kind: 'bad', why: 'chain_seq is not a positive integer' };
  if (typeof r.chain_hash !== 'string' || !/^[0-9a-f]{64}$/.test(r.chain_hash))
    return { kind: 'bad', why: 'chain_hash is not 64 lowercase hex digits' };
  if (r.exec_id === undefined) {
    if (typeof r.signature !== 'string') return { kind: 'bad', why: 'a chain head without a signature' };
    const version = typeof r.version === 'number' ? r.version : 1;
    return { kind: 'head', v: { line: 0, chain_seq: seq, chain_hash: r.chain_hash, signature: r.signature, version } };
  }
  const fields = canonicalFieldsOf(r);
  if (typeof fields === 'string') return { kind: 'bad', why: fields };
  const report: Record<string, unknown> = fields;
  report.chain_seq = seq;
  report.chain_hash = r.chain_hash;
  report.signature = typeof r.signature === 'string' ? r.signature : '';
  return { kind: 'report', v: { line: 0, report: report as unknown as ExecutionReportOut } };
}

function failureOf(p: ParsedReport, why: string): VerifyFailure {
  return { line: p.line, exec_id: p.report.exec_id, chain_seq: p.report.chain_seq, why };
}

/**
 * Links, HMACs; returns, per report, whether its chain_hash was recomputed and matched (its
 * content is then bound to its chain_hash, hence to a signed head equal to it or after it).
 */
function checkReports(reports: ParsedReport[], opts: VerifyOptions, out: VerifyResult): boolean[] {
  const linkOk: boolean[] = [];
  let prev: ParsedReport | undefined;
  for (const p of reports) {
    const r = p.report;
    const canonical = canonicalReport(r);
    let before: string | undefined;
    if (r.chain_seq === 1) before = CHAIN_GENESIS;
    else if (prev !== undefined && r.chain_seq === prev.report.chain_seq + 1) before = prev.report.chain_hash;
    if (prev !== undefined && r.chain_seq <= prev.report.chain_seq)
      out.notes.push(`line ${p.line}: chain_seq ${r.chain_seq} after ${prev.report.chain_seq}: a new gateway run`);
    const ok = before !== undefined && chainStep(before, canonical) === r.chain_hash;
    linkOk.push(ok);
    if (before !== undefined) {
      out.linked++;
      if (!ok)
        out.failures.push(
          failureOf(
            p,
            r.chain_seq === 1
              ? 'chain_hash is not sha256(genesis + "\\n" + canonical report): the report was altered'
              : `chain_hash does not follow from the report before it (line ${prev!.line}): this report was altered, or the one before it`,
          ),
        );
    }
    if (opts.hmacSecret !== undefined && r.signature !== '') {
      out.hmacChecked++;
      if (!hmacVerify(opts.hmacSecret, canonical, r.signature))
        out.failures.push(
          failureOf(p, 'signature is not the HMAC-SHA256 of the canonical report under the API secret'),
        );
    }
    prev = p;
  }
  return linkOk;
}

/** Head signatures; marks the reports each signed head binds. */
function checkHeads(
  heads: ParsedHead[],
  reports: ParsedReport[],
  linkOk: boolean[],
  opts: VerifyOptions,
  out: VerifyResult,
): void {
  const covered = new Array<boolean>(reports.length).fill(false);
  for (const h of heads) {
    if (h.version !== REPORT_CHAIN_VERSION) {
      out.failures.push({
        line: h.line,
        chain_seq: h.chain_seq,
        why: `head of report chain version ${h.version}; this tool checks version ${REPORT_CHAIN_VERSION}`,
      });
      continue;
    }
    if (opts.publicKey === undefined) continue;
    if (!ed25519Verify(opts.publicKey, headMessage(h.chain_seq, h.chain_hash), h.signature)) {
      out.failures.push({
        line: h.line,
        chain_seq: h.chain_seq,
        why: "head signature does not verify with the exchange's public key",
      });
      continue;
    }
    out.headsVerified++;
    const at = reports.findIndex((p) => p.report.chain_seq === h.chain_seq && p.report.chain_hash === h.chain_hash);
    if (at < 0) continue;
    // The head binds chain_hash(at); each verified link binds that report's content and its predecessor's hash.
    for (let k = at; k >= 0 && linkOk[k]; k--) {
      covered[k] = true;
      if (reports[k]!.report.chain_seq === 1) break;
    }
  }
  out.coveredByHead = covered.filter(Boolean).length;
}

/** Checks the lines of a verify-reports input (see the file comment). */
export function verifyReportLines(lines: readonly string[], opts: VerifyOptions = {}): VerifyResult {
  const out: VerifyResult = {
    ok: false,
    failures: [],
    notes: [],
    reports: 0,
    heads: 0,
    linked: 0,
    hmacChecked: 0,
    headsVerified: 0,
    coveredByHead: 0,
  };
  const reports: ParsedReport[] = [];
  const heads: ParsedHead[] = [];
  lines.forEach((text, k) => {
    if (text.trim() === '') return;
    const p = parseLine(text);
    if (p.kind === 'bad') out.failures.push({ line: k + 1, why: p.why });
    else if (p.kind === 'report') reports.push({ ...p.v, line: k + 1 });
    else heads.push({ ...p.v, line: k + 1 });
  });
  out.reports = reports.length;
  out.heads = heads.length;
  const linkOk = checkReports(reports, opts, out);
  checkHeads(heads, reports, linkOk, opts, out);
  out.failures.sort((a, b) => a.line - b.line);
  out.ok = out.failures.length === 0;
  return out;
}
