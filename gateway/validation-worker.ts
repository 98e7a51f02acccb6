// The piscina worker of the validation pool (gateway/worker-pool.ts). One task is a batch of
// items of one kind, answered by an array of per-item outcomes in the same order:
//
//   requests  {req: RawRequest, nowMs}           → RequestOutcome: authenticate + decodeRequest + validateCommand
//   session   {account, body, nowMs}             → SessionOutcome: decodeSessionRequest + validateCommand per
//                                                  command (no signature: the stream was authenticated at open)
//   auth      {auth, target, nowMs}              → AuthResult: session opening (empty body)
//   sign      {apiKey, payloads: string[]}       → string[]: lowercase hex HMAC-SHA256 of each payload under the
//                                                  key's hmacSecret. Ed25519 keys (and unknown keys) get '' for
//                                                  every payload: an Ed25519 client holds no shared secret, so its
//                                                  reports carry no per-report HMAC; they are covered by the
//                                                  exchange-signed hash chain (chain_seq, chain_hash, signed heads).
//
// The replay check is not here: the cache is one per process, on the main thread (ReplayCache),
// consulted with each outcome's replayKey after the signature has been verified.
//
// Bodies of validated commands: every body of a batch is packed into one ArrayBuffer and the
// commands get views of it, so structured clone copies one buffer per batch instead of one per
// command (transferring many ~60-byte buffers costs more than copying them).
//
// workerData: ValidationWorkerData (JSON-cloneable parts of the GatewayConfig). The module reads
// it on the first task, so importing it elsewhere (tests, types) has no effect.

import { workerData as threadWorkerData } from 'node:worker_threads';
import {
  authenticate,
  buildKeyTable,
  type ApiKeyConfig,
  type AuthHeaders,
  type AuthResult,
  type KeyEntry,
} from '../api/auth.js';
import { hmacSign } from '../api/signing.js';
import { ErrorCode, ErrorReason, gatewayError, type GatewayError } from '../api/errors.js';
import type { RawRequest } from './types.js';
import {
  decodeRequest,
  decodeSessionRequest,
  validateCommand,
  type ShardInfo,
  type ValidatedCommand,
} from './validate.js';

export interface ValidationWorkerData {
  receiveWindowMs: number;
  shards: ShardInfo[];
  accounts: { account: number; apiKeys: ApiKeyConfig[] }[];
  adminKeys: ApiKeyConfig[];
}

export interface RequestItem {
  req: RawRequest;
  nowMs: number;
}
export interface SessionItem {
  account: number;
  body: Uint8Array;
  nowMs: number;
}
export interface AuthItem {
  auth: AuthHeaders;
  target: string;
  nowMs: number;
}
export interface SignItem {
  apiKey: string;
  payloads: string[];
}

export type ValidationTask =
  | { kind: 'requests'; items: RequestItem[] }
  | { kind: 'session'; items: SessionItem[] }
  | { kind: 'auth'; items: AuthItem[] }
  | { kind: 'sign'; items: SignItem[] };

export type RequestOutcome =
  | {
      ok: true;
      account: number;
      apiKey: string;
      admin: boolean;
      replayKey: string;
      tsMs: number;
      command: ValidatedCommand;
    }
  /** apiKey: set when the request was authenticated and failed after (decoding, validation). */
  | { ok: false; error: GatewayError; apiKey?: string };

export type CommandOutcome = { ok: true; command: ValidatedCommand } | { ok: false; error: GatewayError };

export type SessionOutcome =
  | { ok: true; requestId: number; heartbeat: boolean; commands: CommandOutcome[] }
  | { ok: false; error: GatewayError; requestId?: number };

export interface WorkerState {
  keys: Map<string, KeyEntry>;
  shards: ShardInfo[];
  windowMs: number;
}

export function createWorkerState(data: ValidationWorkerData): WorkerState {
  return { keys: buildKeyTable(data), shards: data.shards, windowMs: data.receiveWindowMs };
}

