// The error contract of the command line, shared by the tests that run it as a user would: a bad run exits 1 with
// ONE line on stderr starting with "engram:" that names the problem and the place, never a stack trace or an
// "internal error".
import { assert, assertEquals } from "./assert.ts";
import { engramLines, runCli } from "./helpers.ts";

/**
 * Runs the CLI and checks the error contract; every string in `mentions` must appear in the one line (a RegExp
 * must match it). Returns the line.
 */
export async function expectError(
  args: string[],
  mentions: (string | RegExp)[],
  opts: { timeoutMs?: number; cwd?: string } = {},
): Promise<string> {
  const r = await runCli(args, opts);
  const context = `cli.ts ${args.join(" ")}\n  exit code ${r.code}\n  stderr: ${JSON.stringify(r.stderr)}`;
  const stack = r.stderr.split("\n").filter((l) => /^\s+at /.test(l));
  assert(stack.length === 0, `stack trace on stderr: ${context}`);
  const lines = engramLines(r.stderr);
  assert(
    lines.length === 1 && lines[0].startsWith("engram: "),
    `expected exactly one "engram:" line: ${context}`,
  );
  const line = lines[0];
  assert(!line.startsWith("engram: internal error"), `an internal error instead of a clear one: ${context}`);
  assertEquals(r.code, 1, `exit code: ${context}`);
  for (const m of mentions) {
    const ok = typeof m === "string" ? line.includes(m) : m.test(line);
    assert(ok, `the error line should mention ${typeof m === "string" ? JSON.stringify(m) : m}: ${context}`);
  }
  return line;
}
