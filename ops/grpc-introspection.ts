// What a gRPC server of ours tells about itself: grpc.health.v1.Health (grpc-health-check) and
// server reflection, v1 and v1alpha (@grpc/reflection), on the same server as its own services.
// Both the gateway (exchange.v1.OrderEntryService) and the query service (exchange.v1.QueryService)
// use it, so a client that knows only the address can list every service, fetch each .proto and
// ask whether the server is serving.
//
// Why the descriptors are built here: @grpc/reflection serves what @grpc/proto-loader hands it,
// and proto-loader merges every file of a package into one invented file (`exchange_v1.proto`),
// so a client asking for `exchange/v1/order_entry.proto` — the name every import uses — got
// nothing, and health and reflection themselves were not listed. Here each .proto file becomes
// its own FileDescriptorProto under its real name (relative to its include root), with its
// imports as dependencies; the health and reflection protos are served the same way, under their
// canonical names (`grpc/health/v1/health.proto`, `grpc/reflection/v1/reflection.proto`, …).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as HEALTH_PROTO_FILE } from 'grpc-health-check';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** The parts of protobufjs/ext/descriptor used here (its typings do not describe the module's export). */
interface DescriptorExt {
  FileDescriptorProto: protobuf.Type;
}
/** Loading it adds toDescriptor() to protobufjs' reflection classes. */
const descriptorExt = require('protobufjs/ext/descriptor') as DescriptorExt;

export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';
export const REFLECTION_SERVICE_NAMES = [
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
] as const;

/** A .proto file as clients name it (`exchange/v1/order_entry.proto`) and where it is on disk. */
export interface ProtoSource {
  name: string;
  file: string;
}

const REFLECTION_PROTO_DIR = path.join(path.dirname(require.resolve('@grpc/reflection')), '../proto');

/** The health and reflection protos under their canonical names (what grpcurl, buf curl… ask for). */
export const INTROSPECTION_PROTOS: readonly ProtoSource[] = [
  { name: 'grpc/health/v1/health.proto', file: HEALTH_PROTO_FILE },
  {
    name: 'grpc/reflection/v1/reflection.proto',
    file: path.join(REFLECTION_PROTO_DIR, 'grpc/reflection/v1/reflection.proto'),
  },
  {
    name: 'grpc/reflection/v1alpha/reflection.proto',
    file: path.join(REFLECTION_PROTO_DIR, 'grpc/reflection/v1alpha/reflection.proto'),
  },
];

interface ParsedFile {
  source: ProtoSource;
  text: string;
  pkg: string;
  imports: string[];
  /** Names of the top-level definitions (messages, enums, services) of this file, in its order. */
  names: string[];
}

function parseFile(source: ProtoSource): ParsedFile {
  const text = readFileSync(source.file, 'utf8');
  const parsed = protobuf.parse(text, new protobuf.Root(), { keepCase: true });
  const pkg = parsed.package ?? '';
  const ns = pkg === '' ? parsed.root : parsed.root.lookup(pkg);
  const names = ns instanceof protobuf.Namespace ? ns.nestedArray.map((o) => o.name) : [];
  return { source, text, pkg, imports: [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])], names };
}

/** The files and, transitively, everything they import (resolved against protoRoot), imports first. */
function collectFiles(protoRoot: string, names: readonly string[]): ParsedFile[] {
  const out: ParsedFile[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const f = parseFile({ name, file: path.join(protoRoot, name) });
    for (const dep of f.imports) visit(dep);
    out.push(f);
  };
  for (const n of names) visit(n);
  return out;
}

interface WithDescriptor {
  toDescriptor(syntax?: string): unknown;
}

/** The parts of a DescriptorProto that fixMapEntries reads and writes. */
interface MessageDescriptor {
  name?: string;
  field?: { name?: string; typeName?: string }[];
  nestedType?: MessageDescriptor[];
  options?: { mapEntry?: boolean } | null;
}

