// The server side of bench/runtimes/compare.ts: a uWebSockets.js app, on whichever
// implementation ops/uws-app.ts selects (the native binary, or the compat layer: Node 22/24, or
// MATCHBOOK_UWS=compat), doing what the exchange's servers do:
//   GET /v1/time  → a small JSON body (the shape of the gateway's GET /v1/time), like a REST reply;
//   WS  /ws       → every open connection subscribes to one topic; a stdin line
//                   `fanout RATE SECONDS BYTES` publishes RATE messages/s of BYTES bytes (each
//                   stamped with process.hrtime, the monotonic clock every process on the host
//                   shares) to the topic with app.publish, as the feed does, then prints
//                   {"event":"fanout-done","sent":…,"delivered":…}.
// Prints {"event":"ready","port":…,"uws":"native"|"compat",…} once listening; run with
// `<node> --import tsx bench/runtimes/uws-bench-server.ts`.

import { createInterface } from 'node:readline';
import { us_socket_local_port, uwsModule } from '../../ops/uws-app.js';
import { detectUwsRuntime } from '../../ops/uws-runtime.js';

/** Sends per tick: messages due are sent every FANOUT_TICK_MS, as a batch. */
const FANOUT_TICK_MS = 10;
/** Bound on one message (bytes), as the feed's messages are small. */
const FANOUT_MESSAGE_BYTES_MAX = 16_384;

const TOPIC = 'fanout';
const app = uwsModule().App();
app.get('/v1/time', (res) => {
  res.writeHeader('content-type', 'application/json').end(JSON.stringify({ time_ms: Date.now(), window_ms: 5000 }));
});
app.ws('/ws', {
  maxPayloadLength: 1024,
  idleTimeout: 60,
  open: (ws) => {
    ws.subscribe(TOPIC);
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
      delivered += app.numSubscribers(TOPIC);
      app.publish(TOPIC, msg, false);
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
  const port = us_socket_local_port(socket);
  process.stdout.write(`${JSON.stringify({ event: 'ready', port, pid: process.pid, ...detectUwsRuntime() })}\n`);
});
