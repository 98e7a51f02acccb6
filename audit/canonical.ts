// The gateway's canonical execution report (api/report-canonical.ts canonicalReport of
// api/execution-report.ts toReport), regenerated from the engine's exec events.
//
// Replay regenerates every chained report, so this runs once per report and is split in two:
// the replay thread copies an exec row of the EventBuffer into a compact binary record
// (writeExecRow, ~0.2 µs), and whoever hashes the chain — worker threads for large chains —
// turns the record into the canonical string (audit/chain-hash.mjs recordWriter, compiled from
// RECORD_TEMPLATE below: the canonical form's template, api/report-canonical.ts, with each
// field read from the record). The gateway's own path (event object → report object → string)
// costs ~1.3 µs per report on this machine.
//
// The result must be the same bytes: test/audit/canonical.test.ts compares
// canonicalFromRecord(writeExecRow(…)) with canonicalReport(toReport(…)) of the event as the
// gateway decodes it, over generated streams (rejected orders with odd strings included). A
// difference could only make a replay report a mismatch that is not there, never hide one: the
// chain hashes are compared with what the exchange signed.
//
// Wide instruments (engine/notional.ts): the record carries cum_notional's two limbs, and the
// canonical text is the exact value — a number up to 2^53 − 1, else the bigint's digits, as the
// gateway's template writes `${r.cum_notional}` of a bigint; avg_px is computed from the exact
// value (test/audit/canonical.test.ts checks both across 2^53 against a BigInt reference).
//
// Record layout: see audit/chain-hash.mjs.

import { ENUMS_AS_NAMES, reasonText } from '../api/execution-report.js';
import { orderIdOf } from '../api/order-ids.js';
import { canonicalTemplate, type CanonicalField } from '../api/report-canonical.js';
import { avgPx } from '../engine/avg-px.js';
import type { EventBuffer } from '../engine/event-buffer.js';
import { notionalValue } from '../engine/notional.js';
import { F64_AT, PLAIN_STRING, STRINGS_AT, recordWriter, type CanonicalTables } from './chain-hash.mjs';

function quotedTable(name: (code: number) => string): string[] {
  return Array.from({ length: 256 }, (_, code) => JSON.stringify(name(code)));
}

/** The enum names of a canonical report, quoted, by code (what toReport writes for each code). */
export const CANONICAL_TABLES: CanonicalTables = {
  side: quotedTable(ENUMS_AS_NAMES.side),
  ordType: quotedTable(ENUMS_AS_NAMES.ordType),
  execType: quotedTable(ENUMS_AS_NAMES.execType),
  ordStatus: quotedTable(ENUMS_AS_NAMES.ordStatus),
  reason: quotedTable(reasonText),
  tif: quotedTable(ENUMS_AS_NAMES.tif),
  liquidity: quotedTable(ENUMS_AS_NAMES.liquidity),
};

/**
 * Where each field of the canonical report is in an exec record (writeExecRow below), as the
 * JavaScript expression of its JSON text in chain-hash.mjs recordWriter: `o` is where the f64
 * fields start, `clOrdId`, `origClOrdId`, `symbol` and `avgPx` the strings already quoted, `t` the enum
 * tables (CANONICAL_TABLES), `notionalText` the notional's text from its two limbs (a bigint's
 * digits above 2^53 − 1, as the gateway's template writes a wide report's cum_notional).
 */
const RECORD_FIELDS: Record<CanonicalField, string> = {
  exec_id: 'view.getFloat64(o, true)',
  order_id: 'view.getFloat64(o + 8, true)',
  client_order_id: 'clOrdId',
  orig_client_order_id: 'origClOrdId',
  account: 'view.getFloat64(o + 16, true)',
  symbol: 'symbol',
  side: 't.side[bytes[at + 6]]',
  order_type: 't.ordType[bytes[at + 7]]',
  time_in_force: 't.tif[bytes[at + 11]]',
  exec_type: 't.execType[bytes[at + 8]]',
  order_status: 't.ordStatus[bytes[at + 9]]',
  price: 'view.getFloat64(o + 24, true)',
  stop_price: 'view.getFloat64(o + 32, true)',
  order_qty: 'view.getFloat64(o + 40, true)',
  cum_qty: 'view.getFloat64(o + 48, true)',
  leaves_qty: 'view.getFloat64(o + 56, true)',
  last_qty: 'view.getFloat64(o + 64, true)',
  last_px: 'view.getFloat64(o + 72, true)',
  cum_notional: 'notionalText(view.getFloat64(o + 80, true), view.getFloat64(o + 120, true))',
  avg_px: 'avgPx',
  display_qty: 'view.getFloat64(o + 88, true)',
  reason: 't.reason[bytes[at + 10]]',
  trade_id: 'view.getFloat64(o + 96, true)',
  last_liquidity_ind: 't.liquidity[bytes[at + 12]]',
  seq: 'view.getFloat64(o + 104, true)',
  ts_us: 'view.getFloat64(o + 112, true)',
};

