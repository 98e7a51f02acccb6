// The AsyncAPI document (docs/asyncapi.yaml) checked against the running servers over real
// sockets: a local exchange (three replica processes with market-data feeds, the in-process
// gateway with the private user stream).
//
// - Market data: a raw WebSocket subscribes to every channel, orders through the gateway make
//   every channel send a snapshot and an update (l3: add, modify, remove, execute; status: a
//   reference price), then ping, unsubscribe and bad requests; every message received is
//   validated against the payload schema of the document's message of its kind (the channel for
//   data messages, the type otherwise) with ajv; the requests sent (the valid ones) against the
//   request schemas. Every documented kind is seen; `resync` (it needs a lagging connection or a
//   snapshot install) on the feed server of test/feed/harness.ts after a state reset.
// - User stream: login, ping, an error after login, reports, a resume with RESUME_GAP, a refused
//   first message; every message validated the same way.
// - Drift: the documents' message names equal what the code can send (feed/types.ts CHANNELS,
//   CONTROL_MESSAGE_TYPES, FEED_REQUEST_OPS, FeedErrorCode; gateway USER_STREAM_MESSAGE_TYPES), the
//   close codes equal FeedCloseCode and UserStreamCloseCode, and the stream's report fields equal
//   openapi.yaml's ExecutionReport.
// The document itself is checked against the official AsyncAPI 3.0 JSON Schema (@asyncapi/specs).
// Every wait polls with a generous bound; nothing depends on timing.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { signRequest } from '../../api/signing.js';
import { WsConnection } from '../../feed/client/ws-connection.js';
import { CHANNELS, CONTROL_MESSAGE_TYPES, FEED_REQUEST_OPS, FeedCloseCode, FeedErrorCode } from '../../feed/types.js';
import { OrderEntryRestClient, type RestClientKey } from '../../gateway/client/rest-client.js';
import { USER_STREAM_MESSAGE_TYPES, UserStreamCloseCode } from '../../gateway/user-stream-server.js';
import { startLocalExchange, type LocalExchange } from '../../processes/local-exchange.js';
import { wideFlowConfig } from '../feed/flow.js';
import { startFeedHarness } from '../feed/harness.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const K1 = { key: 'demo-key-1', hmacSecret: 'demo-secret-1-change-me' };
const K2 = { key: 'demo-key-2', hmacSecret: 'demo-secret-2-change-me' };
const ADMIN = { key: 'demo-admin', hmacSecret: 'demo-admin-secret-change-me' };
/** Bound on every wait (ms): generous for a loaded 2-core machine. */
const WAIT_MS = 90_000;
/** The gateway's ring per account: small, so that a resume can fall out of it cheaply. */
const HELD = 8;
const SYMBOL = 'BTC-USD';

type Json = Record<string, unknown>;
type Msg = Json & { type: string };
interface Doc {
  channels: Record<string, { messages: Record<string, Json>; 'x-close-codes': Record<string, string> }>;
  operations: Record<string, { action: 'send' | 'receive'; channel: { $ref: string }; messages: { $ref: string }[] }>;
  components: { messages: Record<string, { name: string; payload: { $ref: string } }>; schemas: Record<string, Json> };
}

const ASYNC_ID = 'https://matchbook.invalid/docs/asyncapi.yaml';
const OPENAPI_ID = 'https://matchbook.invalid/docs/openapi.yaml';
const doc = parseYaml(readFileSync(path.join(REPO_ROOT, 'docs/asyncapi.yaml'), 'utf8')) as Doc;
const openapi = parseYaml(readFileSync(path.join(REPO_ROOT, 'docs/openapi.yaml'), 'utf8')) as {
  components: { schemas: Record<string, Json> };
};
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(openapi as unknown as Json, OPENAPI_ID);
ajv.addSchema(doc as unknown as Json, ASYNC_ID);
const validators = new Map<string, ReturnType<typeof ajv.compile>>();

/** `#/a/b/c` of the AsyncAPI document, resolved. */
function at<T>(ref: string): T {
  let v: unknown = doc;
  for (const p of ref.slice(2).split('/')) v = (v as Json)[p];
  return v as T;
}

