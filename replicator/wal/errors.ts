// The WAL's errors, in a file of their own so every WAL module can throw them without importing
// wal.ts (which imports them all).

/** Found at open (or when loading the snapshot): damage that cannot be repaired locally. */
export class WalCorruptionError extends Error {
  override name = 'WalCorruptionError';
  constructor(
    readonly file: string,
    readonly offset: number,
    reason: string,
  ) {
    super(`WAL corrupt: ${file} at byte offset ${offset}: ${reason}; repair this replica from its peers`);
  }
}
