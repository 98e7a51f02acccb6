// docs/BENCHMARKS.md and the charts in docs/, generated from one suite results file
// (bench/results/<date>.json, written by run-all.ts). Pure: results in, markdown and SVG strings
// out; run-all.ts does the writing. Each bench's figures are read from the last JSON line that
// bench printed (shapes as in bench/results/<bench>-*.json); a field that is missing prints '–'.

import { barChartSvg, DASH_P50, DASH_P999, lineChartSvg, PALETTE, type LegendItem, type LineSeries } from './charts.js';
import {
  SEED_SYSTEM,
  SEED_TABLE_2,
  SEED_TABLE_2_RAFT,
  SEED_WEIGHTINGS,
  table3,
  winners,
  type NamedWeights,
  type ScenarioRow,
  type Table3Row,
} from './seed-model.js';

// ---------------------------------------------------------------------------
// the results file
// ---------------------------------------------------------------------------

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  os: string;
  node: string;
}

export interface BenchEntry {
  name: string;
  status: 'ok' | 'failed';
  mode: 'quick' | 'full';
  /** The command as a user would type it. */
  command: string;
  startedAt: string;
  durationSec: number;
  exitCode: number | null;
  signal?: string | null;
  timedOut?: boolean;
  /** The bench's last JSON line, when it printed one (also kept for a failed bench). */
  result?: Record<string, unknown>;
  error?: string;
  stderrTail?: string;
}

export interface SuiteResults {
  suite: 'matchbook-bench';
  version: 1;
  /** YYYY-MM-DD (UTC) of the run; names the results file. */
  date: string;
  startedAt: string;
  finishedAt: string;
  durationSec: number;
  mode: 'quick' | 'full';
  machine: Machine;
  benches: Record<string, BenchEntry>;
}

/** The seed-scenario benchmark's row (bench/seed/bench-seed.ts, last line `{scenarios: [...]}`). */
export interface SeedScenario {
  protocol: string;
  replicas: number;
  fsync: boolean | string;
  offeredPerSec: number;
  /** null (like avgMs and consistency) when the scenario failed before it was measured. */
  achievedPerSec: number | null;
  avgMs: number | null;
  p50Ms?: number | null;
  p90Ms?: number | null;
  p99Ms?: number | null;
  p999Ms?: number | null;
  maxMs?: number | null;
  /** Fraction in [0, 1]; a value above 1 is read as a percentage. */
  consistency: number | null;
  acked?: number;
  notSent?: number;
  lost?: number | null;
  duplicates?: number | null;
  error?: string;
  name?: string;
}

/** A scenario with the three figures the seed's model needs. */
type ScoredScenario = SeedScenario & { achievedPerSec: number; avgMs: number; consistency: number };

export interface Chart {
  /** File name inside docs/. */
  file: string;
  alt: string;
  svg: string;
}

export interface Docs {
  markdown: string;
  charts: Chart[];
}

/** Benches in suite order, with their section titles. */
export const BENCH_TITLES: Record<string, string> = {
  engine: 'Matching engine',
  replay: 'Replay and audit',
  replicator: 'Replication (Raft log, 3 replicas, fsync)',
  rest: 'Order entry over REST',
  grpc: 'Order entry over gRPC',
  feed: 'Market data (WebSocket feed)',
  events: 'Events to Kafka and read models',
  seed: 'Seed-paper scenarios',
};

// ---------------------------------------------------------------------------
// formatting
// ---------------------------------------------------------------------------

type Json = Record<string, unknown>;

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
function obj(v: unknown): Json | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
}
function arr(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter((x): x is Json => obj(x) !== null) : [];
}

const DASH = '–';

export function fmtInt(v: unknown): string {
  const n = num(v);
  return n === null ? DASH : Math.round(n).toLocaleString('en-US');
}

/** Latency: two decimals under 1, one under 10, whole numbers above (as the READMEs print them). */
export function fmtLat(v: unknown, unit = 'ms'): string {
  const n = num(v);
  if (n === null) return DASH;
  const s = n < 1 ? n.toFixed(2) : n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US');
  return unit === '' ? s : `${s} ${unit}`;
}

export function fmtFixed(v: number, digits: number): string {
  return v.toFixed(digits);
}

export function fmtPct(fraction: number): string {
  return `${Number((fraction * 100).toFixed(2))}%`;
}

function fmtOffered(v: unknown): string {
  return v === 'max' ? 'max (closed loop)' : fmtInt(v);
}

