// `npm run bench:rest`: starts the exchange as processes (3 replicas with fsync on, the gateway
// process) and drives POST /v1/orders with autocannon (bench-rest.ts) against it. With
// `--url U` it benchmarks an exchange that is already running instead. Last line: one JSON object.

import { parseArgs } from 'node:util';
import { BENCH_REST_DEFAULTS, benchRest } from './bench-rest.js';
import { startExchangeProcesses } from './exchange-procs.js';

const { values: a } = parseArgs({
  options: {
    url: { type: 'string' },
    rates: { type: 'string', default: '5000,10000,20000,30000,max' },
    seconds: { type: 'string', default: String(BENCH_REST_DEFAULTS.seconds) },
    connections: { type: 'string', default: String(BENCH_REST_DEFAULTS.connections) },
  },
});

const ex =
  a.url === undefined
    ? await startExchangeProcesses(
        process.env.BENCH_GATEWAY_NODE_ARGS ? { nodeArgs: process.env.BENCH_GATEWAY_NODE_ARGS.split(' ') } : {},
      )
    : undefined;
try {
  const result = await benchRest({
    url: a.url ?? ex!.restUrl,
    rates: a.rates!.split(',').map((r) => (r === 'max' ? 'max' : Number(r))),
    seconds: Number(a.seconds),
    connections: Number(a.connections),
    ...(ex !== undefined ? { cpuTargets: ex.cpuTargets() } : {}),
    pipelining: 1, // uWS 20.30 closes a connection that pipelines behind an unanswered async request
  });
  console.log(JSON.stringify(result));
} finally {
  await ex?.stop();
}
