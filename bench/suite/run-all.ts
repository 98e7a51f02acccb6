// The benchmark suite: `npm run bench [-- --quick] [-- --only a,b] [-- --from-results FILE]`.
//
// Runs the benchmarks one after another as child processes (`npm run bench:<name> -- <flags>`),
// takes from each the last stdout line that is a JSON object, and writes
//   bench/results/<YYYY-MM-DD>.json   every figure, the commands, and the machine;
//   docs/BENCHMARKS.md, docs/bench-*.svg   regenerated from that file (bench/suite/report.ts).
// A bench that fails (non-zero exit, no JSON line, or over its time limit) is recorded as failed
// with its exit code and the tail of its stderr, and the suite goes on; the suite's own exit
// code is then 1. `--from-results FILE` only regenerates the docs and charts from FILE.
// docs/BENCHMARKS.md also gets the seed paper's experiment (`npm run bench:seed -- --paper`,
// seed-paper-report.ts) from the newest bench/results/seed-paper-*.json, or `--seed-paper FILE`
// (`none`: without it); the suite does not run that bench itself (about 10 minutes).
// Likewise the failover and latency-under-loss comparison of Raft and Multi-Paxos
// (`npm run bench:failover`, failover-report.ts) from the newest bench/results/failover-*.json,
// or `--failover FILE|none`.
//
// The suite leaves the per-bench result files (bench/results/<bench>-<date>.json, cited by the
// READMEs) as they were: feed and events get `--out` into a temporary directory, and any such
// file a bench rewrites anyway (bench:replay always does) is put back afterwards.
//
// Everything runs on this machine, one bench at a time; each is bounded by its own time limit
// and killed (its whole process group) past it.

import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderDocs, type BenchEntry, type Machine, type SuiteResults } from './report.js';
import { type FailoverRun, failoverMarkdown, insertFailoverSection } from './failover-report.js';
import { insertSeedPaperSection, type PaperRun, seedPaperMarkdown } from './seed-paper-report.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A bench over this long is killed and recorded as failed (ms). */
const TIMEOUT_QUICK_MS = 5 * 60_000;
const TIMEOUT_FULL_MS = 40 * 60_000;
/** After SIGTERM to a bench's process group, SIGKILL this much later (ms). */
const KILL_GRACE_MS = 5_000;
/** After a bench exits, what it left running gets this long before SIGKILL (ms). */
const ORPHAN_GRACE_MS = 3_000;
/** Kept of a bench's stdout (for its JSON line) and stderr (for the failure report), bytes. */
const STDOUT_KEEP_BYTES = 4 << 20;
const STDERR_TAIL_BYTES = 16 << 10;
const STDERR_TAIL_LINES = 40;

export interface BenchDef {
  name: string;
  script: string;
  /** Flags for --quick: each bench well under a minute or so on this 2-core machine. */
  quick: string[];
  full: string[];
  /** Flags naming an output file inside the suite's temporary directory. */
  out?: (tmpDir: string) => string[];
  /** Runs this instead of `npm run <script> -- <flags>` (tests). */
  argv?: string[];
  /** Overrides TIMEOUT_QUICK_MS / TIMEOUT_FULL_MS. */
  timeoutQuickMs?: number;
  timeoutFullMs?: number;
}

export const BENCHES: BenchDef[] = [
  { name: 'engine', script: 'bench:engine', quick: ['--quick'], full: [] },
  { name: 'replay', script: 'bench:replay', quick: ['--commands', '200000', '--repeats', '2'], full: [] },
  // Also the failover figures: its trials SIGKILL the leader under load.
  {
    name: 'replicator',
    script: 'bench:replicator',
    quick: ['--seconds', '2', '--warmup', '1', '--rates', '10000,20000,50000,max', '--trials', '3'],
    full: [],
  },
  { name: 'rest', script: 'bench:rest', quick: ['--rates', '2000,5000,10000,max', '--seconds', '2'], full: [] },
  {
    name: 'grpc',
    script: 'bench:grpc',
    quick: ['--seconds', '2', '--rates', '2000,5000,10000', '--batch-rates', '20000'],
    full: [],
  },
  {
    name: 'feed',
    script: 'bench:feed',
    quick: ['--steps', '100x10000/10,1000x10000/100,1000x10000/10', '--seconds', '2', '--warmup', '1'],
    full: [],
    out: (dir) => ['--out', path.join(dir, 'feed.json')],
  },
  {
    name: 'events',
    script: 'bench:events',
    quick: ['--backlog', '10000', '--rates', '1000,2000,5000', '--seconds', '2'],
    full: [],
    out: (dir) => ['--out', path.join(dir, 'events.json')],
  },
  // A fresh exchange (replicas, gateway, broker, publisher, read models) per scenario: 15 scenarios
  // with --quick, 36 in full (bench/seed/bench-seed.ts), so it gets far longer than the others.
  {
    name: 'seed',
    script: 'bench:seed',
    quick: ['--quick'],
    full: [],
    out: (dir) => ['--out', path.join(dir, 'seed.json')],
    timeoutQuickMs: 20 * 60_000,
    timeoutFullMs: 120 * 60_000,
  },
];