function internal(err: unknown): { ok: false; error: GatewayError } {
  return {
    ok: false,
    error: gatewayError(
      ErrorCode.INTERNAL,
      ErrorReason.INTERNAL,
      `validation worker: ${err instanceof Error ? err.message : String(err)}`,
    ),
  };
}

function validateRequest(s: WorkerState, item: RequestItem): RequestOutcome {
  const { req, nowMs } = item;
  const a = authenticate(s.keys, req.auth, req.target, req.body, nowMs, s.windowMs);
  if (!a.ok) return a;
  const d = decodeRequest(req.op, req.encoding, req.body, req.query);
  if (!d.ok) return { ok: false, error: d.error, apiKey: a.apiKey };
  const v = validateCommand(req.op, d.decoded, { account: a.account, shards: s.shards, pathOrderId: req.pathOrderId });
  if (!v.ok) return { ok: false, error: v.error, apiKey: a.apiKey };
  return {
    ok: true,
    account: a.account,
    apiKey: a.apiKey,
    admin: a.admin,
    replayKey: a.replayKey,
    tsMs: a.tsMs,
    command: v.command,
  };
}

function validateSession(s: WorkerState, item: SessionItem): SessionOutcome {
  const d = decodeSessionRequest(item.body);
  if (!d.ok) return d;
  const commands: CommandOutcome[] = d.commands.map((c) =>
    validateCommand(c.op, c.decoded, { account: item.account, shards: s.shards }),
  );
  return { ok: true, requestId: d.requestId, heartbeat: d.heartbeat, commands };
}

/** HMAC-SHA256 of each payload under the key's secret ('' without one). Exported: the pool signs small batches inline. */
export function signItem(s: WorkerState, item: SignItem): string[] {
  const secret = s.keys.get(item.apiKey)?.hmacSecret;
  return item.payloads.map((p) => (secret === undefined ? '' : hmacSign(secret, p)));
}

/** Packs the bodies of cmds into one buffer (views replace the bodies). */
function packBodies(cmds: ValidatedCommand[]): void {
  let total = 0;
  for (const c of cmds) total += c.body?.length ?? 0;
  if (total === 0) return;
  const buf = new Uint8Array(total);
  let at = 0;
  for (const c of cmds) {
    if (c.body === undefined) continue;
    buf.set(c.body, at);
    c.body = buf.subarray(at, at + c.body.length);
    at += c.body.length;
  }
}

/** Runs one task against a state (the worker's, or a test's). Never throws: a failing item gets INTERNAL. */
export function runTask(s: WorkerState, task: ValidationTask): unknown[] {
  switch (task.kind) {
    case 'requests': {
      const out = task.items.map((it): RequestOutcome => {
        try {
          return validateRequest(s, it);
        } catch (err) {
          return internal(err);
        }
      });
      packBodies(out.flatMap((o) => (o.ok ? [o.command] : [])));
      return out;
    }
    case 'session': {
      const out = task.items.map((it): SessionOutcome => {
        try {
          return validateSession(s, it);
        } catch (err) {
          return internal(err);
        }
      });
      packBodies(out.flatMap((o) => (o.ok ? o.commands.flatMap((c) => (c.ok ? [c.command] : [])) : [])));
      return out;
    }
    case 'auth':
      return task.items.map((it): AuthResult => {
        try {
          return authenticate(s.keys, it.auth, it.target, new Uint8Array(0), it.nowMs, s.windowMs);
        } catch (err) {
          return internal(err);
        }
      });
    case 'sign':
      return task.items.map((it) => {
        try {
          return signItem(s, it);
        } catch {
          return it.payloads.map(() => '');
        }
      });
    default:
      throw new Error(`validation worker: unknown task kind ${String((task as { kind: unknown }).kind)}`);
  }
}

let state: WorkerState | undefined;

/** The piscina task handler. */
export default function handler(task: ValidationTask): unknown[] {
  state ??= createWorkerState(threadWorkerData as ValidationWorkerData);
  return runTask(state, task);
}
