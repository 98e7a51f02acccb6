// Canonical forms and running digests shared by the seed benchmark's checker (verify.ts) and its
// read-model process (read-model-proc.ts): both sides reduce what they hold for one order — the
// execution reports in the log, the records the read models applied, the order's view — to a
// CRC-32 chained over canonical strings, in order. Equal digests and equal counts mean equal
// sequences (up to a 2^-32 chance per order of a difference going unseen).

import { crc32 } from 'node:zlib';
import { CANONICAL_FIELDS } from '../../api/report-canonical.js';
import type { ExecRecord } from '../../events/codec.js';
import type { OrderView } from '../../events/read-models/model.js';

/**
 * Fields of an exec record in a fixed order: EventOrigin first (events/codec.ts ExecRecord), then
 * the report's fields in the canonical order (api/report-canonical.ts), seq and ts_us among the origin.
 */
const EXEC_RECORD_FIELDS: readonly (keyof ExecRecord)[] = [
  'shard',
  'log_index',
  'position',
  'seq',
  'ts_us',
  ...CANONICAL_FIELDS.filter((f) => f !== 'seq' && f !== 'ts_us'),
];

/** Fields of an order view in a fixed order (events/read-models/model.ts OrderView). */
const ORDER_VIEW_FIELDS = [
  'order_id',
  'shard',
  'account',
  'client_order_id',
  'symbol',
  'side',
  'order_type',
  'order_status',
  'price',
  'stop_price',
  'order_qty',
  'cum_qty',
  'leaves_qty',
  'display_qty',
  'cum_notional',
  'reason',
  'last_exec_id',
  'seq',
  'created_ts_us',
  'updated_ts_us',
] as const satisfies readonly (keyof OrderView)[];

function canonical(o: Record<string, unknown>, fields: readonly string[]): string {
  let s = '';
  for (const f of fields) {
    const v = o[f];
    s += `${f}=${typeof v === 'string' ? JSON.stringify(v) : String(v)};`;
  }
  return s;
}

export function canonicalExecRecord(r: ExecRecord): string {
  return canonical(r as unknown as Record<string, unknown>, EXEC_RECORD_FIELDS);
}

export function canonicalOrderView(v: OrderView): string {
  return canonical(v as unknown as Record<string, unknown>, ORDER_VIEW_FIELDS);
}

/** Chains one more item into a running digest (start from 0). */
export function chain(prev: number, canonicalItem: string): number {
  return crc32(canonicalItem, prev);
}

/** Digest of an order view; 0 stands for "absent" (a present view hashing to 0 is taken as 1). */
export function viewDigest(v: OrderView | undefined): number {
  if (v === undefined) return 0;
  return crc32(canonicalOrderView(v)) || 1;
}

/** Per order id (= engine seq on shard 0): count and running digest of the records of one topic. */
export class DigestTable {
  count: Uint32Array;
  digest: Uint32Array;

  constructor(capacity = 1024) {
    this.count = new Uint32Array(capacity);
    this.digest = new Uint32Array(capacity);
  }

  add(id: number, canonicalItem: string): void {
    if (id >= this.count.length) this.grow(id + 1);
    this.count[id]!++;
    this.digest[id] = crc32(canonicalItem, this.digest[id]!);
  }

  private grow(min: number): void {
    let n = this.count.length;
    while (n < min) n *= 2;
    const c = new Uint32Array(n);
    c.set(this.count);
    const d = new Uint32Array(n);
    d.set(this.digest);
    this.count = c;
    this.digest = d;
  }

  countOf(id: number): number {
    return id < this.count.length ? this.count[id]! : 0;
  }

  digestOf(id: number): number {
    return id < this.digest.length ? this.digest[id]! : 0;
  }
}

/** Uint32Array ⇄ base64 (little-endian bytes), for the read-model process's dump file. */
export function u32ToBase64(a: Uint32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

export function u32FromBase64(s: string): Uint32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Uint32Array(b.length / 4);
  Buffer.from(out.buffer).set(b);
  return out;
}
