// What every process's limits-check.ts shares: a rule is a reason and whether it holds; the
// process stops at load when any is broken (TigerBeetle's comptime asserts on constants.zig).

/** One relation between limits: why it must hold, and whether it does. */
export type LimitRule = readonly [reason: string, holds: boolean];

/** The reasons of the rules that do not hold, in order. */
export function brokenRules(rules: readonly LimitRule[]): string[] {
  return rules.filter(([, holds]) => !holds).map(([reason]) => reason);
}

/** Throws, naming every broken rule and the limits file, when any rule is broken. */
export function assertLimits(owner: string, file: string, broken: readonly string[]): void {
  if (broken.length > 0) throw new Error(`${owner} limits contradict each other: ${broken.join('; ')} (${file})`);
}
