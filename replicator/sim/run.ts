// The simulator's command line (npm run sim):
//
//   npm run sim -- --seeds 1..2000 --profile all       every profile, seeds 1 to 2000
//   npm run sim -- --consensus multipaxos --seeds 1..2000
//                                                      the same on a Multi-Paxos cluster (PaxosNode);
//                                                      --consensus raft,multipaxos or all runs both (default raft)
//   npm run sim -- --seeds 123 --profile mixed --trace  replay one seed with every event printed
//   npm run sim -- --seeds 1..50000 --jobs 2            a long run on two processes
//   npm run sim -- --list-profiles | --list-mutants     one name a line
//   npm run sim -- --mutant NAME --seeds 1..2000 --first-failure
//                                                      run a planted bug; stop at the first seed that catches it
//   npm run sim -- --check-mutants --seeds 1..2000     every planted bug must be caught (on the profile named in
//                                                      mutants.ts, or every one with --profile all)
//
// Exit code 1 on any violation, with the command that replays the failing seed; the last line
// of output is JSON with the figures.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  PROFILES,
  SimFailure,
  profilesFor,
  replayCommand,
  runSim,
  type SimConsensus,
  type SimProfile,
  type SimStats,
} from './cluster-sim.js';
import { MUTANTS, buildMutantTree, mutantByName, type Mutant } from './mutants.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The repository this copy of the simulator runs from (a mutant's tree has the same layout). */
const TREE_ROOT = path.resolve(HERE, '..', '..');
/** Failing seeds whose last trace lines are printed in full. */
const FAILURES_DETAILED_MAX = 3;
const TRACE_TAIL_LINES = 60;

/** One protocol and the profiles it runs. */
interface Suite {
  consensus: SimConsensus;
  profiles: SimProfile[];
}

interface Args {
  seeds: [number, number];
  suites: Suite[];
  trace: boolean;
  jobs: number;
  firstFailure: boolean;
  mutant: string | undefined;
  json: boolean;
}

interface Failure {
  seed: number;
  profile: string;
  consensus: SimConsensus;
  reason: string;
  replay: string;
  trace?: string[];
}

interface Summary {
  seeds: number;
  runs: number;
  profiles: string[];
  mutant: string | null;
  failures: Failure[];
  ms: number;
  totals: Partial<Record<keyof SimStats, number>>;
}

