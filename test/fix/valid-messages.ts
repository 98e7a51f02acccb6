// Valid FIX 4.4 messages of every type the acceptor receives, as a client (QuickFIX) sends
// them: the corpus of test/fix/validate.test.ts and the fuzz test of fix/validate.ts
// (test/fuzz/fix-validate.fuzz.test.ts).

import type { FixField, FixMessage } from '../../fix/message.js';
import { SAMPLE_EXECUTION_REPORT_BODY } from '../../bench/fix/sample-messages.js';

export const header = (msgType: string): FixField[] => [
  [8, 'FIX.4.4'],
  [9, '123'],
  [35, msgType],
  [34, '2'],
  [49, 'CLIENT1'],
  [52, '20261207-14:19:55.123'],
  [56, 'MATCHBOOK'],
];

/** A message of `msgType` with the usual header, `body`, and CheckSum. */
export const fix = (msgType: string, body: FixField[]): FixMessage => ({
  msgType,
  fields: [...header(msgType), ...body, [10, '042']],
});

export const NOS: FixField[] = [
  [11, 'c1'],
  [1, 'acct-1'],
  [18, '6'],
  [111, '0.5'],
  [55, 'BTC-USD'],
  [54, '1'],
  [60, '20261207-14:19:55'],
  [38, '1.5'],
  [40, '2'],
  [44, '50000.25'],
  [59, '6'],
  [126, '20261208-00:00:00.000'],
  [7928, 'T'],
];

/** The message types the acceptor receives, each complete as a client sends it. */
export const VALID: Record<string, FixField[]> = {
  A: [
    [98, '0'],
    [108, '30'],
    [95, '8'],
    [96, 'c2lnbmF0'],
    [141, 'Y'],
    [553, 'mbk_key'],
    [8013, 'Y'],
  ],
  '0': [[112, 'T1']],
  '1': [[112, 'T1']],
  '2': [
    [7, '1'],
    [16, '0'],
  ],
  '3': [
    [45, '7'],
    [371, '44'],
    [372, 'D'],
    [373, '5'],
    [58, 'bad price'],
  ],
  '4': [
    [123, 'Y'],
    [36, '10'],
  ],
  '5': [[58, 'bye']],
  D: NOS,
  F: [
    [41, 'c1'],
    [11, 'c2'],
    [55, 'BTC-USD'],
    [54, '1'],
    [60, '20261207-14:19:55'],
  ],
  G: [
    [41, 'c1'],
    [11, 'c3'],
    [55, 'BTC-USD'],
    [54, '1'],
    [60, '20261207-14:19:55'],
    [38, '2'],
    [40, '2'],
    [44, '50001'],
  ],
  H: [
    [37, 'O1'],
    [11, 'c1'],
    [55, 'BTC-USD'],
    [54, '1'],
  ],
  q: [
    [11, 'm1'],
    [530, '7'],
    [55, 'BTC-USD'],
    [60, '20261207-14:19:55.001'],
  ],
  j: [
    [45, '3'],
    [372, 'D'],
    [380, '3'],
  ],
};

/** A NewOrderSingle with a repeating group (NoPartyIDs) holding a nested one (NoPartySubIDs). */
export const NOS_WITH_PARTIES: FixField[] = [
  [11, 'c1'],
  [453, '2'],
  [448, 'P1'],
  [447, 'D'],
  [452, '3'],
  [802, '2'],
  [523, 'S1'],
  [803, '1'],
  [523, 'S2'],
  [448, 'P2'],
  [452, '11'],
  [55, 'BTC-USD'],
  [54, '2'],
  [60, '20261207-14:19:55'],
  [38, '3'],
  [40, '1'],
];

/** An ExecutionReport (as a drop-copy or trading session receives it). */
export const EXECUTION_REPORT: FixField[] = [...SAMPLE_EXECUTION_REPORT_BODY];

/** Every valid message above, as FixMessages. */
export const VALID_MESSAGES: FixMessage[] = [
  ...Object.entries(VALID).map(([msgType, body]) => fix(msgType, body)),
  fix('D', NOS_WITH_PARTIES),
  fix('8', EXECUTION_REPORT),
];
