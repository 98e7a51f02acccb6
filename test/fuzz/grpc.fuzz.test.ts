// Fuzz of the gRPC order-entry edge (gateway/grpc-server.ts → Gateway) over real HTTP/2
// connections: every unary method with signed request bytes that are byte-mutated valid
// messages, valid messages with well-formed unknown fields, truncated messages, fields of the
// wrong wire type, random bytes, huge repeated fields and oversize messages; OrderSession streams fed the same kind of messages; garbage
// metadata, session options included (cancel-on-disconnect, dead-man's switch: a switch that
// opened must not fire before it is due); and raw HTTP/2 requests (node:http2) with broken gRPC
// message framing.
//
// After every batch: each call ended with OK and a decodable response, or with the status of
// its x-mb-error-code (api/errors.ts ERROR_STATUS) and details `CODE: message` — never
// INTERNAL or UNKNOWN; a valid message with unknown fields is never INVALID_ARGUMENT (they are
// ignored, proto3) and a mass cancel with them succeeds; a session answers every message, in order, and stays open; if every
// answer was a refusal before sequencing, the replica's applied index and state hash did not
// move; account 2's resting orders are untouched; a well-formed place + cancel still works;
// heapUsed does not keep growing.
//
// Reproduce a failure: FUZZ_SEED=<seed> FUZZ_PATH=<path> npx vitest run test/fuzz/grpc.fuzz.test.ts
// (seed and path are printed by fast-check); FUZZ_RUNS_SCALE=10 for a longer run.

import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrderEntryGrpcClient } from '../../gateway/client/grpc-client.js';
import {
  METADATA_ERROR_CODE,
  METADATA_SESSION_NONCE,
  OrderEntryCodec,
  methodPath,
  sessionOptionsFromMetadata,
  sessionTarget,
} from '../../gateway/grpc-server.js';
import { HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, signRequest } from '../../api/signing.js';
import { ALL_REASONS, ERROR_STATUS, ErrorCode, GrpcStatus } from '../../api/errors.js';
import { METADATA_STATUS_DETAILS, decodeStatusDetails, type DecodedStatus } from '../../api/grpc-status.js';
import {
  HeapWatch,
  KEY1,
  KEY2,
  concatBytes,
  fcParams,
  mutationsArb,
  mutate,
  startInProcessExchange,
  type InProcessExchange,
} from './harness.js';

let ex: InProcessExchange;
let client: grpc.Client;
let g1: OrderEntryGrpcClient;
let g2: OrderEntryGrpcClient;
let victimOrders = '';
const victimIds: number[] = [];
const heap = new HeapWatch();
const codec = OrderEntryCodec.get();
let seq = 0;

const MAX_MESSAGE = 4 * 1024 * 1024;
const identity = (b: Buffer): Buffer => b;

beforeAll(async () => {
  ex = await startInProcessExchange();
  client = new grpc.Client(ex.grpcAddress, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
  g1 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: KEY1 });
  g2 = new OrderEntryGrpcClient({ address: ex.grpcAddress, key: KEY2 });
  for (const price of [299_000, 301_000]) {
    const r = await g2.placeOrder({
      client_order_id: `victim-${price}`,
      symbol: 'ETH-USD',
      side: price < 300_000 ? 'BUY' : 'SELL',
      order_type: 'LIMIT',
      price,
      quantity: 50,
    });
    victimIds.push(r.result.reports[0]!.order_id);
  }
  victimOrders = await ordersOf(2);
}, 30_000);

afterAll(async () => {
  client?.close();
  g1?.close();
  g2?.close();
  await ex?.stop();
});

