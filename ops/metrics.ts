// Prometheus metrics shared by every process: one registry per process with the `component`
// label, Node's default metrics (CPU, memory, GC, event-loop delay: nodejs_eventloop_lag_*),
// and the text exposition for `GET /metrics`. Each part of the system defines its own metrics
// next to its code (gateway/metrics.ts, replicator/metrics.ts, …) on the registry it is given.
//
// Naming (https://prometheus.io/docs/practices/naming/): `matchbook_<part>_<what>_<unit>`,
// counters end in `_total`, durations in seconds.

import client from 'prom-client';

export type Registry = client.Registry;

/**
 * Resolution (ms) of the event-loop delay histogram behind nodejs_eventloop_lag_*: the monitor
 * is a timer that wakes the process this often, idle or not. At 10 ms it cost 0.45–0.8% of a
 * core per process here (8 processes in `npm start`); at 100 ms nothing measurable. Stalls
 * shorter than the resolution are not seen, which is what the stage histograms are for.
 */
const EVENT_LOOP_MONITOR_RESOLUTION_MS = 100;

export function createRegistry(component: string): client.Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ component });
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_MONITOR_RESOLUTION_MS });
  return registry;
}

/** The exposition of a registry: body and content type for `GET /metrics`. */
export async function exposition(registry: client.Registry): Promise<{ body: string; contentType: string }> {
  return { body: await registry.metrics(), contentType: registry.contentType };
}

/**
 * A gauge whose value is read when scraped (nothing on the hot path): `read` returns the
 * value, or one value per label set.
 */
export function readGauge<L extends string = never>(
  registry: client.Registry,
  name: string,
  help: string,
  read: () => number | Iterable<[Partial<Record<L, string>>, number]>,
  labelNames: readonly L[] = [],
): client.Gauge<L> {
  return new client.Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      const v = read();
      if (typeof v === 'number') {
        this.set(v);
        return;
      }
      this.reset();
      for (const [labels, x] of v) this.set(labels, x);
    },
  });
}

/**
 * A counter copied from a running total when scraped (the parts count in plain fields of their
 * `stats`; a counter on the hot path would cost a call per event). The total must never go down.
 */
export function readCounter<L extends string = never>(
  registry: client.Registry,
  name: string,
  help: string,
  read: () => number | Iterable<[Partial<Record<L, string>>, number]>,
  labelNames: readonly L[] = [],
): client.Counter<L> {
  return new client.Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      const v = read();
      this.reset();
      if (typeof v === 'number') this.inc(v);
      else for (const [labels, x] of v) this.inc(labels, x);
    },
  });
}

/** Latency buckets (seconds) for request/ack latencies: 100 µs … 10 s. */
export const LATENCY_BUCKETS_S = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export { client as prom };
