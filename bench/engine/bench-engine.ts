// npm run bench:engine [-- --quick] [-- --commands N] [-- --peer-commands N] [-- --repeats R]
//                      [-- --mix 1|2] [-- --seed S] [-- --no-peer] [-- --no-wide]
//
// One process, two workloads (bench/engine/workloads.ts), our Engine vs
// nodejs-order-book on the same pre-generated command stream:
//   1. generate the stream (a private Engine run tracks live orders; all commands valid)
//   2. warm-up pass on a fresh engine that also inspects every event: any command_reject,
//      cancel_reject or exec REJECTED aborts with exit code 1
//   3. R throughput passes (fresh engine each, wall time of the whole stream, no per-op
//      timing), median and best reported. No forced GC between passes: a gc() right
//      before a pass made that pass slower (the heap shrinks and has to regrow)
//   4. one latency pass: performance.now() around each apply(), deltas into an HDR
//      histogram afterwards (timer overhead measured and reported separately)
//   5. the peer on the stream's first P commands: a checked warm-up (and a check that both
//      books are identical after those P commands), R rounds each timing ours then the
//      peer on those P commands back to back (ratio = median of the per-round ratios,
//      so machine noise hits both sides of a ratio alike), and a latency pass
//   6. unless --no-wide, per mix: the mix on a narrow and on a wide instrument (maxPrice ×
//      maxQty ≥ 2^53, quantities in satoshis so notionals pass 2^53; workloads.ts), R rounds
//      each timing narrow then wide back to back; the wide/narrow ratio is the median of the
//      per-round ratios (JSON keys mix1Widths, mix2Widths)
// Prints a table, and as the last line one JSON object with all figures.

import * as hdr from 'hdr-histogram-js';
import { Engine } from '../../engine/engine.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import { EventKind, ExecType, type Command, type ShardConfig } from '../../engine/types.js';
import { bookAfter, generateMix1, generateMix2, type BenchWidth, type Workload } from './workloads.js';
import {
  PEER_NAME,
  applyPeer,
  newPeerBook,
  peerBook,
  runPeerChecked,
  toPeerOps,
  type PeerCheck,
  type PeerOp,
} from './peer-nodejs-order-book.js';

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

interface Options {
  mix1Commands: number;
  mix2Commands: number;
  peerCommands: number;
  repeats: number;
  mixes: number[];
  seed: number;
  peer: boolean;
  /** each mix also narrow vs wide (step 6) */
  wide: boolean;
  quick: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    mix1Commands: 2_000_000,
    mix2Commands: 1_000_000,
    peerCommands: 500_000,
    repeats: 5,
    mixes: [1, 2],
    seed: 1,
    peer: true,
    wide: true,
    quick: false,
  };
  let commands: number | undefined;
  let peerCommands: number | undefined;
  let repeats: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]?.replace(/_/g, ''));
      if (!Number.isFinite(v) || v <= 0) throw new Error(`bad value for ${a}`);
      return Math.floor(v);
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--commands') commands = num();
    else if (a === '--peer-commands') peerCommands = num();
    else if (a === '--repeats') repeats = num();
    else if (a === '--seed') o.seed = num();
    else if (a === '--mix') o.mixes = [num()];
    else if (a === '--no-peer') o.peer = false;
    else if (a === '--no-wide') o.wide = false;
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: npm run bench:engine -- [--quick] [--commands N] [--peer-commands N] [--repeats R] [--mix 1|2] [--seed S] [--no-peer] [--no-wide]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.quick) {
    o.mix1Commands = 200_000;
    o.mix2Commands = 100_000;
    o.peerCommands = 100_000;
    o.repeats = 3;
  }
  if (commands !== undefined) o.mix1Commands = o.mix2Commands = commands;
  if (peerCommands !== undefined) o.peerCommands = peerCommands;
  if (repeats !== undefined) o.repeats = repeats;
  return o;
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Latency {
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  meanUs: number;
}