async function ordersOf(account: number): Promise<string> {
  const b = await ex.book();
  return JSON.stringify(b.orders.filter((o) => o.account === account));
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire bytes by hand (wrong wire types, repeated fields, unknown fields)

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  if (v < 0n) v = (1n << 64n) + v;
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

type WireField = { field: number; wire: 0 | 1 | 2 | 5 | 3 | 4 | 6 | 7; value: bigint | Uint8Array };
function encodeFields(fields: readonly WireField[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    parts.push(Uint8Array.from(varint((BigInt(f.field) << 3n) | BigInt(f.wire))));
    if (f.wire === 0) parts.push(Uint8Array.from(varint(f.value instanceof Uint8Array ? f.value.byteLength : f.value)));
    else if (f.wire === 1) parts.push(new Uint8Array(8).fill(0xab));
    else if (f.wire === 5) parts.push(new Uint8Array(4).fill(0xcd));
    else if (f.wire === 2) {
      const b = f.value instanceof Uint8Array ? f.value : new Uint8Array(0);
      parts.push(Uint8Array.from(varint(b.byteLength)), b);
    }
    // 3, 4 (groups) and 6, 7 (invalid): the tag alone
  }
  return concatBytes(parts);
}

const wireFieldArb: fc.Arbitrary<WireField> = fc.record({
  field: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.constantFrom(0, 19_000, 536_870_911)),
  wire: fc.constantFrom(0 as const, 1 as const, 2 as const, 5 as const, 3 as const, 4 as const, 6 as const, 7 as const),
  value: fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.constantFrom(0n, 1n, (1n << 53n) + 1n, (1n << 64n) - 1n),
    fc.uint8Array({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }).map((s) => new Uint8Array(Buffer.from(s))),
  ),
});

// ---------------------------------------------------------------------------------------------
// Inputs

const METHODS = ['PlaceOrder', 'CancelOrder', 'AmendOrder', 'MassCancel', 'GetOrder'] as const;
type Method = (typeof METHODS)[number];

const VALID: Record<Method, Record<string, unknown>> = {
  PlaceOrder: {
    client_order_id: 'fz-1',
    symbol: 'BTC-USD',
    side: 'BUY',
    order_type: 'LIMIT',
    time_in_force: 'GTC',
    price: 4_950_000,
    quantity: 2,
  },
  CancelOrder: { order_id: 999_999 },
  AmendOrder: { order_id: 999_999, quantity: 5 },
  MassCancel: { symbol: 'BTC-USD', side: 'BUY' },
  GetOrder: { order_id: 999_999 },
};
const validBytes = (m: Method): Uint8Array => codec.encode(`${m}Request`, VALID[m]);

type Input = { method: Method; what: string; body: Uint8Array };
function input(method: Method, what: string, body: Uint8Array): Input {
  return {
    method,
    what,
    body,
    [fc.toStringMethod]: () =>
      `${method} ${what}: ${Buffer.from(body.subarray(0, 60)).toString('hex')}${body.byteLength > 60 ? `… (${body.byteLength} bytes)` : ''}`,
  } as Input;
}

const methodArb = fc.constantFrom(...METHODS);
/** A string field repeated n times (a scalar: the last one wins in proto3), then an unknown field of n bytes. */
const REPEATED = [1_000, 20_000, 150_000].map((n) => {
  const one = encodeFields([{ field: 2, wire: 2, value: Buffer.from('BTC-USD') }]);
  return concatBytes([
    Buffer.concat(Array.from({ length: n }, () => one)),
    encodeFields([{ field: 99, wire: 2, value: new Uint8Array(n) }]),
  ]);
});
/** Well-formed fields no request message defines (numbers from 20): what a newer client might add. */
const unknownFieldArb: fc.Arbitrary<WireField> = fc.record({
  field: fc.integer({ min: 20, max: 100_000 }),
  wire: fc.constantFrom(0 as const, 1 as const, 2 as const, 5 as const),
  value: fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.uint8Array({ maxLength: 40 })),
});
/** The `what` of a valid message with unknown fields: ignored (proto3), never a reason to refuse. */
const WITH_UNKNOWN_FIELDS = 'valid + unknown fields';
const unaryArb: fc.Arbitrary<Input> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc
      .tuple(methodArb, fc.array(unknownFieldArb, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([m, fs, before]) =>
        input(
          m,
          WITH_UNKNOWN_FIELDS,
          concatBytes(before ? [encodeFields(fs), validBytes(m)] : [validBytes(m), encodeFields(fs)]),
        ),
      ),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(methodArb, mutationsArb).map(([m, ms]) => input(m, 'mutated', mutate(validBytes(m), ms))),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(methodArb, fc.array(wireFieldArb, { maxLength: 6 }))
      .map(([m, fs]) => input(m, 'wire fields', encodeFields(fs))),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(methodArb, fc.array(wireFieldArb, { maxLength: 3 }))
      .map(([m, fs]) => input(m, 'valid + wire fields', concatBytes([validBytes(m), encodeFields(fs)]))),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(methodArb, fc.nat())
      .map(([m, n]) => input(m, 'truncated', validBytes(m).slice(0, n % Math.max(1, validBytes(m).byteLength)))),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(methodArb, fc.uint8Array({ maxLength: 200 })).map(([m, b]) => input(m, 'random bytes', b)),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(methodArb, fc.constantFrom(...REPEATED))
      .map(([m, body]) => input(m, `a field repeated (${body.byteLength} bytes)`, body)),
  },
);

