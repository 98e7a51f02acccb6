// The feed as a replica runs it: the projector fed from the ReplicaNode's applied entries,
// and the server publishing what each entry changed. Wired through two ReplicaNode options:
//
//   onStateReset(engine)             at start (after WAL recovery) and after a leader's snapshot
//                                    is installed: rebuild from the engine, resync subscribers
//   onApplied({index, tsUs, events}) after every applied entry: project its events, flush
//
// Both run synchronously on the replica's loop and never throw: the feed is derived state,
// not part of the replicated state machine, so a failure here is logged, the projector is
// rebuilt from the engine (which already holds the entry) and every subscriber resyncs.
// Subscribers should connect to followers: their apply path does nothing else, while the
// leader's also answers clients.

import type { UwsTls } from '../ops/uws-app.js';
import type { Engine } from '../engine/engine.js';
import type { EventBuffer } from '../engine/event-buffer.js';
import { FeedServer, type FeedInstrument, type FeedLimits } from './feed-server.js';
import { MarketDataProjector } from './projector.js';
import { ResyncReason, type DataMessage } from './types.js';
import { errorStack, NO_LOG, type Log } from '../ops/log.js';

/** One applied entry of the shard, as the feed needs it (replicator/log.ts AppliedEntry). */
export interface FeedEntry {
  index: number;
  /** The entry's newest command time (µs), 0 for entries without commands: the feed's clock. */
  tsUs: number;
  /** All the entry's events (rows [0, count)). */
  events: EventBuffer;
}

export interface MarketDataFeedOptions {
  /** The shard's instruments (the projector serves exactly these), with their decimals (the decimal form). */
  instruments: readonly FeedInstrument[];
  host: string;
  port: number;
  limits?: Partial<FeedLimits>;
  /** Default: nothing logged. */
  log?: Log;
  /** Enables FeedServer.debugIntercept (tests). */
  debug?: boolean;
  /** Extra fields of GET /healthz (the replica's id and role). */
  info?: () => Record<string, unknown>;
  /** wss:// (the cluster file's "feedTls"); undefined: ws://. */
  tls?: UwsTls;
}

export interface MarketDataFeedStats {
  entries: number;
  /** Failures of the projection, each repaired by a rebuild from the engine. */
  failures: number;
}

export class MarketDataFeed {
  readonly projector: MarketDataProjector;
  readonly server: FeedServer;
  readonly stats: MarketDataFeedStats = { entries: 0, failures: 0 };
  private engine: Engine | undefined;
  private readonly log: Log;
  private readonly publish = (m: DataMessage): void => this.server.publish(m);

  constructor(opts: MarketDataFeedOptions) {
    this.log = opts.log ?? NO_LOG;
    this.projector = new MarketDataProjector(opts.instruments.map((i) => i.symbol));
    this.server = new FeedServer({
      projector: this.projector,
      instruments: opts.instruments,
      host: opts.host,
      port: opts.port,
      log: this.log,
      ...(opts.limits !== undefined ? { limits: opts.limits } : {}),
      ...(opts.debug !== undefined ? { debug: opts.debug } : {}),
      ...(opts.info !== undefined ? { info: opts.info } : {}),
      ...(opts.tls !== undefined ? { tls: opts.tls } : {}),
    });
  }

  start(): Promise<number> {
    return this.server.start();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  /** ReplicaNodeOptions.onStateReset: the engine was (re)built other than by applying entries. */
  readonly onStateReset = (engine: Engine): void => {
    this.engine = engine;
    try {
      this.projector.resetFromEngine(engine);
      this.server.resyncAll(ResyncReason.SOURCE_RESET);
    } catch (err) {
      this.stats.failures++;
      this.log.error('feed: rebuild from the engine failed', { stack: errorStack(err) });
    }
  };

  /** ReplicaNodeOptions.onApplied: one committed entry was applied; its events are all of `events`. */
  readonly onApplied = (entry: FeedEntry): void => {
    this.applyEvents(entry.events, 0, entry.events.count, entry.tsUs);
  };

  /**
   * Projects rows [from, to) of an event buffer as one batch and publishes what changed
   * (the replica path above; tests and the benchmark drive an engine directly through it).
   * `timeUs`: the batch's log time when it is later than its events' (time ticks).
   */
  applyEvents(events: EventBuffer, from: number, to: number, timeUs = 0): void {
    this.stats.entries++;
    try {
      this.projector.apply(events, from, to);
      if (timeUs > 0) this.projector.advanceTime(timeUs);
      this.projector.flush(this.publish);
    } catch (err) {
      this.stats.failures++;
      this.log.warn('feed: projecting an entry failed, rebuilding from the engine', { stack: errorStack(err) });
      if (this.engine !== undefined) this.onStateReset(this.engine);
    }
  }
}
