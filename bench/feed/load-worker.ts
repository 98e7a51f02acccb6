// A load-generator thread of the feed benchmark: holds its share of the subscriber
// connections (feed/client/ws-connection.ts, one TCP connection each), subscribes them, and
// for every message received: counts it, checks its seq against the previous one of its
// channel (any gap is reported: the feed promises lossless delivery) and records
// now − ts_us (the entry's scheduled time, wall clock µs) in an HDR histogram.
//
// To keep the generator from being the bottleneck it does not JSON-parse whole messages: the
// fields it needs are at the front of every data message ({"channel":…,"type":…,"symbol":…,
// "seq":…,"ts_us":…}), read straight from the bytes. The client library's own cost (parsing,
// book, checksum) is measured separately by bench-feed.ts.

import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { WsConnection } from '../../feed/client/ws-connection.js';

interface Init {
  url: string;
  connections: number;
  symbol: string;
  channels: string[];
  /** units | decimal (?numbers=decimal on every connection) | mixed (on every second one). */
  numbers: 'units' | 'decimal' | 'mixed';
}

const init = workerData as Init;
const port = parentPort!;
/** Connections opening at once. */
const CONNECT_CONCURRENCY = 50;

/** Index just past `key` in b, searching from `from`; -1 if absent. A plain loop: the keys are near the start, and Buffer.indexOf's native call costs more than the scan. */
function after(b: Buffer, from: number, key: Uint8Array): number {
  const k0 = key[0]!;
  const n = key.length;
  const end = b.length - n;
  outer: for (let i = from; i <= end; i++) {
    if (b[i] !== k0) continue;
    for (let j = 1; j < n; j++) if (b[i + j] !== key[j]) continue outer;
    return i + n;
  }
  return -1;
}

const SEQ_KEY = Buffer.from('"seq":');
const TS_KEY = Buffer.from('"ts_us":');
const TYPE_KEY = Buffer.from('"type":"');
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

let measuring = false;
let messages = 0;
let bytes = 0;
let gaps = 0;
let controls = 0;
let closed = 0;
let hist = newHistogram();
let elu0 = performance.eventLoopUtilization();

function newHistogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

function readInt(b: Buffer, at: number): number {
  let v = 0;
  for (let i = at; i < b.length; i++) {
    const c = b[i]! - 48;
    if (c < 0 || c > 9) break;
    v = v * 10 + c;
  }
  return v;
}

interface Conn {
  ws: WsConnection | undefined;
  /** Last seq per channel, keyed by the channel name's bytes. */
  last: Map<number, number>;
  snapshots: number;
}

const conns: Conn[] = [];

function onMessage(c: Conn, b: Buffer): void {
  // {"channel":"…  — a data message; anything else ({"type":…) is a control message.
  if (b[2] !== 0x63) {
    controls++;
    return;
  }
  // Channel key: up to 4 bytes of its name (l2", l2.t, l1", l3", trad, cand, stat).
  const ch = (b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!;
  const ty = after(b, 12, TYPE_KEY);
  const isSnapshot = b[ty] === 0x73; // "type":"s…
  const s = after(b, ty, SEQ_KEY);
  const seq = readInt(b, s);
  const prev = c.last.get(ch);
  c.last.set(ch, seq);
  if (isSnapshot) {
    c.snapshots++;
    return;
  }
  if (prev !== undefined && seq !== prev + 1 && seq > prev) gaps++;
  if (!measuring) return;
  messages++;
  bytes += b.length;
  const lat = nowUs() - readInt(b, after(b, s, TS_KEY));
  hist.recordValue(lat < 1 ? 1 : Math.round(lat));
}

async function connectAll(): Promise<void> {
  const sub = JSON.stringify({ op: 'subscribe', id: 1, channels: init.channels, symbols: [init.symbol] });
  let k = 0;
  const one = async () => {
    while (k < init.connections) {
      const decimal = init.numbers === 'decimal' || (init.numbers === 'mixed' && k % 2 === 1);
      k++;
      const c: Conn = { ws: undefined, last: new Map(), snapshots: 0 };
      const url = decimal ? `${init.url}?numbers=decimal` : init.url;
      c.ws = await WsConnection.connect(url, { onMessage: (d) => onMessage(c, d), onClose: () => closed++ });
      c.ws.send(sub);
      conns.push(c);
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, one));
  // Every connection has its snapshots.
  const deadline = Date.now() + 60_000;
  while (conns.some((c) => c.snapshots < init.channels.length)) {
    if (Date.now() > deadline) throw new Error('subscriptions not confirmed within 60 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

port.on('message', (m: { type: string }) => {
  switch (m.type) {
    case 'connect':
      connectAll().then(
        () => port.postMessage({ type: 'connected', connections: conns.length }),
        (err: Error) => port.postMessage({ type: 'failed', error: err.message }),
      );
      return;
    case 'measure':
      measuring = true;
      messages = bytes = gaps = 0;
      hist = newHistogram();
      elu0 = performance.eventLoopUtilization();
      return;
    case 'report': {
      measuring = false;
      port.postMessage({
        type: 'report',
        messages,
        bytes,
        gaps,
        controls,
        closed,
        elu: performance.eventLoopUtilization(elu0).utilization,
        hist: hdr.encodeIntoCompressedBase64(hist),
      });
      return;
    }
    case 'close':
      for (const c of conns) c.ws?.destroy();
      conns.length = 0;
      port.postMessage({ type: 'closed' });
      return;
  }
});
