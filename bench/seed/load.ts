// Open-loop order load for the seed benchmark, through the gateway over REST or gRPC, with
// every order's outcome recorded.
//
// Schedule. Order i is due at t0 + i / rate, whatever happened to earlier orders (open loop).
// Its latency runs from that SCHEDULED time to its acknowledgement, so a stall of the system
// (or of the generator) is charged to every order scheduled during it: no coordinated
// omission. An order is sent as soon as it is due and a slot is free; in-flight orders are
// bounded (REST_CONNECTIONS requests, GRPC_ORDERS_IN_FLIGHT_MAX orders), so a saturated system
// makes orders wait in the generator — still charged from their scheduled time — and one that
// could not be sent within GENERATOR_LATE_MS_MAX of its scheduled time is given up, counted
// `notSent` (it never reached the system). Memory stays bounded at any offered rate.
//
// Orders (deterministic per scenario seed): BTC-USD limit orders of accounts 1..ACCOUNTS in
// turn, side random, price 5,000,000 ± up to 5 ticks on the aggressive side (about half cross
// and trade: fills flow to the read models), 30% IOC, quantity 1–3, unique client order ids.
//
// Outcome of each order: ACKED (the gateway answered with the order's result: its order id
// and execution reports; a digest of those reports is kept for the checker), REJECTED (an
// error the gateway defines as "nothing happened": refused before sequencing, or
// ORDER_REJECTED by the engine), UNKNOWN (no answer, a broken connection, UNAVAILABLE or
// DEADLINE_EXCEEDED: the order may or may not have taken effect), NOT_SENT (see above).

import net from 'node:net';
import * as hdr from 'hdr-histogram-js';
import {
  OrderEntryGrpcClient,
  type OrderSessionHandle,
  type OrderSessionResponse,
} from '../../gateway/client/grpc-client.js';
import { canonicalOfReceived } from '../../api/report-verify.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../../api/signing.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { Prng } from '../../replicator/prng.js';
import { cpuPerUnit, sampleCpu, type CpuTargets } from '../cpu.js';
import { chain } from './digest.js';
import { ACCOUNTS, BENCH_KEYS } from './stack.js';

/** REST: keep-alive connections, one request in flight on each (uWS closes a connection that pipelines behind a pending answer). */
export const REST_CONNECTIONS = 128;
/** gRPC: one OrderSession stream per account. */
export const GRPC_STREAMS = ACCOUNTS;
/** gRPC: orders in flight at most, over all streams. */
export const GRPC_ORDERS_IN_FLIGHT_MAX = 4_096;
/** gRPC: orders per OrderSession message at most (the gateway takes up to 1,024). */
export const GRPC_BATCH_MAX = 256;
/** An order not sent within this long after its scheduled time is given up (ms). */
export const GENERATOR_LATE_MS_MAX = 1_000;
/** Generator timer period (ms). */
export const GENERATOR_TICK_MS = 1;
/** A REST request unanswered this long is abandoned, its connection closed: outcome UNKNOWN (ms). */
export const REST_REQUEST_TIMEOUT_MS = 15_000;
/** After the last scheduled order, wait this long at most for the answers still outstanding (ms). */
export const DRAIN_MS_MAX = 30_000;
/** Latencies above this are clamped into the histogram's top bucket (µs). */
const LATENCY_US_MAX = 600_000_000;

