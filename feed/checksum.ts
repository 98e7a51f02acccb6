// The l2 checksum: lets a client prove that its book equals the server's after every update.
//
//   checksum = CRC-32 (IEEE 802.3, as zlib/PNG; unsigned 32-bit) of the ASCII string
//              bid1px:bid1qty:ask1px:ask1qty:bid2px:bid2qty:ask2px:ask2qty: … up to the 10th level
//
// Levels are interleaved best first, bid before ask (OKX/Kraken style); prices and quantities
// are the integer units in decimal, no sign, no leading zeros. When one side has fewer than
// 10 levels its missing entries are skipped (the other side's continue); an empty book is the
// empty string, checksum 0. Example: bids [100:5, 99:2], asks [101:7] → "100:5:101:7:99:2".

import CRC32 from 'crc-32';

/** Levels per side that the checksum covers. */
export const CHECKSUM_LEVELS = 10;

/** The string the checksum is computed over (exported for tests and for clients in other languages). */
export function checksumString(
  bids: readonly (readonly (number | string)[])[],
  asks: readonly (readonly (number | string)[])[],
): string {
  let s = '';
  for (let k = 0; k < CHECKSUM_LEVELS; k++) {
    const b = bids[k];
    const a = asks[k];
    if (b === undefined && a === undefined) break;
    if (b !== undefined) s += (s.length === 0 ? '' : ':') + b[0] + ':' + b[1];
    if (a !== undefined) s += (s.length === 0 ? '' : ':') + a[0] + ':' + a[1];
  }
  return s;
}

/** CRC-32 of a string's UTF-8 bytes, unsigned. */
export function crc32(s: string): number {
  return CRC32.str(s) >>> 0;
}

/**
 * The checksum of a book given as [price, qty, …] levels, best first (only the first 10 are
 * read); units as numbers, or as their decimal digits in strings (feed/decimal-form.ts
 * l2ChecksumOfDecimal turns decimal-form levels into those).
 */
export function l2Checksum(
  bids: readonly (readonly (number | string)[])[],
  asks: readonly (readonly (number | string)[])[],
): number {
  return crc32(checksumString(bids, asks));
}