function usage(msg: string): never {
  console.error(
    `${msg}\nusage: npm run sim -- [--seeds A..B] [--profile NAME|all] [--consensus raft|multipaxos|raft,multipaxos|all] [--trace] [--jobs N] [--first-failure] [--mutant NAME] | --list-profiles | --list-mutants | --check-mutants`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args & { list?: 'profiles' | 'mutants'; checkMutants: boolean } {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const seedsArg = get('seeds') ?? '1..20';
  const m = /^(\d+)(?:\.\.(\d+))?$/.exec(seedsArg);
  if (m === null) usage(`--seeds ${seedsArg}: expected N or A..B`);
  const seeds: [number, number] = [Number(m[1]), Number(m[2] ?? m[1])];
  if (seeds[1] < seeds[0]) usage(`--seeds ${seedsArg}: empty range`);
  const profileArg = get('profile') ?? 'all';
  if (profileArg !== 'all' && PROFILES[profileArg] === undefined)
    usage(`unknown profile "${profileArg}"; --list-profiles lists them`);
  const consensusArg = get('consensus') ?? 'raft';
  const protocols = (consensusArg === 'all' ? 'raft,multipaxos' : consensusArg).split(',');
  if (protocols.some((c) => c !== 'raft' && c !== 'multipaxos'))
    usage(`--consensus ${consensusArg}: expected raft, multipaxos, raft,multipaxos or all`);
  const suites = (protocols as SimConsensus[]).map((consensus) => ({
    consensus,
    profiles: profilesFor(consensus).filter((p) => profileArg === 'all' || p.name === profileArg),
  }));
  if (suites.some((x) => x.profiles.length === 0))
    usage(`profile "${profileArg}" is not run on ${consensusArg} (--list-profiles --consensus ${consensusArg})`);
  const jobs = Number(get('jobs') ?? 1);
  if (!Number.isSafeInteger(jobs) || jobs < 1) usage(`--jobs ${jobs}`);
  return {
    seeds,
    suites,
    trace: argv.includes('--trace'),
    jobs,
    firstFailure: argv.includes('--first-failure'),
    mutant: get('mutant') ?? process.env.SIM_MUTANT,
    json: argv.includes('--json'),
    ...(argv.includes('--list-profiles')
      ? { list: 'profiles' as const }
      : argv.includes('--list-mutants')
        ? { list: 'mutants' as const }
        : {}),
    checkMutants: argv.includes('--check-mutants'),
  };
}

/** Runs seeds in seed-major order (seed 1 on every profile, then seed 2, …), so --first-failure finds the lowest seed. */
function runRange(a: Args): Summary {
  const t0 = performance.now();
  const failures: Failure[] = [];
  const totals: Partial<Record<keyof SimStats, number>> = {};
  let runs = 0;
  outer: for (let seed = a.seeds[0]; seed <= a.seeds[1]; seed++) {
    for (const { consensus, profile } of runsOf(a)) {
      runs++;
      try {
        const s = runSim({
          seed,
          profile,
          consensus,
          ...(a.trace ? { onTrace: (l: string) => console.log(l) } : {}),
        });
        for (const [k, v] of Object.entries(s) as [keyof SimStats, number][])
          totals[k] = k === 'electionStepsMax' ? Math.max(totals[k] ?? 0, v) : (totals[k] ?? 0) + v;
      } catch (e) {
        if (!(e instanceof SimFailure)) throw e;
        failures.push({
          seed,
          profile: profile.name,
          consensus,
          reason: e.reason,
          replay: replayCommand(seed, profile.name, a.mutant, consensus),
        });
        if (a.firstFailure) break outer;
      }
    }
  }
  // A failing seed is replayed with a trace for the report (one seed reproduces its run exactly).
  for (const f of failures.slice(0, FAILURES_DETAILED_MAX)) {
    if (a.trace) continue;
    try {
      runSim({ seed: f.seed, profile: PROFILES[f.profile]!, consensus: f.consensus, trace: true });
    } catch (e) {
      if (e instanceof SimFailure) f.trace = e.trace.slice(-TRACE_TAIL_LINES);
    }
  }
  return {
    seeds: a.seeds[1] - a.seeds[0] + 1,
    runs,
    profiles: profileNames(a),
    mutant: a.mutant ?? null,
    failures,
    ms: Math.round(performance.now() - t0),
    totals,
  };
}

/** Splits the seed range over `jobs` child processes and merges their summaries. */
async function runJobs(a: Args, argv: string[]): Promise<Summary> {
  const t0 = performance.now();
  const [lo, hi] = a.seeds;
  const per = Math.ceil((hi - lo + 1) / a.jobs);
  const parts: Promise<Summary>[] = [];
  for (let j = 0; j < a.jobs; j++) {
    const from = lo + j * per;
    const to = Math.min(hi, from + per - 1);
    if (from > to) break;
    const args = withoutFlags(argv, ['--seeds', '--jobs'], ['--json']).concat(['--seeds', `${from}..${to}`, '--json']);
    parts.push(runChild(fileURLToPath(import.meta.url), args, process.env));
  }
  const done = await Promise.all(parts);
  const totals: Partial<Record<keyof SimStats, number>> = {};
  for (const s of done)
    for (const [k, v] of Object.entries(s.totals) as [keyof SimStats, number][])
      totals[k] = k === 'electionStepsMax' ? Math.max(totals[k] ?? 0, v) : (totals[k] ?? 0) + v;
  return {
    seeds: hi - lo + 1,
    runs: done.reduce((n, s) => n + s.runs, 0),
    profiles: profileNames(a),
    mutant: a.mutant ?? null,
    failures: done.flatMap((s) => s.failures).sort((x, y) => x.seed - y.seed),
    ms: Math.round(performance.now() - t0),
    totals,
  };
}

function mutantConsensus(m: Mutant): SimConsensus {
  return m.consensus ?? 'raft';
}

/** The planted bugs of the protocols asked for (--consensus). */
function mutantsOf(a: Args): Mutant[] {
  return MUTANTS.filter((m) => a.suites.some((x) => x.consensus === mutantConsensus(m)));
}

/** Every (protocol, profile) pair of one seed, Raft first. */
function runsOf(a: Args): { consensus: SimConsensus; profile: SimProfile }[] {
  return a.suites.flatMap((x) => x.profiles.map((profile) => ({ consensus: x.consensus, profile })));
}

function profileNames(a: Args): string[] {
  return runsOf(a).map((r) => (r.consensus === 'raft' ? r.profile.name : `${r.profile.name} (${r.consensus})`));
}

function withoutFlags(argv: string[], withValue: string[], bare: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (withValue.includes(argv[i]!)) {
      i++;
      continue;
    }
    if (bare.includes(argv[i]!)) continue;
    out.push(argv[i]!);
  }
  return out;
}

/** Runs this CLI (or a mutant tree's copy of it) in a child; its last output line is the JSON summary. */
function runChild(script: string, args: string[], env: NodeJS.ProcessEnv, echo = false): Promise<Summary> {
  return new Promise((resolve, reject) => {
    // This file compiled (dist/…/run.js) runs with plain node; TypeScript (the source tree, a mutant's copy) through tsx.
    const nodeArgs = script.endsWith('.ts') ? ['--import', 'tsx', script] : [script];
    const child = spawn(process.execPath, [...nodeArgs, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (echo) process.stdout.write(d);
    });
    child.on('error', reject);
    child.on('close', () => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as Summary);
      } catch {
        reject(new Error(`simulator child ${script} ${args.join(' ')} printed no summary:\n${out.slice(-2000)}`));
      }
    });
  });
}