const ALIASES: Record<string, string> = { failover: 'replicator', gateway: 'rest,grpc' };

export function machine(): Machine {
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    os: os.type(),
    node: process.version,
  };
}

/** The last stdout line that parses as a JSON object (processes under a bench may print after it). */
export function lastJsonLine(stdout: string): Record<string, unknown> | undefined {
  const lines = stdout.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!.trim();
    if (!l.startsWith('{') || !l.endsWith('}')) continue;
    try {
      const v: unknown = JSON.parse(l);
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // not JSON after all: keep looking upwards
    }
  }
  return undefined;
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

function quoteArg(a: string): string {
  return /^[\w,./:=@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** The command as a user would type it (without the suite's --out into its temporary directory). */
function commandLine(def: BenchDef, quick: boolean): string {
  const flags = quick ? def.quick : def.full;
  return `npm run ${def.script}${flags.length ? ` -- ${flags.map(quoteArg).join(' ')}` : ''}`;
}

let current: { pid: number } | undefined;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export async function runBench(def: BenchDef, quick: boolean, tmpDir: string, verbose: boolean): Promise<BenchEntry> {
  const flags = quick ? def.quick : def.full;
  const args = [...flags, ...(def.out ? def.out(tmpDir) : [])];
  const command = commandLine(def, quick);
  const startedAt = new Date();
  const date = startedAt.toISOString().slice(0, 10);
  // Put back any per-bench results file the bench rewrites by itself.
  const ownFile = path.join(REPO_ROOT, 'bench', 'results', `${def.name}-${date}.json`);
  const ownBefore = existsSync(ownFile) ? readFileSync(ownFile) : undefined;

  const [cmd, ...cmdArgs] = def.argv ?? ['npm', 'run', '--silent', def.script, ...(args.length ? ['--', ...args] : [])];
  const child = spawn(cmd!, cmdArgs, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: a timeout kills the bench and everything it started
    env: { ...process.env, NO_COLOR: '1' },
  });
  current = { pid: child.pid! };
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    stdout += d;
    if (stdout.length > STDOUT_KEEP_BYTES) stdout = stdout.slice(-STDOUT_KEEP_BYTES);
    if (verbose) process.stderr.write(d.replace(/^(?=.)/gm, `[${def.name}] `));
  });
  child.stderr!.on('data', (d: string) => {
    stderr += d;
    if (stderr.length > STDERR_TAIL_BYTES * 4) stderr = stderr.slice(-STDERR_TAIL_BYTES * 2);
    if (verbose) process.stderr.write(d.replace(/^(?=.)/gm, `[${def.name}] `));
  });
  const timeoutMs = quick ? (def.timeoutQuickMs ?? TIMEOUT_QUICK_MS) : (def.timeoutFullMs ?? TIMEOUT_FULL_MS);
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const limit = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid!, 'SIGTERM');
    killTimer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), KILL_GRACE_MS);
  }, timeoutMs);
  // A process the bench left behind would hold its stdout open, and 'close' would wait for it.
  let orphanTimer: NodeJS.Timeout | undefined;
  child.on('exit', () => {
    orphanTimer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), ORPHAN_GRACE_MS);
  });
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => {
      stderr += `\nspawn failed: ${String(err)}`;
      resolve({ code: null, signal: null });
    });
    child.on('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(limit);
  if (killTimer) clearTimeout(killTimer);
  if (orphanTimer) clearTimeout(orphanTimer);
  // Children that outlived the bench (a replica it failed to stop) go with its group.
  killGroup(child.pid!, 'SIGKILL');
  current = undefined;
  if (ownBefore !== undefined) writeFileSync(ownFile, ownBefore);
  else if (existsSync(ownFile)) unlinkSync(ownFile);

  const durationSec = Math.round((Date.now() - startedAt.getTime()) / 100) / 10;
  const result = lastJsonLine(stdout);
  const entry: BenchEntry = {
    name: def.name,
    status: code === 0 && result !== undefined && !timedOut ? 'ok' : 'failed',
    mode: quick ? 'quick' : 'full',
    command,
    startedAt: startedAt.toISOString(),
    durationSec,
    exitCode: code,
    ...(signal ? { signal } : {}),
    ...(timedOut ? { timedOut: true } : {}),
    ...(result ? { result } : {}),
  };
  if (entry.status === 'failed') {
    entry.error = timedOut
      ? `over its ${timeoutMs / 1000} s limit`
      : code !== 0
        ? `exit code ${code ?? noExitCode(signal)}`
        : 'no JSON object on its stdout';
    entry.stderrTail = tail(stderr.slice(-STDERR_TAIL_BYTES), STDERR_TAIL_LINES);
  }
  return entry;
}

