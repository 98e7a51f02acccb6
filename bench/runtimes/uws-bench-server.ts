// The server side of bench/runtimes/compare.ts: a uWebSockets.js app using only what both the
// native binary and the npm package's JS fallback implement (the fallback has no custom upgrade
// handler, no app.publish, no numSubscribers: ops/uws-runtime.ts), so the same code runs on both:
//   GET /v1/time  → a small JSON body (the shape of the gateway's GET /v1/time), like a REST reply;
//   WS  /ws       → every open connection is a subscriber; a stdin line `fanout RATE SECONDS BYTES`
//                   sends RATE messages/s of BYTES bytes (each stamped with process.hrtime, the
//                   monotonic clock every process on the host shares) to every subscriber, then
//                   prints {"event":"fanout-done","sent":…}.
// Prints {"event":"ready","port":…,"uws":"native"|"fallback",…} once listening; run with
// `<node> --import tsx bench/runtimes/uws-bench-server.ts`.

import { createInterface } from 'node:readline';
import uWS, { type WebSocket } from 'uWebSockets.js';
import { detectUwsRuntime } from '../../ops/uws-runtime.js';

/** Sends per tick: messages due are sent every FANOUT_TICK_MS, as a batch. */
const FANOUT_TICK_MS = 10;
/** Bound on one message (bytes), as the feed's messages are small. */
const FANOUT_MESSAGE_BYTES_MAX = 16_384;

const subscribers = new Set<WebSocket<unknown>>();
const app = uWS.App();
app.get('/v1/time', (res) => {
  res.writeHeader('content-type', 'application/json').end(JSON.stringify({ time_ms: Date.now(), window_ms: 5000 }));
});
app.ws('/ws', {
  maxPayloadLength: 1024,
  idleTimeout: 60,
  open: (ws) => {
    subscribers.add(ws);
  },
  close: (ws) => {
    subscribers.delete(ws);
  },
});

function fanout(rate: number, seconds: number, bytes: number): void {
  const pad = 'x'.repeat(Math.max(0, Math.min(bytes, FANOUT_MESSAGE_BYTES_MAX) - 40));
  const t0 = performance.now();
  const total = Math.round(rate * seconds);
  let sent = 0;
  let delivered = 0;
  const timer = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    for (; sent < due; sent++) {
      const msg = `{"t":"${process.hrtime.bigint()}","i":${sent},"p":"${pad}"}`;
      for (const ws of subscribers) {
        ws.send(msg, false);
        delivered++;
      }
    }
    if (sent >= total) {
      clearInterval(timer);
      process.stdout.write(`${JSON.stringify({ event: 'fanout-done', sent, delivered })}\n`);
    }
  }, FANOUT_TICK_MS);
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, rate, seconds, bytes] = line.trim().split(/\s+/);
  if (cmd === 'fanout') fanout(Number(rate), Number(seconds), Number(bytes));
});

app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) {
    console.error('listen failed');
    process.exit(1);
  }
  const port = uWS.us_socket_local_port(socket);
  process.stdout.write(`${JSON.stringify({ event: 'ready', port, pid: process.pid, ...detectUwsRuntime() })}\n`);
});
