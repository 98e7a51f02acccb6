// Structured logs (pino, JSON lines on stderr; stdout stays free for the processes' one-line
// "ready" announcements that tests and scripts wait for). Level from LOG_LEVEL (default info).
// Nothing logs per order at the default level: the hot paths count in metrics instead.
//
// The cores (replicator, feed, gateway, events) take a `Log`: a message that stays a readable
// sentence, an explicit level, and the values (ids, indexes, terms, peers, counts, errors) as
// fields. A process adapts its pino logger with pinoLog(); tests and tools use linesLog() (one
// text line per call) or NO_LOG.

import pino from 'pino';

export type Logger = pino.Logger;

/** The values of a log record: ids, indexes, terms, peers, counts, errors (`err`: message, or `stack`). */
export type LogFields = Record<string, unknown>;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * The one logging interface the cores take. Levels: info for normal lifecycle (listening,
 * recovered, role change, snapshot installed); warn for degraded but handled (reconnects,
 * refusals, a slow consumer closed, an observer's failure ignored); error for lost data or a
 * failure that needs an operator. Never per order at info.
 */
export interface Log {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export function createLogger(component: string, fields: Record<string, unknown> = {}): pino.Logger {
  return pino(
    { level: process.env.LOG_LEVEL ?? 'info', base: { component, pid: process.pid, ...fields } },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** A Log over a pino logger: each call is one JSON line with pino's level number, `msg` and the fields. */
export function pinoLog(logger: pino.Logger): Log {
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void => {
      if (fields === undefined) logger[level](msg);
      else logger[level](fields, msg);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * A Log that writes one text line per call, `LEVEL message {"field":value,…}` (the fields as
 * JSON, left out when there are none): for tests, tools and the simulator's traces.
 */
export function linesLog(write: (line: string) => void): Log {
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void =>
      write(formatLine(level, msg, fields));
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** One record as linesLog() writes it. */
export function formatLine(level: LogLevel, msg: string, fields?: LogFields): string {
  const head = `${level.toUpperCase()} ${msg}`;
  if (fields === undefined || Object.keys(fields).length === 0) return head;
  return `${head} ${JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? v.message : v))}`;
}

const nothing = (): void => undefined;

/** Logs nothing. */
export const NO_LOG: Log = { debug: nothing, info: nothing, warn: nothing, error: nothing };

/** An error as a log field (`err`): its message. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An error as a log field (`stack`) for a failure that is a bug (a handler, an observer): its stack. */
export function errorStack(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
