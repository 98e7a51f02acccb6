// Kafka plumbing shared by the publisher, the read models and the benchmark: which brokers to
// use, a kafkajs client with this project's retry policy and logging, and the topics.
//
// Brokers: --brokers (comma-separated host:port) > KAFKA_BROKERS > the embedded broker's
// default address (events/broker, `npm run broker`, port 9092 on loopback). With KAFKA_BROKERS
// set, every part talks to that cluster instead (events/README.md, "Real Kafka").
//
// Loading this module patches two idle timers out of kafkajs's request queue (kafkajs-patch.ts).

import { readSecret } from '../ops/tls-settings.js';
import net from 'node:net';
import tls from 'node:tls';
import {
  Kafka,
  logLevel,
  type Admin,
  type ISocketFactory,
  type ITopicConfig,
  type LogEntry,
  type SASLOptions,
} from 'kafkajs';
import { patchKafkajs } from './kafkajs-patch.js';
import type { Log, LogFields, LogLevel } from '../ops/log.js';
import {
  ALL_TOPICS,
  EVENT_TOPIC_PARTITIONS_DEFAULT,
  EVENT_TOPICS,
  PROGRESS_TOPIC_PARTITIONS,
  TOPIC_PROGRESS,
  type EventTopic,
} from './topics.js';

/** Where the embedded broker listens by default (events/broker/main.ts). */
export const EMBEDDED_BROKER_DEFAULT = '127.0.0.1:9092';
/** kafkajs retries of one request (metadata, produce, fetch) before it gives up and the caller's own retry loop takes over. */
export const KAFKA_RETRIES = 5;
export const KAFKA_RETRY_INITIAL_MS = 100;
export const KAFKA_RETRY_MAX_MS = 2_000;
/** Connecting to a broker (ms). */
export const KAFKA_CONNECTION_TIMEOUT_MS = 3_000;
/** Request timeout (ms); a produce waits for the broker's fsync. */
export const KAFKA_REQUEST_TIMEOUT_MS = 30_000;

/** The broker list to use: an explicit flag, else KAFKA_BROKERS, else `fallback` (the embedded broker). */
export function resolveBrokers(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  fallback: string = EMBEDDED_BROKER_DEFAULT,
): string[] {
  const raw =
    flag ?? (env.KAFKA_BROKERS !== undefined && env.KAFKA_BROKERS.trim() !== '' ? env.KAFKA_BROKERS : fallback);
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new RangeError('no Kafka brokers given');
  for (const b of list)
    if (!/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(b))
      throw new RangeError(`Kafka broker ${JSON.stringify(b)} is not host:port`);
  return list;
}

/** A config file's `kafkaBrokers` (a "host:port,…" string or an array of them) as one list string; undefined if absent. */
export function configuredBrokers(raw: Record<string, unknown>): string | undefined {
  const b = raw.kafkaBrokers;
  return typeof b === 'string' ? b : Array.isArray(b) ? b.join(',') : undefined;
}

/** TCP keep-alive delay of broker connections (ms), as kafkajs's own socket factory sets it. */
const KAFKA_KEEPALIVE_DELAY_MS = 60_000;

/**
 * kafkajs's default socket factory with TCP_NODELAY: it leaves Nagle's algorithm on, so a small
 * request (a fetch, an offset commit, a produce of one order's records) written while an
 * earlier segment is unacknowledged may wait for the broker's delayed ACK. The embedded broker
 * sets it on its side (events/broker/server.ts).
 */
const noDelaySocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tls.connect({ host, port, ...(net.isIP(host) === 0 ? { servername: host } : {}), ...ssl }, onConnect)
    : net.connect({ host, port }, onConnect);
  socket.setKeepAlive(true, KAFKA_KEEPALIVE_DELAY_MS);
  socket.setNoDelay(true);
  return socket;
};

const kafkajsPatched = patchKafkajs();
let kafkajsUnpatchedLogged = false;

/** kafkajs's levels as ours (NOTHING never logs). */
const LEVELS: Record<number, LogLevel> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * A kafkajs client; what it logs at `level` or above goes to `log` at kafkajs's own level, its
 * message prefixed `kafkajs: `, its namespace and extra values (broker, error, retry count…)
 * as fields.
 */
/** SASL mechanisms kafkajs speaks that a managed cluster may ask for (KAFKA_SASL_MECHANISM). */
export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
type SaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** The TLS and SASL part of a kafkajs client's config. */
export interface KafkaSecurity {
  ssl?: { ca?: Buffer[]; cert?: Buffer; key?: Buffer; rejectUnauthorized: true };
  sasl?: SASLOptions;
}

function envFile(env: NodeJS.ProcessEnv, name: string): Buffer | undefined {
  const file = env[name];
  return file === undefined || file === '' ? undefined : readSecret({ file }, name, env);
}

/**
 * TLS and SASL for a managed Kafka cluster, from the environment (secrets from files or the
 * environment, never a config file): KAFKA_SSL=1 (TLS with Node's roots) or any of
 * KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE + KAFKA_SSL_KEY_FILE (client certificate) turns TLS on;
 * KAFKA_SASL_MECHANISM (plain, scram-sha-256, scram-sha-512) with KAFKA_SASL_USERNAME and
 * KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD turns SASL on. Throws RangeError naming the
 * variable (never its value) when the settings are incomplete or unknown. The embedded broker
 * (events/broker/) speaks neither: it is local, on 127.0.0.1.
 */
