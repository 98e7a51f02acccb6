// The test vectors of docs/report-signatures.md (docs/report-signatures-vectors.json) against
// the code that signs reports: canonical form, chain step, HMAC, head message and Ed25519 head
// signature, each recomputed from the file's inputs, and the document's field list equal to
// CANONICAL_FIELDS. If the code changes the canonical form, this fails until the vectors and the
// document are regenerated (scripts/report-signature-vectors.ts) and REPORT_CHAIN_VERSION bumped.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { jsonParseExact, jsonStringifyExact } from '../../api/json-exact.js';
import {
  CANONICAL_FIELDS,
  CHAIN_GENESIS,
  HEAD_MESSAGE_PREFIX,
  REPORT_CHAIN_VERSION,
  canonicalReport,
  canonicalReportReference,
  headMessage,
} from '../../api/report-canonical.js';
import { verifyReportLines } from '../../api/report-verify.js';
import {
  ed25519PrivateKeyFromSeed,
  ed25519PublicKeyFromRaw,
  ed25519RawPublicKey,
  ed25519Sign,
  ed25519Verify,
  hmacSign,
} from '../../api/signing.js';

interface Vectors {
  version: number;
  genesis: string;
  head_message_prefix: string;
  hmac_secret: string;
  ed25519_seed_base64: string;
  ed25519_public_key_base64: string;
  reports: { report: ExecutionReportOut; canonical: string; previous_chain_hash: string }[];
  head: { line: { chain_seq: number; chain_hash: string; signature: string; version: number }; message: string };
  /** A wide instrument's report (cum_notional above 2^53), the first of a run of its own. */
  wide_report: { report: ExecutionReportOut; canonical: string; previous_chain_hash: string };
}

// Exactly: the wide report's cum_notional (9999999899900000001) is no double.
const V = jsonParseExact(readFileSync('docs/report-signatures-vectors.json', 'utf8')) as Vectors;
const DOC = readFileSync('docs/report-signatures.md', 'utf8');
const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

describe('report signature test vectors (docs/report-signatures-vectors.json)', () => {
  it('name the current version, genesis and head message prefix', () => {
    expect(V.version).toBe(REPORT_CHAIN_VERSION);
    expect(V.genesis).toBe(CHAIN_GENESIS);
    expect(V.head_message_prefix).toBe(HEAD_MESSAGE_PREFIX);
  });

  it("the document's field list is CANONICAL_FIELDS, in order", () => {
    expect(DOC).toContain(CANONICAL_FIELDS.map((f) => `\`${f}\``).join(', '));
    expect(DOC).toContain(`matchbook-report-chain/${REPORT_CHAIN_VERSION}`);
  });

  it('canonical form, chain hash and HMAC of every report', () => {
    let prev = CHAIN_GENESIS;
    for (const v of V.reports) {
      expect(canonicalReport(v.report)).toBe(v.canonical);
      // The canonical form is the fields in CANONICAL_FIELDS order, as JSON (no whitespace).
      const o: Record<string, unknown> = {};
      for (const f of CANONICAL_FIELDS) o[f] = v.report[f];
      expect(JSON.stringify(o)).toBe(v.canonical);
      expect(v.previous_chain_hash).toBe(prev);
      expect(sha256Hex(`${prev}\n${v.canonical}`)).toBe(v.report.chain_hash);
      expect(hmacSign(V.hmac_secret, v.canonical)).toBe(v.report.signature);
      prev = v.report.chain_hash;
    }
    expect(V.head.line.chain_hash).toBe(prev);
  });

  it('head message and Ed25519 signature (deterministic) from the seed', () => {
    const key = ed25519PrivateKeyFromSeed(V.ed25519_seed_base64);
    expect(ed25519RawPublicKey(key)).toBe(V.ed25519_public_key_base64);
    const h = V.head.line;
    expect(headMessage(h.chain_seq, h.chain_hash)).toBe(V.head.message);
    expect(ed25519Sign(key, V.head.message)).toBe(h.signature);
    expect(ed25519Verify(ed25519PublicKeyFromRaw(V.ed25519_public_key_base64), V.head.message, h.signature)).toBe(true);
  });

  it('the wide report: cum_notional above 2^53 is the exact integer literal in the canonical form; its HMAC and link verify', () => {
    const w = V.wide_report;
    expect(w.report.cum_notional).toBe(9_999_999_899_900_000_001n);
    expect(canonicalReport(w.report)).toBe(w.canonical);
    expect(canonicalReportReference(w.report)).toBe(w.canonical);
    expect(w.canonical).toContain('"cum_notional":9999999899900000001,');
    expect(w.previous_chain_hash).toBe(CHAIN_GENESIS);
    expect(sha256Hex(`${CHAIN_GENESIS}\n${w.canonical}`)).toBe(w.report.chain_hash);
    expect(hmacSign(V.hmac_secret, w.canonical)).toBe(w.report.signature);
    // As REST writes it (an integer literal) and as protobuf's JSON mapping writes a uint64 (a string).
    const asRest = jsonStringifyExact(w.report);
    const asProtoJson = asRest.replace('"cum_notional":9999999899900000001', '"cum_notional":"9999999899900000001"');
    expect(asProtoJson).not.toBe(asRest);
    for (const line of [asRest, asProtoJson])
      expect(verifyReportLines([line], { hmacSecret: V.hmac_secret })).toMatchObject({
        ok: true,
        linked: 1,
        hmacChecked: 1,
      });
    // The value JSON.parse would give (rounded to a double) fails the HMAC and the link.
    const rounded = asRest.replace('9999999899900000001', String(Number(w.report.cum_notional)));
    expect(rounded).not.toBe(asRest);
    expect(verifyReportLines([rounded], { hmacSecret: V.hmac_secret }).failures.length).toBe(2);
    // Beyond a uint64 is not a report.
    const beyond = asRest.replace('9999999899900000001', '18446744073709551616');
    expect(verifyReportLines([beyond], {}).failures[0]!.why).toMatch(
      /field cum_notional is not a valid value: 18446744073709551616/,
    );
  });

  it('verify-reports accepts the vectors and names the first altered report', () => {
    const publicKey = ed25519PublicKeyFromRaw(V.ed25519_public_key_base64);
    const lines = [...V.reports.map((v) => JSON.stringify(v.report)), JSON.stringify(V.head.line)];
    const ok = verifyReportLines(lines, { publicKey, hmacSecret: V.hmac_secret });
    expect(ok).toMatchObject({ ok: true, reports: 4, heads: 1, linked: 4, hmacChecked: 4, headsVerified: 1 });
    expect(ok.coveredByHead).toBe(4);
    // Without the secret, an altered report is still caught by the chain link.
    const altered = [...lines];
    altered[2] = altered[2]!.replace('"cum_qty":3', '"cum_qty":4');
    expect(altered[2]).not.toBe(lines[2]);
    const bad = verifyReportLines(altered, { publicKey });
    expect(bad.ok).toBe(false);
    expect(bad.failures[0]).toMatchObject({ line: 3, exec_id: 105, chain_seq: 3 });
    expect(bad.coveredByHead).toBe(1); // only the last one is still linked to the signed head
  });
});
