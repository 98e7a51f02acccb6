// The report hash chain and its signed heads: an auditor verifies any prefix of the reports
// against a signed head; altering, dropping or reordering a report is caught at its chain_seq.
import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { canonicalReport, canonicalReportReference, verifyChain, type ChainHead } from '../../api/report-canonical.js';
import { JOURNAL_KIND_REPORT, JOURNAL_KIND_RUN_START, readJournal } from '../../api/report-journal.js';
import { ReportChain } from '../../gateway/report-chain.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';

const report = (k: number): ExecutionReportOut => ({
  exec_id: k,
  order_id: 100 + k,
  client_order_id: `c${k}`,
  orig_client_order_id: '',
  account: 1,
  symbol: 'BTC-USD',
  side: 'BUY',
  order_type: 'LIMIT',
  time_in_force: 'GTC',
  exec_type: 'NEW',
  order_status: 'NEW',
  price: 5_000_000 + k,
  stop_price: 0,
  order_qty: 10,
  cum_qty: 0,
  leaves_qty: 10,
  last_qty: 0,
  last_px: 0,
  cum_notional: 0,
  avg_px: '0.00000000',
  display_qty: 0,
  reason: '',
  trade_id: 0,
  last_liquidity_ind: '',
  seq: k,
  ts_us: 1_700_000_000_000_000 + k,
  chain_seq: 0,
  chain_hash: '',
  signature: '',
});

describe('report chain', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const build = async (n: number, everyReports = 1000) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-chain-'));
    const chain = new ReportChain(privateKey, { dataDir: dir, everyReports, everyMs: 60_000 });
    const reports = Array.from({ length: n }, (_, k) => report(k + 1));
    for (const r of reports) chain.append(r);
    const head = chain.signHead()!;
    await chain.close();
    return { reports, head, dir };
  };

  it('verifies against the signed head, and the heads file holds the signed heads', async () => {
    const { reports, head, dir } = await build(50, 20);
    expect(head.chain_seq).toBe(50);
    expect(verifyChain(reports, head, publicKey)).toEqual({ ok: true });
    const lines = readFileSync(path.join(dir, 'chain-heads.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ChainHead);
    expect(lines.map((h) => h.chain_seq)).toEqual([20, 40, 50]);
    expect(lines[0]!.start).toBe(true);
    // An intermediate head verifies the prefix it covers.
    expect(verifyChain(reports.slice(0, 20), lines[0]!, publicKey)).toEqual({ ok: true });
  });

  it('the journal names every chained report (shard, exec id) in chain order, after a run-start record', async () => {
    const { reports, dir } = await build(25, 10);
    const j = readJournal(readFileSync(path.join(dir, 'chain-journal.bin')));
    expect(j[0]).toMatchObject({ kind: JOURNAL_KIND_RUN_START, shard: 0 });
    expect(j[0]!.value).toBeGreaterThan(1_600_000_000_000);
    expect(j.slice(1)).toEqual(
      reports.map((r) => ({ shard: Math.floor(r.order_id / 2 ** 44), kind: JOURNAL_KIND_REPORT, value: r.exec_id })),
    );
  });

  it('names the first altered, missing or reordered report', async () => {
    const { reports, head } = await build(30);
    const altered = reports.map((r) => ({ ...r }));
    altered[11]!.last_qty = 999;
    expect(verifyChain(altered, head, publicKey)).toMatchObject({ ok: false, at: 12 });
    const dropped = reports.filter((_, k) => k !== 5);
    expect(verifyChain(dropped, head, publicKey)).toMatchObject({ ok: false, at: 6 });
    const swapped = [...reports];
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    expect(verifyChain(swapped, head, publicKey)).toMatchObject({ ok: false, at: 4 });
  });

  it('refuses a head signed by another key or with another hash', async () => {
    const { reports, head } = await build(5);
    const other = generateKeyPairSync('ed25519').publicKey;
    expect(verifyChain(reports, head, other)).toMatchObject({ ok: false });
    expect(verifyChain(reports, { ...head, chain_hash: 'f'.repeat(64) }, publicKey)).toMatchObject({ ok: false });
  });

  it('the canonical form written out field by field equals JSON.stringify of the fields in order', () => {
    const int = fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 });
    const str = fc.string({ unit: 'binary', maxLength: 40 });
    fc.assert(
      fc.property(int, int, str, str, str, str, int, int, (execId, price, clOrdId, orig, symbol, reason, seq, ts) => {
        const r: ExecutionReportOut = {
          ...report(1),
          exec_id: execId,
          price,
          client_order_id: clOrdId,
          orig_client_order_id: orig,
          symbol,
          reason,
          seq,
          ts_us: ts,
        };
        expect(canonicalReport(r)).toBe(canonicalReportReference(r));
      }),
      { numRuns: 2000 },
    );
  });
});
