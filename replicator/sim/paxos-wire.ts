// What the simulated network carries between Multi-Paxos replicas: a PaxosNode's outbound item
// (a core message or a whole snapshot, replicator/paxos/paxos-node.ts PaxosOutbound) with its
// addresses, copied on the way so the receiver shares no memory with the sender (the real
// transport encodes and decodes; its codec has its own tests).

import { PaxosMessageType, type PaxosMessage, type SlotValue } from '../paxos/types.js';
import type { PaxosOutbound } from '../paxos/paxos-node.js';
import type { NodeId } from '../raft/types.js';

export interface PaxosWire {
  from: NodeId;
  to: NodeId;
  out: PaxosOutbound;
}

export function toWire(out: PaxosOutbound): PaxosWire {
  return out.kind === 'message'
    ? { from: out.message.from, to: out.message.to, out }
    : { from: out.from, to: out.to, out };
}

function copySlotValue(v: SlotValue): SlotValue {
  return {
    slot: v.slot,
    ballot: { ...v.ballot },
    value: { type: v.value.type, origin: { ...v.value.origin }, data: v.value.data.slice() },
  };
}

export function copyPaxosWire(w: PaxosWire): PaxosWire {
  const o = w.out;
  if (o.kind === 'snapshot') return { from: w.from, to: w.to, out: { ...o, data: o.data.slice() } };
  const m = o.message;
  const message: PaxosMessage = { ...m, ballot: { ...m.ballot }, values: m.values.map(copySlotValue) };
  return { from: w.from, to: w.to, out: { kind: 'message', message } };
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(PaxosMessageType).map(([k, v]) => [v, k]));

export function describePaxosWire(w: PaxosWire): string {
  const o = w.out;
  if (o.kind === 'snapshot') return `SNAPSHOT ${w.from}->${w.to} slot=${o.slot} bytes=${o.data.byteLength}`;
  const m = o.message;
  let s = `${TYPE_NAMES[m.type] ?? m.type} ${m.from}->${m.to} b${m.ballot.round}.${m.ballot.leader} i=${m.index}`;
  if (m.type === PaxosMessageType.ACCEPT || m.type === PaxosMessageType.ACCEPTED) s += ` slot=${m.slot}`;
  if (m.values.length > 0) s += ` values=[${m.values.map((v) => v.slot).join(',')}]`;
  return s;
}