/** deltas in milliseconds (performance.now units) → HDR histogram in ns → figures in µs */
function latencyOf(deltasMs: Float64Array, n: number): Latency {
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (let i = 0; i < n; i++) h.recordValue(Math.max(0, Math.round(deltasMs[i]! * 1e6)));
  const us = (ns: number): number => round(ns / 1000, 3);
  const r: Latency = {
    p50Us: us(h.getValueAtPercentile(50)),
    p99Us: us(h.getValueAtPercentile(99)),
    p999Us: us(h.getValueAtPercentile(99.9)),
    maxUs: us(h.maxValue),
    meanUs: us(h.mean),
  };
  h.destroy();
  return r;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function fmtInt(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

function log(s = ''): void {
  process.stderr.write(s + '\n');
}

/** Timer overhead: back-to-back performance.now() (the latency pass' clock) and hrtime.bigint(). */
function timerOverhead(): {
  perfNowP50Ns: number;
  perfNowP99Ns: number;
  perfNowMinNs: number;
  hrtimeBigintP50Ns: number;
} {
  const n = 1_000_000;
  const d = new Float64Array(n);
  for (let rep = 0; rep < 2; rep++) {
    for (let i = 0; i < n; i++) {
      const a = performance.now();
      const b = performance.now();
      d[i] = b - a;
    }
  }
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const ns = d[i]! * 1e6;
    if (ns < min) min = ns;
    h.recordValue(Math.round(ns));
  }
  const p50 = h.getValueAtPercentile(50);
  const p99 = h.getValueAtPercentile(99);
  h.destroy();
  const b = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = process.hrtime.bigint();
    const y = process.hrtime.bigint();
    b[i] = Number(y - x);
  }
  return {
    perfNowP50Ns: p50,
    perfNowP99Ns: p99,
    perfNowMinNs: round(min, 1),
    hrtimeBigintP50Ns: median(Array.from(b.subarray(0, 100_000))),
  };
}

// ---------------------------------------------------------------------------
// our engine
// ---------------------------------------------------------------------------

interface OurCheck {
  events: number;
  trades: number;
  problems: string[];
}

/** Warm-up pass that inspects every event: the stream must be all-valid. */
function runOursChecked(config: ShardConfig, cmds: readonly Command[]): OurCheck {
  const engine = new Engine(config);
  const out = new EventBuffer();
  const check: OurCheck = { events: 0, trades: 0, problems: [] };
  for (let c = 0; c < cmds.length; c++) {
    out.clear();
    engine.apply(cmds[c]!, out);
    check.events += out.count;
    for (let i = 0; i < out.count; i++) {
      const k = out.kind[i];
      if (k === EventKind.TRADE) check.trades++;
      else if (
        k === EventKind.COMMAND_REJECT ||
        k === EventKind.CANCEL_REJECT ||
        (k === EventKind.EXEC && out.execType[i] === ExecType.REJECTED)
      ) {
        if (check.problems.length < 10)
          check.problems.push(`${JSON.stringify(out.event(i))} for ${JSON.stringify(cmds[c])}`);
        else check.problems.push('…');
      }
    }
  }
  return check;
}

/** Throughput pass: wall time of the whole stream. Returns [seconds, events]. */
function runOursTimed(config: ShardConfig, cmds: readonly Command[]): [number, number] {
  const engine = new Engine(config);
  const out = new EventBuffer();
  const n = cmds.length;
  let events = 0;
  const t0 = performance.now();
  for (let c = 0; c < n; c++) {
    out.clear();
    engine.apply(cmds[c]!, out);
    events += out.count;
  }
  const t1 = performance.now();
  return [(t1 - t0) / 1000, events];
}

function runOursLatency(config: ShardConfig, cmds: readonly Command[], deltas: Float64Array): void {
  const engine = new Engine(config);
  const out = new EventBuffer();
  const n = cmds.length;
  for (let c = 0; c < n; c++) {
    out.clear();
    const cmd = cmds[c]!;
    const t0 = performance.now();
    engine.apply(cmd, out);
    const t1 = performance.now();
    deltas[c] = t1 - t0;
  }
}

// ---------------------------------------------------------------------------
// peer
// ---------------------------------------------------------------------------

function runPeerTimed(ops: readonly PeerOp[]): number {
  const ob = newPeerBook();
  const n = ops.length;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) applyPeer(ob, ops[i]!);
  const t1 = performance.now();
  return (t1 - t0) / 1000;
}

function runPeerLatency(ops: readonly PeerOp[], deltas: Float64Array): ReturnType<typeof newPeerBook> {
  const ob = newPeerBook();
  const n = ops.length;
  for (let i = 0; i < n; i++) {
    const op = ops[i]!;
    const t0 = performance.now();
    applyPeer(ob, op);
    const t1 = performance.now();
    deltas[i] = t1 - t0;
  }
  return ob;
}

