// `npx tsx bench/latency/wakeup-cost.ts`: what one message costs a Node process on this machine
// when the process sleeps between messages — the floor under every per-order CPU figure of a
// multi-process exchange at low rates. A TCP echo server (a child process: one read, one write
// per message) and a client in this process exchange N 100-byte messages over loopback, one at
// a time, with a pause of G ms before each (0 = back to back). Printed: CPU µs per round trip of
// the server and of the client (process.cpuUsage: user + system, the kernel's wake-up path
// included). Last line: one JSON object.

import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const ROUND_TRIPS = 2_000;
const GAPS_MS = [0, 1, 5];

if (process.argv[2] === 'child') {
  const srv = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
  srv.listen(0, '127.0.0.1', () => process.send!((srv.address() as net.AddressInfo).port));
  process.on('message', () => {
    const u = process.cpuUsage();
    process.send!({ cpuMs: (u.user + u.system) / 1000 });
  });
} else {
  const child = fork(fileURLToPath(import.meta.url), ['child'], { execArgv: process.execArgv });
  const port = await new Promise<number>((r) => child.once('message', (m) => r(m as number)));
  const childCpu = () =>
    new Promise<number>((r) => {
      child.once('message', (m) => r((m as { cpuMs: number }).cpuMs));
      child.send('cpu');
    });
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  await new Promise((r) => s.once('connect', r));
  const msg = Buffer.alloc(100, 120);
  const steps: { gapMs: number; serverUsPerRoundTrip: number; clientUsPerRoundTrip: number }[] = [];
  for (const gap of GAPS_MS) {
    const c0 = await childCpu();
    const m0 = process.cpuUsage();
    for (let i = 0; i < ROUND_TRIPS; i++) {
      if (gap > 0) await new Promise((r) => setTimeout(r, gap));
      s.write(msg);
      await new Promise((r) => s.once('data', r));
    }
    const m1 = process.cpuUsage(m0);
    const c1 = await childCpu();
    const step = {
      gapMs: gap,
      serverUsPerRoundTrip: Math.round(((c1 - c0) * 1000) / ROUND_TRIPS),
      clientUsPerRoundTrip: Math.round((m1.user + m1.system) / ROUND_TRIPS),
    };
    steps.push(step);
    console.error(
      `pause ${gap} ms: server ${step.serverUsPerRoundTrip} µs, client ${step.clientUsPerRoundTrip} µs of CPU per round trip`,
    );
  }
  s.destroy();
  child.kill();
  console.log(JSON.stringify({ bench: 'wakeup-cost', roundTrips: ROUND_TRIPS, steps }));
}
