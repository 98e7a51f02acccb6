// Conversions between uWS's RecognizedString (string, ArrayBuffer or a typed array) and Buffers.

import type { RecognizedString } from 'uWebSockets.js';

/** A Buffer over the same bytes (no copy for binary input); a string is UTF-8 encoded. */
export function toBuffer(s: RecognizedString | undefined): Buffer {
  if (s === undefined) return Buffer.alloc(0);
  if (typeof s === 'string') return Buffer.from(s, 'utf8');
  if (s instanceof ArrayBuffer) return Buffer.from(s);
  return Buffer.from(s.buffer, s.byteOffset, s.byteLength);
}

export function toText(s: RecognizedString): string {
  return typeof s === 'string' ? s : toBuffer(s).toString('utf8');
}

/** A fresh ArrayBuffer holding a copy of `b` (a Buffer may share a pooled ArrayBuffer). */
export function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(b.byteLength);
  new Uint8Array(out).set(b);
  return out;
}

export const EMPTY_ARRAY_BUFFER = new ArrayBuffer(0);
