// How `npm start -- --shards N` spreads instruments over shards: a pure function of the
// instruments file and N.
//
// The rule: the instruments are dealt round-robin in file order — instrument k (0-based) goes to
// shard k mod N — so shard 0 of one shard is the file itself, and the same file and N always
// give the same plan. Each shard gets the file's other fields (accounts, STP, order count
// limit) unchanged and its own `shardId`. Every shard must get at least one instrument and a
// symbol may appear once only (checked here, again by the gateway config parser, which refuses
// a symbol in two shards).

import { SHARDS_MAX } from './limits.js';

export interface InstrumentsFile extends Record<string, unknown> {
  instruments: Record<string, unknown>[];
}

/** Throws (with a message for the operator) when `shards` is not 1..SHARDS_MAX or the file cannot be split. */
export function splitInstruments(file: Record<string, unknown>, shards: number): InstrumentsFile[] {
  if (!Number.isSafeInteger(shards) || shards < 1 || shards > SHARDS_MAX)
    throw new Error(`--shards must be an integer in 1..${SHARDS_MAX} (SHARDS_MAX), not ${String(shards)}`);
  const list = file.instruments;
  if (!Array.isArray(list)) throw new Error('the instruments file has no "instruments" array');
  const seen = new Set<string>();
  for (const inst of list as Record<string, unknown>[]) {
    const symbol = String(inst?.symbol);
    if (seen.has(symbol)) throw new Error(`symbol ${symbol} is twice in the instruments file`);
    seen.add(symbol);
  }
  if (list.length < shards)
    throw new Error(
      `--shards ${shards} needs at least ${shards} instruments (one per shard); the instruments file has ${list.length}`,
    );
  return Array.from({ length: shards }, (_, s) => ({
    ...file,
    shardId: s,
    instruments: (list as Record<string, unknown>[]).filter((_, k) => k % shards === s),
  }));
}
