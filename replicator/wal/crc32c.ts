// CRC32C (Castagnoli) through the pure-JS SheetJS `crc-32` package. Its `crc32c` module is
// CommonJS with no `exports` map, so ESM cannot import the subpath directly; createRequire
// resolves it the CommonJS way. The package's typings describe only its default (CRC-32)
// module, so the shape is declared here.

import { createRequire } from 'node:module';

interface Crc32cModule {
  /** Signed int32 result; `seed` is a previous (signed) result, to continue a running CRC. */
  buf(data: Uint8Array, seed?: number): number;
}

const require = createRequire(import.meta.url);
const impl = require('crc-32/crc32c') as Crc32cModule;

// Guard against a silently different algorithm (e.g. a resolution to plain CRC-32): the
// standard check value of CRC32C over "123456789" is 0xE3069283.
if (impl.buf(new TextEncoder().encode('123456789')) >>> 0 !== 0xe3069283) {
  throw new Error('crc-32/crc32c does not compute CRC32C');
}

/** CRC32C of `data` as an unsigned 32-bit integer; pass a previous result to continue it. */
export function crc32c(data: Uint8Array, previous?: number): number {
  return (previous === undefined ? impl.buf(data) : impl.buf(data, previous | 0)) >>> 0;
}