function report(s: Summary, json: boolean): void {
  if (!json) {
    for (const f of s.failures.slice(0, FAILURES_DETAILED_MAX)) {
      if (f.trace !== undefined)
        console.log(`last events of seed ${f.seed} (${f.profile}):\n  ${f.trace.join('\n  ')}`);
    }
    for (const f of s.failures)
      console.log(
        `FAIL seed ${f.seed} profile "${f.profile}"${f.consensus !== 'raft' ? ` (${f.consensus})` : ''}: ${f.reason.split('\n')[0]}\n  replay: ${f.replay}`,
      );
    console.log(
      `${s.runs} runs (${s.seeds} seeds × ${s.profiles.length} profiles${s.mutant !== null ? `, mutant ${s.mutant}` : ''}) in ${(s.ms / 1000).toFixed(1)} s: ${s.failures.length} failed`,
    );
  }
  const { failures, ...rest } = s;
  console.log(JSON.stringify({ ...rest, failures: failures.map(({ trace: _t, ...f }) => f) }));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const a = parseArgs(argv);
  if (a.list === 'profiles') {
    for (const x of a.suites) for (const p of x.profiles) console.log(p.name);
    return;
  }
  if (a.list === 'mutants') {
    for (const m of argv.includes('--consensus') ? mutantsOf(a) : MUTANTS) console.log(m.name);
    return;
  }
  if (a.checkMutants) {
    // Every planted bug must be caught within the seeds given, on some profile.
    const rows: { mutant: string; seed: number | null; profile: string | null; reason: string | null }[] = [];
    const profileGiven = argv.includes('--profile');
    for (const m of mutantsOf(a)) {
      const dir = buildMutantTree(TREE_ROOT, m);
      const args = [
        ...withoutFlags(argv, ['--mutant', '--consensus'], ['--check-mutants', '--json']),
        '--consensus',
        mutantConsensus(m),
        ...(profileGiven ? [] : ['--profile', m.profile]),
        '--first-failure',
        '--json',
      ];
      const s = await runChild(path.join(dir, 'replicator', 'sim', 'run.ts'), args, {
        ...process.env,
        SIM_MUTANT: m.name,
      });
      const f = s.failures[0];
      rows.push({
        mutant: m.name,
        seed: f?.seed ?? null,
        profile: f?.profile ?? null,
        reason: f === undefined ? null : f.reason.split('\n')[0]!.slice(0, 160),
      });
      console.log(
        `${m.name}: ${f !== undefined ? `caught by seed ${f.seed} on "${f.profile}": ${rows[rows.length - 1]!.reason}` : 'NOT CAUGHT'}`,
      );
    }
    const missed = rows.filter((r) => r.seed === null).length;
    console.log(JSON.stringify({ checkMutants: rows, seeds: a.seeds, missed }));
    process.exitCode = missed > 0 ? 1 : 0;
    return;
  }
  if (a.mutant !== undefined && process.env.SIM_MUTANT === undefined) {
    // Run from a copy of the sources with the bug planted.
    const mutant = mutantByName(a.mutant);
    const dir = buildMutantTree(TREE_ROOT, mutant);
    // A planted bug runs on its own protocol unless told otherwise.
    const consensus = argv.includes('--consensus') ? [] : ['--consensus', mutantConsensus(mutant)];
    const s = await runChild(
      path.join(dir, 'replicator', 'sim', 'run.ts'),
      withoutFlags(argv, ['--mutant'], []).concat(consensus, a.json ? [] : ['--json']),
      { ...process.env, SIM_MUTANT: a.mutant },
      a.trace,
    );
    report(s, a.json);
    process.exitCode = s.failures.length > 0 ? 1 : 0;
    return;
  }
  const s = a.jobs > 1 ? await runJobs(a, argv) : runRange(a);
  report(s, a.json);
  process.exitCode = s.failures.length > 0 ? 1 : 0;
}

await main();
