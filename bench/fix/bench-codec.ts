// npx tsx bench/fix/bench-codec.ts [-- --messages N] [-- --repeats R]
//
// The FIX codec alone (fix/codec.ts), one thread: parse — FixFramer.push over a buffer of 100
// distinct NewOrderSingles (~180 bytes each) concatenated, framing + CheckSum + fields — and
// encode — encodeFix of an ExecutionReport (~200 bytes) with a fresh SendingTime each time. A
// warm-up pass, then R timed passes of N messages each; the median pass is reported in ns per
// message. The last stdout line is one JSON object (the target from issue 22: about 1–2 µs).

import { encodeFix, FixFramer } from '../../fix/codec.js';
import { formatUtcTimestamp } from '../../fix/fields.js';
import type { FixField } from '../../fix/message.js';
import { SAMPLE_EXECUTION_REPORT_BODY } from './sample-messages.js';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const MESSAGES = arg('messages', 200_000);
const REPEATS = arg('repeats', 5);
const DISTINCT = 100;

function nos(i: number): Buffer {
  return encodeFix(
    [
      [35, 'D'],
      [49, 'CLIENT1'],
      [56, 'MATCHBOOK'],
      [34, String(1000 + i)],
      [52, formatUtcTimestamp(Date.UTC(2026, 11, 7, 14, 19, 55, i))],
    ],
    [
      [1, 'ACC-1'],
      [11, `client-order-${i}`],
      [38, `${1 + (i % 7)}.5`],
      [40, '2'],
      [44, `50000.${String(i).padStart(2, '0')}`],
      [54, i % 2 === 0 ? '1' : '2'],
      [55, 'BTC-USD'],
      [59, '1'],
      [60, '20261207-14:19:55.123'],
      [18, '6'],
    ],
  );
}

const batch = Buffer.concat(Array.from({ length: DISTINCT }, (_, i) => nos(i)));
const erBody: FixField[] = [...SAMPLE_EXECUTION_REPORT_BODY];

function parsePass(n: number): number {
  const framer = new FixFramer();
  let parsed = 0;
  const start = process.hrtime.bigint();
  while (parsed < n) for (const r of framer.push(batch)) if (r.kind === 'message') parsed++;
  return Number(process.hrtime.bigint() - start) / parsed;
}

function encodePass(n: number): number {
  let bytes = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const header: FixField[] = [
      [35, '8'],
      [49, 'MATCHBOOK'],
      [56, 'CLIENT1'],
      [34, String(i + 1)],
      [52, formatUtcTimestamp(1_796_000_000_000 + i)],
    ];
    bytes += encodeFix(header, erBody).length;
  }
  const ns = Number(process.hrtime.bigint() - start) / n;
  if (bytes === 0) throw new Error('nothing encoded');
  return ns;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

parsePass(MESSAGES / 4);
encodePass(MESSAGES / 4);
const parse: number[] = [];
const encode: number[] = [];
for (let r = 0; r < REPEATS; r++) {
  parse.push(parsePass(MESSAGES));
  encode.push(encodePass(MESSAGES));
}
const result = {
  bench: 'fix-codec',
  messages: MESSAGES,
  repeats: REPEATS,
  nosBytes: Math.round(batch.length / DISTINCT),
  parseNsPerMessage: Math.round(median(parse)),
  encodeNsPerMessage: Math.round(median(encode)),
  node: process.version,
};
console.log(
  `parse ${result.parseNsPerMessage} ns/msg, encode ${result.encodeNsPerMessage} ns/msg (median of ${REPEATS})`,
);
console.log(JSON.stringify(result));
