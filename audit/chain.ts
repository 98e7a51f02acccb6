// Checking the gateway's report chain against the log (gateway/report-chain.ts, api/report-journal.ts, gateway/README.md
// "Signed reports"): the journal names every chained report by (shard, exec_id), the heads file
// holds the exchange's signed chain heads. Replay regenerates each named report from its shard's
// log, re-hashes the chain, and compares with every signed head.
//
// Runs. The chain restarts from genesis at each gateway start: the journal marks it with a
// run-start record (value = start time, ms), the heads file with `"start": true` on the run's
// first head. A run that crashed before its first head has no heads; heads written before the
// journal existed have no journal run. Head runs are matched to journal runs in order by time:
// a head signed at t belongs to the earliest remaining journal run that started at or before t
// and was not yet followed by a run that started before t.
//
// Segments. Between two consecutive signed heads of a run lies a segment: given the earlier
// head's hash (signed), re-hashing the segment's reports must give the later head's hash. The
// first segment starts at genesis. Every segment verifying is the same as the whole chain
// verifying from genesis (induction over the heads), and segments are independent: one that
// cannot be regenerated (reports from before the replay's start) is skipped without losing the
// ones after it, and segments can be hashed on another thread while the replay goes on.
// Reports after a run's last head are regenerated (each must exist in the log) but no signature
// covers them.

import type { KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  CHAIN_GENESIS,
  HEAD_MESSAGE_PREFIX,
  REPORT_CHAIN_VERSION,
  canonicalReport,
  headMessage,
} from '../api/report-canonical.js';
import { JOURNAL_KIND_REPORT, JOURNAL_KIND_RUN_START, JOURNAL_RECORD_BYTES } from '../api/report-journal.js';
import { ed25519PublicKeyFromRaw, ed25519Verify } from '../api/signing.js';
import type { ExecutionReportOut } from '../api/execution-report.js';
import { jsonStringifyExact } from '../api/json-exact.js';
import { CANONICAL_TABLES, RECORD_TEMPLATE, RECORD_WRITER } from './canonical.js';
import { CHAIN_WORKER_ROLE, hashRecords, type HashReply, type HashRequest } from './chain-hash.mjs';
import { jsonParseExact } from '../api/json-exact.js';
import type { Findings } from './findings.js';

// ---------------------------------------------------------------------------------------------
// Journal
// ---------------------------------------------------------------------------------------------

export interface Journal {
  file: string;
  count: number;
  shard: Uint16Array;
  kind: Uint16Array;
  value: Float64Array;
  /** Bytes after the last whole record (a torn write at a crash). */
  tornBytes: number;
}

export function readJournalFile(file: string): Journal {
  const b = fs.readFileSync(file);
  const count = Math.floor(b.length / JOURNAL_RECORD_BYTES);
  const j: Journal = {
    file,
    count,
    shard: new Uint16Array(count),
    kind: new Uint16Array(count),
    value: new Float64Array(count),
    tornBytes: b.length - count * JOURNAL_RECORD_BYTES,
  };
  for (let k = 0, at = 0; k < count; k++, at += JOURNAL_RECORD_BYTES) {
    j.shard[k] = b.readUInt16BE(at);
    j.kind[k] = b.readUInt16BE(at + 2);
    j.value[k] = b.readUInt32BE(at + 4) * 2 ** 32 + b.readUInt32BE(at + 8);
  }
  return j;
}

export interface JournalRun {
  /** 1-based, in journal order. */
  run: number;
  startRecord: number;
  startTsMs: number;
  /** Journal record numbers of the run's reports: position n (chain_seq n) is reports[n - 1]. */
  reports: Int32Array;
}

