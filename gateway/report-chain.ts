// The gateway's hash chain over the execution reports it sends, and the exchange's Ed25519
// signatures of the chain head at intervals. An auditor holding the reports (each carries its
// chain_seq and chain_hash) and the signed heads can check any report without an Ed25519
// signature per message:
//
//   chain_hash(0) = 64 zero hex digits
//   chain_hash(n) = sha256_hex( chain_hash(n-1) + "\n" + canonical(report n) )
//   head line     = {"chain_seq":n,"chain_hash":…,"ts_ms":…,"signature": base64 Ed25519 over
//                   `matchbook-report-chain/2\n${n}\n${chain_hash(n)}`,"version":2}  (docs/report-signatures.md)
//
// Chain journal, for replay (audit): `<dataDir>/chain-journal.bin` names each chained report by
// where the engine emitted it, so that an auditor can regenerate the exact report from the log
// and re-hash the chain (format: api/report-journal.ts). Journal records are written and fdatasynced before any head that covers them (same writer).
//
// canonical(report) is the report's JSON with its fields in the ExecutionReport message's
// order, without chain_seq, chain_hash and signature; it, the chain step, the head message and
// the auditor's verifyChain are defined in api/report-canonical.ts. Heads are appended to
// `<dataDir>/chain-heads.jsonl` (fsynced: a head that was published must survive) every
// `everyReports` reports or `everyMs` ms, whichever comes first, and at stop. The chain starts
// anew at each gateway start (the first head line of a run has `"start":true`).

import { generateKeyPairSync, createPrivateKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionReportOut } from '../api/execution-report.js';
import { shardOfOrderId } from '../api/order-ids.js';
import {
  CHAIN_GENESIS,
  REPORT_CHAIN_VERSION,
  canonicalReport,
  chainStep,
  headMessage,
  type ChainHead,
} from '../api/report-canonical.js';
import { ed25519RawPublicKey, ed25519Sign } from '../api/signing.js';
import {
  JOURNAL_KIND_REPORT,
  JOURNAL_KIND_RUN_START,
  JOURNAL_RECORD_BYTES,
  journalRecord,
} from '../api/report-journal.js';

/** Loads the exchange's Ed25519 key (PKCS#8 PEM), creating it (mode 0600) and its public key file if missing. */
export function loadOrCreateSigningKey(file: string): KeyObject {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    fs.writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    fs.writeFileSync(`${file}.pub`, `${ed25519RawPublicKey(privateKey)}\n`);
  }
  return createPrivateKey(fs.readFileSync(file));
}

export class ReportChain {
  private seq = 0;
  private hash = CHAIN_GENESIS;
  private sinceHead = 0;
  private lastHeadSeq = -1;
  private timer: NodeJS.Timeout | undefined;
  private readonly fd: number | undefined;
  private started = false;
  /** Head lines signed but not yet written; written and fdatasynced off the main thread, in order, one write at a time. */
  private unwritten: string[] = [];
  private writing: Promise<void> | undefined;
  private writeError: Error | undefined;
  private readonly journalFd: number | undefined;
  /** Journal records not yet written (JOURNAL_RECORD_BYTES each), filled in append. */
  private journal = Buffer.alloc(JOURNAL_RECORD_BYTES * 1024);
  private journalBytes = 0;
  readonly heads: ChainHead[] = [];
  /** Heads kept in memory (the file keeps all). */
  static readonly HEADS_KEPT = 1024;

  constructor(
    private readonly key: KeyObject,
    private readonly opts: { dataDir?: string; everyReports: number; everyMs: number },
  ) {
    if (opts.dataDir !== undefined) {
      fs.mkdirSync(opts.dataDir, { recursive: true });
      this.fd = fs.openSync(path.join(opts.dataDir, 'chain-heads.jsonl'), 'a');
      this.journalFd = fs.openSync(path.join(opts.dataDir, 'chain-journal.bin'), 'a');
      this.journalAdd(0, JOURNAL_KIND_RUN_START, Date.now());
    }
    this.timer = setInterval(() => this.signHead(), opts.everyMs);
    this.timer.unref();
  }

