// Runs an operator command (cli/operator-commands.ts) in-process with console.log/error
// captured, for the CLI tests; likewise the whole `matchbook` command (runMatchbookCaptured).

import { main } from '../../cli/matchbook.js';
import { runOperator } from '../../cli/operator-commands.js';

export async function runOperatorCaptured(
  argv: string[],
): Promise<{ code: number | undefined; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await runOperator(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** `matchbook …` (cli/matchbook.ts `main`) in this process: its exit code and what it printed on stdout. */
export async function runMatchbookCaptured(args: string[]): Promise<{ code: number; out: string }> {
  const log = console.log;
  const printed: string[] = [];
  console.log = (...a: unknown[]) => printed.push(a.map(String).join(' '));
  try {
    return { code: await main(args), out: printed.join('\n') };
  } finally {
    console.log = log;
  }
}
