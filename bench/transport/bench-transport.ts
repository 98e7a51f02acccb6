// npx tsx bench/transport/bench-transport.ts [-- --seconds S] [--entries K] [--entry-bytes N] [--batch B] [--window W]
//
// Raft transport throughput on loopback: two TcpTransports in this process, node 1 sends
// APPEND messages (K entries of N bytes each) to node 2, B messages per send() call, keeping at
// most W messages sent but not yet received (so the bounded queue never drops: a drop would be
// a bench bug and fails the run). Timed for S seconds after a 1 s warm-up.
//   messages/s   APPENDs received by node 2 / wall time
//   entries/s    messages/s × K
//   MiB/s        frame bytes on the wire (sender's stats) / wall time
// Both ends share one event loop and one core's worth of JS, so this is the cost of encode +
// kernel loopback + decode, not a network figure. Prints a summary, and as the last line one
// JSON object.

import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { EntryType, MessageType, type Entry, type Message } from '../../replicator/raft/types.js';
import { TcpTransport } from '../../replicator/transport/tcp-transport.js';
import { NO_LOG } from '../../ops/log.js';

interface Options {
  seconds: number;
  entries: number;
  entryBytes: number;
  batch: number;
  window: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 5, entries: 8, entryBytes: 100, batch: 64, window: 4096 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') continue;
    const v = Number((argv[++i] ?? '').replace(/_/g, ''));
    if (!Number.isFinite(v) || v <= 0) throw new Error(`bad or missing value for ${a}`);
    if (a === '--seconds') o.seconds = v;
    else if (a === '--entries') o.entries = Math.floor(v);
    else if (a === '--entry-bytes') o.entryBytes = Math.floor(v);
    else if (a === '--batch') o.batch = Math.floor(v);
    else if (a === '--window') o.window = Math.floor(v);
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

/** The o.batch APPEND messages of one send(), node 1 to node 2, each of o.entries entries of o.entryBytes bytes. */
function appendBatch(o: Options): Message[] {
  const data = new Uint8Array(o.entryBytes).fill(7);
  const batch: Message[] = [];
  for (let i = 0; i < o.batch; i++) {
    const entries: Entry[] = [];
    for (let k = 0; k < o.entries; k++)
      entries.push({ index: i * o.entries + k + 1, term: 3, type: EntryType.NORMAL, data });
    batch.push({
      type: MessageType.APPEND,
      from: 1,
      to: 2,
      term: 3,
      logTerm: 3,
      index: i * o.entries,
      entries,
      commit: i * o.entries,
      reject: false,
      rejectHint: 0,
      context: 0,
    });
  }
  return batch;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  let received = 0;
  const quiet = NO_LOG;
  const b = new TcpTransport({
    selfId: 2,
    clusterId: 'bench',
    listen: { host: '127.0.0.1', port: 0 },
    peers: new Map(),
    onMessages: (m) => (received += m.length),
    log: quiet,
  });
  await b.start();
  const a = new TcpTransport({
    selfId: 1,
    clusterId: 'bench',
    listen: { host: '127.0.0.1', port: 0 },
    peers: new Map([[2, { host: '127.0.0.1', port: b.port }]]),
    onMessages: () => undefined,
    log: quiet,
  });
  await a.start();

  // One set of messages reused for every send: the bench measures the transport, not message building.
  const batch = appendBatch(o);

  let sent = 0;
  let running = true;
  const pump = (): void => {
    if (!running) return;
    while (sent - received + o.batch <= o.window) {
      a.send(batch);
      sent += o.batch;
    }
    setImmediate(pump);
  };
  pump();

  const measure = async (seconds: number): Promise<{ seconds: number; messages: number; bytes: number }> => {
    const m0 = received;
    const b0 = a.stats().bytesSent;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const t1 = performance.now();
    return { seconds: (t1 - t0) / 1000, messages: received - m0, bytes: a.stats().bytesSent - b0 };
  };
  await measure(1); // warm-up
  const r = await measure(o.seconds);
  running = false;
  const stats = a.stats();
  await a.stop();
  await b.stop();
  if (stats.droppedMessages > 0)
    throw new Error(`bench: ${stats.droppedMessages} messages dropped (window too large for the queue)`);

  const messagesPerSec = Math.round(r.messages / r.seconds);
  const bytesPerSec = Math.round(r.bytes / r.seconds);
  const result = {
    bench: 'transport',
    node: process.version,
    cpus: os.cpus().length,
    entriesPerMessage: o.entries,
    entryBytes: o.entryBytes,
    messagesPerSend: o.batch,
    window: o.window,
    seconds: Number(r.seconds.toFixed(2)),
    messagesPerSec,
    entriesPerSec: messagesPerSec * o.entries,
    bytesPerSec,
    mibPerSec: Number((bytesPerSec / 1024 / 1024).toFixed(1)),
    framesSent: stats.framesSent,
    messagesPerFrame: Number((stats.messagesSent / stats.framesSent).toFixed(1)),
    backpressureWaits: stats.peers[2]?.backpressureWaits ?? 0,
  };
  console.log(
    `transport bench: APPEND of ${o.entries} × ${o.entryBytes}-byte entries, ${o.batch} per send(), window ${o.window}, ${result.seconds} s`,
  );
  console.log(
    `  ${messagesPerSec.toLocaleString('en-US')} messages/s, ${result.entriesPerSec.toLocaleString('en-US')} entries/s, ${result.mibPerSec} MiB/s on the wire`,
  );
  console.log(JSON.stringify(result));
}

await main();
