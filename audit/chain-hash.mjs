// Hashing the report chain from exec records (audit/canonical.ts writes them): each record
// becomes the gateway's canonical report, chained as chain_hash(n) = sha256_hex(chain_hash(n-1)
// + "\n" + canonical(n)) (api/report-canonical.ts chainStep, here one crypto.hash call).
//
// Plain JavaScript on purpose: it is also the entry point of the hashing worker threads, and a
// worker cannot load TypeScript here (Node 20 does not apply tsx's module hooks inside worker
// threads). So what defines the canonical report comes in as data, and this file knows no
// report field: the writer of a record's canonical report is compiled here (recordWriter) from
// a template that audit/canonical.ts generates with api/report-canonical.ts canonicalTemplate —
// the one definition of the canonical form, which the gateway's canonicalReport is compiled
// from too — and the enum names come as tables (CANONICAL_TABLES in audit/canonical.ts, from
// api/execution-report.ts). Types: chain-hash.d.mts.
//
// Record layout (little-endian; audit/canonical.ts writeExecRow):
//   u32 byteLength | u16 shard | u8 side ordType execType ordStatus reason tif lastLiquidityInd
//   | f64 execId orderId account price stopPrice orderQty cumQty leavesQty lastQty lastPx
//         cumNotional displayQty tradeId seq tsUs cumNotionalHi
//         (orderId: the global id, api/order-ids.ts; cumNotional, cumNotionalHi: the notional's
//         two limbs, value = hi × 2^53 + lo, engine/notional.ts; hi is 0 up to 2^53 − 1)
//   | 4 × string: u32 byteLength (top bit: printable ASCII with nothing to escape, stored with
//         its JSON quotes) + the bytes (else UTF-16LE code units): clOrdId, origClOrdId, symbol,
//         avgPx (written by the replay thread with engine/avg-px.ts, the one definition)

import { createPublicKey, hash, verify } from 'node:crypto';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

export const F64_AT = 4 + 2 + 7;
export const STRINGS_AT = F64_AT + 8 * 16;
export const CHAIN_WORKER_ROLE = 'matchbook-chain-hash';

/** Top bit of a string's length: printable ASCII with nothing to escape (the writer checked). */
export const PLAIN_STRING = 0x8000_0000;
const LENGTH_MASK = 0x7fff_ffff;

/** The JSON string of the string field at `at` (a plain one is stored with its quotes); notes where the next field starts. */
function quoted(bytes, view, at) {
  const word = view.getUint32(at, true);
  const n = word & LENGTH_MASK;
  lastEnd = at + 4 + n;
  return word >= PLAIN_STRING
    ? bytes.latin1Slice(at + 4, at + 4 + n)
    : JSON.stringify(bytes.toString('utf16le', at + 4, at + 4 + n));
}
let lastEnd = 0;

const LIMB_BITS = 53n;

/**
 * The canonical text of the notional of limbs (lo, hi): lo itself (a number, written as
 * Number#toString) when hi is 0, else the exact value's decimal digits — what the gateway's
 * template writes for its bigint (engine/notional.ts notionalValue; test/audit/canonical.test.ts
 * compares them across 2^53).
 */
function notionalText(lo, hi) {
  return hi === 0 ? lo : ((BigInt(hi) << LIMB_BITS) + BigInt(lo)).toString();
}

/** The JSON string of the string field after the one read last. */
function quotedNext(bytes, view) {
  return quoted(bytes, view, lastEnd);
}

/**
 * The writer of canonical reports from exec records: (bytes (a Buffer), view, at, prefix = '')
 * → canonicalReport(toReport(shard, event)) of the record at `at`, after `prefix` (hashing
 * passes the previous hash and the newline: one string, not two joined). `template` is the
 * JavaScript of the template literal writing it (audit/canonical.ts RECORD_TEMPLATE), over the
 * names declared here: the record's `bytes`, `view` and `at`, `o` where its f64 fields start,
 * its four strings quoted (`clOrdId`, `origClOrdId`, `symbol`, `avgPx`), the enum tables `t`, `prefix`,
 * and `notionalText(lo, hi)` (a notional's canonical text from its two limbs).
 */
export function recordWriter(t, template) {
  const source = `return function canonicalFromRecord(bytes, view, at, prefix = '') {
    const o = at + ${F64_AT};
    const clOrdId = quoted(bytes, view, at + ${STRINGS_AT});
    const origClOrdId = quotedNext(bytes, view);
    const symbol = quotedNext(bytes, view);
    const avgPx = quotedNext(bytes, view);
    return ${template};
  };`;
  return new Function('t', 'quoted', 'quotedNext', 'notionalText', source)(t, quoted, quotedNext, notionalText);
}

/**
 * Chains `count` records of `bytes` onto `startHash`, each written by `write` (recordWriter);
 * `each` (optional) sees every position's hash and canonical report, in order.
 */
export function hashRecords(write, startHash, bytes, count, each) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let h = startHash;
  let at = 0;
  for (let k = 0; k < count; k++) {
    if (each === undefined) {
      h = hash('sha256', write(bytes, view, at, `${h}\n`));
    } else {
      const canonical = write(bytes, view, at);
      h = hash('sha256', `${h}\n${canonical}`);
      each(k, h, canonical);
    }
    at += view.getUint32(at, true);
  }
  return h;
}

/** The head's signature over its message, `${prefix}${chain_seq}\n${chain_hash}` (api/report-canonical.ts headMessage; the prefix, which names the chain's version, comes in workerData). */
function verifyHead(key, prefix, head) {
  if (key === undefined) return false;
  const sig = Buffer.from(head.signature, 'base64');
  if (sig.length !== 64) return false;
  try {
    return verify(null, Buffer.from(`${prefix}${head.chainSeq}\n${head.chainHash}`, 'utf8'), key, sig);
  } catch {
    return false;
  }
}

// As a worker (workerData: role, tables, template, headPrefix, keyDer?): { id, startHash, records
// (transferred ArrayBuffer), length, count, head? } in, { id, endHash, sigOk } out.
if (!isMainThread && parentPort !== null && workerData?.role === CHAIN_WORKER_ROLE) {
  const port = parentPort;
  const write = recordWriter(workerData.tables, workerData.template);
  const key =
    workerData.keyDer === undefined
      ? undefined
      : createPublicKey({ key: Buffer.from(workerData.keyDer), format: 'der', type: 'spki' });
  port.on('message', (m) => {
    const endHash = hashRecords(write, m.startHash, Buffer.from(m.records, 0, m.length), m.count);
    port.postMessage({
      id: m.id,
      endHash,
      sigOk: m.head === undefined ? undefined : verifyHead(key, workerData.headPrefix, m.head),
    });
  });
}
