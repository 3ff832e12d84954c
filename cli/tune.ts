// `cli.ts tune`: times the matmul tile variants at a model's own shapes on this adapter and stores the fastest
// per shape in a tuning file (engine/tuning.ts), which score, bench and demo then use. Every variant gives the
// same bits: tuning changes speed, never a result.
import { loadConfig } from "../engine/config.ts";
import { EngramError } from "../base/errors.ts";
import { Gpu } from "../engine/gpu.ts";
import { weightFormat } from "../engine/model.ts";
import { CheckpointReader } from "../engine/checkpoint.ts";
import { mapNeoXTensors } from "../engine/weights.ts";
import {
  flops,
  type MatmulShape,
  modelShapes,
  type ShapeTuning,
  tunedShapes,
  tuneShapes,
} from "../engine/tuner.ts";
import { adapterKey, readTuningFile, saveTuningTable, tuningCachePath } from "../engine/tuning.ts";
import { parseVariant } from "../engine/tiles.ts";
import { PAPER_PROMPT } from "../engine/paper.ts";
import { intFlag, listFlag, parseArgs } from "./args.ts";
import { resolveCheckpoints } from "../io/checkpoints.ts";
import { checkWritable, writeTextAtomic } from "../base/atomic.ts";

const TUNE_HELP = `./engram tune --model DIR [--tuning FILE] [--batch N] [--prompt 32]
                       [--report FILE] [--ceiling TFLOPS] [--kernel-family cpu|gpu] [--variants a,b,...]
                       [--timing-ms MS]
  Times every matmul tile variant at the model's matmul shapes (prefill, decode at M = batch, the fused
  unembedding argmax) on this adapter and stores the fastest per shape in FILE (default: the user's cache,
  ${tuningCachePath() ?? "$XDG_CACHE_HOME/engram/tuning.json"}), under this adapter and driver. score, bench
  and demo use it from then on (or take --tuning FILE). Results never depend on the variant, only speed does.
  DIR: a checkpoint, model or suite folder (only config.json and the weights' dtype are read).
  --batch N            rows per batch the shapes are for (default 1024 on a GPU, 256 on a CPU adapter)
  --report FILE        also write every variant's timing per shape as JSON
  --ceiling TFLOPS     the adapter's arithmetic ceiling in TFLOP/s, to print each shape's share of it
  --kernel-family F    the kernel family to tune, cpu or gpu (default: this adapter's; gpu on a CPU adapter
                       only checks that it runs)
  --variants a,b       time only these variants (names as in the output, e.g. t128x128k16-8x8-s2,t64x64k16-4x4)
  --timing-ms MS       milliseconds of work per timed pass (default 30 on a GPU, 150 on a CPU adapter)`;

const OPTIONS = {
  model: { type: "string" },
  tuning: { type: "string" },
  batch: { type: "string" },
  prompt: { type: "string" },
  report: { type: "string" },
  ceiling: { type: "string" },
  "kernel-family": { type: "string" },
  variants: { type: "string" },
  "timing-ms": { type: "string" },
  help: { type: "boolean" },
} as const;

/** The matmul shapes of every distinct model shape under `path`. */
async function shapesOf(gpu: Gpu, path: string, batch: number, prompt: number): Promise<MatmulShape[]> {
  const shapes = new Map<string, MatmulShape>();
  for (const ck of await resolveCheckpoints(path)) {
    const cfg = await loadConfig(ck.dir);
    const ckpt = await CheckpointReader.open(ck.dir);
    try {
      const t = mapNeoXTensors(ckpt, cfg);
      const formats = {
        layers: weightFormat(gpu, t.layers[0].qkvW.dtype),
        unembed: weightFormat(gpu, t.embedOut.dtype),
      };
      for (const s of modelShapes(cfg, formats, batch, prompt, gpu.limits.maxBinding)) {
        shapes.set(`${s.kernel} ${s.format} ${s.m} ${s.n} ${s.k}`, s);
      }
    } finally {
      ckpt.close();
    }
  }
  return [...shapes.values()];
}

