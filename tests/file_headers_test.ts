// One file-header style: every TypeScript source opens with a `//` comment that says what it is. mod.ts is the
// exception: its `/** ... @module */` comment is the package's documentation (deno doc shows it).
import { assertEquals } from "./assert.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const FOLDERS = ["base", "engine", "io", "scoring", "analysis", "cli", "tests", "bench", "scripts"];

/** The .ts files under `dir` (relative to the repository root), recursively. */
async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}${dir}`)) {
    if (e.isDirectory) out.push(...await sources(`${dir}/${e.name}`));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(`${dir}/${e.name}`);
  }
  return out;
}

Deno.test("every source opens with a // comment (mod.ts: its @module documentation)", async () => {
  const files = ["cli.ts", ...(await Promise.all(FOLDERS.map(sources))).flat()];
  const without: string[] = [];
  for (const file of files) {
    if (!(await Deno.readTextFile(`${ROOT}${file}`)).startsWith("// ")) without.push(file);
  }
  assertEquals(without, [], "files whose first line is not a // comment");
  const mod = await Deno.readTextFile(`${ROOT}mod.ts`);
  assertEquals(mod.startsWith("/**") && mod.includes("@module"), true, "mod.ts opens with its @module JSDoc");
});
