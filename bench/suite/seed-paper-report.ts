// The tables of `npm run bench:seed -- --paper` (bench/seed/paper.ts), as markdown, for its stdout
// and for docs/BENCHMARKS.md (run-all.ts inserts this section from the newest
// bench/results/seed-paper-*.json): our Table 2 beside the paper's, our Table 3, the paper's
// printed Table 3, and a pooled Table 3 (the paper's five rows and ours normalised together).
// Pure: figures in, markdown and plain objects out.

import { discussWinners, fmtInt, fmtLat, fmtPct, mdTable, normalisationNotes, table3Md } from './report.js';
import {
  SEED_SCENARIOS,
  SEED_TABLE_2,
  SEED_TABLE_3_PRINTED,
  SEED_WEIGHTINGS,
  table3,
  type ScenarioRow,
  type SeedAlgorithm,
  type SeedLoad,
  type Table3Row,
} from './seed-model.js';

/** One measured scenario of the --paper run (the fields of bench-seed.ts ScenarioResult read here). */
export interface PaperScenario {
  consensus: string;
  load: SeedLoad;
  replicas: number;
  offeredPerSec: number;
  achievedPerSec: number | null;
  avgMs: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  consistency: number | null;
  acked: number;
  lost: number | null;
  duplicates: number | null;
  /** CPU µs per acknowledged order of each process and `total` (bench/cpu.ts). */
  cpuUsPerOrder: Record<string, number | null> | null;
  coresBusy: number | null;
  /** Orders given up by the generator (not sent within GENERATOR_LATE_MS_MAX of their schedule). */
  notSent?: number;
  error?: string;
}

export interface PaperRun {
  date: string;
  cpus: number;
  cpuModel: string;
  node: string;
  /** os.loadavg() (1, 5, 15 min) before the first scenario and after the last. */
  loadAverageBefore: number[];
  loadAverageAfter: number[];
  protocol: string;
  fsync: boolean;
  seconds: number;
  warmupSeconds: number;
  consensusRequested: string[];
  /** The generator gives up an order not sent within this of its schedule (bench/seed/load.ts GENERATOR_LATE_MS_MAX). */
  generatorLateMsMax?: number;
  unavailable: { consensus: string; error: string; line: string }[];
  scenarios: PaperScenario[];
}

const ALGORITHM: Record<string, SeedAlgorithm> = { raft: 'Raft', multipaxos: 'Paxos' };

export function algorithmOf(consensus: string): string {
  return ALGORITHM[consensus] ?? consensus;
}

/** Orders/s the machine's cores could carry at this CPU cost per order, all of them busy (an upper bound). */
export function cpuCeilingPerSec(cpus: number, cpuUsPerOrder: number | null | undefined): number | null {
  if (cpuUsPerOrder === null || cpuUsPerOrder === undefined || !(cpuUsPerOrder > 0)) return null;
  return Math.floor((cpus * 1_000_000) / cpuUsPerOrder);
}

function measured(
  s: PaperScenario,
): s is PaperScenario & { achievedPerSec: number; avgMs: number; consistency: number } {
  return s.error === undefined && s.achievedPerSec !== null && s.avgMs !== null && s.consistency !== null;
}

export function ourRowName(s: Pick<PaperScenario, 'consensus' | 'load' | 'replicas'>): string {
  return `ours: ${s.load} load (${algorithmOf(s.consensus)}), ${s.replicas} nodes`;
}

/** Our measured scenarios as Table 2 rows for the model (failed ones left out). */
export function ourRows(scenarios: readonly PaperScenario[]): ScenarioRow[] {
  return scenarios.filter(measured).map((s) => ({
    name: ourRowName(s),
    avgLatencyMs: s.avgMs,
    throughputPerSec: s.achievedPerSec,
    consistency: s.consistency,
  }));
}

export interface PaperTables {
  table3Ours: Table3Row[];
  table3Pooled: Table3Row[];
  /** The paper's Table 3 computed from its Table 2 (equal to the printed one at its precision: test/bench/seed-model.test.ts). */
  table3Paper: Table3Row[];
}

