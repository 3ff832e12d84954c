// The layers of README's "How it works", lowest first: nothing imports upward. base/ (errors, files, paths,
// hashes, atomic writes) imports nothing of ours; base/ and engine/ import no package (the GPU machine has no
// registry; node: built-ins ship with Deno). And no module of ours is part of an import cycle, type-only and lazy
// imports included: a module reads as what it builds on. Read from the sources' import statements, static and
// dynamic.
import { assertEquals } from "./assert.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const LAYERS = ["base", "engine", "io", "scoring", "analysis", "cli"];

/** The specifiers a TypeScript source imports (`from "x"`, `import "x"`, `import("x")`, type-only ones too, and
 *  `importLazily("x")`, which Deno's module graph does not see). */
function importsOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g)) {
    out.push(m[1]);
  }
  for (const m of source.matchAll(/\bimportLazily(?:<[^>]*>)?\(\s*["']([^"']+)["']/g)) out.push(m[1]);
  return out;
}

/** What is wrong with `file` (in layer `layer`) importing `specifier`; null when nothing. */
function layerViolation(layer: string, file: string, specifier: string): string | null {
  const rank = LAYERS.indexOf(layer);
  if (!specifier.startsWith(".")) {
    if (rank <= LAYERS.indexOf("engine") && !specifier.startsWith("node:")) {
      return `${file} imports the package ${specifier} (${layer}/ runs from the bare Deno binary)`;
    }
    return null;
  }
  const target = new URL(specifier, `file:///${file}`).pathname.slice(1);
  const top = target.includes("/") ? target.slice(0, target.indexOf("/")) : "";
  if (layer === "base" && top !== "base") return `${file} imports ${target} (base/ imports nothing of ours)`;
  if (LAYERS.includes(top)) {
    return LAYERS.indexOf(top) > rank ? `${file} imports ${target} from a higher layer (${top}/)` : null;
  }
  // Outside the layers: data (deno.json for the version) may be read, code (mod.ts, cli.ts, tests/) not.
  return target.endsWith(".ts") ? `${file} imports ${target}, which is above every layer` : null;
}

Deno.test("layers: base/ imports nothing of ours, nothing imports upward, base/ and engine/ no package", async () => {
  const violations: string[] = [];
  let files = 0;
  for (const layer of LAYERS) {
    for await (const entry of Deno.readDir(`${ROOT}${layer}`)) {
      if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
      files++;
      const file = `${layer}/${entry.name}`;
      for (const specifier of importsOf(await Deno.readTextFile(`${ROOT}${file}`))) {
        const why = layerViolation(layer, file, specifier);
        if (why) violations.push(why);
      }
    }
  }
  assertEquals(violations, []);
  assertEquals(files > 60, true, `only ${files} sources found`);
});

Deno.test("layers: the check sees an upward import, a package in engine/ and base/ importing engine/", () => {
  assertEquals(importsOf(`import { a } from "../io/x.ts";\nconst m = await import("npm:vega@6");`), [
    "../io/x.ts",
    "npm:vega@6",
  ]);
  assertEquals(importsOf(`const t = await importLazily<{ a: number }>("../cli/t.ts", import.meta.url);`), [
    "../cli/t.ts",
  ]);
  assertEquals(layerViolation("scoring", "scoring/a.ts", "../analysis/report.ts") !== null, true);
  assertEquals(layerViolation("io", "io/a.ts", "../scoring/job.ts") !== null, true);
  assertEquals(layerViolation("scoring", "scoring/a.ts", "../io/results.ts"), null);
  assertEquals(layerViolation("engine", "engine/a.ts", "../io/files.ts") !== null, true);
  assertEquals(layerViolation("engine", "engine/a.ts", "npm:vega@6") !== null, true);
  assertEquals(layerViolation("engine", "engine/a.ts", "arquero") !== null, true);
  assertEquals(layerViolation("engine", "engine/a.ts", "node:path"), null);
  assertEquals(layerViolation("base", "base/a.ts", "../engine/errors.ts") !== null, true);
  assertEquals(layerViolation("base", "base/a.ts", "./errors.ts"), null);
  assertEquals(layerViolation("io", "io/a.ts", "../base/errors.ts"), null);
  assertEquals(layerViolation("io", "io/a.ts", "../deno.json"), null);
  assertEquals(layerViolation("analysis", "analysis/a.ts", "../cli/args.ts") !== null, true);
  assertEquals(layerViolation("cli", "cli/a.ts", "../mod.ts") !== null, true);
});

/** Our TypeScript modules (the repository's, fixtures and outputs left out), as paths from the root. */
async function ourModules(dir = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory && !entry.name.startsWith(".") && !["fixtures", "out", "demo-out"].includes(path)) {
      out.push(...await ourModules(path));
    } else if (entry.isFile && entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** `source` without its comment lines, whose examples import (mod.ts's `import ... from "./mod.ts"`). */
function withoutCommentLines(source: string): string {
  return source.split("\n").filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line)).join("\n");
}

/**
 * The import cycles among `modules` (path → the paths it imports; others ignored): each strongly connected set
 * of two or more modules, or one that imports itself, sorted (Tarjan's algorithm).
 */
function importCycles(modules: Map<string, string[]>): string[][] {
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of modules.get(v)!) {
      if (!modules.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const set: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      set.push(w);
    } while (w !== v);
    if (set.length > 1 || modules.get(v)!.includes(v)) cycles.push(set.sort());
  };
  for (const v of modules.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

Deno.test("no module of ours is part of an import cycle (type-only and lazy imports included)", async () => {
  const modules = new Map<string, string[]>();
  for (const file of await ourModules()) {
    const source = withoutCommentLines(await Deno.readTextFile(`${ROOT}${file}`));
    modules.set(
      file,
      importsOf(source).filter((s) => s.startsWith(".")).map((s) =>
        new URL(s, `file:///${file}`).pathname.slice(1)
      ),
    );
  }
  assertEquals(importCycles(modules), []);
  assertEquals(
    modules.size > 100 && modules.has("engine/model.ts") && modules.has("tests/layers_test.ts"),
    true,
  );
});

Deno.test("the cycle check sees a circle of two, one of three through a type-only import, and a self-import", () => {
  const graph = (edges: Record<string, string[]>) => new Map(Object.entries(edges));
  assertEquals(importCycles(graph({ "a.ts": ["b.ts"], "b.ts": ["a.ts"], "c.ts": ["a.ts"] })), [[
    "a.ts",
    "b.ts",
  ]]);
  assertEquals(
    importCycles(graph({ "a.ts": ["b.ts"], "b.ts": ["c.ts"], "c.ts": ["a.ts", "d.ts"], "d.ts": [] })),
    [
      ["a.ts", "b.ts", "c.ts"],
    ],
  );
  assertEquals(importCycles(graph({ "a.ts": ["a.ts"], "b.ts": ["a.ts", "npm.ts"] })), [["a.ts"]]);
  assertEquals(importCycles(graph({ "a.ts": ["b.ts", "c.ts"], "b.ts": ["c.ts"], "c.ts": [] })), []);
  // What the first test reads: a type-only import and a lazy one count, a comment's example does not.
  const source = withoutCommentLines(
    `import type { W } from "./workspace.ts";\n * import { x } from "./mod.ts";\n// import "./y.ts";\n` +
      `const t = await importLazily<typeof import("./texts.ts")>("./texts.ts", import.meta.url);`,
  );
  assertEquals(importsOf(source), ["./workspace.ts", "./texts.ts", "./texts.ts"]);
});