export function mdTable(headers: string[], align: ('l' | 'r')[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    `| ${headers.map(esc).join(' | ')} |`,
    `| ${align.map((a) => (a === 'r' ? '---:' : '---')).join(' | ')} |`,
  ];
  for (const r of rows) lines.push(`| ${r.map(esc).join(' | ')} |`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// latency and throughput charts shared by the benches
// ---------------------------------------------------------------------------

interface LatencyPoint {
  x: number;
  p50: number | null;
  p99: number | null;
  p999: number | null;
}

interface LatencyConfig {
  name: string;
  points: LatencyPoint[];
}

const PCT_STYLE = [
  { key: 'p50', label: 'p50', dash: DASH_P50 },
  { key: 'p99', label: 'p99', dash: undefined },
  { key: 'p999', label: 'p99.9', dash: DASH_P999 },
] as const;

/** Spans more than a decade → log axis. */
function spansDecade(values: (number | null)[]): boolean {
  const v = values.filter((x): x is number => x !== null && x > 0);
  return v.length > 1 && Math.max(...v) / Math.min(...v) >= 10;
}

/**
 * p50/p99/p99.9 against offered load. One configuration: a colour per percentile. Several:
 * a colour per configuration and a line style per percentile, with a legend for each.
 */
function latencyChart(
  file: string,
  title: string,
  subtitle: string,
  xLabel: string,
  configs: LatencyConfig[],
  yLabel = 'latency (ms)',
): Chart {
  const series: LineSeries[] = [];
  let legend: LegendItem[] | undefined;
  if (configs.length === 1) {
    PCT_STYLE.forEach((p, i) => {
      series.push({
        name: p.label,
        color: PALETTE[i]!,
        ...(p.dash ? { dash: p.dash } : {}),
        points: configs[0]!.points.map((pt) => ({ x: pt.x, y: pt[p.key] })),
      });
    });
  } else {
    legend = [];
    configs.forEach((c, ci) => {
      const color = PALETTE[ci % PALETTE.length]!;
      legend!.push({ label: c.name, color });
      for (const p of PCT_STYLE)
        series.push({
          name: `${c.name} ${p.label}`,
          color,
          ...(p.dash ? { dash: p.dash } : {}),
          points: c.points.map((pt) => ({ x: pt.x, y: pt[p.key] })),
        });
    });
    for (const p of PCT_STYLE) legend.push({ label: p.label, color: '#555', ...(p.dash ? { dash: p.dash } : {}) });
  }
  const xs = configs.flatMap((c) => c.points.map((p) => p.x));
  const ys = configs.flatMap((c) => c.points.flatMap((p) => [p.p50, p.p99, p.p999]));
  const svg = lineChartSvg({
    title,
    subtitle,
    xLabel,
    yLabel,
    series,
    logX: spansDecade(xs),
    logY: spansDecade(ys),
    ...(legend ? { legend } : {}),
  });
  return { file, alt: title, svg };
}

// ---------------------------------------------------------------------------
// per-bench sections
// ---------------------------------------------------------------------------

interface Section {
  markdown: string;
  charts: Chart[];
}

function engineSection(r: Json): Section {
  const rows: string[][] = [];
  const cats: string[] = [];
  const ours: (number | null)[] = [];
  const peer: (number | null)[] = [];
  for (const key of ['mix1', 'mix2']) {
    const m = obj(r[key]);
    if (!m) continue;
    const label = key === 'mix1' ? 'mix 1 (exchange-core style)' : 'mix 2 (matching-heavy)';
    rows.push([
      label,
      'matchbook',
      fmtInt(m.commands),
      fmtInt(m.opsPerSec),
      fmtLat(m.p50Us, ''),
      fmtLat(m.p99Us, ''),
      fmtLat(m.p999Us, ''),
      fmtLat(m.maxUs, ''),
      num(m.ratio) === null ? DASH : `${m.ratio}×`,
    ]);
    if (num(m.peerOpsPerSec) !== null)
      rows.push([
        '',
        'nodejs-order-book',
        fmtInt(m.peerCommands),
        fmtInt(m.peerOpsPerSec),
        fmtLat(m.peerP50Us, ''),
        fmtLat(m.peerP99Us, ''),
        fmtLat(m.peerP999Us, ''),
        fmtLat(m.peerMaxUs, ''),
        '1×',
      ]);
    cats.push(label);
    ours.push(num(m.opsPerSec));
    peer.push(num(m.peerOpsPerSec));
  }
  const md = [
    mdTable(
      ['workload', 'engine', 'commands', 'commands/s (median)', 'p50 µs', 'p99 µs', 'p99.9 µs', 'max µs', 'vs peer'],
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      rows,
    ),
    '',
    '`vs peer` is the median of per-round throughput ratios on the same command prefix (see bench/README.md).',
  ];
  const charts: Chart[] = [];
  if (cats.length > 0) {
    const groups = [{ name: 'matchbook', values: ours }];
    if (peer.some((v) => v !== null)) groups.push({ name: 'nodejs-order-book', values: peer });
    charts.push({
      file: 'bench-throughput-engine.svg',
      alt: 'Matching engine throughput per workload',
      svg: barChartSvg({
        title: 'Matching engine throughput per workload',
        subtitle: 'one core, median of the throughput passes',
        yLabel: 'commands/s',
        categories: cats,
        groups,
        valueLabels: true,
      }),
    });
  }
  return { markdown: md.join('\n'), charts };
}

function replaySection(r: Json): Section {
  const rows: string[][] = [];
  for (const phase of ['wal-read', 'replay', 'verify-state', 'verify']) {
    const p = obj(r[phase]);
    if (p) rows.push([phase, fmtInt(p.medianMs), fmtInt(p.commandsPerSec)]);
  }
  const md = [
    `${fmtInt(r.commands)} commands in ${fmtInt(r.entries)} log entries, ${fmtInt(r.reportsChained)} chained reports, ${fmtInt(r.repeats)} repeat(s) (median).`,
    '',
    mdTable(['phase', 'median ms', 'commands/s'], ['l', 'r', 'r'], rows),
  ];
  if (num(r.targetCommandsPerSec) !== null)
    md.push(
      '',
      `Target ${fmtInt(r.targetCommandsPerSec)} commands/s: verify ${r.targetMet ? 'met' : '**not met**'}, verify-state ${r.verifyStateTargetMet ? 'met' : '**not met**'}.`,
    );
  return { markdown: md.join('\n'), charts: [] };
}

function replicatorSection(r: Json): Section {
  const steps = arr(r.steps);
  const rows = steps.map((s) => [
    fmtOffered(s.offered),
    fmtInt(s.committedPerSec),
    fmtLat(s.p50Ms),
    fmtLat(s.p99Ms),
    fmtLat(s.p999Ms),
    fmtLat(s.maxMs),
  ]);
  const md = [
    `3 replica processes on loopback, fsync ${r.fsync === false ? 'off' : 'on'}, ${fmtInt(r.clients)} client sessions (window ${fmtInt(r.window)}), ${fmtInt(r.seconds)} s per step; latency from each command's scheduled send time to its acknowledgement.`,
    '',
    mdTable(['offered/s', 'committed/s', 'p50', 'p99', 'p99.9', 'max'], ['r', 'r', 'r', 'r', 'r', 'r'], rows),
  ];
  const open = steps.filter((s) => num(s.offered) !== null);
  const charts: Chart[] = [];
  if (open.length > 0)
    charts.push(
      latencyChart(
        'bench-latency-replicator.svg',
        'Replication: commit latency vs offered load',
        '3 replicas, fsync on, open loop; latency from scheduled send to acknowledgement',
        'offered commands/s',
        [
          {
            name: 'replicator',
            points: open.map((s) => ({
              x: num(s.offered)!,
              p50: num(s.p50Ms),
              p99: num(s.p99Ms),
              p999: num(s.p999Ms),
            })),
          },
        ],
      ),
    );
  return { markdown: md.join('\n'), charts };
}

function failoverSection(r: Json): Section | null {
  const f = obj(r.failover);
  if (!f) return null;
  const e = obj(f.elected);
  const c = obj(f.firstCommit);
  const row = (label: string, x: Json | null) => [label, fmtInt(x?.minMs), fmtInt(x?.p50Ms), fmtInt(x?.maxMs)];
  return {
    markdown: [
      `${fmtInt(f.trials)} trials under load (from bench:replicator): SIGKILL the leader, then time until a survivor reports itself leader (\`elected\`) and until the first acknowledgement by the new leader (\`first commit\`).`,
      '',
      mdTable(
        ['measure', 'min ms', 'p50 ms', 'max ms'],
        ['l', 'r', 'r', 'r'],
        [row('elected', e), row('first commit', c)],
      ),
    ].join('\n'),
    charts: [],
  };
}

function gatewaySteps(name: 'rest' | 'grpc', r: Json): Section {
  const steps = arr(r.steps);
  const cores = (s: Json) => (num(s.coresBusy) === null ? DASH : String(s.coresBusy));
  const rows =
    name === 'rest'
      ? steps.map((s) => [
          fmtOffered(s.offered),
          fmtInt(s.ordersPerSec),
          fmtLat(s.p50Ms),
          fmtLat(s.p99Ms),
          fmtLat(s.p999Ms),
          fmtLat(s.maxMs),
          fmtInt(s.non2xx),
          fmtInt(s.errors),
          cores(s),
        ])
      : steps.map((s) => [
          String(s.mode ?? DASH),
          fmtInt(s.batch),
          fmtOffered(s.offered),
          fmtInt(s.ordersPerSec),
          fmtLat(s.p50Ms),
          fmtLat(s.p99Ms),
          fmtLat(s.p999Ms),
          fmtLat(s.maxMs),
          fmtInt(s.errors),
          cores(s),
        ]);
  const head =
    name === 'rest'
      ? ['offered/s', 'acknowledged/s', 'p50', 'p99', 'p99.9', 'max', 'non-2xx', 'errors', 'cores busy']
      : [
          'mode',
          'orders per message',
          'offered/s',
          'acknowledged/s',
          'p50',
          'p99',
          'p99.9',
          'max',
          'errors',
          'cores busy',
        ];
  const intro =
    name === 'rest'
      ? `autocannon, ${fmtInt(r.connections)} connections, \`POST /v1/orders\` signed per request; 3 replicas (fsync on) and the gateway as processes; ${fmtInt(r.seconds)} s per step.`
      : `${fmtInt(r.streams)} \`OrderSession\` streams, open loop, latency from each message's scheduled send time; 3 replicas (fsync on) and the gateway as processes; ${fmtInt(r.seconds)} s per step.`;
  const md = [
    intro,
    '',
    mdTable(
      head,
      head.map((_, i) => (i === 0 && name === 'grpc' ? 'l' : 'r')),
      rows,
    ),
  ];
  const charts: Chart[] = [];
  const open = steps.filter((s) => num(s.offered) !== null);
  if (open.length > 0) {
    const modes = [...new Set(open.map((s) => String(s.mode ?? name)))];
    const configs = modes.map((m) => ({
      name: name === 'rest' ? 'REST' : `gRPC ${m}`,
      points: open
        .filter((s) => String(s.mode ?? name) === m)
        .map((s) => ({ x: num(s.offered)!, p50: num(s.p50Ms), p99: num(s.p99Ms), p999: num(s.p999Ms) })),
    }));
    const label = name === 'rest' ? 'REST' : 'gRPC';
    charts.push(
      latencyChart(
        `bench-latency-${name}.svg`,
        `Order entry over ${label}: latency vs offered load`,
        'gateway + 3 replicas (fsync on), open loop',
        'offered orders/s',
        configs,
      ),
    );
  }
  return { markdown: md.join('\n'), charts };
}

function feedSection(r: Json): Section {
  const steps = arr(r.steps);
  const rows = steps.map((s) => [
    fmtInt(s.subscribers),
    fmtInt(s.commandsPerSec),
    fmtInt(s.entriesPerSec),
    fmtInt(s.deliveredPerSec),
    fmtLat(s.p50Ms),
    fmtLat(s.p99Ms),
    fmtLat(s.p999Ms),
    fmtLat(s.maxMs),
    fmtInt(s.gaps),
  ]);
  const client = obj(r.client);
  const md = [
    `One feed process applying log entries at a fixed rate, subscribers over loopback in ${fmtInt(r.workers)} generator threads; latency from each entry's scheduled time to receipt; ${fmtInt(r.seconds)} s per step.`,
    '',
    mdTable(
      ['subscribers', 'orders/s', 'log entries/s', 'delivered messages/s', 'p50', 'p99', 'p99.9', 'max', 'seq gaps'],
      ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      rows,
    ),
  ];
  if (client)
    md.push(
      '',
      `Client library: ${fmtInt(client.perSec)} l2 updates/s on one core (${client.usPerUpdate} µs per update of ~${client.levelsPerUpdate} levels).`,
    );
  const bySubs = new Map<number, LatencyPoint[]>();
  for (const s of steps) {
    const subs = num(s.subscribers);
    const x = num(s.deliveredPerSec);
    if (subs === null || x === null) continue;
    if (!bySubs.has(subs)) bySubs.set(subs, []);
    bySubs.get(subs)!.push({ x, p50: num(s.p50Ms), p99: num(s.p99Ms), p999: num(s.p999Ms) });
  }
  const configs = [...bySubs.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([subs, points]) => ({ name: `${subs.toLocaleString('en-US')} subscribers`, points }));
  const charts =
    configs.length > 0
      ? [
          latencyChart(
            'bench-latency-feed.svg',
            'Market data: delivery latency vs load',
            'one feed process, subscribers over loopback',
            'delivered messages/s',
            configs,
          ),
        ]
      : [];
  return { markdown: md.join('\n'), charts };
}

function eventsSection(r: Json): Section {
  const p = obj(r.publish);
  const lag = arr(r.lag);
  const md: string[] = [];
  if (p)
    md.push(
      `Publish: a backlog of ${fmtInt(p.backlogCommands)} commands (${fmtInt(p.eventRecords)} event records) published at **${fmtInt(p.eventsPerS)} events/s**; read models applied ${fmtInt(p.readModelRecordsPerS)} records/s${num(p.coresBusy) !== null ? ` (${p.coresBusy} cores busy)` : ''}.`,
      '',
    );
  const rows = lag.map((l) => {
    const rec = obj(l.record);
    const vis = obj(l.visible);
    return [
      fmtInt(l.offeredPerS),
      fmtInt(l.committed),
      fmtLat(rec?.p50Ms),
      fmtLat(rec?.p99Ms),
      fmtLat(rec?.maxMs),
      fmtLat(vis?.p50Ms),
      fmtLat(vis?.p99Ms),
      fmtLat(vis?.maxMs),
    ];
  });
  md.push(
    'End-to-end lag from commit to the event record applied by the read models (`record`) and to read-your-writes visibility (`visible`):',
    '',
    mdTable(
      ['offered/s', 'committed', 'record p50', 'record p99', 'record max', 'visible p50', 'visible p99', 'visible max'],
      ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      rows,
    ),
  );
  const pts = (k: 'record' | 'visible') =>
    lag
      .filter((l) => num(l.offeredPerS) !== null)
      .map((l) => ({
        x: num(l.offeredPerS)!,
        p50: num(obj(l[k])?.p50Ms),
        p99: num(obj(l[k])?.p99Ms),
        p999: num(obj(l[k])?.p999Ms),
      }));
  const charts =
    lag.length > 0
      ? [
          latencyChart(
            'bench-latency-events.svg',
            'Events: commit-to-read-model lag vs offered load',
            'publisher → broker → read models; all processes on one machine',
            'offered commands/s',
            [
              { name: 'record applied', points: pts('record') },
              { name: 'visible (read-your-writes)', points: pts('visible') },
            ],
          ),
        ]
      : [];
  return { markdown: md.join('\n'), charts };
}

/** An open-loop step counts as sustained when it acknowledged this share of the offered rate… */
export const SUSTAINED_ACHIEVED_MIN = 0.95;
/** …with its p99 under this (ms): past saturation the backlog, not the system, sets the latency. */
export const SUSTAINED_P99_MAX_MS = 1000;

/** Highest sustained open-loop rate and closed-loop max of the order path, per configuration. */
function orderPathChart(benches: Record<string, BenchEntry>): Chart | null {
  const cats: string[] = [];
  const open: (number | null)[] = [];
  const closed: (number | null)[] = [];
  const add = (label: string, r: Json | undefined, achievedKey: string) => {
    if (!r) return;
    const steps = arr(r.steps);
    if (steps.length === 0) return;
    const o = steps
      .filter((s) => {
        const offered = num(s.offered);
        const achieved = num(s[achievedKey]);
        const p99 = num(s.p99Ms);
        return (
          offered !== null &&
          achieved !== null &&
          achieved >= SUSTAINED_ACHIEVED_MIN * offered &&
          (p99 === null || p99 < SUSTAINED_P99_MAX_MS)
        );
      })
      .map((s) => num(s[achievedKey])!);
    const c = steps.filter((s) => s.offered === 'max').map((s) => num(s[achievedKey]) ?? 0);
    cats.push(label);
    open.push(o.length ? Math.max(...o) : null);
    closed.push(c.length ? Math.max(...c) : null);
  };
  add('Raft log (3 replicas, fsync)', benches.replicator?.result, 'committedPerSec');
  add('gRPC gateway + 3 replicas', benches.grpc?.result, 'ordersPerSec');
  add('REST gateway + 3 replicas', benches.rest?.result, 'ordersPerSec');
  if (cats.length === 0) return null;
  return {
    file: 'bench-throughput-order-path.svg',
    alt: 'Order path throughput per configuration',
    svg: barChartSvg({
      title: 'Order path throughput per configuration',
      subtitle: `open loop: highest step with ≥ ${SUSTAINED_ACHIEVED_MIN * 100}% of offered acknowledged and p99 < ${SUSTAINED_P99_MAX_MS / 1000} s; closed loop: max`,
      yLabel: 'acknowledged commands/s',
      categories: cats,
      groups: [
        { name: 'open loop, sustained', values: open },
        { name: 'closed loop (max)', values: closed },
      ],
      logY: spansDecade([...open, ...closed]),
      valueLabels: true,
    }),
  };
}

// ---------------------------------------------------------------------------
// the seed paper's Table 3 form
// ---------------------------------------------------------------------------

function fsyncLabel(f: boolean | string): string {
  return f === true || f === 'on' || f === 'true'
    ? 'fsync on'
    : f === false || f === 'off' || f === 'false'
      ? 'fsync off'
      : `fsync ${String(f)}`;
}

export function seedConfigName(s: SeedScenario): string {
  return `${s.protocol}, ${s.replicas} ${s.replicas === 1 ? 'replica' : 'replicas'}, ${fsyncLabel(s.fsync)}`;
}

export function seedScenarioName(s: SeedScenario): string {
  return s.name ?? `${seedConfigName(s)} @ ${Math.round(s.offeredPerSec).toLocaleString('en-US')}/s`;
}

function consistencyFraction(c: number): number {
  return c > 1 ? c / 100 : c;
}

export function seedScenarios(r: Json | undefined): SeedScenario[] {
  if (!r) return [];
  return arr(r.scenarios)
    .filter((s) => typeof s.protocol === 'string' && num(s.replicas) !== null && num(s.offeredPerSec) !== null)
    .map((s) => s as unknown as SeedScenario);
}

export function scored(s: SeedScenario): s is ScoredScenario {
  return num(s.avgMs) !== null && num(s.achievedPerSec) !== null && num(s.consistency) !== null;
}

export function seedRows(scenarios: ScoredScenario[]): ScenarioRow[] {
  return scenarios.map((s) => ({
    name: seedScenarioName(s),
    avgLatencyMs: s.avgMs,
    throughputPerSec: s.achievedPerSec,
    consistency: consistencyFraction(s.consistency),
  }));
}

export function table3Md(rows: Table3Row[], weightings: readonly NamedWeights[]): string {
  const head = [
    'scenario',
    'T avg latency (ms)',
    'Th (req/s)',
    'K',
    'T_norm',
    'Th_norm',
    'K_norm',
    ...weightings.map((w) => `F ${w.name} (${w.alpha}/${w.beta}/${w.gamma})`),
  ];
  const wins = weightings.map((_, w) => new Set(winners(rows, w)));
  const body = rows.map((r, i) => [
    r.name,
    fmtLat(r.avgLatencyMs, ''),
    fmtInt(r.throughputPerSec),
    fmtPct(r.consistency),
    fmtFixed(r.latencyNorm, 2),
    fmtFixed(r.throughputNorm, 2),
    fmtFixed(r.consistencyNorm, 2),
    ...r.scores.map((f, w) => (wins[w]!.has(i) ? `**${fmtFixed(f, 2)}**` : fmtFixed(f, 2))),
  ]);
  return mdTable(
    head,
    head.map((_, i) => (i === 0 ? 'l' : 'r')),
    body,
  );
}

const TERM_NAMES = ['latency', 'throughput', 'consistency'] as const;

function contributions(r: Table3Row, w: NamedWeights): number[] {
  return [w.alpha * r.latencyNorm, w.beta * r.throughputNorm, w.gamma * r.consistencyNorm];
}

function explainScore(r: Table3Row, w: NamedWeights, wi: number): string {
  const c = contributions(r, w);
  return `F = ${fmtFixed(r.scores[wi]!, 2)} = ${w.alpha}·${fmtFixed(r.latencyNorm, 2)} + ${w.beta}·${fmtFixed(r.throughputNorm, 2)} + ${w.gamma}·${fmtFixed(r.consistencyNorm, 2)} = ${c.map((x) => fmtFixed(x, 2)).join(' + ')}`;
}

/** A consistency spread below this (a fraction: one percentage point) is noted as stretched by the normalisation. */
const SMALL_CONSISTENCY_SPAN = 0.01;
/** A winner with T_norm below this is noted as far from the fastest scenario. */
const SLOW_WINNER_T_NORM = 0.75;

/** Scores that differ by less than this print the same at two decimals. */
const PRINTED_SCORE_STEP = 0.005;

/** One sentence per weighting: who wins, from which terms, and against whom. */
export function discussWinners(rows: Table3Row[], weightings: readonly NamedWeights[] = SEED_WEIGHTINGS): string[] {
  if (rows.length === 0) return [];
  const out: string[] = [];
  weightings.forEach((w, wi) => {
    const win = winners(rows, wi);
    const head = `Under **${w.name}** (α ${w.alpha}, β ${w.beta}, γ ${w.gamma})`;
    if (rows.length === 1) {
      out.push(
        `${head} there is a single scenario, ${rows[0]!.name}; min–max normalisation needs at least two to discriminate.`,
      );
      return;
    }
    if (win.length > 1) {
      const parts = win.map((i) => {
        const c = contributions(rows[i]!, w);
        const top = c.indexOf(Math.max(...c));
        return `${rows[i]!.name} (${explainScore(rows[i]!, w, wi)}, mostly ${TERM_NAMES[top]})`;
      });
      out.push(
        `${head} ${win.length} scenarios tie at F = ${fmtFixed(rows[win[0]!]!.scores[wi]!, 2)}: ${parts.join('; ')}. The weighting cannot separate them: what one gains on one metric the other gains on another.`,
      );
      return;
    }
    const i = win[0]!;
    const order = rows
      .map((_, k) => k)
      .filter((k) => k !== i)
      .sort((a, b) => rows[b]!.scores[wi]! - rows[a]!.scores[wi]!);
    const j = order[0]!;
    const ci = contributions(rows[i]!, w);
    const cj = contributions(rows[j]!, w);
    const d = ci.map((x, k) => x - cj[k]!);
    const gain = d.indexOf(Math.max(...d));
    const loss = d.indexOf(Math.min(...d));
    const gap = rows[i]!.scores[wi]! - rows[j]!.scores[wi]!;
    let why = `its margin over the runner-up comes from ${TERM_NAMES[gain]} (+${fmtFixed(d[gain]!, 2)})`;
    if (d[loss]! < -PRINTED_SCORE_STEP)
      why += `, which outweighs what it gives up on ${TERM_NAMES[loss]} (${fmtFixed(d[loss]!, 2)})`;
    // Below the tables' two decimals the lead is not worth a story: say so, with enough digits to see it.
    const runner =
      gap < PRINTED_SCORE_STEP
        ? `runner-up ${rows[j]!.name} is only ${fmtFixed(gap, gap < 0.001 ? 4 : 3)} behind (F = ${fmtFixed(rows[j]!.scores[wi]!, gap < 0.001 ? 4 : 3)}): a tie at two decimals`
        : `runner-up ${rows[j]!.name} has F = ${fmtFixed(rows[j]!.scores[wi]!, 2)}`;
    let tail =
      gap < PRINTED_SCORE_STEP
        ? `What edge there is comes from ${TERM_NAMES[gain]}.`
        : `${why[0]!.toUpperCase()}${why.slice(1)}.`;
    const fastest = Math.min(...rows.map((r) => r.avgLatencyMs));
    if (rows[i]!.latencyNorm < SLOW_WINNER_T_NORM && fastest > 0)
      tail += ` Its average latency, ${fmtLat(rows[i]!.avgLatencyMs)}, is ${formatRatio(rows[i]!.avgLatencyMs / fastest)} the fastest scenario's (${fmtLat(fastest)}): min–max scoring counts it only as ${fmtFixed(rows[i]!.latencyNorm, 2)} of the latency range.`;
    out.push(`${head} **${rows[i]!.name}** wins with ${explainScore(rows[i]!, w, wi)}; ${runner}. ${tail}`);
  });
  return out;
}

/** Notes on how min–max normalisation shaped a table: a metric that does not discriminate, or an outlier that squeezes the rest. */
export function normalisationNotes(rows: Table3Row[]): string[] {
  if (rows.length < 2) return [];
  const out: string[] = [];
  const ks = rows.map((r) => r.consistency);
  const kMin = Math.min(...ks);
  const kMax = Math.max(...ks);
  if (kMax === kMin)
    out.push(
      `Consistency is ${fmtPct(kMin)} in every scenario, so K_norm = 1 for all: it adds γ to every F and changes no ranking.`,
    );
  else if (kMax - kMin < SMALL_CONSISTENCY_SPAN)
    out.push(
      `Consistency differs by only ${Number(((kMax - kMin) * 100).toPrecision(2))} percentage points (${fmtPct(kMin)} to ${fmtPct(kMax)}), yet min–max normalisation stretches that to the whole 0–1 range of K_norm: worth up to γ = ${SEED_WEIGHTINGS[0]!.gamma} of F.`,
    );
  const ts = rows.map((r) => r.avgLatencyMs);
  const tMin = Math.min(...ts);
  const tMax = Math.max(...ts);
  const near = rows.filter((r) => r.latencyNorm >= 0.9).length;
  if (tMin > 0 && tMax / tMin >= 20 && near * 2 >= rows.length)
    out.push(
      `Latency spans ${fmtLat(tMin)} to ${fmtLat(tMax)}: min–max normalisation sets the slowest scenario to 0 and puts ${near} of ${rows.length} at 0.9 or above, so latency hardly separates those, and their ranking is decided by throughput and consistency. An overloaded scenario (latency growing with the backlog) has this effect.`,
    );
  return out;
}

function formatRatio(x: number): string {
  return `${x >= 10 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1)}×`;
}

function nearestSeedLevel(offered: number): number {
  let best = 0;
  let bestD = Infinity;
  SEED_TABLE_2_RAFT.forEach((s, i) => {
    const d = Math.abs(Math.log(Math.max(1, offered)) - Math.log(s.throughputPerSec));
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}

export function seedSection(entry: BenchEntry | undefined): Section {
  const seed3 = table3(SEED_TABLE_2);
  const md: string[] = [];
  md.push(
    `The seed paper (Humeniuk, "Development and optimization of distributed high-performance systems with real-time data consistency", 2025) scores a configuration by F = α·T_norm + β·Th_norm + γ·K_norm, where T is the average latency, Th the throughput and K the consistency ratio, each min–max normalised over the scenarios compared (latency inverted: the fastest gets 1, the slowest 0; when all values are equal every scenario gets 1). Weightings: real-time priority (α, β, γ) = (0.5, 0.3, 0.2), throughput priority (0.3, 0.5, 0.2). Code: \`bench/suite/seed-model.ts\`.`,
    '',
    `**The seed's own figures** (its Table 2: ${SEED_SYSTEM}; low load 1,000 req/s on 3 nodes, medium 10,000/s on 5, high 50,000/s on 7; Raft in all three, Paxos at medium and high) in its Table 3 form, normalised over its five rows as the paper does. Computed here from its Table 2; test/bench/seed-model.test.ts checks that this reproduces every value of the paper's printed Table 3 at its printed precision (three decimals).`,
    '',
    table3Md(seed3, SEED_WEIGHTINGS),
    '',
    ...discussWinners(seed3).map((s) => `- ${s}`),
    ...normalisationNotes(seed3).map((s) => `- ${s}`),
    '',
  );
  const listed = seedScenarios(entry?.result);
  const scenarios = listed.filter(scored);
  const unscored = listed.filter((s) => !scored(s));
  if (scenarios.length === 0) {
    md.push(
      entry === undefined
        ? '`bench:seed` was not part of this run: run `npm run bench -- --only seed` for our side of the comparison.'
        : `\`bench:seed\` ${entry.status === 'failed' ? `failed (exit ${entry.exitCode ?? entry.signal ?? '?'})` : listed.length > 0 ? `measured none of its ${listed.length} scenarios` : 'printed no scenarios'}: no figures of ours to compare.`,
    );
    if (listed.length > 0) md.push('', seedFiguresMd(listed));
    return { markdown: md.join('\n'), charts: [] };
  }
  const ours = table3(seedRows(scenarios));
  md.push(
    `**Ours** (\`${entry?.command ?? 'npm run bench:seed'}\`: ${scenarios.length} scenarios${unscored.length ? `; ${unscored.length} more failed before they were measured and are left out, see the last table` : ''}), normalised over our scenarios only, in the same form. Latency T is the average from scheduled send to acknowledgement; K is measured, not assumed: the fraction of acknowledged orders present exactly once and identical on every replica (equal state hashes) and in the read models, with the reports the client received equal to the log's (bench/README.md).`,
    '',
    table3Md(ours, SEED_WEIGHTINGS),
    '',
    ...discussWinners(ours).map((s) => `- ${s}`),
    ...normalisationNotes(ours).map((s) => `- ${s}`),
    ...sustainedOnly(scenarios),
    '',
    "**Side by side with the seed's Table 2**, each of our scenarios next to the seed's load level nearest to its offered rate:",
    '',
  );
  md.push(sideBySideMd(scenarios), '');
  // Normalised jointly, the seed's rows and ours share one scale, so their F values compare directly.
  const pooled = table3([
    ...SEED_TABLE_2.map((r) => ({ ...r, name: `seed: ${r.load} load, ${r.algorithm}, ${r.nodes} nodes` })),
    ...seedRows(scenarios),
  ]);
  md.push(
    "**Pooled**: the seed's five scenarios and ours normalised together, so that F compares across both (F within one table is relative to that table's best and worst, so the two tables above cannot be compared number for number):",
    '',
    table3Md(pooled, SEED_WEIGHTINGS),
    '',
    ...discussWinners(pooled).map((s) => `- ${s}`),
    ...normalisationNotes(pooled).map((s) => `- ${s}`),
  );

  const charts = seedCharts(scenarios);
  md.push('', 'All seed-scenario figures:', '', seedFiguresMd(listed));
  return { markdown: md.join('\n'), charts };
}

/** Each of our scenarios next to the seed's load level nearest to its offered rate (Table 2 figures, not normalised). */
function sideBySideMd(scenarios: ScoredScenario[]): string {
  const side = scenarios.map((s) => {
    const lvl = SEED_TABLE_2_RAFT[nearestSeedLevel(s.offeredPerSec)]!;
    return [
      seedConfigName(s),
      fmtInt(s.offeredPerSec),
      fmtInt(s.achievedPerSec),
      fmtLat(s.avgMs),
      fmtPct(consistencyFraction(s.consistency)),
      `${lvl.name}, ${lvl.nodes} nodes`,
      fmtInt(lvl.throughputPerSec),
      fmtLat(lvl.avgLatencyMs),
      fmtPct(lvl.consistency),
    ];
  });
  return mdTable(
    [
      'our configuration',
      'offered/s',
      'ours: Th (req/s)',
      'ours: T avg',
      'ours: K',
      'seed level, Raft (nodes)',
      'seed: Th (req/s)',
      'seed: T avg',
      'seed: K',
    ],
    ['l', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r'],
    side,
  );
}

/** The seed scenarios' charts: latency against offered load per configuration, and achieved throughput per configuration and offered load. */
function seedCharts(scenarios: ScoredScenario[]): Chart[] {
  const charts: Chart[] = [];
  const configs = new Map<string, ScoredScenario[]>();
  for (const s of scenarios) {
    const k = seedConfigName(s);
    if (!configs.has(k)) configs.set(k, []);
    configs.get(k)!.push(s);
  }
  charts.push(
    latencyChart(
      'bench-latency-seed.svg',
      'Seed scenarios: latency vs offered load per configuration',
      'open loop; latency from scheduled send to acknowledgement',
      'offered requests/s',
      [...configs.entries()].map(([name, ss]) => ({
        name,
        points: ss.map((s) => ({ x: s.offeredPerSec, p50: num(s.p50Ms), p99: num(s.p99Ms), p999: num(s.p999Ms) })),
      })),
    ),
  );
  const levels = [...new Set(scenarios.map((s) => s.offeredPerSec))].sort((a, b) => a - b);
  const cats = [...configs.keys()];
  const catLabel = (c: string) => c.replace(/, /g, '\n');
  charts.push({
    file: 'bench-throughput-seed.svg',
    alt: 'Seed scenarios: throughput per configuration',
    svg: barChartSvg({
      title: 'Seed scenarios: achieved throughput per configuration',
      subtitle: 'one bar per offered load',
      yLabel: 'achieved requests/s',
      categories: cats.map(catLabel),
      groups: levels.map((l) => ({
        name: `offered ${Math.round(l).toLocaleString('en-US')}/s`,
        values: cats.map((c) => configs.get(c)!.find((s) => s.offeredPerSec === l)?.achievedPerSec ?? null),
      })),
      logY: levels.length > 1 && levels[levels.length - 1]! / levels[0]! >= 10,
      valueLabels: true,
    }),
  });
  return charts;
}

/** The winners again among the scenarios that kept up with their offered rate: past saturation, throughput can outscore latency. */
function sustainedOnly(scenarios: ScoredScenario[]): string[] {
  const kept = scenarios.filter((s) => s.achievedPerSec >= SUSTAINED_ACHIEVED_MIN * s.offeredPerSec);
  if (kept.length === scenarios.length || kept.length < 2) return [];
  const t = table3(seedRows(kept));
  return [
    `- Among the ${kept.length} scenarios that kept up with their offered rate (acknowledged ≥ ${SUSTAINED_ACHIEVED_MIN * 100}% of it), normalised over those alone: ${SEED_WEIGHTINGS.map(
      (w, wi) =>
        `under ${w.name} ${winners(t, wi)
          .map((i) => `**${t[i]!.name}**`)
          .join(' and ')} (F = ${fmtFixed(t[winners(t, wi)[0]!]!.scores[wi]!, 2)})`,
    ).join('; ')}.`,
  ];
}

function seedFiguresMd(listed: SeedScenario[]): string {
  const rows = listed.map((s) => [
    s.protocol,
    fmtInt(s.replicas),
    fsyncLabel(s.fsync).replace('fsync ', ''),
    fmtInt(s.offeredPerSec),
    fmtInt(s.achievedPerSec),
    fmtLat(s.avgMs),
    fmtLat(s.p50Ms),
    fmtLat(s.p90Ms),
    fmtLat(s.p99Ms),
    fmtLat(s.p999Ms),
    fmtLat(s.maxMs),
    num(s.consistency) === null ? DASH : fmtPct(consistencyFraction(s.consistency!)),
    fmtInt(s.acked),
    fmtInt(s.notSent),
    fmtInt(s.lost),
    fmtInt(s.duplicates),
    s.error ? `failed: ${s.error.slice(0, 120)}` : '',
  ]);
  return mdTable(
    [
      'protocol',
      'replicas',
      'fsync',
      'offered/s',
      'achieved/s',
      'avg',
      'p50',
      'p90',
      'p99',
      'p99.9',
      'max',
      'K',
      'acked',
      'not sent',
      'lost',
      'duplicates',
      'note',
    ],
    ['l', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows,
  );
}

// ---------------------------------------------------------------------------
// the whole document
// ---------------------------------------------------------------------------

function failedMd(e: BenchEntry): string {
  const why = e.error ?? (e.timedOut ? 'over its time limit' : `exit code ${e.exitCode ?? DASH}`);
  const extra = [
    ...(why.includes('exit code') ? [] : [`exit code ${e.exitCode ?? DASH}`]),
    ...(e.signal ? [`signal ${e.signal}`] : []),
  ];
  const lines = [`**Failed** after ${e.durationSec} s: ${why}${extra.length ? ` (${extra.join(', ')})` : ''}.`];
  if (e.stderrTail) lines.push('', 'Last lines of its stderr:', '', '```', e.stderrTail.trimEnd(), '```');
  return lines.join('\n');
}

function embed(charts: Chart[]): string {
  return charts.map((c) => `![${c.alt}](${c.file})`).join('\n\n');
}

/** The document's opening: title, provenance, the machine, the commands and how each bench ended. */
function docsHeaderMd(res: SuiteResults, resultsPath: string, names: string[], failed: string[]): string[] {
  const m = res.machine;
  return [
    '# Benchmarks',
    '',
    '<!-- Generated by bench/suite/run-all.ts from the results file named below; edit the generator, not this file. -->',
    '',
    `Generated from [\`${resultsPath}\`](../${resultsPath}) — run of ${res.startedAt.replace('T', ' ').slice(0, 19)} UTC, ${res.mode} mode, ${Math.round(res.durationSec)} s in all. ${failed.length === 0 ? `All ${names.length} benchmarks completed.` : `**${failed.length} of ${names.length} failed**: ${failed.join(', ')}.`}`,
    '',
    '## Machine',
    '',
    mdTable(
      ['', 'this run'],
      ['l', 'l'],
      [
        ['CPU', m.cpuModel],
        ['cores', String(m.cores)],
        ['memory', `${m.memoryGiB} GiB`],
        ['kernel', `${m.os} ${m.kernel}`],
        ['Node.js', m.node],
      ],
    ),
    '',
    'Every process of a benchmark (replicas, gateway, broker, load generator) runs on this one machine and shares its cores, so the figures are for this machine, not for a deployment with a host per replica. Runs on a shared machine vary by tens of percent; compare figures of one run.',
    '',
    '## Commands',
    '',
    '```sh',
    'npm run bench -- --quick                 # every benchmark, a few minutes',
    'npm run bench                            # every benchmark with its full defaults',
    'npm run bench -- --only engine,replay    # a subset (failover = replicator)',
    `npm run bench -- --from-results ${resultsPath}   # regenerate this file and the charts only`,
    '```',
    '',
    'The commands behind these figures, run one after another:',
    '',
    mdTable(
      ['benchmark', 'command', 'status', 'seconds'],
      ['l', 'l', 'l', 'r'],
      names.map((n) => {
        const e = res.benches[n]!;
        return [
          n,
          `\`${e.command}\``,
          e.status === 'ok' ? 'ok' : `**failed** (exit ${e.exitCode ?? (e.timedOut ? 'timeout' : DASH)})`,
          String(e.durationSec),
        ];
      }),
    ),
    '',
  ];
}

export function renderDocs(res: SuiteResults, resultsPath: string): Docs {
  const charts: Chart[] = [];
  const md: string[] = [];
  const names = Object.keys(BENCH_TITLES).filter((n) => res.benches[n] !== undefined);
  for (const n of Object.keys(res.benches)) if (!names.includes(n)) names.push(n);
  const failed = names.filter((n) => res.benches[n]!.status === 'failed');

  md.push(...docsHeaderMd(res, resultsPath, names, failed));

  // The seed comparison always appears: the seed's own Table 3 needs no run.
  const seed = seedSection(res.benches.seed);
  md.push("## The seed paper's evaluation model (Table 3 form)", '', seed.markdown, '');
  if (seed.charts.length) md.push(embed(seed.charts), '');
  charts.push(...seed.charts);

  for (const n of names) {
    if (n === 'seed') continue;
    const e = res.benches[n]!;
    md.push(`## ${BENCH_TITLES[n] ?? n}`, '', `\`${e.command}\` — ${e.mode} mode, ${e.durationSec} s.`, '');
    if (e.status === 'failed') md.push(failedMd(e), '');
    const r = e.result;
    if (!r) continue;
    let sec: Section | null = null;
    if (n === 'engine') sec = engineSection(r);
    else if (n === 'replay') sec = replaySection(r);
    else if (n === 'replicator') sec = replicatorSection(r);
    else if (n === 'rest' || n === 'grpc') sec = gatewaySteps(n, r);
    else if (n === 'feed') sec = feedSection(r);
    else if (n === 'events') sec = eventsSection(r);
    else sec = { markdown: ['```json', JSON.stringify(r, null, 2).slice(0, 4000), '```'].join('\n'), charts: [] };
    md.push(sec.markdown, '');
    if (sec.charts.length) md.push(embed(sec.charts), '');
    charts.push(...sec.charts);
    if (n === 'replicator') {
      const f = failoverSection(r);
      if (f) md.push('### Failover', '', f.markdown, '');
    }
  }
  if (res.benches.seed?.status === 'failed')
    md.push('## Seed-paper scenarios', '', `\`${res.benches.seed.command}\``, '', failedMd(res.benches.seed), '');

  const path = orderPathChart(res.benches);
  if (path) {
    md.push(
      '## Throughput per configuration',
      '',
      `Open loop, sustained: the highest offered-rate step that acknowledged at least ${SUSTAINED_ACHIEVED_MIN * 100}% of its offered rate with p99 under ${SUSTAINED_P99_MAX_MS} ms. Closed loop: every client keeps its window full (\`max\`).`,
      '',
      embed([path]),
      '',
    );
    charts.push(path);
  }
  return {
    markdown: `${md
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trimEnd()}\n`,
    charts,
  };
}
