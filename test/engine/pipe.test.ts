// Pipe mode is a public interface: JSON lines in, JSON lines out, byte for byte deterministic.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../engine/config.js';
import { PIPE_LINE_BYTES_MAX } from '../../engine/limits.js';
import { LineSplitter } from '../../engine/line-splitter.js';
import { LINE_REJECT_MESSAGES, PipeSession } from '../../engine/pipe.js';

const CONFIG = 'engine/examples/instruments.json';
const config = parseConfig(JSON.parse(readFileSync(CONFIG, 'utf8')));

function runPipe(input: string, args: string[] = []): string {
  return execFileSync(process.execPath, ['--import', 'tsx', 'engine/pipe.ts', '--config', CONFIG, ...args], {
    input,
    encoding: 'utf8',
  });
}

describe('pipe mode', () => {
  it('reproduces the recorded example events byte for byte (golden file)', () => {
    const out = runPipe(readFileSync('engine/examples/commands.jsonl', 'utf8'), ['--hash']);
    expect(out).toBe(readFileSync('engine/examples/events.jsonl', 'utf8'));
  });

  it('turns malformed lines into command_reject events and carries on', () => {
    const session = new PipeSession({ config });
    const lines = [
      'not json',
      '[1,2,3]',
      '{"no":"type"}',
      '{"type":"teleport","seq":1,"tsUs":5}',
      '{"type":"new","account":1,"clOrdId":"a","symbol":"BTC-USD","side":"UP","ordType":"LIMIT","price":5000000,"qty":1}',
      '{"type":"new","account":1,"clOrdId":"b","symbol":"BTC-USD","side":"BUY","ordType":"LIMIT","price":5000000,"qty":1,"__proto__":{"x":1}}',
    ].map((l) => session.line(l).trim());
    expect(JSON.parse(lines[0]!)).toMatchObject({ kind: 'command_reject', seq: 0, reason: 'MALFORMED_COMMAND' });
    expect(JSON.parse(lines[1]!)).toMatchObject({ kind: 'command_reject', reason: 'MALFORMED_COMMAND' });
    expect(JSON.parse(lines[2]!)).toMatchObject({ kind: 'command_reject', reason: 'MALFORMED_COMMAND' });
    expect(JSON.parse(lines[3]!)).toMatchObject({
      kind: 'command_reject',
      seq: 1,
      command: 'teleport',
      reason: 'UNKNOWN_COMMAND',
    });
    expect(JSON.parse(lines[4]!)).toMatchObject({ kind: 'exec', seq: 2, execType: 'REJECTED', reason: 'INVALID_SIDE' });
    expect(JSON.parse(lines[5]!.split('\n')[0]!)).toMatchObject({ kind: 'exec', seq: 3, execType: 'NEW' });
  });

  it('fills in a missing seq and tsUs from the previous command', () => {
    const session = new PipeSession({ config });
    session.line('{"type":"tick","seq":10,"tsUs":1000}');
    const e = JSON.parse(
      session
        .line(
          '{"type":"new","account":1,"clOrdId":"a","symbol":"BTC-USD","side":"BUY","ordType":"LIMIT","price":5000000,"qty":1}',
        )
        .split('\n')[0]!,
    );
    expect(e).toMatchObject({ seq: 11, tsUs: 1000, orderId: 11 });
  });

  it('a snapshot written at a cut point and read back continues identically', () => {
    const all = readFileSync('engine/examples/commands.jsonl', 'utf8').split('\n').filter(Boolean);
    const cut = 7;
    const dir = execFileSync('mktemp', ['-d'], { encoding: 'utf8' }).trim();
    runPipe(all.slice(0, cut).join('\n') + '\n', ['--snapshot-out', `${dir}/snap.bin`]);
    const resumed = runPipe(all.slice(cut).join('\n') + '\n', ['--snapshot-in', `${dir}/snap.bin`, '--hash']);
    const full = readFileSync('engine/examples/events.jsonl', 'utf8').split('\n').filter(Boolean);
    const firstSuffixSeq = JSON.parse(all[cut]!).seq;
    const expected = full.filter((l) => JSON.parse(l).seq >= firstSuffixSeq);
    expect(resumed.split('\n').filter(Boolean)).toEqual(expected);
  });
});