function sameBook(a: Map<number, number>, b: Map<number, number>): number {
  let diff = 0;
  for (const [p, q] of a) if (b.get(p) !== q) diff++;
  for (const p of b.keys()) if (!a.has(p)) diff++;
  return diff;
}

// ---------------------------------------------------------------------------
// one mix
// ---------------------------------------------------------------------------

interface MixResult {
  commands: number;
  /** ours, whole stream: median of the throughput passes (commands per second) */
  opsPerSec: number;
  opsPerSecBest: number;
  opsPerSecRuns: number[];
  eventsPerCommand: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  meanUs: number;
  /** the peer runs the first peerCommands commands of the same stream */
  peerCommands?: number;
  peerOpsPerSec?: number;
  peerOpsPerSecBest?: number;
  peerOpsPerSecRuns?: number[];
  peerP50Us?: number;
  peerP99Us?: number;
  peerP999Us?: number;
  peerMaxUs?: number;
  peerMeanUs?: number;
  /** ours on the peer's prefix, measured in the same interleaved rounds as the peer */
  opsPerSecPrefix?: number;
  opsPerSecPrefixRuns?: number[];
  /** ours / peer throughput: median over rounds of (ours on the prefix / peer on the prefix), each round back to back */
  ratio?: number;
  /** best ours on the prefix / best peer */
  ratioBest?: number;
  /** ours / peer p50 latency ratio inverted: peer p50 / our p50 */
  p50Speedup?: number;
  /** levels that differ between our book and the peer's after peerCommands commands (0 = identical) */
  peerBookDiffLevels?: number;
  peerFokKilled?: number;
  peerErrors?: Record<string, number>;
  peerCancelNotFound?: number;
  workload: Workload['stats'] & { description: string; seed: number; genSeconds: number };
}

/**
 * The peer on the stream's first p of n commands (prefix): a checked warm-up (and its book
 * compared with ours), then rounds timing ours (oursPass) and the peer back to back, then the
 * peer's latency pass. Returns the peer's figures and ours on the prefix, one per round.
 */
function runPeerRounds(
  w: Workload,
  prefix: readonly Command[],
  p: number,
  n: number,
  opt: Options,
  oursPass: (stream: readonly Command[], label: string) => number,
): { peer: Partial<MixResult>; oursPrefix: number[] } {
  const ops = toPeerOps(prefix, p);
  const warm = newPeerBook();
  const pc: PeerCheck = runPeerChecked(warm, ops);
  const ourBook = bookAfter(w.config, w.commands, p);
  const pb = peerBook(warm);
  const bookDiff = sameBook(ourBook.bids, pb.bids) + sameBook(ourBook.asks, pb.asks);
  log(
    `    peer  ${PEER_NAME} on the first ${fmtInt(p)} commands: FOK refused ${fmtInt(pc.fokKilled)}, cancel not found ${pc.cancelNotFound}, ` +
      `other errors ${JSON.stringify(pc.errors)}; book after ${fmtInt(p)} commands ${bookDiff === 0 ? 'IDENTICAL to ours' : `DIFFERS from ours in ${bookDiff} levels`}`,
  );
  const oursPrefix: number[] = [];
  const peerRuns: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < opt.repeats; r++) {
    const o = oursPass(prefix, `round ${r + 1}/${opt.repeats} ours${p === n ? '' : ` (first ${fmtInt(p)})`}`);
    const sec = runPeerTimed(ops);
    log(
      `    round ${r + 1}/${opt.repeats} peer: ${fmtInt(p / sec)} cmd/s (${sec.toFixed(3)} s) → ratio ${(o / (p / sec)).toFixed(2)}`,
    );
    oursPrefix.push(o);
    peerRuns.push(p / sec);
    ratios.push(o / (p / sec));
  }
  const pd = new Float64Array(p);
  runPeerLatency(ops, pd);
  const plat = latencyOf(pd, p);
  log(`    peer  latency: p50 ${plat.p50Us} µs, p99 ${plat.p99Us} µs, p99.9 ${plat.p999Us} µs, max ${plat.maxUs} µs`);
  const peer: Partial<MixResult> = {
    peerCommands: p,
    peerOpsPerSec: Math.round(median(peerRuns)),
    peerOpsPerSecBest: Math.round(Math.max(...peerRuns)),
    peerOpsPerSecRuns: peerRuns.map(Math.round),
    peerP50Us: plat.p50Us,
    peerP99Us: plat.p99Us,
    peerP999Us: plat.p999Us,
    peerMaxUs: plat.maxUs,
    peerMeanUs: plat.meanUs,
    opsPerSecPrefix: Math.round(median(oursPrefix)),
    opsPerSecPrefixRuns: oursPrefix.map(Math.round),
    ratio: round(median(ratios), 2),
    ratioBest: round(Math.max(...oursPrefix) / Math.max(...peerRuns), 2),
    peerBookDiffLevels: bookDiff,
    peerFokKilled: pc.fokKilled,
    peerErrors: pc.errors,
    peerCancelNotFound: pc.cancelNotFound,
  };
  return { peer, oursPrefix };
}

