// `npm run bench:seed -- --paper`: the seed paper's three scenarios as the paper defines them
// (bench/suite/seed-model.ts SEED_SCENARIOS: 1,000 req/s on 3 nodes, 10,000/s on 5, 50,000/s on
// 7), once per consensus protocol asked for. Pure: the arguments in, the plan out; which
// protocols the replicas accept is found by trying (paper.ts probeConsensus) and passed in.

import { parseArgs } from 'node:util';
import { SEED_SCENARIOS, type SeedAlgorithm, type SeedLoad } from '../suite/seed-model.js';

/** Names --consensus accepts: the values of the cluster file's "consensus" (replicator/cluster-config.ts). */
export const PAPER_CONSENSUS_NAMES = ['raft', 'multipaxos'] as const;
export type PaperConsensus = (typeof PAPER_CONSENSUS_NAMES)[number];
/** The paper's name for each of our protocols (its Table 2 "Consensus Algorithm" column). */
export const PAPER_ALGORITHM: Record<PaperConsensus, SeedAlgorithm> = { raft: 'Raft', multipaxos: 'Paxos' };
export const PAPER_LOADS: readonly SeedLoad[] = ['low', 'medium', 'high'];

/** Per scenario, after a warm-up: long enough for a stable average, short enough for the whole run to take ~10 min here. */
export const PAPER_SECONDS_DEFAULT = 20;
export const PAPER_WARMUP_SECONDS_DEFAULT = 2;
export const PAPER_SECONDS_MAX = 600;
export const PAPER_WARMUP_SECONDS_MAX = 60;

export interface PaperOptions {
  consensus: PaperConsensus[];
  /**
   * Order entry: REST by default, as the paper's clients (JMeter) spoke HTTP. (Over gRPC the
   * seed checker currently counts every acknowledgement inconsistent: the gRPC client decodes an
   * unset last_liquidity_ind as "UNSPECIFIED" where the canonical report has "" — see bench/README.md.)
   */
  protocol: 'grpc' | 'rest';
  fsync: boolean;
  seconds: number;
  warmupSeconds: number;
  eventsNice: number;
  /** undefined: bench/results/seed-paper-<date>.json. */
  out: string | undefined;
}

export interface PaperPlan {
  consensus: PaperConsensus;
  load: SeedLoad;
  replicas: number;
  offeredPerSec: number;
  protocol: 'grpc' | 'rest';
  fsync: boolean;
}

/** What trying a protocol found: accepted, or refused with the replica's error. */
export type ConsensusAvailability = { available: true } | { available: false; error: string; refusedByConfig: boolean };

export interface PaperPlanned {
  plans: PaperPlan[];
  unavailable: { consensus: PaperConsensus; error: string; line: string }[];
}

/** A comma-separated command-line list, blanks dropped; empty: an error naming the flag. */
export function list(s: string, what: string): string[] {
  const out = s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
  if (out.length === 0) throw new Error(`--${what}: empty list`);
  return out;
}

function boundedNumber(s: string, what: string, min: number, max: number, dflt: number): number {
  const n = Number(s === '' ? dflt : s);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${what}: ${s} is not in [${min}, ${max}]`);
  return n;
}

/** Parses the arguments of `bench:seed -- --paper …` (argv without node and script). */
export function parsePaperArgs(argv: readonly string[]): PaperOptions {
  const { values: a } = parseArgs({
    args: [...argv],
    options: {
      paper: { type: 'boolean', default: false },
      consensus: { type: 'string' },
      protocol: { type: 'string' },
      fsync: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'events-nice': { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (a.paper !== true) throw new Error('parsePaperArgs: --paper missing');
  const consensus = [...new Set(list(a.consensus ?? PAPER_CONSENSUS_NAMES.join(','), 'consensus'))].map((c) => {
    if (!(PAPER_CONSENSUS_NAMES as readonly string[]).includes(c))
      throw new Error(`--consensus: ${c} is not one of ${PAPER_CONSENSUS_NAMES.join(', ')}`);
    return c as PaperConsensus;
  });
  const protocol = a.protocol ?? 'rest';
  if (protocol !== 'grpc' && protocol !== 'rest') throw new Error(`--protocol: ${protocol} is neither grpc nor rest`);
  const fsync = a.fsync ?? 'on';
  if (fsync !== 'on' && fsync !== 'off') throw new Error(`--fsync: ${fsync} is neither on nor off`);
  const eventsNice = boundedNumber(a['events-nice'] ?? '', 'events-nice', 0, 19, 10);
  if (!Number.isInteger(eventsNice)) throw new Error('--events-nice: an integer 0..19');
  return {
    consensus,
    protocol,
    fsync: fsync === 'on',
    seconds: boundedNumber(a.seconds ?? '', 'seconds', 1, PAPER_SECONDS_MAX, PAPER_SECONDS_DEFAULT),
    warmupSeconds: boundedNumber(a.warmup ?? '', 'warmup', 0, PAPER_WARMUP_SECONDS_MAX, PAPER_WARMUP_SECONDS_DEFAULT),
    eventsNice,
    out: a.out,
  };
}

/** The line printed for a protocol the replicas refused: its rows are left out, never invented. */
export function unavailableLine(consensus: string, a: { error: string; refusedByConfig: boolean }): string {
  return a.refusedByConfig
    ? `${consensus}: not available in this build (cluster config consensus=${consensus} refused: ${a.error})`
    : `${consensus}: not available (a replica with consensus=${consensus} did not start: ${a.error})`;
}

/** The paper's three scenarios for each available protocol, in the paper's order (low, medium, high); the others reported. */
export function planPaper(
  opts: Pick<PaperOptions, 'consensus' | 'protocol' | 'fsync'>,
  availability: Readonly<Partial<Record<PaperConsensus, ConsensusAvailability>>>,
): PaperPlanned {
  const out: PaperPlanned = { plans: [], unavailable: [] };
  for (const consensus of opts.consensus) {
    const a = availability[consensus];
    if (a === undefined) throw new Error(`planPaper: ${consensus} was not tried`);
    if (!a.available) {
      out.unavailable.push({ consensus, error: a.error, line: unavailableLine(consensus, a) });
      continue;
    }
    for (const load of PAPER_LOADS) {
      const s = SEED_SCENARIOS[load];
      out.plans.push({
        consensus,
        load,
        replicas: s.nodes,
        offeredPerSec: s.offeredPerSec,
        protocol: opts.protocol,
        fsync: opts.fsync,
      });
    }
  }
  return out;
}
