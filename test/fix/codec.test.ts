import { describe, expect, it } from 'vitest';
import { encodeFix, FixFramer, type FrameResult, fixToText, parseFix } from '../../fix/codec.js';
import { formatUtcTimestamp, parseUtcTimestamp } from '../../fix/fields.js';
import { FIX_MESSAGE_BYTES_MAX } from '../../fix/limits.js';
import { fieldOf } from '../../fix/message.js';

const HEADER = [
  [35, 'D'],
  [49, 'CLIENT1'],
  [56, 'MATCHBOOK'],
  [34, '2'],
  [52, '20261207-14:19:55.123'],
] as const;
const BODY = [
  [11, 'c1'],
  [38, '1.5'],
  [40, '2'],
  [44, '50000.25'],
  [54, '1'],
  [55, 'BTC-USD'],
] as const;

function sample(): Buffer {
  return encodeFix(HEADER, BODY);
}

function messages(results: FrameResult[]) {
  return results.flatMap((r) => (r.kind === 'message' ? [r.msg] : []));
}

describe('encodeFix', () => {
  it('computes BodyLength and CheckSum as FIX defines them', () => {
    const text = fixToText(sample());
    expect(text.startsWith('8=FIX.4.4|9=')).toBe(true);
    const bytes = sample();
    const at10 = bytes.lastIndexOf('10=');
    const bodyStart = bytes.indexOf(1, bytes.indexOf('9=')) + 1;
    expect(Number(/9=(\d+)/.exec(text)?.[1])).toBe(at10 - bodyStart);
    let sum = 0;
    for (let i = 0; i < at10; i++) sum += bytes[i] as number;
    expect(text.endsWith(`|10=${String(sum % 256).padStart(3, '0')}|`)).toBe(true);
  });
});

describe('FixFramer', () => {
  it('parses messages split at every byte boundary and concatenated', () => {
    const one = sample();
    const stream = Buffer.concat([one, one, one]);
    for (const cut of [1, 3, 7, 13, 50, one.length - 1, one.length + 5]) {
      const framer = new FixFramer();
      const got = [...framer.push(stream.subarray(0, cut)), ...framer.push(stream.subarray(cut))];
      expect(got.map((r) => r.kind)).toEqual(['message', 'message', 'message']);
    }
    const framer = new FixFramer();
    const got: FrameResult[] = [];
    for (const b of one) got.push(...framer.push(Buffer.from([b])));
    const [msg] = messages(got);
    expect(msg?.msgType).toBe('D');
    expect(fieldOf(msg!, 44)).toBe('50000.25');
    expect(msg?.fields.at(-1)?.[0]).toBe(10);
  });

  it('drops a wrong CheckSum and keeps the next message', () => {
    const bad = Buffer.from(sample());
    bad[bad.length - 2] = bad[bad.length - 2] === 0x30 ? 0x31 : 0x30;
    const results = new FixFramer().push(Buffer.concat([bad, sample()]));
    expect(results.map((r) => r.kind)).toEqual(['garbled', 'message']);
    expect(results[0]).toMatchObject({ reason: 'wrong CheckSum', bytesDropped: bad.length });
  });

  it('drops a wrong BodyLength (too short, too long, not digits) and resynchronises at 8=FIX', () => {
    const good = sample();
    const text = good.toString('latin1');
    const len = Number(/9=(\d+)/.exec(text)?.[1]);
    for (const replacement of [`9=${len - 3}`, `9=${len + 4}`, '9=1x2']) {
      const bad = Buffer.from(text.replace(`9=${len}`, replacement), 'latin1');
      const results = new FixFramer().push(Buffer.concat([bad, good]));
      expect(messages(results)).toHaveLength(1);
      expect(results.some((r) => r.kind === 'garbled')).toBe(true);
    }
  });

  it('drops an oversized BodyLength at once, without waiting for its bytes', () => {
    const bad = Buffer.from(`8=FIX.4.4\x019=${FIX_MESSAGE_BYTES_MAX}\x0135=D\x01`, 'latin1');
    const results = new FixFramer().push(Buffer.concat([bad, sample()]));
    expect(results[0]).toMatchObject({ kind: 'garbled', reason: 'BodyLength over FIX_MESSAGE_BYTES_MAX' });
    expect(messages(results)).toHaveLength(1);
  });

  it('drops random bytes and a wrong BeginString, and never holds more than a message', () => {
    const framer = new FixFramer();
    const noise = Buffer.from('hello world\x01\x02\x03 8=FIX.4.2\x019=5\x0135=0\x0110=000\x01', 'latin1');
    const results = framer.push(Buffer.concat([noise, sample(), Buffer.from('zzzz')]));
    expect(messages(results)).toHaveLength(1);
    expect(results.filter((r) => r.kind === 'garbled').length).toBeGreaterThan(0);
    expect(framer.bufferedBytes).toBe(0);
    // A partial `8=FI` at a chunk end is kept for the next chunk.
    const s = sample();
    const split = new FixFramer();
    expect(split.push(Buffer.concat([Buffer.from('junk'), s.subarray(0, 4)])).map((r) => r.kind)).toEqual(['garbled']);
    expect(messages(split.push(s.subarray(4)))).toHaveLength(1);
  });

  it('reads data fields by length, so they may hold SOH', () => {
    const signature = 'ab\x01cd=\x01';
    const bytes = encodeFix(
      [
        [35, 'A'],
        [49, 'C'],
        [56, 'M'],
        [34, '1'],
        [52, '20261207-14:19:55'],
      ],
      [
        [98, '0'],
        [95, String(signature.length)],
        [96, signature],
        [553, 'key'],
      ],
    );
    const [msg] = messages(new FixFramer().push(bytes));
    expect(fieldOf(msg!, 96)).toBe(signature);
    expect(fieldOf(msg!, 553)).toBe('key');
    // A length that does not match the data is garbled.
    const wrong = Buffer.from(bytes.toString('latin1').replace('95=7', '95=6'), 'latin1');
    expect(new FixFramer().push(recomputeChecksum(wrong))[0]?.kind).toBe('garbled');
  });

  it('refuses tags with leading zeros, empty tags and a MsgType that is not third', () => {
    for (const [from, to] of [
      ['11=c1', '011=c1'],
      ['11=c1', '=c1'],
      ['35=D\x0149=CLIENT1', '49=CLIENT1\x0135=D'],
    ] as const) {
      const bad = recomputeChecksum(Buffer.from(sample().toString('latin1').replace(from, to), 'latin1'));
      expect(new FixFramer().push(bad)[0]?.kind, to).toBe('garbled');
    }
    // An empty value is legal at the framing level.
    const empty = recomputeChecksum(Buffer.from(sample().toString('latin1').replace('11=c1', '11='), 'latin1'));
    expect(fieldOf(parseFix(empty)!, 11)).toBe('');
  });
});

