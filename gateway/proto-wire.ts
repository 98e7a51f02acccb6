// The server's reply path from plain objects (proto field names, enums as names) to what
// protobufjs's generated encoder takes (enums as numbers), compiled once per message type.
//
// The generic walk (OrderEntryCodec.toWire: Object.keys, a field lookup and a keyed store per
// property) cost more than the encoding itself for an OrderSessionResponse carrying a report of
// ~40 fields. A compiled converter reads each field by name and returns one object literal, so
// every converted message of a type has one hidden class. Same rules as the generic walk
// without `strict`: unknown properties are dropped, null/undefined fields are left out (written
// as undefined, which the encoder skips), an enum takes its number, '' (the zero value) or a
// name (unprefixed or prefixed; an unknown name throws), sub-messages and repeated fields are
// converted alike. Clients (strict) keep the generic walk, which also names the bad field.

import protobuf from 'protobufjs';
import { uint64Wire } from '../api/exact-uint64.js';

type Plain = Record<string, unknown>;
export type WireConverter = (obj: Plain) => Plain;

/** 64-bit integer field types: a bigint value goes to the encoder as its two 32-bit halves (exact; api/exact-uint64.ts). */
const LONG_TYPES: ReadonlySet<string> = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function expectObject(obj: unknown, type: protobuf.Type): void {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
    throw new TypeError(`${type.name}: expected an object for ${type.fullName.slice(1)}`);
}

function mapArray(v: unknown, conv: ((x: unknown) => unknown) | null, where: string): unknown[] {
  if (!Array.isArray(v)) throw new TypeError(`${where}: expected an array`);
  return conv === null ? v : v.map(conv);
}

function longValue(v: unknown): unknown {
  return typeof v === 'bigint' ? uint64Wire(v) : v;
}

/**
 * Compiled converters, one per message type, built on first use. `enumNumber(e, v)`: the
 * number of enum value v (a number, '' or a name), throwing on an unknown name.
 */
export class WireConverters {
  private readonly compiled = new Map<protobuf.Type, WireConverter>();

  constructor(private readonly enumNumber: (e: protobuf.Enum, v: unknown, where: string) => number) {}

  of(type: protobuf.Type): WireConverter {
    let fn = this.compiled.get(type);
    if (fn === undefined) {
      fn = this.compile(type);
      this.compiled.set(type, fn);
    }
    return fn;
  }

  private compile(type: protobuf.Type): WireConverter {
    const helpers: ((v: unknown) => unknown)[] = [];
    const props = type.fieldsArray.map((field) => {
      const key = JSON.stringify(field.name);
      const conv = this.fieldConverter(type, field);
      let ref = 'null';
      if (conv !== undefined) {
        helpers.push(conv);
        ref = `h[${helpers.length - 1}]`;
      }
      const where = JSON.stringify(`${type.name}.${field.name}`);
      const value = field.repeated ? `arr(v, ${ref}, ${where})` : conv === undefined ? 'v' : `${ref}(v)`;
      return `${key}: (v = o[${key}]) == null ? undefined : ${value}`;
    });
    return new Function(
      'h',
      'arr',
      'check',
      't',
      `return function toWire_${type.name}(o) { check(o, t); let v; return {${props.join(', ')}}; };`,
    )(helpers, mapArray, expectObject, type) as WireConverter;
  }

  private fieldConverter(type: protobuf.Type, field: protobuf.Field): ((v: unknown) => unknown) | undefined {
    if (field.map)
      throw new TypeError(`${type.name}.${field.name}: map fields are not supported by the compiled converter`);
    const rt = field.resolvedType;
    const where = `${type.name}.${field.name}`;
    if (rt instanceof protobuf.Enum) return (v) => this.enumNumber(rt, v, where);
    if (rt instanceof protobuf.Type) return (v) => this.of(rt)(v as Plain);
    if (LONG_TYPES.has(field.type)) return longValue;
    return undefined;
  }
}
