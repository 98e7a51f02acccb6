// Helpers of the audit tests: temp copies of recorded data, precise tampering of WAL records,
// journal records and head lines, and running the CLI functions with their output captured.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { vi } from 'vitest';
import { toReport, type ExecutionReportOut } from '../../api/execution-report.js';
import { avgPx } from '../../engine/avg-px.js';
import type { ExecReport } from '../../engine/types.js';
import { RECORD_HEADER_BYTES, decodeRecord } from '../../replicator/wal/record.js';
import { listSegments } from '../../replicator/wal/segment.js';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mb-audit-${prefix}-`));
}

export function copyTree(from: string, prefix: string): string {
  const to = tempDir(prefix);
  fs.cpSync(from, to, { recursive: true });
  return to;
}

export interface RecordPos {
  file: string;
  index: number;
  offset: number;
  length: number;
}

/** Every record of a replica's log: segment file, entry index, byte offset, length. */
export function walRecords(replicaDir: string): RecordPos[] {
  const out: RecordPos[] = [];
  for (const s of listSegments(replicaDir)) {
    const file = path.join(replicaDir, s.name);
    const buf = fs.readFileSync(file);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let at = 0;
    while (at < buf.length) {
      const r = decodeRecord(buf, view, at, buf.length);
      if (r.kind !== 'entry') throw new Error(`${file} @${at}: ${r.kind}`);
      out.push({ file, index: r.index, offset: at, length: r.end - at });
      at = r.end;
    }
  }
  return out;
}

/** Flips one byte of the entry's data (inside the CRC-covered payload). */
export function flipByteInRecord(r: RecordPos, within = RECORD_HEADER_BYTES + 20): void {
  const fd = fs.openSync(r.file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, r.offset + Math.min(within, r.length - 1));
  b[0] = b[0]! ^ 0x40;
  fs.writeSync(fd, b, 0, 1, r.offset + Math.min(within, r.length - 1));
  fs.closeSync(fd);
}

/** Removes a whole record from its segment. */
export function dropRecord(r: RecordPos): void {
  const buf = fs.readFileSync(r.file);
  fs.writeFileSync(r.file, Buffer.concat([buf.subarray(0, r.offset), buf.subarray(r.offset + r.length)]));
}

/** Rewrites the exec_id (value) of journal record k. */
export function setJournalValue(journal: string, k: number, value: number): void {
  const buf = fs.readFileSync(journal);
  buf.writeUInt32BE(Math.floor(value / 2 ** 32), k * 12 + 4);
  buf.writeUInt32BE(value % 2 ** 32, k * 12 + 8);
  fs.writeFileSync(journal, buf);
}

export function readJournalValues(journal: string): { shard: number; kind: number; value: number }[] {
  const buf = fs.readFileSync(journal);
  const out = [];
  for (let at = 0; at + 12 <= buf.length; at += 12)
    out.push({
      shard: buf.readUInt16BE(at),
      kind: buf.readUInt16BE(at + 2),
      value: buf.readUInt32BE(at + 4) * 2 ** 32 + buf.readUInt32BE(at + 8),
    });
  return out;
}

/** Runs a CLI function with console output captured. */
export async function runCli(
  fn: (argv: string[]) => Promise<number>,
  argv: string[],
): Promise<{ code: number; out: string; err: string; last: Record<string, unknown> | undefined }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  try {
    const code = await fn(argv);
    const lastLine = out[out.length - 1];
    let last: Record<string, unknown> | undefined;
    try {
      last = lastLine === undefined ? undefined : (JSON.parse(lastLine) as Record<string, unknown>);
    } catch {
      last = undefined;
    }
    return { code, out: out.join('\n'), err: err.join('\n'), last };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/**
 * The report the gateway sends for exec `e`, with cum_notional the exact value `exact` (a
 * bigint above 2^53 − 1, a number below) and avg_px from it. toReport carries cum_notional as a
 * number (a bigint throws until the gateway's reports are exact), so a wide one is put in after;
 * canonicalReport of it writes `${r.cum_notional}`, a bigint's digits.
 */
export function reportWithNotional(shard: number, e: ExecReport, exact: bigint): ExecutionReportOut {
  if (exact <= BigInt(Number.MAX_SAFE_INTEGER)) return toReport(shard, { ...e, cumNotional: Number(exact) });
  const r = toReport(shard, { ...e, cumNotional: 0 }) as unknown as Record<string, unknown>;
  r.cum_notional = exact;
  r.avg_px = avgPx(exact, e.cumQty);
  return r as unknown as ExecutionReportOut;
}
