// Shared pieces of the events tests (publisher, read models, query API): a deterministic order
// flow that trades, the engine events of a log replayed independently of the publisher, their
// projection, temp dirs and child processes with bounded waits.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../engine/config.js';
import { encodeCommand } from '../../engine/command-codec.js';
import { commandFromJson } from '../../engine/json-codec.js';
import type { ShardConfig } from '../../engine/types.js';
import { decimalsOfConfig, EventsCodec } from '../../events/codec.js';
import { RecordBuilder, type OutRecord } from '../../events/publisher/records.js';
import type { ConsumedRecord } from '../../events/read-models/model.js';
import { TOPIC_TRADES, type EventTopic } from '../../events/topics.js';
import { EntryType, type Entry } from '../../replicator/raft/types.js';
import { ShardStateMachine } from '../../shard/state-machine.js';
import { encodeBatch, registerCommand, type LoggedCommand } from '../../shard/batch-codec.js';
import { projection, readWholeLog, replayRecords, type ReplayedRecords } from '../../events/read-models/reference.js';
import { decodeSnapshotEnvelope } from '../../shard/snapshot-envelope.js';
import { Prng } from '../../replicator/prng.js';
import { REPO_ROOT, freePort } from '../../replicator/process-cluster.js';
import { startLocalEvents, type LocalEvents } from '../../events/local-events.js';
import { kill, spawnReady, type Child } from '../../ops/child-process.js';
import { commandData } from '../../replicator/log.js';

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

/** `o` (or each item of it) without its `*_decimal` strings (test/events/decimal-strings-e2e.test.ts checks those). */
export function integersOnly(o: unknown): unknown {
  if (Array.isArray(o)) return o.map(integersOnly);
  if (typeof o !== 'object' || o === null) return o;
  return Object.fromEntries(Object.entries(o).filter(([k]) => !k.endsWith('_decimal')));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it is true (bounded), without asserting anything about time. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
  everyMs = 25,
): Promise<void> {
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
      out.push({
        type: 'amend',
        account,
        orderId: firstOrderSeq + rng.int(k),
        qty: btc ? 1 + rng.int(5) : 10 * (1 + rng.int(5)),
      });
    } else if (r < 20) {
      out.push({
        type: 'new',
        account,
        clOrdId,
        symbol,
        side,
        ordType: 'MARKET',
        qty: btc ? 1 + rng.int(4) : 10 * (1 + rng.int(4)),
      });
    } else {
      const price = btc ? 5_000_000 + (rng.int(21) - 10) : 300_000 + 5 * (rng.int(21) - 10);
      const qty = btc ? 1 + rng.int(6) : 10 * (1 + rng.int(6));
      out.push({
        type: 'new',
        account,
        clOrdId,
        symbol,
        side,
        ordType: 'LIMIT',
        price,
        qty,
        ...(r < 30 ? { tif: 'IOC' } : {}),
      });
    }
  }
  return out;
}

/** BTC quantities of the example flow (1–6 units) times this: up to ~60 BTC in satoshis, so a fill at ~50,000.00 USD passes 2^53. */
const QTY_SCALE = 1_000_000_007;

/** The example config file with BTC-USD wide: 1 satoshi up to 1,000 BTC at up to 1,000,000.00 USD (1e19 units of notional). */
export function wideShardConfigJson(): { instruments: Record<string, unknown>[] } {
  const raw = JSON.parse(fs.readFileSync(SHARD_CONFIG_PATH, 'utf8'));
  Object.assign(raw.instruments[0], { maxQty: 100_000_000_000, maxPrice: 100_000_000, qtyDecimals: 8 });
  return raw;
}

/** The example order flow with BTC-USD quantities (and amends, < 10) scaled to wide ones. */
export function wideFlow(count: number, seed: number, firstOrderSeq = 1): Record<string, unknown>[] {
  return orderFlow(count, seed, firstOrderSeq).map((c) =>
    typeof c.qty === 'number' && c.qty < 10 ? { ...c, qty: c.qty * QTY_SCALE } : c,
  );
}

/**
 * The flow packed into batch entries of up to `perEntry` commands of one client session, as a
 * leader would log them for a fresh state machine: the first entry starts with the session's
 * registration, which gets id 1.
 */
export function flowEntries(commands: Record<string, unknown>[], perEntry: number): Entry[] {
  const entries: Entry[] = [];
  const clientId = 1;
  let seq = 0;
  for (let k = 0; k < commands.length; k += perEntry) {
    const cmds: LoggedCommand[] = commands.slice(k, k + perEntry).map((c) => ({
      clientId,
      requestSeq: ++seq,
      tsUs: 1_700_000_000_000_000 + seq * 137_000, // ~137 ms apart: several 1 s candles
      body: encodeCommand(commandFromJson(c) as object),
    }));
    if (k === 0) cmds.unshift(registerCommand(cmds[0]!.tsUs));
    entries.push({ index: 1 + entries.length, term: 1, type: EntryType.NORMAL, data: encodeBatch(cmds) });
  }
  return entries;
}

/** A log replayed into records independently of the publisher (events/read-models/reference.ts), with the example config by default. */
export function replayEntries(
  entries: readonly Entry[],
  config: ShardConfig = shardConfig,
  sm = new ShardStateMachine(config),
): ReplayedRecords {
  return replayRecords(entries, config, sm);
}

export { projection, readWholeLog, type ReplayedRecords };

/** The publisher's records of these entries (RecordBuilder), decoded back, with offsets per partition from 0. */
export function publishedRecords(
  entries: readonly Entry[],
  partitions: Record<EventTopic, number>,
  config: ShardConfig = shardConfig,
): ConsumedRecord[] {
  const sm = new ShardStateMachine(config);
  const builder = new RecordBuilder(config.shardId, partitions, decimalsOfConfig(config));
  const out: OutRecord[] = [];
  for (const e of entries) {
    sm.apply(e.index, commandData(e));
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

export { decodeSnapshotEnvelope };

// ---------------------------------------------------------------------------------------------
// Child processes

export { kill, spawnReady, type Child };

/**
 * The events side of an exchange (embedded broker, publisher, query service) for the cluster and
 * gateway files given, every port free, its data under `dataDir`.
 */
export async function startEventsOn(
  clusterConfigPath: string,
  gatewayConfigPath: string,
  dataDir: string,
): Promise<LocalEvents> {
  return startLocalEvents({
    clusterConfigPath,
    gatewayConfigPath,
    dataDir,
    brokerPort: 0,
    brokerOps: '127.0.0.1:0',
    publisherOps: '127.0.0.1:0',
    queryRest: `127.0.0.1:${await freePort()}`,
    queryGrpc: `127.0.0.1:${await freePort()}`,
  });
}
