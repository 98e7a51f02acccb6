// The seed benchmark's read models, as their own process (so that consuming ~4 records per
// order does not stall the load generator's event loop): a ReadModelConsumer (events/read-models/)
// like the query process's, plus, per order id, the count and running digest (digest.ts) of every
// exec record the model actually APPLIED (duplicates and re-deliveries it dropped are not
// counted) on the orders and the fills topics.
//
//   tsx bench/seed/read-model-proc.ts --brokers host:port --group-id G
//
// Prints `{"event":"ready"}` once the consumer has joined. Then, for each stdin line
// `{"op":"dump","seq":N,"timeoutMs":T,"file":F}`: waits (at most T ms) until the model's
// read-your-writes position reaches seq N and every partition is consumed to its high
// watermark, writes the digests of order ids 1..N and the digest of each order's view to F, and
// prints `{"event":"dumped",…}`. SIGTERM: stop the consumer, exit 0.

import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ReadModelConsumer } from '../../events/read-models/consumer.js';
import type { ConsumedRecord } from '../../events/read-models/model.js';
import { TOPIC_FILLS, TOPIC_ORDERS } from '../../events/topics.js';
import { DigestTable, canonicalExecRecord, u32ToBase64, viewDigest } from './digest.js';

/** Poll period while waiting for the model to catch up (ms). */
const CATCH_UP_POLL_MS = 50;

export interface ReadModelDump {
  throughId: number;
  visibleSeq: number;
  caughtUp: boolean;
  waitedMs: number;
  applied: number;
  duplicatesDropped: number;
  redelivered: number;
  tradesApplied: number;
  /** Highest log index of an exec record applied (the checker compares through its own index T: records past T would show as differences). */
  maxExecLogIndex: number;
  /** base64 Uint32Array[throughId + 1], indexed by order id. */
  ordersCount: string;
  ordersDigest: string;
  fillsCount: string;
  fillsDigest: string;
  viewDigest: string;
}

const { values: args } = parseArgs({ options: { brokers: { type: 'string' }, 'group-id': { type: 'string' } } });
if (args.brokers === undefined || args['group-id'] === undefined) {
  console.error('usage: tsx bench/seed/read-model-proc.ts --brokers host:port --group-id G');
  process.exit(2);
}

const orders = new DigestTable(1 << 16);
const fills = new DigestTable(1 << 16);
let tradesApplied = 0;
let maxExecLogIndex = 0;
const consumer = new ReadModelConsumer({ brokers: [args.brokers], groupId: args['group-id'] });
const model = consumer.model;
const applyOne = model.apply.bind(model);
model.apply = (rec: ConsumedRecord): boolean => {
  const changed = applyOne(rec);
  if (changed) {
    if (rec.type === 'exec') {
      if (rec.value.log_index > maxExecLogIndex) maxExecLogIndex = rec.value.log_index;
      if (rec.topic === TOPIC_ORDERS) orders.add(rec.value.order_id, canonicalExecRecord(rec.value));
      else if (rec.topic === TOPIC_FILLS) fills.add(rec.value.order_id, canonicalExecRecord(rec.value));
    } else if (rec.type === 'trade') tradesApplied++;
  }
  return changed;
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function dump(seq: number, timeoutMs: number, file: string): Promise<Record<string, unknown>> {
  const started = Date.now();
  let caughtUp = false;
  while (Date.now() - started < timeoutMs) {
    if (model.visibleOf(0).seq >= seq && (await consumer.caughtUp())) {
      caughtUp = true;
      break;
    }
    await sleep(CATCH_UP_POLL_MS);
  }
  const n = seq + 1;
  const slice = (t: DigestTable, which: 'count' | 'digest') => {
    const out = new Uint32Array(n);
    for (let id = 0; id < n; id++) out[id] = which === 'count' ? t.countOf(id) : t.digestOf(id);
    return u32ToBase64(out);
  };
  const views = new Uint32Array(n);
  for (let id = 1; id < n; id++) views[id] = viewDigest(model.order(id));
  const d: ReadModelDump = {
    throughId: seq,
    visibleSeq: model.visibleOf(0).seq,
    caughtUp,
    waitedMs: Date.now() - started,
    applied: model.stats.applied,
    duplicatesDropped: model.stats.duplicates,
    redelivered: model.stats.redelivered,
    tradesApplied,
    maxExecLogIndex,
    ordersCount: slice(orders, 'count'),
    ordersDigest: slice(orders, 'digest'),
    fillsCount: slice(fills, 'count'),
    fillsDigest: slice(fills, 'digest'),
    viewDigest: u32ToBase64(views),
  };
  writeFileSync(file, JSON.stringify(d));
  return { event: 'dumped', caughtUp, visibleSeq: d.visibleSeq, waitedMs: d.waitedMs, applied: d.applied };
}

await consumer.start();
process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid, groupId: consumer.groupId })}\n`);

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let req: { op?: string; seq?: number; timeoutMs?: number; file?: string };
  try {
    req = JSON.parse(line) as typeof req;
  } catch {
    return;
  }
  if (req.op !== 'dump' || typeof req.seq !== 'number' || typeof req.file !== 'string') return;
  dump(req.seq, req.timeoutMs ?? 60_000, req.file).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (err: unknown) => process.stdout.write(`${JSON.stringify({ event: 'dumped', error: String(err) })}\n`),
  );
});

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  rl.close();
  consumer.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
  setTimeout(() => process.exit(1), 10_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