/** Runs the real pipe process, writing `chunks` one by one (each after the previous has drained). */
async function streamPipe(chunks: Iterable<Uint8Array | string>): Promise<Record<string, unknown>[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'engine/pipe.ts', '--config', CONFIG], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  for (const chunk of chunks) {
    if (!child.stdin.write(chunk)) await new Promise((resolve) => child.stdin.once('drain', resolve));
  }
  child.stdin.end();
  expect(await exited).toBe(0);
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e.kind !== 'book'); // the orders here rest: one book event each, not what these tests look at
}

const ORDER = '"type":"new","account":1,"symbol":"BTC-USD","side":"BUY","ordType":"LIMIT","price":4900000,"qty":1';

/** A new order line of exactly `bytes` UTF-8 bytes, padded in an ignored key with 2-byte characters (so bytes ≠ characters). */
function orderLineOfBytes(clOrdId: string, bytes: number): string {
  const head = `{${ORDER},"clOrdId":"${clOrdId}","pad":"`;
  const room = bytes - Buffer.byteLength(`${head}"}`);
  const line = `${head}${'é'.repeat(Math.floor(room / 2))}${'x'.repeat(room % 2)}"}`;
  expect(Buffer.byteLength(line)).toBe(bytes);
  return line;
}

const tooLong = { kind: 'command_reject', seq: 0, reason: 'MALFORMED_COMMAND', message: LINE_REJECT_MESSAGES.tooLong };
const accepted = (clOrdId: string) => ({ kind: 'exec', execType: 'NEW', clOrdId });

describe('pipe mode input framing (the real process on stdin)', () => {
  it('a line of several MB streamed in chunks is one reject naming the limit; the next line is processed', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const chunks = function* () {
      yield `{${ORDER},"clOrdId":"big","pad":"`;
      for (let i = 0; i < 96; i++) yield chunk; // 6 MiB
      yield '"}\n';
      yield `{${ORDER},"clOrdId":"after"}\n`;
    };
    const events = await streamPipe(chunks());
    expect(events).toMatchObject([tooLong, { ...accepted('after'), seq: 1 }]);
    expect(LINE_REJECT_MESSAGES.tooLong).toBe('line longer than 65536 bytes');
  });

  it('the limit counts UTF-8 bytes before the LF, the CR of a CRLF not included', async () => {
    const max = PIPE_LINE_BYTES_MAX;
    const events = await streamPipe([
      `${orderLineOfBytes('at-limit', max)}\n`,
      `${orderLineOfBytes('over', max + 1)}\n`,
      `${orderLineOfBytes('at-limit-crlf', max)}\r\n`,
      // At the end of input a \r has no \n after it: it is part of the line, one byte too many.
      `${orderLineOfBytes('at-limit-cr-eof', max)}\r`,
    ]);
    expect(events).toMatchObject([accepted('at-limit'), tooLong, accepted('at-limit-crlf'), tooLong]);
  });

  it('only LF ends a line: a lone CR inside a string is one reject, between tokens it is JSON whitespace', async () => {
    const events = await streamPipe([
      `{${ORDER},"clOrdId":"a\rb"}\n`,
      `{${ORDER},\r"clOrdId":"ws"}\n`,
      `{${ORDER},"clOrdId":"crlf"}\r\n`,
      `{${ORDER},"clOrdId":"last"}`, // no \n at the end: still a line
    ]);
    expect(events).toMatchObject([
      { kind: 'command_reject', seq: 0, reason: 'MALFORMED_COMMAND', message: LINE_REJECT_MESSAGES.notJson },
      { ...accepted('ws'), seq: 1 },
      { ...accepted('crlf'), seq: 2 },
      { ...accepted('last'), seq: 3 },
    ]);
  });

  it('CRLF input gives the recorded events byte for byte', () => {
    const crlf = readFileSync('engine/examples/commands.jsonl', 'utf8').replaceAll('\n', '\r\n');
    expect(runPipe(crlf, ['--hash'])).toBe(readFileSync('engine/examples/events.jsonl', 'utf8'));
  });

  it('a line that is not valid UTF-8 is one reject, even in a key the engine ignores; the next is processed', async () => {
    const bad = Buffer.concat([
      Buffer.from(`{${ORDER},"clOrdId":"bad","note":"`),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}\n'),
    ]);
    const events = await streamPipe([bad, `{${ORDER},"clOrdId":"good"}\n`]);
    expect(events).toMatchObject([
      { kind: 'command_reject', seq: 0, reason: 'MALFORMED_COMMAND', message: LINE_REJECT_MESSAGES.notUtf8 },
      { ...accepted('good'), seq: 1 },
    ]);
  });
});

