// Replay regenerates each chained report from the engine's exec rows through its own fast path
// (audit/canonical.ts → audit/chain-hash.mjs). It must give the gateway's bytes exactly: the
// gateway decodes the replica's binary events and runs toReport + canonicalReport, then chains
// with chainStep. On a wide instrument (engine/notional.ts) cum_notional passes 2^53: the
// record's canonical text must be the exact value, a BigInt reference summed here from the
// trades, as the gateway's template writes it (`${r.cum_notional}` of a bigint: its digits).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RECORD_WRITER, canonicalFromRecord, execRowBytesMax, writeExecRow } from '../../audit/canonical.js';
import { hashRecords } from '../../audit/chain-hash.mjs';
import { MID0, SYMBOL, generateMix1, generateMix2, benchConfig } from '../../bench/engine/workloads.js';
import { Engine } from '../../engine/engine.js';
import { EventBuffer } from '../../engine/event-buffer.js';
import { decodeEvents, encodeEvents } from '../../engine/event-codec.js';
import { EventKind, ExecType, OrdType, Side, Tif, type Command } from '../../engine/types.js';
import type { ShardConfig } from '../../engine/types.js';
import { CHAIN_GENESIS, canonicalReport, chainStep } from '../../api/report-canonical.js';
import { reportWithNotional } from './helpers.js';

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

interface Checked {
  checked: number;
  /** Reports whose cum_notional is above 2^53 − 1. */
  wide: number;
}

function check(commands: Command[], shard: number, config: ShardConfig = benchConfig()): Checked {
  const engine = new Engine(config);
  // The BigInt reference: each order's cum notional, the sum of its trades' last_qty × last_px.
  const reference = new Map<number, bigint>();
  let wide = 0;
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
      const key = asGateway.orderId;
      let exact = reference.get(key) ?? 0n;
      if (asGateway.execType === ExecType.TRADE) exact += BigInt(asGateway.lastQty) * BigInt(asGateway.lastPx);
      reference.set(key, exact);
      if (BigInt(asGateway.cumNotional) !== exact) expect(BigInt(asGateway.cumNotional)).toBe(exact);
      if (exact > BigInt(Number.MAX_SAFE_INTEGER)) wide++;
      const theirs = canonicalReport(reportWithNotional(shard, asGateway, exact));
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
  return { checked, wide };
}

describe('canonical report from an exec record', () => {
  it("equals the gateway's canonicalReport(toReport(decoded event)) on both benchmark mixes", () => {
    expect(check(generateMix1(30_000, 11).commands, 0).checked).toBeGreaterThan(20_000);
    expect(check(generateMix2(20_000, 12).commands, 5).checked).toBeGreaterThan(20_000);
  });

  it('equals it on the wide mixes: cum_notional (a bigint above 2^53 − 1) and avg_px exact', () => {
    const m1 = check(generateMix1(20_000, 13, 'wide').commands, 0, benchConfig('wide'));
    const m2 = check(generateMix2(10_000, 14, 'wide').commands, 3, benchConfig('wide'));
    expect(m1.checked + m2.checked).toBeGreaterThan(20_000);
    expect(m1.wide).toBeGreaterThan(100);
    expect(m2.wide).toBeGreaterThan(100);
  });

  it('equals it for any fills on a wide instrument, cum_notional crossing 2^53 (property, vs a BigInt reference)', () => {
    const order = fc.record({
      account: fc.integer({ min: 1, max: 3 }),
      side: fc.constantFrom(Side.BUY, Side.SELL),
      px: fc.integer({ min: MID0 - 400_000, max: MID0 + 400_000 }),
      // From a few units to a tenth of maxQty: sums from below 2^53 to far above it.
      qty: fc.oneof(fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 1, max: 10_000_000_000 })),
      tif: fc.constantFrom(Tif.GTC, Tif.IOC),
    });
    let wide = 0;
    fc.assert(
      fc.property(fc.array(order, { minLength: 2, maxLength: 40 }), (orders) => {
        const commands: Command[] = orders.map((o, k) => ({
          type: 'new',
          seq: k + 1,
          tsUs: 1_700_000_000_000_000 + k,
          account: o.account,
          clOrdId: `w${k}`,
          symbol: SYMBOL,
          side: o.side,
          ordType: OrdType.LIMIT,
          price: o.px,
          qty: o.qty,
          tif: o.tif,
        }));
        wide += check(commands, 1, benchConfig('wide')).wide;
      }),
      { numRuns: 300 },
    );
    expect(wide).toBeGreaterThan(100);
  });

  it('equals it for rejected orders echoing strings that need escaping, non-ASCII, lone surrogates, long ones', () => {
    expect(check(oddCommands(), 2 ** 9 - 1).checked).toBeGreaterThan(20);
  });
});
