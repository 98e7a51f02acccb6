// Pipe mode is a public interface: JSON lines in, JSON lines out, byte for byte deterministic.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../engine/config.js';
import { PipeSession } from '../../engine/pipe.js';

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