export function journalRuns(j: Journal, findings: Findings): JournalRun[] {
  const name = path.basename(j.file);
  const runs: JournalRun[] = [];
  let current: { startRecord: number; startTsMs: number; reports: number[] } | undefined;
  const close = () => {
    if (current !== undefined)
      runs.push({
        run: runs.length + 1,
        startRecord: current.startRecord,
        startTsMs: current.startTsMs,
        reports: Int32Array.from(current.reports),
      });
  };
  for (let k = 0; k < j.count; k++) {
    const kind = j.kind[k]!;
    if (kind === JOURNAL_KIND_RUN_START) {
      close();
      current = { startRecord: k, startTsMs: j.value[k]!, reports: [] };
    } else if (kind === JOURNAL_KIND_REPORT) {
      if (current === undefined) {
        findings.fail(
          'journal',
          `record ${k} is a report before any run-start record (the journal's beginning is missing or altered)`,
          { file: name, offset: k * JOURNAL_RECORD_BYTES },
        );
        continue;
      }
      current.reports.push(k);
    } else {
      findings.fail('journal', `record ${k} has unknown kind ${kind} (shard ${j.shard[k]}, value ${j.value[k]})`, {
        file: name,
        offset: k * JOURNAL_RECORD_BYTES,
      });
    }
  }
  close();
  if (j.tornBytes > 0)
    findings.note(
      'journal',
      `${j.tornBytes} bytes after the last whole record (a write cut short by a crash); ignored`,
      { file: name },
    );
  return runs;
}

// ---------------------------------------------------------------------------------------------
// Heads
// ---------------------------------------------------------------------------------------------

export interface HeadLine {
  /** 1-based line number in chain-heads.jsonl. */
  line: number;
  chainSeq: number;
  chainHash: string;
  tsMs: number;
  signature: string;
  start: boolean;
}

export function readHeadsFile(file: string, findings: Findings): HeadLine[] {
  const name = path.basename(file);
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const heads: HeadLine[] = [];
  for (let k = 0; k < lines.length; k++) {
    const raw = lines[k]!;
    if (raw.trim() === '') continue;
    const lastLine = k === lines.length - 1; // no newline after it: the write may have been cut short
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      if (lastLine)
        findings.note('heads', 'last line is not whole JSON (a write cut short by a crash); ignored', {
          file: name,
          line: k + 1,
        });
      else findings.fail('heads', `not JSON: ${JSON.stringify(raw.slice(0, 80))}`, { file: name, line: k + 1 });
      continue;
    }
    const seq = o.chain_seq;
    if (
      typeof o !== 'object' ||
      o === null ||
      typeof seq !== 'number' ||
      !Number.isSafeInteger(seq) ||
      seq < 0 ||
      typeof o.chain_hash !== 'string' ||
      !/^[0-9a-f]{64}$/.test(o.chain_hash) ||
      typeof o.signature !== 'string' ||
      typeof o.ts_ms !== 'number'
    ) {
      findings.fail(
        'heads',
        `not a chain head (chain_seq, chain_hash, ts_ms, signature): ${JSON.stringify(raw.slice(0, 120))}`,
        { file: name, line: k + 1 },
      );
      continue;
    }
    if ((o.version ?? 1) !== REPORT_CHAIN_VERSION)
      findings.fail(
        'heads',
        `head of report chain version ${String(o.version ?? 1)}; this release checks version ${REPORT_CHAIN_VERSION} (docs/report-signatures.md): its signature cannot verify here`,
        { file: name, line: k + 1 },
      );
    heads.push({
      line: k + 1,
      chainSeq: seq,
      chainHash: o.chain_hash,
      tsMs: o.ts_ms,
      signature: o.signature,
      start: o.start === true,
    });
  }
  return heads;
}

/** Heads grouped into runs (a run begins at a head with start: true). */
export function headRuns(heads: HeadLine[], findings: Findings, file: string): HeadLine[][] {
  const runs: HeadLine[][] = [];
  for (const h of heads) {
    if (h.start || runs.length === 0) {
      if (!h.start)
        findings.fail(
          'heads',
          'the first head has no "start": true (the beginning of the file is missing or altered)',
          { file: path.basename(file), line: h.line, chainSeq: h.chainSeq },
        );
      runs.push([h]);
      continue;
    }
    const run = runs[runs.length - 1]!;
    const prev = run[run.length - 1]!;
    if (h.chainSeq <= prev.chainSeq) {
      findings.fail(
        'heads',
        `chain_seq ${h.chainSeq} does not follow the previous head's ${prev.chainSeq} (line ${prev.line}): heads reordered, duplicated or altered`,
        { file: path.basename(file), line: h.line, chainSeq: h.chainSeq },
      );
      continue;
    }
    run.push(h);
  }
  return runs;
}

