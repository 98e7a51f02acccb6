// Client commands in their JSON form (the REST edge, the operator tools, tests) → the binary
// command codec the batch entries carry.

import { encodeCommand } from '../engine/command-codec.js';
import { commandFromJson } from '../engine/json-codec.js';

/**
 * A command in its JSON form → the command codec. What commandFromJson refuses (no string
 * type) and values no JSON could hold become `{}`: a command without a type, which the engine
 * rejects as MALFORMED_COMMAND under its seq (as pipe mode does).
 */
export function encodeJsonCommand(command: unknown): Uint8Array {
  const parsed = commandFromJson(command);
  try {
    return encodeCommand('error' in parsed ? {} : parsed);
  } catch {
    return encodeCommand({});
  }
}
