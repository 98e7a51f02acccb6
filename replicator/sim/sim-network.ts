// The simulated network between replicas. Time is in simulation steps (sub-steps of a
// tick). Each message gets a random delay (so messages reorder), may be lost or duplicated,
// and is dropped if its link is cut, when it is sent or when it arrives. Links are cut one
// way (asymmetric partition) or both ways. Messages to a paused node wait until it resumes;
// messages to a crashed node are lost. All randomness comes from the network's PRNG.

import type { Entry, Message, NodeId } from '../raft/types.js';
import type { Prng } from '../prng.js';

export interface NetworkFaults {
  /** Delay of a message in steps, uniform in [delayMin, delayMax]. */
  delayMin: number;
  delayMax: number;
  /** Probability a message is lost. */
  lossP: number;
  /** Probability a message is delivered twice (the copy with its own delay). */
  dupP: number;
  /** Probability a message is held back far longer, `lateSteps` (it arrives terms later). */
  lateP?: number;
  lateSteps?: [number, number];
}

/** Messages in flight at once; more means the harness leaks or the core floods. */
export const IN_FLIGHT_MAX = 100_000;

interface InFlight<M> {
  m: M;
  at: number;
  seq: number;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  cut: number;
  duplicated: number;
}

export function copyMessage(m: Message): Message {
  const c: Message = {
    type: m.type,
    from: m.from,
    to: m.to,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map((e: Entry) => ({ index: e.index, term: e.term, type: e.type, data: e.data.slice() })),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context,
  };
  if (m.snapshot) {
    const s = m.snapshot;
    c.snapshot = {
      meta: {
        index: s.meta.index,
        term: s.meta.term,
        conf: { voters: [...s.meta.conf.voters], learners: [...s.meta.conf.learners] },
      },
      size: s.size,
      offset: s.offset,
      data: s.data.slice(),
      done: s.done,
    };
  }
  return c;
}

/** What the network carries: a Raft message, or any other protocol's item between two nodes. */
export interface Addressed {
  from: NodeId;
  to: NodeId;
}

export class SimNetwork<M extends Addressed = Message> {
  faults: NetworkFaults;
  private queue: InFlight<M>[] = [];
  private seq = 0;
  /** Cut links, "from>to". */
  private readonly cut = new Set<string>();
  readonly stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, cut: 0, duplicated: 0 };

  constructor(
    private readonly rng: Prng,
    faults: NetworkFaults,
    /** A copy of an item as the receiver gets it (nothing shared with the sender's memory). */
    private readonly copy: (m: M) => M = copyMessage as unknown as (m: M) => M,
  ) {
    this.faults = { ...faults };
  }

  inFlight(): number {
    return this.queue.length;
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  /** Cuts every link between the two groups, both ways (symmetric) or from a to b only. */
  partition(a: readonly NodeId[], b: readonly NodeId[], oneWay: boolean): void {
    for (const x of a)
      for (const y of b) {
        if (x === y) continue;
        this.cutLink(x, y);
        if (!oneWay) this.cutLink(y, x);
      }
  }

  healAll(): void {
    this.cut.clear();
  }

  cutLinks(): string[] {
    return [...this.cut].sort();
  }

  send(m: M, now: number): void {
    this.stats.sent++;
    if (this.isCut(m.from, m.to)) {
      this.stats.cut++;
      return;
    }
    if (this.rng.chance(this.faults.lossP)) {
      this.stats.lost++;
      return;
    }
    this.enqueue(this.copy(m), now);
    if (this.rng.chance(this.faults.dupP)) {
      this.stats.duplicated++;
      this.enqueue(this.copy(m), now);
    }
    if (this.queue.length > IN_FLIGHT_MAX)
      throw new Error(`network: ${this.queue.length} messages in flight (IN_FLIGHT_MAX ${IN_FLIGHT_MAX})`);
  }

  private enqueue(m: M, now: number): void {
    const { delayMin, delayMax, lateP, lateSteps } = this.faults;
    const late = lateP !== undefined && lateSteps !== undefined && lateP > 0 && this.rng.chance(lateP);
    const delay = late ? this.rng.range(lateSteps[0], lateSteps[1]) : this.rng.range(delayMin, delayMax);
    this.queue.push({ m, at: now + delay, seq: this.seq++ });
  }

  /**
   * Removes and returns the messages due at `now`, in arrival order. `canReceive(to)`:
   * 'yes', 'wait' (paused: keep it queued) or 'drop' (crashed or gone).
   */
  due(now: number, canReceive: (to: NodeId) => 'yes' | 'wait' | 'drop'): M[] {
    const out: InFlight<M>[] = [];
    const keep: InFlight<M>[] = [];
    for (const f of this.queue) {
      if (f.at > now) {
        keep.push(f);
        continue;
      }
      const r = canReceive(f.m.to);
      if (r === 'wait') keep.push(f);
      else if (r === 'drop') this.stats.lost++;
      else if (this.isCut(f.m.from, f.m.to)) this.stats.cut++;
      else out.push(f);
    }
    this.queue = keep;
    out.sort((x, y) => x.at - y.at || x.seq - y.seq);
    this.stats.delivered += out.length;
    return out.map((f) => f.m);
  }

  /** Puts a message taken by due() back, for delivery at `at` (no new loss, delay or copy). */
  requeue(m: M, at: number): void {
    this.stats.delivered--;
    this.queue.push({ m, at, seq: this.seq++ });
  }

  /** Drops every message in flight to or from `id` (a node removed from the cluster). */
  dropAll(id: NodeId): void {
    this.queue = this.queue.filter((f) => f.m.to !== id && f.m.from !== id);
  }
}
