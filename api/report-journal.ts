// The chain journal's format: `<dataDir>/chain-journal.bin`, written by the gateway's report
// chain (gateway/report-chain.ts) and read by the audit (audit/chain.ts) to regenerate every
// chained report from the log. It names each chained report by where the engine emitted it.
// Fixed 12-byte big-endian records, in chain order:
//   u16 shard | u16 kind | u32 value_high | u32 value_low      (value = high × 2^32 + low)
//   kind 1 = a report: value = its exec_id (unique per shard); chain_seq = the ordinal of the
//            report record within its run (1, 2, …)
//   kind 2 = a run starts (the chain restarts from genesis at each gateway start): value = ts_ms

export const JOURNAL_RECORD_BYTES = 12;
export const JOURNAL_KIND_REPORT = 1;
export const JOURNAL_KIND_RUN_START = 2;

/** One journal record (see the file comment). */
export function journalRecord(buf: Buffer, at: number, shard: number, kind: number, value: number): void {
  buf.writeUInt16BE(shard, at);
  buf.writeUInt16BE(kind, at + 2);
  buf.writeUInt32BE(Math.floor(value / 2 ** 32), at + 4);
  buf.writeUInt32BE(value % 2 ** 32, at + 8);
}

export interface JournalEntry {
  shard: number;
  kind: number;
  value: number;
}

/** Parses a chain journal; a torn last record (a crash mid-write) is ignored. */
export function readJournal(bytes: Uint8Array): JournalEntry[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: JournalEntry[] = [];
  for (let at = 0; at + JOURNAL_RECORD_BYTES <= b.length; at += JOURNAL_RECORD_BYTES) {
    out.push({
      shard: b.readUInt16BE(at),
      kind: b.readUInt16BE(at + 2),
      value: b.readUInt32BE(at + 4) * 2 ** 32 + b.readUInt32BE(at + 8),
    });
  }
  return out;
}