function runMix(mix: number, opt: Options): MixResult {
  const n = mix === 1 ? opt.mix1Commands : opt.mix2Commands;
  const seed = opt.seed + (mix - 1);
  log(`\n=== mix ${mix}: generating ${fmtInt(n)} commands (seed ${seed}) …`);
  const g0 = performance.now();
  const w = mix === 1 ? generateMix1(n, seed) : generateMix2(n, seed);
  const genSeconds = (performance.now() - g0) / 1000;
  const s = w.stats;
  log(`    ${w.description}`);
  log(
    `    generated in ${genSeconds.toFixed(1)} s: GTC ${fmtInt(s.gtc)} (prefill ${fmtInt(s.prefill)}), IOC ${fmtInt(s.ioc)}, FOK ${fmtInt(s.fok)}, ` +
      `market ${fmtInt(s.market)}, cancel ${fmtInt(s.cancel)}, amend ${fmtInt(s.amend)}; trades ${fmtInt(s.trades)}, events ${fmtInt(s.events)}`,
  );
  log(
    `    live orders avg ${s.avgLiveOrders.toFixed(0)} (min ${s.minLiveOrders}, max ${s.maxLiveOrders}), price levels avg ${s.avgPriceLevels.toFixed(0)}, ` +
      `FOK killed ${fmtInt(s.fokKilled)}, IOC/market remainders expired ${fmtInt(s.iocExpired)}, book events per trading command ${s.avgLevelsPerTradingCommand.toFixed(2)}`,
  );
  const cmds = w.commands;

  // warm-up + validation
  const check = runOursChecked(w.config, cmds);
  if (check.problems.length > 0) {
    log(`\nFAIL: our engine rejected commands of the benchmark stream (${check.problems.length}):`);
    for (const p of check.problems) log('  ' + p);
    process.exit(1);
  }
  if (check.events !== s.events) {
    log(`\nFAIL: non-deterministic output: ${check.events} events on replay vs ${s.events} while generating`);
    process.exit(1);
  }
  const oursPass = (stream: readonly Command[], label: string): number => {
    const [sec, events] = runOursTimed(w.config, stream);
    if (stream === cmds && events !== check.events) {
      log(`\nFAIL: a pass emitted ${events} events, expected ${check.events}`);
      process.exit(1);
    }
    log(`    ${label}: ${fmtInt(stream.length / sec)} cmd/s (${sec.toFixed(3)} s)`);
    return stream.length / sec;
  };

  const p = opt.peer ? Math.min(n, opt.peerCommands) : 0;
  const prefix = p === n ? cmds : cmds.slice(0, p);

  // ours, whole stream (when the peer runs the whole stream, the interleaved rounds below are these passes)
  let runs: number[] = [];
  if (p < n) for (let r = 0; r < opt.repeats; r++) runs.push(oursPass(cmds, `ours  pass ${r + 1}/${opt.repeats}`));

  // peer: translate, warm up + check, then interleaved rounds (ours on the prefix, peer on the prefix)
  let peer: Partial<MixResult> = {};
  if (p > 0) {
    const rounds = runPeerRounds(w, prefix, p, n, opt, oursPass);
    peer = rounds.peer;
    if (p === n) runs = rounds.oursPrefix;
  }

  // ours, latency pass (whole stream)
  const deltas = new Float64Array(n);
  runOursLatency(w.config, cmds, deltas);
  const lat = latencyOf(deltas, n);
  log(`    ours  latency: p50 ${lat.p50Us} µs, p99 ${lat.p99Us} µs, p99.9 ${lat.p999Us} µs, max ${lat.maxUs} µs`);

  const result: MixResult = {
    commands: n,
    opsPerSec: Math.round(median(runs)),
    opsPerSecBest: Math.round(Math.max(...runs)),
    opsPerSecRuns: runs.map(Math.round),
    eventsPerCommand: round(check.events / n, 3),
    ...lat,
    ...peer,
    workload: { ...s, description: w.description, seed, genSeconds: round(genSeconds, 2) },
  };
  if (result.peerP50Us !== undefined) result.p50Speedup = round(result.peerP50Us / lat.p50Us, 2);
  return result;
}