export function paperTables(scenarios: readonly PaperScenario[]): PaperTables {
  const ours = ourRows(scenarios);
  return {
    table3Ours: table3(ours),
    table3Pooled: table3([
      ...SEED_TABLE_2.map((r) => ({ ...r, name: `paper: ${r.load} load (${r.algorithm}), ${r.nodes} nodes` })),
      ...ours,
    ]),
    table3Paper: table3(SEED_TABLE_2),
  };
}

function paperRowFor(s: PaperScenario) {
  return SEED_TABLE_2.find((r) => r.load === s.load && r.algorithm === algorithmOf(s.consensus));
}

/** Our Table 2, each row beside the paper's row of the same load and algorithm. */
export function table2Md(run: PaperRun): string {
  const rows = run.scenarios.map((s) => {
    const p = paperRowFor(s);
    const cpu = s.cpuUsPerOrder?.total ?? null;
    return [
      `${s.load} load`,
      String(s.replicas),
      algorithmOf(s.consensus),
      fmtInt(s.offeredPerSec),
      s.error !== undefined ? `failed: ${s.error}` : fmtInt(s.achievedPerSec),
      fmtLat(s.avgMs),
      fmtLat(s.p50Ms),
      fmtLat(s.p99Ms),
      s.consistency === null ? '–' : fmtPct(s.consistency),
      cpu === null ? '–' : fmtInt(cpu),
      s.coresBusy === null ? '–' : s.coresBusy.toFixed(2),
      fmtInt(cpuCeilingPerSec(run.cpus, cpu)),
      p === undefined
        ? 'no such row'
        : `${fmtInt(p.throughputPerSec)} / ${p.avgLatencyMs} ms / ${fmtPct(p.consistency)}`,
    ];
  });
  const head = [
    'scenario',
    'nodes',
    'algorithm',
    'offered/s',
    'achieved/s',
    'avg',
    'p50',
    'p99',
    'K',
    'CPU µs/order',
    'cores busy',
    `CPU ceiling/s (${run.cpus} cores)`,
    'paper: Th / T / K',
  ];
  return mdTable(
    head,
    head.map((_, i) => (i < 3 ? 'l' : 'r')),
    rows,
  );
}

/** The paper's Table 2 as printed, with its scenario definitions. */
export function paperTable2Md(): string {
  return mdTable(
    ['scenario', 'nodes', 'offered/s', 'algorithm', 'avg latency (ms)', 'throughput (req/s)', 'consistency'],
    ['l', 'r', 'r', 'l', 'r', 'r', 'r'],
    SEED_TABLE_2.map((r) => [
      `${r.load} load`,
      String(r.nodes),
      fmtInt(r.offeredPerSec),
      r.algorithm,
      String(r.avgLatencyMs),
      fmtInt(r.throughputPerSec),
      fmtPct(r.consistency),
    ]),
  );
}

/** The paper's Table 3 exactly as printed (its strings). */
export function paperTable3PrintedMd(): string {
  return mdTable(
    ['scenario', 'algorithm', 'T_norm', 'Th_norm', 'K_norm', 'F (0.5/0.3/0.2)', 'F (0.3/0.5/0.2)'],
    ['l', 'l', 'r', 'r', 'r', 'r', 'r'],
    SEED_TABLE_3_PRINTED.map((r) => [
      `${r.load} load`,
      r.algorithm,
      r.latencyNorm,
      r.throughputNorm,
      r.consistencyNorm,
      ...r.scores,
    ]),
  );
}

/** An achieved rate at least this share of the offered one counts as keeping up. */
export const KEPT_UP_SHARE = 0.95;

const pct0 = (x: number) => `${Math.round(x * 100)}%`;

