// The operator/trader CLI: `npx matchbook <command>` talks to a gateway's REST API with a
// signed request (api/signing.ts). Defaults match `npm start` (gateway/examples/gateway-local.json).
//
//   npx matchbook place --symbol BTC-USD --side BUY --type LIMIT --price 49990.00 --qty 0.0010 [--tif GTC] [--client-order-id X]
//   npx matchbook cancel <orderId>
//   npx matchbook amend <orderId> [--qty N] [--price P] [--symbol S]
//   Prices and quantities: a value with a point ("49990.00", "0.0010") is an exact decimal in
//   display units, sent as price_decimal / quantity_decimal (the gateway scales it by the
//   instrument's decimals); plain digits are integer units (price / quantity) unless --decimal
//   says they are display units too ("--price 49990 --decimal" = 49990.00).
//   npx matchbook cancel-all [--symbol S] [--side BUY|SELL]
//   npx matchbook orders <orderId> | orders --client-order-id X [--symbol S]
//   npx matchbook instruments                        (GET /v1/instruments: sizes, limits, band, TRADING/HALTED)
//   common: --url http://127.0.0.1:8080 --key demo-key-1 --secret demo-secret-1-change-me
//   npx matchbook cluster status | halt S | resume S | kill-switch A [--off] | transfer-leader --to N | snapshot   (cli/operator-commands.ts)
//   npx matchbook verify-reports FILE [--heads F] [--public-key K] [--secret S]   (cli/verify-reports.ts)
//   npx matchbook watch SYMBOL [--url ws://127.0.0.1:8092/v1/ws] [--depth 10] [--count N]   (market data: feed/client/watch.ts)
//
// Prints the JSON reply; exit code 0 on success, 1 on an error reply, 2 on bad usage.

import { parseArgs } from 'node:util';
import { runAudit, runReplay } from './audit-commands.js';
import { VERIFY_REPORTS_USAGE, runVerifyReports } from './verify-reports.js';
import { OPERATOR_USAGE, runOperator } from './operator-commands.js';
import { signRequest, HEADER_API_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP } from '../api/signing.js';
import { jsonParseExact, jsonStringifyExact } from '../api/json-exact.js';
import { WATCH_USAGE, watch } from '../feed/client/watch.js';

const USAGE = `usage: matchbook <place|cancel|amend|cancel-all|orders|instruments|watch|replay|audit|verify-reports|cluster|halt|resume|kill-switch|transfer-leader|snapshot> [args] [--url U --key K --secret S]
  place --symbol S --side BUY|SELL --type LIMIT|MARKET|STOP_MARKET|STOP_LIMIT --qty N [--price P] [--stop-price P] [--tif GTC|IOC|FOK|GTD|DAY] [--client-order-id X] [--decimal]
  cancel <orderId>
  amend <orderId> [--qty N] [--price P] [--stop-price P] [--symbol S] [--decimal]
    (N, P: "49990.00" with a point = display units, sent as *_decimal; plain digits = integer units, or display units with --decimal)
  cancel-all [--symbol S] [--side BUY|SELL]
  orders <orderId> | orders --client-order-id X [--symbol S]
  instruments
  ${WATCH_USAGE}
  replay --data-dir DIR [--shard S] [--from-snapshot|--from-genesis] [--to-index N] --verify   (audit/README.md)
  audit --data-dir DIR --account A [--from T1 --to T2] [--order ID] --format jsonl|csv
  ${VERIFY_REPORTS_USAGE}
${OPERATOR_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    console.log(USAGE); // asked for: stdout and exit 0 (a usage error prints it on stderr, exit 2)
    return 0;
  }
  if (argv[0] === 'watch') return watch(argv.slice(1));
  if (argv[0] === 'replay') return runReplay(argv.slice(1));
  if (argv[0] === 'audit') return runAudit(argv.slice(1));
  if (argv[0] === 'verify-reports') return runVerifyReports(argv.slice(1));
  const operator = await runOperator(argv);
  if (operator !== undefined) return operator; // cluster, halt, resume, kill-switch, …
  let parsed: ReturnType<typeof parseOrderArgs>;
  try {
    parsed = parseOrderArgs(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: a, positionals } = parsed;
  const [cmd, arg] = positionals;
  let request: GatewayRequest;
  try {
    request = gatewayRequest(cmd, arg, a);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  return sendSigned(a, request);
}

/** The order commands' options; the defaults are read from the environment at each call. */
function parseOrderArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string', default: process.env.MATCHBOOK_URL ?? 'http://127.0.0.1:8080' },
      key: { type: 'string', default: process.env.MATCHBOOK_KEY ?? 'demo-key-1' },
      secret: { type: 'string', default: process.env.MATCHBOOK_SECRET ?? 'demo-secret-1-change-me' },
      symbol: { type: 'string' },
      side: { type: 'string' },
      type: { type: 'string', default: 'LIMIT' },
      qty: { type: 'string' },
      price: { type: 'string' },
      'stop-price': { type: 'string' },
      tif: { type: 'string' },
      'client-order-id': { type: 'string' },
      decimal: { type: 'boolean', default: false },
    },
  });
}

type OrderArgs = ReturnType<typeof parseOrderArgs>['values'];

interface GatewayRequest {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
}

/**
 * A price or quantity option as its request field: `{field_decimal: "49990.00"}` when the value
 * has a point or --decimal is given (the gateway converts it exactly, by the instrument's
 * decimals), else `{field: units}`; {} when the option is absent. The grammar is checked by the
 * gateway (INVALID_DECIMAL, INVALID_PRICE_PRECISION…), not here, so the CLI says what it says.
 */
function amount(v: string | undefined, field: string, what: string, decimal: boolean): Record<string, unknown> {
  if (v === undefined) return {};
  if (decimal || v.includes('.')) return { [`${field}_decimal`]: v };
  return { [field]: wholeUnits(v, what) };
}

/** A whole number of units from the command line; UsageError otherwise. */
function wholeUnits(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${what} must be a whole number of units (integer), got ${v}`);
  return Number(v);
}

