// `npx matchbook verify-reports FILE [--heads FILE] [--public-key FILE|BASE64] [--secret S]`:
// checks execution reports a client received against the gateway's hash chain, its HMAC
// signatures and the exchange's signed chain heads (api/report-verify.ts; the rules:
// docs/report-signatures.md). Exit code 0: every check passed; 1: a report, head or line is
// bad (the first one is named); 2: bad usage or a file that cannot be read.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { KeyObject } from 'node:crypto';
import { verifyReportLines, type VerifyFailure, type VerifyOptions, type VerifyResult } from '../api/report-verify.js';
import { ed25519PublicKeyFromRaw } from '../api/signing.js';

export const VERIFY_REPORTS_USAGE =
  'verify-reports FILE [--heads chain-heads.jsonl] [--public-key exchange-ed25519.pem.pub|BASE64] [--secret S | MATCHBOOK_SECRET]   (docs/report-signatures.md)';

/** The exchange's public key: a file holding the raw key in base64 (`<signingKey>.pub`), or the base64 itself. */
function publicKeyOf(arg: string): VerifyOptions['publicKey'] {
  let text = arg;
  try {
    text = readFileSync(arg, 'utf8');
  } catch {
    // not a file: the key itself
  }
  return ed25519PublicKeyFromRaw(text.trim());
}

function summary(r: VerifyResult, opts: VerifyOptions): string {
  const parts = [
    `${r.reports} reports, ${r.heads} heads`,
    `${r.linked} chain links checked`,
    opts.hmacSecret === undefined ? 'HMAC not checked (no --secret)' : `${r.hmacChecked} HMAC signatures checked`,
    opts.publicKey === undefined
      ? 'heads not checked (no --public-key)'
      : `${r.headsVerified} head signatures verified`,
    `${r.coveredByHead} reports bound to a signed head`,
  ];
  return parts.join(', ');
}

/** What `verifyReports` checks: the lines as received (JSON reports and, optionally, chain heads). */
export interface VerifyReportsInput {
  /** The execution reports, one JSON object per line (as saved from replies or the user stream). */
  reportLines: readonly string[];
  /** The exchange's signed chain heads (`chain-heads.jsonl` lines), if any. */
  headLines?: readonly string[];
  /** The exchange's Ed25519 public key: its raw bytes in base64 (the `<signingKey>.pub` file's text) or a KeyObject. */
  publicKey?: string | KeyObject;
  /** The account's API secret: checks each report's HMAC signature. */
  hmacSecret?: string;
}

/**
 * The verifier of `matchbook verify-reports` as a function (package export
 * `matchbook/verify-reports`): the same checks, no files, no output. Lines of `headLines` are
 * numbered after the reports' (line reportLines.length + 1 is the first head). Throws only on a
 * public key that is not one.
 */
export function verifyReports(input: VerifyReportsInput): VerifyResult {
  const opts: VerifyOptions = {};
  if (input.publicKey !== undefined)
    opts.publicKey =
      typeof input.publicKey === 'string' ? ed25519PublicKeyFromRaw(input.publicKey.trim()) : input.publicKey;
  if (input.hmacSecret !== undefined && input.hmacSecret !== '') opts.hmacSecret = input.hmacSecret;
  return verifyReportLines([...input.reportLines, ...(input.headLines ?? [])], opts);
}

export type { VerifyFailure, VerifyOptions, VerifyResult };

export function runVerifyReports(argv: string[]): number {
  let parsed: ReturnType<typeof parse>;
  const parse = () =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        heads: { type: 'string' },
        'public-key': { type: 'string' },
        secret: { type: 'string', default: process.env.MATCHBOOK_SECRET },
      },
    });
  try {
    parsed = parse();
  } catch (err) {
    console.error(`${(err as Error).message}\nusage: matchbook ${VERIFY_REPORTS_USAGE}`);
    return 2;
  }
  const { values: a, positionals } = parsed;
  if (positionals.length !== 1) {
    console.error(`usage: matchbook ${VERIFY_REPORTS_USAGE}`);
    return 2;
  }
  const file = positionals[0]!;
  let reportLines: string[];
  let headLines: string[] = [];
  const opts: VerifyOptions = {};
  try {
    reportLines = readFileSync(file, 'utf8').split('\n');
    if (a.heads !== undefined) headLines = readFileSync(a.heads, 'utf8').split('\n');
    if (a['public-key'] !== undefined) opts.publicKey = publicKeyOf(a['public-key']);
  } catch (err) {
    console.error(`verify-reports: ${(err as Error).message}`);
    return 2;
  }
  if (a.secret !== undefined && a.secret !== '') opts.hmacSecret = a.secret;
  const r = verifyReportLines(reportLines.concat(headLines), opts);
  // Lines after the reports file's own are the heads file's.
  const where = (line: number) =>
    line <= reportLines.length ? `${file}:${line}` : `${a.heads ?? ''}:${line - reportLines.length}`;
  for (const n of r.notes) console.log(`NOTE ${n}`);
  for (const f of r.failures) {
    const ids =
      f.exec_id !== undefined
        ? ` (exec_id ${f.exec_id}, chain_seq ${f.chain_seq})`
        : f.chain_seq !== undefined
          ? ` (chain_seq ${f.chain_seq})`
          : '';
    console.log(`FAIL ${where(f.line)}${ids}: ${f.why}`);
  }
  console.log(`${r.ok ? 'OK' : 'FAILED'}: ${summary(r, opts)}`);
  if (!r.ok) {
    const f = r.failures[0]!;
    console.error(
      `verify-reports: first bad line ${where(f.line)}${f.exec_id !== undefined ? ` (exec_id ${f.exec_id})` : ''}: ${f.why}`,
    );
  }
  return r.ok ? 0 : 1;
}
