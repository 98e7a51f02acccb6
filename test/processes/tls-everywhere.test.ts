// The exchange with TLS on every edge, over real sockets and real processes: a throwaway CA made
// at test time (openssl), 3 replica processes with mutual TLS on their raft and client links and
// wss:// feeds, the gateway (gRPC, REST and FIX over TLS, secrets from files and the environment), the
// broker, the publisher (mutual TLS to the replicas) and the query service (gRPC and REST over
// TLS). Orders go in over gRPC and REST and fill; the feed, the query API and the replicas'
// status are read over TLS; plaintext clients, and a client whose certificate comes from another
// CA, are refused on every port. Assertions are on content; every wait is bounded and generous.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../../api/signing.js';
import { startLocalEvents, type LocalEvents } from '../../events/local-events.js';
import { QueryGrpcClient } from '../../events/query/client.js';
import { FeedClient } from '../../feed/client/feed-client.js';
import { Channel, type TradesMessage } from '../../feed/types.js';
import { OrderEntryGrpcClient } from '../../gateway/client/grpc-client.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { requestOnce } from '../../replicator/client/client.js';
import { freePort } from '../../replicator/process-cluster.js';
import { makeCa, makeLeaf } from '../../bench/tls/throwaway-ca.js';
import { runOperatorCaptured } from '../cli/run-operator.js';
import { MsgType } from '../../fix/message.js';
import { TestInitiator } from '../fix/initiator.js';

const opensslInstalled = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
if (!opensslInstalled) console.warn('openssl is missing: the TLS test is skipped (apt-get install -y openssl)');

/** Bound on every wait (ms): generous for a loaded 2-core machine. */
const WAIT_MS = 60_000;
const KEY_1 = { key: 'tls-key-1', hmacSecret: 'tls-secret-1-from-a-file' };
const KEY_2 = { key: 'tls-key-2', hmacSecret: 'tls-secret-2-from-env' };
const ENV = {
  gatewayKey: 'MB_TLS_TEST_GATEWAY_KEY',
  queryCert: 'MB_TLS_TEST_QUERY_CERT',
  hmac2: 'MB_TLS_TEST_HMAC_2',
  feedKey: 'MB_TLS_TEST_FEED_KEY',
};

let dir: string;
let ex: LocalExchange | undefined;
let events: LocalEvents | undefined;
let caPem: Buffer;
let node: { cert: string; key: string };
let rogue: { cert: string; key: string };

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A signed request over https with the test CA (fetch takes no CA without undici). */
function httpsRequest(
  base: string,
  method: string,
  pathAndQuery: string,
  key: { key: string; hmacSecret: string } | undefined,
  body?: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const bytes = Buffer.from(body === undefined ? '' : JSON.stringify(body), 'utf8');
  const headers: Record<string, string> = body !== undefined ? { 'content-type': 'application/json' } : {};
  if (key !== undefined) {
    const auth = signRequest(key, `${method} ${pathAndQuery}`, bytes);
    Object.assign(headers, {
      [HEADER_API_KEY]: auth.apiKey,
      [HEADER_TIMESTAMP]: auth.timestamp,
      [HEADER_SIGNATURE]: auth.signature,
    });
  }
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: u.hostname, port: Number(u.port), path: pathAndQuery, method, headers, ca: caPem, timeout: 10_000 },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? {} : JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(bytes);
  });
}

/** Resolves with how a plain (non-TLS) connection to `port` ended: never with a protocol answer. */
function plainExchange(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let got = Buffer.alloc(0);
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    s.on('error', () => undefined);
    s.on('close', () => resolve(got.toString('latin1')));
    s.setTimeout(20_000, () => s.destroy());
  });
}