  /**
   * Appends a report to the chain (in the order they are sent), filling in chain_seq and
   * chain_hash; `canonical` is canonicalReport(r) when the caller has it already.
   */
  append(r: ExecutionReportOut, canonical: string = canonicalReport(r)): void {
    this.seq++;
    this.hash = chainStep(this.hash, canonical);
    if (this.journalFd !== undefined) this.journalAdd(shardOfOrderId(r.order_id), JOURNAL_KIND_REPORT, r.exec_id);
    r.chain_seq = this.seq;
    r.chain_hash = this.hash;
    if (++this.sinceHead >= this.opts.everyReports) this.signHead();
  }

  get head(): { chain_seq: number; chain_hash: string } {
    return { chain_seq: this.seq, chain_hash: this.hash };
  }

  /** Signs and records the current head (if it moved since the last one). */
  signHead(): ChainHead | undefined {
    if (this.seq === this.lastHeadSeq) return undefined;
    this.sinceHead = 0;
    this.lastHeadSeq = this.seq;
    const head: ChainHead = {
      chain_seq: this.seq,
      chain_hash: this.hash,
      ts_ms: Date.now(),
      signature: ed25519Sign(this.key, headMessage(this.seq, this.hash)),
      version: REPORT_CHAIN_VERSION,
    };
    if (!this.started) {
      head.start = true;
      this.started = true;
    }
    this.heads.push(head);
    if (this.heads.length > ReportChain.HEADS_KEPT) this.heads.shift();
    if (this.fd !== undefined) {
      // Asynchronous: a synchronous fdatasync per head took a few % of the gateway's main thread
      // at 20k reports/s. Heads are written in signing order; close() waits for all of them.
      this.unwritten.push(`${JSON.stringify(head)}\n`);
      this.writing ??= this.writeHeads(this.fd);
    }
    return head;
  }

  private journalAdd(shard: number, kind: number, value: number): void {
    if (this.journalBytes + JOURNAL_RECORD_BYTES > this.journal.length) {
      const bigger = Buffer.alloc(this.journal.length * 2);
      this.journal.copy(bigger, 0, 0, this.journalBytes);
      this.journal = bigger;
    }
    journalRecord(this.journal, this.journalBytes, shard, kind, value);
    this.journalBytes += JOURNAL_RECORD_BYTES;
  }

  private async writeHeads(fd: number): Promise<void> {
    try {
      while (this.unwritten.length > 0) {
        // The journal records of every report these heads cover, durable first.
        const jfd = this.journalFd;
        if (jfd !== undefined && this.journalBytes > 0) {
          const records = Buffer.from(this.journal.subarray(0, this.journalBytes));
          this.journalBytes = 0;
          await new Promise<void>((resolve, reject) =>
            fs.write(jfd, records, (err) => (err ? reject(err) : resolve())),
          );
          await new Promise<void>((resolve, reject) => fs.fdatasync(jfd, (err) => (err ? reject(err) : resolve())));
        }
        const text = this.unwritten.join('');
        this.unwritten = [];
        await new Promise<void>((resolve, reject) => fs.write(fd, text, (err) => (err ? reject(err) : resolve())));
        await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
      }
    } catch (err) {
      // Not fatal to order entry (the reports are sent and chained either way): the heads of
      // this write are lost from the file, later heads are tried again, close() reports it.
      this.writeError = err as Error;
      this.unwritten = [];
    } finally {
      this.writing = undefined;
    }
  }

  /** Signs the last head, waits until every head is written and synced, closes the file. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.signHead();
    while (this.writing !== undefined) await this.writing;
    if (this.journalFd !== undefined && this.journalBytes > 0) {
      fs.writeSync(this.journalFd, this.journal.subarray(0, this.journalBytes));
      this.journalBytes = 0;
    }
    if (this.journalFd !== undefined) fs.closeSync(this.journalFd);
    if (this.fd !== undefined) fs.closeSync(this.fd);
    if (this.writeError !== undefined) throw new Error(`chain heads file: ${this.writeError.message}`);
  }
}
