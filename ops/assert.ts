// The one assertion helper. A broken invariant means this process's state can no longer be
// trusted, so it throws InvariantError, and every loop that meets one stops the process (the
// replica's onFatal, the broker's and publisher's fatal paths) rather than go on corrupting
// state. Each module names itself once: `const assert: Assert = assertFor('WAL');`.

export class InvariantError extends Error {
  override name = 'InvariantError';
  constructor(
    /** The component whose invariant broke ("WAL", "Raft log", "publisher", …). */
    readonly component: string,
    message: string,
  ) {
    super(`${component} invariant broken: ${message}`);
  }
}

/** An assertion bound to a component (TypeScript needs the explicit `Assert` type on the const to narrow). */
export type Assert = (ok: boolean, message: string) => asserts ok;

export function assertFor(component: string): Assert {
  return (ok, message) => {
    if (!ok) throw new InvariantError(component, message);
  };
}
