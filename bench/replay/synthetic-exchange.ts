// A recorded exchange, written without running one: for the replay benchmark and the audit
// tests that need more than a live cluster can make in a few seconds (multi-shard runs, several
// gateway runs, compacted logs).
//
// Each shard's log is what a leader writes: batch entries (shard/batch-codec.ts
// encodeBatch) of engine commands in the binary command codec, from client sessions (registered
// in the first entry, so their ids are 1..clients) with contiguous request numbers, plus the
// leader's time ticks, written through the replicator's
// own Wal (segments, CRC32C, snapshots every N entries, hard state). Replicas are byte copies of
// the first one's directory. Every exec report is passed to the gateway's own ReportChain (in
// log order, a few twice as a push to a second session would), which writes chain-journal.bin
// and the signed chain-heads.jsonl. Config files in the layouts `npm start` uses:
//
//   <dir>/config/instruments-<s>.json, cluster-<s>.json, gateway.json
//   <dir>/cluster-<s>/node-<id>/   <dir>/gateway/{chain-journal.bin, chain-heads.jsonl, exchange-ed25519.pem(.pub)}

import fs from 'node:fs';
import path from 'node:path';
import { encodeCommand } from '../../engine/command-codec.js';
import type { EventBuffer } from '../../engine/event-buffer.js';
import { EventKind, type Command, type InstrumentConfig } from '../../engine/types.js';
import { toReport, type ExecutionReportOut } from '../../api/execution-report.js';
import { canonicalReport } from '../../api/report-canonical.js';
import { ReportChain, loadOrCreateSigningKey } from '../../gateway/report-chain.js';
import { EntryType } from '../../replicator/raft/types.js';
import { encodeSnapshotEnvelope } from '../../shard/snapshot-envelope.js';
import { ShardStateMachine } from '../../shard/state-machine.js';
import { encodeBatch, registerCommand, type LoggedCommand } from '../../shard/batch-codec.js';
import { Prng } from '../../replicator/prng.js';
import { Wal, type LogEntry } from '../../replicator/wal/wal.js';
import { SYMBOL, generateMix1, generateMix2 } from '../engine/workloads.js';
import { commandData } from '../../replicator/log.js';

export interface SyntheticOptions {
  dir: string;
  commands: number;
  shards?: number;
  replicas?: number;
  seed?: number;
  workload?: 'mix1' | 'mix2';
  /** Commands per batch entry at most (sizes drawn uniformly in 1..batchMax). */
  batchMax?: number;
  /** A snapshot every this many entries (0: none). */
  snapshotEveryEntries?: number;
  /** Compact the log through the previous snapshot after each one, as a replica does (whole segments only). */
  compact?: boolean;
  /** WAL segment size (small ones make compaction visible in a small log). */
  segmentBytesMax?: number;
  /** Gateway runs (the chain restarts at each); the reports are split evenly. */
  runs?: number;
  chainHeadEveryReports?: number;
  /** Share of exec reports that are chained (the rest went to no gateway session). */
  chainedFraction?: number;
  /** Share of chained reports chained a second time (a push to a second session of the account). */
  duplicateFraction?: number;
  /** Client sessions (ids 1..n) the commands come from. */
  clients?: number;
  /** Put a time tick (client -term) every this many commands. */
  tickEveryCommands?: number;
  /** Return the chained reports as a client received them (chain_seq, chain_hash filled in). */
  keepReports?: boolean;
}

export interface SyntheticExchange {
  dir: string;
  gatewayConfig: string;
  clusterConfigs: string[];
  engineConfigs: string[];
  gatewayDir: string;
  publicKeyPath: string;
  shardDirs: string[][];
  commands: number;
  entries: number[];
  reportsChained: number;
  execReports: number;
  /** State hash of each shard after its last entry. */
  finalStateHashes: string[];
  /** With keepReports: every chained report in chain order (chain_seq restarts at each run). */
  chained: ExecutionReportOut[];
}

const TERM = 1;
/** Entries wait in memory until about this many bytes, then go to the WAL in one append. */
const APPEND_CHUNK_BYTES = 16 * 1024 * 1024;

/** A report to chain, kept until every shard's log is written. */
interface ShardReport {
  shard: number;
  report: ReturnType<typeof toReport>;
  canonical: string;
}

