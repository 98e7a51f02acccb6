// Shared kit of the fuzz suites (test/fuzz/*.fuzz.test.ts): byte mutations as fast-check
// arbitraries, a heap probe with a real garbage collection, bounded waits, and a whole exchange
// in this process — one replica (ReplicaNode + ClientServer, fsync off) behind the real Gateway
// with its REST and gRPC servers — so a fuzz file starts in well under a second and an
// uncaught exception anywhere fails the file (vitest reports it).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { parseConfig } from '../../engine/config.js';
import type { ShardConfig } from '../../engine/types.js';
import { parseGatewayConfig, type GatewayConfig } from '../../config/gateway-config.js';
import { Gateway } from '../../gateway/gateway.js';
import { GrpcGateway } from '../../gateway/grpc-server.js';
import { RestGateway } from '../../gateway/rest-server.js';
import type { OrdersDump } from '../../replicator/client/protocol.js';
import { ClientServer } from '../../replicator/client/server.js';
import { requestOnce } from '../../replicator/client/client.js';
import { ReplicaNode } from '../../replicator/node.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';
import { linesLog } from '../../ops/log.js';

/** Seed of every fuzz run unless FUZZ_SEED is set (a failing run prints its own seed and path). */
export const FUZZ_SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 20261122;
/** Multiplies the number of inputs per run (FUZZ_RUNS_SCALE=10 for a long local run). */
export const FUZZ_RUNS_SCALE = process.env.FUZZ_RUNS_SCALE !== undefined ? Number(process.env.FUZZ_RUNS_SCALE) : 1;
export const runs = (n: number): number => Math.max(1, Math.round(n * FUZZ_RUNS_SCALE));

/**
 * fc.assert parameters: the seed, `numRuns` (scaled), and FUZZ_PATH when set — with the seed
 * and path fast-check printed for a failure, only that counterexample is replayed.
 */
export function fcParams(numRuns: number): { seed: number; numRuns: number; path?: string; endOnFailure?: boolean } {
  return {
    seed: FUZZ_SEED,
    numRuns: runs(numRuns),
    ...(process.env.FUZZ_PATH !== undefined ? { path: process.env.FUZZ_PATH } : {}),
    // FUZZ_NO_SHRINK=1: report the first failing batch as found (shrinking replays against live servers can take long).
    ...(process.env.FUZZ_NO_SHRINK === '1' ? { endOnFailure: true } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Byte mutations

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'duplicate'; at: number; n: number }
  | { kind: 'extreme'; at: number; width: 1 | 2 | 4 | 8; high: boolean };

/** One mutation; positions are taken modulo the input's length when applied. */
export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xff) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 32 }) }),
  fc.record({
    kind: fc.constant('extreme' as const),
    at: fc.nat(),
    width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
    high: fc.boolean(),
  }),
);

export function applyMutation(input: Uint8Array, m: Mutation): Uint8Array {
  const n = input.byteLength;
  const at = n === 0 ? 0 : m.at % n;
  switch (m.kind) {
    case 'flip': {
      if (n === 0) return input;
      const out = input.slice();
      out[at] = out[at]! ^ (1 << m.bit);
      return out;
    }
    case 'set': {
      if (n === 0) return input;
      const out = input.slice();
      out[at] = m.value;
      return out;
    }
    case 'truncate':
      return input.slice(0, at);
    case 'insert':
      return concatBytes([input.subarray(0, at), m.bytes, input.subarray(at)]);
    case 'delete':
      return concatBytes([input.subarray(0, at), input.subarray(Math.min(n, at + m.n))]);
    case 'duplicate':
      return concatBytes([input.subarray(0, at + Math.min(m.n, n - at)), input.subarray(at)]);
    case 'extreme': {
      const out = input.slice();
      for (let k = 0; k < m.width && at + k < n; k++) out[at + k] = m.high ? 0xff : 0x00;
      if (m.high && at < n) out[at] = 0x7f; // the largest signed value in either byte order's top byte
      return out;
    }
  }
}

export function mutate(input: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let out = input;
  for (const m of ms) out = applyMutation(out, m);
  return out;
}

