// Shared pieces of the events tests (publisher, read models, query API): a deterministic order
// flow that trades, the engine events of a log replayed independently of the publisher, their
// projection, temp dirs and child processes with bounded waits.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../engine/config.js';
import type { EventBuffer } from '../../engine/event-buffer.js';
import { encodeCommand } from '../../engine/command-codec.js';
import { commandFromJson } from '../../engine/json-codec.js';
import { EventKind, type ExecReport, type ShardConfig, type TradeEvent } from '../../engine/types.js';
import { EventsCodec, execRecordOf, tradeRecordOf, type ExecRecord, type TradeRecord } from '../../events/codec.js';
import { RecordBuilder, type OutRecord } from '../../events/publisher/records.js';
import { ReadModels, type ConsumedRecord } from '../../events/read-models/model.js';
import { TOPIC_FILLS, TOPIC_ORDERS, TOPIC_TRADES, type EventTopic } from '../../events/topics.js';
import { EntrySource } from '../../events/publisher/entry-source.js';
import type { ClientEndpoint } from '../../replicator/client-server.js';
import { EntryType, type Entry } from '../../replicator/raft/types.js';
import { ShardStateMachine, encodeBatch, type LoggedCommand } from '../../replicator/shard-state-machine.js';
import { decodeNodeSnapshot } from '../../replicator/node.js';
import { Prng } from '../../replicator/sim/prng.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';

export const SHARD_CONFIG_PATH = path.join(REPO_ROOT, 'engine/examples/instruments.json');
export const shardConfig: ShardConfig = parseConfig(JSON.parse(fs.readFileSync(SHARD_CONFIG_PATH, 'utf8')));

