// What the TCP transport (tcp-transport.ts) needs of a protocol's wire codec, and one value of it
// per protocol: Raft's (raft-codec.ts) and Multi-Paxos's (paxos-codec.ts). The transport's
// sockets, queues, backpressure and HELLO handling are the same for both; only the bytes of the
// items and their HELLO magic differ (proto/raft-frames.md, proto/paxos-frames.md), so a
// replica of one protocol refuses a peer of the other (WRONG_PROTOCOL).

import type { Message, NodeId } from '../raft/types.js';
import type { FrameDecoderOptions, Hello } from './frame-codec.js';
import {
  PAXOS_MESSAGE_VALUES_MAX,
  PAXOS_PROTOCOL_VERSION,
  PaxosFrameDecoder,
  SNAPSHOT_CHUNK_KIND,
  checkPaxosItem,
  encodePaxosHello,
  encodePaxosItems,
  paxosItemEncodedBytes,
  paxosItemsFrameBytes,
  type PaxosDecodedFrame,
  type PaxosWireItem,
} from './paxos-codec.js';
import {
  FrameDecoder,
  PROTOCOL_VERSION,
  checkMessage,
  encodeHello,
  encodeMessages,
  messageEncodedBytes,
  messagesFrameBytes,
  type DecodedFrame,
} from './raft-codec.js';

/** A decoded frame as the transport sees it: a HELLO, or a frame of items (read with WireCodec.itemsOf). */
export type WireFrame = { kind: 'hello'; hello: Hello } | { kind: 'messages' | 'items'; frameType: number };

export interface WireCodec<T> {
  /** The protocol's name, as in the cluster file's "consensus". */
  readonly protocol: 'raft' | 'multipaxos';
  /** Sent in HELLO. */
  readonly protocolVersion: number;
  encodeHello(hello: Hello): Uint8Array;
  /** A streaming decoder for one inbound connection (throws only FrameDecodeError). */
  newDecoder(options: FrameDecoderOptions): { push(chunk: Uint8Array): WireFrame[] };
  /** The items of a non-HELLO frame. */
  itemsOf(frame: WireFrame): T[];
  /** Throws RangeError on an item the wire format cannot carry (a local bug). */
  check(item: T): void;
  /** Bytes the item takes inside a frame. */
  encodedBytes(item: T): number;
  /** Bytes of a frame of `count` items of `itemsBytes` bytes in all. */
  frameBytes(count: number, itemsBytes: number): number;
  /** One frame holding `items`. */
  encode(items: T[], frameBytesMax: number): Uint8Array;
  /** Sender and destination: the transport routes by `to` and checks both on receipt. */
  fromOf(item: T): NodeId;
  toOf(item: T): NodeId;
  /** A number naming the item's type in logs. */
  typeOf(item: T): number;
}

/** Raft: RAFT_MESSAGE / RAFT_BATCH frames of Raft messages. */
export const RAFT_WIRE_CODEC: WireCodec<Message> = Object.freeze({
  protocol: 'raft',
  protocolVersion: PROTOCOL_VERSION,
  encodeHello,
  newDecoder: (options: FrameDecoderOptions) => new FrameDecoder(options),
  itemsOf: (f: WireFrame) => (f as Extract<DecodedFrame, { kind: 'messages' }>).messages,
  check: checkMessage,
  encodedBytes: messageEncodedBytes,
  frameBytes: messagesFrameBytes,
  encode: encodeMessages,
  fromOf: (m: Message) => m.from,
  toOf: (m: Message) => m.to,
  typeOf: (m: Message) => m.type,
});

/**
 * Multi-Paxos: PAXOS_MESSAGE / PAXOS_BATCH frames of core messages and snapshot chunks.
 * `valuesPerMessageMax` bounds the values of one PROMISE or LEARN (a host with windows larger
 * than limits.ts's passes max(acceptWindowSlots, learnSlotsMax)).
 */
export function paxosWireCodec(valuesPerMessageMax: number = PAXOS_MESSAGE_VALUES_MAX): WireCodec<PaxosWireItem> {
  return Object.freeze({
    protocol: 'multipaxos',
    protocolVersion: PAXOS_PROTOCOL_VERSION,
    encodeHello: encodePaxosHello,
    newDecoder: (options: FrameDecoderOptions) => new PaxosFrameDecoder({ ...options, valuesPerMessageMax }),
    itemsOf: (f: WireFrame) => (f as Extract<PaxosDecodedFrame, { kind: 'items' }>).items,
    check: (item: PaxosWireItem) => checkPaxosItem(item, valuesPerMessageMax),
    encodedBytes: paxosItemEncodedBytes,
    frameBytes: paxosItemsFrameBytes,
    encode: encodePaxosItems,
    fromOf: (item: PaxosWireItem) => (item.kind === 'message' ? item.message.from : item.chunk.from),
    toOf: (item: PaxosWireItem) => (item.kind === 'message' ? item.message.to : item.chunk.to),
    typeOf: (item: PaxosWireItem) => (item.kind === 'message' ? item.message.type : SNAPSHOT_CHUNK_KIND),
  } as const);
}
