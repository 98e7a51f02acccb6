// A command the engine refuses after sequencing (ORDER_REJECTED, NOT_FOUND with a seq) still
// sends its reports to the client that sent it (issue 18, "reject"): they are chained and signed
// like any report, so a client that never got them saw gaps in its own chain_seq and never had
// the signed REJECTED report FIX clients expect. Over real sockets (one replica and the real
// gateway with its REST and gRPC servers, test/fuzz/harness.ts):
//   - REST: the error body carries `result` {seq, log_index, shard, reports};
//   - gRPC unary: google.rpc.Status.details carry, after ErrorInfo, an exchange.v1.OrderResult
//     (decoded here with protobufjs from the shipped .proto files, not with the project's client);
//   - OrderSession: outcomes[i].error.result;
//   - every report verifies (HMAC with the account's secret over api/report-canonical.ts's form,
//     hash link from the previous report) and a client's own reports, rejects in the middle, have
//     consecutive chain_seq.

import { createHash, createHmac } from 'node:crypto';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalReport } from '../../api/report-canonical.js';
import { ErrorCode, gatewayError } from '../../api/errors.js';
import type { ExecutionReportOut } from '../../api/execution-report.js';
import { OrderEntryRestClient } from '../../gateway/client/rest-client.js';
import { OrderEntryError, OrderEntryGrpcClient } from '../../gateway/client/grpc-client.js';
import { errorToStatus } from '../../gateway/grpc-server.js';
import { STATUS_DETAILS_RESULT_BYTES_MAX } from '../../gateway/limits.js';
import { REPO_ROOT } from '../../replicator/process-cluster.js';
import { KEY1, startInProcessExchange, type InProcessExchange } from '../fuzz/harness.js';

const TYPE_URL_ERROR_INFO = 'type.googleapis.com/google.rpc.ErrorInfo';
const TYPE_URL_ORDER_RESULT = 'type.googleapis.com/exchange.v1.OrderResult';

type Report = ExecutionReportOut;
interface Result {
  seq: number;
  log_index: number;
  shard: number;
  reports: Report[];
}

let ex: InProcessExchange;
let rest: OrderEntryRestClient;
let grpcClient: OrderEntryGrpcClient;
let n = 0;
const cid = (p: string) => `rej-${p}-${++n}`;

/** google.rpc.Status, ErrorInfo and exchange.v1.OrderResult from the shipped .proto files. */
let protos: { Status: protobuf.Type; ErrorInfo: protobuf.Type; OrderResult: protobuf.Type };

beforeAll(async () => {
  ex = await startInProcessExchange();
  rest = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: KEY1 });
  grpcClient = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: KEY1 });
  const root = new protobuf.Root();
  root.loadSync(
    ['google/rpc/status.proto', 'google/rpc/error_details.proto', 'exchange/v1/order_entry.proto'].map((f) =>
      path.join(REPO_ROOT, 'proto', f),
    ),
    { keepCase: true },
  );
  root.resolveAll();
  protos = {
    Status: root.lookupType('google.rpc.Status'),
    ErrorInfo: root.lookupType('google.rpc.ErrorInfo'),
    OrderResult: root.lookupType('exchange.v1.OrderResult'),
  };
}, 60_000);

afterAll(async () => {
  grpcClient?.close();
  await ex?.stop();
}, 60_000);

const limitBuy = (clientOrderId: string) => ({
  client_order_id: clientOrderId,
  symbol: 'BTC-USD',
  side: 'BUY',
  order_type: 'LIMIT',
  time_in_force: 'GTC',
  price: 4_990_000,
  quantity: 10,
});

/** docs/report-signatures.md §3: hex HMAC-SHA256 of the canonical form under the API secret. */
function hmacOk(r: Report): boolean {
  return createHmac('sha256', KEY1.hmacSecret).update(canonicalReport(r)).digest('hex') === r.signature;
}

/** §2: chain_hash(n) = hex SHA-256(chain_hash(n-1) + "\n" + canonical(report n)). */
function linksFrom(previous: Report, r: Report): boolean {
  const hash = createHash('sha256')
    .update(`${previous.chain_hash}\n${canonicalReport(r)}`)
    .digest('hex');
  return r.chain_seq === previous.chain_seq + 1 && r.chain_hash === hash;
}