// ---------------------------------------------------------------------------
// mix 1 on a narrow and a wide instrument
// ---------------------------------------------------------------------------

interface WidthResult {
  commands: number;
  /** medians of the back-to-back rounds (commands per second) */
  narrowOpsPerSec: number;
  wideOpsPerSec: number;
  narrowOpsPerSecRuns: number[];
  wideOpsPerSecRuns: number[];
  /** median over rounds of wide / narrow, each round back to back */
  wideOverNarrow: number;
  /** exec reports of the wide stream whose cumNotional passed 2^53 (the exact path's carry was taken) */
  wideExecsAboveMaxSafe: number;
  wideExecs: number;
}

/** Generates a mix at one width and checks it like runMix does (all-valid stream). */
function widthWorkload(mix: number, width: BenchWidth, n: number, seed: number): Workload {
  const w = mix === 1 ? generateMix1(n, seed, width) : generateMix2(n, seed, width);
  const check = runOursChecked(w.config, w.commands);
  if (check.problems.length > 0 || check.events !== w.stats.events) {
    log(
      `\nFAIL: mix ${mix} (${width}) stream: ${check.problems.slice(0, 5).join('; ') || 'non-deterministic event count'}`,
    );
    process.exit(1);
  }
  return w;
}

/** Exec reports of a stream, and those whose cumNotional has a high limb (above 2^53 - 1). */
function countWideExecs(w: Workload): { execs: number; above: number } {
  const engine = new Engine(w.config);
  const out = new EventBuffer();
  let execs = 0;
  let above = 0;
  for (const cmd of w.commands) {
    out.clear();
    engine.apply(cmd, out);
    for (let i = 0; i < out.count; i++) {
      if (out.kind[i] !== EventKind.EXEC) continue;
      execs++;
      if (out.cumNotionalHi[i] !== 0) above++;
    }
  }
  return { execs, above };
}

function runWidths(mix: number, opt: Options): WidthResult {
  const n = mix === 1 ? opt.mix1Commands : opt.mix2Commands;
  const seed = opt.seed + (mix - 1);
  log(`\n=== mix ${mix}, narrow vs wide instrument: ${fmtInt(n)} commands each (seed ${seed}) …`);
  const narrow = widthWorkload(mix, 'narrow', n, seed);
  const wide = widthWorkload(mix, 'wide', n, seed);
  const counts = countWideExecs(wide);
  log(`    ${wide.description}; ${fmtInt(counts.above)} of ${fmtInt(counts.execs)} exec reports above 2^53`);
  const narrowRuns: number[] = [];
  const wideRuns: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < opt.repeats; r++) {
    const a = n / runOursTimed(narrow.config, narrow.commands)[0];
    const b = n / runOursTimed(wide.config, wide.commands)[0];
    log(
      `    round ${r + 1}/${opt.repeats}: narrow ${fmtInt(a)} cmd/s, wide ${fmtInt(b)} cmd/s → wide/narrow ${(b / a).toFixed(3)}`,
    );
    narrowRuns.push(a);
    wideRuns.push(b);
    ratios.push(b / a);
  }
  return {
    commands: n,
    narrowOpsPerSec: Math.round(median(narrowRuns)),
    wideOpsPerSec: Math.round(median(wideRuns)),
    narrowOpsPerSecRuns: narrowRuns.map(Math.round),
    wideOpsPerSecRuns: wideRuns.map(Math.round),
    wideOverNarrow: round(median(ratios), 3),
    wideExecsAboveMaxSafe: counts.above,
    wideExecs: counts.execs,
  };
}