/** protoc's name of a map field's entry message: the field name in CamelCase, then "Entry". */
function mapEntryName(fieldName: string): string {
  const camel = fieldName.replace(/_+([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
  return `${camel.charAt(0).toUpperCase()}${camel.slice(1)}Entry`;
}

/**
 * protobufjs names a map field's entry message after the field alone (`Statuses` for
 * `map<…> statuses`), where protoc says `StatusesEntry`; strict clients (buf curl, Go's
 * protodesc) then refuse the whole file — grpc.health.v1's health.proto has such a map.
 */
function fixMapEntries(d: MessageDescriptor): void {
  for (const n of d.nestedType ?? []) {
    fixMapEntries(n);
    if (n.options?.mapEntry !== true || n.name === undefined) continue;
    const field = d.field?.find((f) => f.typeName === n.name);
    if (field?.name === undefined) continue;
    n.name = mapEntryName(field.name);
    field.typeName = n.name;
  }
}

/**
 * One FileDescriptorProto (encoded) per file, under the file's own name, with its imports as
 * dependencies and its definitions resolved against all the files together.
 */
function fileDescriptorProtos(files: readonly ParsedFile[]): Uint8Array[] {
  const root = new protobuf.Root();
  for (const f of files) protobuf.parse(f.text, root, { keepCase: true });
  root.resolveAll();
  return files.map((f) => {
    const messageType: unknown[] = [];
    const enumType: unknown[] = [];
    const service: unknown[] = [];
    for (const name of f.names) {
      const obj = root.lookup(f.pkg === '' ? name : `${f.pkg}.${name}`);
      const d = (obj as unknown as WithDescriptor).toDescriptor('proto3');
      if (obj instanceof protobuf.Type) {
        fixMapEntries(d as MessageDescriptor);
        messageType.push(d);
      } else if (obj instanceof protobuf.Enum) enumType.push(d);
      else if (obj instanceof protobuf.Service) service.push(d);
    }
    const T = descriptorExt.FileDescriptorProto;
    const fd = T.create({
      name: f.source.name,
      package: f.pkg,
      dependency: f.imports,
      messageType,
      enumType,
      service,
      syntax: 'proto3',
    });
    return T.encode(fd).finish();
  });
}

export interface IntrospectionOptions {
  /** The include root of our .proto files (proto/). */
  protoRoot: string;
  /** Our files the server's services are defined in, relative to protoRoot; their imports are added. */
  files: readonly string[];
  /** The services this server serves from those files: health reports on them (and on "", the server as a whole), reflection lists them. */
  services: readonly string[];
}

/** Health and reflection on one server; every health status starts NOT_SERVING. */
export class GrpcIntrospection {
  private readonly health: HealthImplementation;

  constructor(
    server: grpc.Server,
    private readonly opts: IntrospectionOptions,
  ) {
    const statuses: Record<string, 'NOT_SERVING'> = { '': 'NOT_SERVING' };
    for (const s of opts.services) statuses[s] = 'NOT_SERVING';
    this.health = new HealthImplementation(statuses);
    this.health.addToServer(server);
    const ours = collectFiles(opts.protoRoot, opts.files);
    const files = [...ours, ...INTROSPECTION_PROTOS.map(parseFile)];
    const pkg = { introspection: { fileDescriptorProtos: fileDescriptorProtos(files) } };
    // Reflection lists what this server serves: ours, health, reflection v1 and v1alpha — not
    // the other services of the files ours import (query.proto imports order_entry.proto).
    new ReflectionService(pkg as unknown as ConstructorParameters<typeof ReflectionService>[0], {
      services: [...opts.services, HEALTH_SERVICE_NAME, ...REFLECTION_SERVICE_NAMES],
    }).addToServer(server);
  }

  /** Health of "" and every service given at construction. */
  setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    for (const s of this.opts.services) this.health.setStatus(s, status);
  }
}
