// docs/BENCHMARKS.md's section "Failover and latency under loss: Raft and Multi-Paxos", from a
// bench:failover results file (bench/replicator/failover.ts, `--out`). The suite does not run
// that bench; `npm run bench -- … --failover FILE|none` picks the file (default: the newest
// bench/results/failover-<date>.json). The figures are rendered from the file; the discussion is
// the file's `discussion` (paragraphs written by whoever ran it, kept beside the numbers they
// discuss so that regenerating the docs never separates the two).

import { fmtLat, mdTable } from './report.js';

/** Medians over one protocol's runs, as bench/replicator/failover.ts writes them. */
export interface FailoverMedians {
  runs: number;
  failoverMs: number | null;
  electedMs: number | null;
  cleanP50Ms: number | null;
  cleanP99Ms: number | null;
  lossyP50Ms: number | null;
  lossyP99Ms: number | null;
  lossyResets: number | null;
  unanswered: number;
}

export interface FailoverRun {
  bench: 'failover';
  date: string;
  replicas: number;
  ratePerSec: number;
  latencySeconds: number;
  lossy: { delayMs: number; jitterMs: number; dropRate: number };
  machine: { cpus: number; node: string; loadAverageAtEnd: number[] };
  /** Added by hand after the run: what else ran on the machine, as a sentence. */
  conditions?: string;
  byConsensus: Record<string, FailoverMedians>;
  runs: { consensus: string; run: number; failover: { failoverMs: number | null; electedMs: number | null } }[];
  /** Added by hand after the run: the discussion, one paragraph per element. */
  discussion?: string[];
}

/** The section placed after this one (or at the end if it is missing). */
const AFTER_SECTION = '## Replication (';
const HEADING = '## Failover and latency under loss: Raft and Multi-Paxos';
const NAMES: Record<string, string> = { raft: 'Raft', multipaxos: 'Multi-Paxos' };

function range(xs: (number | null)[]): string {
  const v = xs.filter((x): x is number => x !== null);
  return v.length === 0 ? '-' : `${Math.min(...v)}–${Math.max(...v)} ms`;
}

/** The section's markdown; `file` is the results file's path as linked from docs/. */
export function failoverMarkdown(run: FailoverRun, file: string): string {
  const protocols = Object.keys(run.byConsensus);
  const rows = protocols.map((p) => {
    const m = run.byConsensus[p]!;
    const mine = run.runs.filter((r) => r.consensus === p);
    return [
      NAMES[p] ?? p,
      String(m.runs),
      fmtLat(m.failoverMs),
      range(mine.map((r) => r.failover.failoverMs)),
      fmtLat(m.electedMs),
      fmtLat(m.cleanP50Ms),
      fmtLat(m.cleanP99Ms),
      fmtLat(m.lossyP50Ms),
      fmtLat(m.lossyP99Ms),
      String(m.lossyResets ?? '-'),
      String(m.unanswered),
    ];
  });
  const l = run.lossy;
  return [
    HEADING,
    '',
    `Command: \`npm run bench:failover -- --consensus ${protocols.join(',')} --replicas ${run.replicas} --runs ${run.runs.length / Math.max(1, protocols.length)}\`, ${run.date.slice(0, 10)}; results: [\`${file}\`](../${file}). Each run starts a fresh cluster of ${run.replicas} replica processes (fsync on) whose replica links all pass through the chaos suite's fault proxies; the runs alternate the protocols. Clients of the replica protocol send ${run.ratePerSec} orders/s (open loop; a client follows NOT_LEADER and resends after 2 s or a dropped connection). *Failover*: the leader SIGKILLed under that load, until the first order acknowledged by another replica (*elected*: until a survivor says it leads, polled). *Clean* / *lossy*: latency from each order's scheduled send to its acknowledgement over ${run.latencySeconds} s, on clean links and with every link delayed ${l.delayMs} ms + U[0, ${l.jitterMs}) ms and losing ${100 * l.dropRate}% of its chunks (a lost chunk resets the TCP connection; *resets* per lossy phase). Machine: ${run.machine.cpus} cores, Node ${run.machine.node}, load average ${run.machine.loadAverageAtEnd.map((x) => x.toFixed(1)).join(' / ')} at the end${run.conditions === undefined ? '' : `; ${run.conditions}`}.`,
    '',
    'Medians over the runs:',
    '',
    mdTable(
      [
        'protocol',
        'runs',
        'failover',
        'failover range',
        'elected',
        'clean p50',
        'clean p99',
        'lossy p50',
        'lossy p99',
        'resets',
        'unanswered',
      ],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      rows,
    ),
    ...(run.discussion ?? []).flatMap((p) => ['', p]),
    '',
  ].join('\n');
}

/** The markdown with the section placed after the replication section. */
export function insertFailoverSection(markdown: string, section: string): string {
  const at = markdown.indexOf(AFTER_SECTION);
  const next = at < 0 ? -1 : markdown.indexOf('\n## ', at + AFTER_SECTION.length);
  if (next < 0) return `${markdown.trimEnd()}\n\n${section}`;
  return `${markdown.slice(0, next)}\n${section}${markdown.slice(next)}`;
}
