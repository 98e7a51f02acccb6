// The benchmark's clients of order entry, kept thin so that what they measure is the exchange:
// REST over one keep-alive node:http connection (per account), gRPC unary and gRPC OrderSession
// (gateway/client/grpc-client.ts). Orders alternate BUY from account 1 and SELL from account 2
// at one price, so every second order fills and the book stays small.

import http from 'node:http';
import {
  OrderEntryGrpcClient,
  type OrderSessionHandle,
  type PlaceOrderRequest,
} from '../../gateway/client/grpc-client.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../../api/signing.js';
import { formatUnits } from '../../api/decimal.js';
import { formatUtcTimestamp } from '../../fix/fields.js';
import { FixBenchClient } from '../fix/fix-client.js';

export const DEMO_KEYS = [
  { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' },
  { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' },
] as const;

/** One order of the alternating sequence: even i buys (account 1), odd i sells (account 2). */
export function orderAt(i: number, tag: string): { account: 0 | 1; req: PlaceOrderRequest } {
  const account = (i % 2) as 0 | 1;
  return {
    account,
    req: {
      client_order_id: `${tag}-${i}`,
      symbol: 'BTC-USD',
      side: account === 0 ? 'BUY' : 'SELL',
      order_type: 'LIMIT',
      time_in_force: 'GTC',
      price: 5_000_000,
      quantity: 1,
    },
  };
}

export interface Sender {
  /** Places the order and resolves when the exchange has answered it (rejects on an error reply). */
  place(i: number): Promise<void>;
  close(): Promise<void>;
}

/** REST: one keep-alive connection per account; the body signed as it is sent. */
export function restSender(baseUrl: string, tag: string): Sender {
  const u = new URL(baseUrl);
  const agents = DEMO_KEYS.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  return {
    place(i) {
      const { account, req } = orderAt(i, tag);
      const body = Buffer.from(JSON.stringify({ ...req, price: String(req.price), quantity: String(req.quantity) }));
      const auth = signRequest(DEMO_KEYS[account], 'POST /v1/orders', body);
      return new Promise((resolve, reject) => {
        const r = http.request(
          {
            host: u.hostname,
            port: u.port,
            method: 'POST',
            path: '/v1/orders',
            agent: agents[account],
            headers: {
              'content-type': 'application/json',
              'content-length': body.length,
              [HEADER_API_KEY]: auth.apiKey,
              [HEADER_TIMESTAMP]: auth.timestamp,
              [HEADER_SIGNATURE]: auth.signature,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              res.statusCode === 200 || res.statusCode === 201
                ? resolve()
                : reject(new Error(`REST ${res.statusCode}: ${Buffer.concat(chunks).toString()}`)),
            );
          },
        );
        r.on('error', reject);
        r.end(body);
      });
    },
    async close() {
      for (const a of agents) a.destroy();
    },
  };
}

export async function grpcUnarySender(address: string, tag: string): Promise<Sender> {
  const clients = DEMO_KEYS.map((key) => new OrderEntryGrpcClient({ address, key }));
  await Promise.all(clients.map((c) => c.waitForReady(10_000)));
  return {
    async place(i) {
      const { account, req } = orderAt(i, tag);
      await clients[account]!.placeOrder(req);
    },
    async close() {
      for (const c of clients) c.close();
    },
  };
}

export async function grpcSessionSender(address: string, tag: string): Promise<Sender> {
  const clients = DEMO_KEYS.map((key) => new OrderEntryGrpcClient({ address, key }));
  await Promise.all(clients.map((c) => c.waitForReady(10_000)));
  const sessions: OrderSessionHandle[] = clients.map((c) => c.openSession());
  await Promise.all(sessions.map((s) => s.ready));
  return {
    async place(i) {
      const { account, req } = orderAt(i, tag);
      const resp = await sessions[account]!.send({ request_id: i + 1, commands: [{ place: req }] });
      const out = resp.outcomes?.[0];
      if (resp.error != null || out === undefined || out.error != null)
        throw new Error(`session: ${JSON.stringify(resp.error ?? out?.error ?? resp)}`);
    },
    async close() {
      await Promise.all(sessions.map((s) => s.close()));
      for (const c of clients) c.close();
    },
  };
}

/**
 * FIX 4.4 (fix/): `perAccount` logged-on sessions per account (order i goes to session ⌊i/2⌋ mod
 * perAccount of its account), each order answered by its first ExecutionReport. The order of
 * orderAt as FIX decimals: BTC-USD has 2 price and 4 quantity decimals.
 */
export async function fixSender(address: string, tag: string, perAccount = 1): Promise<Sender> {
  const at = address.lastIndexOf(':');
  const [host, port] = [address.slice(0, at), Number(address.slice(at + 1))];
  const sessions = await Promise.all(
    DEMO_KEYS.flatMap((key, a) =>
      Array.from({ length: perAccount }, (_, k) => FixBenchClient.connect(host, port, `${tag}A${a}S${k}`, key)),
    ),
  );
  return {
    async place(i) {
      const { account, req } = orderAt(i, tag);
      const s = sessions[account * perAccount + (Math.floor(i / 2) % perAccount)]!;
      await s.place([
        [11, req.client_order_id],
        [55, req.symbol],
        [54, req.side === 'BUY' ? '1' : '2'],
        [60, formatUtcTimestamp(Date.now())],
        [38, formatUnits(req.quantity!, 4)],
        [40, '2'],
        [44, formatUnits(req.price!, 2)],
        [59, '1'],
      ]);
    },
    async close() {
      for (const s of sessions) s.close();
    },
  };
}
