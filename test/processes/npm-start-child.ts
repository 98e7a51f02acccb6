// What the tests of `npm start` as a child process share (npm-start-fresh.test.ts,
// two-shards-npm-start.test.ts): the real entry's command line, an environment that makes it run
// its embedded broker, every address it will listen on for a data root, port offset and shard
// count (derived from the same example files it derives its own from), an offset whose every
// port is free, and a bounded poll that names what it waited for.

import type { ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import {
  EXAMPLE_CLUSTER_CONFIG,
  EXAMPLE_GATEWAY_CONFIG,
  clusterConfigFor,
  exchangeLayout,
  gatewayConfigFor,
} from '../../processes/exchange-layout.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';

const TSX_LOADER = createRequire(import.meta.url).resolve('tsx');
const POLL_MS = 200;

/** node's arguments for `npm start -- args`, from the sources (processes/exchange.ts through tsx). */
export const exchangeArgs = (args: string[]): string[] => [
  '--import',
  TSX_LOADER,
  path.join(REPO_ROOT, 'processes/exchange.ts'),
  ...args,
];

/** Our environment without KAFKA_BROKERS: the exchange must run its embedded broker. */
export function embeddedBrokerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.KAFKA_BROKERS;
  return env;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it gives a value (errors count as "not yet") or `timeoutMs` passes; the
 * timeout names `what`, the last error and `context()` (e.g. the child's last output).
 */
export async function pollFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  context: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${String(lastErr)})\n${context()}`);
    await sleep(POLL_MS);
  }
}

/** Every address `npm start -- --data-dir dataRoot --port-offset offset --shards shards` listens on. */
export function exchangeAddresses(dataRoot: string, offset: number, shards = 1): string[] {
  const read = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
  const layout = exchangeLayout(dataRoot, offset, shards);
  const members = Array.from({ length: shards }, (_, s) =>
    clusterConfigFor(read(EXAMPLE_CLUSTER_CONFIG), path.dirname(EXAMPLE_CLUSTER_CONFIG), dataRoot, offset, s),
  ).flatMap((c) => c.members as Record<string, string>[]);
  const gateway = gatewayConfigFor(
    read(EXAMPLE_GATEWAY_CONFIG),
    path.dirname(EXAMPLE_GATEWAY_CONFIG),
    dataRoot,
    'x',
    offset,
  );
  return [
    ...members.flatMap((m) => [m.raft!, m.client!, m.feed!, m.ops!]),
    ...Object.values(gateway.listen as Record<string, string>),
    (gateway.fix as { listen: string }).listen,
    `127.0.0.1:${layout.events.brokerPort}`,
    layout.events.brokerOps,
    ...layout.shards.map((s) => s.publisherOps),
    layout.events.queryRest,
    layout.events.queryGrpc,
  ];
}

const portFree = (addr: string) =>
  new Promise<boolean>((resolve) => {
    const k = addr.lastIndexOf(':');
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(Number(addr.slice(k + 1)), addr.slice(0, k), () => s.close(() => resolve(true)));
  });

/** Where the kernel takes the local ports of outgoing connections from (Linux's default if unreadable). */
export function ephemeralPortRange(): { lo: number; hi: number } {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isSafeInteger(lo) && Number.isSafeInteger(hi) && lo! <= hi!) return { lo: lo!, hi: hi! };
  } catch {
    // not Linux: the default below
  }
  return { lo: 32_768, hi: 60_999 };
}

/**
 * Port offsets (multiples of 10, 2000 and up: the usual ports stay for a developer's `npm start`)
 * that put every one of `basePorts` in 1024..65535 and outside the ephemeral range. A listener in
 * that range can find its port already taken as the local end of some client's connection: a CI
 * run's exchange died with EADDRINUSE on its query gRPC port (50052 + offset). With the example
 * ports (7101..9105 and 50051..50052) and Linux's range that leaves offsets 10950..15480.
 * Empty when no offset does (a machine whose ephemeral range covers nearly every port).
 */
export function offsetsOutsideEphemeral(basePorts: number[], range = ephemeralPortRange()): number[] {
  const out: number[] = [];
  for (let offset = 2_000; offset <= 65_535; offset += 10) {
    const ok = basePorts.every((p) => {
      const q = p + offset;
      return q >= 1_024 && q <= 65_535 && (q < range.lo || q > range.hi);
    });
    if (ok) out.push(offset);
  }
  return out;
}

/** Port numbers of `host:port` addresses. */
const portsOf = (addresses: string[]) => addresses.map((a) => Number(a.slice(a.lastIndexOf(':') + 1)));

/** An offset whose every port is free now and outside the ephemeral range (tried at random). */
export async function pickOffset(dataRoot: string, shards = 1): Promise<number> {
  const candidates = offsetsOutsideEphemeral(portsOf(exchangeAddresses(dataRoot, 0, shards)));
  if (candidates.length === 0) throw new Error('no port offset keeps the exchange out of the ephemeral port range');
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = candidates[randomInt(candidates.length)]!;
    const free = await Promise.all(exchangeAddresses(dataRoot, offset, shards).map(portFree));
    if (free.every(Boolean)) return offset;
  }
  throw new Error('no port offset with every port free');
}

/** The exchange's whole process group killed (SIGKILL) if it still runs: what an afterAll does whatever the test did. */
export async function killExchangeGroup(exchange: ChildProcess | undefined): Promise<void> {
  if (exchange?.pid === undefined || exchange.exitCode !== null) return;
  try {
    process.kill(-exchange.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  await sleep(1_000);
}