export const Outcome = { PENDING: 0, IN_FLIGHT: 1, ACKED: 2, REJECTED: 3, UNKNOWN: 4, NOT_SENT: 5 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

const MID_PRICE = 5_000_000;
export const SYMBOL = 'BTC-USD';
export const SIDE_BUY = 1;
export const TIF_GTC = 1;
export const TIF_IOC = 2;

/** Every order of a scenario: what was sent (columns) and what came back. */
export class OrderTable {
  readonly capacity: number;
  /** Orders generated so far (indices 0..n-1). */
  n = 0;
  readonly account: Uint8Array;
  readonly side: Uint8Array;
  readonly price: Int32Array;
  readonly qty: Uint8Array;
  readonly tif: Uint8Array;
  readonly outcome: Uint8Array;
  /** Order id from the acknowledgement. */
  readonly orderId: Float64Array;
  /** Digest (digest.ts chain over canonicalReport) of the acknowledgement's execution reports, and their number. */
  readonly ackDigest: Uint32Array;
  readonly ackReports: Uint16Array;
  readonly rejectCodes = new Map<string, number>();
  /** Orders refused ORDER_REJECTED: by the engine, after sequencing (so they are in the log, legitimately). */
  readonly engineRejected = new Set<number>();
  readonly unknownCauses = new Map<string, number>();
  private readonly rng: Prng;

  constructor(
    capacity: number,
    readonly clOrdIdPrefix: string,
    seed: number,
  ) {
    this.capacity = capacity;
    this.account = new Uint8Array(capacity);
    this.side = new Uint8Array(capacity);
    this.price = new Int32Array(capacity);
    this.qty = new Uint8Array(capacity);
    this.tif = new Uint8Array(capacity);
    this.outcome = new Uint8Array(capacity);
    this.orderId = new Float64Array(capacity);
    this.ackDigest = new Uint32Array(capacity);
    this.ackReports = new Uint16Array(capacity);
    this.rng = new Prng(seed);
  }

  clOrdId(i: number): string {
    return `${this.clOrdIdPrefix}${i.toString(36)}`;
  }

  /** Index of a client order id of this table, or -1. */
  indexOf(clOrdId: string): number {
    if (!clOrdId.startsWith(this.clOrdIdPrefix)) return -1;
    const i = parseInt(clOrdId.slice(this.clOrdIdPrefix.length), 36);
    return Number.isSafeInteger(i) && i >= 0 && i < this.n && this.clOrdId(i) === clOrdId ? i : -1;
  }

  /** Generates order n (deterministic: the PRNG is drawn in index order). */
  generate(): number {
    const i = this.n++;
    if (i >= this.capacity) throw new Error(`order table full (${this.capacity})`);
    const buy = this.rng.chance(0.5);
    const offset = this.rng.int(11) - 5;
    this.account[i] = (i % ACCOUNTS) + 1;
    this.side[i] = buy ? SIDE_BUY : 2;
    this.price[i] = MID_PRICE + (buy ? offset : -offset);
    this.tif[i] = this.rng.chance(0.3) ? TIF_IOC : TIF_GTC;
    this.qty[i] = 1 + this.rng.int(3);
    return i;
  }

  acked(i: number, orderId: number, reports: readonly ExecutionReportOut[]): void {
    this.outcome[i] = Outcome.ACKED;
    this.orderId[i] = orderId;
    let d = 0;
    // As received: a gRPC client's report has "UNSPECIFIED" where the signed canonical form has "".
    for (const r of reports) d = chain(d, canonicalOfReceived(r as unknown as Record<string, unknown>) ?? '');
    this.ackDigest[i] = d;
    this.ackReports[i] = Math.min(reports.length, 0xffff);
  }

  failed(i: number, code: string): void {
    const unknown = code === 'UNAVAILABLE' || code === 'DEADLINE_EXCEEDED' || code.startsWith('transport:');
    this.outcome[i] = unknown ? Outcome.UNKNOWN : Outcome.REJECTED;
    if (code === 'ORDER_REJECTED') this.engineRejected.add(i);
    const m = unknown ? this.unknownCauses : this.rejectCodes;
    m.set(code, (m.get(code) ?? 0) + 1);
  }

  count(o: Outcome): number {
    let c = 0;
    for (let i = 0; i < this.n; i++) if (this.outcome[i] === o) c++;
    return c;
  }
}

export interface LoadOptions {
  protocol: 'rest' | 'grpc';
  restHost: string;
  restPort: number;
  grpcAddress: string;
  offeredPerSec: number;
  warmupSeconds: number;
  seconds: number;
  table: OrderTable;
  /** Processes whose CPU time to account per acknowledged order, from when the connections are up to the end of the drain (bench/cpu.ts). */
  cpuTargets: CpuTargets;
  log: (line: string) => void;
}

export interface LoadResult {
  /** Orders scheduled (warm-up included). */
  scheduled: number;
  /** Acknowledged (warm-up included). */
  acked: number;
  /** Acknowledgements received inside the measured window, per second of it. */
  achievedPerSec: number;
  /** Latency of the acknowledged orders scheduled in the measured window (ms). */
  latency: { count: number; avgMs: number; p50Ms: number; p90Ms: number; p99Ms: number; p999Ms: number; maxMs: number };
  /** Outstanding when the drain wait ended (counted UNKNOWN). */
  abandoned: number;
  /** The generator's own lag: largest delay between an order's scheduled time and its send (ms). */
  sendLagMaxMs: number;
  wallSeconds: number;
  cpuUsPerOrder: Record<string, number | null>;
  /** CPU time of those processes over wall time (2.0 = both cores of this machine). */
  coresBusy: number | null;
  /** Per TIMELINE_BUCKET_MS from the first scheduled order: acknowledgements received, orders sent, and the mean latency (ms) of the orders scheduled in the bucket and acknowledged. */
  timeline: { ackedPerBucket: number[]; sentPerBucket: number[]; meanLatencyMs: number[] };
}

/** Resolution of LoadResult.timeline (ms). */
export const TIMELINE_BUCKET_MS = 250;

interface Transport {
  /** Send what became due as soon as a slot frees (REST), or only on the timer tick, so that gRPC messages carry everything freed within a tick (else a saturated stream degenerates into many tiny messages). */
  readonly pumpOnCompletion: boolean;
  /** Orders that can be handed over now. */
  free(): number;
  /** Hands over order i (its scheduled time for the latency). */
  send(i: number, scheduledMs: number): void;
  /** End of a pump: push out what was handed over (gRPC batches). */
  flush(): void;
  inFlight(): number;
  /** Periodic housekeeping (timeouts). */
  tick(now: number): void;
  /** Gives up whatever is still outstanding (outcome UNKNOWN); returns how many. */
  abandon(): number;
  close(): void;
}

type Done = (i: number, scheduledMs: number) => void;

// ---------------------------------------------------------------------------------------------
// REST: raw HTTP/1.1 over keep-alive sockets (a parser for exactly what uWS answers: a status
// line, headers with content-length, a body), so that the generator costs little per request.

const ORDER_PATH = '/v1/orders';
const ORDER_TARGET = `POST ${ORDER_PATH}`;
const SIDE_NAMES = ['', 'BUY', 'SELL'];
const TIF_NAMES = ['', 'GTC', 'IOC'];
const HEADER_END = Buffer.from('\r\n\r\n');

class HttpConnection {
  socket: net.Socket | undefined;
  connected = false;
  /** Order in flight on this connection (-1: idle). */
  order = -1;
  scheduledMs = 0;
  sentAt = 0;
  private buf: Buffer = Buffer.alloc(0);

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly onAnswer: (c: HttpConnection, status: number, body: string) => void,
    private readonly onLost: (c: HttpConnection, why: string) => void,
  ) {
    this.open();
  }

  open(): void {
    const s = net.connect({ host: this.host, port: this.port });
    s.setNoDelay(true);
    this.socket = s;
    this.connected = false;
    this.buf = Buffer.alloc(0);
    s.on('connect', () => {
      if (this.socket === s) this.connected = true;
    });
    s.on('data', (d: Buffer) => {
      if (this.socket === s) this.onData(d);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = undefined;
      this.connected = false;
      this.onLost(this, 'transport:connection closed');
    });
  }

  write(bytes: Buffer): void {
    this.socket!.write(bytes);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const headerEnd = this.buf.indexOf(HEADER_END);
      if (headerEnd < 0) return;
      const head = this.buf.toString('latin1', 0, headerEnd);
      const status = Number(head.slice(9, 12));
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (m === null) {
        this.drop('transport:answer without content-length');
        return;
      }
      const bodyStart = headerEnd + 4;
      const end = bodyStart + Number(m[1]);
      if (this.buf.length < end) return;
      const body = this.buf.toString('utf8', bodyStart, end);
      this.buf = this.buf.subarray(end);
      this.onAnswer(this, status, body);
    }
  }

  /** Closes the socket (the close handler reports the in-flight order lost) and reconnects. */
  drop(why: string): void {
    const s = this.socket;
    this.socket = undefined;
    this.connected = false;
    s?.destroy();
    this.onLost(this, why);
  }

  close(): void {
    const s = this.socket;
    this.socket = undefined;
    s?.destroy();
  }
}