describe('LineSplitter', () => {
  /** Splits `input` fed in pieces of `step` bytes; lines as strings, null for a line over the limit. */
  function split(input: Uint8Array, max: number, step: number): (string | null)[] {
    const splitter = new LineSplitter(max);
    const lines: (string | null)[] = [];
    const sink = (l: Uint8Array | null) => lines.push(l === null ? null : Buffer.from(l).toString('latin1'));
    for (let i = 0; i < input.length; i += step) splitter.push(input.subarray(i, i + step), sink);
    splitter.end(sink);
    return lines;
  }

  it('gives the same lines however the input is cut into chunks', () => {
    const input = Buffer.from('ab\r\n\r\nabcd\r\nabcde\na\rb\n\rabc\n\nabcd\rx\nabcd\r', 'latin1');
    const expected = ['ab', '', 'abcd', null, 'a\rb', '\rabc', '', null, null];
    for (let step = 1; step <= input.length; step++) expect(split(input, 4, step), `step ${step}`).toEqual(expected);
  });

  it('ends the input with a last line without LF, and with nothing when the input ends with LF', () => {
    expect(split(Buffer.from('a\nb'), 4, 3)).toEqual(['a', 'b']);
    expect(split(Buffer.from('a\n'), 4, 3)).toEqual(['a']);
    expect(split(Buffer.from('abcdefgh'), 4, 3)).toEqual([null]);
  });
});

describe('configuration', () => {
  const instrument = JSON.parse(readFileSync(CONFIG, 'utf8')).instruments[0];
  it('accepts a config whose maxPrice * maxQty passes 2^53 (wide), refuses maxPrice above 2^53 - 1', () => {
    expect(
      parseConfig({ instruments: [{ ...instrument, maxPrice: 2 ** 30, maxQty: 2 ** 30 }] }).instruments,
    ).toHaveLength(1);
    expect(() => parseConfig({ instruments: [{ ...instrument, maxPrice: 2 ** 53, maxQty: 1 }] })).toThrow(/maxPrice/);
  });
  it('refuses duplicate symbols, unknown STP modes and non-integer sizes', () => {
    expect(() => parseConfig({ instruments: [instrument, instrument] })).toThrow(/duplicate symbol/);
    expect(() => parseConfig({ defaultStp: 'MAYBE', instruments: [instrument] })).toThrow(/defaultStp/);
    expect(() => parseConfig({ instruments: [{ ...instrument, tickSize: 0.5 }] })).toThrow(/tickSize/);
    expect(() => parseConfig({ instruments: [{ ...instrument, minQty: 3, lotSize: 2 }] })).toThrow(
      /multiple of lotSize/,
    );
  });
});

// ---------------------------------------------------------------------------
// What engine/README.md says about commands in JSON, each claim checked here so the text cannot drift.
// ---------------------------------------------------------------------------

const BTC = { symbol: 'BTC-USD' };
const limit = (f: Record<string, unknown>) =>
  JSON.stringify({ type: 'new', account: 1, ...BTC, side: 'BUY', ordType: 'LIMIT', price: 4_900_000, qty: 1, ...f });

/** Feeds JSON lines to a fresh session; returns the events of each line (book events left out). */
function feed(lines: string[]): Record<string, unknown>[][] {
  const session = new PipeSession({ config });
  return lines.map((l) =>
    session
      .line(l)
      .split('\n')
      .filter((x) => x !== '')
      .map((x) => JSON.parse(x) as Record<string, unknown>)
      .filter((e) => e.kind !== 'book'),
  );
}
const last = (lines: string[]) => feed(lines).at(-1)!;
const rejected = (reason: string) => ({ kind: 'exec', execType: 'REJECTED', reason });
const cancelRejected = (responseTo: string, reason: string) => ({ kind: 'cancel_reject', responseTo, reason });