/** The results table: one row per mix for ours, one for ours on the peer's prefix (when shorter) and one for the peer. */
function printResultTable(results: Record<string, MixResult>): void {
  const rows: string[][] = [
    ['mix', 'engine', 'commands', 'cmd/s median', 'cmd/s best', 'p50 µs', 'p99 µs', 'p99.9 µs', 'max µs'],
  ];
  for (const [name, r] of Object.entries(results)) {
    rows.push([
      name,
      'ours',
      fmtInt(r.commands),
      fmtInt(r.opsPerSec),
      fmtInt(r.opsPerSecBest),
      String(r.p50Us),
      String(r.p99Us),
      String(r.p999Us),
      String(r.maxUs),
    ]);
    if (r.peerOpsPerSec !== undefined) {
      if (r.peerCommands! < r.commands) {
        rows.push([
          name,
          `ours (first ${fmtInt(r.peerCommands!)})`,
          fmtInt(r.peerCommands!),
          fmtInt(r.opsPerSecPrefix!),
          fmtInt(Math.max(...r.opsPerSecPrefixRuns!)),
          '',
          '',
          '',
          '',
        ]);
      }
      rows.push([
        name,
        PEER_NAME,
        fmtInt(r.peerCommands!),
        fmtInt(r.peerOpsPerSec),
        fmtInt(r.peerOpsPerSecBest!),
        String(r.peerP50Us),
        String(r.peerP99Us),
        String(r.peerP999Us),
        String(r.peerMaxUs),
      ]);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log('');
  for (const [i, r] of rows.entries()) {
    console.log(r.map((x, c) => (c < 2 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

function main(): void {
  process.on('uncaughtException', (err) => {
    log(`\nFAIL: ${err.stack ?? err}`);
    if (err.cause instanceof Error) log(`caused by: ${err.cause.stack ?? err.cause}`);
    process.exit(1);
  });
  const opt = parseArgs(process.argv.slice(2));
  log(
    `engine bench: node ${process.version}, ${opt.quick ? 'quick, ' : ''}repeats ${opt.repeats}, STP NONE (ours defaultStp NONE, peer stpMode NONE)`,
  );
  const timer = timerOverhead();
  log(
    `timer overhead (back-to-back): performance.now() p50 ${timer.perfNowP50Ns} ns, p99 ${timer.perfNowP99Ns} ns, min ${timer.perfNowMinNs} ns; ` +
      `process.hrtime.bigint() p50 ${timer.hrtimeBigintP50Ns} ns. Latencies below include one performance.now() overhead.`,
  );
  const results: Record<string, MixResult> = {};
  for (const mix of opt.mixes) results[`mix${mix}`] = runMix(mix, opt);
  const widths: Record<string, WidthResult> = {};
  if (opt.wide) for (const mix of opt.mixes) widths[`mix${mix}Widths`] = runWidths(mix, opt);

  printResultTable(results);
  console.log('');
  for (const [name, w] of Object.entries(widths)) {
    console.log(
      `${name.replace('Widths', '')} narrow vs wide instrument: ${fmtInt(w.narrowOpsPerSec)} vs ${fmtInt(w.wideOpsPerSec)} cmd/s (medians), ` +
        `wide/narrow ${w.wideOverNarrow} (median of ${opt.repeats} back-to-back rounds); ` +
        `${fmtInt(w.wideExecsAboveMaxSafe)} of ${fmtInt(w.wideExecs)} wide exec reports above 2^53`,
    );
  }
  for (const [name, r] of Object.entries(results)) {
    if (r.ratio !== undefined) {
      console.log(
        `${name}: ours/peer throughput ${r.ratio}x (median of ${opt.repeats} back-to-back rounds on the same ${fmtInt(r.peerCommands!)} commands; best/best ${r.ratioBest}x), ` +
          `p50 latency ${r.p50Speedup}x lower; books after the prefix ${r.peerBookDiffLevels === 0 ? 'identical' : `DIFFER in ${r.peerBookDiffLevels} levels`}; ` +
          `ours emits ${r.eventsPerCommand} events/command, the peer no per-fill reports (see bench/engine/peer-nodejs-order-book.ts)`,
      );
    }
  }
  console.log(
    `timer overhead: performance.now() back-to-back p50 ${timer.perfNowP50Ns} ns (included once in every latency figure)`,
  );
  const json: Record<string, unknown> = {
    bench: 'engine',
    node: process.version,
    quick: opt.quick,
    repeats: opt.repeats,
    stp: 'NONE',
    peer: opt.peer ? PEER_NAME : null,
    timerOverheadNs: {
      perfNowP50: timer.perfNowP50Ns,
      perfNowP99: timer.perfNowP99Ns,
      hrtimeBigintP50: timer.hrtimeBigintP50Ns,
    },
    ...results,
    ...widths,
  };
  console.log(JSON.stringify(json));
}

main();
