// An exclusive lock on one output file (`<file>.lock`), so two runs never write the same results and journal at
// once. The lock file is created with createNew (atomic: exactly one creator wins, on local and NFS v3+ folders)
// and names its holder; a lock whose process is gone from this host is stale and taken over (`takeOver`: by one
// run only, however many find it at once). Deno's FsFile.lock would wait for the holder instead of failing,
// hence a lock file.
import { EngramError } from "../base/errors.ts";
import { isGone } from "../base/process.ts";

interface Holder {
  pid: number;
  host: string;
  started: string;
}

/** The locks this process holds, released if it is interrupted (SIGINT, SIGTERM, SIGHUP) as well as on return. */
const held = new Set<FileLock>();
const SIGNALS: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM", "SIGHUP"];
const handlers = new Map<Deno.Signal, () => void>();

function watchSignals(): void {
  for (const signal of SIGNALS) {
    const handler = () => {
      for (const lock of [...held]) lock.release();
      // The default action of the signal again (the process ends as if we had never listened).
      Deno.kill(Deno.pid, signal);
    };
    handlers.set(signal, handler);
    Deno.addSignalListener(signal, handler);
  }
}

function unwatchSignals(): void {
  for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  handlers.clear();
}

function parseHolder(text: string): Holder | null {
  try {
    const h = JSON.parse(text);
    return typeof h?.pid === "number" && typeof h.host === "string" && typeof h.started === "string"
      ? h
      : null;
  } catch {
    return null;
  }
}

/** Whether a lock holding `text` is stale for `me`: its run, on this host and not this process, is gone. */
function isStale(text: string, me: Holder): boolean {
  const holder = parseHolder(text);
  return holder !== null && holder.host === me.host && holder.pid !== me.pid && isGone(holder.pid);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Removes the stale lock at `path` so that the caller can create its own, as one step with respect to other runs
 * doing the same: reading, checking and removing it would let a run that read the stale lock remove the lock a
 * second run had made after removing that stale one. Instead the lock file gets a second name, `<lock>.takeover`
 * (a hard link: only one run can make it, and it names the file that was at `path` at that moment, whichever run
 * made that). The run that made it checks that this file is stale, removes it from `path` (while the second name
 * exists no other run can: holders remove only their own locks, and a stale lock's holder is gone), then the
 * second name. A live lock is never moved or removed: if the file pinned is a live lock, only the second name
 * goes. A second name left longer than a takeover takes (a run killed in those few operations) is named for the
 * user to delete: it cannot be told from a slow takeover atomically.
 */
async function takeOver(path: string, me: Holder): Promise<void> {
  const pin = `${path}.takeover`;
  for (let waited = 0;;) {
    try {
      await Deno.link(path, pin);
      break;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return; // gone meanwhile: the caller tries to create it again
      if (!(e instanceof Deno.errors.AlreadyExists)) {
        const why = `${(e as Error).message}; the folder may not allow hard links`;
        throw new EngramError(
          `cannot take over ${path}, left by a run that no longer exists (${why}): delete it`,
        );
      }
    }
    // Another run is taking it over (a few file operations), or one was killed doing so.
    if (waited >= 2000) {
      const why = "a run was killed while taking over the stale lock";
      throw new EngramError(
        `${pin} has been there for over 2 s: ${why} ${path}; delete ${pin}, and ${path} if the run it names ` +
          `no longer exists`,
      );
    }
    const ms = Math.min(100, 1 + waited);
    await sleep(ms);
    waited += ms;
  }
  try {
    const text = await Deno.readTextFile(pin).catch(() => null);
    if (text !== null && isStale(text, me)) await Deno.remove(path).catch(() => {});
  } finally {
    await Deno.remove(pin).catch(() => {});
  }
}

/** A held lock on one output file: `acquire` takes it, `release` gives it back. */
export class FileLock {
  private released = false;
  private constructor(readonly path: string) {}

  /** Locks `target` (a file about to be written) or throws an EngramError naming who holds it. */
  static async acquire(target: string): Promise<FileLock> {
    const path = `${target}.lock`;
    const me: Holder = { pid: Deno.pid, host: Deno.hostname(), started: new Date().toISOString() };
    let seen = "";
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await Deno.writeTextFile(path, JSON.stringify(me) + "\n", { createNew: true });
        const lock = new FileLock(path);
        if (held.size === 0) watchSignals();
        held.add(lock);
        return lock;
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) {
          // Created but not written (disk full) leaves an empty lock: remove it.
          await Deno.remove(path).catch(() => {});
          throw new EngramError(
            `cannot create ${path}: ${
              (e as Error).message
            }; check that the output folder is writable and has space`,
          );
        }
      }
      const text = await Deno.readTextFile(path).catch(() => null);
      if (text === null) continue; // released meanwhile
      seen = text;
      if (isStale(text, me)) await takeOver(path, me); // its run was killed
    }
    const holder = parseHolder(seen);
    const who = holder
      ? `another run (pid ${holder.pid} on ${holder.host}, since ${holder.started})`
      : `another run (${path} does not say which)`;
    throw new EngramError(
      `${target} is being written by ${who}; wait for it to finish or pass another --out ` +
        `(if that run no longer exists, delete ${path})`,
    );
  }

  /** Removes the lock file (idempotent; synchronous, so it also runs from a signal handler). */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this);
    if (held.size === 0) unwatchSignals();
    try {
      Deno.removeSync(this.path);
    } catch {
      // already gone (deleted by hand): nothing to release
    }
  }
}