/** The options with their defaults, and what every step of the generation shares. */
interface Generation {
  o: SyntheticOptions;
  out: SyntheticExchange;
  /** One stream for the whole exchange, drawn in this order: shard by shard, entry by entry, the batch size then its reports' chained and duplicate draws; then the gateway's slices. */
  rng: Prng;
  cfgDir: string;
  gatewayDir: string;
  shards: number;
  replicas: number;
  batchMax: number;
  clients: number;
  seed: number;
  runs: number;
  chainedFraction: number;
  duplicateFraction: number;
  tickEvery: number;
}

/** Session and sequence numbers of one shard's log, as its leader assigns them. */
interface Numbering {
  /** Per client session (index = client id): its last request number. */
  requestSeq: number[];
  tickSeq: number;
  /** The last engine seq taken (commands and time ticks each take one). */
  seq: number;
  /** Generator's command number → engine seq. */
  seqOf: Float64Array;
}

export async function writeSyntheticExchange(o: SyntheticOptions): Promise<SyntheticExchange> {
  const seed = o.seed ?? 1;
  const cfgDir = path.join(o.dir, 'config');
  const gatewayDir = path.join(o.dir, 'gateway');
  fs.mkdirSync(cfgDir, { recursive: true });
  fs.mkdirSync(gatewayDir, { recursive: true });
  const g: Generation = {
    o,
    out: {
      dir: o.dir,
      gatewayConfig: path.join(cfgDir, 'gateway.json'),
      clusterConfigs: [],
      engineConfigs: [],
      gatewayDir,
      publicKeyPath: path.join(gatewayDir, 'exchange-ed25519.pem.pub'),
      shardDirs: [],
      commands: 0,
      entries: [],
      reportsChained: 0,
      execReports: 0,
      finalStateHashes: [],
      chained: [],
    },
    rng: new Prng(seed * 7919 + 1),
    cfgDir,
    gatewayDir,
    shards: o.shards ?? 1,
    replicas: o.replicas ?? 1,
    batchMax: o.batchMax ?? 256,
    clients: o.clients ?? 4,
    seed,
    runs: o.runs ?? 1,
    chainedFraction: o.chainedFraction ?? 1,
    duplicateFraction: o.duplicateFraction ?? 0.01,
    tickEvery: o.tickEveryCommands ?? 5000,
  };

  // Reports of every shard in log order, chained at the end shard by shard per run slice.
  const reports: ShardReport[][] = [];
  for (let s = 0; s < g.shards; s++) reports.push(await writeShard(g, s));
  await writeGateway(g, reports);
  return g.out;
}

/** Shard s: its config files, its log through node 1's WAL, the other replicas copied from node 1; returns its reports to chain. */
async function writeShard(g: Generation, s: number): Promise<ShardReport[]> {
  const { o, out } = g;
  const w = o.workload === 'mix2' ? generateMix2(o.commands, g.seed + s) : generateMix1(o.commands, g.seed + s);
  const symbol = g.shards === 1 ? SYMBOL : `${SYMBOL}-${s}`;
  const instrument = w.config.instruments[0]!;
  const clusterDataDir = writeShardConfigs(g, s, w.config.orderCountMax, instrument, symbol);

  // The log, as the leader batches it.
  const sm = new ShardStateMachine({ ...w.config, instruments: [{ ...instrument, symbol }], shardId: s });
  const node1 = path.join(clusterDataDir, 'node-1');
  const { lastIndex, shardReports } = await writeShardLog(g, s, symbol, w.commands, sm, node1);
  out.entries.push(lastIndex);
  out.finalStateHashes.push(sm.stateHash());
  const dirs = [node1];
  for (let r = 2; r <= g.replicas; r++) {
    const d = path.join(clusterDataDir, `node-${r}`);
    fs.cpSync(node1, d, { recursive: true });
    dirs.push(d);
  }
  out.shardDirs.push(dirs);
  return shardReports;
}

