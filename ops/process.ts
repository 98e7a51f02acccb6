// The lifecycle every server process shares: a graceful stop on SIGTERM/SIGINT bounded by a
// timeout (then exit 1), exit 0 once stopped; and a fatal error in main() logged with exit 1.

import type { Log, LogFields } from './log.js';

/**
 * On the first SIGTERM or SIGINT: logs, runs `stop` (its optional result is logged as the
 * fields of the "stopped" record), exits 0; if that takes longer than timeoutMs, exits 1.
 */
export function stopOnSignals(opts: { log: Log; timeoutMs: number; stop: () => Promise<LogFields | undefined> }): void {
  let stopping = false;
  const onSignal = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    opts.log.info('stopping', { signal });
    const timer = setTimeout(() => {
      opts.log.error('stop timed out: exiting with status 1', { timeoutMs: opts.timeoutMs });
      process.exit(1);
    }, opts.timeoutMs);
    timer.unref();
    const fields = await opts.stop();
    opts.log.info('stopped', fields ?? undefined);
    process.exit(0);
  };
  process.on('SIGTERM', () => void onSignal('SIGTERM'));
  process.on('SIGINT', () => void onSignal('SIGINT'));
}

/** Runs a process's main(); an error escaping it is fatal. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(`FATAL: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  });
}