/** The canonical form's template over an exec record, after `prefix`: what recordWriter compiles (here and in the hashing workers). */
export const RECORD_TEMPLATE = canonicalTemplate((f) => RECORD_FIELDS[f], 'prefix');

/** The canonical report of an exec record (and of one after a prefix, for hashing): chain-hash.mjs hashRecords takes it. */
export const RECORD_WRITER = recordWriter(CANONICAL_TABLES, RECORD_TEMPLATE);

/** Bytes writeExecRow may need for row i (strings at 2 bytes per UTF-16 unit at most). */
export function execRowBytesMax(b: EventBuffer, i: number): number {
  // Four u32 lengths, four pairs of quotes; avgPx: at most 16 integer digits (it is at most the
  // highest fill price, below 2^53, also on a wide instrument), the point, 8 decimals.
  return STRINGS_AT + 16 + 8 + 25 + 2 * (b.clOrdId[i]!.length + (b.origClOrdId[i] ?? '').length + b.symbol[i]!.length);
}

/**
 * u32 byte length, then the string: printable ASCII without `"` or `\\` (nearly always) as its
 * JSON form (in quotes), flagged by the length's top bit so the reader takes it as is; anything else
 * as UTF-16LE code units, which keeps every string unit for unit (lone surrogates included, as
 * the event codec does), for the reader's JSON.stringify.
 */
function writeString(out: Uint8Array, view: DataView, at: number, s: string): number {
  const n = s.length;
  let p = at + 4;
  out[p++] = 0x22;
  let plain = true;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
      plain = false;
      break;
    }
    out[p++] = c;
  }
  if (plain) {
    out[p++] = 0x22;
  } else {
    p = at + 4;
    for (let k = 0; k < n; k++) {
      const c = s.charCodeAt(k);
      out[p++] = c & 0xff;
      out[p++] = c >>> 8;
    }
  }
  view.setUint32(at, (p - at - 4) | (plain ? PLAIN_STRING : 0), true);
  return p;
}

/**
 * Writes exec row i of `b` as a record at `out[at…]` (execRowBytesMax(b, i) bytes must be free);
 * returns the offset after it.
 */
export function writeExecRow(
  out: Uint8Array,
  view: DataView,
  at: number,
  shard: number,
  b: EventBuffer,
  i: number,
): number {
  view.setUint16(at + 4, shard, true);
  out[at + 6] = b.side[i]!;
  out[at + 7] = b.ordType[i]!;
  out[at + 8] = b.execType[i]!;
  out[at + 9] = b.ordStatus[i]!;
  out[at + 10] = b.reason[i]!;
  out[at + 11] = b.tif[i]!;
  out[at + 12] = b.liquidity[i]!;
  let o = at + F64_AT;
  view.setFloat64(o, b.id[i]!, true);
  view.setFloat64(o + 8, orderIdOf(shard, b.orderId[i]!), true);
  view.setFloat64(o + 16, b.account[i]!, true);
  view.setFloat64(o + 24, b.price[i]!, true);
  view.setFloat64(o + 32, b.stopPrice[i]!, true);
  view.setFloat64(o + 40, b.qty[i]!, true);
  view.setFloat64(o + 48, b.cumQty[i]!, true);
  view.setFloat64(o + 56, b.leavesQty[i]!, true);
  view.setFloat64(o + 64, b.lastQty[i]!, true);
  view.setFloat64(o + 72, b.lastPx[i]!, true);
  view.setFloat64(o + 80, b.cumNotional[i]!, true);
  view.setFloat64(o + 88, b.displayQty[i]!, true);
  view.setFloat64(o + 96, b.aux[i]!, true);
  view.setFloat64(o + 104, b.seq[i]!, true);
  view.setFloat64(o + 112, b.tsUs[i]!, true);
  view.setFloat64(o + 120, b.cumNotionalHi[i]!, true);
  o = at + STRINGS_AT;
  o = writeString(out, view, o, b.clOrdId[i]!);
  o = writeString(out, view, o, b.origClOrdId[i] ?? '');
  o = writeString(out, view, o, b.symbol[i]!);
  o = writeString(out, view, o, avgPx(notionalValue(b.cumNotional[i]!, b.cumNotionalHi[i]!), b.cumQty[i]!));
  view.setUint32(at, o - at, true);
  return o;
}

/** Byte length of the record at `at`. */
export function execRowLength(view: DataView, at: number): number {
  return view.getUint32(at, true);
}

/** canonicalReport(toReport(shard, event)) of the exec record at `at`. */
export function canonicalFromRecord(bytes: Buffer, view: DataView, at: number): string {
  return RECORD_WRITER(bytes, view, at);
}