/** The messages (name → payload $ref) of the operation with `action` on `channel`. */
function messagesOf(channel: string, action: 'send' | 'receive'): Map<string, string> {
  const out = new Map<string, string>();
  for (const op of Object.values(doc.operations)) {
    if (op.action !== action || op.channel.$ref !== `#/channels/${channel}`) continue;
    for (const m of op.messages) {
      const msg = at<{ $ref: string }>(m.$ref);
      const def = at<{ name: string; payload: { $ref: string } }>(msg.$ref);
      expect(out.has(def.name), `${channel} ${action}: message name ${def.name} once`).toBe(false);
      out.set(def.name, def.payload.$ref);
    }
  }
  return out;
}

const FEED_SENDS = messagesOf('marketData', 'send');
const FEED_RECEIVES = messagesOf('marketData', 'receive');
const USER_SENDS = messagesOf('userStream', 'send');
const USER_RECEIVES = messagesOf('userStream', 'receive');

/** Validates `value` against the payload of message `name` (in `messages`); returns the errors or undefined. */
function validate(messages: Map<string, string>, name: string, value: unknown): string | undefined {
  const ref = messages.get(name);
  if (ref === undefined) return `no documented message named ${name}`;
  let v = validators.get(ref);
  if (v === undefined) {
    v = ajv.compile({ $ref: `${ASYNC_ID}${ref}` });
    validators.set(ref, v);
  }
  return v(value) ? undefined : ajv.errorsText(v.errors, { separator: '\n' });
}

/** A data message's kind is its channel; a control message's its type. */
function feedKind(m: Msg): string {
  return m.type === 'snapshot' || m.type === 'update' ? (m.channel as string) : m.type;
}

async function poll<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A raw WebSocket recording every (JSON) message and its close. */
class Socket {
  readonly msgs: Msg[] = [];
  closed: { code: number } | undefined;
  private constructor(readonly ws: WsConnection) {}

  static async open(url: string): Promise<Socket> {
    const holder: { s?: Socket; early: Msg[]; closed?: { code: number } } = { early: [] };
    const ws = await WsConnection.connect(url, {
      onMessage: (d) => (holder.s?.msgs ?? holder.early).push(JSON.parse(d.toString('utf8')) as Msg),
      onClose: (code) => {
        if (holder.s !== undefined) holder.s.closed = { code };
        else holder.closed = { code };
      },
    });
    const s = new Socket(ws);
    s.msgs.push(...holder.early);
    s.closed = holder.closed;
    holder.s = s;
    sockets.push(s);
    return s;
  }

  /** Sends a request; `receives` (the documented requests) validates it first unless it is meant to be wrong. */
  send(req: unknown, receives?: Map<string, string>): void {
    if (receives !== undefined) {
      const op = (req as { op: string }).op;
      expect(validate(receives, op, req), `request ${JSON.stringify(req)}`).toBeUndefined();
    }
    this.ws.send(typeof req === 'string' ? req : JSON.stringify(req));
  }

  next(what: string, pred: (m: Msg) => boolean): Promise<Msg> {
    return poll(what, () => this.msgs.find(pred));
  }
}

const sockets: Socket[] = [];
let ex: LocalExchange;
let rest1: OrderEntryRestClient;
let rest2: OrderEntryRestClient;
let admin: OrderEntryRestClient;
let n = 0;

beforeAll(async () => {
  ex = await startLocalExchange({ feed: true, userStreamReportsHeldMax: HELD });
  rest1 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K1 });
  rest2 = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: K2 });
  admin = new OrderEntryRestClient({ baseUrl: ex.restUrl, key: ADMIN });
}, 120_000);

afterAll(async () => {
  for (const s of sockets) s.ws.destroy();
  await ex?.stop();
}, 60_000);

