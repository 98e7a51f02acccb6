// `matchbook replay` and `matchbook audit` (audit/README.md). Each returns its exit code:
//   0  everything checked matches (replay) / export complete (audit)
//   1  something differs or is damaged: the findings say where (shard, replica, log index or chain_seq, file, offset)
//   2  bad usage, or input that cannot be read at all (no such directory, no configuration)
//   3  nothing differs, but not everything could be checked (outside the replayed range, no key, heads without a journal)
// Also runnable alone: `npx tsx cli/audit-commands.ts replay …` / `… audit …`.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { auditExport, parseTimeUs, type AuditFilter, type AuditFormat } from '../audit/audit-export.js';
import { ExitCode, formatFinding, type Finding } from '../audit/findings.js';
import { replay, type ReplayResult, type StartMode } from '../audit/replay.js';
import { SourceError, resolveSources, type Sources } from '../audit/sources.js';

export const REPLAY_USAGE = `usage: matchbook replay [--data-dir DIR]... [--config FILE | --engine-config FILE] [--shard S]
                        [--from-snapshot | --from-genesis] [--to-index N] [--verify]
                        [--gateway-dir DIR] [--public-key FILE] [--reports FILE]
                        [--events-out FILE] [--events-digest] [--checkpoint-every N] [--hash-threads N] [--quiet]
  --data-dir      a replica's directory, a cluster's (node-<id>/ inside), or the exchange's (./data); repeatable
  --config        gateway config, cluster file or engine config (default: gateway/examples/gateway-local.json)
  --verify        check snapshots, replicas and the gateway's signed report chain (else: replay and print the state hash)
  --reports       reports as a client received them (JSON lines with chain_seq, chain_hash), compared one by one
exit: 0 all checked and equal, 1 something differs (see the FAIL lines), 2 usage or unreadable input, 3 not everything could be checked`;

export const AUDIT_USAGE = `usage: matchbook audit [--data-dir DIR]... [--config FILE | --engine-config FILE] [--shard S]
                       [--account A] [--order ID] [--from T1] [--to T2] [--format jsonl|csv] [--out FILE]
                       [--from-snapshot | --from-genesis] [--to-index N]
  at least one of --account, --order, --from, --to; T1/T2: ISO 8601 time or integer µs since the epoch (log time)
  --order         the global order id the gateway reports (shard × 2^44 + seq)
exit: 0 complete, 1 the log is damaged (export up to the damage), 2 usage, 3 part of the history is compacted away`;

class UsageError extends Error {}

const COMMON_OPTIONS = {
  'data-dir': { type: 'string', multiple: true },
  config: { type: 'string' },
  'engine-config': { type: 'string' },
  shard: { type: 'string' },
  'from-snapshot': { type: 'boolean' },
  'from-genesis': { type: 'boolean' },
  'to-index': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function uint(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw new UsageError(`${what} must be a non-negative integer, got ${v}`);
  return Number(v);
}

function startMode(v: { 'from-snapshot'?: boolean; 'from-genesis'?: boolean }): StartMode {
  if (v['from-snapshot'] === true && v['from-genesis'] === true)
    throw new UsageError('--from-snapshot and --from-genesis exclude each other');
  return v['from-snapshot'] === true ? 'snapshot' : v['from-genesis'] === true ? 'genesis' : 'auto';
}

function sourcesOf(v: {
  'data-dir'?: string[];
  config?: string;
  'engine-config'?: string;
  shard?: string;
  'gateway-dir'?: string;
  'public-key'?: string;
}): Sources {
  const shard = uint(v.shard, '--shard');
  return resolveSources({
    dataDirs: v['data-dir'] ?? [],
    ...(v.config !== undefined ? { config: v.config } : {}),
    ...(v['engine-config'] !== undefined ? { engineConfig: v['engine-config'] } : {}),
    ...(shard !== undefined ? { shard } : {}),
    ...(v['gateway-dir'] !== undefined ? { gatewayDir: v['gateway-dir'] } : {}),
    ...(v['public-key'] !== undefined ? { publicKey: v['public-key'] } : {}),
  });
}

/** Buffered synchronous output to a file descriptor (a full pipe is waited for, not dropped). */
class Output {
  private chunks: string[] = [];
  private bytes = 0;
  private static readonly FLUSH_BYTES = 1 << 20;
  constructor(private readonly fd: number) {}
  write(s: string): void {
    this.chunks.push(s);
    this.bytes += s.length;
    if (this.bytes >= Output.FLUSH_BYTES) this.flush();
  }
  flush(): void {
    if (this.chunks.length === 0) return;
    const buf = Buffer.from(this.chunks.join(''), 'utf8');
    this.chunks = [];
    this.bytes = 0;
    let off = 0;
    while (off < buf.length) {
      try {
        off += fs.writeSync(this.fd, buf, off, buf.length - off);
      } catch (err: unknown) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      }
    }
  }
}