/** Whether a TLS client with this certificate completes a handshake and keeps the link open to `port`. */
function tlsClientAccepted(port: number, cert: { cert: string; key: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      ca: caPem,
      cert: readFileSync(cert.cert),
      key: readFileSync(cert.key),
    });
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      s.destroy();
      resolve(ok);
    };
    // TLS 1.3: the server checks the client's certificate after the client's handshake is done, so
    // a refusal arrives as an error or a close right after secureConnect: wait for a read.
    s.on('secureConnect', () => setTimeout(() => finish(true), 1_000));
    s.on('error', () => finish(false));
    s.on('close', () => finish(false));
  });
}

function members(): { id: number; raft: string; client: string }[] {
  return (
    JSON.parse(readFileSync(ex!.cluster.configPath, 'utf8')) as {
      members: { id: number; raft: string; client: string }[];
    }
  ).members;
}
const portOf = (hp: string) => Number(hp.slice(hp.lastIndexOf(':') + 1));

beforeAll(async () => {
  if (!opensslInstalled) return;
  dir = mkdtempSync(path.join(os.tmpdir(), 'mb-tls-'));
  const ca = makeCa(dir, 'exchange');
  caPem = readFileSync(ca.caCert);
  node = makeLeaf(ca, 'node');
  const gateway = makeLeaf(ca, 'gateway');
  const query = makeLeaf(ca, 'query');
  const feed = makeLeaf(ca, 'feed');
  rogue = makeLeaf(makeCa(dir, 'other'), 'rogue');
  // Secrets from the environment (inherited by the child processes) and from files.
  process.env[ENV.gatewayKey] = readFileSync(gateway.key, 'utf8');
  process.env[ENV.queryCert] = readFileSync(query.cert, 'utf8');
  process.env[ENV.feedKey] = readFileSync(feed.key, 'utf8');
  process.env[ENV.hmac2] = KEY_2.hmacSecret;
  const hmac1File = path.join(dir, 'hmac-1.txt');
  writeFileSync(hmac1File, `${KEY_1.hmacSecret}\n`, { mode: 0o600 });
  const risk = { maxOrderQty: 1e7, maxNotional: 1e14, maxOpenOrders: 1e6, ratePerSec: 1e5, burst: 2e5 };
  const queryRest = `127.0.0.1:${await freePort()}`;
  const queryGrpc = `127.0.0.1:${await freePort()}`;
  ex = await startLocalExchange({
    feed: true,
    clusterOverrides: {
      tls: { cert: { file: node.cert }, key: { file: node.key }, ca: { file: ca.caCert }, requireClientCert: true },
      feedTls: { cert: { file: feed.cert }, key: { env: ENV.feedKey } },
    },
    gatewayOverrides: {
      tls: { cert: { file: gateway.cert }, key: { env: ENV.gatewayKey } },
      query: { tls: { cert: { env: ENV.queryCert }, key: { file: query.key } } },
      accounts: [
        { account: 1, apiKeys: [{ key: KEY_1.key, hmacSecret: { file: hmac1File } }], risk },
        { account: 2, apiKeys: [{ key: KEY_2.key, hmacSecret: { env: ENV.hmac2 } }], risk },
      ],
      adminKeys: [],
      // The example file's drop-copy grant names its admin key, which this file drops.
      fix: { dropCopy: [] },
    },
  });
  events = await startLocalEvents({
    clusterConfigPath: ex.cluster.configPath,
    gatewayConfigPath: ex.gatewayConfigPath,
    dataDir: path.join(dir, 'events'),
    brokerPort: await freePort(),
    queryRest,
    queryGrpc,
    brokerOps: `127.0.0.1:${await freePort()}`,
    publisherOps: `127.0.0.1:${await freePort()}`,
  });
}, 240_000);