async function place(client: OrderEntryRestClient, side: string, price: number, quantity: number, tif = 'GTC') {
  const r = await client.placeOrder({
    client_order_id: `aa-${++n}`,
    symbol: SYMBOL,
    side,
    order_type: 'LIMIT',
    time_in_force: tif,
    price,
    quantity,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (r.body as { result: { reports: { order_id: number }[] } }).result.reports[0]!.order_id;
}

describe('docs/asyncapi.yaml equals what the code can send', () => {
  it('is a valid AsyncAPI 3.0 document (the official JSON Schema of @asyncapi/specs)', () => {
    const file = path.join(REPO_ROOT, 'node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json');
    const draft07 = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const valid = draft07.compile(JSON.parse(readFileSync(file, 'utf8')) as Json);
    expect(valid(doc), draft07.errorsText(valid.errors, { separator: '\n' })).toBe(true);
  });

  it('lists every message kind, request, channel, error code and close code of the feed', () => {
    expect(new Set(FEED_SENDS.keys())).toEqual(new Set([...CHANNELS, ...Object.keys(CONTROL_MESSAGE_TYPES)]));
    expect(new Set(FEED_RECEIVES.keys())).toEqual(new Set(Object.keys(FEED_REQUEST_OPS)));
    expect(new Set(doc.components.schemas.Channel!.enum as string[])).toEqual(new Set(CHANNELS));
    expect(new Set(doc.components.schemas.FeedErrorCode!.enum as string[])).toEqual(
      new Set(Object.values(FeedErrorCode)),
    );
    const closeCodes = Object.keys(doc.channels.marketData!['x-close-codes']).map(Number);
    expect(new Set(closeCodes)).toEqual(new Set(Object.values(FeedCloseCode)));
  });

  it("lists every message type and close code of the user stream; its report has openapi.yaml's fields", () => {
    expect(new Set(USER_SENDS.keys())).toEqual(new Set(USER_STREAM_MESSAGE_TYPES));
    expect(new Set(USER_RECEIVES.keys())).toEqual(new Set(['login', 'ping']));
    const closeCodes = Object.keys(doc.channels.userStream!['x-close-codes']).map(Number);
    expect(new Set(closeCodes)).toEqual(new Set(Object.values(UserStreamCloseCode)));
    const rest = openapi.components.schemas.ExecutionReport!;
    const stream = doc.components.schemas.StreamExecutionReport!;
    expect(Object.keys(stream.properties as Json).sort()).toEqual(Object.keys(rest.properties as Json).sort());
    expect([...(stream.required as string[])].sort()).toEqual([...(rest.required as string[])].sort());
  });
});

describe('the market-data feed, validated against docs/asyncapi.yaml', () => {
  it('sends only documented messages: every channel (snapshot and update) and every reply', async () => {
    const feed = await Socket.open(ex.feedUrls.values().next().value!);
    feed.send({ op: 'subscribe', id: 1, channels: [...CHANNELS], symbols: [SYMBOL] }, FEED_RECEIVES);
    await feed.next('subscribed', (m) => m.type === 'subscribed');
    for (const ch of CHANNELS) await feed.next(`${ch} snapshot`, (m) => m.type === 'snapshot' && m.channel === ch);
    // l3 add, modify (amend down), remove (cancel), execute (a cross); trades, candles, l1, l2.
    const bid = await place(rest1, 'BUY', 4_990_000, 10);
    const gone = await place(rest1, 'BUY', 4_980_000, 5);
    expect((await rest1.amendOrder(bid, { quantity: 8 })).status).toBe(200);
    expect((await rest1.cancelOrder(gone)).status).toBe(200);
    await place(rest2, 'SELL', 4_990_000, 3, 'IOC');
    expect((await admin.admin('reference-price', { symbol: SYMBOL, price: 5_000_000 })).status).toBe(200);
    const l3ops = () =>
      new Set(
        feed.msgs
          .filter((m) => m.channel === 'l3' && m.type === 'update')
          .flatMap((m) => (m.events as { op: string }[]).map((e) => e.op)),
      );
    await poll('l3 add, modify, remove and execute', () => l3ops().size === 4);
    for (const ch of CHANNELS) await feed.next(`${ch} update`, (m) => m.type === 'update' && m.channel === ch);
    feed.send({ op: 'ping', id: 2 }, FEED_RECEIVES);
    await feed.next('pong', (m) => m.type === 'pong' && m.id === 2);
    feed.send({ op: 'unsubscribe', id: 3, channels: ['status'], symbols: [SYMBOL] }, FEED_RECEIVES);
    await feed.next('unsubscribed', (m) => m.type === 'unsubscribed' && m.id === 3);
    // Bad requests: each is an error reply with its code, the connection stays open.
    feed.send('not json');
    feed.send({ op: 'nope', id: 4 });
    feed.send({ op: 'subscribe', id: 5, channels: ['l9'], symbols: [SYMBOL] });
    feed.send({ op: 'subscribe', id: 6, channels: ['l2'], symbols: ['NOPE-USD'] });
    feed.send({ op: 'subscribe', id: 7, channels: ['l2'], symbols: [SYMBOL], encoding: 'protobuf' });
    const codes = () => new Set(feed.msgs.filter((m) => m.type === 'error').map((m) => m.code));
    await poll('five error replies', () => codes().size === 5);
    expect(codes()).toEqual(
      new Set(['BAD_REQUEST', 'UNKNOWN_OP', 'UNKNOWN_CHANNEL', 'UNKNOWN_SYMBOL', 'ENCODING_LOCKED']),
    );
    await feed.next('heartbeat', (m) => m.type === 'heartbeat');
    expect(feed.closed).toBeUndefined();

    for (const m of feed.msgs) expect(validate(FEED_SENDS, feedKind(m), m), JSON.stringify(m)).toBeUndefined();
    // The schemas are closed: an undocumented field, or a data message of the wrong channel, fails.
    const l2 = feed.msgs.find((m) => m.channel === 'l2')!;
    expect(validate(FEED_SENDS, 'l2', { ...l2, extra: 1 })).toMatch(/additional properties/);
    expect(validate(FEED_SENDS, 'l1', l2)).toBeDefined();
    const seen = new Set(feed.msgs.map(feedKind));
    expect(new Set([...FEED_SENDS.keys()].filter((k) => !seen.has(k)))).toEqual(new Set(['resync']));
  });
});

describe('the resync notice, validated against docs/asyncapi.yaml', () => {
  it("after the feed's state is reset (a snapshot installed), resync then a fresh snapshot, as documented", async () => {
    // The feed server over a real socket, fed in process: the only cheap way to a state reset.
    const h = await startFeedHarness({ seed: 2 });
    try {
      await h.drive(200);
      const symbol = h.engine.config.instruments[0]!.symbol;
      const feed = await Socket.open(h.url);
      feed.send({ op: 'subscribe', id: 1, channels: ['l2', 'l3'], symbols: [symbol] }, FEED_RECEIVES);
      await poll('two snapshots', () => feed.msgs.filter((m) => m.type === 'snapshot').length === 2);
      h.feed.onStateReset(h.engine);
      await poll('two resync notices', () => feed.msgs.filter((m) => m.type === 'resync').length >= 2);
      await poll('two fresh snapshots', () => feed.msgs.filter((m) => m.type === 'snapshot').length >= 4);
      for (const m of feed.msgs) expect(validate(FEED_SENDS, feedKind(m), m), JSON.stringify(m)).toBeUndefined();
      expect(feed.msgs.filter((m) => m.type === 'resync').map((m) => m.reason)).toEqual([
        'SOURCE_RESET',
        'SOURCE_RESET',
      ]);
    } finally {
      await h.stop();
    }
  });
});

describe('the decimal numbers option, validated against docs/asyncapi.yaml', () => {
  it('a numbers=decimal connection on a wide instrument sends only documented messages, every channel', async () => {
    // The feed server over a real socket, fed in process: the gateway may not serve wide instruments.
    const h = await startFeedHarness({ seed: 4, config: wideFlowConfig() });
    try {
      await h.drive(300);
      const feed = await Socket.open(h.url);
      const symbols = h.engine.config.instruments.map((i) => i.symbol);
      feed.send({ op: 'subscribe', id: 1, channels: [...CHANNELS], symbols, numbers: 'decimal' }, FEED_RECEIVES);
      await feed.next('subscribed', (m) => m.type === 'subscribed');
      await h.drive(1500);
      for (const ch of CHANNELS) await feed.next(`${ch} update`, (m) => m.type === 'update' && m.channel === ch);
      feed.send({ op: 'subscribe', id: 2, channels: ['l2'], symbols, numbers: 'units' }, FEED_RECEIVES);
      expect(await feed.next('error', (m) => m.type === 'error')).toMatchObject({ id: 2, code: 'NUMBERS_LOCKED' });
      for (const m of feed.msgs) expect(validate(FEED_SENDS, feedKind(m), m), JSON.stringify(m)).toBeUndefined();
      // Decimal strings where prices are: a float-looking or signed string is not a DecimalString.
      const l2 = feed.msgs.find((m) => m.channel === 'l2' && (m.bids as unknown[]).length > 0)!;
      expect(typeof (l2.bids as unknown[][])[0]![0]).toBe('string');
      expect(validate(FEED_SENDS, 'l2', { ...l2, bids: [['-1.00', '1.0', 1]] })).toBeDefined();
      expect(validate(FEED_SENDS, 'l2', { ...l2, bids: [['1e3', '1.0', 1]] })).toBeDefined();
    } finally {
      await h.stop();
    }
  });
});

describe('the private user stream, validated against docs/asyncapi.yaml', () => {
  const streamUrl = () => `${ex.restUrl.replace(/^http/, 'ws')}/v1/user-stream`;

  function loginRequest(key: RestClientKey, extra: Json = {}): Json {
    const a = signRequest(key, 'GET /v1/user-stream', new Uint8Array(0));
    return { op: 'login', api_key: a.apiKey, timestamp: a.timestamp, signature: a.signature, ...extra };
  }

  it('sends only documented messages: login, report, position_update, pong, error, resume_gap', async () => {
    const s = await Socket.open(streamUrl());
    s.send(loginRequest(K1), USER_RECEIVES);
    const login = await s.next('login', (m) => m.type === 'login');
    s.send({ op: 'ping' }, USER_RECEIVES);
    await s.next('pong', (m) => m.type === 'pong');
    s.send({ op: 'subscribe' });
    expect(await s.next('error', (m) => m.type === 'error')).toMatchObject({ reason: 'MALFORMED_REQUEST' });
    // More reports than the ring holds: a resume from the login's point falls out of it.
    const ids: number[] = [];
    for (let i = 0; i < HELD + 2; i++) ids.push(await place(rest1, 'BUY', 4_900_000 - 100 * i, 1));
    // Account 2 sells into the best buy: account 1's maker fill, and its position_update.
    await place(rest2, 'SELL', 4_900_000, 1, 'IOC');
    expect((await rest1.massCancel({ symbol: SYMBOL })).status).toBe(200);
    await poll('the reports on the stream', () => s.msgs.filter((m) => m.type === 'report').length >= 2 * ids.length);
    const r = await Socket.open(streamUrl());
    r.send(loginRequest(K1, { resume_from: login.stream_seq, epoch: login.epoch }), USER_RECEIVES);
    await r.next('resume_gap', (m) => m.type === 'resume_gap');
    await poll('the held reports', () => r.msgs.filter((m) => m.type === 'report').length >= HELD);
    // A first message that is not a login: error, then close 4003.
    const bad = await Socket.open(streamUrl());
    bad.send({ op: 'ping' });
    await bad.next('error', (m) => m.type === 'error');
    await poll('the close', () => bad.closed);
    expect(bad.closed!.code).toBe(UserStreamCloseCode.LOGIN_REQUIRED);

    const all = [...s.msgs, ...r.msgs, ...bad.msgs];
    for (const m of all) expect(validate(USER_SENDS, m.type, m), JSON.stringify(m)).toBeUndefined();
    const report = all.find((m) => m.type === 'report')!;
    expect(validate(USER_SENDS, 'report', { ...report, report: { ...(report.report as Json), extra: 1 } })).toMatch(
      /additional properties/,
    );
    expect(new Set(all.map((m) => m.type))).toEqual(new Set(USER_SENDS.keys()));
  });
});
