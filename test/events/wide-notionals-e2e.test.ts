// A wide instrument (BTC-USD to 0.01 USD and 1 satoshi, up to 1,000,000.00 USD × 1,000 BTC:
// maxPrice × maxQty = 1e19 > 2^53 − 1) through the events side over real sockets: 3 replica
// processes with that shard config, the embedded broker, the publisher process (which refused
// the config before), and the read models with the query API's REST and gRPC servers. Commands
// go in below the gateway, through a ReplicaClient (the gateway's own acceptance of wide
// instruments is another part). Then the Kafka records, the read models, and the query API's
// answers carry every notional exactly: checked against BigInt sums of the fills.
//
// The query servers run in this process, fed the wide instruments directly: the query process
// reads them through config/gateway-config.ts, which refuses wide instruments until the
// gateway's part lifts it. Every wait polls with a generous bound; nothing depends on timing.

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../engine/config.js';
import type { ShardConfig } from '../../engine/types.js';
import { startBroker, type RunningBroker } from '../../events/broker/server.js';
import { EventsCodec, type ExecRecord } from '../../events/codec.js';
import { notionalOfBigint } from '../../api/exact-uint64.js';
import { kafkaClient } from '../../events/kafka.js';
import { QueryGrpcClient, QueryRestClient } from '../../events/query/client.js';
import { QueryGrpcServer } from '../../events/query/grpc-server.js';
import { QueryRestServer } from '../../events/query/rest-server.js';
import { QueryService } from '../../events/query/service.js';
import { ReadModelConsumer, SNAPSHOT_FILE } from '../../events/read-models/consumer.js';
import { ReadModels } from '../../events/read-models/model.js';
import { TOPIC_ORDERS } from '../../events/topics.js';
import { DEFAULT_RISK } from '../../config/gateway-config.js';
import { NO_LOG } from '../../ops/log.js';
import { ReplicaClient } from '../../replicator/client/client.js';
import { ProcessCluster } from '../../replicator/process-cluster.js';
import {
  kill,
  removeTmpDirs,
  spawnReady,
  tmpDir,
  waitFor,
  wideFlow,
  wideShardConfigJson,
  type Child,
} from './helpers.js';

const WAIT_MS = 90_000;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const ACCOUNTS = [1, 2, 3, 4, 5, 6];
const keyOf = (account: number) => ({ key: `wide-key-${account}`, hmacSecret: `wide-secret-${account}` });

let dir: string;
let wide: ShardConfig;
let broker: RunningBroker;
let cluster: ProcessCluster;
let client: ReplicaClient;
let publisher: Child | undefined;
let consumer: ReadModelConsumer;
let service: QueryService;
let restServer: QueryRestServer;
let grpcServer: QueryGrpcServer;
let rest: QueryRestClient;
let grpc: QueryGrpcClient;
let stopKafka: (() => Promise<void>) | undefined;
const kafkaExecs: ExecRecord[] = [];
let lastSeq = 0;

/** Reads the orders topic (every execution report) from the beginning. */
async function consumeOrders(brokers: string): Promise<() => Promise<void>> {
  const codec = EventsCodec.get();
  const c = kafkaClient([brokers], 'wide-notionals-test', NO_LOG).consumer({
    groupId: `wide-notionals-${process.pid}`,
  });
  await c.connect();
  await c.subscribe({ topics: [TOPIC_ORDERS], fromBeginning: true });
  await c.run({
    eachMessage: async ({ message }) => {
      if (message.value !== null) kafkaExecs.push(codec.decodeExec(message.value));
    },
  });
  return () => c.disconnect();
}

async function startQuery(brokers: string): Promise<void> {
  consumer = new ReadModelConsumer({
    brokers: [brokers],
    dataDir: path.join(dir, 'read-models'),
    groupId: 'wide-notionals-query',
    log: NO_LOG,
  });
  await consumer.start();
  service = new QueryService({
    config: {
      receiveWindowMs: 5_000,
      accounts: ACCOUNTS.map((account) => ({ account, apiKeys: [keyOf(account)], risk: DEFAULT_RISK })),
      adminKeys: [],
      shards: [
        {
          id: 0,
          symbols: wide.instruments.map((i) => i.symbol),
          instruments: wide.instruments,
          engineConfig: wide,
          replicas: cluster.endpoints,
        },
      ],
    },
    source: consumer,
  });
  restServer = new QueryRestServer({ service, host: '127.0.0.1', port: 0, log: NO_LOG });
  grpcServer = new QueryGrpcServer({ service, host: '127.0.0.1', port: 0, log: NO_LOG });
  rest = new QueryRestClient(`http://127.0.0.1:${await restServer.start()}`, keyOf(1));
  grpc = new QueryGrpcClient(`127.0.0.1:${await grpcServer.start()}`, keyOf(1));
}

