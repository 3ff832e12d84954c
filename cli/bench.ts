// `cli.ts bench` (`deno task bench`): rows/s of each scoring mode on this adapter, side by side in one run, and
// GFLOP/s of the matmuls at the model's own shapes. Speed is measured here, never in tests.
import { openRowSource, rowSourceKind } from "../io/rows.ts";
import { EngramError } from "../base/errors.ts";
import { Gpu } from "../engine/gpu.ts";
import { NeoXModel } from "../engine/model.ts";
import { parseVariant, variantName } from "../engine/tiles.ts";
import { type MatmulShape, modelShapes, tuneShapes } from "../engine/tuner.ts";
import { Tuning, useTuning } from "../engine/tuning.ts";
import type { ScoreColumns } from "../scoring/memorization.ts";
import { type ScoreMode, scoreRows, type ScoreSink } from "../scoring/memorization.ts";
import { Decoder } from "../engine/decoder.ts";
import { PAPER_CONTINUATION, PAPER_PROMPT } from "../engine/paper.ts";
import { intFlag, parseArgs } from "./args.ts";
import { PICO_BENCH_MODEL, PICO_DATA } from "../io/pico.ts";
import { checkWritable, writeTextAtomic } from "../base/atomic.ts";

const BENCH_HELP = `./engram bench [--model DIR] [--data PREFIX] [--count N] [--modes score,extractable]
                        [--batch N] [--matmuls] [--format json] [--save FILE]
                        [--tuning FILE | --untuned | --variant NAME] [--kernel-family cpu|gpu]
                        [--warmup ROWS]
  Times scoring of the same rows in each mode (after a warm-up batch), and with --matmuls the model's matmuls.
  Defaults: the embedded pico-3 (step1092), its data, 256 rows. --save writes each row's result as JSON.
  --tuning FILE        matmul variants from FILE (default: the cache of ./engram tune, else shipped defaults)
  --untuned            the built-in default variants, whatever the cache and shipped tables say
  --variant NAME       every matmul of its family runs this tile variant (e.g. t128x128k16-8x8-s2 on a
                       GPU; x128x64-16x16 on a CPU adapter, where matrices not held as textures run their
                       default direct tile)
  --matmuls            also GFLOP/s of the model's matmuls, each with its tuned tile variant
  --kernel-family      force the kernel family, cpu or gpu (default: this adapter's)
  --warmup ROWS        rows scored untimed first, to build the pipelines (default: one batch)`;

const OPTIONS = {
  model: { type: "string" },
  data: { type: "string" },
  count: { type: "string" },
  start: { type: "string" },
  modes: { type: "string" },
  batch: { type: "string" },
  matmuls: { type: "boolean" },
  format: { type: "string" },
  save: { type: "string" },
  tuning: { type: "string" },
  variant: { type: "string" },
  untuned: { type: "boolean" },
  "kernel-family": { type: "string" },
  warmup: { type: "string" },
  help: { type: "boolean" },
} as const;

interface ModeResult {
  seq_per_s: number;
  seconds: number;
  rows: number;
  batch: number;
  memorized: number;
}

interface KernelResult {
  name: string;
  m: number;
  n: number;
  k: number;
  /** The tile variant timed: the one the adapter's tuning picks for this shape. */
  variant: string;
  gflop_per_s: number;
  ms: number;
  untuned_variant: string;
  untuned_gflop_per_s: number;
}

/**
 * GFLOP/s of the forward pass's matmuls at prefill and decode shapes, and of the fused unembedding argmax, with
 * the variant `tuning` picks for each (and, for comparison, the untuned default).
 */
async function benchKernels(
  model: NeoXModel,
  tuning: Tuning,
  batch: number,
  prompt: number,
): Promise<KernelResult[]> {
  const { gpu, cfg } = model;
  const formats = { layers: model.layers[0].qkv.format, unembed: model.embedOut.format };
  const shapes = modelShapes(cfg, formats, batch, prompt, gpu.limits.maxBinding);
  const picked = (s: MatmulShape) => tuning.pick(gpu, s.kernel, s.format, s.m, s.n, s.k);
  // One tuner for all shapes (its operands, clock and calibration set up once), each timing its picked variant.
  const results = await tuneShapes(gpu, shapes, {
    variants: (shape) => [picked(shape)],
    maxTimedRows: Infinity,
    target: gpu.isCpu ? 0.15 : 0.1,
  });
  return results.map((r) => {
    const timing = r.timings.find((t) => t.variant === variantName(picked(r.shape)))!;
    return {
      name: r.shape.name,
      m: r.shape.m,
      n: r.shape.n,
      k: r.shape.k,
      variant: timing.variant,
      gflop_per_s: timing.gflops,
      ms: timing.seconds * 1e3,
      untuned_variant: r.default.variant,
      untuned_gflop_per_s: r.default.gflops,
    };
  });
}

/** Keeps each row's first mismatch in memory: bench times scoreRows exactly as score runs it. */
class MemorySink implements ScoreSink {
  done = 0;
  readonly firstMismatch: Int16Array;
  constructor(count: number) {
    this.firstMismatch = new Int16Array(count);
  }
  memorized(cont: number): Promise<number> {
    return Promise.resolve(this.firstMismatch.subarray(0, this.done).filter((f) => f === cont).length);
  }
  append(cols: ScoreColumns, n: number): Promise<void> {
    this.firstMismatch.set(cols.firstMismatch.subarray(0, n), this.done);
    this.done += n;
    return Promise.resolve();
  }
}