/** Every report HMAC-signed, each linked to the one before: consecutive chain_seq, no gap. */
function expectUnbrokenChain(reports: Report[]): void {
  expect(reports.length).toBeGreaterThan(1);
  for (const [k, r] of reports.entries()) {
    expect(hmacOk(r), `report ${k} (${r.exec_type}) HMAC`).toBe(true);
    if (k > 0)
      expect(linksFrom(reports[k - 1]!, r), `report ${k} (${r.exec_type}, chain_seq ${r.chain_seq})`).toBe(true);
  }
}

/** A report of the project's gRPC client as the REST JSON writes it: it decodes a zero enum as UNSPECIFIED, the canonical form has ''. */
function unspecifiedAsEmpty(r: Report): Report {
  const out: Record<string, unknown> = { ...r };
  for (const [k, v] of Object.entries(out)) if (v === 'UNSPECIFIED') out[k] = '';
  return out as unknown as Report;
}

/** A report decoded from protobuf as the REST JSON writes it: enums without their prefix, '' at zero. */
function reportFromProto(type: protobuf.Type, obj: Record<string, unknown>): Report {
  const out: Record<string, unknown> = { ...obj };
  for (const f of type.fieldsArray) {
    const e = f.resolvedType;
    if (!(e instanceof protobuf.Enum)) continue;
    const zero = Object.keys(e.values).find((k) => e.values[k] === 0)!;
    const prefix = zero.slice(0, -'UNSPECIFIED'.length);
    const v = String(out[f.name]);
    out[f.name] = v === zero ? '' : v.slice(prefix.length);
  }
  return out as unknown as Report;
}

/** The google.rpc.Status of a failed call, its details decoded with the shipped protos. */
function statusOf(e: OrderEntryError): {
  typeUrls: string[];
  info: { reason: string; metadata: Record<string, string> };
  result: Result | undefined;
} {
  const bin = e.metadata.get('grpc-status-details-bin')[0];
  expect(Buffer.isBuffer(bin)).toBe(true);
  const st = protos.Status.toObject(protos.Status.decode(bin as Buffer), { defaults: true }) as {
    details: { type_url: string; value: Uint8Array }[];
  };
  let info: { reason: string; metadata: Record<string, string> } | undefined;
  let result: Result | undefined;
  for (const d of st.details) {
    if (d.type_url === TYPE_URL_ERROR_INFO)
      info = protos.ErrorInfo.toObject(protos.ErrorInfo.decode(d.value), { defaults: true }) as typeof info;
    if (d.type_url === TYPE_URL_ORDER_RESULT) {
      const o = protos.OrderResult.toObject(protos.OrderResult.decode(d.value), {
        longs: Number,
        enums: String,
        defaults: true,
        arrays: true,
      }) as Result;
      const reportType = protos.OrderResult.lookupType('ExecutionReport');
      result = {
        ...o,
        reports: o.reports.map((r) => reportFromProto(reportType, r as unknown as Record<string, unknown>)),
      };
    }
  }
  expect(info).toBeDefined();
  return { typeUrls: st.details.map((d) => d.type_url), info: info!, result };
}

async function grpcError(p: Promise<unknown>): Promise<OrderEntryError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OrderEntryError);
  return e as OrderEntryError;
}

async function restPlace(clientOrderId: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await rest.placeOrder(limitBuy(clientOrderId));
  return { status: r.status, body: r.body as unknown as Record<string, unknown> };
}

