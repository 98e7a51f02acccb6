// The events processes' observability, real processes over loopback: the broker (--ops), a
// one-replica cluster, the publisher (--ops) and the query process (metrics on its REST port).
// After some orders and a query, each /metrics exposes its named series with values that follow
// from the traffic, /readyz turns ready once caught up, and the logs are pino JSON lines while
// stdout keeps the ready and status lines. Assertions on content only; every wait is bounded.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryRestClient } from '../../events/query/client.js';
import { ReplicaClient } from '../../replicator/client/client.js';
import { ProcessCluster } from '../../replicator/process-cluster.js';
import { httpGet, samples, value } from '../ops/prom.js';
import { kill, orderFlow, removeTmpDirs, spawnReady, tmpDir, waitFor, type Child } from './helpers.js';

const WAIT_MS = 30_000;
const keyOf = (account: number) => ({ key: `key-${account}`, hmacSecret: `secret-${account}` });

let dir: string;
let cluster: ProcessCluster;
let broker: Child & { ready: Record<string, unknown> };
let publisher: Child & { ready: Record<string, unknown> };
let query: Child & { ready: Record<string, unknown> };
let lastSeq = 0;

beforeAll(async () => {
  dir = tmpDir('mb-events-metrics-');
  broker = await spawnReady('events/broker/main.ts', [
    '--data-dir',
    path.join(dir, 'kafka'),
    '--port',
    '0',
    '--fsync',
    'never',
    '--ops',
    '127.0.0.1:0',
  ]);
  const brokers = `127.0.0.1:${String(broker.ready.port)}`;
  cluster = await ProcessCluster.create({ size: 1, fsync: false });
  await cluster.startAll();
  await cluster.waitForLeader();
  publisher = await spawnReady('events/publisher/main.ts', [
    '--cluster',
    cluster.configPath,
    '--brokers',
    brokers,
    '--data-dir',
    path.join(dir, 'publisher'),
    '--status-every-ms',
    '200',
    '--ops',
    '127.0.0.1:0',
  ]);
  const gatewayConfig = {
    receiveWindowMs: 5_000,
    shards: [{ id: 0, clusterConfig: cluster.configPath }],
    accounts: [1, 2, 3, 4, 5, 6].map((account) => ({ account, apiKeys: [keyOf(account)] })),
    adminKeys: [{ key: 'admin', hmacSecret: 'admin-secret' }],
    dataDir: path.join(dir, 'gateway'),
  };
  writeFileSync(path.join(dir, 'gateway.json'), JSON.stringify(gatewayConfig));
  query = await spawnReady('events/query/main.ts', [
    '--config',
    path.join(dir, 'gateway.json'),
    '--brokers',
    brokers,
    '--data-dir',
    path.join(dir, 'query'),
    '--rest',
    '127.0.0.1:0',
    '--grpc',
    '127.0.0.1:0',
  ]);
  const client = new ReplicaClient({ endpoints: cluster.endpoints });
  try {
    const results = await Promise.all(orderFlow(150, 77).map((c) => client.submit(c)));
    lastSeq = Math.max(...results.map((r) => r.seq));
  } finally {
    client.close();
  }
}, 60_000);

afterAll(async () => {
  await kill(publisher, 'SIGTERM');
  await kill(query, 'SIGTERM');
  await kill(broker, 'SIGTERM');
  await cluster?.stop();
  removeTmpDirs();
});