class RestTransport implements Transport {
  readonly pumpOnCompletion = true;
  private readonly conns: HttpConnection[] = [];
  private idle: HttpConnection[] = [];
  private busy = 0;
  private closed = false;
  private readonly hostHeader: string;

  constructor(
    private readonly o: LoadOptions,
    private readonly done: Done,
  ) {
    this.hostHeader = `${o.restHost}:${o.restPort}`;
    for (let k = 0; k < REST_CONNECTIONS; k++) {
      const c = new HttpConnection(
        o.restHost,
        o.restPort,
        (conn, status, body) => this.onAnswer(conn, status, body),
        (conn, why) => this.onLost(conn, why),
      );
      this.conns.push(c);
      this.idle.push(c);
    }
  }

  async ready(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (this.conns.some((c) => !c.connected)) {
      if (Date.now() > deadline) throw new Error('REST: connections not established within 10 s');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  free(): number {
    return this.idle.length;
  }

  inFlight(): number {
    return this.busy;
  }

  send(i: number, scheduledMs: number): void {
    const c = this.idle.pop()!;
    const t = this.o.table;
    const body = Buffer.from(
      `{"client_order_id":"${t.clOrdId(i)}","symbol":"${SYMBOL}","side":"${SIDE_NAMES[t.side[i]!]}","order_type":"LIMIT","time_in_force":"${TIF_NAMES[t.tif[i]!]}","price":${t.price[i]},"quantity":${t.qty[i]}}`,
    );
    const key = BENCH_KEYS[t.account[i]! - 1]!;
    const auth = signRequest(key, ORDER_TARGET, body);
    const head =
      `POST ${ORDER_PATH} HTTP/1.1\r\nhost: ${this.hostHeader}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n` +
      `${HEADER_API_KEY}: ${auth.apiKey}\r\n${HEADER_TIMESTAMP}: ${auth.timestamp}\r\n${HEADER_SIGNATURE}: ${auth.signature}\r\n\r\n`;
    c.order = i;
    c.scheduledMs = scheduledMs;
    c.sentAt = performance.now();
    this.busy++;
    t.outcome[i] = Outcome.IN_FLIGHT;
    c.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  }

  flush(): void {}

  private release(c: HttpConnection): { i: number; scheduledMs: number } | undefined {
    if (c.order < 0) return undefined;
    const r = { i: c.order, scheduledMs: c.scheduledMs };
    c.order = -1;
    this.busy--;
    return r;
  }

  private onAnswer(c: HttpConnection, status: number, body: string): void {
    const r = this.release(c);
    if (!this.closed) this.idle.push(c);
    if (r === undefined) return;
    const t = this.o.table;
    let parsed: { result?: { seq?: number; reports?: ExecutionReportOut[] }; code?: string } | undefined;
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      parsed = undefined;
    }
    if (status === 201 && typeof parsed?.result?.seq === 'number') {
      t.acked(r.i, parsed.result.seq, parsed.result.reports ?? []);
    } else {
      t.failed(r.i, typeof parsed?.code === 'string' ? parsed.code : `HTTP_${status}`);
    }
    this.done(r.i, r.scheduledMs);
  }

  private onLost(c: HttpConnection, why: string): void {
    const r = this.release(c);
    this.idle = this.idle.filter((x) => x !== c);
    if (r !== undefined) {
      this.o.table.failed(r.i, why);
      this.done(r.i, r.scheduledMs);
    }
    if (this.closed) return;
    // Reconnect after a short pause (bounded by the end of the load: close() stops it).
    setTimeout(() => {
      if (this.closed) return;
      c.open();
      this.idle.push(c);
    }, 50);
  }

  tick(now: number): void {
    for (const c of this.conns)
      if (c.order >= 0 && now - c.sentAt > REST_REQUEST_TIMEOUT_MS) c.drop('transport:request timeout');
  }

  abandon(): number {
    let n = 0;
    for (const c of this.conns) {
      const r = this.release(c);
      if (r !== undefined) {
        this.o.table.failed(r.i, 'transport:abandoned at the end of the drain wait');
        n++;
      }
    }
    return n;
  }

  close(): void {
    this.closed = true;
    for (const c of this.conns) c.close();
  }
}

// ---------------------------------------------------------------------------------------------
// gRPC: one authenticated OrderSession per account; what is due in one pump goes out as one
// message per stream (at most GRPC_BATCH_MAX orders), so batching follows the offered rate.

class GrpcTransport implements Transport {
  readonly pumpOnCompletion = false;
  private readonly clients: OrderEntryGrpcClient[] = [];
  private readonly sessions: OrderSessionHandle[] = [];
  private readonly pending: { i: number; scheduledMs: number }[][] = [];
  private readonly outstanding = new Map<number, { orders: { i: number; scheduledMs: number }[] }>();
  private orders = 0;
  private requestId = 0;