export function kafkaSecurity(env: NodeJS.ProcessEnv): KafkaSecurity {
  const out: KafkaSecurity = {};
  const ca = envFile(env, 'KAFKA_SSL_CA_FILE');
  const cert = envFile(env, 'KAFKA_SSL_CERT_FILE');
  const key = envFile(env, 'KAFKA_SSL_KEY_FILE');
  if ((cert === undefined) !== (key === undefined))
    throw new RangeError('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together');
  if (env.KAFKA_SSL === '1' || ca !== undefined || cert !== undefined)
    out.ssl = {
      ...(ca !== undefined ? { ca: [ca] } : {}),
      ...(cert !== undefined ? { cert, key: key! } : {}),
      rejectUnauthorized: true,
    };
  const mechanism = env.KAFKA_SASL_MECHANISM;
  if (mechanism === undefined || mechanism === '') return out;
  if (!(KAFKA_SASL_MECHANISMS as readonly string[]).includes(mechanism))
    throw new RangeError(`KAFKA_SASL_MECHANISM must be one of ${KAFKA_SASL_MECHANISMS.join(', ')}`);
  const username = env.KAFKA_SASL_USERNAME;
  if (username === undefined || username === '') throw new RangeError('KAFKA_SASL_USERNAME is not set');
  const passwordFile = envFile(env, 'KAFKA_SASL_PASSWORD_FILE');
  const password = passwordFile?.toString('utf8').replace(/\r?\n$/, '') ?? env.KAFKA_SASL_PASSWORD;
  if (password === undefined || password === '')
    throw new RangeError('KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD is not set');
  out.sasl = { mechanism: mechanism as SaslMechanism, username, password } as SASLOptions;
  return out;
}

export function kafkaClient(
  brokers: string[],
  clientId: string,
  log: Log,
  level: logLevel = logLevel.WARN,
  security: KafkaSecurity = kafkaSecurity(process.env),
): Kafka {
  if (!kafkajsPatched && !kafkajsUnpatchedLogged) {
    kafkajsUnpatchedLogged = true;
    log.warn('kafkajs is not the version kafkajs-patch.ts patches: its request queues keep their 1 ms idle timer');
  }
  return new Kafka({
    clientId,
    brokers,
    ...security,
    socketFactory: noDelaySocketFactory,
    connectionTimeout: KAFKA_CONNECTION_TIMEOUT_MS,
    requestTimeout: KAFKA_REQUEST_TIMEOUT_MS,
    retry: { retries: KAFKA_RETRIES, initialRetryTime: KAFKA_RETRY_INITIAL_MS, maxRetryTime: KAFKA_RETRY_MAX_MS },
    logLevel: level,
    logCreator:
      () =>
      ({ namespace, level: l, log: entry }: LogEntry) => {
        const message = typeof entry.message === 'string' ? entry.message : '';
        // The publisher bounds the idempotent producer's retries on purpose: a send that still
        // fails ends its session, and the next session resends from the last progress record
        // with a new producer id (duplicates downstream, never a gap).
        if (message.startsWith('Limiting retries for the idempotent producer')) return;
        const fields: LogFields = { namespace };
        for (const [k, v] of Object.entries(entry))
          if (k !== 'message' && k !== 'timestamp' && k !== 'logger') fields[k] = v;
        log[LEVELS[l] ?? 'info'](`kafkajs: ${message}`, fields);
      },
  });
}

/**
 * Creates whichever of the topics is missing (event topics with `partitions` partitions, the
 * progress topic with one) and returns the partition count of each event topic as the
 * cluster has it (an existing topic keeps its own).
 */
export async function ensureTopics(
  admin: Admin,
  partitions: number = EVENT_TOPIC_PARTITIONS_DEFAULT,
): Promise<Record<EventTopic, number>> {
  const existing = new Set(await admin.listTopics());
  const missing: ITopicConfig[] = [];
  for (const t of ALL_TOPICS) {
    if (existing.has(t)) continue;
    missing.push({ topic: t, numPartitions: t === TOPIC_PROGRESS ? PROGRESS_TOPIC_PARTITIONS : partitions });
  }
  // Another process may create them at the same moment: "already exists" is success.
  if (missing.length > 0)
    await admin.createTopics({ topics: missing, waitForLeaders: true }).catch((err: unknown) => {
      if (!/already exists/i.test(String((err as Error).message))) throw err;
    });
  const md = await admin.fetchTopicMetadata({ topics: [...ALL_TOPICS] });
  const counts = {} as Record<EventTopic, number>;
  for (const t of md.topics) {
    if ((EVENT_TOPICS as readonly string[]).includes(t.name)) counts[t.name as EventTopic] = t.partitions.length;
  }
  for (const t of EVENT_TOPICS) if (!(counts[t] >= 1)) throw new Error(`topic ${t} has no partitions`);
  return counts;
}
