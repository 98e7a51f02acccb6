// A typical ExecutionReport body (a partial fill), shared by the FIX micro-benchmarks
// (bench-codec.ts, bench-validate.ts) and the validation tests' valid messages.

import type { FixField } from '../../fix/message.js';

export const SAMPLE_EXECUTION_REPORT_BODY: readonly FixField[] = [
  [37, 'O1'],
  [11, 'c1'],
  [17, 'E1'],
  [150, 'F'],
  [39, '1'],
  [55, 'BTC-USD'],
  [54, '1'],
  [38, '1.5'],
  [44, '50000.25'],
  [32, '0.5'],
  [31, '50000.25'],
  [151, '1'],
  [14, '0.5'],
  [6, '50000.25'],
  [851, '1'],
  [60, '20261207-14:19:55.001'],
];