/** Head runs → journal runs (see the file comment); undefined for a head run with no journal run. */
export function matchRuns(heads: HeadLine[][], runs: JournalRun[]): (JournalRun | undefined)[] {
  const out: (JournalRun | undefined)[] = [];
  let next = 0;
  for (const h of heads) {
    const t = h[0]!.tsMs;
    let found: number | undefined;
    for (let k = next; k < runs.length; k++) {
      if (runs[k]!.startTsMs > t) break;
      const following = runs[k + 1];
      if (following === undefined || following.startTsMs >= t) {
        found = k;
        break;
      }
    }
    out.push(found === undefined ? undefined : runs[found]);
    if (found !== undefined) next = found + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Regeneration (the replay side) and the plan
// ---------------------------------------------------------------------------------------------

/** Why a report cannot be regenerated: before-start / beyond-end / not-replayed are outside the replayed range (incomplete); missing / unreadable: the log lacks it (fail). */
export interface Unavailable {
  unavailable: 'before-start' | 'beyond-end' | 'not-replayed' | 'missing' | 'unreadable';
  detail: string;
}

/** Exec records (audit/canonical.ts) of one segment, in chain order: what a hashing thread gets. */
export class RecordBuffer {
  bytes: Uint8Array;
  view: DataView;
  length = 0;
  count = 0;
  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
  }
  append(src: Uint8Array, at: number, n: number): void {
    if (this.length + n > this.bytes.length) {
      const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
      bigger.set(this.bytes.subarray(0, this.length));
      this.bytes = bigger;
      this.view = new DataView(bigger.buffer);
    }
    this.bytes.set(src.subarray(at, at + n), this.length);
    this.length += n;
    this.count++;
  }
}

export interface ReportSource {
  /** Exec ids of `shard` at or below this precede the replay's start; undefined: the shard is not replayed. */
  startExecId(shard: number): number | undefined;
  /** Declares that (shard, execId) will be asked for once more (so replay keeps its record until then). */
  want(shard: number, execId: number): void;
  /** Appends the report's exec record to `out`, replaying the shard as far as needed; or says why it cannot. */
  regenerate(shard: number, execId: number, out: RecordBuffer): Unavailable | undefined;
}

interface Segment {
  run: JournalRun;
  /** Chain positions (from, to]. */
  from: number;
  to: number;
  startHash: string;
  /** The signed head at `to`; undefined for the unsigned tail after a run's last head. */
  head: HeadLine | undefined;
}

export interface ChainSummary {
  runs: number;
  runsWithHeads: number;
  heads: number;
  headsVerified: number;
  reportsInJournal: number;
  reportsRegenerated: number;
  /** Reports whose hash was compared with a signed head (directly or through the segment). */
  reportsCovered: number;
  reportsUnsigned: number;
  reportsNotChecked: number;
  segments: number;
  segmentsChecked: number;
  hashThreads: number;
  clientReportsCompared: number;
}

export interface ChainOptions {
  journalPath: string | undefined;
  headsPath: string | undefined;
  publicKeyPath: string | undefined;
  /** 0: hash on the calling thread; n: n worker threads (segments round-robin). */
  hashThreads: number;
  /** Reports as a client received them (JSON lines with chain_seq, chain_hash): each compared field by field. */
  reportsFile?: string;
}

/** Below this many reports to hash, worker start-up costs more than it saves. */
export const HASH_WORKER_MIN_REPORTS = 20_000;
/** Segment messages in flight to the hashing workers (bounds memory if hashing falls behind). */
const HASH_INFLIGHT_MAX = 8;
/** Hashing threads at most (by default one per core: canonical JSON + SHA-256 per report is most of a verifying replay's work). */
export const HASH_THREADS_MAX = 4;

export class ChainCheck {
  readonly summary: ChainSummary = {
    runs: 0,
    runsWithHeads: 0,
    heads: 0,
    headsVerified: 0,
    reportsInJournal: 0,
    reportsRegenerated: 0,
    reportsCovered: 0,
    reportsUnsigned: 0,
    reportsNotChecked: 0,
    segments: 0,
    segmentsChecked: 0,
    hashThreads: 0,
    clientReportsCompared: 0,
  };
  private journal: Journal | undefined;
  private runs: JournalRun[] = [];
  private segments: Segment[] = [];
  private checkable: boolean[] = [];
  private publicKey: KeyObject | undefined;
  private publicKeyDer: Buffer | undefined;
  /** chain_seq → client reports claiming that position (from --reports). */
  private clientReports = new Map<number, { line: number; report: ExecutionReportOut }[]>();
  /** chain_seq → regenerated (hash, canonical, run) at that position, for the client report comparison. */
  private regeneratedAt = new Map<number, { run: number; hash: string; canonical: string }[]>();

  constructor(
    private readonly opts: ChainOptions,
    private readonly findings: Findings,
  ) {}

  /** Reads the files, verifies the structure, plans the segments, and tells `source` what it will be asked for. */
  plan(source: ReportSource): void {
    const f = this.findings;
    const jname = this.opts.journalPath !== undefined ? path.basename(this.opts.journalPath) : 'chain-journal.bin';
    this.loadPublicKey();
    if (this.opts.journalPath !== undefined) {
      this.journal = readJournalFile(this.opts.journalPath);
      this.runs = journalRuns(this.journal, f);
    }
    const heads = this.opts.headsPath !== undefined ? readHeadsFile(this.opts.headsPath, f) : [];
    const hruns = this.opts.headsPath !== undefined ? headRuns(heads, f, this.opts.headsPath) : [];
    this.summary.runs = this.runs.length;
    this.summary.heads = heads.length;
    if (heads.length > 0 && this.publicKey === undefined && this.opts.publicKeyPath === undefined) {
      f.incomplete(
        'heads',
        `${heads.length} signed heads, but no public key (give --public-key <signingKey>.pub): signatures not checked`,
      );
    }
    if (this.journal === undefined && heads.length > 0) {
      f.incomplete(
        'journal',
        `no ${jname} next to the heads: the ${heads.length} signed heads cannot be compared with the log (a gateway older than the journal?)`,
      );
    }
    this.planSegments(hruns);
    this.summary.segments = this.segments.length;
    this.markCheckable(source, jname);
    if (this.opts.reportsFile !== undefined) this.readClientReports(this.opts.reportsFile);
    let planned = 0;
    for (let k = 0; k < this.segments.length; k++)
      if (this.checkable[k]) planned += this.segments[k]!.to - this.segments[k]!.from;
    this.summary.hashThreads =
      this.opts.reportsFile !== undefined
        ? 0
        : this.opts.hashThreads >= 0
          ? this.opts.hashThreads
          : planned >= HASH_WORKER_MIN_REPORTS
            ? Math.min(HASH_THREADS_MAX, availableParallelism())
            : 0;
  }

  /** The exchange's public key, if one is given (one that cannot be read is a failure). */
  private loadPublicKey(): void {
    if (this.opts.publicKeyPath === undefined) return;
    try {
      const raw = fs.readFileSync(this.opts.publicKeyPath, 'utf8').trim();
      this.publicKey = ed25519PublicKeyFromRaw(raw);
      this.publicKeyDer = this.publicKey.export({ format: 'der', type: 'spki' });
    } catch (err) {
      this.findings.fail('heads', `public key unusable: ${(err as Error).message}`, { file: this.opts.publicKeyPath });
    }
  }

  /** Head runs matched to journal runs, then each journal run cut into segments at its signed heads (see the file comment). */
  private planSegments(hruns: HeadLine[][]): void {
    const f = this.findings;
    const matched = matchRuns(hruns, this.runs);
    const headsOf = new Map<JournalRun, HeadLine[]>();
    for (let k = 0; k < hruns.length; k++) {
      const hr = hruns[k]!;
      const run = matched[k];
      if (run === undefined) {
        for (const h of hr) this.verifyHeadSignatureOnly(h, undefined);
        if (this.journal !== undefined) {
          f.incomplete(
            'heads',
            `heads of lines ${hr[0]!.line}..${hr[hr.length - 1]!.line} (chain_seq up to ${hr[hr.length - 1]!.chainSeq}, signed from ts_ms ${hr[0]!.tsMs}) belong to no run of the journal (written before it existed?): not compared with the log`,
            { line: hr[0]!.line },
          );
        }
        continue;
      }
      headsOf.set(run, hr);
    }
    for (const run of this.runs) {
      this.summary.reportsInJournal += run.reports.length;
      const hr = headsOf.get(run) ?? [];
      if (hr.length > 0) this.summary.runsWithHeads++;
      let from = 0;
      let startHash = CHAIN_GENESIS;
      for (const h of hr) {
        if (h.chainSeq > run.reports.length) {
          f.fail(
            'chain',
            `signed head at chain_seq ${h.chainSeq} is beyond the ${run.reports.length} reports the journal holds for this run: journal records lost or the head does not belong here`,
            { run: run.run, chainSeq: h.chainSeq, line: h.line, file: 'chain-heads.jsonl' },
          );
          continue;
        }
        this.segments.push({ run, from, to: h.chainSeq, startHash, head: h });
        from = h.chainSeq;
        startHash = h.chainHash;
      }
      if (from < run.reports.length)
        this.segments.push({ run, from, to: run.reports.length, startHash, head: undefined });
    }
  }

  /**
   * Which segments can be regenerated, known now for everything but the end of the replayed
   * range: `source` is told what it will be asked for, the rest is reported not checked.
   */
  private markCheckable(source: ReportSource, jname: string): void {
    const f = this.findings;
    const j = this.journal;
    // Consecutive segments of a run skipped for the same reason make one finding.
    let skipped:
      | { run: JournalRun; from: number; to: number; heads: number; why: string; kind: string; firstN: number }
      | undefined;
    const flushSkipped = () => {
      if (skipped === undefined) return;
      const heads =
        skipped.heads > 0 ? `; ${skipped.heads} signed head(s) in that range checked for their signature only` : '';
      f.incomplete(
        'chain',
        `reports chain_seq ${skipped.from + 1}..${skipped.to} not regenerated: ${skipped.why}${heads}`,
        { run: skipped.run.run, chainSeq: skipped.firstN, file: jname },
      );
      skipped = undefined;
    };
    for (const s of this.segments) {
      let why: string | undefined;
      let kind = '';
      if (j !== undefined) {
        for (let n = s.from + 1; n <= s.to; n++) {
          const rec = s.run.reports[n - 1]!;
          const shard = j.shard[rec]!;
          const start = source.startExecId(shard);
          const execId = j.value[rec]!;
          if (start === undefined || execId <= start) {
            kind = start === undefined ? `not-replayed ${shard}` : `before-start ${shard}`;
            why =
              start === undefined
                ? `shard ${shard} is not replayed`
                : `exec_id ${execId} of shard ${shard} precedes the replay's start (exec ids up to ${start} are in the starting snapshot)`;
            break;
          }
        }
      }
      this.checkable.push(why === undefined);
      if (why !== undefined) {
        this.summary.reportsNotChecked += s.to - s.from;
        if (skipped !== undefined && (skipped.run !== s.run || skipped.kind !== kind || skipped.to !== s.from))
          flushSkipped();
        if (skipped === undefined)
          skipped = { run: s.run, from: s.from, to: s.to, heads: 0, why, kind, firstN: s.from + 1 };
        skipped.to = s.to;
        if (s.head !== undefined) skipped.heads++;
        continue;
      }
      flushSkipped();
      for (let n = s.from + 1; n <= s.to; n++) {
        const rec = s.run.reports[n - 1]!;
        source.want(j!.shard[rec]!, j!.value[rec]!);
      }
    }
    flushSkipped();
  }

  /** Regenerates and hashes every checkable segment, in journal order (the replay advances as it is asked). */
  async run(source: ReportSource): Promise<void> {
    const threads = this.summary.hashThreads;
    const pool = threads > 0 ? new HashPool(threads, this.publicKeyDer) : undefined;
    try {
      for (let k = 0; k < this.segments.length; k++) {
        const s = this.segments[k]!;
        if (s.head !== undefined && s.to === s.from) {
          // A head at the run's position 0 (a run with no reports yet): its hash is genesis.
          this.checkHead(s, s.startHash, this.verifyHeadSignature(s.head));
          continue;
        }
        if (s.head !== undefined && !this.checkable[k]) {
          this.verifyHeadSignatureOnly(s.head!, s.run.run);
          continue;
        }
        if (!this.checkable[k]) continue;
        const records = this.regenerateSegment(s, source);
        if (records === undefined) {
          if (s.head !== undefined) this.verifyHeadSignatureOnly(s.head!, s.run.run);
          continue;
        }
        this.summary.reportsRegenerated += records.count;
        if (pool !== undefined) {
          await pool.whenBelow(HASH_INFLIGHT_MAX * threads);
          pool.submit(s.startHash, records, s.head, (end, sigOk) => this.segmentDone(s, end, sigOk));
        } else {
          const each =
            this.clientReports.size > 0
              ? (k: number, h: string, canonical: string) => {
                  if (this.clientReports.has(s.from + k + 1)) this.noteRegenerated(s, s.from + k + 1, h, canonical);
                }
              : undefined;
          const h = hashRecords(
            RECORD_WRITER,
            s.startHash,
            Buffer.from(records.bytes.buffer, 0, records.length),
            records.count,
            each,
          );
          this.segmentDone(s, h, s.head !== undefined ? this.verifyHeadSignature(s.head) : undefined);
        }
      }
      await pool?.drain();
    } finally {
      await pool?.close();
    }
    this.compareClientReports();
  }

  /** The segment's exec records in chain order, or undefined (with a finding) if one cannot be regenerated. */
  private regenerateSegment(s: Segment, source: ReportSource): RecordBuffer | undefined {
    const j = this.journal!;
    const out = new RecordBuffer(Math.max(1024, (s.to - s.from) * 200));
    for (let n = s.from + 1; n <= s.to; n++) {
      const rec = s.run.reports[n - 1]!;
      const shard = j.shard[rec]!;
      const execId = j.value[rec]!;
      const r = source.regenerate(shard, execId, out);
      if (r === undefined) continue;
      const where = {
        run: s.run.run,
        chainSeq: n,
        shard,
        file: path.basename(j.file),
        offset: rec * JOURNAL_RECORD_BYTES,
      };
      const rest = `reports chain_seq ${n}..${s.to} of this segment not checked`;
      if (r.unavailable === 'missing')
        this.findings.fail(
          'chain',
          `journal names exec_id ${execId} of shard ${shard}, which the log does not contain: ${r.detail}`,
          where,
        );
      else if (r.unavailable === 'unreadable')
        this.findings.incomplete(
          'chain',
          `exec_id ${execId} of shard ${shard} cannot be regenerated: ${r.detail}; ${rest}`,
          where,
        );
      else
        this.findings.incomplete(
          'chain',
          `exec_id ${execId} of shard ${shard} is outside the replayed range (${r.detail}); ${rest}`,
          where,
        );
      this.summary.reportsNotChecked += s.to - n + 1;
      this.summary.reportsRegenerated += n - s.from - 1;
      return undefined;
    }
    return out;
  }

  private segmentDone(s: Segment, endHash: string, sigOk: boolean | undefined): void {
    this.summary.segmentsChecked++;
    if (s.head === undefined) {
      this.summary.reportsUnsigned += s.to - s.from;
      return;
    }
    this.checkHead(s, endHash, sigOk!);
  }

  private checkHead(s: Segment, endHash: string, sigOk: boolean): void {
    const h = s.head!;
    const where = { run: s.run.run, chainSeq: h.chainSeq, line: h.line, file: 'chain-heads.jsonl' };
    if (sigOk) this.summary.headsVerified++;
    else if (this.publicKey !== undefined)
      this.findings.fail(
        'heads',
        `signature does not verify with the exchange's public key (chain_hash ${h.chainHash})`,
        where,
      );
    if (endHash === h.chainHash) {
      this.summary.reportsCovered += s.to - s.from;
      return;
    }
    const suspects = this.suspects(s);
    this.findings.fail(
      'chain',
      `the reports regenerated from the log for chain_seq ${s.from + 1}..${s.to} hash to ${endHash}, the signed head says ${h.chainHash}: ` +
        `a report in this range was altered, dropped, added or reordered (journal records ${s.run.reports[s.from]}..${s.run.reports[s.to - 1]})` +
        (suspects.length > 0 ? `; out of order in the journal: ${suspects.join(', ')}` : '') +
        ' — give the reports as received (--reports) to name the report',
      where,
    );
  }

  private verifyHeadSignature(h: HeadLine): boolean {
    return (
      this.publicKey !== undefined && ed25519Verify(this.publicKey, headMessage(h.chainSeq, h.chainHash), h.signature)
    );
  }

  private verifyHeadSignatureOnly(h: HeadLine, run: number | undefined): void {
    if (this.verifyHeadSignature(h)) this.summary.headsVerified++;
    else if (this.publicKey !== undefined)
      this.findings.fail(
        'heads',
        `signature does not verify with the exchange's public key (chain_hash ${h.chainHash})`,
        { ...(run !== undefined ? { run } : {}), chainSeq: h.chainSeq, line: h.line, file: 'chain-heads.jsonl' },
      );
  }

  /**
   * Positions whose exec id breaks the order of its neighbours from the same shard. The
   * gateway chains a shard's reports nearly in exec-id order, so an altered journal record
   * usually stands out this way (a hint, not proof).
   */
  private suspects(s: Segment): string[] {
    const j = this.journal!;
    const out: string[] = [];
    const ids = (n: number) => j.value[s.run.reports[n - 1]!]!;
    const shardOf = (n: number) => j.shard[s.run.reports[n - 1]!]!;
    for (let n = s.from + 1; n <= s.to && out.length < 5; n++) {
      const sh = shardOf(n);
      let p = n - 1;
      while (p > s.from && shardOf(p) !== sh) p--;
      let q = n + 1;
      while (q <= s.to && shardOf(q) !== sh) q++;
      if (p <= s.from || q > s.to) continue;
      const a = ids(p);
      const b = ids(n);
      const c = ids(q);
      if (a < c && !(a <= b && b <= c)) out.push(`chain_seq ${n} (exec_id ${b} of shard ${sh} between ${a} and ${c})`);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Reports as received by a client (--reports)
  // -------------------------------------------------------------------------------------------

  private readClientReports(file: string): void {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    for (let k = 0; k < lines.length; k++) {
      const raw = lines[k]!.trim();
      if (raw === '') continue;
      let r: ExecutionReportOut;
      try {
        // Exact: a wide instrument's cum_notional is an integer literal above 2^53 − 1.
        r = jsonParseExact(raw) as ExecutionReportOut;
      } catch {
        this.findings.fail('reports', 'not JSON', { file: path.basename(file), line: k + 1 });
        continue;
      }
      if (typeof r.chain_seq !== 'number' || typeof r.chain_hash !== 'string') {
        this.findings.fail('reports', 'no chain_seq/chain_hash: not a chained execution report', {
          file: path.basename(file),
          line: k + 1,
        });
        continue;
      }
      const list = this.clientReports.get(r.chain_seq) ?? [];
      list.push({ line: k + 1, report: r });
      this.clientReports.set(r.chain_seq, list);
    }
  }

  private noteRegenerated(s: Segment, n: number, hash: string, canonical: string): void {
    const list = this.regeneratedAt.get(n) ?? [];
    list.push({ run: s.run.run, hash, canonical });
    this.regeneratedAt.set(n, list);
  }

  private compareClientReports(): void {
    const file = this.opts.reportsFile === undefined ? undefined : path.basename(this.opts.reportsFile);
    for (const [n, list] of this.clientReports) {
      const regen = this.regeneratedAt.get(n) ?? [];
      for (const { line, report } of list) {
        this.summary.clientReportsCompared++;
        const where = { chainSeq: n, file, line };
        const canonical = canonicalReport(report);
        const same = regen.find((g) => g.hash === report.chain_hash);
        if (same !== undefined) {
          if (same.canonical === canonical) continue;
          this.findings.fail(
            'reports',
            `report differs from the one the log regenerates at this position: ${fieldDiff(canonical, same.canonical)}`,
            { ...where, run: same.run },
          );
          continue;
        }
        if (regen.length === 0) {
          this.findings.incomplete(
            'reports',
            `no regenerated report at chain_seq ${n} to compare with (outside the checked segments)`,
            where,
          );
          continue;
        }
        const byContent = regen.find((g) => g.canonical === canonical);
        if (byContent !== undefined)
          this.findings.fail(
            'reports',
            `content equals the log's report, but its chain_hash ${report.chain_hash} is not the chain's ${byContent.hash}`,
            { ...where, run: byContent.run },
          );
        else
          this.findings.fail(
            'reports',
            `chain_hash ${report.chain_hash} matches no regenerated chain at this position; against run ${regen[0]!.run}: ${fieldDiff(canonical, regen[0]!.canonical)}`,
            { ...where, run: regen[0]!.run },
          );
      }
    }
  }
}

/** "cum_qty: report 4, log 3; …" between two canonical reports. */
export function fieldDiff(reportCanonical: string, logCanonical: string): string {
  const a = jsonParseExact(reportCanonical) as Record<string, unknown>;
  const b = jsonParseExact(logCanonical) as Record<string, unknown>;
  const diffs: string[] = [];
  for (const k of Object.keys(b)) {
    const [x, y] = [jsonStringifyExact(a[k]), jsonStringifyExact(b[k])];
    if (x !== y) diffs.push(`${k}: report ${x}, log ${y}`);
  }
  return diffs.length > 0 ? diffs.join('; ') : 'same fields, different bytes';
}

// ---------------------------------------------------------------------------------------------
// Hashing workers (audit/chain-hash.mjs): a segment's records in (transferred, not copied), the
// chain hash at its end and the end head's signature check out.
// ---------------------------------------------------------------------------------------------

type SegmentCallback = (endHash: string, sigOk: boolean | undefined) => void;

class HashPool {
  private readonly workers: Worker[] = [];
  private readonly callbacks = new Map<number, SegmentCallback>();
  private nextId = 0;
  private next = 0;
  private waiters: (() => void)[] = [];
  private failure: Error | undefined;

  constructor(threads: number, keyDer: Buffer | undefined) {
    for (let k = 0; k < threads; k++) {
      const w = new Worker(new URL('./chain-hash.mjs', import.meta.url), {
        workerData: {
          role: CHAIN_WORKER_ROLE,
          tables: CANONICAL_TABLES,
          template: RECORD_TEMPLATE,
          headPrefix: HEAD_MESSAGE_PREFIX,
          ...(keyDer !== undefined ? { keyDer: new Uint8Array(keyDer) } : {}),
        },
      });
      w.on('message', (m: HashReply) => {
        const cb = this.callbacks.get(m.id)!;
        this.callbacks.delete(m.id);
        cb(m.endHash, m.sigOk);
        this.wake();
      });
      w.on('error', (err) => {
        this.failure = err;
        this.wake();
      });
      this.workers.push(w);
    }
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  submit(startHash: string, records: RecordBuffer, head: HeadLine | undefined, cb: SegmentCallback): void {
    if (this.failure !== undefined) throw this.failure;
    const id = this.nextId++;
    this.callbacks.set(id, cb);
    const w = this.workers[this.next++ % this.workers.length]!;
    const buffer = records.bytes.buffer as ArrayBuffer;
    const m: HashRequest = {
      id,
      startHash,
      records: buffer,
      length: records.length,
      count: records.count,
      ...(head !== undefined
        ? { head: { chainSeq: head.chainSeq, chainHash: head.chainHash, signature: head.signature } }
        : {}),
    };
    w.postMessage(m, [buffer]);
  }

  async whenBelow(n: number): Promise<void> {
    while (this.callbacks.size >= n) {
      if (this.failure !== undefined) throw this.failure;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.failure !== undefined) throw this.failure;
  }

  async drain(): Promise<void> {
    await this.whenBelow(1);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
