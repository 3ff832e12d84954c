// Processes of this host: whether a run that left a lock (io/lock.ts) or a temporary file (base/atomic.ts) is
// still alive.

/** Whether the process `pid` of this host is gone (signal 0 checks existence; EPERM means it exists). Also
 *  what tells a killed run's temporary files (base/atomic.ts) from a live run's. */
export function isGone(pid: number): boolean {
  try {
    Deno.kill(pid, 0 as unknown as Deno.Signal);
    return false;
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
}