  constructor(
    private readonly o: LoadOptions,
    private readonly done: Done,
  ) {
    for (let k = 0; k < GRPC_STREAMS; k++) {
      const c = new OrderEntryGrpcClient({ address: o.grpcAddress, key: BENCH_KEYS[k]! });
      this.clients.push(c);
      this.sessions.push(c.openSession({}));
      this.pending.push([]);
    }
  }

  async ready(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.ready));
  }

  free(): number {
    return GRPC_ORDERS_IN_FLIGHT_MAX - this.orders;
  }

  inFlight(): number {
    return this.orders;
  }

  send(i: number, scheduledMs: number): void {
    // Stream k carries account k + 1's orders (order i belongs to account (i % ACCOUNTS) + 1).
    this.pending[this.o.table.account[i]! - 1]!.push({ i, scheduledMs });
    this.o.table.outcome[i] = Outcome.IN_FLIGHT;
    this.orders++;
  }

  flush(): void {
    const t = this.o.table;
    for (let k = 0; k < GRPC_STREAMS; k++) {
      const q = this.pending[k]!;
      while (q.length > 0) {
        const batch = q.splice(0, GRPC_BATCH_MAX);
        const commands = batch.map(({ i }) => ({
          place: {
            client_order_id: t.clOrdId(i),
            symbol: SYMBOL,
            side: SIDE_NAMES[t.side[i]!]!,
            order_type: 'LIMIT',
            time_in_force: TIF_NAMES[t.tif[i]!]!,
            price: t.price[i]!,
            quantity: t.qty[i]!,
          },
        }));
        const rid = ++this.requestId;
        this.outstanding.set(rid, { orders: batch });
        this.sessions[k]!.send({ request_id: rid, commands }).then(
          (resp) => this.onResponse(rid, resp),
          (err: unknown) => this.onFailure(rid, err),
        );
      }
    }
  }

  private take(rid: number): { i: number; scheduledMs: number }[] | undefined {
    const o = this.outstanding.get(rid);
    if (o === undefined) return undefined;
    this.outstanding.delete(rid);
    this.orders -= o.orders.length;
    return o.orders;
  }

  private onResponse(rid: number, resp: OrderSessionResponse): void {
    const batch = this.take(rid);
    if (batch === undefined) return;
    const t = this.o.table;
    batch.forEach(({ i, scheduledMs }, k) => {
      const whole = resp.error;
      const oc = resp.outcomes?.[k];
      if (whole !== undefined && whole !== null) t.failed(i, whole.code);
      else if (oc?.result !== undefined && oc.result !== null && typeof oc.result.seq === 'number')
        t.acked(i, oc.result.seq as number, (oc.result.reports ?? []) as ExecutionReportOut[]);
      else if (oc?.error !== undefined && oc.error !== null) t.failed(i, oc.error.code);
      else t.failed(i, 'transport:no outcome for the command');
      this.done(i, scheduledMs);
    });
  }

  private onFailure(rid: number, err: unknown): void {
    const batch = this.take(rid);
    if (batch === undefined) return;
    const e = err as { errorCode?: string; message?: string };
    for (const { i, scheduledMs } of batch) {
      this.o.table.failed(i, `transport:${e.errorCode ?? e.message ?? String(err)}`.slice(0, 100));
      this.done(i, scheduledMs);
    }
  }

  tick(): void {}

  abandon(): number {
    let n = 0;
    for (const rid of [...this.outstanding.keys()]) {
      for (const { i } of this.take(rid)!) {
        this.o.table.failed(i, 'transport:abandoned at the end of the drain wait');
        n++;
      }
    }
    return n;
  }

  close(): void {
    for (const s of this.sessions) s.cancel();
    for (const c of this.clients) c.close();
  }
}