const dirs: string[] = [];
export function tmpDir(prefix = 'mb-events-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export function removeTmpDirs(): void {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it is true (bounded), without asserting anything about time. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * A deterministic stream of engine commands (JSON form, no seq/tsUs) that trades a lot:
 * limit orders of 6 accounts crossing around the reference prices of both instruments, some
 * IOC and market orders, cancels and amends of earlier orders (which may be done by then: the
 * engine answers with a reject, also fine).
 */
export function orderFlow(count: number, seed: number, firstOrderSeq = 1): Record<string, unknown>[] {
  const rng = new Prng(seed);
  const out: Record<string, unknown>[] = [];
  for (let k = 0; k < count; k++) {
    const account = 1 + rng.int(6);
    const btc = rng.chance(0.7);
    const symbol = btc ? 'BTC-USD' : 'ETH-USD';
    const side = rng.chance(0.5) ? 'BUY' : 'SELL';
    const r = rng.int(100);
    const clOrdId = `s${seed}-${k}`;
    if (r < 8 && k > 5) {
      out.push({ type: 'cancel', account, orderId: firstOrderSeq + rng.int(k) });
    } else if (r < 14 && k > 5) {
      out.push({ type: 'amend', account, orderId: firstOrderSeq + rng.int(k), qty: btc ? 1 + rng.int(5) : 10 * (1 + rng.int(5)) });
    } else if (r < 20) {
      out.push({ type: 'new', account, clOrdId, symbol, side, ordType: 'MARKET', qty: btc ? 1 + rng.int(4) : 10 * (1 + rng.int(4)) });
    } else {
      const price = btc ? 5_000_000 + (rng.int(21) - 10) : 300_000 + 5 * (rng.int(21) - 10);
      const qty = btc ? 1 + rng.int(6) : 10 * (1 + rng.int(6));
      out.push({ type: 'new', account, clOrdId, symbol, side, ordType: 'LIMIT', price, qty, ...(r < 30 ? { tif: 'IOC' } : {}) });
    }
  }
  return out;
}

/** The flow packed into batch entries of up to `perEntry` commands (one client session), as a leader would log them. */
export function flowEntries(commands: Record<string, unknown>[], perEntry: number, startIndex = 1, clientId = 9): Entry[] {
  const entries: Entry[] = [];
  let seq = 0;
  for (let k = 0; k < commands.length; k += perEntry) {
    const cmds: LoggedCommand[] = commands.slice(k, k + perEntry).map((c) => ({
      clientId,
      requestSeq: ++seq,
      tsUs: 1_700_000_000_000_000 + seq * 137_000, // ~137 ms apart: several 1 s candles
      body: encodeCommand(commandFromJson(c) as object),
    }));
    entries.push({ index: startIndex + entries.length, term: 1, type: EntryType.NORMAL, data: encodeBatch(cmds) });
  }
  return entries;
}

/** The events of an applied entry, by row: exec and trade only (what is published). */
function publishedEvents(events: EventBuffer): { position: number; e: ExecReport | TradeEvent }[] {
  const out: { position: number; e: ExecReport | TradeEvent }[] = [];
  for (let i = 0; i < events.count; i++) {
    const k = events.kind[i];
    if (k === EventKind.EXEC || k === EventKind.TRADE) out.push({ position: i, e: events.event(i) as ExecReport | TradeEvent });
  }
  return out;
}

/** Records of a replayed log, built without the publisher's RecordBuilder (an independent path). */
export interface ReplayedRecords {
  orders: ExecRecord[];
  fills: ExecRecord[];
  trades: TradeRecord[];
  /** The state machine at the end (live orders, last seq). */
  sm: ShardStateMachine;
}

export function replayEntries(entries: readonly Entry[], config: ShardConfig = shardConfig, sm = new ShardStateMachine(config)): ReplayedRecords {
  const out: ReplayedRecords = { orders: [], fills: [], trades: [], sm };
  for (const entry of entries) {
    sm.apply(entry);
    for (const { position, e } of publishedEvents(sm.events)) {
      if (e.kind === 'exec') {
        const r = execRecordOf(config.shardId, entry.index, position, e);
        out.orders.push(r);
        if (r.last_qty > 0) out.fills.push(r);
      } else {
        out.trades.push(tradeRecordOf(config.shardId, entry.index, position, e));
      }
    }
  }
  return out;
}

/** Every committed entry of a shard, read from its replicas with op 'entries' (the log must not be compacted). */
export async function readWholeLog(endpoints: ClientEndpoint[], throughIndex: number): Promise<Entry[]> {
  const source = new EntrySource(endpoints);
  const entries: Entry[] = [];
  try {
    while (entries.length < throughIndex) {
      const r = await source.read(entries.length + 1, 8 * 1024 * 1024, 1_000);
      if (r.kind === 'snapshot') throw new Error(`log compacted through ${r.index}: cannot replay it whole`);
      for (const e of r.entries) if (e.index <= throughIndex) entries.push({ index: e.index, term: e.term, type: e.type as EntryType, data: e.data });
    }
  } finally {
    source.close();
  }
  return entries;
}

/** A read model fed directly with replayed records (one partition per topic, offsets from 0). */
export function projection(r: Pick<ReplayedRecords, 'orders' | 'fills' | 'trades'>): ReadModels {
  const m = new ReadModels();
  r.orders.forEach((value, offset) => m.apply({ topic: TOPIC_ORDERS, partition: 0, offset, type: 'exec', value }));
  r.fills.forEach((value, offset) => m.apply({ topic: TOPIC_FILLS, partition: 0, offset, type: 'exec', value }));
  r.trades.forEach((value, offset) => m.apply({ topic: TOPIC_TRADES, partition: 0, offset, type: 'trade', value }));
  return m;
}

/** The publisher's records of these entries (RecordBuilder), decoded back, with offsets per partition from 0. */
export function publishedRecords(entries: readonly Entry[], partitions: Record<EventTopic, number>, config: ShardConfig = shardConfig): ConsumedRecord[] {
  const sm = new ShardStateMachine(config);
  const builder = new RecordBuilder(config.shardId, partitions);
  const out: OutRecord[] = [];
  for (const e of entries) {
    sm.apply(e);
    builder.addEntry(e.index, sm.events, out);
  }
  const codec = EventsCodec.get();
  const next = new Map<string, number>();
  return out.map((r) => {
    const k = `${r.topic}/${r.partition}`;
    const offset = next.get(k) ?? 0;
    next.set(k, offset + 1);
    return r.topic === TOPIC_TRADES
      ? { topic: r.topic, partition: r.partition, offset, type: 'trade', value: codec.decodeTrade(r.value) }
      : { topic: r.topic, partition: r.partition, offset, type: 'exec', value: codec.decodeExec(r.value) };
  });
}

export { decodeNodeSnapshot };

// ---------------------------------------------------------------------------------------------
// Child processes

export interface Child {
  proc: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  alive: () => boolean;
}

/** Spawns `tsx <script> args` from the repo root; resolves once a stdout line contains `"event":"ready"`. */
export async function spawnReady(script: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<Child & { ready: Record<string, unknown> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines: string[] = [];
  let alive = true;
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => ((alive = false), resolve(code))));
  const keep = (prefix: string) => (d: Buffer) => {
    for (const l of d.toString('utf8').split('\n')) if (l !== '') lines.push(`${prefix}${l}`);
    if (lines.length > 2_000) lines.splice(0, lines.length - 2_000);
  };
  proc.stderr!.on('data', keep('! '));
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${script} not ready within ${timeoutMs} ms\n${lines.slice(-30).join('\n')}`)), timeoutMs);
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (line.includes('"event":"ready"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as Record<string, unknown>);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code}) before it was ready\n${lines.slice(-30).join('\n')}`));
    });
  });
  return { proc, lines, exited, alive: () => alive, ready };
}

export async function kill(child: Child | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
  if (child === undefined || !child.alive()) return null;
  child.proc.kill(signal);
  return child.exited;
}
