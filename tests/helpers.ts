// Shared by the tests: the pico reference scores and running cli.ts as a user would.
import type { RowSource } from "../io/rows.ts";
import { EngramError } from "../base/errors.ts";
import { PICO_DATA as DATA, PICO_MODELS as MODELS, picoPath } from "../io/pico.ts";
import { assertEquals, assertMatch, assertRejects } from "./assert.ts";
export { picoReference, type ReferenceRow } from "./pico_reference.ts";

export const FIXTURES = picoPath("fixtures/");
/** The pico suite and data, absolute (tests run from any folder). */
export const PICO_MODELS = picoPath(MODELS);
export const PICO_DATA = picoPath(DATA);
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

/** Runs `deno run -A cli.ts ...args` (with `env` added to the environment); returns exit code and output. After `timeoutMs` the run is killed. */
export async function runCli(
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {},
) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: opts.cwd ?? ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1", ...opts.env },
    signal: opts.timeoutMs === undefined ? undefined : AbortSignal.timeout(opts.timeoutMs),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** stderr lines that are engram's own (Vulkan loaders may print noise of their own). */
export function engramLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("engram:") || /^\s+at /.test(l) || /error/i.test(l))
    .filter((l) => !/XDG_RUNTIME_DIR/.test(l));
}

/** Runs fn with a fresh temporary folder, removed afterwards whatever happens. */
export async function withTempDir(
  fn: (dir: string) => Promise<void>,
  prefix = "engram-test-",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Checks that row `row` of `source` holds exactly `length` tokens through what users see: a read of all of them
 * succeeds and a read of one more is refused with the row's length.
 */
export async function assertRowLength(source: RowSource, row: number, length: number): Promise<void> {
  assertEquals((await source.read([row], 0, length)).length, length);
  const e = await assertRejects(() => source.read([row], 0, length + 1), EngramError);
  assertMatch(
    e.message,
    new RegExp(`^row ${row} of .* has ${length} tokens but tokens \\[0, ${length + 1}\\)`),
  );
}
