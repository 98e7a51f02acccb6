// npx tsx bench/fix/bench-validate.ts [-- --seconds S]
//
// Cost of the FIX 4.4 dictionary (fix/dictionary.ts) and of validateFix (fix/validate.ts) on
// one thread: the dictionary read from fix/FIX44.xml (text already in memory; median of 20
// loads), then validateFix over each sample message in a loop for S seconds after a warm-up:
//   ns/msg   wall time of the loop / messages validated (a NewOrderSingle as QuickFIX sends it,
//            one with nested repeating groups, a Logon, an ExecutionReport)
// Prints a table, and as the last line one JSON object.

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadFixDictionary } from '../../fix/dictionary.js';
import type { FixField, FixMessage } from '../../fix/message.js';
import { validateFix } from '../../fix/validate.js';
import { SAMPLE_EXECUTION_REPORT_BODY } from './sample-messages.js';

function parseSeconds(argv: string[]): number {
  const at = argv.indexOf('--seconds');
  if (at < 0) return 2;
  const seconds = Number(argv[at + 1]);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error('bad value for --seconds');
  return seconds;
}

const HEADER = (msgType: string): FixField[] => [
  [8, 'FIX.4.4'],
  [9, '180'],
  [35, msgType],
  [34, '2'],
  [49, 'CLIENT1'],
  [52, '20261207-14:19:55.123'],
  [56, 'MATCHBOOK'],
];
const message = (msgType: string, body: FixField[]): FixMessage => ({
  msgType,
  fields: [...HEADER(msgType), ...body, [10, '042']],
});

const SAMPLES: Record<string, FixMessage> = {
  newOrderSingle: message('D', [
    [11, 'c1'],
    [18, '6'],
    [55, 'BTC-USD'],
    [54, '1'],
    [60, '20261207-14:19:55'],
    [38, '1.5'],
    [40, '2'],
    [44, '50000.25'],
    [59, '1'],
    [7928, 'T'],
  ]),
  newOrderSingleWithParties: message('D', [
    [11, 'c1'],
    [453, '2'],
    [448, 'P1'],
    [447, 'D'],
    [452, '3'],
    [802, '1'],
    [523, 'S1'],
    [803, '1'],
    [448, 'P2'],
    [452, '11'],
    [55, 'BTC-USD'],
    [54, '1'],
    [60, '20261207-14:19:55'],
    [38, '1.5'],
    [40, '2'],
    [44, '50000.25'],
  ]),
  logon: message('A', [
    [98, '0'],
    [108, '30'],
    [95, '8'],
    [96, 'c2lnbmF0'],
    [553, 'mbk_key'],
    [8013, 'Y'],
  ]),
  executionReport: message('8', [...SAMPLE_EXECUTION_REPORT_BODY]),
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function main(): void {
  const seconds = parseSeconds(process.argv.slice(2));
  const xml = readFileSync(new URL('../../fix/FIX44.xml', import.meta.url), 'latin1');
  const loads: number[] = [];
  let dict = loadFixDictionary(xml);
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    dict = loadFixDictionary(xml);
    loads.push(performance.now() - t0);
  }
  const result: Record<string, number> = { dictionaryLoadMs: Number(median(loads).toFixed(2)) };
  console.log(`dictionary load       ${result['dictionaryLoadMs']} ms (median of 20)`);
  for (const [name, msg] of Object.entries(SAMPLES)) {
    if (validateFix(dict, msg) !== undefined)
      throw new Error(`sample ${name} is not valid: ${JSON.stringify(validateFix(dict, msg))}`);
    for (let i = 0; i < 200_000; i++) validateFix(dict, msg); // warm-up
    let n = 0;
    const t0 = performance.now();
    const until = t0 + seconds * 1000;
    while (performance.now() < until) {
      for (let i = 0; i < 10_000; i++) validateFix(dict, msg);
      n += 10_000;
    }
    const nsPerMsg = ((performance.now() - t0) * 1e6) / n;
    result[`${name}NsPerMsg`] = Math.round(nsPerMsg);
    console.log(`${name.padEnd(26)}${Math.round(nsPerMsg)} ns/msg (${msg.fields.length} fields)`);
  }
  console.log(JSON.stringify({ bench: 'fix-validate', seconds, node: process.version, ...result }));
}

main();
