// Simulated time for the cluster simulation: a step is one millisecond of simulated time;
// tasks are due at a step and run in the order they were scheduled, each followed by every
// task it deferred (runtime.defer, the WAL's defer), so a run is one deterministic sequence.
// Tasks belong to an owner — one life of one simulated process — and a dead owner's tasks are
// dropped, a paused owner's are held until it resumes (a SIGSTOPped process runs nothing).

/** One life of a simulated process, as the scheduler sees it. */
export interface TaskOwner {
  /** False once this life has ended (crash, power loss, removal): its tasks never run. */
  readonly alive: boolean;
  /** True while the process is paused: its tasks wait. */
  readonly paused: boolean;
  /** Tasks that came due while paused, run on resume in order. */
  readonly held: (() => void)[];
}

/** Deferred tasks run within one step at most; more means something defers itself forever. */
export const DEFERRED_PER_STEP_MAX = 1_000_000;

interface Task {
  owner: TaskOwner | undefined;
  fn: () => void;
}

export class SimScheduler {
  /** The current step (ms of simulated time since the start). */
  now = 0;
  /** Tasks due at future steps, by step. */
  private readonly due = new Map<number, Task[]>();
  /** Tasks due now (scheduled for the current step or earlier), in order. */
  private dueNow: Task[] = [];
  private deferred: Task[] = [];
  private deferredRun = 0;

  /** Schedules `fn` at step `at` (`now` or earlier: at the next runDue, which may be later in this step). */
  at(at: number, fn: () => void, owner?: TaskOwner): void {
    if (at <= this.now) {
      this.dueNow.push({ owner, fn });
      return;
    }
    let list = this.due.get(at);
    if (list === undefined) this.due.set(at, (list = []));
    list.push({ owner, fn });
  }

  /** Runs `fn` right after the task now running (FIFO). */
  defer(fn: () => void, owner?: TaskOwner): void {
    this.deferred.push({ owner, fn });
  }

  /** Runs the tasks due now, and everything they defer. */
  runDue(): void {
    this.deferredRun = 0;
    this.drainDeferred();
    const list = this.due.get(this.now);
    if (list !== undefined) {
      this.due.delete(this.now);
      this.dueNow = list.concat(this.dueNow);
    }
    while (this.dueNow.length > 0) {
      const batch = this.dueNow;
      this.dueNow = [];
      for (const task of batch) {
        this.run(task);
        this.drainDeferred();
      }
    }
  }

  /** Runs what is due now and what it defers, until nothing is left (a scenario test's "settle"). */
  settle(): void {
    while (this.deferred.length > 0 || this.dueNow.length > 0 || (this.due.get(this.now)?.length ?? 0) > 0)
      this.runDue();
  }

  /** Runs whatever was deferred outside a task (a client or a fault injected this step). */
  drainDeferred(): void {
    while (this.deferred.length > 0) {
      const batch = this.deferred;
      this.deferred = [];
      for (const task of batch) {
        if (++this.deferredRun > DEFERRED_PER_STEP_MAX)
          throw new Error(`scheduler: more than ${DEFERRED_PER_STEP_MAX} deferred tasks in one step (a livelock)`);
        this.run(task);
      }
    }
  }

  private run(task: Task): void {
    const o = task.owner;
    if (o !== undefined) {
      if (!o.alive) return;
      if (o.paused) {
        o.held.push(task.fn);
        return;
      }
    }
    task.fn();
  }
}