// ---------------------------------------------------------------------------------------------
// Calls and what an answer may be

interface CallOutcome {
  code: number;
  details: string;
  errorCode: string | undefined;
  /** The decoded grpc-status-details-bin trailer, when there is one. */
  rich?: DecodedStatus | undefined;
  response: Buffer | undefined;
}

function richOf(md: grpc.Metadata | undefined): DecodedStatus | undefined {
  const bin = md?.get(METADATA_STATUS_DETAILS)[0];
  return Buffer.isBuffer(bin) ? decodeStatusDetails(bin) : undefined;
}

function signed(target: string, body: Uint8Array, key = KEY1): grpc.Metadata {
  const a = signRequest(key, target, body);
  const md = new grpc.Metadata();
  md.set(HEADER_API_KEY, a.apiKey);
  md.set(HEADER_TIMESTAMP, a.timestamp);
  md.set(HEADER_SIGNATURE, a.signature);
  return md;
}

function unary(method: Method, body: Uint8Array, md = signed(methodPath(method), body)): Promise<CallOutcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      methodPath(method),
      identity,
      identity,
      Buffer.from(body),
      md,
      { deadline: Date.now() + 10_000 },
      (err, value) => {
        if (err)
          resolve({
            code: err.code,
            details: err.details,
            errorCode: err.metadata?.get(METADATA_ERROR_CODE)[0]?.toString(),
            rich: richOf(err.metadata),
            response: undefined,
          });
        else resolve({ code: grpc.status.OK, details: '', errorCode: undefined, response: value });
      },
    );
  });
}

const PRE_SEQUENCING = new Set<string>([
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.UNAUTHENTICATED,
  ErrorCode.STALE_REQUEST,
  ErrorCode.REPLAYED_REQUEST,
  ErrorCode.PERMISSION_DENIED,
  ErrorCode.RISK_MAX_QTY,
  ErrorCode.RISK_MAX_NOTIONAL,
  ErrorCode.RISK_MAX_OPEN_ORDERS,
  ErrorCode.RISK_PRICE_BAND,
  ErrorCode.ACCOUNT_BLOCKED,
  ErrorCode.RATE_LIMITED,
  ErrorCode.OVERLOADED,
]);

/** Checks one unary outcome; returns whether the call may have changed state. */
function checkUnary(what: string, method: Method, o: CallOutcome, bodyBytes: number): boolean {
  if (bodyBytes > MAX_MESSAGE) {
    // grpc-js refuses it before the gateway sees it.
    expect(o.code, what).toBe(grpc.status.RESOURCE_EXHAUSTED);
    return false;
  }
  if (o.code === grpc.status.OK) {
    const decoded = codec.decode(`${method}Response`, o.response!);
    expect('result' in decoded || 'order' in decoded, what).toBe(true);
    return true;
  }
  expect(o.errorCode, `${what}: status ${o.code} ${o.details} without x-mb-error-code`).toBeDefined();
  const code = o.errorCode!;
  const mapped = (ERROR_STATUS as Record<string, { grpc: number } | undefined>)[code];
  expect(mapped, `${what}: unknown code ${code}`).toBeDefined();
  expect(o.code, `${what}: status of ${code}`).toBe(mapped!.grpc);
  expect(o.details.startsWith(`${code}: `), `${what}: details ${o.details}`).toBe(true);
  // The google.rpc.Status in grpc-status-details-bin says the same, with a documented reason.
  expect(o.rich?.code, `${what}: grpc-status-details-bin`).toBe(o.code);
  expect(o.rich?.metadata?.code, what).toBe(code);
  expect(ALL_REASONS.has(o.rich?.reason ?? ''), `${what}: reason ${o.rich?.reason}`).toBe(true);
  expect([ErrorCode.INTERNAL as string], what).not.toContain(code);
  return !PRE_SEQUENCING.has(code);
}