function noExitCode(signal: NodeJS.Signals | null): string {
  return signal ? `none (signal ${signal})` : 'none';
}

/** Writes docs/BENCHMARKS.md and the charts; removes charts of an earlier run that this one does not have. */
export function writeDocs(
  res: SuiteResults,
  resultsPath: string,
  docsDir: string,
  seedPaperPath: string | undefined,
  failoverPath: string | undefined,
): string[] {
  const docs = renderDocs(res, repoRelative(resultsPath));
  if (seedPaperPath !== undefined) {
    const run = JSON.parse(readFileSync(seedPaperPath, 'utf8')) as PaperRun & { bench?: unknown };
    if (run.bench !== 'seed-paper') throw new UsageError(`${seedPaperPath} is not a bench:seed --paper results file`);
    docs.markdown = insertSeedPaperSection(docs.markdown, seedPaperMarkdown(run, repoRelative(seedPaperPath)));
  }
  if (failoverPath !== undefined) {
    const run = JSON.parse(readFileSync(failoverPath, 'utf8')) as FailoverRun;
    if (run.bench !== 'failover') throw new UsageError(`${failoverPath} is not a bench:failover results file`);
    docs.markdown = insertFailoverSection(docs.markdown, failoverMarkdown(run, repoRelative(failoverPath)));
  }
  mkdirSync(docsDir, { recursive: true });
  const written = new Set<string>();
  for (const c of docs.charts) {
    writeFileSync(path.join(docsDir, c.file), c.svg);
    written.add(c.file);
  }
  for (const f of readdirSync(docsDir)) if (/^bench-.*\.svg$/.test(f) && !written.has(f)) rmSync(path.join(docsDir, f));
  writeFileSync(path.join(docsDir, 'BENCHMARKS.md'), docs.markdown);
  return [path.join(docsDir, 'BENCHMARKS.md'), ...[...written].map((f) => path.join(docsDir, f))];
}

function repoRelative(file: string): string {
  const rel = path.relative(REPO_ROOT, path.resolve(file)).split(path.sep).join('/');
  return rel.startsWith('..') ? path.resolve(file) : rel;
}

/**
 * --seed-paper / --failover: a file, `none`, or (absent) the newest
 * bench/results/<prefix>-<date>.json if any.
 */
function newestResultsFile(arg: string | undefined, prefix: 'seed-paper' | 'failover'): string | undefined {
  if (arg === 'none') return undefined;
  if (arg !== undefined) return path.resolve(arg);
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  const files = readdirSync(dir)
    .filter((f) => new RegExp(`^${prefix}-\\d{4}-\\d{2}-\\d{2}\\.json$`).test(f))
    .sort();
  return files.length === 0 ? undefined : path.join(dir, files[files.length - 1]!);
}

function selectBenches(only: string | undefined): BenchDef[] {
  if (only === undefined) return BENCHES;
  const names = new Set(
    only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .flatMap((s) => (ALIASES[s] ?? s).split(',')),
  );
  const unknown = [...names].filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length)
    throw new UsageError(
      `unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')} (and ${Object.keys(ALIASES).join(', ')})`,
    );
  return BENCHES.filter((b) => names.has(b.name));
}