// ---------------------------------------------------------------------------------------------

/** LoadResult.timeline as the load goes: per TIMELINE_BUCKET_MS from t0Ms (the first scheduled order), clamped to the buckets of the load and its drain. */
class Timeline {
  /** Time of the first scheduled order (performance.now() ms); set when the schedule starts. */
  t0Ms = 0;
  private readonly buckets: number;
  private readonly ackedPerBucket: number[];
  private readonly sentPerBucket: number[];
  private readonly latencySumMs: number[];
  private readonly latencyCount: number[];

  constructor(loadSeconds: number) {
    this.buckets = Math.ceil((loadSeconds * 1000 + DRAIN_MS_MAX + GENERATOR_LATE_MS_MAX) / TIMELINE_BUCKET_MS) + 1;
    this.ackedPerBucket = new Array<number>(this.buckets).fill(0);
    this.sentPerBucket = new Array<number>(this.buckets).fill(0);
    this.latencySumMs = new Array<number>(this.buckets).fill(0);
    this.latencyCount = new Array<number>(this.buckets).fill(0);
  }

  private bucketOf(ms: number): number {
    return Math.min(this.buckets - 1, Math.max(0, Math.floor((ms - this.t0Ms) / TIMELINE_BUCKET_MS)));
  }

  /** An acknowledgement received at nowMs of the order scheduled at scheduledMs. */
  acked(nowMs: number, scheduledMs: number): void {
    this.ackedPerBucket[this.bucketOf(nowMs)]!++;
    this.latencySumMs[this.bucketOf(scheduledMs)]! += nowMs - scheduledMs;
    this.latencyCount[this.bucketOf(scheduledMs)]!++;
  }