/** Sentences on what the run achieved and why, from its figures only (true for any run). */
export function discussPaperRun(run: PaperRun): string[] {
  const out: string[] = [];
  const ok = run.scenarios.filter(measured);
  const kept = ok.filter((s) => s.achievedPerSec >= KEPT_UP_SHARE * s.offeredPerSec);
  const short = ok.filter((s) => s.achievedPerSec < KEPT_UP_SHARE * s.offeredPerSec);
  for (const s of kept) {
    const p = paperRowFor(s);
    out.push(
      `${ourRowName(s)} kept up with its offered ${fmtInt(s.offeredPerSec)}/s (${fmtInt(s.achievedPerSec)}/s) at ${fmtLat(s.avgMs)} average latency${p === undefined ? '' : `; the paper's row: ${fmtInt(p.throughputPerSec)}/s at ${p.avgLatencyMs} ms`}.`,
    );
  }
  for (const s of short) {
    const cpu = s.cpuUsPerOrder?.total ?? null;
    const ceiling = cpuCeilingPerSec(run.cpus, cpu);
    out.push(
      `${ourRowName(s)} achieved ${fmtInt(s.achievedPerSec)}/s of the ${fmtInt(s.offeredPerSec)}/s offered (${pct0(s.achievedPerSec / s.offeredPerSec)}); its ${fmtLat(s.avgMs)} average latency is the backlog of a saturated open-loop run${s.notSent === undefined || s.notSent === 0 ? '' : `, capped because the generator gives up an order it cannot send within ${run.generatorLateMsMax === undefined ? 'GENERATOR_LATE_MS_MAX (bench/seed/load.ts)' : `${fmtInt(run.generatorLateMsMax)} ms`} of its schedule (${fmtInt(s.notSent)} not sent)`}. ` +
        (cpu === null
          ? 'Its CPU per order was not measured.'
          : `It cost ${fmtInt(cpu)} µs of CPU per acknowledged order over all processes (${s.replicas} replicas, gateway, broker, publisher, read models and the load generator), so ${run.cpus} cores carry at most ${fmtInt(ceiling)} orders/s${s.coresBusy === null ? '' : `; ${s.coresBusy.toFixed(2)} of the ${run.cpus} cores were busy`}. The paper ran each node on its own machine.`),
    );
  }
  const cpuByNodes = ok
    .filter((s) => s.consensus === 'raft' && typeof s.cpuUsPerOrder?.total === 'number')
    .map((s) => `${fmtInt(s.cpuUsPerOrder!.total)} µs at ${s.replicas} nodes`);
  if (cpuByNodes.length > 1) out.push(`CPU per order (Raft), all processes: ${cpuByNodes.join(', ')}.`);
  const ks = ok.map((s) => fmtPct(s.consistency));
  if (ks.length > 0)
    out.push(
      `K is measured on every acknowledged order (present exactly once and identical on every replica, in the read models fed through Kafka, and in the reports the client received): ${ks.join(', ')} here; the paper prints 100%, 99%, 97% (Raft) without saying how it measured them.`,
    );
  for (const f of run.scenarios.filter((s) => s.error !== undefined))
    out.push(`${ourRowName(f)} failed before it was measured (${f.error}); it is left out of the Table 3s.`);
  return out;
}

