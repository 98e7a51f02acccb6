// The embedded broker's Prometheus metrics (ops/metrics.ts), served by main.ts on --ops:
// requests and bytes per Kafka API (counted in plain fields, copied when scraped), and the
// partitions' offsets and sizes read from the topic store when scraped.

import { readCounter, readGauge, type Registry } from '../../ops/metrics.js';
import type { Broker } from './broker.js';
import type { PartitionLog } from './log.js';
import { ApiKey } from './protocol.js';

const API_NAMES = new Map<number, string>(Object.entries(ApiKey).map(([name, key]) => [key, name]));

interface ApiCounts {
  requests: number;
  requestBytes: number;
  responseBytes: number;
}

/** Partitions exported per gauge at most (a series per topic and partition); beyond, partitions are left out. */
export const BROKER_METRICS_PARTITIONS_MAX = 1_000;

/**
 * Registers the broker's metrics and counts every request: Broker.handle, the one entry point
 * the network edge (server.ts) calls, is wrapped on this instance. Request bytes are the frame
 * (size prefix included), response bytes the body chunks returned.
 */
export function instrumentBroker(registry: Registry, broker: Broker): void {
  const byApi = new Map<number, ApiCounts>();
  const handle = broker.handle.bind(broker);
  broker.handle = async (header, r) => {
    let c = byApi.get(header.apiKey);
    if (c === undefined) byApi.set(header.apiKey, (c = { requests: 0, requestBytes: 0, responseBytes: 0 }));
    c.requests++;
    c.requestBytes += 4 + r.offset + r.remaining;
    const body = await handle(header, r);
    if (body !== null) for (const chunk of body) c.responseBytes += chunk.byteLength;
    return body;
  };
  registerRequestCounters(registry, byApi);
  registerPartitionGauges(registry, broker);
}

/** Requests and bytes per Kafka API, copied from the counts instrumentBroker keeps. */
function registerRequestCounters(registry: Registry, byApi: Map<number, ApiCounts>): void {
  const perApi = (field: keyof ApiCounts) => () =>
    [...byApi].map(([key, c]) => [{ api: API_NAMES.get(key) ?? String(key) }, c[field]] as [{ api: string }, number]);
  readCounter(
    registry,
    'matchbook_broker_requests_total',
    'Requests handled, per Kafka API (Produce, Fetch, Metadata, …)',
    perApi('requests'),
    ['api'],
  );
  readCounter(
    registry,
    'matchbook_broker_request_bytes_total',
    'Request bytes received (frames), per Kafka API',
    perApi('requestBytes'),
    ['api'],
  );
  readCounter(
    registry,
    'matchbook_broker_response_bytes_total',
    'Response bytes sent (bodies), per Kafka API',
    perApi('responseBytes'),
    ['api'],
  );
}

/** The topic count, and per partition (at most BROKER_METRICS_PARTITIONS_MAX) its offsets and size. */
function registerPartitionGauges(registry: Registry, broker: Broker): void {
  const partitions = () => {
    const out: { topic: string; partition: string; log: PartitionLog }[] = [];
    for (const t of broker.topics.topics.values()) {
      for (let p = 0; p < t.partitions.length && out.length < BROKER_METRICS_PARTITIONS_MAX; p++)
        out.push({ topic: t.name, partition: String(p), log: t.partitions[p]! });
    }
    return out;
  };
  readGauge(registry, 'matchbook_broker_topics', 'Topics', () => broker.topics.topics.size);
  readGauge(
    registry,
    'matchbook_broker_log_end_offset',
    'Offset the next record appended to a partition gets',
    () =>
      partitions().map(
        (x) =>
          [{ topic: x.topic, partition: x.partition }, x.log.logEndOffset] as [
            { topic: string; partition: string },
            number,
          ],
      ),
    ['topic', 'partition'],
  );
  readGauge(
    registry,
    'matchbook_broker_high_watermark',
    'Offset below which consumers see records (fsynced, under --fsync always)',
    () =>
      partitions().map(
        (x) =>
          [{ topic: x.topic, partition: x.partition }, x.log.highWatermark] as [
            { topic: string; partition: string },
            number,
          ],
      ),
    ['topic', 'partition'],
  );
  readGauge(
    registry,
    'matchbook_broker_log_start_offset',
    'First offset still held by a partition (retention removes older segments)',
    () =>
      partitions().map(
        (x) =>
          [{ topic: x.topic, partition: x.partition }, x.log.logStartOffset] as [
            { topic: string; partition: string },
            number,
          ],
      ),
    ['topic', 'partition'],
  );
  readGauge(
    registry,
    'matchbook_broker_log_bytes',
    'Bytes in the segments of a partition',
    () =>
      partitions().map(
        (x) =>
          [{ topic: x.topic, partition: x.partition }, x.log.sizeBytes] as [
            { topic: string; partition: string },
            number,
          ],
      ),
    ['topic', 'partition'],
  );
}