describe('FixFramer on random streams', () => {
  it('recovers every message between random garbage at random chunk boundaries, never throws', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 50; round++) {
      const parts: Buffer[] = [];
      let sent = 0;
      for (let i = 0; i < 20; i++) {
        // Garbage without '8' cannot start a message, so every message after it must be recovered.
        const junk = Buffer.from(
          Array.from({ length: rand(40) }, () => [0x01, 0x39, 0x3d, 0x41, 0xff][rand(5)] as number),
        );
        parts.push(
          junk,
          encodeFix(
            [
              [35, 'D'],
              [49, 'C'],
              [56, 'M'],
              [34, String(i + 1)],
              [52, '20261207-14:19:55'],
            ],
            [[11, `o${i}`]],
          ),
        );
        sent++;
      }
      const stream = Buffer.concat(parts);
      const framer = new FixFramer();
      const got: string[] = [];
      for (let at = 0; at < stream.length; ) {
        const n = 1 + rand(64);
        for (const r of framer.push(stream.subarray(at, at + n)))
          if (r.kind === 'message') got.push(fieldOf(r.msg, 11) ?? '');
        at += n;
      }
      expect(got).toEqual(Array.from({ length: sent }, (_, i) => `o${i}`));
      expect(framer.bufferedBytes).toBeLessThan(FIX_MESSAGE_BYTES_MAX);
    }
  });
});

/** Rewrites BodyLength and CheckSum of an edited message so only the edit is wrong. */
function recomputeChecksum(edited: Buffer): Buffer {
  const text = edited.toString('latin1');
  const inner = text.slice(text.indexOf('\x01', text.indexOf('9=')) + 1, text.lastIndexOf('10='));
  const head = `8=FIX.4.4\x019=${Buffer.byteLength(inner, 'latin1')}\x01`;
  const before = Buffer.from(head + inner, 'latin1');
  let sum = 0;
  for (const b of before) sum += b;
  return Buffer.concat([before, Buffer.from(`10=${String(sum % 256).padStart(3, '0')}\x01`, 'latin1')]);
}

describe('UTCTimestamp', () => {
  it('formats with milliseconds and parses with or without them', () => {
    const ms = Date.UTC(2026, 11, 7, 14, 19, 55, 7);
    expect(formatUtcTimestamp(ms)).toBe('20261207-14:19:55.007');
    expect(parseUtcTimestamp('20261207-14:19:55.007')).toBe(ms);
    expect(parseUtcTimestamp('20261207-14:19:55')).toBe(ms - 7);
    for (const bad of ['20261207-14:19', '20260231-00:00:00', '20261207-24:00:00', '2026127-14:19:55', ''])
      expect(parseUtcTimestamp(bad), bad).toBeUndefined();
  });
});
