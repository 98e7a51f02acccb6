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
  it('refuses a config whose maxPrice * maxQty would pass 2^53', () => {
    expect(() => parseConfig({ instruments: [{ ...instrument, maxPrice: 2 ** 30, maxQty: 2 ** 30 }] })).toThrow(
      /exceeds 2\^53-1/,
    );
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
