// A client written only from the published protos and READMEs (test/clients/python/client.py:
// generated gRPC stubs, REST with Python's standard library, request signing as gateway/README.md
// says) places, amends and cancels orders on a real local exchange over gRPC and REST. It needs
// python3 with grpcio, grpc_tools and protobuf (Debian: python3-grpcio python3-grpc-tools
// python3-protobuf; .ci/run installs them): without them the test is skipped locally and fails in CI.

import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';

const CLIENT = 'test/clients/python/client.py';
/** gateway/examples/gateway-local.json's account 1. */
const KEY = { key: 'demo-key-1', secret: 'demo-secret-1-change-me' };
/** BTC-USD in engine/examples/instruments.json: reference 5,000,000, band ±500,000, tick 1. */
const PRICE = 4_900_000;

/** The first python3 that can import what the client needs (the Debian packages are /usr/bin/python3's). */
function findPython(): string | undefined {
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import grpc, grpc_tools.protoc, google.protobuf'], { stdio: 'ignore' });
    if (r.status === 0) return python;
  }
  return undefined;
}

const python = findPython();
const missing =
  'python3 with grpcio, grpc_tools and protobuf not found (apt-get install python3-grpcio python3-grpc-tools python3-protobuf)';

if (python === undefined && process.env.CI === undefined)
  console.warn(`independent-client.test.ts skipped: ${missing}`);

describe.skipIf(python === undefined && process.env.CI === undefined)('an independent Python client', () => {
  let ex: LocalExchange;

  beforeAll(async () => {
    if (python === undefined) throw new Error(missing); // in CI: fail, never skip silently
    ex = await startLocalExchange();
  }, 90_000);

  afterAll(async () => {
    await ex?.stop();
  }, 60_000);

  it('places, amends and cancels over gRPC and REST, and is refused an invalid client order id on both', async () => {
    const args = [CLIENT, '--rest', ex.restUrl, '--grpc', ex.grpcAddress, '--key', KEY.key, '--secret', KEY.secret];
    const { stdout } = await promisify(execFile)(python!, [...args, '--symbol', 'BTC-USD', '--price', String(PRICE)], {
      timeout: 120_000,
    });
    const steps = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: string; report: Record<string, unknown> | null; error: string | null });
    for (const t of ['grpc', 'rest']) {
      const byStep = new Map(
        steps.filter((s) => s.step.startsWith(`${t}.`)).map((s) => [s.step.slice(t.length + 1), s]),
      );
      const clOrdId = `py-${t}-1`;
      expect(byStep.get('place'), t).toMatchObject({
        error: null,
        report: {
          client_order_id: clOrdId,
          exec_type: 'NEW',
          order_status: 'NEW',
          price: PRICE,
          order_qty: 3,
          leaves_qty: 3,
        },
      });
      const orderId = byStep.get('place')!.report!.order_id;
      expect(byStep.get('amend'), t).toMatchObject({
        error: null,
        report: { order_id: orderId, exec_type: 'REPLACED', order_status: 'NEW', price: PRICE + 1, order_qty: 2 },
      });
      expect(byStep.get('cancel'), t).toMatchObject({
        error: null,
        report: { order_id: orderId, exec_type: 'CANCELED', order_status: 'CANCELED', leaves_qty: 0 },
      });
      expect(byStep.get('place_invalid')?.error, t).toBe(t === 'grpc' ? 'INVALID_ARGUMENT' : 'HTTP 400');
    }
  });
});
