// A score run that pauses itself at a known point. `deno run -A tests/score_stopping.ts N score ARGS...` is
// `cli.ts score ARGS...` except that the process stops itself (SIGSTOP) once, as soon as its journal holds N rows
// or more. A test can then SIGKILL a real run mid-run however fast the adapter is (resume_test.ts), or signal it,
// or run another command against the same output while it holds its lock, and SIGCONT it.
import { EngramError } from "../base/errors.ts";
import { Journal } from "../scoring/journal.ts";
import { scoreCommand } from "../cli/score.ts";
import { AssertionError } from "./assert.ts";

/** A stopping run in a subprocess: `stopped()` resolves once it has paused itself (or fails if it ended). */
export function startStopping(stopAt: number, scoreArgs: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, String(stopAt), ...scoreArgs],
    stdout: "piped",
    stderr: "piped",
    env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
  }).spawn();
  const output = child.output();
  let ended = false;
  output.then(() => ended = true, () => ended = true);
  const stopped = async () => {
    const deadline = Date.now() + 180_000;
    // Linux's /proc/<pid>/stat: the state follows the parenthesized command name; "T" is stopped.
    while (!/\) T /.test(await Deno.readTextFile(`/proc/${child.pid}/stat`).catch(() => ""))) {
      if (ended) {
        const o = await output;
        throw new AssertionError(
          `the run ended (code ${o.code}) before it recorded ${stopAt} rows; stderr: ${
            new TextDecoder().decode(o.stderr)
          }`,
        );
      }
      if (Date.now() > deadline) throw new AssertionError(`the run did not record ${stopAt} rows in 180 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { child, output, stopped };
}

if (import.meta.main) {
  const [stopAt, command, ...args] = Deno.args;
  if (command !== "score" || !/^\d+$/.test(stopAt)) {
    throw new Error("usage: score_stopping.ts N score ARGS...");
  }
  const append = Journal.prototype.append;
  let stopped = false;
  Journal.prototype.append = async function (this: Journal, ...a: Parameters<Journal["append"]>) {
    await append.apply(this, a);
    if (!stopped && this.done >= Number(stopAt)) {
      stopped = true;
      Deno.kill(Deno.pid, "SIGSTOP");
    }
  };
  try {
    await scoreCommand(args);
    Deno.exit(0);
  } catch (e) {
    console.error(`engram: ${(e as Error).message}`);
    Deno.exit(e instanceof EngramError ? 1 : 70);
  }
}
