// Replay regenerates each chained report from the engine's exec rows through its own fast path
// (audit/canonical.ts → audit/chain-hash.mjs). It must give the gateway's bytes exactly: the
// gateway decodes the replica's binary events and runs toReport + canonicalReport, then chains
// with chainStep.

import { describe, expect, it } from 'vitest';
import { RECORD_WRITER, canonicalFromRecord, execRowBytesMax, writeExecRow } from '../../audit/canonical.js';
import { hashRecords } from '../../audit/chain-hash.mjs';
import { generateMix1, generateMix2, benchConfig } from '../../bench/engine/workloads.js';
import { Engine } from '../../engine/engine.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import { decodeEvents, encodeEvents } from '../../engine/event-codec.js';
import { EventKind, OrdType, Side, Tif, type Command } from '../../engine/types.js';
import { toReport } from '../../api/execution-report.js';
import { CHAIN_GENESIS, canonicalReport, chainStep } from '../../api/report-canonical.js';

/** Orders the engine rejects, echoing strings that need escaping, are not ASCII, or are long. */
function oddCommands(): Command[] {
  const names = [
    'q"uote',
    'back\\slash',
    'tab\there',
    'nl\n',
    'é-accent',
    '日本',
    '\ud800lone',
    'emoji-😀',
    'x'.repeat(300),
    '',
    '\u007f',
    'ok-1',
  ];
  const out: Command[] = [];
  let seq = 0;
  for (const clOrdId of names) {
    out.push({
      type: 'new',
      seq: ++seq,
      tsUs: 1_700_000_000_000_000 + seq,
      account: 7,
      clOrdId,
      symbol: 'BENCH',
      side: Side.BUY,
      ordType: OrdType.LIMIT,
      price: 10_000_000,
      qty: 5,
      tif: Tif.GTC,
    });
    out.push({
      type: 'new',
      seq: ++seq,
      tsUs: 1_700_000_000_000_000 + seq,
      account: 7,
      clOrdId,
      symbol: 'NOPE',
      side: Side.SELL,
      ordType: OrdType.LIMIT,
      price: 1.5,
      qty: -3,
    } as unknown as Command);
  }
  // Amend with a new client order id: REPLACED carries origClOrdId.
  out.push({
    type: 'amend',
    seq: ++seq,
    tsUs: 1_700_000_000_000_000 + seq,
    account: 7,
    origClOrdId: 'ok-1',
    clOrdId: 'ok-"2"',
    qty: 4,
  });
  out.push({
    type: 'new',
    seq: ++seq,
    tsUs: 1_700_000_000_000_000 + seq,
    account: 8,
    clOrdId: 'taker',
    symbol: 'BENCH',
    side: Side.SELL,
    ordType: OrdType.MARKET,
    qty: 50,
    tif: Tif.IOC,
  });
  return out;
}

function check(commands: Command[], shard: number): number {
  const engine = new Engine(benchConfig());
  const ev = new EventBuffer();
  const buf = Buffer.alloc(1 << 16);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let checked = 0;
  let records = 0;
  let at = 0;
  let expectedHash = CHAIN_GENESIS;
  const chainBuf = Buffer.alloc(1 << 22);
  const chainView = new DataView(chainBuf.buffer, chainBuf.byteOffset, chainBuf.byteLength);
  for (const c of commands) {
    ev.clear();
    engine.apply(c, ev);
    for (let i = 0; i < ev.count; i++) {
      if (ev.kind[i] !== EventKind.EXEC) continue;
      writeExecRow(buf, view, 0, shard, ev, i);
      const mine = canonicalFromRecord(buf, view, 0);
      const asGateway = decodeEvents(encodeEvents(ev, i, i + 1))[0]!;
      if (asGateway.kind !== 'exec') throw new Error('not exec');
      const theirs = canonicalReport(toReport(shard, asGateway));
      if (mine !== theirs) expect(mine).toBe(theirs);
      checked++;
      if (records < 5000 && at + execRowBytesMax(ev, i) < chainBuf.length) {
        at = writeExecRow(chainBuf, chainView, at, shard, ev, i);
        expectedHash = chainStep(expectedHash, theirs);
        records++;
      }
    }
  }
  expect(hashRecords(RECORD_WRITER, CHAIN_GENESIS, chainBuf, records)).toBe(expectedHash);
  return checked;
}

describe('canonical report from an exec record', () => {
  it("equals the gateway's canonicalReport(toReport(decoded event)) on both benchmark mixes", () => {
    expect(check(generateMix1(30_000, 11).commands, 0)).toBeGreaterThan(20_000);
    expect(check(generateMix2(20_000, 12).commands, 5)).toBeGreaterThan(20_000);
  });

  it('equals it for rejected orders echoing strings that need escaping, non-ASCII, lone surrogates, long ones', () => {
    expect(check(oddCommands(), 2 ** 9 - 1)).toBeGreaterThan(20);
  });
});
