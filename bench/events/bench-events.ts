// Events benchmark: 3 replica processes (fsync on), the embedded broker as a process (fsync
// always), the publisher process, and in this process the load generator (client protocol)
// and the read models (a kafkajs consumer group, as in the query process).
//
//   npm run bench:events [-- --backlog 40000 --rates 1000,5000 --seconds 5 --clients 4]
//
// 1. Publish throughput: `backlog` commands are committed while the publisher is stopped (a
//    backlog in the replicas' log), then the publisher starts and its events/s is measured from
//    its first acknowledged batch to the last (its status lines, every 100 ms). Also the read
//    models' catch-up rate (records applied/s) over the same backlog.
// 2. End-to-end lag at fixed offered rates (open loop): for every command, from its commit
//    (the leader's acknowledgement reaching the client) to
//      - record: its first event record applied by the read models, and
//      - visible: the read models' read-your-writes position passing its seq (what a query with
//        min_seq waits for: the publisher's progress record, after the broker's fsync),
//    in HDR histograms (µs).
// Everything shares this machine's 2 cores; the figures are for this machine. Bounded in time:
// each phase has a deadline and the whole run stops by itself. The last stdout line is JSON;
// it is also written to bench/results/events-<date>.json.

import { spawnTsx, terminate, type Child } from '../../ops/child-process.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { ReadModelConsumer } from '../../events/read-models/consumer.js';
import type { ConsumedRecord } from '../../events/read-models/model.js';
import { ReplicaClient } from '../../replicator/client/client.js';
import { ProcessCluster, REPO_ROOT, sleep } from '../../replicator/process-cluster.js';
import { Prng } from '../../replicator/prng.js';
import { cpuPerUnit, sampleCpu } from '../cpu.js';

const { values: args } = parseArgs({
  options: {
    backlog: { type: 'string', default: '40000' },
    rates: { type: 'string', default: '1000,5000' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '4' },
    out: { type: 'string', default: path.join(REPO_ROOT, 'bench/results/events-2026-11-22.json') },
  },
});
const BACKLOG = Number(args.backlog);
const RATES = args.rates!.split(',').map(Number);
const SECONDS = Number(args.seconds);
const CLIENTS = Number(args.clients);
/** A phase that has not finished this long after its load ended is cut short (ms). */
const PHASE_TIMEOUT_MS = 120_000;
/** Publisher status lines this often (ms): the resolution of the throughput window. */
const STATUS_EVERY_MS = 100;
/** Generator timer period (ms). */
const GENERATOR_TICK_MS = 1;

type Proc = Child & { ready: Promise<Record<string, unknown>> };

/** Trading commands: limit orders around the reference price on both sides (about half of them cross), accounts 1–50. */
class Flow {
  private readonly rng = new Prng(7);
  private n = 0;
  next(): Record<string, unknown> {
    const k = this.n++;
    const side = this.rng.chance(0.5) ? 'BUY' : 'SELL';
    const offset = this.rng.int(11) - 5;
    return {
      type: 'new',
      account: 1 + this.rng.int(50),
      clOrdId: `b${k}`,
      symbol: 'BTC-USD',
      side,
      ordType: 'LIMIT',
      tif: this.rng.chance(0.3) ? 'IOC' : 'GTC',
      price: 5_000_000 + (side === 'BUY' ? offset : -offset),
      qty: 1 + this.rng.int(3),
    };
  }
}

function histogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

function pct(h: hdr.Histogram) {
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    count: h.totalCount,
    p50Ms: ms(h.getValueAtPercentile(50)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue),
  };
}