describe('JSON null is the same as an absent field', () => {
  it.each([
    ['tif on LIMIT', { tif: null }],
    ['price on MARKET', { ordType: 'MARKET', price: null }],
    ['stopPrice on LIMIT', { stopPrice: null }],
    ['expireTsUs on GTC', { tif: 'GTC', expireTsUs: null }],
    ['displayQty', { displayQty: null }],
    ['postOnly', { postOnly: null }],
    ['stp', { stp: null }],
    ['seq and tsUs', { seq: null, tsUs: null }],
  ])('%s', (_n, f) => {
    const absent = Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v === null ? undefined : v]));
    const withNull = feed(['{"type":"tick","seq":5,"tsUs":1000}', limit({ clOrdId: 'n', ...f })]);
    const without = feed(['{"type":"tick","seq":5,"tsUs":1000}', limit({ clOrdId: 'n', ...f, ...absent })]);
    expect(withNull).toEqual(without);
    expect(withNull[1]![0]).toMatchObject({ kind: 'exec', execType: 'NEW', seq: 6, tsUs: 1000 });
  });

  it('on an amend too: a null qty leaves the quantity as it is', () => {
    const placed = limit({ clOrdId: 'a', qty: 5 });
    expect(last([placed, '{"type":"amend","account":1,"orderId":1,"qty":null,"price":4900100}'])).toMatchObject([
      { kind: 'exec', execType: 'REPLACED', orderQty: 5, price: 4_900_100 },
    ]);
  });

  it('except type: a null type is a line without a string type', () => {
    expect(last(['{"type":null,"seq":1}'])).toEqual([
      expect.objectContaining({ kind: 'command_reject', seq: 0, message: LINE_REJECT_MESSAGES.noType }),
    ]);
  });

  it('a value that is present is checked: price 0 on a MARKET order is refused', () => {
    expect(last([limit({ clOrdId: 'x', ordType: 'MARKET', price: 0 })])).toMatchObject([rejected('INVALID_PRICE')]);
  });
});

describe('default time in force: GTC for LIMIT and STOP_LIMIT, IOC for MARKET and STOP_MARKET', () => {
  // Each scenario leaves the order with quantity left after a partial fill, then lets two days pass
  // and cancels what is left: GTC, IOC, FOK and DAY each give different events.
  const scenario = (order: Record<string, unknown>) => [
    limit({ account: 2, clOrdId: 'maker', side: 'SELL', price: 4_950_000, qty: 2 }),
    limit({ clOrdId: 'x', price: 4_950_000, qty: 3, ...order }),
    limit({ account: 3, clOrdId: 'trigger', price: 4_950_000, qty: 1 }),
    '{"type":"tick","tsUs":172800000000}',
    '{"type":"mass_cancel","account":1}',
  ];
  const stop = { stopPrice: 4_950_000 };
  it.each([
    ['LIMIT', {}, 'GTC', ['IOC', 'FOK', 'DAY']],
    ['MARKET', { ordType: 'MARKET', price: undefined }, 'IOC', ['FOK']],
    ['STOP_LIMIT', { ordType: 'STOP_LIMIT', ...stop }, 'GTC', ['IOC', 'FOK', 'DAY']],
    ['STOP_MARKET', { ordType: 'STOP_MARKET', price: undefined, ...stop }, 'IOC', ['FOK']],
  ])('%s without tif is %s', (_n, order, tif, others) => {
    const implicit = feed(scenario(order));
    expect(implicit).toEqual(feed(scenario({ ...order, tif })));
    for (const other of others) expect(implicit, other).not.toEqual(feed(scenario({ ...order, tif: other })));
  });
});

