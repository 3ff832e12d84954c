// Shared by the tests: the pico reference scores and running cli.ts as a user would.
export const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
export const PICO_MODELS = `${FIXTURES}pico/models`;
export const PICO_DATA = `${FIXTURES}pico/data/pico_document`;
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

export interface ReferenceRow {
  score: number;
  firstMismatch: number;
  margin: number;
}

/** fixtures/pico/reference: "model@revision" → rows by index. */
export async function picoReference(): Promise<Map<string, ReferenceRow[]>> {
  const text = await Deno.readTextFile(`${FIXTURES}pico/reference/scores-pico-1-2-3.csv`);
  const out = new Map<string, ReferenceRow[]>();
  for (const line of text.trim().split("\n").slice(1)) {
    const [model, revision, index, score, first, margin] = line.split(",");
    const key = `${model}@${revision}`;
    if (!out.has(key)) out.set(key, []);
    out.get(key)![Number(index)] = {
      score: Number(score),
      firstMismatch: Number(first),
      margin: Number(margin),
    };
  }
  return out;
}

/** Runs `deno run -A cli.ts ...args`; returns exit code and output. */
export async function runCli(args: string[], opts: { cwd?: string } = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: opts.cwd ?? ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** stderr lines that are engram's own (Vulkan loaders may print noise of their own). */
export function engramLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("engram:") || /^\s+at /.test(l) || /error/i.test(l))
    .filter((l) => !/XDG_RUNTIME_DIR/.test(l));
}
