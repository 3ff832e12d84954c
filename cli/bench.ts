// `cli.ts bench` (`deno task bench`): rows/s of each scoring mode on this adapter, side by side in one run, and
// GFLOP/s of the matmuls at the model's own shapes. Speed is measured here, never in tests.
import { openRowSource } from "../engine/data.ts";
import { EngramError } from "../engine/errors.ts";
import { encodeKernel, Gpu } from "../engine/gpu.ts";
import { KernelCache, matmulKernel, unembedArgmaxKernel, type WeightMatrix } from "../engine/kernels.ts";
import { NeoXModel } from "../engine/model.ts";
import { MIN_BN, PARTIAL_BYTES } from "../engine/tiles.ts";
import type { ScoreColumns } from "../engine/journal.ts";
import { type ScoreMode, scoreRows, type ScoreSink } from "../engine/memorization.ts";
import { Decoder } from "../engine/decoder.ts";
import { intFlag, parseArgs } from "./args.ts";
import { PICO_BENCH_MODEL, PICO_DATA } from "../io/pico.ts";

export const BENCH_HELP =
  `deno run -A cli.ts bench [--model DIR] [--data PREFIX] [--count N] [--modes score,extractable]
                        [--batch N] [--kernels] [--format json] [--save FILE]
  Times scoring of the same rows in each mode (after a warm-up batch), and with --kernels the model's matmuls.
  Defaults: the embedded pico-3 (step1092), its data, 256 rows. --save writes each row's result as JSON.`;

const OPTIONS = {
  model: { type: "string" },
  data: { type: "string" },
  count: { type: "string" },
  start: { type: "string" },
  modes: { type: "string" },
  batch: { type: "string" },
  kernels: { type: "boolean" },
  format: { type: "string" },
  save: { type: "string" },
  help: { type: "boolean" },
} as const;

export interface ModeResult {
  seq_per_s: number;
  seconds: number;
  rows: number;
  batch: number;
  memorized: number;
}

export interface KernelResult {
  name: string;
  m: number;
  n: number;
  k: number;
  gflop_per_s: number;
  ms: number;
}

/** Runs `encode` `reps` times in one submission and waits; returns seconds per repetition. */
async function timeDispatches(gpu: Gpu, encode: (pass: GPUComputePassEncoder) => void, reps: number) {
  const run = async (n: number) => {
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < n; i++) encode(pass);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
  };
  await run(1);
  const t = performance.now();
  await run(reps);
  return (performance.now() - t) / 1000 / reps;
}