describe('events processes metrics', () => {
  it('publisher: lag, records, sessions, gaps, state; /readyz once publishing and caught up; pino logs', async () => {
    const url = `http://127.0.0.1:${String(publisher.ready.opsPort)}`;
    const labels = { component: 'publisher', shard: '0' };
    await waitFor(
      async () =>
        (value((await httpGet(`${url}/metrics`)).body, 'matchbook_publisher_published_seq', labels) ?? 0) >= lastSeq,
      `the publisher to publish seq ${lastSeq}`,
      WAIT_MS,
      50,
    );
    await waitFor(
      async () => (await httpGet(`${url}/readyz`)).status === 200,
      'the publisher to be ready',
      WAIT_MS,
      50,
    );
    const ready = JSON.parse((await httpGet(`${url}/readyz`)).body) as Record<string, unknown>;
    expect(ready).toMatchObject({ ready: true, state: 'publishing' });

    const m = (await httpGet(`${url}/metrics`)).body;
    expect(value(m, 'matchbook_publisher_records_sent_total', labels)).toBeGreaterThan(150);
    expect(value(m, 'matchbook_publisher_batches_sent_total', labels)).toBeGreaterThanOrEqual(1);
    expect(value(m, 'matchbook_publisher_sessions_total', labels)).toBe(1);
    expect(value(m, 'matchbook_publisher_gaps_total', labels)).toBe(0);
    expect(value(m, 'matchbook_publisher_gap_entries_total', labels)).toBe(0);
    expect(value(m, 'matchbook_publisher_state', { ...labels, state: 'publishing' })).toBe(1);
    expect(value(m, 'matchbook_publisher_state', { ...labels, state: 'retrying' })).toBe(0);
    const lag = value(m, 'matchbook_publisher_lag_entries', labels)!;
    expect(lag).toBe(
      Math.max(
        0,
        value(m, 'matchbook_publisher_replica_applied_index', labels)! -
          value(m, 'matchbook_publisher_published_index', labels)!,
      ),
    );
    expect(lag).toBeLessThanOrEqual(ready.lagEntriesMax as number);
    expect(value(m, 'matchbook_publisher_source_replica', labels)).toBe(1);
    expect(samples(m, 'nodejs_eventloop_lag_seconds', labels)).toHaveLength(1);
    expect((await httpGet(`${url}/healthz`)).body).toBe('ok');

    // stdout: the ready line, then status lines only; stderr ("! "): pino JSON.
    const out = publisher.lines.filter((l) => !l.startsWith('! '));
    expect(out.every((l) => l.startsWith('{"event":"ready"') || l.startsWith('{"event":"status"'))).toBe(true);
    const logs = publisher.lines
      .filter((l) => l.startsWith('! '))
      .map((l) => JSON.parse(l.slice(2)) as Record<string, unknown>);
    expect(
      logs.some(
        (l) =>
          l.component === 'publisher' &&
          l.shard === 0 &&
          l.level === 30 &&
          String(l.msg).startsWith('publisher session started') &&
          l.session === 1 &&
          typeof l.publishedIndex === 'number',
      ),
    ).toBe(true);
  });

  it('query: consumer lag per read model, visible seq, queries by op and code; /readyz', async () => {
    const base = `http://127.0.0.1:${String(query.ready.rest)}`;
    await waitFor(
      async () =>
        (value((await httpGet(`${base}/metrics`)).body, 'matchbook_query_visible_seq', { shard: '0' }) ?? 0) >= lastSeq,
      `the read models to reach seq ${lastSeq}`,
      WAIT_MS,
      50,
    );
    const rest = new QueryRestClient(base, keyOf(1));
    expect((await rest.get(`/v1/accounts/1/orders?state=all&min_seq=${lastSeq}`)).status).toBe(200);
    expect((await rest.get('/v1/accounts/2/orders')).status).toBe(403);
    await waitFor(
      async () => (await httpGet(`${base}/readyz`)).status === 200,
      'the query process to be ready',
      WAIT_MS,
      50,
    );

    const m = (await httpGet(`${base}/metrics`)).body;
    const labels = { component: 'query' };
    expect(
      samples(m, 'matchbook_query_consumer_lag_records', labels)
        .map((s) => s.labels.read_model)
        .sort(),
    ).toEqual(['candles', 'consistency', 'fills', 'orders', 'positions']);
    for (const s of samples(m, 'matchbook_query_consumer_lag_records', labels))
      expect(s.value).toBeGreaterThanOrEqual(0);
    expect(value(m, 'matchbook_query_requests_total', { ...labels, op: 'GetOrders', code: 'OK' })).toBe(1);
    expect(value(m, 'matchbook_query_requests_total', { ...labels, op: 'GetOrders', code: 'PERMISSION_DENIED' })).toBe(
      1,
    );
    expect(value(m, 'matchbook_query_seconds_count', { ...labels, op: 'GetOrders' })).toBe(2);
    expect(value(m, 'matchbook_query_events_applied_total', labels)).toBeGreaterThan(150);
    expect(value(m, 'matchbook_query_consumer_batches_total', labels)).toBeGreaterThan(0);
    expect(value(m, 'matchbook_query_consumer_gaps_total', labels)).toBe(0);
    expect(samples(m, 'nodejs_eventloop_lag_seconds', labels)).toHaveLength(1);
    const logs = query.lines
      .filter((l) => l.startsWith('! '))
      .map((l) => JSON.parse(l.slice(2)) as Record<string, unknown>);
    expect(
      logs.some(
        (l) =>
          l.component === 'query' &&
          l.level === 30 &&
          String(l.msg).startsWith('serving REST') &&
          typeof l.rest === 'string' &&
          Array.isArray(l.brokers),
      ),
    ).toBe(true);
  });

  it('broker: requests and bytes per API, offsets per partition', async () => {
    const m = (await httpGet(`http://127.0.0.1:${String(broker.ready.opsPort)}/metrics`)).body;
    const labels = { component: 'broker' };
    expect(value(m, 'matchbook_broker_requests_total', { ...labels, api: 'Produce' })).toBeGreaterThan(0);
    expect(value(m, 'matchbook_broker_requests_total', { ...labels, api: 'Fetch' })).toBeGreaterThan(0);
    expect(value(m, 'matchbook_broker_request_bytes_total', { ...labels, api: 'Produce' })).toBeGreaterThan(0);
    expect(value(m, 'matchbook_broker_response_bytes_total', { ...labels, api: 'Fetch' })).toBeGreaterThan(0);
    const ends = samples(m, 'matchbook_broker_log_end_offset', { ...labels, topic: 'exchange.orders.v1' });
    expect(ends.length).toBeGreaterThan(0);
    expect(ends.reduce((s, x) => s + x.value, 0)).toBeGreaterThan(150);
    expect(value(m, 'matchbook_broker_topics', labels)).toBeGreaterThanOrEqual(4);
    expect((await httpGet(`http://127.0.0.1:${String(broker.ready.opsPort)}/readyz`)).status).toBe(200);
  });
});
