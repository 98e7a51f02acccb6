// The query process (events/query/main.ts, a real child process) explains itself on its gRPC
// port: grpc.health.v1.Health says NOT_SERVING while the read models cannot consume (no broker
// yet) and SERVING once they are ready; server reflection (v1 and v1alpha) lists every service it
// serves — QueryService, health, reflection — and serves exchange/v1/query.proto and its import
// under their real names, complete enough to build a dynamic client from (issue 18, bug 6).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../events/broker/server.js';
import { QueryCodec } from '../../events/query/grpc-server.js';
import { freePort } from '../../replicator/process-cluster.js';
import { spawnTsx, kill } from '../../ops/child-process.js';
import { files, healthCheck, listServices, rootOf, type ReflectionVersion } from '../gateway/grpc-reflection-client.js';
import { removeTmpDirs, tmpDir, waitFor } from './helpers.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const GATEWAY_CONFIG = path.join(REPO_ROOT, 'gateway/examples/gateway-local.json');
const QUERY_SERVICE = 'exchange.v1.QueryService';

let query: ReturnType<typeof spawnTsx> | undefined;
let broker: RunningBroker | undefined;
let address = '';
let brokerPort = 0;
let dataDir = '';

/** Health of `service`, or the error's message when the call fails (server not up yet). */
async function healthOrError(service: string): Promise<string> {
  try {
    return await healthCheck(address, service);
  } catch (err) {
    return `error: ${(err as Error).message}`;
  }
}

beforeAll(async () => {
  dataDir = tmpDir('mb-query-introspection-');
  brokerPort = await freePort();
  const grpcPort = await freePort();
  const restPort = await freePort();
  address = `127.0.0.1:${grpcPort}`;
  // No broker on brokerPort yet: the process serves at once and keeps trying to consume.
  query = spawnTsx('events/query/main.ts', [
    '--config',
    GATEWAY_CONFIG,
    '--brokers',
    `127.0.0.1:${brokerPort}`,
    '--data-dir',
    path.join(dataDir, 'query'),
    '--rest',
    `127.0.0.1:${restPort}`,
    '--grpc',
    address,
  ]);
  await waitFor(async () => !(await healthOrError('')).startsWith('error'), 'the query gRPC port', 60_000, 100);
}, 90_000);

afterAll(async () => {
  await kill(query, 'SIGTERM');
  await broker?.close();
  removeTmpDirs();
});

describe('query service gRPC: health and reflection', () => {
  it('health is NOT_SERVING while the read models cannot consume, SERVING once they are ready', async () => {
    expect(await healthCheck(address, '')).toBe('NOT_SERVING');
    expect(await healthCheck(address, QUERY_SERVICE)).toBe('NOT_SERVING');
    broker = await startBroker({ dataDir: path.join(dataDir, 'broker'), port: brokerPort, host: '127.0.0.1' });
    await waitFor(async () => (await healthOrError('')) === 'SERVING', 'health SERVING', 60_000, 100);
    expect(await healthCheck(address, QUERY_SERVICE)).toBe('SERVING');
  }, 90_000);

  for (const version of ['v1', 'v1alpha'] as ReflectionVersion[]) {
    it(`reflection ${version}: every service served, files under their real names, enough for a dynamic client`, async () => {
      expect(await listServices(address, version)).toEqual(
        [
          QUERY_SERVICE,
          'grpc.health.v1.Health',
          'grpc.reflection.v1.ServerReflection',
          'grpc.reflection.v1alpha.ServerReflection',
        ].sort(),
      );
      const fds = await files(address, version, { file_by_filename: 'exchange/v1/query.proto' });
      expect(fds.map((f) => f.name).sort()).toEqual(['exchange/v1/order_entry.proto', 'exchange/v1/query.proto']);
      const queryFile = fds.find((f) => f.name === 'exchange/v1/query.proto')!;
      expect(queryFile.package).toBe('exchange.v1');
      expect(queryFile.dependency).toEqual(['exchange/v1/order_entry.proto']);
      expect(queryFile.service.map((s) => s.name)).toEqual(['QueryService']);
      // Nothing of order_entry.proto is repeated in query.proto.
      expect(queryFile.messageType.map((m) => m.name)).not.toContain('ExecutionReport');
      expect(queryFile.enumType.map((m) => m.name)).not.toContain('Side');

      // By symbol: the file that defines it, with its dependency.
      const bySymbol = await files(address, version, { file_containing_symbol: QUERY_SERVICE });
      expect(bySymbol[0]!.name).toBe('exchange/v1/query.proto');
      const health = await files(address, version, { file_containing_symbol: 'grpc.health.v1.Health' });
      expect(health.map((f) => f.name)).toEqual(['grpc/health/v1/health.proto']);
      // protoc's name for the map entry (strict clients refuse another).
      const list = health[0]!.messageType.find((m) => m.name === 'HealthListResponse')!;
      expect(list.nestedType.map((n) => n.name)).toEqual(['StatusesEntry']);

      // A dynamic client decodes and encodes with the reflected files alone.
      const root = rootOf(fds);
      const svc = root.lookupService(QUERY_SERVICE);
      const getOrder = svc.methods.GetOrder!;
      getOrder.resolve();
      expect(getOrder.resolvedRequestType!.fullName).toBe('.exchange.v1.QueryServiceGetOrderRequest');
      expect(getOrder.resolvedResponseType!.fullName).toBe('.exchange.v1.QueryServiceGetOrderResponse');
      const req = root.lookupType('exchange.v1.QueryServiceGetOrderRequest');
      const bytes = req.encode(req.fromObject({ orderId: 7, readAfter: { minSeq: 3 } })).finish();
      // (protobufjs names the fields of a descriptor-built root in camelCase) …which the server's own codec
      // reads back field for field.
      expect(QueryCodec.get().decode('exchange.v1.QueryServiceGetOrderRequest', bytes)).toEqual({
        order_id: 7,
        read_after: { min_seq: 3 },
      });
      const view = root.lookupType('exchange.v1.OrderView');
      expect((view.fields.side!.resolve().resolvedType as protobuf.Enum).values.SIDE_BUY).toBe(1);
    });
  }
});
