// Polls GET /v1/ui/cluster for the console: the next request starts CONSOLE_POLL_INTERVAL_MS
// after the previous one ended, so polls never overlap however slow the server is (a status
// request to a dead member waits for its timeout). While the console is not on screen nothing is
// asked: each poll makes the gateway ask every member, and nobody is looking.

import type { UiClusterView } from '../../../api/ui-contract.js';
import { CONSOLE_POLL_INTERVAL_MS, CONSOLE_POLL_TIMEOUT_MS } from '../limits.js';

export interface PollerHooks {
  /** Is the console on screen (its view shown, the tab visible)? */
  active(): boolean;
  onView(view: UiClusterView): void;
  onError(message: string): void;
}

/** Enough of the shape for the console to draw it (the server and the page share api/ui-contract.ts). */
function isClusterView(v: unknown): v is UiClusterView {
  const x = v as Partial<UiClusterView> | null;
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof x.time_ms === 'number' &&
    Array.isArray(x.shards) &&
    x.shards.every((s) => Array.isArray(s?.members)) &&
    typeof x.gateway === 'object' &&
    x.gateway !== null &&
    Array.isArray(x.publishers)
  );
}

export class ClusterPoller {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight = false;
  /** Polls answered (a read-only test counter). */
  polls = 0;

  constructor(
    private readonly url: string,
    private readonly hooks: PollerHooks,
  ) {}

  /** Polls now unless one is running (then its end schedules the next as usual). */
  pollNow(): void {
    if (this.inFlight) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    void this.tick();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick();
    }, CONSOLE_POLL_INTERVAL_MS);
  }

  private async tick(): Promise<void> {
    if (!this.hooks.active()) {
      this.schedule();
      return;
    }
    this.inFlight = true;
    try {
      const r = await fetch(this.url, { cache: 'no-store', signal: AbortSignal.timeout(CONSOLE_POLL_TIMEOUT_MS) });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const view: unknown = await r.json();
      if (!isClusterView(view)) throw new Error('the answer is not a cluster view');
      this.polls++;
      this.hooks.onView(view);
    } catch (err) {
      this.hooks.onError(err instanceof Error ? err.message : String(err));
    } finally {
      this.inFlight = false;
      this.schedule();
    }
  }
}