  sent(nowMs: number): void {
    this.sentPerBucket[this.bucketOf(nowMs)]!++;
  }

  result(): LoadResult['timeline'] {
    return {
      ackedPerBucket: trimZeros(this.ackedPerBucket),
      sentPerBucket: trimZeros(this.sentPerBucket),
      meanLatencyMs: trimZeros(
        this.latencySumMs.map((sum, b) => (this.latencyCount[b]! > 0 ? Math.round(sum / this.latencyCount[b]!) : 0)),
      ),
    };
  }
}

/** Offers `offeredPerSec` for warm-up + measured seconds, open loop; fills in `o.table`. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const t = o.table;
  const hist = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: LATENCY_US_MAX,
    numberOfSignificantValueDigits: 3,
  });
  const total = Math.round(o.offeredPerSec * (o.warmupSeconds + o.seconds));
  if (t.n + total > t.capacity) throw new Error(`order table too small: ${t.n} + ${total} > ${t.capacity}`);
  const intervalMs = 1000 / o.offeredPerSec;
  let t0 = 0;
  let measureFrom = 0;
  let end = 0;
  let ackedInWindow = 0;
  let acked = 0;
  let sendLagMaxMs = 0;
  const timeline = new Timeline(o.warmupSeconds + o.seconds);
  const done: Done = (i, scheduledMs) => {
    if (t.outcome[i] === Outcome.ACKED) {
      const now = performance.now();
      acked++;
      timeline.acked(now, scheduledMs);
      if (now >= measureFrom && now < end) ackedInWindow++;
      if (scheduledMs >= measureFrom && scheduledMs < end)
        hist.recordValue(Math.min(LATENCY_US_MAX, Math.max(1, Math.round((now - scheduledMs) * 1000))));
    }
    if (transport.pumpOnCompletion) pump();
  };
  const transport: Transport & { ready(): Promise<void> } =
    o.protocol === 'rest' ? new RestTransport(o, done) : new GrpcTransport(o, done);
  await transport.ready();
  const cpuBefore = sampleCpu(o.cpuTargets);

  let next = 0;
  let pumping = false;
  function pump(): void {
    if (pumping || next >= total) return;
    pumping = true;
    const now = performance.now();
    let sent = 0;
    while (next < total) {
      const scheduledMs = t0 + next * intervalMs;
      if (scheduledMs > now) break;
      if (now - scheduledMs > GENERATOR_LATE_MS_MAX) {
        const i = t.generate();
        t.outcome[i] = Outcome.NOT_SENT;
        next++;
        continue;
      }
      if (transport.free() <= 0) break;
      const i = t.generate();
      next++;
      if (now - scheduledMs > sendLagMaxMs) sendLagMaxMs = now - scheduledMs;
      transport.send(i, scheduledMs);
      timeline.sent(now);
      sent++;
    }
    if (sent > 0) transport.flush();
    pumping = false;
  }

  const wallStart = performance.now();
  t0 = wallStart + 20;
  timeline.t0Ms = t0;
  measureFrom = t0 + o.warmupSeconds * 1000;
  end = measureFrom + o.seconds * 1000;
  await tickUntilScheduled(transport, pump, () => next >= total);
  await drain(transport);
  const cpu = cpuPerUnit(cpuBefore, sampleCpu(o.cpuTargets), acked, performance.now() - wallStart);
  const abandoned = transport.abandon();
  transport.close();
  if (abandoned > 0)
    o.log(`  ${abandoned} orders still unanswered ${DRAIN_MS_MAX} ms after the last was scheduled: counted unknown`);
  const result: LoadResult = {
    scheduled: next,
    acked,
    achievedPerSec: Math.round(ackedInWindow / o.seconds),
    latency: latencySummary(hist),
    abandoned,
    sendLagMaxMs: Math.round(sendLagMaxMs * 1000) / 1000,
    wallSeconds: (performance.now() - wallStart) / 1000,
    cpuUsPerOrder: cpu.usPerUnit,
    coresBusy: cpu.coresBusy,
    timeline: timeline.result(),
  };
  hist.destroy();
  return result;
}

/** Every GENERATOR_TICK_MS: the transport's timeouts, then a pump; until every order is scheduled. */
function tickUntilScheduled(transport: Transport, pump: () => void, scheduledAll: () => boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      transport.tick(now);
      pump();
      if (scheduledAll()) {
        clearInterval(timer);
        resolve();
      }
    }, GENERATOR_TICK_MS);
  });
}

