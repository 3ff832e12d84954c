// `cli.ts score`: memorization scores of training rows for one or more checkpoints, resumable and shardable.
import { configHash, countParameters } from "../engine/config.ts";
import { openRowSource, type RowSource } from "../engine/data.ts";
import { EngramError } from "../engine/errors.ts";
import { fmtBytes, Gpu } from "../engine/gpu.ts";
import { Journal } from "../engine/journal.ts";
import { NeoXModel } from "../engine/model.ts";
import { join, resolve } from "../engine/path.ts";
import { type ScoreMode, scoreRows } from "../engine/memorization.ts";
import { Decoder } from "../engine/decoder.ts";
import { useTuning } from "../engine/tuning.ts";
import { intFlag, parseArgs } from "./args.ts";
import { type Checkpoint, listFlag, resolveCheckpoints } from "../io/checkpoints.ts";
import { type Provenance, RESULT_FORMATS, type ScoreTable, writeResults } from "../io/results.ts";
import { ENGRAM_VERSION } from "../io/version.ts";

import { PICO_DATA, PICO_MODELS } from "../io/pico.ts";

export const SCORE_HELP = `deno run -A cli.ts score [options]
  Scores training rows for memorization: prompt = a row's first --prompt tokens (from --offset), greedy
  continuation compared with the next --continuation tokens. One results file per model and revision.
  --model DIR          checkpoint folder, model folder of revisions, or suite folder (default: the embedded
                       pico demo, ${PICO_MODELS})
  --models a,b         only these models of a suite;  --revisions r1,r2  only these revisions
  --data PATH          Megatron prefix (X for X.bin/X.idx), .npy of token rows, or .jsonl of texts
                       (default ${PICO_DATA})
  --tokenizer DIR      tokenizer.json for .jsonl texts (default: beside the model)
  --start N --count N  rows [N, N+count) (default: all rows)
  --step N             the rows a checkpoint at step N has seen: [0, N * --rows-per-step (1024))
  --prompt 32 --continuation 32 --offset 0
  --mode score         greedy continuation, score and first mismatch (default)
  --mode extractable   exact 32-extractability (memorized, first_mismatch) with early exit; no score
  --paper-compatible   forbid EOS (id 0) as EleutherAI's generate(min_length=64) did; default: pure greedy
  --logprob            also the mean log-probability of the true continuation (teacher-forced)
  --batch N            rows per GPU batch (default 1024 on a GPU, 256 on a CPU adapter; halved if memory runs out)
  --gpu-memory GiB     cap for KV cache + activations (default 48 on a GPU, 4 on a CPU adapter)
  --tuning FILE        matmul variants tuned by cli.ts tune (default: its cache, when tuned on this adapter)
  --out DIR            results folder (default out/scores);  --format parquet|csv|jsonl (default parquet)
  --shard i/N          score only the i-th of N contiguous shares of the rows (0-based); merge with cli.ts merge
  --force              rescore even if the results file exists;  --quiet  no progress line`;

const OPTIONS = {
  model: { type: "string" },
  models: { type: "string" },
  revisions: { type: "string" },
  data: { type: "string" },
  tokenizer: { type: "string" },
  start: { type: "string" },
  count: { type: "string" },
  step: { type: "string" },
  "rows-per-step": { type: "string" },
  prompt: { type: "string" },
  continuation: { type: "string" },
  offset: { type: "string" },
  mode: { type: "string" },
  "paper-compatible": { type: "boolean" },
  logprob: { type: "boolean" },
  batch: { type: "string" },
  "gpu-memory": { type: "string" },
  tuning: { type: "string" },
  out: { type: "string" },
  format: { type: "string" },
  shard: { type: "string" },
  force: { type: "boolean" },
  quiet: { type: "boolean" },
  help: { type: "boolean" },
} as const;

export interface ScoreSummary {
  checkpoint: Checkpoint;
  path: string;
  rows: number;
  memorized: number;
  seconds: number;
  skipped: boolean;
}

/** Parses `--shard i/N` into [i, N]. */
export function parseShard(value: string | undefined): [number, number] | null {
  if (value === undefined) return null;
  const m = /^(\d+)\/(\d+)$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) {
    throw new EngramError(`--shard must be i/N with 0 ≤ i < N (e.g. 3/64), got "${value}"`);
  }
  return [Number(m[1]), Number(m[2])];
}

/** Rows [start, start + count) split into N contiguous shares; share i. */
export function shardRange(start: number, count: number, shard: [number, number] | null): [number, number] {
  if (!shard) return [start, count];
  const [i, n] = shard;
  const a = start + Math.floor((i * count) / n);
  const b = start + Math.floor(((i + 1) * count) / n);
  return [a, b - a];
}