/** 1–4 mutations. */
export const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 4 });

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Splits bytes into chunks at the given cut points (taken modulo the length), for stream-splitting fuzz. */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  if (bytes.byteLength === 0) return [bytes];
  const points = [...new Set(cuts.map((c) => c % bytes.byteLength))].filter((c) => c > 0).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** Values of the wrong type or at the edges, for JSON fields. */
export const nastyJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    0,
    -0,
    -1,
    0.5,
    1e308,
    -1e308,
    5e-324,
    2 ** 53,
    2 ** 53 + 2,
    -(2 ** 53),
    2 ** 64,
    '',
    ' ',
    '0',
    '-1',
    '1e3',
    '0x10',
    '1_000',
    '１２３', // full-width digits
    '9'.repeat(400),
    'NaN',
    'Infinity',
    '\u0000',
    '\ud800', // lone surrogate
    '💥'.repeat(50),
    'BUY\u0000',
    'e\u0301', // combining accent
    [],
    [1, 2, 3],
    {},
    { nested: { deeper: [null] } },
  ),
  fc.integer(),
  fc.double(),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.array(fc.integer(), { maxLength: 5 }),
);

// ---------------------------------------------------------------------------------------------
// Heap

let gcFn: (() => void) | undefined;
/** A full garbage collection (V8's gc exposed at run time), then heapUsed in bytes. */
export function heapUsedAfterGc(): number {
  if (gcFn === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
  return process.memoryUsage().heapUsed;
}

/**
 * Records heapUsed after each batch and checks that it does not keep growing: the last sample
 * may exceed the first (taken after a warm-up batch) by at most `slackBytes`. Generous on
 * purpose: it catches a leak per input (thousands of inputs), not allocator noise.
 */
export class HeapWatch {
  readonly samples: number[] = [];
  constructor(readonly slackBytes = 48 * 1024 * 1024) {}
  sample(): void {
    this.samples.push(heapUsedAfterGc());
  }
  growthBytes(): number {
    if (this.samples.length < 2) return 0;
    return this.samples[this.samples.length - 1]! - this.samples[0]!;
  }
  describe(): string {
    return this.samples.map((b) => `${(b / 1048576).toFixed(1)} MiB`).join(' → ');
  }
}

// ---------------------------------------------------------------------------------------------
// Waits

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it holds (bounded); `what` may be a function, to describe the state at the timeout. */
export async function waitFor(
  what: string | (() => string),
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  everyMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// An exchange in this process

export const SHARD_CONFIG_PATH = path.join(REPO_ROOT, 'engine/examples/instruments.json');
export const shardConfig: ShardConfig = parseConfig(JSON.parse(fs.readFileSync(SHARD_CONFIG_PATH, 'utf8')));

export const KEY1 = { key: 'fuzz-key-1', hmacSecret: 'fuzz-secret-1' };
export const KEY2 = { key: 'fuzz-key-2', hmacSecret: 'fuzz-secret-2' };
export const ADMIN_KEY = { key: 'fuzz-admin', hmacSecret: 'fuzz-admin-secret' };
const RISK_OPEN = {
  maxOrderQty: 1_000_000,
  maxNotional: 10_000_000_000_000,
  maxOpenOrders: 100_000,
  ratePerSec: 1_000_000,
  burst: 1_000_000,
};

export interface InProcessExchange {
  dir: string;
  node: ReplicaNode;
  clientServer: ClientServer;
  gateway: Gateway;
  rest: RestGateway;
  grpc: GrpcGateway;
  config: GatewayConfig;
  restUrl: string;
  restPort: number;
  grpcAddress: string;
  /** The replica's client endpoint. */
  endpoint: { id: number; host: string; port: number };
  /** Gateway and edge log lines (nothing is printed). */
  logs: string[];
  fatal: unknown[];
  /** The live orders of the book and the applied index, from the replica. */
  book(): Promise<{ applied: number; stateHash: string; orders: OrdersDump['orders'] }>;
  stop(): Promise<void>;
}

export interface InProcessExchangeOptions {
  /** Extra accounts, or replacements of accounts 1 and 2 (by account id). */
  accounts?: {
    account: number;
    apiKeys: { key: string; hmacSecret: string }[];
    risk: Record<string, number | string>;
  }[];
  restBodyBytesMax?: number;
  /** The shard's engine config file (default engine/examples/instruments.json). */
  shardConfigPath?: string;
  /** Serve the private user stream (WS /v1/user-stream) on the REST port. */
  userStream?: boolean;
}

/**
 * One replica (fsync off, no time ticks: nothing changes the state but commands) and the
 * gateway in front of it; accounts 1 (KEY1) and 2 (KEY2) with open risk limits, an admin key.
 */
export async function startInProcessExchange(opts: InProcessExchangeOptions = {}): Promise<InProcessExchange> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-fuzz-exchange-'));
  const logs: string[] = [];
  const fatal: unknown[] = [];
  const log = linesLog((line) => {
    if (logs.length < 10_000) logs.push(line);
  });
  const shardConfigPath = opts.shardConfigPath ?? SHARD_CONFIG_PATH;
  const node = new ReplicaNode({
    id: 1,
    members: [1],
    dataDir: path.join(dir, 'data'),
    shardConfig:
      opts.shardConfigPath === undefined
        ? shardConfig
        : parseConfig(JSON.parse(fs.readFileSync(shardConfigPath, 'utf8'))),
    send: () => undefined,
    fsync: false,
    timeTickMs: 0,
    onFatal: (err) => fatal.push(err),
    log,
  });
  node.start();
  await waitFor('the single replica to lead', () => node.status().role === 'LEADER');
  const clientServer = new ClientServer({ node, host: '127.0.0.1', port: 0, log });
  await clientServer.start();
  const endpoint = { id: 1, host: '127.0.0.1', port: clientServer.port };
  const clusterFile = path.join(dir, 'cluster.json');
  fs.writeFileSync(
    clusterFile,
    JSON.stringify({
      clusterId: 'fuzz',
      dataDir: path.join(dir, 'data'),
      shardConfig: shardConfigPath,
      fsync: false,
      seed: 1,
      members: [{ id: 1, raft: '127.0.0.1:1', client: `127.0.0.1:${endpoint.port}` }],
    }),
  );
  const accounts = new Map<number, unknown>([
    [1, { account: 1, apiKeys: [KEY1], risk: RISK_OPEN }],
    [2, { account: 2, apiKeys: [KEY2], risk: RISK_OPEN }],
  ]);
  for (const a of opts.accounts ?? []) accounts.set(a.account, a);
  const config = parseGatewayConfig(
    {
      listen: { rest: '127.0.0.1:0', grpc: '127.0.0.1:0' },
      shards: [{ id: 0, clusterConfig: clusterFile }],
      accounts: [...accounts.values()],
      adminKeys: [ADMIN_KEY],
      signingKey: path.join(dir, 'exchange-ed25519.pem'),
      dataDir: dir,
      chainHeadEveryReports: 100_000,
      chainHeadEveryMs: 60_000,
      workers: 1,
    },
    dir,
  );
  const gateway = new Gateway(config, { log });
  const rest = new RestGateway({
    core: gateway,
    host: '127.0.0.1',
    port: 0,
    log,
    admin: (req) => gateway.admin(req),
    ...(opts.userStream === true ? { userStream: { core: gateway } } : {}),
    ...(opts.restBodyBytesMax !== undefined ? { bodyBytesMax: opts.restBodyBytesMax } : {}),
  });
  const grpc = new GrpcGateway({ core: gateway, host: '127.0.0.1', port: 0, log, stopGraceMs: 500 });
  const restPort = await rest.start();
  const grpcPort = await grpc.start();
  let stopped = false;
  return {
    dir,
    node,
    clientServer,
    gateway,
    rest,
    grpc,
    config,
    restUrl: `http://127.0.0.1:${restPort}`,
    restPort,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    endpoint,
    logs,
    fatal,
    async book() {
      const r = (await requestOnce(endpoint, { op: 'orders' })) as unknown as OrdersDump;
      return { applied: r.applied, stateHash: r.stateHash, orders: r.orders };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await rest.stop();
      await grpc.stop();
      await gateway.stop();
      await clientServer.stop();
      await node.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
