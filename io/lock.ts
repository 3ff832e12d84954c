// An exclusive lock on one output file (`<file>.lock`), so two runs never write the same results and journal at
// once. The lock file is created with createNew (atomic: exactly one creator wins, on local and NFS v3+ folders)
// and names its holder; a lock whose process is gone from this host is stale and taken over. Deno's
// FsFile.lock would wait for the holder instead of failing, hence a lock file.
import { EngramError } from "../engine/errors.ts";

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

/** Whether the process `pid` of this host is gone (signal 0 checks existence; EPERM means it exists). */
function isGone(pid: number): boolean {
  try {
    Deno.kill(pid, 0 as unknown as Deno.Signal);
    return false;
  } catch (e) {
    return e instanceof Deno.errors.NotFound;
  }
}

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
      const holder = parseHolder(text);
      // Stale: its process is gone from this host, or it names this very process, which does not hold it (an
      // earlier run killed in a container restarted under the same host name, where pids repeat).
      const mine = holder?.pid === me.pid && ![...held].some((l) => l.path === path);
      if (holder && holder.host === me.host && (mine || (holder.pid !== me.pid && isGone(holder.pid)))) {
        // Remove it only if it is still that lock: another run taking it over at the same moment may already
        // have replaced it with its own.
        if ((await Deno.readTextFile(path).catch(() => null)) === text) {
          await Deno.remove(path).catch(() => {});
        }
        continue;
      }
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
