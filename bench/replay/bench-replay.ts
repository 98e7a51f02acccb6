// Replay benchmark: `npm run bench:replay [-- --commands N --repeats R --replicas K --seed S --keep]`.
//
// Writes a recorded exchange first (untimed; bench/replay/synthetic-exchange.ts: mix 1 of the
// engine benchmark as the leader batches it — up to 256 commands per entry, a time tick every
// 5,000 commands — through the replicator's Wal, a snapshot every 2,000 entries, and every exec
// report chained by the gateway's ReportChain with a signed head every 1,000 reports), then
// times, in this process, R replays of each kind (median):
//
//   wal-read       the log read and checked alone (CRC32C of every record, index and term order)
//   replay         + every entry applied through ShardStateMachine (the replicas' code path)
//   verify-state   + the state at every snapshot compared with the recorded one
//   verify         + every chained report regenerated from the log and the chain re-hashed to
//                    every signed head (what `matchbook replay --verify` does)
//
// Last line: one JSON object; also written to bench/results/replay-<date>.json.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { LogReader, openReplicaFiles } from '../../audit/wal-reader.js';
import { replay, type ReplayResult } from '../../audit/replay.js';
import { resolveSources, type Sources } from '../../audit/sources.js';
import { type SyntheticExchange, writeSyntheticExchange } from './synthetic-exchange.js';

const TARGET_COMMANDS_PER_SEC = 1_000_000;

const { values: a } = parseArgs({
  options: {
    commands: { type: 'string', default: '1000000' },
    repeats: { type: 'string', default: '3' },
    replicas: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
    'hash-threads': { type: 'string' },
    keep: { type: 'boolean', default: false },
    dir: { type: 'string' },
  },
});
const commands = Number(a.commands);
const repeats = Number(a.repeats);
const replicas = Number(a.replicas);
const hashThreads = a['hash-threads'] !== undefined ? Number(a['hash-threads']) : undefined;

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Times `repeats` rounds of every phase (wal-read, replay, verify-state, verify) on the recorded exchange, checking
 * each run's entry count or final state hash against the recording; a replay with findings marks the bench failed.
 */
async function timePhases(
  ex: SyntheticExchange,
  withGateway: Sources,
  withoutGateway: Sources,
): Promise<{ runs: Record<string, number[]>; last: ReplayResult | undefined; failed: boolean }> {
  const runs: Record<string, number[]> = { 'wal-read': [], replay: [], 'verify-state': [], verify: [] };
  let last: ReplayResult | undefined;
  let failed = false;
  for (let r = 0; r < repeats; r++) {
    let t = performance.now();
    let entries = 0;
    for (const d of ex.shardDirs[0]!) {
      const reader = new LogReader(openReplicaFiles(d));
      for (let it = reader.next(); it.kind !== 'end'; it = reader.next()) if (it.kind === 'entry') entries++;
      reader.close();
    }
    runs['wal-read']!.push(performance.now() - t);
    if (entries !== ex.entries[0]! * replicas)
      throw new Error(`read ${entries} entries, expected ${ex.entries[0]! * replicas}`);
    for (const [name, sources, verify] of [
      ['replay', withoutGateway, false],
      ['verify-state', withoutGateway, true],
      ['verify', withGateway, true],
    ] as const) {
      t = performance.now();
      const res = await replay({
        sources,
        from: 'genesis',
        verify,
        ...(hashThreads !== undefined ? { hashThreads } : {}),
      });
      runs[name]!.push(performance.now() - t);
      if (res.exitCode !== 0) {
        failed = true;
        console.error(`${name}: exit ${res.exitCode}: ${JSON.stringify(res.findings.slice(0, 3))}`);
      }
      if (res.shards[0]!.stateHash !== ex.finalStateHashes[0])
        throw new Error(`${name}: state hash ${res.shards[0]!.stateHash}, recorded ${ex.finalStateHashes[0]}`);
      if (name === 'verify') last = res;
    }
  }
  return { runs, last, failed };
}

async function main(): Promise<void> {
  const dir = a.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mb-bench-replay-'));
  const t0 = performance.now();
  const ex = await writeSyntheticExchange({
    dir,
    commands,
    replicas,
    seed: Number(a.seed),
    batchMax: 256,
    snapshotEveryEntries: 2000,
    runs: 2,
    chainHeadEveryReports: 1000,
  });
  const genMs = performance.now() - t0;
  const node1 = ex.shardDirs[0]![0]!;
  const walBytes = fs
    .readdirSync(node1)
    .filter((n) => n.endsWith('.log'))
    .reduce((s, n) => s + fs.statSync(path.join(node1, n)).size, 0);
  console.log(
    `recorded exchange in ${dir} (${(genMs / 1000).toFixed(1)} s): ${ex.commands.toLocaleString()} commands in ${ex.entries[0]!.toLocaleString()} entries ` +
      `(${(walBytes / 2 ** 20).toFixed(1)} MiB of WAL per replica, ${replicas} replica(s)), ${ex.execReports.toLocaleString()} exec reports, ${ex.reportsChained.toLocaleString()} chained`,
  );

  const withGateway = resolveSources({ dataDirs: [], config: ex.gatewayConfig });
  const withoutGateway: Sources = { ...withGateway, gateway: undefined };
  const { runs, last, failed } = await timePhases(ex, withGateway, withoutGateway);
  const rate = (ms: number) => Math.round(ex.commands / (ms / 1000));
  const result: Record<string, unknown> = {
    bench: 'replay',
    node: process.version,
    cores: os.availableParallelism(),
    commands: ex.commands,
    entries: ex.entries[0],
    replicas,
    walBytesPerReplica: walBytes,
    execReports: ex.execReports,
    reportsChained: ex.reportsChained,
    reportsPerCommand: Number((ex.reportsChained / ex.commands).toFixed(3)),
    snapshotsChecked: last?.shards[0]?.snapshotsChecked,
    heads: last?.chain?.heads,
    hashThreads: last?.chain?.hashThreads,
    repeats,
  };
  console.log('');
  console.log('| phase | median ms | commands/s | runs (ms) |');
  console.log('| --- | ---: | ---: | --- |');
  for (const [name, ms] of Object.entries(runs)) {
    const m = median(ms);
    console.log(
      `| ${name} | ${m.toFixed(0)} | ${rate(m).toLocaleString()} | ${ms.map((x) => x.toFixed(0)).join(', ')} |`,
    );
    result[name] = { medianMs: Math.round(m), commandsPerSec: rate(m), runsMs: ms.map((x) => Math.round(x)) };
  }
  const walMs = median(runs['wal-read']!);
  result.walReadMiBPerSec = Math.round((walBytes * replicas) / 2 ** 20 / (walMs / 1000));
  const verifyRate = rate(median(runs.verify!));
  result.targetCommandsPerSec = TARGET_COMMANDS_PER_SEC;
  result.targetMet = verifyRate >= TARGET_COMMANDS_PER_SEC;
  result.verifyStateTargetMet = rate(median(runs['verify-state']!)) >= TARGET_COMMANDS_PER_SEC;
  if (!a.keep && a.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  const line = JSON.stringify(result);
  const out = path.join(
    path.dirname(new URL(import.meta.url).pathname),
    '..',
    'results',
    `replay-${new Date().toISOString().slice(0, 10)}.json`,
  );
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${line}\n`);
  console.log('');
  console.log(line);
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
