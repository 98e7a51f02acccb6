// A Log for tests that keeps each record as an object: its level, its message and its fields
// spread beside them, so a test asserts on `r.level === 'warn'` and `r.reason` rather than on
// text.

import type { Log, LogFields, LogLevel } from '../../ops/log.js';

export type LogRecord<F extends object = LogFields> = { level: LogLevel; msg: string } & Partial<F>;

/** Pushes every record onto `into` while it holds fewer than `max`. */
export function collectLog<F extends object = LogFields>(into: LogRecord<F>[], max = Number.POSITIVE_INFINITY): Log {
  const at =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void => {
      if (into.length < max) into.push({ ...fields, level, msg } as LogRecord<F>);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