/** instruments-<s>.json and cluster-<s>.json, recorded in `out`; returns the cluster's data directory. */
function writeShardConfigs(
  g: Generation,
  s: number,
  orderCountMax: number,
  instrument: InstrumentConfig,
  symbol: string,
): string {
  const { o, out, cfgDir } = g;
  const engineConfig = {
    shardId: s,
    defaultStp: 'NONE',
    orderCountMax,
    accounts: [],
    instruments: [{ ...instrument, symbol }],
  };
  const engineConfigPath = path.join(cfgDir, `instruments-${s}.json`);
  fs.writeFileSync(engineConfigPath, JSON.stringify(engineConfig, null, 2));
  out.engineConfigs.push(engineConfigPath);
  const clusterDataDir = path.join(o.dir, `cluster-${s}`);
  const clusterConfigPath = path.join(cfgDir, `cluster-${s}.json`);
  fs.writeFileSync(
    clusterConfigPath,
    JSON.stringify(
      {
        clusterId: `synthetic-${s}`,
        dataDir: path.relative(cfgDir, clusterDataDir),
        shardConfig: path.basename(engineConfigPath),
        fsync: false,
        members: Array.from({ length: g.replicas }, (_, k) => ({
          id: k + 1,
          raft: '127.0.0.1:0',
          client: '127.0.0.1:0',
        })),
        ...(o.snapshotEveryEntries ? { snapshotIntervalEntries: o.snapshotEveryEntries } : {}),
      },
      null,
      2,
    ),
  );
  out.clusterConfigs.push(clusterConfigPath);
  return clusterDataDir;
}

/**
 * Writes the shard's log through a WAL in `node1` (snapshots, compaction, hard state), each
 * entry applied to `sm`; returns the last index and the shard's reports to chain.
 */
async function writeShardLog(
  g: Generation,
  s: number,
  symbol: string,
  commands: Command[],
  sm: ShardStateMachine,
  node1: string,
): Promise<{ lastIndex: number; shardReports: ShardReport[] }> {
  const { o, out, rng } = g;
  const wal = Wal.open(node1, {
    warn: () => undefined,
    ...(o.segmentBytesMax !== undefined ? { segmentBytesMax: o.segmentBytesMax } : {}),
  });
  wal.loadLatestSnapshot();
  // The generator numbers commands 1..n and uses those numbers as order ids; the log's time
  // ticks take sequence numbers too, so ids named by cancels and amends are mapped.
  const numbering: Numbering = {
    requestSeq: new Array<number>(g.clients + 1).fill(0),
    tickSeq: 0,
    seq: 0,
    seqOf: new Float64Array(commands.length + 2),
  };
  let index = 0;
  let pendingEntries: LogEntry[] = [];
  let pendingBytes = 0;
  let previousSnapshot = 0;
  const shardReports: ShardReport[] = [];
  let k = 0;
  while (k < commands.length) {
    const n = Math.min(commands.length - k, 1 + rng.int(g.batchMax));
    const batch: LoggedCommand[] = [];
    // The sessions first: a fresh state machine allocates ids 1, 2, … in this order.
    if (index === 0) for (let c = 1; c <= g.clients; c++) batch.push(registerCommand(commands[0]!.tsUs));
    const registrations = batch.length;
    batchCommands(g, batch, commands, k, n, symbol, numbering);
    k += n;
    out.commands += batch.length - registrations;
    const entry = { index: ++index, term: TERM, type: EntryType.NORMAL, data: encodeBatch(batch) };
    sm.apply(entry.index, commandData(entry));
    collectReports(g, s, sm.events, shardReports);
    pendingEntries.push(entry);
    pendingBytes += entry.data.length;
    if (pendingBytes > APPEND_CHUNK_BYTES) {
      wal.append(pendingEntries);
      pendingEntries = [];
      pendingBytes = 0;
    }
    if (o.snapshotEveryEntries !== undefined && o.snapshotEveryEntries > 0 && index % o.snapshotEveryEntries === 0) {
      wal.append(pendingEntries);
      pendingEntries = [];
      pendingBytes = 0;
      await wal.saveSnapshot(
        index,
        TERM,
        encodeSnapshotEnvelope(
          { voters: Array.from({ length: g.replicas }, (_, r) => r + 1), learners: [] },
          sm.snapshot(),
        ),
      );
      if (o.compact === true && previousSnapshot > 0) wal.compactThrough(previousSnapshot);
      previousSnapshot = index;
    }
  }
  wal.append(pendingEntries);
  await wal.sync();
  wal.saveHardState({ term: TERM, vote: 1, commit: index });
  await wal.close();
  return { lastIndex: index, shardReports };
}

