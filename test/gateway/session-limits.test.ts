// Bounded per-session queue: when the shard does not answer (here: no replica listening), an
// order session's waiting requests are capped by SESSION_PENDING_BYTES_MAX and the excess is
// refused at once with OVERLOADED — memory does not grow with what a client sends.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../config/gateway-config.js';
import { Gateway } from '../../gateway/gateway.js';
import { SESSION_PENDING_BYTES_MAX } from '../../gateway/limits.js';
import { OrderEntryCodec } from '../../gateway/grpc-server.js';
import { signRequest } from '../../api/signing.js';
import type { GatewaySession } from '../../gateway/types.js';
import { REPO_ROOT, freePort } from '../../replicator/process-cluster.js';
import { NO_LOG } from '../../ops/log.js';

describe('order session limits', () => {
  let gw: Gateway;
  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mb-session-limits-'));
    const dead = await freePort(); // nothing listens there: every submit waits (and retries) until the request timeout
    writeFileSync(
      path.join(dir, 'cluster.json'),
      JSON.stringify({
        clusterId: 'dead',
        dataDir: path.join(dir, 'data'),
        shardConfig: path.join(REPO_ROOT, 'engine/examples/instruments.json'),
        fsync: false,
        seed: 1,
        members: [{ id: 1, raft: '127.0.0.1:1', client: `127.0.0.1:${dead}` }],
      }),
    );
    const config = parseGatewayConfig(
      {
        listen: { rest: '127.0.0.1:0', grpc: '127.0.0.1:0' },
        shards: [{ id: 0, clusterConfig: 'cluster.json' }],
        accounts: [
          {
            account: 1,
            apiKeys: [{ key: 'k1', hmacSecret: 's1' }],
            risk: { maxOrderQty: 1e6, maxNotional: 1e15, maxOpenOrders: 1e6, ratePerSec: 1e6, burst: 1e6 },
          },
        ],
        adminKeys: [],
        signingKey: path.join(dir, 'key.pem'),
        dataDir: dir,
        workers: 1,
      },
      dir,
    );
    gw = new Gateway(config, { log: NO_LOG });
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('refuses requests beyond SESSION_PENDING_BYTES_MAX waiting in one session with OVERLOADED', async () => {
    const target = 'exchange.v1.OrderEntryService/OrderSession#n1';
    const s = (await gw.openSession(signRequest({ key: 'k1', hmacSecret: 's1' }, target, new Uint8Array(0)), target, {
      cancelOnDisconnect: false,
      deadManMs: 0,
      cancelScope: 'ACCOUNT',
    })) as GatewaySession;
    expect('submit' in s).toBe(true);
    const codec = OrderEntryCodec.get();
    const commands = Array.from({ length: 100 }, (_, i) => ({
      place: {
        client_order_id: `c${i}`,
        symbol: 'BTC-USD',
        side: 'BUY',
        order_type: 'LIMIT',
        price: 5_000_000,
        quantity: 1,
      },
    }));
    const body = codec.encode('OrderSessionRequest', { request_id: 1, commands });
    const fits = Math.floor(SESSION_PENDING_BYTES_MAX / body.length);
    const replies: Promise<Record<string, unknown>>[] = [];
    for (let i = 0; i < fits + 5; i++) replies.push(s.submit(body));
    // The requests beyond the limit are answered at once, before any shard could answer.
    const refused = await Promise.all(replies.slice(fits));
    for (const r of refused)
      expect(r).toMatchObject({ outcomes: [], error: { code: 'OVERLOADED', retry_after_ms: 100 } });
    s.close();
  });

  it('is not ready without a shard leader, and counts what it answered in its metrics', async () => {
    expect(await gw.ready()).toEqual({
      ready: false,
      shards: [{ shard: 0, leader: null, commit: null, applied: null }],
    });
    const text = await gw.metrics.registry.metrics();
    expect(text).toMatch(
      /matchbook_gateway_order_ack_seconds_count\{component="gateway",protocol="grpc_session",op="OrderSession"\} [1-9]/,
    );
    expect(text).toMatch(
      /matchbook_gateway_requests_total\{protocol="grpc_session",op="OrderSession",code="OVERLOADED",component="gateway"\} 5/,
    );
    expect(text).toMatch(/matchbook_gateway_overloaded_total\{component="gateway"\} 5/);
    expect(text).toContain('matchbook_gateway_sessions');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });
});