/** After the last scheduled order: waits up to DRAIN_MS_MAX for the answers still outstanding, the transport's timeouts running. */
async function drain(transport: Transport): Promise<void> {
  const drainBy = performance.now() + DRAIN_MS_MAX;
  while (transport.inFlight() > 0 && performance.now() < drainBy) {
    transport.tick(performance.now());
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** LoadResult.latency from the histogram of latencies (µs). */
function latencySummary(hist: hdr.Histogram): LoadResult['latency'] {
  // HDR percentiles are the top of their bucket: never report one above the exact maximum.
  const ms = (us: number) => Math.round(Math.min(us, hist.maxValue)) / 1000;
  const has = hist.totalCount > 0;
  return {
    count: hist.totalCount,
    avgMs: has ? Math.round(hist.mean) / 1000 : 0,
    p50Ms: has ? ms(hist.getValueAtPercentile(50)) : 0,
    p90Ms: has ? ms(hist.getValueAtPercentile(90)) : 0,
    p99Ms: has ? ms(hist.getValueAtPercentile(99)) : 0,
    p999Ms: has ? ms(hist.getValueAtPercentile(99.9)) : 0,
    maxMs: has ? ms(hist.maxValue) : 0,
  };
}

function trimZeros(a: number[]): number[] {
  let n = a.length;
  while (n > 0 && a[n - 1] === 0) n--;
  return a.slice(0, n);
}