/** The REST request for an order command; UsageError when its arguments do not make one. */
function gatewayRequest(cmd: string | undefined, arg: string | undefined, a: OrderArgs): GatewayRequest {
  let method: string;
  let path: string;
  let body: Record<string, unknown> | undefined;
  switch (cmd) {
    case 'place':
      if (a.symbol === undefined || a.side === undefined || a.qty === undefined)
        throw new UsageError('place needs --symbol, --side and --qty');
      method = 'POST';
      path = '/v1/orders';
      body = {
        client_order_id: a['client-order-id'] ?? `cli-${Date.now().toString(36)}`,
        symbol: a.symbol,
        side: a.side.toUpperCase(),
        order_type: a.type.toUpperCase(),
        ...amount(a.qty, 'quantity', '--qty', a.decimal),
        ...amount(a.price, 'price', '--price', a.decimal),
        ...amount(a['stop-price'], 'stop_price', '--stop-price', a.decimal),
        ...(a.tif !== undefined ? { time_in_force: a.tif.toUpperCase() } : {}),
      };
      break;
    case 'cancel':
      if (arg === undefined) throw new UsageError('cancel needs an order id');
      method = 'DELETE';
      path = `/v1/orders/${wholeUnits(arg, 'orderId')}`;
      break;
    case 'amend':
      if (arg === undefined) throw new UsageError('amend needs an order id');
      method = 'PATCH';
      path = `/v1/orders/${wholeUnits(arg, 'orderId')}`;
      body = {
        ...amount(a.qty, 'quantity', '--qty', a.decimal),
        ...amount(a.price, 'price', '--price', a.decimal),
        ...amount(a['stop-price'], 'stop_price', '--stop-price', a.decimal),
        // the instrument whose decimals a *_decimal value is in (needed when a shard has several)
        ...(a.symbol !== undefined ? { symbol: a.symbol } : {}),
      };
      break;
    case 'cancel-all':
      method = 'POST';
      path = '/v1/orders/cancel-all';
      body = {
        ...(a.symbol !== undefined ? { symbol: a.symbol } : {}),
        ...(a.side !== undefined ? { side: a.side.toUpperCase() } : {}),
      };
      break;
    case 'orders': {
      const clOrdId = a['client-order-id'];
      if ((arg === undefined) === (clOrdId === undefined))
        throw new UsageError('orders needs an order id or --client-order-id (listing comes with the read models)');
      method = 'GET';
      // By client order id: the live order with it, else the most recent one (gateway/README.md).
      const q = new URLSearchParams({
        client_order_id: clOrdId ?? '',
        ...(a.symbol !== undefined ? { symbol: a.symbol } : {}),
      });
      path = arg !== undefined ? `/v1/orders/${wholeUnits(arg, 'orderId')}` : `/v1/orders?${q.toString()}`;
      break;
    }
    case 'instruments':
      method = 'GET';
      path = '/v1/instruments';
      break;
    default:
      throw new UsageError(cmd === undefined ? 'no command' : `unknown command ${cmd}`);
  }
  return { method, path, body };
}

/** Sends the request signed with the key and secret, prints the reply; 0 on success, 1 on an error reply or none. */
async function sendSigned(a: OrderArgs, { method, path, body }: GatewayRequest): Promise<number> {
  const bytes = body === undefined ? new Uint8Array(0) : Buffer.from(JSON.stringify(body), 'utf8');
  const auth = signRequest({ key: a.key, hmacSecret: a.secret }, `${method} ${path}`, bytes);
  let res: Response;
  try {
    res = await fetch(new URL(path, a.url), {
      method,
      headers: {
        'content-type': 'application/json',
        [HEADER_API_KEY]: auth.apiKey,
        [HEADER_TIMESTAMP]: auth.timestamp,
        [HEADER_SIGNATURE]: auth.signature,
      },
      ...(bytes.length > 0 ? { body: bytes } : {}),
    });
  } catch (err) {
    console.error(`cannot reach the gateway at ${a.url}: ${(err as Error).message} (is \`npm start\` running?)`);
    return 1;
  }
  const text = await res.text();
  let out: unknown = text;
  try {
    out = jsonParseExact(text); // a wide instrument's cum_notional above 2^53 printed with all its digits
  } catch {
    /* not JSON: print as is */
  }
  console.log(jsonStringifyExact({ status: res.status, body: out }, 2));
  return res.ok ? 0 : 1;
}

class UsageError extends Error {}
