// Hashing the report chain from exec records (audit/canonical.ts writes them): each record
// becomes the gateway's canonical report, chained as chain_hash(n) = sha256_hex(chain_hash(n-1)
// + "\n" + canonical(n)) (gateway/report-chain.ts chainStep, one crypto.hash call).
//
// Plain JavaScript on purpose: it is also the entry point of the hashing worker threads, and a
// worker cannot load TypeScript here (Node 20 does not apply tsx's module hooks inside worker
// threads). The enum names come in as tables (canonicalTables() in audit/canonical.ts), so
// engine/json-codec.ts stays the one place they are defined. Types: chain-hash.d.mts.
//
// Record layout (little-endian; audit/canonical.ts writeExecRow):
//   u32 byteLength | u16 shard | u8 side ordType execType ordStatus reason
//   | f64 execId orderId account price stopPrice orderQty cumQty leavesQty lastQty lastPx
//         cumNotional displayQty tradeId seq tsUs          (orderId: the global id, api/order-ids.ts)
//   | 3 × string: u32 byteLength (top bit: printable ASCII with nothing to escape, stored with
//         its JSON quotes) + the bytes (else UTF-16LE code units): clOrdId, origClOrdId, symbol

import { createPublicKey, hash, verify } from 'node:crypto';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

export const F64_AT = 4 + 2 + 5;
export const STRINGS_AT = F64_AT + 8 * 15;
export const CHAIN_WORKER_ROLE = 'matchbook-chain-hash';

/** Top bit of a string's length: printable ASCII with nothing to escape (the writer checked). */
export const PLAIN_STRING = 0x8000_0000;
const LENGTH_MASK = 0x7fff_ffff;

/** The JSON string of the string field at `at` (a plain one is stored with its quotes), and where the next field starts. */
function quoted(bytes, view, at) {
  const word = view.getUint32(at, true);
  const n = word & LENGTH_MASK;
  lastEnd = at + 4 + n;
  return word >= PLAIN_STRING ? bytes.latin1Slice(at + 4, at + 4 + n) : JSON.stringify(bytes.toString('utf16le', at + 4, at + 4 + n));
}
let lastEnd = 0;

/**
 * canonicalReport(toReport(shard, event)) of the exec record at `at` of `bytes` (a Buffer),
 * after `prefix` (hashing passes the previous hash and the newline: one string, not two joined).
 */
export function canonicalFromRecord(t, bytes, view, at, prefix = '') {
  const o = at + F64_AT;
  const clOrdId = quoted(bytes, view, at + STRINGS_AT);
  const orig = quoted(bytes, view, lastEnd);
  const symbol = quoted(bytes, view, lastEnd);
  return (
    `${prefix}{"exec_id":${view.getFloat64(o, true)},"order_id":${view.getFloat64(o + 8, true)},"client_order_id":${clOrdId},` +
    `"orig_client_order_id":${orig},"account":${view.getFloat64(o + 16, true)},"symbol":${symbol},` +
    `"side":${t.side[bytes[at + 6]]},"order_type":${t.ordType[bytes[at + 7]]},"exec_type":${t.execType[bytes[at + 8]]},` +
    `"order_status":${t.ordStatus[bytes[at + 9]]},"price":${view.getFloat64(o + 24, true)},"stop_price":${view.getFloat64(o + 32, true)},"order_qty":${view.getFloat64(o + 40, true)},` +
    `"cum_qty":${view.getFloat64(o + 48, true)},"leaves_qty":${view.getFloat64(o + 56, true)},"last_qty":${view.getFloat64(o + 64, true)},"last_px":${view.getFloat64(o + 72, true)},` +
    `"cum_notional":${view.getFloat64(o + 80, true)},"display_qty":${view.getFloat64(o + 88, true)},"reason":${t.reason[bytes[at + 10]]},` +
    `"trade_id":${view.getFloat64(o + 96, true)},"seq":${view.getFloat64(o + 104, true)},"ts_us":${view.getFloat64(o + 112, true)}}`
  );
}

/**
 * Chains `count` records of `bytes` onto `startHash`; `each` (optional) sees every position's
 * hash and canonical report, in order.
 */
export function hashRecords(t, startHash, bytes, count, each) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let h = startHash;
  let at = 0;
  for (let k = 0; k < count; k++) {
    if (each === undefined) {
      h = hash('sha256', canonicalFromRecord(t, bytes, view, at, `${h}\n`));
    } else {
      const canonical = canonicalFromRecord(t, bytes, view, at);
      h = hash('sha256', `${h}\n${canonical}`);
      each(k, h, canonical);
    }
    at += view.getUint32(at, true);
  }
  return h;
}

function verifyHead(key, head) {
  if (key === undefined) return false;
  const sig = Buffer.from(head.signature, 'base64');
  if (sig.length !== 64) return false;
  try {
    return verify(null, Buffer.from(`${head.chainSeq}\n${head.chainHash}`, 'utf8'), key, sig);
  } catch {
    return false;
  }
}

// As a worker: { id, startHash, records (transferred ArrayBuffer), length, count, head? } in,
// { id, endHash, sigOk } out.
if (!isMainThread && parentPort !== null && workerData?.role === CHAIN_WORKER_ROLE) {
  const port = parentPort;
  const tables = workerData.tables;
  const key = workerData.keyDer === undefined ? undefined : createPublicKey({ key: Buffer.from(workerData.keyDer), format: 'der', type: 'spki' });
  port.on('message', (m) => {
    const endHash = hashRecords(tables, m.startHash, Buffer.from(m.records, 0, m.length), m.count);
    port.postMessage({ id: m.id, endHash, sigOk: m.head === undefined ? undefined : verifyHead(key, m.head) });
  });
}