describe('REST: the error body of a command refused after sequencing carries result', () => {
  it('a duplicate client order id: 409 with the REJECTED report, signed and next in the chain', async () => {
    const id = cid('rest');
    const placed = await restPlace(id);
    expect(placed.status).toBe(201);
    const first = (placed.body.result as Result).reports[0]!;
    const book = await ex.book();
    const again = await restPlace(id);
    expect(again.status).toBe(409);
    const body = again.body;
    expect(body).toMatchObject({ code: 'ORDER_REJECTED', reason: 'DUPLICATE_CLIENT_ORDER_ID' });
    const seq = body.seq as number;
    expect(body.order_id).toBe(seq);
    const result = body.result as Result;
    expect(result).toMatchObject({ seq, shard: 0 });
    expect(result.log_index).toBeGreaterThan((placed.body.result as Result).log_index);
    expect(result.reports).toHaveLength(1);
    const rejected = result.reports[0]!;
    expect(rejected).toMatchObject({
      order_id: seq,
      client_order_id: id,
      account: 1,
      exec_type: 'REJECTED',
      order_status: 'REJECTED',
      reason: 'DUPLICATE_CLIENT_ORDER_ID',
      seq,
      // FIX 4.4: the quantity asked for, nothing filled or left.
      order_qty: 10,
      cum_qty: 0,
      leaves_qty: 0,
    });
    expect(hmacOk(rejected)).toBe(true);
    expect(linksFrom(first, rejected)).toBe(true);
    // Nothing changed but the counters: the same live orders.
    expect((await ex.book()).orders).toEqual(book.orders);
  });

  it('a cancel of an order that is not live: 404 with result and no reports (a cancel reject has none)', async () => {
    const gone = await rest.cancelOrder(123_456_789);
    expect(gone.status).toBe(404);
    const body = gone.body as unknown as Record<string, unknown>;
    expect(body).toMatchObject({ code: 'NOT_FOUND', reason: 'ORDER_NOT_FOUND', order_id: 123_456_789 });
    expect(body.result).toEqual({ seq: body.seq, log_index: expect.any(Number), shard: 0, reports: [] });
  });

  it('a refusal before sequencing carries no result', async () => {
    const bad = await rest.placeOrder({ ...limitBuy(cid('bad')), quantity: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body).not.toHaveProperty('result');
    expect(bad.body).not.toHaveProperty('seq');
  });
});

describe('gRPC: the status details of a command refused after sequencing carry an OrderResult', () => {
  it('a duplicate client order id: ErrorInfo, then OrderResult with the REJECTED report, signed and next in the chain', async () => {
    const id = cid('grpc');
    const placed = await grpcClient.placeOrder(limitBuy(id) as never);
    const first = unspecifiedAsEmpty(placed.result.reports[0]!);
    const e = await grpcError(grpcClient.placeOrder(limitBuy(id) as never));
    expect(e.code).toBe(grpc.status.FAILED_PRECONDITION);
    const st = statusOf(e);
    expect(st.typeUrls).toEqual([TYPE_URL_ERROR_INFO, TYPE_URL_ORDER_RESULT]);
    expect(st.info.reason).toBe('DUPLICATE_CLIENT_ORDER_ID');
    const seq = Number(st.info.metadata.seq);
    expect(st.result).toMatchObject({ seq, shard: 0 });
    expect(st.result!.log_index).toBeGreaterThan(placed.result.log_index);
    expect(st.result!.reports).toHaveLength(1);
    const rejected = st.result!.reports[0]!;
    expect(rejected).toMatchObject({
      order_id: seq,
      client_order_id: id,
      exec_type: 'REJECTED',
      order_status: 'REJECTED',
      reason: 'DUPLICATE_CLIENT_ORDER_ID',
      last_liquidity_ind: '',
      order_qty: 10,
    });
    expect(hmacOk(rejected)).toBe(true);
    expect(linksFrom(first, rejected)).toBe(true);
    // The project's client decodes the same.
    expect(e.result?.reports.map(unspecifiedAsEmpty)).toEqual([rejected]);
  });

  it('a cancel of an order that is not live: an OrderResult with its seq and no reports', async () => {
    const e = await grpcError(grpcClient.cancelOrder({ order_id: 987_654_321 }));
    expect(e.code).toBe(grpc.status.NOT_FOUND);
    const st = statusOf(e);
    expect(st.typeUrls).toEqual([TYPE_URL_ERROR_INFO, TYPE_URL_ORDER_RESULT]);
    expect(st.result).toMatchObject({ seq: Number(st.info.metadata.seq), shard: 0, reports: [] });
  });

  it('a refusal before sequencing has ErrorInfo only', async () => {
    const e = await grpcError(grpcClient.placeOrder({ ...limitBuy(cid('bad')), quantity: 0 } as never));
    expect(statusOf(e).typeUrls).toEqual([TYPE_URL_ERROR_INFO]);
    expect(e.result).toBeUndefined();
  });
});

describe('OrderSession: a refused command of a batch has its reports in outcomes[i].error.result', () => {
  it('place, duplicate, cancel of an unknown order, place: every report received, chained without a gap', async () => {
    const s = grpcClient.openSession();
    try {
      await s.ready;
      const id = cid('session');
      const reply = await s.send({
        request_id: 1,
        commands: [
          { place: limitBuy(id) },
          { place: limitBuy(id) },
          { cancel: { order_id: 55_555_555 } },
          { place: limitBuy(cid('session')) },
        ],
      });
      const [placed, duplicate, cancel, next] = reply.outcomes;
      const dupError = duplicate!.error!;
      expect(dupError).toMatchObject({ code: 'ORDER_REJECTED', reason: 'DUPLICATE_CLIENT_ORDER_ID' });
      expect(dupError.result).toMatchObject({ seq: dupError.seq, shard: 0 });
      expect(dupError.result!.reports).toMatchObject([
        { order_id: dupError.seq, client_order_id: id, exec_type: 'REJECTED', order_status: 'REJECTED' },
      ]);
      expect(cancel!.error).toMatchObject({ code: 'NOT_FOUND', reason: 'ORDER_NOT_FOUND' });
      expect(cancel!.error!.result).toMatchObject({ seq: cancel!.error!.seq, shard: 0, reports: [] });
      expectUnbrokenChain(
        [
          ...placed!.result!.reports,
          ...dupError.result!.reports,
          ...cancel!.error!.result!.reports,
          ...next!.result!.reports,
        ].map(unspecifiedAsEmpty),
      );
    } finally {
      await s.close();
    }
  });
});

describe("a client's own reports", () => {
  it('have consecutive chain_seq over a sequence with rejects in the middle, REST and gRPC', async () => {
    const received: Report[] = [];
    const id = cid('seq');
    const take = (r: { result?: Result } | undefined) =>
      received.push(...(r?.result?.reports ?? []).map(unspecifiedAsEmpty));
    const placed = await restPlace(id);
    take(placed.body as { result: Result });
    take((await restPlace(id)).body as { result: Result }); // duplicate: 409
    const orderId = (placed.body.result as Result).reports[0]!.order_id;
    take((await rest.amendOrder(orderId, { quantity: 5 })).body as { result: Result });
    const dup = await grpcError(grpcClient.placeOrder(limitBuy(id) as never)); // duplicate over gRPC
    received.push(...(statusOf(dup).result?.reports ?? []));
    take(await grpcClient.placeOrder(limitBuy(cid('seq')) as never));
    take((await rest.cancelOrder(orderId)).body as { result: Result });
    expect(received.map((r) => r.exec_type)).toEqual(['NEW', 'REJECTED', 'REPLACED', 'REJECTED', 'NEW', 'CANCELED']);
    expectUnbrokenChain(received);
  });
});

describe('STATUS_DETAILS_RESULT_BYTES_MAX', () => {
  const report = (k: number): Report =>
    ({
      exec_id: k + 1,
      order_id: k + 1,
      client_order_id: `c-${k}`.padEnd(36, 'x'),
      account: 1,
      symbol: 'BTC-USD',
      exec_type: 'CANCELED',
      order_status: 'CANCELED',
      chain_seq: k + 1,
      chain_hash: 'a'.repeat(64),
      signature: 'b'.repeat(64),
    }) as unknown as Report;
  const refused = (reports: number) => ({
    ...gatewayError(ErrorCode.ORDER_REJECTED, 'INVALID_ACCOUNT', 'command rejected', { seq: 9 }),
    result: { seq: 9, log_index: 9, shard: 0, reports: Array.from({ length: reports }, (_, k) => report(k)) },
  });
  const typeUrls = (s: grpc.StatusObject) =>
    (
      protos.Status.toObject(protos.Status.decode(s.metadata.get('grpc-status-details-bin')[0] as Buffer), {
        defaults: true,
      }) as { details: { type_url: string }[] }
    ).details.map((d) => d.type_url);

  it('an OrderResult within the limit is packed; one over it is left out, ErrorInfo kept', () => {
    const perReport = 64 + 64 + 36; // bytes of one encoded report here at least: its two hashes and its client order id
    expect(typeUrls(errorToStatus(refused(2)))).toEqual([TYPE_URL_ERROR_INFO, TYPE_URL_ORDER_RESULT]);
    const over = errorToStatus(refused(Math.ceil(STATUS_DETAILS_RESULT_BYTES_MAX / perReport) + 1));
    expect(typeUrls(over)).toEqual([TYPE_URL_ERROR_INFO]);
    expect(over.metadata.get('x-mb-error-reason')).toEqual(['INVALID_ACCOUNT']);
  });
});