afterAll(async () => {
  await events?.stop();
  await ex?.stop();
  for (const v of Object.values(ENV)) delete process.env[v];
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe.skipIf(!opensslInstalled)('TLS on every edge', () => {
  it('orders fill over gRPC TLS and REST https; the feed over wss, the query API over https and gRPC TLS see them', async () => {
    const commitBefore = (await ex!.cluster.status(ex!.cluster.ids[0]!))!.commit;
    const feedUrl = [...ex!.feedUrls.values()][0]!;
    expect(feedUrl.startsWith('wss://')).toBe(true);
    const feed = await FeedClient.connect({ url: feedUrl, ca: caPem });
    const trades: TradesMessage[] = [];
    feed.on('trades', (m: TradesMessage) => trades.push(m));
    await feed.subscribe(['BTC-USD'], [Channel.TRADES]);

    const g = new OrderEntryGrpcClient({ address: ex!.grpcAddress, key: KEY_1, tls: { ca: caPem } });
    try {
      const buy = await g.placeOrder({
        client_order_id: 'tls-buy',
        symbol: 'BTC-USD',
        side: 'BUY',
        order_type: 'LIMIT',
        time_in_force: 'GTC',
        price: 4_960_000,
        quantity: 3,
      });
      expect(buy.result.reports[0]!.exec_type).toBe('NEW');
      expect(ex!.restUrl.startsWith('https://')).toBe(true);
      const sell = await httpsRequest(ex!.restUrl, 'POST', '/v1/orders', KEY_2, {
        client_order_id: 'tls-sell',
        symbol: 'BTC-USD',
        side: 'SELL',
        order_type: 'LIMIT',
        time_in_force: 'GTC',
        price: 4_960_000,
        quantity: 3,
      });
      expect(sell.status).toBe(201);
      const reports = (sell.body.result as { reports: { exec_type: string; last_qty?: number }[]; seq: number })
        .reports;
      expect(reports.some((r) => r.exec_type === 'TRADE' && r.last_qty === 3)).toBe(true);
      const sellSeq = (sell.body.result as { seq: number }).seq;

      await waitFor('the trade on the wss feed', async () =>
        trades.some((m) => m.trades.some((t) => t.qty === 3)) ? true : undefined,
      );

      // The query API, both protocols, over TLS (read-your-writes on the sell's seq).
      const q = await waitFor('the fill in the query API over https', async () => {
        const r = await httpsRequest(
          `https://${events!.queryRest}`,
          'GET',
          `/v1/accounts/2/fills?min_seq=${sellSeq}&wait_ms=5000`,
          KEY_2,
        );
        return r.status === 200 && (r.body.fills as unknown[]).length > 0 ? r : undefined;
      });
      expect((q.body.fills as { last_qty: number }[])[0]).toMatchObject({ last_qty: 3 });
      const qg = new QueryGrpcClient(events!.queryGrpc, KEY_1, { ca: caPem });
      try {
        const fills = await qg.call('GetFills', { account: 1, read_after: { min_seq: sellSeq, wait_ms: 10_000 } });
        expect((fills.fills as unknown[]).length).toBe(1);
      } finally {
        qg.close();
      }
    } finally {
      g.close();
      await feed.close();
    }
    // The replicas elect and replicate over mutual TLS: one leader, commit advanced on every member.
    const leader = await ex!.cluster.waitForLeader(WAIT_MS);
    expect(leader).toBeGreaterThan(0);
    for (const id of ex!.cluster.ids)
      await waitFor(`commit to advance on node ${id}`, async () =>
        (await ex!.cluster.status(id))!.commit > commitBefore ? true : undefined,
      );
  }, 180_000);

  it("the operator CLI reaches the replicas with the cluster file's TLS (cluster status)", async () => {
    const r = await runOperatorCaptured(['cluster', 'status', '--cluster', ex!.cluster.configPath, '--json']);
    expect(r.code, r.err).toBe(0);
    const rows = (JSON.parse(r.out) as { members: { reachable: boolean; role?: string }[] }).members;
    expect(rows.map((m) => m.reachable)).toEqual([true, true, true]);
    expect(rows.filter((m) => m.role === 'LEADER')).toHaveLength(1);
  }, 60_000);

  it('plaintext clients are refused on every port', async () => {
    // gRPC without TLS: the channel never becomes ready; the call fails UNAVAILABLE.
    const plainGrpc = new OrderEntryGrpcClient({ address: ex!.grpcAddress, key: KEY_1 });
    const err = (await plainGrpc
      .getOrder({ order_id: 1 }, { deadlineMs: 10_000 })
      .catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    plainGrpc.close();
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    const plainQuery = new QueryGrpcClient(events!.queryGrpc, KEY_1);
    const qerr = (await plainQuery
      .call('GetOrders', { account: 1 })
      .catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    plainQuery.close();
    expect(qerr.code).toBe(grpc.status.UNAVAILABLE);
    // http:// to the https ports: no HTTP answer.
    for (const base of [ex!.restUrl.replace('https://', 'http://'), `http://${events!.queryRest}`]) {
      await expect(fetch(`${base}/v1/time`, { signal: AbortSignal.timeout(20_000) })).rejects.toThrow();
    }
    // FIX: a plaintext Logon gets no answer; over TLS with the CA the same key logs on (the gateway's application checks it).
    const fixPort = portOf(ex!.fixAddress);
    const fixLogon = { apiKey: KEY_1.key, signer: { hmacSecret: KEY_1.hmacSecret }, resetSeqNum: true };
    const plainFix = await TestInitiator.connect({ port: fixPort, senderCompId: 'TLS-PLAIN' });
    plainFix.logon(fixLogon);
    await plainFix.waitClosed(WAIT_MS);
    expect(plainFix.received).toEqual([]);
    const tlsFix = await TestInitiator.connect({ port: fixPort, senderCompId: 'TLS-FIX', tls: { ca: caPem } });
    try {
      tlsFix.logon(fixLogon);
      await tlsFix.waitForType(MsgType.Logon, WAIT_MS);
    } finally {
      tlsFix.close();
    }
    // ws:// to a wss feed: refused.
    const feedUrl = [...ex!.feedUrls.values()][0]!;
    await expect(FeedClient.connect({ url: feedUrl.replace('wss://', 'ws://') })).rejects.toThrow();
    // The replicas' client port: a plain status request gets no answer; raft: a plain peer's bytes get none.
    const m = members()[0]!;
    await expect(
      requestOnce({ host: '127.0.0.1', port: portOf(m.client) }, { op: 'status' }, 10_000),
    ).rejects.toThrow();
    const hello = Buffer.alloc(64, 1);
    expect(await plainExchange(portOf(m.raft), hello)).not.toContain('"ok"');
    // With the cluster's certificate the same port answers (the check above can fail).
    const ok = await requestOnce({ host: '127.0.0.1', port: portOf(m.client) }, { op: 'status' }, 10_000, {
      cert: readFileSync(node.cert),
      key: readFileSync(node.key),
      ca: caPem,
      requireClientCert: false,
      serverName: undefined,
    });
    expect(ok.ok).toBe(true);
  }, 120_000);

  it('a client with a certificate of another CA is refused on the mutual-TLS replica links', async () => {
    const m = members()[0]!;
    expect(await tlsClientAccepted(portOf(m.raft), node)).toBe(true);
    expect(await tlsClientAccepted(portOf(m.raft), rogue)).toBe(false);
    expect(await tlsClientAccepted(portOf(m.client), rogue)).toBe(false);
    await expect(
      requestOnce({ host: '127.0.0.1', port: portOf(m.client) }, { op: 'status' }, 10_000, {
        cert: readFileSync(rogue.cert),
        key: readFileSync(rogue.key),
        ca: caPem,
        requireClientCert: false,
        serverName: undefined,
      }),
    ).rejects.toThrow();
    // The cluster still has its leader after the refused connections.
    expect(await ex!.cluster.waitForLeader(WAIT_MS)).toBeGreaterThan(0);
  }, 120_000);
});
