// The feed side of the feed benchmark (a child process of bench-feed.ts): one shard's state
// machine and a MarketDataFeed wired exactly as in a replica — each log entry (a batch of
// commands in the replicated-log format) goes through ShardStateMachine.apply and then the
// feed's onApplied hook — plus an open-loop generator that applies entries at a fixed rate.
//
// Commands: the engine benchmark's mix 1 (bench/engine/workloads.ts: ~82% price moves of
// resting orders, 9% new GTC, 3% IOC, 6% cancels; ~1,000 resting orders), generated before any
// timing. Each entry's tsUs is its SCHEDULED time (wall clock, µs): clients measure latency
// from it, so a stall of this process counts against everything scheduled during it.
//
// Control over IPC from the parent: {type:'run', commandsPerSec, commandsPerEntry, seconds}
// → {type:'done', …}; {type:'stats'} → {type:'stats', …}; {type:'exit'}.

import { performance } from 'node:perf_hooks';
import { encodeCommand } from '../../engine/command-codec.js';
import { MarketDataFeed } from '../../feed/feed-service.js';
import { linesLog } from '../../ops/log.js';
import { ShardStateMachine } from '../../shard/state-machine.js';
import { encodeBatch, registerCommand, type LoggedCommand } from '../../shard/batch-codec.js';
import { EntryType, type Entry } from '../../replicator/log.js';
import { SYMBOL, benchConfig, generateMix1 } from '../engine/workloads.js';
import { commandData } from '../../replicator/log.js';

/** Generator timer period (ms): entries due since the last tick are applied together. */
const GENERATOR_TICK_MS = 1;

const commandsTotal = Number(process.argv[2] ?? '1000000');
/** FeedLimits.publishIntervalUsPerConnection ('' = the default). */
const publishIntervalArg = process.argv[3] ?? '';
const wallUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** The feed as a replica runs it, for SYMBOL on an ephemeral loopback port, with room for the benchmark's connections. */
function createFeed(): MarketDataFeed {
  return new MarketDataFeed({
    // The decimals of issue 19's BTC-USD (2 and 8), so that a decimal subscriber's formatting
    // does real work (benchConfig's narrow instrument has none); units subscribers never use them.
    instruments: [{ symbol: SYMBOL, priceDecimals: 2, qtyDecimals: 8 }],
    host: '127.0.0.1',
    port: 0,
    limits: {
      connectionsMax: 20_000,
      ...(publishIntervalArg !== '' ? { publishIntervalUsPerConnection: Number(publishIntervalArg) } : {}),
    },
    log: linesLog((l) => process.stderr.write(`${l}\n`)),
  });
}

/** The reply to {type:'stats'}: connections now and the server's, projector's and feed's counters. */
function statsMessage(feed: MarketDataFeed) {
  return {
    type: 'stats',
    connections: feed.server.connectionCount,
    server: feed.server.stats,
    projector: feed.projector.stats,
    feed: feed.stats,
  };
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const workload = generateMix1(commandsTotal, 1);
  const bodies = workload.commands.map((c) => encodeCommand(c));
  const generateMs = performance.now() - t0;
  const config = benchConfig();
  const sm = new ShardStateMachine(config);
  const feed = createFeed();
  feed.onStateReset(sm.engine);
  const port = await feed.start();
  let next = 0;
  let requestSeq = 0;
  let index = 0;

  const applyEntry = (count: number, tsUs: number): number => {
    // One client session, registered in the first entry (a fresh state machine gives it id 1).
    const cmds: LoggedCommand[] = index === 0 ? [registerCommand(tsUs)] : [];
    const registrations = cmds.length;
    for (let k = 0; k < count && next < bodies.length; k++)
      cmds.push({ clientId: 1, requestSeq: ++requestSeq, tsUs, body: bodies[next++]! });
    if (cmds.length === registrations) return 0;
    const entry: Entry = { index: ++index, term: 1, type: EntryType.NORMAL, data: encodeBatch(cmds) };
    sm.apply(entry.index, commandData(entry));
    feed.onApplied({ index: entry.index, tsUs: sm.entryTimeUs, events: sm.events });
    return cmds.length - registrations;
  };

  // A prefill that the workload starts with (its first ~1,000 GTC orders), before any client connects.
  while (next < 1000) applyEntry(100, wallUs());

  const run = (commandsPerSec: number, commandsPerEntry: number, seconds: number) => {
    const entryIntervalMs = (1000 * commandsPerEntry) / commandsPerSec;
    const start = performance.now() + 5;
    const end = start + seconds * 1000;
    const cpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    const stats0 = { ...feed.server.stats };
    let k = 0;
    let commands = 0;
    let lagMaxMs = 0;
    const tick = () => {
      const now = performance.now();
      for (;;) {
        const due = start + k * entryIntervalMs;
        if (due > now || due >= end) break;
        if (now - due > lagMaxMs) lagMaxMs = now - due;
        const n = applyEntry(commandsPerEntry, Math.round((performance.timeOrigin + due) * 1000));
        if (n === 0) break; // workload exhausted
        commands += n;
        k++;
      }
      if (now < end && next < bodies.length) {
        setTimeout(tick, GENERATOR_TICK_MS);
        return;
      }
      const cpu = process.cpuUsage(cpu0);
      const s = feed.server.stats;
      process.send!({
        type: 'done',
        entries: k,
        commands,
        seconds: (performance.now() - start) / 1000,
        lagMaxMs: Math.round(lagMaxMs * 10) / 10,
        cpuMs: Math.round((cpu.user + cpu.system) / 1000),
        elu: Math.round(performance.eventLoopUtilization(elu0).utilization * 1000) / 1000,
        published: s.published - stats0.published,
        deliveries: s.deliveries - stats0.deliveries,
        lagging: s.lagging - stats0.lagging,
        closedSlow: s.closedSlow - stats0.closedSlow,
        exhausted: next >= bodies.length,
        publishIntervalMs: feed.server.publishIntervalMs(),
      });
    };
    setTimeout(tick, 5);
  };

  process.on('message', (m: { type: string; commandsPerSec?: number; commandsPerEntry?: number; seconds?: number }) => {
    if (m.type === 'run') run(m.commandsPerSec!, m.commandsPerEntry!, m.seconds!);
    else if (m.type === 'stats') process.send!(statsMessage(feed));
    else if (m.type === 'exit') void feed.stop().then(() => process.exit(0));
  });
  process.send!({
    type: 'ready',
    port,
    generateMs: Math.round(generateMs),
    commands: bodies.length,
    publishIntervalUsPerConnection: feed.server.limits.publishIntervalUsPerConnection,
    publishIntervalMaxMs: feed.server.limits.publishIntervalMaxMs,
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`feed process failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