beforeAll(async () => {
  dir = tmpDir('mb-wide-notionals-');
  const shardPath = path.join(dir, 'wide-shard.json');
  const json = wideShardConfigJson();
  writeFileSync(shardPath, JSON.stringify(json));
  wide = parseConfig(json);
  broker = await startBroker({ dataDir: path.join(dir, 'kafka'), port: 0, host: '127.0.0.1' });
  const brokers = `127.0.0.1:${broker.port}`;
  cluster = await ProcessCluster.create({ fsync: false, shardConfigPath: shardPath });
  await cluster.startAll();
  await cluster.waitForLeader();
  client = new ReplicaClient({ endpoints: cluster.endpoints });
  // Refused this config at startup before (cum_notional a number on Kafka).
  publisher = await spawnReady('events/publisher/main.ts', [
    '--cluster',
    cluster.configPath,
    '--brokers',
    brokers,
    '--data-dir',
    path.join(dir, 'publisher'),
  ]);
  await startQuery(brokers);
  stopKafka = await consumeOrders(brokers);
}, 180_000);

afterAll(async () => {
  await stopKafka?.();
  grpc?.close();
  service?.close();
  await restServer?.stop();
  await grpcServer?.stop();
  await consumer?.stop();
  client?.close();
  await kill(publisher, 'SIGTERM');
  await cluster?.stop();
  await broker?.close();
  removeTmpDirs();
}, 90_000);

/** 50.00000001 BTC sold at 50,000.00 by account 1 to account 2 in two buys: the sell's cum_notional 25,000,000,005,000,000 > 2^53. */
const SELL = { qty: 5_000_000_001, price: 5_000_000 };
const BUYS = [3_000_000_007, 2_000_000_000];

async function submit(c: Record<string, unknown>): Promise<number> {
  const r = await client.submit(c);
  lastSeq = Math.max(lastSeq, r.seq);
  return r.seq;
}