/** GFLOP/s of the forward pass's matmuls at prefill and decode shapes, and of the fused unembed + argmax. */
async function benchKernels(model: NeoXModel, batch: number, prompt: number): Promise<KernelResult[]> {
  const { gpu, cfg } = model;
  const c = new KernelCache(gpu);
  const layer = model.layers[0];
  const out: KernelResult[] = [];
  const maxRows = Math.floor(
    gpu.limits.maxBinding / (4 * Math.max(cfg.intermediateSize, 3 * cfg.hiddenSize)),
  );
  const shapes: [string, WeightMatrix, number][] = [];
  for (const [phase, m] of [["prefill", Math.min(batch * prompt, maxRows)], ["decode", batch]] as const) {
    shapes.push([`${phase} qkv`, layer.qkv, m], [`${phase} dense`, layer.dense, m]);
    shapes.push([`${phase} mlp up`, layer.fc1, m], [`${phase} mlp down`, layer.fc2, m]);
  }
  for (const [name, w, m] of shapes) {
    const x = gpu.storage(m * w.cols * 4, "x");
    const y = gpu.storage(m * w.rows * 4, "y");
    const bias = gpu.storage(w.rows * 4, "bias");
    const k = matmulKernel(c, m, w, x, bias, y, "store");
    // ~4 TFLOP per shape on a GPU (Deno's completion wait has ~10 ms granularity), ~2 GFLOP on a CPU adapter.
    const reps = Math.max(2, Math.min(200, Math.ceil((gpu.isCpu ? 2e9 : 4e12) / (2 * m * w.rows * w.cols))));
    const s = await timeDispatches(gpu, (p) => encodeKernel(p, k), reps);
    out.push({
      name,
      m,
      n: w.rows,
      k: w.cols,
      gflop_per_s: (2 * m * w.rows * w.cols) / s / 1e9,
      ms: s * 1e3,
    });
    for (const b of [x, y, bias]) b.destroy();
  }
  const w = model.embedOut;
  const x = gpu.storage(batch * w.cols * 4, "x");
  const partials = gpu.storage(batch * Math.ceil(w.rows / MIN_BN) * PARTIAL_BYTES, "partials");
  const tokens = gpu.storage(batch * 4, "tokens");
  const slots = gpu.storage(batch * 4, "slots");
  const target = {
    rows: batch,
    per: 1,
    rowBase: 0,
    posBase: 0,
    prompt: 0,
    seqLen: 1,
    cont: 1,
    suppress: null,
    feed: false,
    logprob: false,
  };
  const k = unembedArgmaxKernel(c, target, w, { x, tokens, slotOf: slots, partials });
  const s = await timeDispatches(gpu, (p) => encodeKernel(p, k), gpu.isCpu ? 3 : 20);
  out.push({
    name: "decode unembed+argmax",
    m: batch,
    n: w.rows,
    k: w.cols,
    gflop_per_s: (2 * batch * w.rows * w.cols) / s / 1e9,
    ms: s * 1e3,
  });
  for (const b of [x, partials, tokens, slots]) b.destroy();
  return out;
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

export async function benchCommand(argv: string[]): Promise<void> {
  const { values: a } = parseArgs(argv, OPTIONS, "bench");
  if (a.help) return console.log(BENCH_HELP);
  const modes = (a.modes ?? "score,extractable").split(",");
  for (const m of modes) {
    if (m !== "score" && m !== "extractable") {
      throw new EngramError(`--modes: unknown mode "${m}" (score, extractable)`);
    }
  }
  const gpu = await Gpu.open();
  const modelDir = a.model ?? PICO_BENCH_MODEL;
  const model = await NeoXModel.load(gpu, modelDir);
  const source = await openRowSource(a.data ?? PICO_DATA);
  const count = intFlag(a.count, "count", 1) ?? 256;
  const start = intFlag(a.start, "start", 0) ?? 0;
  if (start + count > source.numRows) {
    throw new EngramError(`bench: rows [${start}, ${start + count}) reach past ${source.description}`);
  }
  const prompt = 32, cont = 32;
  const results: Record<string, ModeResult> = {};
  const saved: Record<string, number[]> = {};
  for (const mode of modes as ScoreMode[]) {
    const decoder = await Decoder.create(model, {
      batch: intFlag(a.batch, "batch", 1) ?? gpu.defaults.batch,
      prompt,
      cont,
      memoryBudget: gpu.defaults.memoryGiB * 2 ** 30,
    });
    try {
      const job = { source, start, count, offset: 0, mode, suppress: null, logprob: false };
      // Warm-up: one batch compiles the pipelines and builds the bind groups.
      await scoreRows(decoder, { ...job, count: Math.min(decoder.batch, count) }, new MemorySink(count));
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
    } finally {
      decoder.destroy();
    }
  }
  source.close();
  const kernels = a.kernels
    ? await benchKernels(model, intFlag(a.batch, "batch", 1) ?? gpu.defaults.batch, prompt)
    : undefined;
  const report = {
    modes: results,
    adapter: gpu.describe(),
    model: modelDir,
    params: model.cfg,
    ...(kernels ? { kernels } : {}),
  };
  if (a.save) await Deno.writeTextFile(a.save, JSON.stringify({ first_mismatch: saved }));
  model.destroy();
  gpu.destroy();
  if (a.format === "json") return console.log(JSON.stringify(report));
  console.log(`bench: ${modelDir} on ${report.adapter}, ${count} rows`);
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
      } GFLOP/s`,
    );
  }
}