async function until(check: () => boolean, what: string, timeoutMs = PHASE_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function lastStatus(p: Proc): { publishedSeq: number; recordsSent: number; state: string } | undefined {
  for (let k = p.lines.length - 1; k >= 0; k--)
    if (p.lines[k]!.startsWith('{"event":"status"'))
      return JSON.parse(p.lines[k]!) as { publishedSeq: number; recordsSent: number; state: string };
  return undefined;
}

type Submit = () => ReturnType<ReplicaClient['submit']>;
type Model = ReadModelConsumer['model'];

/** Watches the read models: when each command's first record is applied and when its seq becomes visible. */
class ReadModelProbe {
  /** While watching: when the first exec record of each seq was applied. */
  readonly recordAt = new Map<number, number>();
  watch = false;
  /** Records applied. */
  applied = 0;
  /** Committed commands not yet visible, sorted by seq when the load stops. */
  readonly visibleWaiters: { seq: number; committedAt: number }[] = [];
  /** Commit → visible, µs. */
  readonly hVisible = histogram();

  constructor(model: Model) {
    const apply = model.apply.bind(model);
    model.apply = (rec: ConsumedRecord) => {
      this.applied++;
      if (this.watch && rec.type === 'exec' && !this.recordAt.has(rec.value.seq))
        this.recordAt.set(rec.value.seq, performance.now());
      return apply(rec);
    };
    model.onVisible = (_shard, v) => {
      const now = performance.now();
      let k = 0;
      while (k < this.visibleWaiters.length && this.visibleWaiters[k]!.seq <= v.seq) {
        this.hVisible.recordValue(Math.max(1, Math.round((now - this.visibleWaiters[k]!.committedAt) * 1000)));
        k++;
      }
      if (k > 0) this.visibleWaiters.splice(0, k);
    };
  }
}

/** The running setup both phases measure. */
interface Rig {
  dir: string;
  cluster: ProcessCluster;
  brokers: string;
  broker: Proc;
  /** Processes to stop at the end (the publisher joins them). */
  procs: Proc[];
  submit: Submit;
  model: Model;
  probe: ReadModelProbe;
}

/**
 * 1. Publish throughput: commits BACKLOG commands with the publisher stopped, then starts it and
 * times it over that backlog (first acknowledged batch to the last), and the read models' catch-up.
 */
async function measurePublish(rig: Rig) {
  const { submit, model, probe } = rig;
  console.error(`committing a backlog of ${BACKLOG} commands with the publisher stopped…`);
  let lastSeq = 0;
  for (let sent = 0; sent < BACKLOG; ) {
    const batch: Promise<{ seq: number }>[] = [];
    for (let k = 0; k < 2_048 && sent < BACKLOG; k++, sent++) batch.push(submit());
    for (const r of await Promise.all(batch)) lastSeq = Math.max(lastSeq, r.seq);
  }
  const publisher = spawnTsx('events/publisher/main.ts', [
    '--cluster',
    rig.cluster.configPath,
    '--brokers',
    rig.brokers,
    '--data-dir',
    path.join(rig.dir, 'publisher'),
    '--status-every-ms',
    String(STATUS_EVERY_MS),
  ]);
  rig.procs.push(publisher);
  await publisher.ready;
  const publisherPid = publisher.proc.pid!;
  const brokerPid = rig.broker.proc.pid!;
  let t0 = 0;
  let r0 = 0;
  const cpu0 = sampleCpu({ publisher: publisherPid, broker: brokerPid, 'bench+read-models': 'self' });
  const consumeStart = performance.now();
  const applied0 = probe.applied;
  await until(() => {
    const s = lastStatus(publisher);
    if (s !== undefined && s.recordsSent > 0 && t0 === 0) {
      t0 = performance.now();
      r0 = s.recordsSent;
    }
    return s !== undefined && s.publishedSeq >= lastSeq;
  }, 'the publisher to publish the backlog');
  const t1 = performance.now();
  const s1 = lastStatus(publisher)!;
  const cpu1 = sampleCpu({ publisher: publisherPid, broker: brokerPid, 'bench+read-models': 'self' });
  await until(() => model.visibleOf(0).seq >= lastSeq, 'the read models to catch up');
  const consumeEnd = performance.now();
  const events = s1.recordsSent;
  const publishEventsPerS = Math.round(((s1.recordsSent - r0) * 1000) / Math.max(1, t1 - t0));
  const readModelRecordsPerS = Math.round(((probe.applied - applied0) * 1000) / Math.max(1, consumeEnd - consumeStart));
  const cpu = cpuPerUnit(cpu0, cpu1, events, t1 - t0 + STATUS_EVERY_MS);
  console.error(
    `publish: ${events} event records for ${BACKLOG} commands; ${publishEventsPerS} events/s; read models caught up at ${readModelRecordsPerS} records/s (CPU µs/event ${JSON.stringify(cpu.usPerUnit)})`,
  );
  return {
    lastSeq,
    publish: {
      backlogCommands: BACKLOG,
      eventRecords: events,
      eventsPerS: publishEventsPerS,
      readModelRecordsPerS,
      cpuUsPerEvent: cpu.usPerUnit,
      coresBusy: cpu.coresBusy,
    },
  };
}

/**
 * 2. End-to-end lag at one offered rate, open loop for SECONDS: per command, commit → its first
 * record applied, and commit → visible. lastSeq: the highest seq committed so far (returned updated).
 */
async function measureLag(rig: Rig, rate: number, lastSeq: number) {
  const { submit, model, probe } = rig;
  probe.recordAt.clear();
  probe.watch = true;
  const hRecord = histogram();
  probe.hVisible.reset();
  const committed = new Map<number, number>();
  const start = performance.now() + 20;
  const end = start + SECONDS * 1000;
  let sent = 0;
  let failed = 0;
  const pending = new Set<Promise<void>>();
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - start) * rate) / 1000);
    while (sent < due) {
      sent++;
      const p: Promise<void> = submit().then(
        (r) => {
          const now = performance.now();
          committed.set(r.seq, now);
          probe.visibleWaiters.push({ seq: r.seq, committedAt: now });
          lastSeq = Math.max(lastSeq, r.seq);
          pending.delete(p);
        },
        () => {
          failed++;
          pending.delete(p);
        },
      );
      pending.add(p);
    }
    await sleep(GENERATOR_TICK_MS);
  }
  await Promise.all(pending);
  probe.visibleWaiters.sort((a, b) => a.seq - b.seq);
  await until(
    () => model.visibleOf(0).seq >= lastSeq && probe.visibleWaiters.length === 0,
    `the read models to show the ${rate}/s step`,
  );
  probe.watch = false;
  let missing = 0;
  for (const [seq, at] of committed) {
    const seen = probe.recordAt.get(seq);
    if (seen === undefined) missing++;
    else hRecord.recordValue(Math.max(1, Math.round((seen - at) * 1000)));
  }
  const step = {
    offeredPerS: rate,
    seconds: SECONDS,
    committed: committed.size,
    failed,
    record: pct(hRecord),
    visible: pct(probe.hVisible),
    commandsWithoutRecord: missing,
  };
  console.error(`lag at ${rate}/s: record ${JSON.stringify(step.record)}; visible ${JSON.stringify(step.visible)}`);
  return { step, lastSeq };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-bench-events-'));
  const cluster = await ProcessCluster.create({ fsync: true });
  const procs: Proc[] = [];
  let consumer: ReadModelConsumer | undefined;
  const clients: ReplicaClient[] = [];
  try {
    await cluster.startAll();
    await cluster.waitForLeader();
    const broker = spawnTsx('events/broker/main.ts', ['--data-dir', path.join(dir, 'kafka'), '--port', '0']);
    procs.push(broker);
    const brokers = `127.0.0.1:${String((await broker.ready).port)}`;
    for (let k = 0; k < CLIENTS; k++) clients.push(new ReplicaClient({ endpoints: cluster.endpoints }));
    const flow = new Flow();
    let rr = 0;
    const submit = () => clients[rr++ % CLIENTS]!.submit(flow.next());

    // Record-level and read-your-writes visibility, by seq.
    consumer = new ReadModelConsumer({ brokers: [brokers], groupId: 'bench-events' });
    const model = consumer.model;
    const probe = new ReadModelProbe(model);
    await consumer.start();
    const rig: Rig = { dir, cluster, brokers, broker, procs, submit, model, probe };

    // ---- 1. Publish throughput over a backlog ------------------------------------------------
    const { lastSeq: backlogLastSeq, publish } = await measurePublish(rig);

    // ---- 2. End-to-end lag at fixed rates ----------------------------------------------------
    let lastSeq = backlogLastSeq;
    const steps: unknown[] = [];
    for (const rate of RATES) {
      const lag = await measureLag(rig, rate, lastSeq);
      lastSeq = lag.lastSeq;
      steps.push(lag.step);
    }

    const result = {
      bench: 'events',
      node: process.version,
      cpus: os.cpus().length,
      fsync: { replicas: true, broker: 'always' },
      publish,
      lag: steps,
    };
    mkdirSync(path.dirname(args.out!), { recursive: true });
    writeFileSync(args.out!, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result));
  } catch (err) {
    for (const p of procs) console.error(p.lines.slice(-20).join('\n'));
    throw err;
  } finally {
    for (const c of clients) c.close();
    await consumer?.stop().catch(() => undefined);
    for (const p of procs) await terminate(p, 5_000);
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
