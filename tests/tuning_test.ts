// Tuning, as a user runs it: `tune` stores the winners per shape under this adapter (in the cache by default,
// adding a second model's shapes to the first's); `score` then runs them, says so in the provenance and writes
// the same results as untuned; a tuning file without this adapter, or a damaged one, is one engram: line. The
// provenance's kernels are the variants that ran, seen here in the WGSL the device compiled.
import { scoreCommand } from "../cli/score.ts";
import { Gpu } from "../engine/gpu.ts";
import { parseVariant } from "../engine/tiles.ts";
import { adapterKey, readTuningFile, type TuningFile, useTuning } from "../engine/tuning.ts";
import { readResults } from "../io/results.ts";
import { assert, assertEquals } from "./assert.ts";
import { engramLines, PICO_DATA, PICO_MODELS } from "./helpers.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

/** `deno run -A cli.ts ...args` with XDG_CACHE_HOME = `cache`. */
async function run(args: string[], cache: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1", XDG_CACHE_HOME: cache },
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

const gpu = await Gpu.open();
const key = adapterKey(gpu);
// The family pico's matrices run: texel tiles with the CPU kernels (matrices held as textures), else tiled.
const family = gpu.cpuKernels ? (gpu.texels ? "texel" : "direct") : "tiled";
gpu.destroy();
/** Two variants of this adapter's family that are not its defaults. */
const VARIANTS = {
  texel: ["x64x64-4x4", "x64x128-8x32"],
  direct: ["d64x64-4x4", "d32x64-2x8"],
  tiled: ["t64x64k16-4x4", "t64x128k8-4x8"],
}[family];

/** score's arguments for pico-2@step1092 (`rows`: 24 rows in batches of 8) into `out`. */
function scoreArgs(out: string, extra: string[], rows = ["--count", "24", "--batch", "8"]): string[] {
  const checkpoint = ["--model", PICO_MODELS, "--models", "pico-2", "--revisions", "step1092"];
  return [...checkpoint, "--data", PICO_DATA, ...rows, "--out", out, "--quiet", ...extra];
}

function score(cache: string, out: string, extra: string[] = []) {
  return run(["score", ...scoreArgs(out, extra)], cache);
}

Deno.test("tune fills the cache for this adapter; score runs its variants and records them", async () => {
  const dir = await Deno.makeTempDir();
  const cache = `${dir}/cache`;
  for (const model of ["pico-1", "pico-2"]) {
    const tuned = await run(
      [
        "tune",
        "--model",
        `${PICO_MODELS}/${model}/step1092`,
        "--batch",
        "8",
        "--variants",
        VARIANTS.join(","),
        // What is tested is where the winners go, not the timings: short passes.
        "--timing-ms",
        "10",
      ],
      cache,
    );
    assertEquals(tuned.code, 0, tuned.stderr);
  }
  const file = readTuningFile(`${cache}/engram/tuning.json`)!;
  assertEquals(file.tables.length, 1);
  const table = file.tables[0];
  assertEquals([table.adapter, table.driver], [key.adapter, key.driver]);
  // 9 shapes per model (4 prefill, 4 decode, the unembedding); pico-1 and pico-2 share none.
  assertEquals(table.shapes.length, 18);
  // The winner of each shape: one of the variants asked for, or the untuned default they were timed against.
  for (const s of table.shapes) assertEquals(parseVariant(s.variant).family, family, s.variant);

  // Force the second variant everywhere through the cache: score runs it, results as untuned.
  for (const s of table.shapes) s.variant = VARIANTS[1];
  await Deno.writeTextFile(`${cache}/engram/tuning.json`, JSON.stringify(file));
  assertEquals((await score(`${dir}/none`, `${dir}/untuned`)).code, 0);
  const tunedRun = await score(cache, `${dir}/tuned`);
  assertEquals(tunedRun.code, 0, tunedRun.stderr);
  const untuned = await readResults(`${dir}/untuned/pico-2@step1092.parquet`);
  const tuned = await readResults(`${dir}/tuned/pico-2@step1092.parquet`);
  assertEquals(tuned.table, untuned.table);
  // Untuned: the built-in defaults, or the shipped table where it has one for this adapter (lavapipe's holds
  // pythia-70m's and pico-3's shapes, so pico-2 still runs the defaults).
  assert(
    /^(default|shipped shaders\/tuning\.json): /.test(untuned.provenance!.kernels!),
    untuned.provenance!.kernels,
  );
  assert(!untuned.provenance!.kernels!.includes(VARIANTS[1]), untuned.provenance!.kernels);
  assertEquals(tuned.provenance!.kernels, `cache ${cache}/engram/tuning.json: ${VARIANTS[1]}`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the provenance's kernels are the tile variants the device compiled and ran (--logprob, extractable)", async () => {
  const dir = await Deno.makeTempDir();
  // --logprob keeps the reference variant for the unembedding, whatever the tuning picks; extractable mode's
  // survivors run narrower passes than the full batch (on a CPU adapter, another variant below 64 rows).
  const runs: [string, string[]][] = [["logprob", ["--logprob"]], ["extractable", ["--mode", "extractable"]]];
  for (const [name, extra] of runs) {
    const fresh = await Gpu.open(); // its own pipeline cache: every tile pipeline is compiled in this run
    const compiled = new Set<string>();
    const create = fresh.device.createShaderModule.bind(fresh.device);
    fresh.device.createShaderModule = (d: GPUShaderModuleDescriptor) => {
      const tile = /^\/\/ Tile variant (\S+) /m.exec(d.code);
      if (tile) compiled.add(tile[1]);
      return create(d);
    };
    try {
      const out = `${dir}/${name}`;
      await scoreCommand(scoreArgs(out, extra, ["--count", "64", "--batch", "64"]), fresh);
      const { provenance } = await readResults(`${out}/pico-2@step1092.parquet`);
      assert(compiled.size > 0, "tile pipelines were compiled");
      // score without --tuning runs useTuning's choice: this process's cache, else the shipped table.
      const source = useTuning(fresh).source;
      assertEquals(provenance!.kernels, `${source}: ${[...compiled].sort().join(", ")}`, name);
    } finally {
      fresh.destroy();
    }
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--tuning: a file without this adapter, or a damaged one, is one engram: line", async () => {
  const dir = await Deno.makeTempDir();
  const other: TuningFile = {
    engram_tuning: 1,
    tables: [{ adapter: "Some Other GPU", driver: "1.0", deno: "2.9.6", measured: "", shapes: [] }],
  };
  await Deno.writeTextFile(`${dir}/other.json`, JSON.stringify(other));
  await Deno.writeTextFile(`${dir}/bad.json`, "{ not json");
  const bad = structuredClone(other);
  bad.tables[0] = { ...bad.tables[0], ...key };
  bad.tables[0].shapes.push({ kernel: "matmul", format: "f32", m: 8, n: 8, k: 8, variant: "t7x7k1-1x1" });
  await Deno.writeTextFile(`${dir}/variant.json`, JSON.stringify(bad));
  for (
    const [file, why] of [
      ["other.json", /has no table for this adapter/],
      ["bad.json", /not valid JSON/],
      ["variant.json", /kernel variant "t7x7k1-1x1"/],
    ] as const
  ) {
    const { code, stderr } = await score(dir, `${dir}/out`, ["--tuning", `${dir}/${file}`]);
    assertEquals(code, 1, stderr);
    const lines = engramLines(stderr);
    assertEquals(lines.length, 1, stderr);
    assert(why.test(lines[0]), lines[0]);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("tune: a bad --timing-ms, or a --tuning or --report that cannot be written, is one engram: line before any timing", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/file`, "");
  const tune = [
    "tune",
    "--model",
    `${PICO_MODELS}/pico-1/step1092`,
    "--batch",
    "8",
    "--variants",
    VARIANTS[0],
  ];
  for (
    const [extra, why] of [
      [["--timing-ms", "abc", "--tuning", `${dir}/t.json`], /--timing-ms must be a whole number/],
      [["--tuning", "/proc/engram-tuning.json"], /--tuning \/proc\/engram-tuning\.json cannot be written/],
      [
        ["--tuning", `${dir}/t.json`, "--report", `${dir}/file/r.json`],
        /--report .*file\/r\.json cannot be written/,
      ],
    ] as const
  ) {
    const { code, stderr } = await run([...tune, ...extra], `${dir}/cache`);
    assertEquals(code, 1, stderr);
    assertEquals(engramLines(stderr).length, 1, stderr);
    assert(why.test(engramLines(stderr)[0]), stderr);
    assert(!stderr.includes("tune: "), `refused before timing: ${stderr}`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("variant names: every name parses back to itself; impossible ones are refused", () => {
  for (
    const name of ["t128x128k16-8x8-s2-w16-g8", "t64x64k8-4x4", "d16x64-1x4", "d64x128-4x8", "x128x128-16x32"]
  ) {
    const v = parseVariant(name);
    assertEquals(
      name,
      v.family !== "tiled"
        ? `${v.family === "direct" ? "d" : "x"}${v.bm}x${v.bn}-${v.tm}x${v.tn}`
        : `t${v.bm}x${v.bn}k${v.bk}-${v.tm}x${v.tn}${v.stages === 2 ? "-s2" : ""}${v.w16 ? "-w16" : ""}${
          v.swizzle ? `-g${v.swizzle}` : ""
        }`,
    );
  }
  for (
    const name of [
      "t64x64k16-3x4",
      "t64x32k16-4x4",
      "d64x64-4x3",
      "t64x64k6-4x4",
      "x64",
      "d2048x64-1x4",
      "x64x32-4x4",
    ]
  ) {
    let error = "";
    try {
      parseVariant(name);
    } catch (e) {
      error = (e as Error).message;
    }
    assert(error.startsWith(`kernel variant "${name}"`), `${name}: ${error}`);
  }
});
