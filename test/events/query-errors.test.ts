// The query service's errors over its real REST and gRPC servers (empty read models, no broker):
// the same shapes as order entry — REST {code, reason, message, order_id?, field?,
// retry_after_ms?}; gRPC status with x-mb-error-code / x-mb-error-reason and a
// grpc-status-details-bin google.rpc.Status (decoded here with protobufjs from the shipped
// proto/google/rpc/*.proto) — and GET /v1/time (docs/errors.md).

import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryGrpcClient, QueryRestClient } from '../../events/query/client.js';
import { QueryGrpcServer } from '../../events/query/grpc-server.js';
import { QueryRestServer } from '../../events/query/rest-server.js';
import { QueryService, type QueryServiceOptions } from '../../events/query/service.js';
import { NOT_YET_CONSISTENT_RETRY_MS } from '../../events/query/limits.js';
import type { ReadModelLag, ReadModelName } from '../../events/read-models/consumer.js';
import { ReadModels } from '../../events/read-models/model.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';
import { NO_LOG } from '../../ops/log.js';

const KEY = { key: 'q-key-1', hmacSecret: 'q-secret-1' };
const RECEIVE_WINDOW_MS = 5_000;

let rest: QueryRestServer;
let grpcServer: QueryGrpcServer;
let restUrl: string;
let restClient: QueryRestClient;
let grpcClient: QueryGrpcClient;
let rpc: { Status: protobuf.Type; ErrorInfo: protobuf.Type; RetryInfo: protobuf.Type };

beforeAll(async () => {
  const model = new ReadModels();
  const lag = {} as Record<ReadModelName, ReadModelLag>;
  const config = {
    accounts: [{ account: 1, apiKeys: [KEY] }],
    adminKeys: [],
    receiveWindowMs: RECEIVE_WINDOW_MS,
    shards: [{ id: 0, instruments: [] }], // no instrument: no `_decimal` strings (decimal-strings-e2e.test.ts)
  } as unknown as QueryServiceOptions['config'];
  const service = new QueryService({ config, source: { model, lag: () => lag } });
  rest = new QueryRestServer({ service, host: '127.0.0.1', port: 0, log: NO_LOG });
  grpcServer = new QueryGrpcServer({ service, host: '127.0.0.1', port: 0, log: NO_LOG });
  restUrl = `http://127.0.0.1:${await rest.start()}`;
  restClient = new QueryRestClient(restUrl, KEY);
  grpcClient = new QueryGrpcClient(`127.0.0.1:${await grpcServer.start()}`, KEY);
  const root = new protobuf.Root();
  root.loadSync(
    [
      path.join(REPO_ROOT, 'proto/google/rpc/status.proto'),
      path.join(REPO_ROOT, 'proto/google/rpc/error_details.proto'),
    ],
    { keepCase: true },
  );
  root.resolveAll();
  rpc = {
    Status: root.lookupType('google.rpc.Status'),
    ErrorInfo: root.lookupType('google.rpc.ErrorInfo'),
    RetryInfo: root.lookupType('google.rpc.RetryInfo'),
  };
});

afterAll(async () => {
  grpcClient?.close();
  await rest?.stop();
  await grpcServer?.stop();
});

async function grpcError(method: string, req: Record<string, unknown>): Promise<grpc.ServiceError> {
  const e = await grpcClient.call(method, req).then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).not.toBeNull();
  return e as grpc.ServiceError;
}

function details(e: grpc.ServiceError): { reason: string; metadata: Record<string, string>; retryDelayMs?: number } {
  const bin = e.metadata.get('grpc-status-details-bin')[0] as Buffer;
  const st = rpc.Status.toObject(rpc.Status.decode(bin), { defaults: true }) as {
    code: number;
    details: { type_url: string; value: Uint8Array }[];
  };
  expect(st.code).toBe(e.code);
  const out: { reason: string; metadata: Record<string, string>; retryDelayMs?: number } = { reason: '', metadata: {} };
  for (const d of st.details) {
    if (d.type_url.endsWith('/google.rpc.ErrorInfo')) {
      const info = rpc.ErrorInfo.toObject(rpc.ErrorInfo.decode(d.value), { defaults: true }) as {
        reason: string;
        domain: string;
        metadata: Record<string, string>;
      };
      expect(info.domain).toBe('matchbook.exchange');
      out.reason = info.reason;
      out.metadata = info.metadata;
    } else if (d.type_url.endsWith('/google.rpc.RetryInfo')) {
      const r = rpc.RetryInfo.toObject(rpc.RetryInfo.decode(d.value), { longs: Number, defaults: true }) as {
        retry_delay: { seconds: number; nanos: number };
      };
      out.retryDelayMs = r.retry_delay.seconds * 1000 + r.retry_delay.nanos / 1e6;
    }
  }
  return out;
}