describe('a field that does not belong to the order type is refused, not ignored', () => {
  it.each([
    ['price on MARKET', { ordType: 'MARKET' }, 'INVALID_PRICE'],
    ['price on STOP_MARKET', { ordType: 'STOP_MARKET', stopPrice: 5_100_000 }, 'INVALID_PRICE'],
    ['stopPrice on LIMIT', { stopPrice: 5_100_000 }, 'INVALID_STOP_PRICE'],
    ['stopPrice on MARKET', { ordType: 'MARKET', price: undefined, stopPrice: 5_100_000 }, 'INVALID_STOP_PRICE'],
    ['expireTsUs without tif', { expireTsUs: 9_000_000_000_000_000 }, 'INVALID_EXPIRE_TIME'],
    ['expireTsUs on GTC', { tif: 'GTC', expireTsUs: 9_000_000_000_000_000 }, 'INVALID_EXPIRE_TIME'],
    ['expireTsUs on DAY', { tif: 'DAY', expireTsUs: 9_000_000_000_000_000 }, 'INVALID_EXPIRE_TIME'],
    [
      'displayQty on MARKET',
      { ordType: 'MARKET', price: undefined, qty: 5, displayQty: 1 },
      'INVALID_DISPLAY_QUANTITY',
    ],
    ['displayQty on IOC', { tif: 'IOC', qty: 5, displayQty: 1 }, 'INVALID_DISPLAY_QUANTITY'],
    ['postOnly on MARKET', { ordType: 'MARKET', price: undefined, postOnly: 'REJECT' }, 'INVALID_POST_ONLY'],
    [
      'postOnly on STOP_LIMIT',
      { ordType: 'STOP_LIMIT', stopPrice: 5_100_000, postOnly: 'REJECT' },
      'INVALID_POST_ONLY',
    ],
    ['a resting tif on MARKET', { ordType: 'MARKET', price: undefined, tif: 'GTC' }, 'INVALID_TIME_IN_FORCE'],
  ])('%s', (_n, f, reason) => {
    expect(last([limit({ clOrdId: 'x', ...f })])).toMatchObject([rejected(reason)]);
  });

  it('postOnly NONE (the default) is allowed on any order type', () => {
    expect(last([limit({ clOrdId: 'x', ordType: 'MARKET', price: undefined, postOnly: 'NONE' })])[0]).toMatchObject({
      execType: 'NEW',
    });
  });
});

describe('client order id: 1–64 characters from 0x21 to 0x7E', () => {
  it.each([
    ['0x20 (space)', 'a b', false],
    ['0x21 (!)', 'a!b', true],
    ['0x7E (~)', 'a~b', true],
    ['0x7F (DEL)', 'a\u007fb', false],
    ['non-ASCII', 'aéb', false],
    ['64 characters', 'x'.repeat(64), true],
    ['65 characters', 'x'.repeat(65), false],
    ['empty', '', false],
  ])('%s', (_n, clOrdId, ok) => {
    const placed = last([limit({ clOrdId })]);
    expect(placed[0]).toMatchObject(ok ? { execType: 'NEW', clOrdId } : rejected('INVALID_CLIENT_ORDER_ID'));
    const amended = last([limit({ clOrdId: 'a' }), JSON.stringify({ type: 'amend', account: 1, orderId: 1, clOrdId })]);
    expect(amended[0]).toMatchObject(
      ok ? { execType: 'REPLACED', clOrdId, origClOrdId: 'a' } : cancelRejected('AMEND', 'INVALID_CLIENT_ORDER_ID'),
    );
  });
});

