// A gRPC server-reflection client for tests (v1 and v1alpha), written from the reflection protos
// alone, as an outside tool (grpcurl, buf curl, Postman) would use it: list services, fetch files
// by name or by symbol, decode the FileDescriptorProtos; and a grpc.health.v1 Check.

import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const descriptor = require('protobufjs/ext/descriptor') as {
  FileDescriptorProto: protobuf.Type;
  FileDescriptorSet: protobuf.Type;
};
const REFLECTION_PROTO_DIR = path.join(path.dirname(require.resolve('@grpc/reflection')), '../proto');

export type ReflectionVersion = 'v1' | 'v1alpha';

/** What a test reads of a FileDescriptorProto. */
export interface FileDescriptor {
  name: string;
  package: string;
  dependency: string[];
  messageType: { name: string; field: { name: string; number: number }[]; nestedType: { name: string }[] }[];
  enumType: { name: string; value: { name: string; number: number }[] }[];
  service: { name: string; method: { name: string; inputType: string; outputType: string }[] }[];
  /** The FileDescriptorProto as received. */
  raw: Uint8Array;
}

interface ReflectionReply {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

function reflectionMethod(version: ReflectionVersion): grpc.MethodDefinition<object, ReflectionReply> {
  const pkg = protoLoader.loadSync(path.join(REFLECTION_PROTO_DIR, `grpc/reflection/${version}/reflection.proto`), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const svc = pkg[`grpc.reflection.${version}.ServerReflection`] as grpc.ServiceDefinition;
  return svc.ServerReflectionInfo as grpc.MethodDefinition<object, ReflectionReply>;
}

/** One reflection request on its own stream; rejects on a stream error or after timeoutMs. */
export async function reflect(
  address: string,
  version: ReflectionVersion,
  request: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<ReflectionReply> {
  const m = reflectionMethod(version);
  const c = new grpc.Client(address, grpc.credentials.createInsecure());
  try {
    return await new Promise<ReflectionReply>((resolve, reject) => {
      const call = c.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, new grpc.Metadata(), {
        deadline: Date.now() + timeoutMs,
      });
      call.on('data', (r: ReflectionReply) => {
        resolve(r);
        call.end();
      });
      call.on('error', reject);
      call.write(request);
    });
  } finally {
    c.close();
  }
}

export async function listServices(address: string, version: ReflectionVersion): Promise<string[]> {
  const r = await reflect(address, version, { list_services: '*' });
  if (r.list_services_response === undefined) throw new Error(`list_services: ${JSON.stringify(r.error_response)}`);
  return r.list_services_response.service.map((s) => s.name).sort();
}

/** The files of a file_by_filename / file_containing_symbol answer, decoded; throws on an error answer. */
export async function files(
  address: string,
  version: ReflectionVersion,
  request: { file_by_filename: string } | { file_containing_symbol: string },
): Promise<FileDescriptor[]> {
  const r = await reflect(address, version, request);
  if (r.file_descriptor_response === undefined) throw new Error(`reflection: ${JSON.stringify(r.error_response)}`);
  return r.file_descriptor_response.file_descriptor_proto.map((b) => ({
    ...(descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(b), {
      defaults: true,
      arrays: true,
    }) as Omit<FileDescriptor, 'raw'>),
    raw: b,
  }));
}

/** A protobufjs root built from reflected files alone (what a dynamic client decodes with). */
export function rootOf(fds: readonly FileDescriptor[]): protobuf.Root {
  const set = descriptor.FileDescriptorSet.create({
    file: fds.map((f) => descriptor.FileDescriptorProto.decode(f.raw)),
  });
  return (protobuf.Root as unknown as { fromDescriptor(s: unknown): protobuf.Root }).fromDescriptor(set);
}

/** grpc.health.v1.Health/Check of `service` ("" = the server): the status name, or the call's error. */
export function healthCheck(address: string, service: string, timeoutMs = 5_000): Promise<string> {
  const check = (healthService as unknown as grpc.ServiceDefinition).Check!;
  const c = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<string>((resolve, reject) =>
    c.makeUnaryRequest(
      check.path,
      check.requestSerialize,
      check.responseDeserialize,
      { service },
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, v) => (err ? reject(err) : resolve((v as { status: string }).status)),
    ),
  ).finally(() => c.close());
}
