// Commands that need no npm package must not make Deno install them: Deno installs every package of deno.lock
// (~80, ~10 s on a fresh machine) once any npm module is in a command's run-time graph. The graph is read with
// `deno info --json` (offline), following code dependencies only (type-only imports are not loaded at run time).
import { assertEquals } from "./assert.ts";

const ROOT = new URL("..", import.meta.url).pathname;

interface InfoModule {
  specifier: string;
  dependencies?: { specifier: string; code?: { specifier: string } }[];
}

/** The npm modules reachable from `entry` through code (not type-only) imports. */
async function runtimeNpm(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { roots: string[]; modules: InfoModule[] };
  const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>(), npm = new Set<string>();
  const visit = (specifier: string) => {
    if (seen.has(specifier)) return;
    seen.add(specifier);
    if (specifier.startsWith("npm:")) return void npm.add(specifier);
    for (const d of bySpecifier.get(specifier)?.dependencies ?? []) if (d.code) visit(d.code.specifier);
  };
  info.roots.forEach(visit);
  return [...npm].sort();
}

Deno.test("cli.ts and the commands that need no npm package load none (info, logits, score, merge, bench, tune)", async () => {
  for (
    const entry of [
      "cli.ts",
      "cli/score.ts",
      "cli/merge.ts",
      "cli/bench.ts",
      "cli/tune.ts",
      "cli/infer.ts",
      "mod.ts",
    ]
  ) {
    assertEquals(await runtimeNpm(entry), [], `${entry}: npm modules in its run-time graph`);
  }
});

Deno.test("the report's graph does load its npm packages (the check above can see them)", async () => {
  const npm = await runtimeNpm("cli/report.ts");
  for (const name of ["arquero", "vega", "vega-lite"]) {
    assertEquals(
      npm.some((s) => s.replace("npm:/", "npm:").startsWith(`npm:${name}@`)),
      true,
      `${name} in ${npm.join(", ")}`,
    );
  }
});

// Deno installs every package deno.lock lists once a program needs any npm package (the demo, the report, the
// tests): a benchmark's package there (DuckDB's 140 MB of native bindings) would be every user's download.
Deno.test("deno.lock holds only deno.json's packages and theirs: nothing a benchmark alone uses", async () => {
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`)) as {
    specifiers: Record<string, string>;
    npm: Record<string, unknown>;
    workspace: { dependencies: string[] };
  };
  const declared = new Set(lock.workspace.dependencies);
  const stray = Object.keys(lock.specifiers).filter((s) => !declared.has(s));
  assertEquals(stray, [], "specifiers imported inline outside deno.json (bench code runs with --no-lock)");
  const benchOnly = Object.keys(lock.npm).filter((p) => p.startsWith("@duckdb/"));
  assertEquals(benchOnly, [], "DuckDB is the scale benchmark's alone");
});
