// Types of chain-hash.mjs (plain JavaScript: the hashing worker's entry point).

/** Quoted enum names by code (CANONICAL_TABLES in audit/canonical.ts). */
export interface CanonicalTables {
  side: string[];
  ordType: string[];
  execType: string[];
  ordStatus: string[];
  reason: string[];
  tif: string[];
  liquidity: string[];
}

export declare const F64_AT: number;
export declare const STRINGS_AT: number;
export declare const PLAIN_STRING: number;
export declare const CHAIN_WORKER_ROLE: string;

/** The canonical report of the exec record at `at`, after `prefix`. */
export type RecordWriter = (bytes: Buffer, view: DataView, at: number, prefix?: string) => string;

export declare function recordWriter(t: CanonicalTables, template: string): RecordWriter;
export declare function hashRecords(
  write: RecordWriter,
  startHash: string,
  bytes: Buffer,
  count: number,
  each?: (k: number, hash: string, canonical: string) => void,
): string;

export interface HashRequest {
  id: number;
  startHash: string;
  records: ArrayBuffer;
  length: number;
  count: number;
  /** The signed head at the segment's end: its signature is checked in the worker too. */
  head?: { chainSeq: number; chainHash: string; signature: string };
}

export interface HashReply {
  id: number;
  endHash: string;
  sigOk: boolean | undefined;
}