class UsageError extends Error {}

const USAGE = `usage: npm run bench -- [--quick] [--only a,b] [--out FILE] [--docs-dir DIR] [--seed-paper FILE|none] [--failover FILE|none] [--verbose]
       npm run bench -- --from-results FILE [--docs-dir DIR] [--seed-paper FILE|none] [--failover FILE|none]
benchmarks: ${BENCHES.map((b) => b.name).join(', ')} (failover = replicator, gateway = rest,grpc)`;

async function main(): Promise<number> {
  const { values: a } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'from-results': { type: 'string' },
      out: { type: 'string' },
      'docs-dir': { type: 'string' },
      'seed-paper': { type: 'string' },
      failover: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (a.help) {
    console.log(USAGE);
    return 0;
  }
  const docsDir = path.resolve(a['docs-dir'] ?? path.join(REPO_ROOT, 'docs'));
  const seedPaper = newestResultsFile(a['seed-paper'], 'seed-paper');
  const failover = newestResultsFile(a.failover, 'failover');

  if (a['from-results'] !== undefined) {
    const file = path.resolve(a['from-results']);
    const res = JSON.parse(readFileSync(file, 'utf8')) as SuiteResults;
    if (res.suite !== 'matchbook-bench' || typeof res.benches !== 'object')
      throw new UsageError(`${file} is not a suite results file`);
    for (const f of writeDocs(res, file, docsDir, seedPaper, failover))
      console.error(`wrote ${path.relative(process.cwd(), f)}`);
    return 0;
  }

  const benches = selectBenches(a.only);
  const startedAt = new Date();
  const date = startedAt.toISOString().slice(0, 10);
  const outFile = path.resolve(a.out ?? path.join(REPO_ROOT, 'bench', 'results', `${date}.json`));
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'mb-bench-suite-'));
  const entries: Record<string, BenchEntry> = {};
  // A subset run updates the day's file: the other benches keep their earlier entries (each entry says its own mode and time).
  if (a.only !== undefined && existsSync(outFile)) {
    try {
      const prev = JSON.parse(readFileSync(outFile, 'utf8')) as SuiteResults;
      if (prev.suite === 'matchbook-bench') Object.assign(entries, prev.benches);
    } catch {
      console.error(`${outFile}: not readable as a results file; starting afresh`);
    }
  }
  const mode = a.quick ? 'quick' : 'full';
  console.error(
    `bench suite (${mode}): ${benches.map((b) => b.name).join(', ')} → ${path.relative(process.cwd(), outFile)}`,
  );
  let failed = 0;
  for (const def of benches) {
    console.error(`— ${def.name}: ${commandLine(def, a.quick!)}`);
    const e = await runBench(def, a.quick!, tmpDir, a.verbose!);
    entries[def.name] = e;
    if (e.status === 'failed') failed++;
    console.error(`  ${e.status === 'ok' ? 'ok' : `FAILED (${e.error})`} in ${e.durationSec} s`);
    if (e.status === 'failed' && e.stderrTail) console.error(tail(e.stderrTail, 8).replace(/^/gm, '    '));
  }
  rmSync(tmpDir, { recursive: true, force: true });
  const finishedAt = new Date();
  const res: SuiteResults = {
    suite: 'matchbook-bench',
    version: 1,
    date,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSec: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    mode,
    machine: machine(),
    benches: entries,
  };
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(res, null, 2)}\n`);
  console.error(`wrote ${path.relative(process.cwd(), outFile)} (${res.durationSec} s)`);
  for (const f of writeDocs(res, outFile, docsDir, seedPaper, failover))
    console.error(`wrote ${path.relative(process.cwd(), f)}`);
  if (failed) console.error(`${failed} benchmark(s) failed`);
  return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Interrupted: the running bench and everything it started go too.
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      if (current) killGroup(current.pid, 'SIGKILL');
      process.exit(130);
    });
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof UsageError) {
        console.error(`${err.message}\n${USAGE}`);
        process.exitCode = 2;
      } else {
        console.error(err);
        process.exitCode = 1;
      }
    },
  );
}