function handleError(err: unknown, usage: string): number {
  if (err instanceof UsageError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
    console.error(`${(err as Error).message}\n${usage}`);
    return ExitCode.USAGE;
  }
  if (err instanceof SourceError) {
    console.error(`error: ${err.message}`);
    return ExitCode.USAGE;
  }
  throw err;
}

function printFindings(findings: Finding[], total: number, print: (l: string) => void): void {
  for (const f of findings) print(formatFinding(f));
  if (total > findings.length) print(`… and ${total - findings.length} more findings`);
}

// ---------------------------------------------------------------------------------------------

/** The human-readable account of a replay: findings, each shard's range and state hash, the chain, the verdict. */
function printReplay(result: ReplayResult, print: (l: string) => void): void {
  printFindings(result.findings, result.counts.fail + result.counts.incomplete + result.counts.note, print);
  for (const s of result.shards) {
    print(
      `shard ${s.shard}: ${s.start.mode === 'genesis' ? 'from genesis' : `from snapshot ${s.start.index} (${s.start.replica}/${s.start.file})`} to index ${s.endIndex} (${s.stoppedBy}; commit known ${s.commitKnown}); ` +
        `${s.entries} entries, ${s.commands} commands, ${s.events} events; ${s.snapshotsChecked} snapshot(s) checked; state hash ${s.stateHash}`,
    );
    for (const c of s.checkpoints) print(`  checkpoint index ${c.index}: state hash ${c.stateHash}`);
  }
  const c = result.chain;
  if (c !== undefined) {
    print(
      `report chain: ${c.runs} run(s), ${c.reportsInJournal} reports in the journal, ${c.reportsRegenerated} regenerated, ${c.reportsCovered} covered by ${c.headsVerified}/${c.heads} signed heads, ` +
        `${c.reportsUnsigned} after the last head, ${c.reportsNotChecked} not checked${c.clientReportsCompared > 0 ? `, ${c.clientReportsCompared} client reports compared` : ''}`,
    );
  }
  const verdict =
    result.exitCode === 0
      ? 'OK: everything checked matches'
      : result.exitCode === 1
        ? 'FAILED: the data differ from what they claim (FAIL lines above)'
        : 'INCOMPLETE: nothing differs, but not everything could be checked';
  print(verdict);
}

/** The one JSON line a replay always prints (also with --quiet), for scripts. */
function replaySummary(result: ReplayResult): object {
  const commands = result.shards.reduce((a, s) => a + s.commands, 0);
  const c = result.chain;
  return {
    replay: result.exitCode === 0 ? 'ok' : result.exitCode === 1 ? 'mismatch' : 'incomplete',
    exitCode: result.exitCode,
    fail: result.counts.fail,
    incomplete: result.counts.incomplete,
    commands,
    elapsedMs: Math.round(result.elapsedMs),
    commandsPerSec: Math.round(commands / (result.elapsedMs / 1000)),
    shards: result.shards.map((s) => ({
      shard: s.shard,
      start: s.start.index,
      end: s.endIndex,
      commitKnown: s.commitKnown,
      stateHash: s.stateHash,
      execIdLast: s.execIdLast,
    })),
    ...(result.eventsDigest !== undefined ? { eventsDigest: result.eventsDigest } : {}),
    ...(c !== undefined
      ? {
          chain: {
            runs: c.runs,
            heads: c.heads,
            headsVerified: c.headsVerified,
            reportsCovered: c.reportsCovered,
            reportsNotChecked: c.reportsNotChecked,
          },
        }
      : {}),
  };
}