/**
 * Appends commands k..k+n-1 to the batch, from the client sessions in turn, with a time tick
 * after every tickEvery-th command; renames their symbol to the shard's and maps the order ids
 * they name to engine seqs.
 */
function batchCommands(
  g: Generation,
  batch: LoggedCommand[],
  commands: Command[],
  k: number,
  n: number,
  symbol: string,
  num: Numbering,
): void {
  for (let j = 0; j < n; j++) {
    const c = commands[k + j]!;
    if (symbol !== SYMBOL && 'symbol' in c) (c as { symbol: string }).symbol = symbol;
    const named = c as { orderId?: number };
    if (named.orderId !== undefined) named.orderId = num.seqOf[named.orderId]!;
    num.seqOf[c.seq] = ++num.seq;
    const client = 1 + ((k + j) % g.clients);
    batch.push({ clientId: client, requestSeq: ++num.requestSeq[client]!, tsUs: c.tsUs, body: encodeCommand(c) });
    if ((k + j + 1) % g.tickEvery === 0) {
      batch.push({ clientId: -TERM, requestSeq: ++num.tickSeq, tsUs: c.tsUs, body: encodeCommand({ type: 'tick' }) });
      num.seq++;
    }
  }
}

/** Counts the entry's exec reports and keeps those chained (a share, some twice), drawing from the shared rng only for a fraction below 1 or above 0. */
function collectReports(g: Generation, s: number, ev: EventBuffer, shardReports: ShardReport[]): void {
  for (let i = 0; i < ev.count; i++) {
    if (ev.kind[i] !== EventKind.EXEC) continue;
    g.out.execReports++;
    if (g.chainedFraction < 1 && !g.rng.chance(g.chainedFraction)) continue;
    const e = ev.event(i);
    if (e.kind !== 'exec') continue;
    const report = toReport(s, e);
    const canonical = canonicalReport(report);
    shardReports.push({ shard: s, report, canonical });
    if (g.duplicateFraction > 0 && g.rng.chance(g.duplicateFraction))
      shardReports.push({ shard: s, report: { ...report }, canonical });
  }
}

/**
 * The gateway: its config, then runs in sequence, each chaining its share of every shard's
 * reports, interleaving shards in round-robin slices as concurrent sessions would.
 */
async function writeGateway(g: Generation, reports: ShardReport[][]): Promise<void> {
  const { o, out, rng, cfgDir, gatewayDir } = g;
  fs.writeFileSync(
    out.gatewayConfig,
    JSON.stringify(
      {
        shards: out.clusterConfigs.map((c, s) => ({ id: s, clusterConfig: path.basename(c) })),
        accounts: [],
        signingKey: path.relative(cfgDir, path.join(gatewayDir, 'exchange-ed25519.pem')),
        dataDir: path.relative(cfgDir, gatewayDir),
        chainHeadEveryReports: o.chainHeadEveryReports ?? 1000,
      },
      null,
      2,
    ),
  );
  const key = loadOrCreateSigningKey(path.join(gatewayDir, 'exchange-ed25519.pem'));
  const cursor = reports.map(() => 0);
  for (let r = 0; r < g.runs; r++) {
    const chain = new ReportChain(key, {
      dataDir: gatewayDir,
      everyReports: o.chainHeadEveryReports ?? 1000,
      everyMs: 2 ** 31 - 1,
    });
    const ends = reports.map((list) => Math.round((list.length * (r + 1)) / g.runs));
    let more = true;
    while (more) {
      more = false;
      for (let s = 0; s < reports.length; s++) {
        const list = reports[s]!;
        const slice = Math.min(ends[s]!, cursor[s]! + 1 + rng.int(16));
        for (; cursor[s]! < slice; cursor[s]!++) {
          const x = list[cursor[s]!]!;
          const r = o.keepReports === true ? { ...x.report } : x.report;
          chain.append(r, x.canonical);
          if (o.keepReports === true) out.chained.push(r);
          out.reportsChained++;
        }
        if (cursor[s]! < ends[s]!) more = true;
      }
    }
    await chain.close();
  }
}
