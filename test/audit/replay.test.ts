// Replay for audit on recorded exchanges written by bench/replay/synthetic-exchange.ts (the
// replicator's own Wal and batch encoding, the gateway's own ReportChain): two shards of three
// replicas, two gateway runs. Untouched data verify (exit 0); every kind of tampering fails
// (exit 1) naming the shard, replica, log index or chain position and what differs.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticExchange, type SyntheticExchange } from '../../bench/replay/synthetic-exchange.js';
import { runReplay } from '../../cli/audit-commands.js';
import { replay } from '../../audit/replay.js';
import { resolveSources } from '../../audit/sources.js';
import { encodeSnapshotHeader } from '../../replicator/wal/snapshot-file.js';
import { crc32c } from '../../replicator/wal/crc32c.js';
import {
  copyTree,
  dropRecord,
  flipByteInRecord,
  readJournalValues,
  runCli,
  setJournalValue,
  tempDir,
  walRecords,
} from './helpers.js';

let base: string;
let ex: SyntheticExchange;
let compacted: SyntheticExchange;
const dirs: string[] = [];

/** A fresh copy of the recorded exchange (tests tamper with their own copy). */
function copy(prefix: string): { root: string; config: string } {
  const root = copyTree(base, prefix);
  dirs.push(root);
  return { root, config: path.join(root, 'config', 'gateway.json') };
}

beforeAll(async () => {
  base = tempDir('synthetic');
  dirs.push(base);
  ex = await writeSyntheticExchange({
    dir: base,
    commands: 4000,
    shards: 2,
    replicas: 3,
    runs: 2,
    batchMax: 48,
    snapshotEveryEntries: 40,
    chainHeadEveryReports: 150,
    keepReports: true,
    seed: 3,
  });
  const c = tempDir('compacted');
  dirs.push(c);
  compacted = await writeSyntheticExchange({
    dir: c,
    commands: 3000,
    shards: 1,
    replicas: 1,
    batchMax: 32,
    snapshotEveryEntries: 30,
    compact: true,
    segmentBytesMax: 32 * 1024,
    seed: 5,
  });
}, 60_000);

afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('untouched data', () => {
  it('verifies: every snapshot, every replica, every chained report under a signed head (exit 0)', async () => {
    const r = await runCli(runReplay, ['--config', ex.gatewayConfig, '--verify']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('OK: everything checked matches');
    const last = r.last as {
      shards: { stateHash: string }[];
      chain: { reportsCovered: number; reportsNotChecked: number; headsVerified: number; heads: number };
    };
    expect(last.shards.map((s) => s.stateHash)).toEqual(ex.finalStateHashes);
    expect(last.chain.reportsCovered).toBe(ex.reportsChained);
    expect(last.chain.reportsNotChecked).toBe(0);
    expect(last.chain.headsVerified).toBe(last.chain.heads);
    expect(r.out).toMatch(/shard 0: from genesis .* [1-9]\d* snapshot\(s\) checked/);
  });

  it('finds the same data from the exchange directory (layout discovery)', async () => {
    const r = await runCli(runReplay, ['--data-dir', base, '--config', ex.gatewayConfig, '--verify', '--quiet']);
    expect(r.code).toBe(0);
    expect((r.last as { shards: { stateHash: string }[] }).shards.map((s) => s.stateHash)).toEqual(ex.finalStateHashes);
  });

  it('from the oldest snapshot and from genesis reach the same state; reports before the snapshot are "not checked" (exit 3)', async () => {
    const g = await runCli(runReplay, ['--config', ex.gatewayConfig, '--verify', '--from-genesis', '--quiet']);
    const s = await runCli(runReplay, ['--config', ex.gatewayConfig, '--verify', '--from-snapshot']);
    expect(g.code).toBe(0);
    expect(s.code, s.out).toBe(3);
    expect(s.out).toMatch(/INCOMPLETE \[chain\].*precedes the replay's start/);
    const hashes = (x: typeof g) => (x.last as { shards: { stateHash: string; start: number }[] }).shards;
    expect(hashes(s).map((x) => x.stateHash)).toEqual(hashes(g).map((x) => x.stateHash));
    expect(hashes(s).every((x) => x.start > 0)).toBe(true);
  });

  it('is deterministic: two replays emit the same event bytes, event digest and state hash, whatever the hashing threads', async () => {
    const out1 = path.join(base, 'events-1.jsonl');
    const out2 = path.join(base, 'events-2.jsonl');
    const a = await runCli(runReplay, [
      '--config',
      ex.gatewayConfig,
      '--shard',
      '1',
      '--verify',
      '--events-out',
      out1,
      '--events-digest',
      '--hash-threads',
      '0',
      '--quiet',
    ]);
    const b = await runCli(runReplay, [
      '--config',
      ex.gatewayConfig,
      '--shard',
      '1',
      '--verify',
      '--events-out',
      out2,
      '--events-digest',
      '--hash-threads',
      '2',
      '--quiet',
    ]);
    expect(a.code).toBe(3); // shard 0's reports of the same runs are not replayed
    expect(b.code).toBe(3);
    expect(a.last!.eventsDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(b.last!.eventsDigest).toBe(a.last!.eventsDigest);
    expect(b.last!.shards).toEqual(a.last!.shards);
    expect(b.last!.chain).toEqual(a.last!.chain);
    const e1 = fs.readFileSync(out1);
    expect(e1.length).toBeGreaterThan(1000);
    expect(e1.equals(fs.readFileSync(out2))).toBe(true);
  });

  it('compares reports as a client received them, one by one', async () => {
    const file = path.join(base, 'received.jsonl');
    fs.writeFileSync(
      file,
      ex.chained
        .slice(0, 400)
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
    const r = await runCli(runReplay, ['--config', ex.gatewayConfig, '--verify', '--reports', file]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('400 client reports compared');
  });
});

describe('tamper evidence', () => {
  it("a flipped byte in one replica's WAL: that replica, that index, the damaged record; the peers' copies keep the replay exact", async () => {
    const { root, config } = copy('flip');
    const recs = walRecords(path.join(root, 'cluster-1', 'node-2'));
    const victim = recs[Math.floor(recs.length / 2)]!;
    flipByteInRecord(victim);
    const r = await runCli(runReplay, ['--config', config, '--verify']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(
        `FAIL \\[wal\\] shard 1, node-2, index ${victim.index}, ${path.basename(victim.file)} @${victim.offset}: damaged record: CRC mismatch`,
      ),
    );
    expect((r.last as { shards: { stateHash: string }[] }).shards.map((s) => s.stateHash)).toEqual(ex.finalStateHashes);
    expect((r.last as { fail: number }).fail, r.out).toBe(1);
  });

  it('a flipped byte in the only replica given: the replay stops there and names the index', async () => {
    const { root, config } = copy('flip1');
    const node = path.join(root, 'cluster-0', 'node-1');
    const recs = walRecords(node);
    const victim = recs[Math.floor(recs.length / 3)]!;
    flipByteInRecord(victim, 40);
    const r = await runCli(runReplay, [
      '--config',
      config,
      '--data-dir',
      node,
      '--shard',
      '0',
      '--gateway-dir',
      path.join(root, 'gateway'),
      '--verify',
    ]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`FAIL [wal] shard 0, node-1, index ${victim.index}`);
    expect(r.out).toContain(`no replica holds a verifiable record of entry ${victim.index}`);
    expect(r.out).toMatch(/to index \d+ \(unreadable/);
  });

  it('a dropped WAL record: an index gap at that index', async () => {
    const { root, config } = copy('drop');
    const recs = walRecords(path.join(root, 'cluster-0', 'node-1'));
    const victim = recs[57]!;
    dropRecord(victim);
    const r = await runCli(runReplay, ['--config', config, '--verify']);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `FAIL [wal] shard 0, node-1, index ${victim.index}, ${path.basename(victim.file)} @${victim.offset}: missing record: entries ${victim.index} missing`,
    );
    expect((r.last as { shards: { stateHash: string }[] }).shards.map((s) => s.stateHash)).toEqual(ex.finalStateHashes);
  });

  it('a journal record naming another report: the chain fails at the signed head covering it, the record is pointed out', async () => {
    const { root, config } = copy('journal');
    const journal = path.join(root, 'gateway', 'chain-journal.bin');
    const recs = readJournalValues(journal);
    // The 100th report of run 1 names exec id + 7 of its shard instead.
    let k = 0;
    let n = 0;
    for (; k < recs.length; k++) if (recs[k]!.kind === 1 && ++n === 100) break;
    setJournalValue(journal, k, recs[k]!.value + 7);
    const r = await runCli(runReplay, ['--config', config, '--verify']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /FAIL \[chain\] run 1, chain_seq 150, chain-heads.jsonl:1: the reports regenerated from the log for chain_seq 1\.\.150 hash to [0-9a-f]{64}, the signed head says [0-9a-f]{64}/,
    );
    expect(r.out).toContain('chain_seq 100 (exec_id');
  });

  it('a journal record naming a report the log never had: exact chain_seq', async () => {
    const { root, config } = copy('journal2');
    const journal = path.join(root, 'gateway', 'chain-journal.bin');
    const recs = readJournalValues(journal);
    let k = 0;
    let n = 0;
    for (; k < recs.length; k++) if (recs[k]!.kind === 1 && ++n === 42) break;
    setJournalValue(journal, k, 10_000_000);
    const r = await runCli(runReplay, ['--config', config, '--verify']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(
        `FAIL \\[chain\\] shard ${recs[k]!.shard}, run 1, chain_seq 42, chain-journal.bin @${k * 12}: journal names exec_id 10000000 of shard ${recs[k]!.shard}, which the log does not contain`,
      ),
    );
  });

  it('an altered report as received: exact chain_seq and field', async () => {
    const file = path.join(base, 'altered.jsonl');
    const reports = ex.chained.slice(0, 300).map((x) => ({ ...x }));
    const victim = reports.find((x) => x.chain_seq === 222 && x.exec_type === 'TRADE') ?? reports[221]!;
    victim.cum_qty += 1;
    fs.writeFileSync(file, reports.map((x) => JSON.stringify(x)).join('\n'));
    const r = await runCli(runReplay, ['--config', ex.gatewayConfig, '--verify', '--reports', file]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(
        `FAIL \\[reports\\] run 1, chain_seq ${victim.chain_seq}, altered.jsonl:\\d+: report differs from the one the log regenerates at this position: cum_qty: report ${victim.cum_qty}, log ${victim.cum_qty - 1}`,
      ),
    );
  });

  it('a tampered head signature or head hash: that line', async () => {
    const { root, config } = copy('heads');
    const heads = path.join(root, 'gateway', 'chain-heads.jsonl');
    const lines = fs.readFileSync(heads, 'utf8').split('\n');
    const h3 = JSON.parse(lines[2]!) as { signature: string; chain_hash: string; chain_seq: number };
    h3.signature = `${h3.signature[0] === 'A' ? 'B' : 'A'}${h3.signature.slice(1)}`;
    lines[2] = JSON.stringify(h3);
    const h5 = JSON.parse(lines[4]!) as { signature: string; chain_hash: string; chain_seq: number };
    h5.chain_hash = `${h5.chain_hash[0] === 'a' ? 'b' : 'a'}${h5.chain_hash.slice(1)}`;
    lines[4] = JSON.stringify(h5);
    fs.writeFileSync(heads, lines.join('\n'));
    const r = await runCli(runReplay, ['--config', config, '--verify']);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `FAIL [heads] run 1, chain_seq ${h3.chain_seq}, chain-heads.jsonl:3: signature does not verify with the exchange's public key`,
    );
    expect(r.out).toContain(
      `FAIL [heads] run 1, chain_seq ${h5.chain_seq}, chain-heads.jsonl:5: signature does not verify`,
    );
    expect(r.out).toMatch(
      new RegExp(`FAIL \\[chain\\] run 1, chain_seq ${h5.chain_seq}, chain-heads.jsonl:5: the reports regenerated`),
    );
  });

  it('a damaged snapshot file, and a valid snapshot of another state: that replica, that index', async () => {
    const { root, config } = copy('snap');
    const node3 = path.join(root, 'cluster-0', 'node-3');
    const snaps = fs
      .readdirSync(node3)
      .filter((n) => n.endsWith('.snap'))
      .sort();
    expect(snaps.length).toBe(2);
    const [older, newer] = snaps as [string, string];
    const newerIndex = Number(newer.slice(5, 25));
    // node-3's newer snapshot file now holds the older state under the newer index, with a valid CRC.
    const olderBytes = fs.readFileSync(path.join(node3, older));
    const body = olderBytes.subarray(32, olderBytes.length - 4);
    const header = encodeSnapshotHeader(newerIndex, 1, body.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(crc32c(Buffer.concat([header, body])));
    fs.writeFileSync(path.join(node3, newer), Buffer.concat([header, body, crc]));
    // node-2's older one gets a flipped byte.
    const node2 = path.join(root, 'cluster-0', 'node-2');
    const f = path.join(node2, older);
    const b = fs.readFileSync(f);
    b[100] = b[100]! ^ 1;
    fs.writeFileSync(f, b);
    const r = await runCli(runReplay, ['--config', config, '--verify']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(
        `FAIL \\[snapshot\\] shard 0, node-3, index ${newerIndex}, ${newer}: state hash [0-9a-f]{64} recorded, [0-9a-f]{64} replayed: applied index ${Number(older.slice(5, 25))} vs ${newerIndex}`,
      ),
    );
    expect(r.out).toContain(
      `FAIL [snapshot] shard 0, node-2, index ${Number(older.slice(5, 25))}, ${older}: unreadable: CRC mismatch`,
    );
  });
});

describe('compacted logs', () => {
  it('from genesis is refused (exit 2); the default starts from the oldest snapshot and reaches the recorded state', async () => {
    const g = await runCli(runReplay, ['--config', compacted.gatewayConfig, '--from-genesis', '--verify']);
    expect(g.code).toBe(2);
    expect(g.err).toContain("no replica's log starts at index 1");
    const r = await runCli(runReplay, ['--config', compacted.gatewayConfig, '--verify']);
    expect(r.code).toBe(3);
    const s = (r.last as { shards: { stateHash: string; start: number }[] }).shards[0]!;
    expect(s.stateHash).toBe(compacted.finalStateHashes[0]);
    expect(s.start).toBeGreaterThan(0);
  });

  it('the replay API gives the same as the CLI', async () => {
    const result = await replay({
      sources: resolveSources({ dataDirs: [], config: compacted.gatewayConfig }),
      from: 'auto',
      verify: true,
    });
    expect(result.shards[0]!.stateHash).toBe(compacted.finalStateHashes[0]);
    expect(result.exitCode).toBe(3);
  });
});

describe('usage', () => {
  it('bad arguments exit 2 with the usage', async () => {
    expect((await runCli(runReplay, ['--bogus'])).code).toBe(2);
    const both = await runCli(runReplay, ['--config', ex.gatewayConfig, '--from-genesis', '--from-snapshot']);
    expect(both.code).toBe(2);
    expect(both.err).toContain('exclude each other');
    const missing = await runCli(runReplay, ['--config', ex.gatewayConfig, '--data-dir', path.join(base, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('not a directory');
    const toIndex = await runCli(runReplay, ['--config', ex.gatewayConfig, '--to-index', '10']);
    expect(toIndex.code).toBe(2);
    expect(toIndex.err).toContain('give --shard');
  });

  it('--to-index stops there: later reports are "not checked" (exit 3), earlier heads verify', async () => {
    const r = await runCli(runReplay, ['--config', ex.gatewayConfig, '--shard', '0', '--to-index', '60', '--verify']);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/to index 60 \(to-index/);
  });
});