export async function runReplay(argv: string[]): Promise<number> {
  let sources: Sources;
  let result: ReplayResult;
  let eventsFd: number | undefined;
  let quiet = false;
  try {
    const { values: v, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...COMMON_OPTIONS,
        verify: { type: 'boolean' },
        'gateway-dir': { type: 'string' },
        'public-key': { type: 'string' },
        reports: { type: 'string' },
        'events-out': { type: 'string' },
        'events-digest': { type: 'boolean' },
        'checkpoint-every': { type: 'string' },
        'hash-threads': { type: 'string' },
        quiet: { type: 'boolean' },
      },
    });
    if (v.help === true) {
      console.log(REPLAY_USAGE);
      return ExitCode.OK;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
    quiet = v.quiet === true;
    const from = startMode(v);
    const toIndex = uint(v['to-index'], '--to-index');
    const checkpointEvery = uint(v['checkpoint-every'], '--checkpoint-every');
    const hashThreads = uint(v['hash-threads'], '--hash-threads');
    sources = sourcesOf(v);
    if (!quiet) for (const n of sources.notes) console.log(n);
    let events: Output | undefined;
    if (v['events-out'] !== undefined) {
      eventsFd = fs.openSync(v['events-out'], 'w');
      events = new Output(eventsFd);
    }
    result = await replay({
      sources,
      from,
      verify: v.verify === true,
      ...(toIndex !== undefined ? { toIndex } : {}),
      ...(v.reports !== undefined ? { reportsFile: v.reports } : {}),
      ...(events !== undefined ? { eventsOut: (line: string) => events.write(`${line}\n`) } : {}),
      eventsDigest: v['events-digest'] === true,
      ...(checkpointEvery !== undefined ? { checkpointEvery } : {}),
      ...(hashThreads !== undefined ? { hashThreads } : {}),
    });
    events?.flush();
  } catch (err) {
    return handleError(err, REPLAY_USAGE);
  } finally {
    if (eventsFd !== undefined) fs.closeSync(eventsFd);
  }
  const print = (l: string) => {
    if (!quiet) console.log(l);
  };
  printReplay(result, print);
  console.log(JSON.stringify(replaySummary(result)));
  return result.exitCode;
}

export async function runAudit(argv: string[]): Promise<number> {
  let out: Output | undefined;
  let fd: number | undefined;
  try {
    const { values: v, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...COMMON_OPTIONS,
        account: { type: 'string' },
        order: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        format: { type: 'string', default: 'jsonl' },
        out: { type: 'string' },
      },
    });
    if (v.help === true) {
      console.log(AUDIT_USAGE);
      return ExitCode.OK;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
    const format = v.format as AuditFormat;
    if (format !== 'jsonl' && format !== 'csv') throw new UsageError(`--format must be jsonl or csv, got ${v.format}`);
    const filter: AuditFilter = {};
    const account = uint(v.account, '--account');
    if (account !== undefined) filter.account = account;
    const order = uint(v.order, '--order');
    if (order !== undefined) filter.orderId = order;
    for (const [name, val] of [
      ['from', v.from],
      ['to', v.to],
    ] as const) {
      if (val === undefined) continue;
      const us = parseTimeUs(val);
      if (us === undefined) throw new UsageError(`--${name} must be an ISO 8601 time or integer µs, got ${val}`);
      if (name === 'from') filter.fromUs = us;
      else filter.toUs = us;
    }
    if (
      filter.account === undefined &&
      filter.orderId === undefined &&
      filter.fromUs === undefined &&
      filter.toUs === undefined
    ) {
      throw new UsageError('say what to export: --account, --order, or a time window (--from/--to)');
    }
    const toIndex = uint(v['to-index'], '--to-index');
    const sources = sourcesOf(v);
    fd = v.out !== undefined ? fs.openSync(v.out, 'w') : 1;
    out = new Output(fd);
    const o = out;
    const r = await auditExport({
      sources,
      filter,
      format,
      from: startMode(v),
      ...(toIndex !== undefined ? { toIndex } : {}),
      write: (s) => o.write(s),
    });
    out.flush();
    for (const n of sources.notes) console.error(n);
    printFindings(r.replay.findings, r.replay.counts.fail + r.replay.counts.incomplete + r.replay.counts.note, (l) =>
      console.error(l),
    );
    console.error(
      `audit: ${r.rows.command} commands, ${r.rows.report} reports, ${r.rows.event} other events${v.out !== undefined ? ` → ${path.resolve(v.out)}` : ''}`,
    );
    return r.exitCode;
  } catch (err) {
    out?.flush();
    return handleError(err, AUDIT_USAGE);
  } finally {
    if (fd !== undefined && fd !== 1) fs.closeSync(fd);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const [cmd, ...rest] = process.argv.slice(2);
  const run = cmd === 'replay' ? runReplay : cmd === 'audit' ? runAudit : undefined;
  if (run === undefined) {
    console.error(`usage: audit-commands.ts replay|audit …\n\n${REPLAY_USAGE}\n\n${AUDIT_USAGE}`);
    process.exitCode = ExitCode.USAGE;
  } else {
    process.exitCode = await run(rest);
  }
}