/** `./engram bench` on `argv`. */
export async function benchCommand(argv: string[]): Promise<void> {
  if (argv.includes("--kernels")) { // renamed: tune's --kernels meant the family (now --kernel-family in both)
    throw new EngramError("bench: --kernels is now --matmuls (the matmuls' GFLOP/s)");
  }
  const { values: a } = parseArgs(argv, OPTIONS, "bench");
  if (a.help) return console.log(BENCH_HELP);
  const modes = (a.modes ?? "score,extractable").split(",");
  for (const m of modes) {
    if (m !== "score" && m !== "extractable") {
      throw new EngramError(`--modes: unknown mode "${m}" (score, extractable)`);
    }
  }
  const family = a["kernel-family"];
  if (family !== undefined && family !== "cpu" && family !== "gpu") {
    throw new EngramError(`--kernel-family must be cpu or gpu, got "${family}"`);
  }
  if ([a.variant !== undefined, a.tuning !== undefined, !!a.untuned].filter(Boolean).length > 1) {
    throw new EngramError("bench: give one of --tuning, --untuned and --variant");
  }
  if (a.format !== undefined && a.format !== "json" && a.format !== "text") {
    throw new EngramError(`--format must be json or text, got "${a.format}"`);
  }
  if (a.data !== undefined && rowSourceKind(a.data) === "jsonl") {
    throw new EngramError(
      `bench: --data ${a.data} holds texts; bench reads token rows (a Megatron prefix or a .npy), pass one`,
    );
  }
  if (a.save) await checkWritable(a.save, "--save"); // not after the whole bench
  const forced = a.variant === undefined ? undefined : parseVariant(a.variant);
  const gpu = await Gpu.open({ timestamps: !!a.matmuls, kernels: family as "cpu" | "gpu" | undefined });
  const tuning = forced ? Tuning.forced(forced) : a.untuned ? Tuning.defaults() : useTuning(gpu, a.tuning);
  const modelDir = a.model ?? PICO_BENCH_MODEL;
  const model = await NeoXModel.load(gpu, modelDir);
  const source = await openRowSource(a.data ?? PICO_DATA);
  const count = intFlag(a.count, "count", 1) ?? 256;
  const start = intFlag(a.start, "start", 0) ?? 0;
  if (start + count > source.numRows) {
    throw new EngramError(`bench: rows [${start}, ${start + count}) reach past ${source.description}`);
  }
  const prompt = PAPER_PROMPT, cont = PAPER_CONTINUATION;
  const results: Record<string, ModeResult> = {};
  const used = new Set<string>();
  const saved: Record<string, number[]> = {};
  for (const mode of modes as ScoreMode[]) {
    const decoder = await Decoder.create(model, {
      batch: intFlag(a.batch, "batch", 1) ?? gpu.defaults.batch,
      prompt,
      cont,
      memoryBudget: gpu.defaults.memoryGiB * 2 ** 30,
      tuning,
    });
    try {
      const job = { source, start, count, offset: 0, mode, suppress: null, logprob: false };
      // Warm-up: one batch compiles the pipelines and builds the bind groups.
      const warmup = Math.min(intFlag(a.warmup, "warmup", 0) ?? decoder.batch, count);
      if (warmup > 0) await scoreRows(decoder, { ...job, count: warmup }, new MemorySink(count));
      const sink = new MemorySink(count);
      const t = performance.now();
      await scoreRows(decoder, job, sink);
      const seconds = (performance.now() - t) / 1000;
      results[mode] = {
        seq_per_s: count / seconds,
        seconds,
        rows: count,
        batch: decoder.batch,
        memorized: await sink.memorized(cont),
      };
      saved[mode] = Array.from(sink.firstMismatch);
      for (const v of decoder.variantsUsed) used.add(v);
    } finally {
      decoder.destroy();
    }
  }
  source.close();
  const kernels = a.matmuls
    ? await benchKernels(model, tuning, intFlag(a.batch, "batch", 1) ?? gpu.defaults.batch, prompt)
    : undefined;
  const report = {
    modes: results,
    adapter: gpu.describe(),
    tuning: tuning.source,
    variants: [...used].sort(),
    model: modelDir,
    params: model.cfg,
    ...(kernels ? { kernels } : {}),
  };
  if (a.save) await writeTextAtomic(a.save, JSON.stringify({ first_mismatch: saved }));
  model.destroy();
  gpu.destroy();
  if (a.format === "json") return console.log(JSON.stringify(report));
  console.log(`bench: ${modelDir} on ${report.adapter}, ${count} rows`);
  console.log(`  matmul variants (${report.tuning}): ${report.variants.join(", ")}`);
  for (const [mode, r] of Object.entries(results)) {
    console.log(
      `  ${mode.padEnd(12)} ${
        r.seq_per_s.toFixed(1).padStart(9)
      } rows/s  (${r.memorized} memorized, batch ${r.batch})`,
    );
  }
  if (results.score && results.extractable) {
    console.log(
      `  extractable / score: ${(results.extractable.seq_per_s / results.score.seq_per_s).toFixed(2)}x`,
    );
  }
  for (const k of kernels ?? []) {
    console.log(
      `  ${k.name.padEnd(22)} [${k.m}x${k.k}]·[${k.n}x${k.k}]ᵀ ${
        k.gflop_per_s.toFixed(1).padStart(8)
      } GFLOP/s ` +
        `${k.variant}` +
        (k.variant === k.untuned_variant ? "" : ` (untuned ${k.untuned_gflop_per_s.toFixed(1)})`),
    );
  }
}