/** `./engram tune` on `argv`. */
export async function tuneCommand(argv: string[]): Promise<void> {
  if (argv.includes("--kernels")) { // its name until bench's --kernels became --matmuls (one name, one meaning)
    throw new EngramError("tune: --kernels is now --kernel-family cpu|gpu, as in bench");
  }
  const { values: a } = parseArgs(argv, OPTIONS, "tune");
  if (a.help) return console.log(TUNE_HELP);
  if (!a.model) throw new EngramError("tune: --model DIR is required (a checkpoint, model or suite folder)");
  const family = a["kernel-family"];
  if (family !== undefined && family !== "cpu" && family !== "gpu") {
    throw new EngramError(`--kernel-family must be cpu or gpu, got "${family}"`);
  }
  const ceiling = a.ceiling === undefined ? undefined : Number(a.ceiling);
  if (ceiling !== undefined && !(ceiling > 0)) {
    throw new EngramError(`--ceiling must be a positive number of TFLOP/s, got "${a.ceiling}"`);
  }
  const timingMs = intFlag(a["timing-ms"], "timing-ms", 1);
  const file = a.tuning ?? tuningCachePath();
  if (!file) {
    throw new EngramError(
      "tune: no cache folder (neither XDG_CACHE_HOME nor HOME is set): give --tuning FILE",
    );
  }
  readTuningFile(file); // a damaged tuning file is refused before the timing, not after
  await checkWritable(file, "--tuning");
  if (a.report) await checkWritable(a.report, "--report");
  const gpu = await Gpu.open({ timestamps: true, kernels: family as "cpu" | "gpu" | undefined });
  try {
    const batch = intFlag(a.batch, "batch", 1) ?? gpu.defaults.batch;
    const prompt = intFlag(a.prompt, "prompt", 1) ?? PAPER_PROMPT;
    const shapes = await shapesOf(gpu, a.model, batch, prompt);
    const key = adapterKey(gpu);
    console.error(
      `tune: ${shapes.length} shapes on ${gpu.describe()}${key.driver ? `, driver ${key.driver}` : ""}`,
    );
    const progress = progressLines();
    const t0 = performance.now();
    const variants = listFlag(a.variants, "variants")?.map(parseVariant);
    const results = await tuneShapes(gpu, shapes, {
      variants,
      ...(timingMs === undefined ? {} : { target: timingMs / 1000 }),
      onProgress: (line) => progress(line),
    });
    progress(null);
    const seconds = (performance.now() - t0) / 1000;
    await saveTuningTable(file, {
      ...key,
      deno: Deno.version.deno,
      measured: new Date().toISOString(),
      shapes: tunedShapes(results),
    });
    if (a.report) {
      await writeTextAtomic(
        a.report,
        JSON.stringify({
          ...key,
          described: gpu.describe(),
          model: a.model,
          batch,
          prompt,
          seconds,
          shapes: results,
        }),
      );
    }
    printTable(results, ceiling);
    console.error(`tune: ${seconds.toFixed(0)} s; stored in ${file}`);
  } finally {
    gpu.destroy();
  }
}

/**
 * The tuner's lines on stderr. Each shape's result is a line of the table printed at the end, so on a terminal
 * it only shows progress, rewritten in place, and the table appears once; in a log every line stays. `null`
 * ends the in-place line.
 */
function progressLines(): (line: string | null) => void {
  const interactive = Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  let open = false;
  return (line) => {
    if (!interactive) return line === null ? undefined : console.error(`  ${line}`);
    const transient = line !== null && / best .* GFLOP\/s/.test(line);
    const text = line === null ? "" : `  ${line}${transient ? "" : "\n"}`;
    if (open || text) Deno.stderr.writeSync(encoder.encode(`${open ? "\r\x1b[K" : ""}${text}`));
    open = transient;
  };
}

function printTable(results: ShapeTuning[], ceiling?: number): void {
  const pct = (g: number) => (ceiling ? ` ${(g / 1e3 / ceiling * 100).toFixed(0).padStart(3)}%` : "");
  for (const r of results) {
    const s = r.shape;
    console.log(
      `${s.name.padEnd(22)} ${`[${s.m}x${s.k}]·[${s.n}x${s.k}]ᵀ`.padEnd(30)} ${s.format.padEnd(9)} ` +
        `${r.best.variant.padEnd(24)} ${r.best.gflops.toFixed(0).padStart(7)} GFLOP/s${
          pct(r.best.gflops)
        }  ` +
        `untuned ${r.default.variant} ${r.default.gflops.toFixed(0)}${pct(r.default.gflops)}` +
        (r.timedM < s.m
          ? `  (timed at M = ${r.timedM}, ${(flops({ ...s, m: r.timedM }) / 1e9).toFixed(0)} GFLOP)`
          : ""),
    );
  }
}