describe('wide notionals end to end below the gateway', () => {
  it('Kafka records, read models and the query API (REST and gRPC) carry every notional exactly', async () => {
    const sellId = await submit({
      type: 'new',
      account: 1,
      clOrdId: 'wide-sell',
      symbol: 'BTC-USD',
      side: 'SELL',
      ordType: 'LIMIT',
      price: SELL.price,
      qty: SELL.qty,
    });
    for (const [k, qty] of BUYS.entries())
      await submit({
        type: 'new',
        account: 2,
        clOrdId: `wide-buy-${k}`,
        symbol: 'BTC-USD',
        side: 'BUY',
        ordType: 'LIMIT',
        price: SELL.price,
        qty,
      });
    // Then a mixed flow of wide BTC and narrow ETH orders of six accounts.
    await Promise.all(wideFlow(300, 21, lastSeq + 1).map((c) => submit(c)));
    await waitFor(() => consumer.model.visibleOf(0).seq >= lastSeq, `read models at seq ${lastSeq}`, WAIT_MS, 50);

    // Kafka: every record's cum_notional is its order's Σ last_qty × last_px, exactly. (The
    // published log is complete once the read models see lastSeq: read the topic to its end.)
    const admin = kafkaClient([`127.0.0.1:${broker.port}`], 'wide-notionals-admin', NO_LOG).admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(TOPIC_ORDERS);
    await admin.disconnect();
    const total = ends.reduce((s, p) => s + Number(p.high), 0);
    await waitFor(() => kafkaExecs.length >= total, `${total} execution reports read from Kafka`, WAIT_MS, 50);
    expect(kafkaExecs.length).toBe(total);
    const perOrder = new Map<number, bigint>();
    const fills = new Map<string, { buy: bigint; sell: bigint }>();
    for (const r of kafkaExecs) {
      const n = BigInt(r.last_qty) * BigInt(r.last_px);
      const sum = (perOrder.get(r.order_id) ?? 0n) + n;
      perOrder.set(r.order_id, sum);
      expect(r.cum_notional).toBe(notionalOfBigint(sum));
      const k = `${r.account}/${r.symbol}`;
      const p = fills.get(k) ?? { buy: 0n, sell: 0n };
      if (r.side === 1) p.buy += n;
      else p.sell += n;
      fills.set(k, p);
    }
    const sellNotional = BigInt(SELL.qty) * BigInt(SELL.price);
    expect(sellNotional).toBeGreaterThan(MAX_SAFE);
    const sellRecords = kafkaExecs.filter((r) => r.account === 1 && r.client_order_id === 'wide-sell');
    expect(sellRecords.at(-1)).toMatchObject({
      cum_notional: sellNotional,
      cum_notional_decimal: '2500000.0005000000', // 50.00000001 BTC × 50,000.00 USD, 2 + 8 decimals
      cum_qty: SELL.qty,
      avg_px: '5000000.00000000',
    });
    const aboveOnKafka = kafkaExecs.filter((r) => typeof r.cum_notional === 'bigint').length;
    expect(aboveOnKafka).toBeGreaterThan(5);

    // Query REST (the JSON integer literal parsed exactly) and gRPC (uint64), account 1's orders.
    const restOrders = await rest.get(`/v1/accounts/1/orders?state=all&min_seq=${lastSeq}`);
    expect(restOrders.status).toBe(200);
    const grpcOrders = await grpc.call('GetOrders', {
      account: 1,
      filter: 'ORDER_FILTER_ALL',
      read_after: { min_seq: lastSeq },
    });
    for (const orders of [restOrders.body.orders, grpcOrders.orders] as Record<string, unknown>[][]) {
      const sell = orders.find((o) => o.client_order_id === 'wide-sell')!;
      expect(sell).toMatchObject({
        order_id: expect.any(Number),
        cum_notional: sellNotional,
        cum_notional_decimal: '2500000.0005000000',
      });
      // (gRPC leaves zero fields out.)
      for (const o of orders)
        expect(o.cum_notional ?? 0).toBe(notionalOfBigint(perOrder.get(o.order_id as number) ?? 0n));
    }
    expect(sellId).toBeGreaterThan(0);

    // Fills (REST, oldest first): account 2's first two fills are its buys against the wide sell
    // (the second buy's rest trades later with the flow); their Σ last_qty × last_px is the sell's notional.
    const fillsBody = (await rest.get(`/v1/accounts/2/fills?limit=10000&min_seq=${lastSeq}`, keyOf(2))).body;
    const againstSell = (fillsBody.fills as Record<string, unknown>[])
      .filter((f) => String(f.client_order_id).startsWith('wide-buy-'))
      .slice(0, 2);
    expect(againstSell.map((f) => f.last_qty)).toEqual([BUYS[0], SELL.qty - BUYS[0]!]);
    expect(againstSell.reduce((s, f) => s + BigInt(f.last_qty as number) * BigInt(f.last_px as number), 0n)).toBe(
      sellNotional,
    );

    // The snapshot file the read models write holds the wide notionals exactly.
    await consumer.snapshot();
    const file = JSON.parse(readFileSync(path.join(dir, 'read-models', SNAPSHOT_FILE), 'utf8'));
    expect(ReadModels.fromJSON(file.model).views()).toEqual(consumer.model.views());

    // Positions and balances of every account, REST and gRPC, against the fills' BigInt sums.
    for (const account of ACCOUNTS) {
      const restPos = await rest.get(`/v1/accounts/${account}/positions?min_seq=${lastSeq}`, keyOf(account));
      const grpcPos = await grpc.call('GetPositions', { account, read_after: { min_seq: lastSeq } }, keyOf(account));
      let cash = 0n;
      for (const body of [restPos.body, grpcPos]) {
        for (const p of body.positions as Record<string, unknown>[]) {
          const want = fills.get(`${account}/${p.symbol as string}`)!;
          expect([p.buy_notional, p.sell_notional, p.cash]).toEqual([
            want.buy.toString(),
            want.sell.toString(),
            (want.sell - want.buy).toString(),
          ]);
        }
      }
      for (const [k, v] of fills) if (k.startsWith(`${account}/`)) cash += v.sell - v.buy;
      expect((restPos.body.balances as { cash: string }[]).map((b) => b.cash)).toEqual([cash.toString()]);
      expect((grpcPos.balances as { cash: string }[]).map((b) => b.cash)).toEqual([cash.toString()]);
    }
  }, 240_000);
});
