// Types of chain-hash.mjs (plain JavaScript: the hashing worker's entry point).

/** Quoted enum names by code (canonicalTables() in audit/canonical.ts). */
export interface CanonicalTables {
  side: string[];
  ordType: string[];
  execType: string[];
  ordStatus: string[];
  reason: string[];
}

export declare const F64_AT: number;
export declare const STRINGS_AT: number;
export declare const PLAIN_STRING: number;
export declare const CHAIN_WORKER_ROLE: string;

export declare function canonicalFromRecord(t: CanonicalTables, bytes: Buffer, view: DataView, at: number, prefix?: string): string;
export declare function hashRecords(t: CanonicalTables, startHash: string, bytes: Buffer, count: number, each?: (k: number, hash: string, canonical: string) => void): string;

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
