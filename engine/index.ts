// The engine as a library (package export `matchbook/engine`): for backtesting and research in
// your own code, the same deterministic matcher the replicas run. Two ways in:
//   - PipeSession: JSON command lines in, JSON event lines out (the pipe mode's format, README);
//   - Engine + EventBuffer: typed commands in (`apply(cmd, out)`), events out (`out.toEvents()`).
// The configuration is parsed and checked by parseConfig (throws on a bad one).

export { Engine, InvariantError, validClOrdId } from './engine.js';
export { EventBuffer } from './event-buffer.js';
export { parseConfig, validateConfig } from './config.js';
export { PipeSession, LINE_REJECT_MESSAGES, type PipeOptions } from './pipe.js';
export { commandFromJson, eventToJson, formatUnits, reasonName, symbolDecimals } from './json-codec.js';
export { engineStateHash, hashSnapshot, readSnapshot, writeSnapshot, SNAPSHOT_VERSION } from './snapshot.js';
export { avgPx, AVG_PX_DECIMALS } from './avg-px.js';
export { PIPE_LINE_BYTES_MAX } from './limits.js';
export * from './types.js';
