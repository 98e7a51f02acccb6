// Structured logs (pino, JSON lines on stderr; stdout stays free for the processes' one-line
// "ready" announcements that tests and scripts wait for). Level from LOG_LEVEL (default info).
// Nothing logs per order at the default level: the hot paths count in metrics instead.

import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(component: string, fields: Record<string, unknown> = {}): pino.Logger {
  return pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component, pid: process.pid, ...fields } }, pino.destination({ fd: 2, sync: true }));
}

/**
 * Adapts a logger to the `(line: string) => void` callbacks the cores take. A line that starts
 * with the cores' severity words is logged at that level: `WARN…` (WARNING:, WARN) as warn,
 * `FATAL`, `ERROR` and the publisher's `GAP:` (events lost to read models) as error; any other
 * line at `level`.
 */
export function lineLogger(logger: pino.Logger, level: 'info' | 'warn' | 'error' = 'info'): (line: string) => void {
  return (line) => {
    if (line.startsWith('WARN')) logger.warn(line);
    else if (line.startsWith('FATAL') || line.startsWith('ERROR') || line.startsWith('GAP:')) logger.error(line);
    else logger[level](line);
  };
}