/** Raft against Multi-Paxos at each load both were measured at; the placeholder when Multi-Paxos was not. */
export function compareProtocols(run: PaperRun): string[] {
  const ok = run.scenarios.filter(measured);
  const paxos = ok.filter((s) => s.consensus === 'multipaxos');
  if (paxos.length === 0) {
    const why = run.unavailable.find((u) => u.consensus === 'multipaxos');
    return [
      `**Multi-Paxos rows: not yet measured: Multi-Paxos is not in this build.**${why === undefined ? '' : ` The run printed: \`${why.line}\`.`}`,
    ];
  }
  const out: string[] = [];
  for (const p of paxos) {
    const r = ok.find((s) => s.consensus === 'raft' && s.load === p.load);
    if (r === undefined) continue;
    out.push(
      `${p.load} load on ${p.replicas} nodes: Raft ${fmtInt(r.achievedPerSec)}/s at ${fmtLat(r.avgMs)}, Multi-Paxos ${fmtInt(p.achievedPerSec)}/s at ${fmtLat(p.avgMs)} (p99 ${fmtLat(r.p99Ms)} vs ${fmtLat(p.p99Ms)}; CPU per order ${fmtInt(r.cpuUsPerOrder?.total)} vs ${fmtInt(p.cpuUsPerOrder?.total)} µs).`,
    );
  }
  return out;
}

const bullets = (lines: string[]) => lines.map((l) => `- ${l}`);

/** The whole --paper report: the tables and the discussion (`## ` heading when for the docs). */
export function seedPaperMarkdown(run: PaperRun, resultsPath: string | undefined, heading = '##'): string {
  const t = paperTables(run.scenarios);
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
  const md: string[] = [
    `${heading} The seed paper's experiment as the paper ran it`,
    '',
    `Command: \`npm run bench:seed -- --paper --consensus ${run.consensusRequested.join(',')} --protocol ${run.protocol} --fsync ${run.fsync ? 'on' : 'off'} --seconds ${run.seconds} --warmup ${run.warmupSeconds}\`, ${run.date}${resultsPath === undefined ? '' : `; results: [\`${resultsPath}\`](../${resultsPath})`}. The paper's scenarios as it defines them — low load ${fmtInt(SEED_SCENARIOS.low.offeredPerSec)} req/s on ${SEED_SCENARIOS.low.nodes} nodes, medium ${fmtInt(SEED_SCENARIOS.medium.offeredPerSec)}/s on ${SEED_SCENARIOS.medium.nodes}, high ${fmtInt(SEED_SCENARIOS.high.offeredPerSec)}/s on ${SEED_SCENARIOS.high.nodes} — for each consensus protocol the replicas accept, orders over ${run.protocol} through the gateway (fsync ${run.fsync ? 'on' : 'off'}), open loop, ${run.warmupSeconds} s warm-up then ${run.seconds} s measured; fills flow through Kafka (the embedded broker and the publisher) into the read models, and K is checked on them. Machine: ${run.cpus} cores (${run.cpuModel}), Node ${run.node}, every process of the scenario on it; load average (1/5/15 min) ${load(run.loadAverageBefore)} before, ${load(run.loadAverageAfter)} after (the machine is shared: a load average above ${run.cpus} means other jobs competed for its cores).`,
    '',
    ...run.unavailable.map((u) => `\`${u.line}\``),
    ...(run.unavailable.length > 0 ? [''] : []),
    "**Table 2, ours** (avg, p50, p99: from each order's scheduled send to its acknowledgement; CPU µs/order: CPU time of every process of the scenario over the acknowledged orders; CPU ceiling: the cores' time divided by it — at low load the processes' fixed costs (timers, heartbeats, polls) dominate the figure, so there it understates what the cores could carry), beside the paper's row of the same load and algorithm:",
    '',
    table2Md(run),
    '',
    "**Table 2, the paper's** (Humeniuk 2025; each node its own machine):",
    '',
    paperTable2Md(),
    '',
    ...bullets(discussPaperRun(run)),
    ...bullets(compareProtocols(run)),
    '',
    '**Table 3, ours**, normalised over our rows only:',
    '',
    t.table3Ours.length > 0 ? table3Md(t.table3Ours, SEED_WEIGHTINGS) : 'No scenario was measured.',
    '',
    ...bullets(t.table3Ours.length > 1 ? discussWinners(t.table3Ours) : []),
    '',
    "**Table 3, the paper's, as printed** (normalised over its five rows; `test/bench/seed-model.test.ts` recomputes every value from its Table 2):",
    '',
    paperTable3PrintedMd(),
    '',
    "**Table 3, pooled**: the paper's five rows and ours normalised together, so that F compares across both:",
    '',
    table3Md(t.table3Pooled, SEED_WEIGHTINGS),
    '',
    ...bullets([...discussWinners(t.table3Pooled), ...normalisationNotes(t.table3Pooled)]),
  ];
  return md.join('\n');
}

/** The heading of the docs section this one follows (report.ts seedSection). */
const AFTER_SECTION = "## The seed paper's evaluation model";

/** docs/BENCHMARKS.md with the --paper section inserted after the seed-model section (appended if there is none). */
export function insertSeedPaperSection(markdown: string, section: string): string {
  const at = markdown.indexOf(AFTER_SECTION);
  const next = at < 0 ? -1 : markdown.indexOf('\n## ', at + AFTER_SECTION.length);
  if (next < 0) return `${markdown.trimEnd()}\n\n${section}\n`;
  return `${markdown.slice(0, next)}\n${section}\n${markdown.slice(next)}`;
}
