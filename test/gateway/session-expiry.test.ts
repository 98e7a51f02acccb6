// The gateway when the replicas evict one of its sessions (SESSION_COUNT_MAX other sessions
// registered while it sat unused): the order sent on it is answered UNAVAILABLE, "outcome
// unknown" — it may or may not have taken effect, the client checks with GetOrder — never
// applied twice; the next order goes through a new session and is acknowledged.

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { SESSION_COUNT_MAX } from '../../shard/state-machine.js';
import {
  CLIENT_REPLY_BYTES_MAX,
  JsonFrameReader,
  encodeFrame,
  type OrdersDump,
} from '../../replicator/client/protocol.js';
import { requestOnce } from '../../replicator/client/client.js';

const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
let ex: LocalExchange;
let rest: OrderEntryRestClient;

beforeAll(async () => {
  ex = await startLocalExchange({
    fsync: false,
    gatewayOverrides: {
      // Only account 1 here: the example file's drop-copy grant (accounts 1 and 2) does not apply.
      fix: { dropCopy: [] },
      accounts: [
        {
          account: 1,
          apiKeys: [K1],
          risk: {
            maxOrderQty: 1_000_000,
            maxNotional: 10_000_000_000_000,
            maxOpenOrders: 1_000,
            ratePerSec: 100_000,
            burst: 100_000,
          },
        },
      ],
    },
  });
  rest = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
}, 90_000);

afterAll(async () => {
  await ex?.stop();
}, 60_000);

/** Registers `n` sessions on `endpoint` (the leader) over one connection, pipelined. */
function registerMany(endpoint: { host: string; port: number }, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(endpoint);
    const reader = new JsonFrameReader(CLIENT_REPLY_BYTES_MAX);
    let answered = 0;
    socket.on('connect', () => {
      const frames: Buffer[] = [];
      for (let k = 0; k < n; k++) frames.push(encodeFrame({ id: k, op: 'register' }));
      socket.write(Buffer.concat(frames));
    });
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let f = reader.next(); f !== undefined; f = reader.next()) {
        const v = f.ok ? (f.value as { ok?: boolean; error?: string }) : { ok: false, error: 'BAD_JSON' };
        if (v.ok !== true) {
          socket.destroy();
          return reject(new Error(`register refused: ${v.error}`));
        }
        if (++answered === n) {
          socket.destroy();
          resolve();
        }
      }
    });
    socket.on('error', reject);
  });
}

async function liveOrders(): Promise<OrdersDump> {
  const leader = await ex.cluster.waitForLeader(10_000);
  return (await requestOnce(ex.cluster.endpoint(leader), { op: 'orders' })) as unknown as OrdersDump;
}

const buy = (id: string) => ({
  client_order_id: id,
  symbol: 'BTC-USD',
  side: 'BUY',
  order_type: 'LIMIT',
  time_in_force: 'GTC',
  price: 4_990_000,
  quantity: 1,
});

describe('gateway: a replica session evicted', () => {
  it('answers the order sent on it UNAVAILABLE (outcome unknown), applies nothing twice, and goes on under a new session', async () => {
    expect((await rest.placeOrder(buy('e1'))).status).toBe(201);
    const leader = await ex.cluster.waitForLeader(10_000);
    await registerMany(ex.cluster.endpoint(leader), SESSION_COUNT_MAX);
    const before = await liveOrders();

    const lost = await rest.placeOrder(buy('e2'));
    expect(lost.status).toBe(503);
    expect(lost.body).toMatchObject({ code: 'UNAVAILABLE' });
    expect(String((lost.body as { message?: string }).message)).toMatch(/outcome unknown \(SESSION_EXPIRED/);
    expect((await liveOrders()).execIdLast, 'the refused order changed nothing').toBe(before.execIdLast);

    const next = await rest.placeOrder(buy('e3'));
    expect(next.status).toBe(201);
    const after = await liveOrders();
    expect(after.orders.map((o) => o.clOrdId).sort()).toEqual(['e1', 'e3']);
  }, 60_000);
});