async function openSource(data: string, tokenizer: string | undefined, modelDir: string): Promise<RowSource> {
  if (data.toLowerCase().endsWith(".jsonl")) {
    const { loadTokenizer, openTextRows } = await import("../io/texts.ts");
    return openTextRows(data, await loadTokenizer(tokenizer ?? modelDir));
  }
  return await openRowSource(data);
}

/** A status line rewritten in place on an interactive stderr, at most 4 times a second; `last` ends it. */
function progressLine(interactive: boolean): (text: string, last: boolean) => void {
  const encoder = new TextEncoder();
  let shown = 0;
  return (text, last) => {
    const now = performance.now();
    if (!interactive || (now - shown < 250 && !last)) return;
    shown = now;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${text}${last ? "\n" : ""}`));
  };
}

function formatEta(seconds: number): string {
  if (!isFinite(seconds)) return "?";
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m`
    : m > 0
    ? `${m}m${String(s).padStart(2, "0")}s`
    : `${s}s`;
}

export async function scoreCommand(argv: string[], gpuIn?: Gpu): Promise<ScoreSummary[]> {
  const { values: a } = parseArgs(argv, OPTIONS, "score");
  if (a.help) {
    console.log(SCORE_HELP);
    return [];
  }
  const mode = (a.mode ?? "score") as ScoreMode;
  if (mode !== "score" && mode !== "extractable") {
    throw new EngramError(`--mode must be score or extractable, got "${a.mode}"`);
  }
  const format = `.${a.format ?? "parquet"}`;
  if (!(RESULT_FORMATS as readonly string[]).includes(format)) {
    throw new EngramError(`--format must be parquet, csv or jsonl, got "${a.format}"`);
  }
  const prompt = intFlag(a.prompt, "prompt", 1) ?? 32;
  const cont = intFlag(a.continuation, "continuation", 1) ?? 32;
  const offset = intFlag(a.offset, "offset", 0) ?? 0;
  if (cont > 32767) throw new EngramError(`--continuation ${cont} is too long (at most 32767)`);
  const shard = parseShard(a.shard);
  const gpuMemoryGiB = a["gpu-memory"] === undefined ? undefined : Number(a["gpu-memory"]);
  if (gpuMemoryGiB !== undefined && !(gpuMemoryGiB > 0)) {
    throw new EngramError(`--gpu-memory must be a positive number of GiB, got "${a["gpu-memory"]}"`);
  }
  const checkpoints = await resolveCheckpoints(
    a.model ?? PICO_MODELS,
    listFlag(a.models),
    listFlag(a.revisions),
  );
  const dataPath = a.data ?? PICO_DATA;
  const source = await openSource(dataPath, a.tokenizer, checkpoints[0].dir);

  let start = intFlag(a.start, "start", 0) ?? 0;
  let count = intFlag(a.count, "count", 1);
  const step = intFlag(a.step, "step", 1);
  if (step !== undefined) {
    if (a.start !== undefined || a.count !== undefined) {
      throw new EngramError("give --step or --start/--count, not both");
    }
    start = 0;
    count = step * (intFlag(a["rows-per-step"], "rows-per-step", 1) ?? 1024);
  }
  count ??= source.numRows - start;
  if (count < 1 || start + count > source.numRows) {
    throw new EngramError(
      `rows [${start}, ${start + count}) reach past the end of ${source.description}: its last row is ${
        source.numRows - 1
      }`,
    );
  }
  const [rowStart, rowCount] = shardRange(start, count, shard);

  const gpu = gpuIn ?? await Gpu.open();
  useTuning(gpu, a.tuning);
  const summaries: ScoreSummary[] = [];
  const outDir = a.out ?? "out/scores";
  try {
    for (const ck of checkpoints) {
      const suffix = shard ? `.shard-${shard[0]}-of-${shard[1]}` : "";
      const path = join(outDir, `${ck.model}@${ck.revision}${suffix}${format}`);
      const exists = await Deno.stat(path).then(() => true, () => false);
      if (exists && !a.force) {
        // A kill between writing the results and deleting the journal leaves a finished job's journal behind.
        await Deno.remove(`${path}.partial`).catch(() => {});
        if (!a.quiet) console.error(`${ck.model}@${ck.revision}: ${path} exists, skipped (--force rescores)`);
        summaries.push({ checkpoint: ck, path, rows: rowCount, memorized: -1, seconds: 0, skipped: true });
        continue;
      }
      summaries.push(
        await scoreCheckpoint(gpu, ck, source, {
          path,
          dataPath,
          start: rowStart,
          count: rowCount,
          jobRows: [start, count],
          prompt,
          cont,
          offset,
          mode,
          paperCompatible: a["paper-compatible"] ?? false,
          logprob: a.logprob ?? false,
          batch: intFlag(a.batch, "batch", 1),
          gpuMemoryGiB,
          shard: a.shard,
          quiet: a.quiet ?? false,
        }),
      );
    }
  } finally {
    source.close();
    if (!gpuIn) gpu.destroy();
  }
  return summaries;
}

interface CheckpointJob {
  path: string;
  dataPath: string;
  /** This process's rows (the shard's share of jobRows). */
  start: number;
  count: number;
  /** The whole job's [start, count], before sharding. */
  jobRows: [number, number];
  prompt: number;
  cont: number;
  offset: number;
  mode: ScoreMode;
  paperCompatible: boolean;
  logprob: boolean;
  batch?: number;
  gpuMemoryGiB?: number;
  shard?: string;
  quiet: boolean;
}

async function scoreCheckpoint(
  gpu: Gpu,
  ck: Checkpoint,
  source: RowSource,
  job: CheckpointJob,
): Promise<ScoreSummary> {
  await Deno.mkdir(resolve(job.path, ".."), { recursive: true });
  const label = `${ck.model}@${ck.revision}`;
  const status = progressLine(!job.quiet && Deno.stderr.isTerminal());
  const model = await NeoXModel.load(
    gpu,
    ck.dir,
    (loaded, total) => status(`${label}: loading weights ${fmtBytes(loaded)} / ${fmtBytes(total)}`, false),
  );
  try {
    const decoder = await Decoder.create(model, {
      batch: job.batch ?? gpu.defaults.batch,
      prompt: job.prompt,
      cont: job.cont,
      memoryBudget: (job.gpuMemoryGiB ?? gpu.defaults.memoryGiB) * 2 ** 30,
    });
    const hash = await configHash(model.cfg);
    const suppress = job.paperCompatible ? 0 : null;
    // What determines the results (not the batch size: results do not depend on it).
    const key = {
      model: resolve(ck.dir),
      config: hash,
      data: resolve(job.dataPath),
      rows: [job.start, job.count],
      prompt: job.prompt,
      cont: job.cont,
      offset: job.offset,
      mode: job.mode,
      suppress,
      logprob: job.logprob,
    };
    const journal = await Journal.open(`${job.path}.partial`, key);
    let memorized = 0;
    const t0 = performance.now();
    await scoreRows(
      decoder,
      {
        source,
        start: job.start,
        count: job.count,
        offset: job.offset,
        mode: job.mode,
        suppress,
        logprob: job.logprob,
      },
      journal,
      (p) => {
        memorized = p.memorized;
        const rate = p.fresh / Math.max(p.seconds, 1e-9);
        const line =
          `${label}: ${p.done}/${p.total} rows, ${rate.toFixed(1)} rows/s, ${p.memorized} memorized, ` +
          `ETA ${formatEta((p.total - p.done) / rate)}`;
        status(line, p.done === p.total);
      },
    );
    const cols = await journal.readAll();
    const table: ScoreTable = {
      index: cols.index,
      matches: job.mode === "score" ? cols.matches : null,
      firstMismatch: cols.firstMismatch,
      logprob: job.logprob ? cols.logprob : null,
      continuation: job.cont,
    };
    memorized = cols.firstMismatch.filter((f) => f === job.cont).length;
    const provenance: Provenance = {
      model: ck.model,
      revision: ck.revision,
      model_path: resolve(ck.dir),
      params: countParameters(model.cfg),
      config_hash: hash,
      data: resolve(job.dataPath),
      prompt: job.prompt,
      continuation: job.cont,
      offset: job.offset,
      mode: job.mode,
      paper_compatible: job.paperCompatible,
      logprob: job.logprob,
      engram_version: ENGRAM_VERSION,
      adapter: gpu.describe(),
      kernels: decoder.kernelsUsed,
      start: job.jobRows[0],
      count: job.jobRows[1],
      rows: job.count,
      ...(job.shard ? { shard: job.shard } : {}),
      created: journal.created,
    };
    await writeResults(job.path, table, provenance);
    await journal.remove();
    decoder.destroy();
    const seconds = (performance.now() - t0) / 1000;
    if (!job.quiet) {
      console.error(
        `${label}: ${job.count} rows, ${memorized} memorized (${
          (job.count / seconds).toFixed(1)
        } rows/s) → ${job.path}`,
      );
    }
    return { checkpoint: ck, path: job.path, rows: job.count, memorized, seconds, skipped: false };
  } finally {
    model.destroy();
  }
}
