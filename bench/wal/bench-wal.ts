// npx tsx bench/wal/bench-wal.ts [-- --seconds S] [--entry-bytes N] [--batches 1,10,100,1000] [--dir D]
//
// Write-ahead log throughput with group commit: for each batch size B, a fresh WAL in a temp
// directory (default segment size), then a loop of append(B entries of N bytes) + sync()
// (one fdatasync per batch), one batch at a time, for S seconds after a warm-up.
//   entries/s        all entries / wall time of the timed loop (append + sync)
//   fdatasync p50/99 the fdatasync call itself, timed inside a WalFs hook around nodeFs.fdatasync
//   sync p50/99      sync() as the caller sees it (fdatasync + sync-mark pwrite + promise plumbing)
// Figures depend entirely on the disk and file system under the directory, which is printed.
// Prints a table, and as the last line one JSON object.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { Wal, nodeFs, type LogEntry } from '../../replicator/wal/wal.js';

interface Options {
  seconds: number;
  entryBytes: number;
  batches: number[];
  dir: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 3, entryBytes: 100, batches: [1, 10, 100, 1000], dir: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`missing value for ${a}`);
      return v;
    };
    const num = (): number => {
      const v = Number(next().replace(/_/g, ''));
      if (!Number.isFinite(v) || v <= 0) throw new Error(`bad value for ${a}`);
      return v;
    };
    if (a === '--seconds') o.seconds = num();
    else if (a === '--entry-bytes') o.entryBytes = Math.floor(num());
    else if (a === '--batches')
      o.batches = next()
        .split(',')
        .map((s) => Math.floor(Number(s)));
    else if (a === '--dir') o.dir = next();
    else if (a === '--') continue;
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: npx tsx bench/wal/bench-wal.ts [--seconds S] [--entry-bytes N] [--batches 1,10,100,1000] [--dir D]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.batches.some((b) => !Number.isSafeInteger(b) || b < 1)) throw new Error('bad --batches');
  return o;
}

interface Latency {
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

function latencyOf(deltasMs: number[]): Latency {
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const d of deltasMs) h.recordValue(Math.max(1, Math.round(d * 1e6)));
  const us = (ns: number): number => Math.round(ns / 10) / 100;
  const r = { p50Us: us(h.getValueAtPercentile(50)), p99Us: us(h.getValueAtPercentile(99)), maxUs: us(h.maxValue) };
  h.destroy();
  return r;
}

interface Result {
  batch: number;
  batches: number;
  entries: number;
  seconds: number;
  entriesPerSec: number;
  mibPerSec: number;
  fdatasync: Latency;
  sync: Latency;
  appendP50Us: number;
}

async function runOne(root: string, batch: number, o: Options): Promise<Result> {
  const dir = path.join(root, `batch-${batch}`);
  const fdatasyncMs: number[] = [];
  let timing = false;
  const wal = Wal.open(dir, {
    fs: {
      ...nodeFs,
      fdatasync: (fd, done) => {
        const t0 = performance.now();
        nodeFs.fdatasync(fd, (err) => {
          if (timing) fdatasyncMs.push(performance.now() - t0);
          done(err);
        });
      },
    },
  });
  // One data buffer for every entry: append copies it into the record, so sharing is safe.
  const data = new Uint8Array(o.entryBytes);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  const entries: LogEntry[] = Array.from({ length: batch }, () => ({ index: 0, term: 1, data }));
  let next = 1;
  const step = async (syncMs: number[] | undefined, appendMs: number[] | undefined): Promise<void> => {
    for (const e of entries) e.index = next++;
    const t0 = performance.now();
    wal.append(entries);
    const t1 = performance.now();
    await wal.sync();
    const t2 = performance.now();
    appendMs?.push(t1 - t0);
    syncMs?.push(t2 - t1);
  };

  const warmupUntil = performance.now() + Math.min(500, o.seconds * 200);
  for (let i = 0; i < 20 || performance.now() < warmupUntil; i++) await step(undefined, undefined);

  const syncMs: number[] = [];
  const appendMs: number[] = [];
  const first = next;
  timing = true;
  const start = performance.now();
  const until = start + o.seconds * 1000;
  let batches = 0;
  while (batches < 20 || performance.now() < until) {
    await step(syncMs, appendMs);
    batches++;
  }
  const seconds = (performance.now() - start) / 1000;
  timing = false;
  await wal.close();
  fs.rmSync(dir, { recursive: true, force: true });

  const count = next - first;
  appendMs.sort((a, b) => a - b);
  return {
    batch,
    batches,
    entries: count,
    seconds: Math.round(seconds * 1000) / 1000,
    entriesPerSec: Math.round(count / seconds),
    mibPerSec: Math.round(((count * (o.entryBytes + 25)) / seconds / 1048576) * 100) / 100,
    fdatasync: latencyOf(fdatasyncMs),
    sync: latencyOf(syncMs),
    appendP50Us: Math.round((appendMs[appendMs.length >> 1] ?? 0) * 100000) / 100,
  };
}

function fileSystemOf(dir: string): string {
  try {
    // /proc/mounts: the longest mount point that is a prefix of the directory.
    const real = fs.realpathSync(dir);
    let best = { mount: '', type: 'unknown', device: '' };
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mount, type] = line.split(' ');
      if (!device || !mount || !type) continue;
      const within = real === mount || real.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
      if (within && mount.length > best.mount.length) best = { mount, type, device };
    }
    return `${best.type} (${best.device} on ${best.mount})`;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const root = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'matchbook-bench-wal-'));
  fs.mkdirSync(root, { recursive: true });
  const fsType = fileSystemOf(root);
  console.log(`WAL bench: ${o.entryBytes}-byte entries, ${o.seconds} s per batch size, in ${root} — ${fsType}`);
  console.log(`node ${process.version}, ${os.cpus().length} CPUs`);
  const results: Result[] = [];
  try {
    for (const batch of o.batches) results.push(await runOne(root, batch, o));
  } finally {
    if (o.dir === undefined) fs.rmSync(root, { recursive: true, force: true });
  }
  const pad = (s: string | number, n: number): string => String(s).padStart(n);
  console.log(
    `\n${pad('batch', 6)} ${pad('batches', 8)} ${pad('entries/s', 11)} ${pad('MiB/s', 7)} ${pad('fdatasync p50', 14)} ${pad('p99', 9)} ${pad('sync() p50', 11)} ${pad('p99', 9)} ${pad('append p50', 11)}`,
  );
  for (const r of results) {
    console.log(
      `${pad(r.batch, 6)} ${pad(r.batches, 8)} ${pad(r.entriesPerSec.toLocaleString('en-US'), 11)} ${pad(r.mibPerSec, 7)} ` +
        `${pad(`${r.fdatasync.p50Us} µs`, 14)} ${pad(`${r.fdatasync.p99Us} µs`, 9)} ${pad(`${r.sync.p50Us} µs`, 11)} ${pad(`${r.sync.p99Us} µs`, 9)} ${pad(`${r.appendP50Us} µs`, 11)}`,
    );
  }
  console.log(
    JSON.stringify({
      bench: 'wal',
      node: process.version,
      fs: fsType,
      entryBytes: o.entryBytes,
      secondsPerBatchSize: o.seconds,
      results,
    }),
  );
}

await main();