async function afterBatch(before: { applied: number; stateHash: string }, mayHaveSequenced: boolean): Promise<void> {
  const now = await ex.book();
  if (!mayHaveSequenced) {
    expect(now.applied, 'applied index after refusals only').toBe(before.applied);
    expect(now.stateHash, 'state hash after refusals only').toBe(before.stateHash);
  }
  expect(await ordersOf(2), "account 2's orders").toBe(victimOrders);
  const placed = await g1.placeOrder({
    client_order_id: `ok-${++seq}`,
    symbol: 'BTC-USD',
    side: 'BUY',
    order_type: 'LIMIT',
    price: 4_900_000,
    quantity: 1,
  });
  await g1.cancelOrder({ order_id: placed.result.reports[0]!.order_id });
  await g1.massCancel({});
  expect(ex.fatal).toEqual([]);
  heap.sample();
}

// ---------------------------------------------------------------------------------------------

describe('gRPC fuzz', () => {
  it('unary methods: mutated, truncated, wrong wire types, random bytes, huge repeated fields', async () => {
    heap.sample();
    await fc.assert(
      fc.asyncProperty(fc.array(unaryArb, { minLength: 10, maxLength: 25 }), async (batch) => {
        const before = await ex.book();
        const outcomes = await Promise.all(batch.map((c) => unary(c.method, c.body)));
        let sequenced = false;
        outcomes.forEach((o, k) => {
          const c = batch[k]!;
          sequenced = checkUnary(`${c.method} ${c.what}`, c.method, o, c.body.byteLength) || sequenced;
          if (c.what === WITH_UNKNOWN_FIELDS) {
            // Acts as the valid message alone: never INVALID_ARGUMENT; a mass cancel always succeeds.
            expect(o.errorCode, `${c.method} ${c.what}: ${o.details}`).not.toBe(ErrorCode.INVALID_ARGUMENT);
            if (c.method === 'MassCancel') expect(o.code, `${c.what}: ${o.details}`).toBe(grpc.status.OK);
          }
        });
        await afterBatch(before, sequenced);
      }),
      fcParams(14),
    );
  });

  it('messages over the 4 MiB receive limit: RESOURCE_EXHAUSTED before the gateway', async () => {
    const before = await ex.book();
    for (const size of [MAX_MESSAGE + 1, 6 * 1024 * 1024]) {
      const body = encodeFields([{ field: 99, wire: 2, value: new Uint8Array(size) }]);
      const o = await unary('PlaceOrder', body);
      checkUnary(`${size} bytes`, 'PlaceOrder', o, body.byteLength);
    }
    await afterBatch(before, false);
  });

  it('other accounts’ orders and nonexistent ids: never visible, cancellable or amendable', async () => {
    const idArb = fc.oneof(
      fc.constantFrom(...victimIds),
      fc.constantFrom(0, 1, 2 ** 44, 2 ** 44 * 511 + 1, 2 ** 53 - 1, 999_999_999),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom<Method>('CancelOrder', 'AmendOrder', 'GetOrder'), idArb), {
          minLength: 10,
          maxLength: 20,
        }),
        async (batch) => {
          const before = await ex.book();
          const outcomes = await Promise.all(
            batch.map(([m, id]) => {
              const fields: WireField[] = [{ field: 1, wire: 0, value: BigInt(id) }];
              if (m === 'AmendOrder') fields.push({ field: 4, wire: 0, value: 10n });
              return unary(m, encodeFields(fields));
            }),
          );
          let sequenced = false;
          outcomes.forEach((o, k) => {
            const [m, id] = batch[k]!;
            const what = `${m} ${String(id)}`;
            sequenced = checkUnary(what, m, o, 0) || sequenced;
            // (A small id may be one of account 1's own orders; the same bytes twice in one millisecond are one signed request replayed.)
            if (victimIds.includes(Number(id)))
              expect([ErrorCode.PERMISSION_DENIED, ErrorCode.REPLAYED_REQUEST], what).toContain(o.errorCode);
          });
          await afterBatch(before, sequenced);
        },
      ),
      fcParams(6),
    );
  });

  it('garbage metadata: missing, malformed, other keys, stale, binary', async () => {
    const mdArb = fc.record({
      apiKey: fc.option(
        fc.oneof(fc.constantFrom('', KEY1.key, KEY2.key, 'fuzz-admin'), fc.stringMatching(/^[\x20-\x7e]{0,60}$/)),
        { nil: undefined },
      ),
      timestamp: fc.option(
        fc.oneof(
          fc.constantFrom('', '0', '-1', '1e12', '99999999999999999999', 'NaN'),
          fc.stringMatching(/^[\x20-\x7e]{0,30}$/),
        ),
        { nil: undefined },
      ),
      signature: fc.option(fc.stringMatching(/^[\x20-\x7e]{0,100}$/), { nil: undefined }),
      binary: fc.option(fc.uint8Array({ maxLength: 50 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(mdArb, unaryArb), { minLength: 10, maxLength: 20 }), async (batch) => {
        const before = await ex.book();
        const outcomes = await Promise.all(
          batch.map(([a, c]) => {
            const md = signed(methodPath(c.method), c.body);
            if (a.apiKey !== undefined) md.set(HEADER_API_KEY, a.apiKey);
            if (a.timestamp !== undefined) md.set(HEADER_TIMESTAMP, a.timestamp);
            if (a.signature !== undefined) md.set(HEADER_SIGNATURE, a.signature);
            if (a.binary !== undefined) md.set('x-mb-apikey-bin', Buffer.from(a.binary));
            return unary(c.method, c.body, md);
          }),
        );
        let sequenced = false;
        outcomes.forEach((o, k) => {
          const [a, c] = batch[k]!;
          const what = `${JSON.stringify({ ...a, binary: a.binary?.length })} ${c.method} ${c.what}`;
          sequenced = checkUnary(what, c.method, o, c.body.byteLength) || sequenced;
          if (a.apiKey !== undefined && a.apiKey !== KEY1.key && c.body.byteLength <= MAX_MESSAGE)
            expect([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED], what).toContain(o.code);
        });
        await afterBatch(before, sequenced);
      }),
      fcParams(6),
    );
  });

  it('OrderSession: every message answered in order, the stream stays open', async () => {
    // OrderSessionRequest.commands (2) = SessionCommand { place 1 | cancel 2 | amend 3 | mass_cancel 4 } (5: no such member).
    const member: Record<Method, number> = { PlaceOrder: 1, CancelOrder: 2, AmendOrder: 3, MassCancel: 4, GetOrder: 5 };
    const sessionCommand = (m: Method, body: Uint8Array) =>
      encodeFields([{ field: 2, wire: 2, value: encodeFields([{ field: member[m], wire: 2, value: body }]) }]);
    const messageArb: fc.Arbitrary<Input> = fc.oneof(
      {
        weight: 3,
        arbitrary: unaryArb.map((c) =>
          input(
            c.method,
            `session ${c.what}`,
            concatBytes([encodeFields([{ field: 1, wire: 0, value: 7n }]), sessionCommand(c.method, c.body)]),
          ),
        ),
      },
      { weight: 2, arbitrary: unaryArb.map((c) => input(c.method, `raw ${c.what}`, c.body)) },
      {
        weight: 1,
        arbitrary: fc
          .tuple(fc.constantFrom(1_025, 5_000), methodArb)
          .map(([n, m]) =>
            input(m, `${n} commands`, concatBytes(Array.from({ length: n }, () => sessionCommand(m, validBytes(m))))),
          ),
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(messageArb, { minLength: 10, maxLength: 30 }), async (batch) => {
        const before = await ex.book();
        const nonce = randomBytes(8).toString('hex');
        const md = signed(sessionTarget(nonce), new Uint8Array(0));
        md.set(METADATA_SESSION_NONCE, nonce);
        const call = client.makeBidiStreamRequest<Buffer, Buffer>(
          methodPath('OrderSession'),
          identity,
          identity,
          md,
          {},
        );
        const replies: Record<string, unknown>[] = [];
        const status = new Promise<grpc.StatusObject>((r) => call.on('status', r));
        call.on('error', () => undefined);
        call.on('data', (b: Buffer) => replies.push(codec.decode('OrderSessionResponse', b)));
        for (const c of batch) call.write(Buffer.from(c.body));
        const deadline = Date.now() + 15_000;
        while (replies.length < batch.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
        expect(replies.length, 'one reply per message').toBe(batch.length);
        let sequenced = false;
        replies.forEach((r, k) => {
          const what = String(batch[k]);
          const err = r.error as { code: string; reason: string; message: string } | undefined;
          if (err !== undefined) {
            expect(Object.keys(ERROR_STATUS), what).toContain(err.code);
            expect(ALL_REASONS.has(err.reason), `${what}: reason ${err.reason}`).toBe(true);
            expect(err.code, what).not.toBe(ErrorCode.INTERNAL);
            if (!PRE_SEQUENCING.has(err.code)) sequenced = true;
          }
          for (const o of (r.outcomes ?? []) as { error?: { code: string } }[]) {
            if (o.error === undefined) sequenced = true;
            else {
              expect(o.error.code, what).not.toBe(ErrorCode.INTERNAL);
              if (!PRE_SEQUENCING.has(o.error.code)) sequenced = true;
            }
          }
        });
        call.end();
        const s = await status;
        expect(s.code, s.details).toBe(grpc.status.OK);
        await afterBatch(before, sequenced);
      }),
      fcParams(8),
    );
  });

  // Regression (found by the property below): a dead-man's switch over 2^31 − 1 ms was accepted,
  // and Node runs such a setTimeout after 1 ms — every order of the account was canceled at once.
  it('a dead-man’s switch beyond the largest timer delay is refused INVALID_ARGUMENT', () => {
    const md = (v: string) => {
      const m = new grpc.Metadata();
      m.set('x-mb-dead-man-ms', v);
      return m;
    };
    expect(sessionOptionsFromMetadata(md('2147483647'))).toEqual({
      cancelOnDisconnect: false,
      deadManMs: 2 ** 31 - 1,
      cancelScope: 'ACCOUNT',
    });
    expect(sessionOptionsFromMetadata(md('2147483648'))).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    expect(sessionOptionsFromMetadata(md('2500359144'))).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
  });

  it('OrderSession options metadata (cancel-on-disconnect, dead-man’s switch): opened as asked or refused INVALID_ARGUMENT; no switch fires early', async () => {
    const optArb = fc.record({
      cancel: fc.option(
        fc.oneof(
          fc.constantFrom('true', 'false', '1', '0', '', ' TRUE ', 'yes', '2', 'truee'),
          fc.stringMatching(/^[\x20-\x7e]{0,12}$/),
        ),
        { nil: undefined },
      ),
      deadMan: fc.option(
        fc.oneof(
          fc.constantFrom(
            '0',
            '',
            ' 60000 ',
            '2147483647',
            '2147483648',
            '3000000000',
            '9999999999',
            '99999999999',
            '-1',
            '1e9',
            '0x10',
            '60000.5',
          ),
          fc.integer({ min: 1_000, max: 2 ** 31 - 1 }).map(String),
          fc.integer({ min: 2 ** 31, max: 9_999_999_999 }).map(String),
        ),
        { nil: undefined },
      ),
    });
    await fc.assert(
      fc.asyncProperty(optArb, async (o) => {
        // A resting order of account 1 that a misfiring switch would cancel.
        const placed = await g1.placeOrder({
          client_order_id: `dm-${++seq}`,
          symbol: 'BTC-USD',
          side: 'BUY',
          order_type: 'LIMIT',
          price: 4_900_000,
          quantity: 1,
        });
        const orderId = placed.result.reports[0]!.order_id;
        const nonce = randomBytes(8).toString('hex');
        const md = signed(sessionTarget(nonce), new Uint8Array(0));
        md.set(METADATA_SESSION_NONCE, nonce);
        if (o.cancel !== undefined) md.set('x-mb-cancel-on-disconnect', o.cancel);
        if (o.deadMan !== undefined) md.set('x-mb-dead-man-ms', o.deadMan);
        const call = client.makeBidiStreamRequest<Buffer, Buffer>(
          methodPath('OrderSession'),
          identity,
          identity,
          md,
          {},
        );
        call.on('error', () => undefined);
        const opened = await new Promise<string>((resolve) => {
          call.on('metadata', () => resolve('OPEN'));
          call.on('status', (s: grpc.StatusObject) =>
            resolve(String(s.metadata.get(METADATA_ERROR_CODE)[0] ?? s.code)),
          );
        });
        const what = JSON.stringify(o);
        expect(['OPEN', ErrorCode.INVALID_ARGUMENT], `${what}: ${opened}`).toContain(opened);
        const dm = o.deadMan === undefined || o.deadMan.trim() === '' ? 0 : Number(o.deadMan.trim());
        // Let a misfiring switch fire, then check the order (a switch of ≥ 1 s must not have fired).
        await new Promise((r) => setTimeout(r, 60));
        if (opened === 'OPEN' && (dm === 0 || dm >= 1_000)) {
          const book = await ex.book();
          expect(
            book.orders.some((x) => x.orderId === orderId),
            `${what}: the order was canceled before the switch was due`,
          ).toBe(true);
        }
        call.end();
        await new Promise((r) => setTimeout(r, 10));
        await g1.massCancel({});
      }),
      fcParams(25),
    );
  });

  it('raw HTTP/2: broken gRPC framing, wrong content types, compressed flags; the server keeps serving', async () => {
    const url = `http://${ex.grpcAddress}`;
    const framed = (payload: Uint8Array, flag = 0, declared = payload.byteLength) => {
      const h = Buffer.alloc(5);
      h[0] = flag;
      h.writeUInt32BE(declared >>> 0, 1);
      return concatBytes([h, payload]);
    };
    const caseArb = fc.record({
      path: fc.oneof(
        fc.constantFrom(
          ...METHODS.map(methodPath),
          methodPath('OrderSession'),
          '/exchange.v1.OrderEntryService/Nope',
          '/',
          '/grpc.health.v1.Health/Check',
        ),
        fc.stringMatching(/^\/[A-Za-z0-9./]{0,40}$/),
      ),
      contentType: fc.constantFrom('application/grpc', 'application/grpc+proto', 'application/json', 'text/plain', ''),
      body: fc.oneof(
        fc
          .tuple(methodArb, fc.integer({ min: 0, max: 3 }), fc.integer({ min: -10, max: 10 }))
          .map(([m, flag, delta]) => framed(validBytes(m), flag, Math.max(0, validBytes(m).byteLength + delta))),
        fc.tuple(methodArb, mutationsArb).map(([m, ms]) => mutate(framed(validBytes(m)), ms)),
        fc.uint8Array({ maxLength: 100 }),
        fc.constant(framed(new Uint8Array(0), 0, 0xffff_ffff)),
      ),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(caseArb, { minLength: 5, maxLength: 15 }), async (batch) => {
        const before = await ex.book();
        const session = http2.connect(url);
        session.on('error', () => undefined);
        const results = await Promise.all(
          batch.map(
            (c) =>
              new Promise<string>((resolve) => {
                const headers: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': c.path, te: 'trailers' };
                if (c.contentType !== '') headers['content-type'] = c.contentType;
                for (const [k, v] of Object.entries(signed(c.path, c.body.subarray(5)).getMap()))
                  headers[k] = String(v);
                let req: http2.ClientHttp2Stream;
                try {
                  req = session.request(headers);
                } catch (e) {
                  resolve(`request refused: ${(e as Error).message}`);
                  return;
                }
                let grpcStatus: string | undefined;
                const timer = setTimeout(() => {
                  req.close();
                  resolve('timeout');
                }, 3_000);
                req.on('response', (h) => {
                  if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
                });
                req.on('trailers', (h) => {
                  if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
                });
                req.on('data', () => undefined);
                req.on('error', () => undefined);
                req.on('close', () => {
                  clearTimeout(timer);
                  resolve(grpcStatus !== undefined ? `grpc-status ${grpcStatus}` : `closed ${req.rstCode}`);
                });
                req.end(c.body);
              }),
          ),
        );
        session.close();
        let sequenced = false;
        results.forEach((r, k) => {
          const c = batch[k]!;
          const what = `${c.path} ${c.contentType} ${Buffer.from(c.body.subarray(0, 30)).toString('hex')}: ${r}`;
          // A stream that never ends would be a hang in the server; a session stream legitimately waits for more messages.
          if (r === 'timeout') expect(c.path, what).toBe(methodPath('OrderSession'));
          // Our service never answers INTERNAL to bad input. (grpc.health.v1, a library service, answers a
          // request it cannot parse with INTERNAL, as grpc-js does for any failed deserialization.)
          if (c.path.startsWith('/exchange.')) expect(r, what).not.toBe(`grpc-status ${GrpcStatus.INTERNAL}`);
          // OK, NOT_FOUND (the engine's) and FAILED_PRECONDITION (ORDER_REJECTED) may come from a sequenced command.
          if (['grpc-status 0', 'grpc-status 5', 'grpc-status 9'].includes(r)) sequenced = true;
        });
        // A raw request may well be a valid one (it is signed): then it may have been sequenced.
        await afterBatch(before, sequenced || results.some((r) => r === 'timeout'));
      }),
      fcParams(6),
    );
  });

  it('heap does not grow across batches', () => {
    heap.sample();
    expect(heap.growthBytes(), heap.describe()).toBeLessThan(heap.slackBytes);
  });
});