describe('query service errors', () => {
  it('REST: {code, reason, message} with order_id / field / retry_after_ms; 404 and 405 of the edge too', async () => {
    expect(await restClient.get('/v1/accounts/2/orders')).toMatchObject({
      status: 403,
      body: { code: 'PERMISSION_DENIED', reason: 'ACCOUNT_OF_ANOTHER_KEY' },
    });
    expect(await restClient.get('/v1/orders/5')).toMatchObject({
      status: 404,
      body: { code: 'NOT_FOUND', reason: 'ORDER_NOT_FOUND', order_id: 5 },
    });
    expect(await restClient.get('/v1/accounts/1/orders?state=bogus')).toMatchObject({
      status: 400,
      body: { code: 'INVALID_ARGUMENT', reason: 'INVALID_ENUM_VALUE', field: 'state' },
    });
    const late = await restClient.get('/v1/accounts/1/orders?min_seq=10&wait_ms=1');
    expect(late).toMatchObject({
      status: 503,
      body: { code: 'NOT_YET_CONSISTENT', reason: 'READ_AFTER_WAIT', retry_after_ms: NOT_YET_CONSISTENT_RETRY_MS },
    });
    expect(late.headers.get('retry-after')).toBe('1');
    const post = await fetch(`${restUrl}/v1/orders/5`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(await post.json()).toMatchObject({ code: 'METHOD_NOT_ALLOWED', reason: 'METHOD_NOT_ALLOWED' });
    const none = await fetch(`${restUrl}/v1/nothing/here`);
    expect(none.status).toBe(404);
    expect(await none.json()).toMatchObject({ code: 'NOT_FOUND', reason: 'ROUTE_NOT_FOUND' });
    const unsigned = await fetch(`${restUrl}/v1/orders/5`);
    expect(await unsigned.json()).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'AUTH_HEADERS_MISSING' });
  });

  it('gRPC: trailers and a google.rpc.Status with ErrorInfo, and RetryInfo for NOT_YET_CONSISTENT', async () => {
    const nf = await grpcError('GetOrder', { order_id: 5 });
    expect(nf.metadata.get('x-mb-error-code')).toEqual(['NOT_FOUND']);
    expect(nf.metadata.get('x-mb-error-reason')).toEqual(['ORDER_NOT_FOUND']);
    expect(details(nf)).toEqual({ reason: 'ORDER_NOT_FOUND', metadata: { code: 'NOT_FOUND', order_id: '5' } });
    const late = await grpcError('GetOrders', { account: 1, read_after: { min_seq: 10, wait_ms: 1 } });
    expect(details(late)).toEqual({
      reason: 'READ_AFTER_WAIT',
      metadata: { code: 'NOT_YET_CONSISTENT', retry_after_ms: String(NOT_YET_CONSISTENT_RETRY_MS) },
      retryDelayMs: NOT_YET_CONSISTENT_RETRY_MS,
    });
  });

  it('GET /v1/time: the clock and the receive window, without auth', async () => {
    const before = Date.now();
    const res = await fetch(`${restUrl}/v1/time`);
    const t = (await res.json()) as { server_time_ms: number; receive_window_ms: number };
    expect(res.status).toBe(200);
    expect(t.receive_window_ms).toBe(RECEIVE_WINDOW_MS);
    expect(t.server_time_ms).toBeGreaterThanOrEqual(before);
    expect(t.server_time_ms).toBeLessThanOrEqual(Date.now());
  });
});