describe('repeating an admin command re-emits its status event', () => {
  it('halt, halt, resume, resume, kill switch on twice and off twice, the same reference price and STP mode twice', () => {
    const events = feed([
      limit({ clOrdId: 'a' }),
      '{"type":"halt","symbol":"BTC-USD"}',
      '{"type":"halt","symbol":"BTC-USD"}',
      '{"type":"resume","symbol":"BTC-USD"}',
      '{"type":"resume","symbol":"BTC-USD"}',
      '{"type":"kill_switch","account":1,"active":true}',
      '{"type":"kill_switch","account":1,"active":true}',
      '{"type":"kill_switch","account":1,"active":false}',
      '{"type":"kill_switch","account":1,"active":false}',
      '{"type":"set_reference_price","symbol":"BTC-USD","price":5000000}',
      '{"type":"set_reference_price","symbol":"BTC-USD","price":5000000}',
      '{"type":"set_account","account":1,"stp":"NONE"}',
      '{"type":"set_account","account":1,"stp":"NONE"}',
    ]).slice(1);
    const status = (s: string) => [{ kind: 'instrument_status', symbol: 'BTC-USD', status: s }];
    const account = (blocked: boolean, canceledCount: number) => [
      expect.objectContaining({ kind: 'account_status', account: 1, blocked, canceledCount }),
    ];
    expect(events.slice(0, 4)).toMatchObject([
      status('HALTED'),
      status('HALTED'),
      status('TRADING'),
      status('TRADING'),
    ]);
    // The first kill switch cancels the order (its CANCELED report comes first), the second finds nothing.
    expect(events[4]!.at(-1)).toEqual(account(true, 1)[0]);
    expect(events.slice(5, 8)).toEqual([account(true, 0), account(false, 0), account(false, 0)]);
    expect(events.slice(8, 10)).toMatchObject([status('TRADING'), status('TRADING')]);
    const stp = { kind: 'account_status', account: 1, blocked: false, stp: 'NONE', canceledCount: 0 };
    expect(events.slice(10)).toMatchObject([[stp], [stp]]);
  });
});

describe('amend and cancel (the real process)', () => {
  it('an amend to quantity 0 is refused; to at most the filled quantity it ends the order', async () => {
    const events = await streamPipe([
      `${limit({ clOrdId: 'a', price: 4_950_000, qty: 5 })}\n`,
      `${limit({ account: 2, clOrdId: 'maker', side: 'SELL', price: 4_950_000, qty: 2 })}\n`,
      '{"type":"amend","account":1,"orderId":1,"qty":0}\n',
      '{"type":"amend","account":1,"orderId":1,"qty":1}\n',
    ]);
    expect(events.slice(-2)).toMatchObject([
      cancelRejected('AMEND', 'INVALID_QUANTITY'),
      {
        kind: 'exec',
        execType: 'REPLACED',
        ordStatus: 'FILLED',
        reason: 'AMENDED_BELOW_FILLED',
        orderQty: 2,
        leavesQty: 0,
      },
    ]);
  });

  it('an amend carrying an attribute it cannot change is refused, and the order is left as it was', async () => {
    const fixed = [
      { side: 'SELL' },
      { ordType: 'MARKET' },
      { tif: 'IOC' },
      { expireTsUs: 9_000_000_000_000_000 },
      { postOnly: 'REJECT' },
      { displayQty: 1 },
      { stp: 'NONE' },
    ];
    const events = await streamPipe([
      `${limit({ clOrdId: 'a', qty: 5 })}\n`,
      ...fixed.map((f) => `${JSON.stringify({ type: 'amend', account: 1, orderId: 1, qty: 4, ...f })}\n`),
      '{"type":"amend","account":1,"orderId":1,"qty":3}\n',
    ]);
    expect(events.slice(1)).toMatchObject([
      ...fixed.map(() => cancelRejected('AMEND', 'AMEND_NOT_ALLOWED')),
      { kind: 'exec', execType: 'REPLACED', orderQty: 3, displayQty: 0, side: 'BUY', ordType: 'LIMIT' },
    ]);
  });

  it('naming the order both by id and by client order id is refused (cancel and amend)', async () => {
    const events = await streamPipe([
      `${limit({ clOrdId: 'a' })}\n`,
      `${limit({ clOrdId: 'b' })}\n`,
      '{"type":"cancel","account":1,"orderId":1,"clOrdId":"b"}\n',
      '{"type":"amend","account":1,"orderId":1,"origClOrdId":"b","qty":2}\n',
      '{"type":"cancel","account":1,"orderId":1}\n',
    ]);
    expect(events.slice(2)).toMatchObject([
      cancelRejected('CANCEL', 'MALFORMED_COMMAND'),
      cancelRejected('AMEND', 'MALFORMED_COMMAND'),
      { kind: 'exec', execType: 'CANCELED', orderId: 1, clOrdId: 'a' },
    ]);
  });
});
