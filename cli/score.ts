// `cli.ts score`: the score command's flags and messages; the job itself (identity, keep or refuse, lock, resume,
// provenance, final write) is scoring/job.ts's scoreCheckpoint.
import { EngramError } from "../base/errors.ts";
import { Gpu } from "../engine/gpu.ts";
import { MAX_CONTINUATION, PAPER_CONTINUATION, PAPER_PROMPT, PYTHIA_ROWS_PER_STEP } from "../engine/paper.ts";
import { extname, join } from "../base/path.ts";
import { useTuning } from "../engine/tuning.ts";
import { type Checkpoint, resolveCheckpoints } from "../io/checkpoints.ts";
import { importLazily } from "../base/lazy.ts";
import { PICO_DATA, PICO_MODELS } from "../io/pico.ts";
import { parseShard, RESULT_FORMATS } from "../io/results.ts";
import {
  checkCheckpointNames,
  checkScoreSettings,
  openScoringData,
  scoreCheckpoint,
  type ScoreCheckpointOptions,
  scoredRows,
  type ScoreSettings,
  type ScoreSummary,
} from "../scoring/job.ts";
import type { ScoreMode } from "../scoring/memorization.ts";
import { intFlag, listFlag, parseArgs } from "./args.ts";

/** `./engram score --help`: what score does and its options. */
export const SCORE_HELP = `./engram score [options]
  Scores training rows for memorization: prompt = a row's first --prompt tokens (from --offset), greedy
  continuation compared with the next --continuation tokens. One results file per model and revision.
  --model DIR          checkpoint folder, model folder of revisions (stepN, main), folder of models (each at
                       main), or suite folder (default: the embedded pico demo, ${PICO_MODELS}); in the
                       huggingface_hub cache: a models--ORG--NAME folder (model NAME, its refs the revisions), the
                       cache folder (a suite of the NAMEs), or ORG/NAME, found in $HF_HUB_CACHE, else
                       $HF_HOME/hub, else ~/.cache/huggingface/hub (./engram download fetches them)
  --models a,b         only these models of a suite;  --revisions r1,r2  only these revisions
  --data PATH          Megatron prefix (X for X.bin/X.idx), .npy of token rows, or .jsonl of texts
                       (default ${PICO_DATA}); X.bin may come as slices X-00000-of-000NN.bin … (the
                       Pile as EleutherAI publishes it), and a folder holding one X.idx names X; or a dataset of
                       the hub cache, datasets--ORG--NAME or ORG/NAME[@REVISION][/PATH] (default: ref main, the
                       one .idx/.npy/.jsonl in its snapshot)
  --tokenizer DIR      tokenizer.json for .jsonl texts (default: the nearest in or above the model folder)
  --start N --count N  rows [N, N+count) (default: all rows)
  --step N             the rows a checkpoint at step N has seen: [0, N × rows per step), rows per step from
                       --rows-per-step, else the suite.json or engram.json above the model, else ${PYTHIA_ROWS_PER_STEP} (Pythia)
  --prompt ${PAPER_PROMPT} --continuation ${PAPER_CONTINUATION} --offset 0   (--continuation at most ${MAX_CONTINUATION}: the report's limit)
  --mode score         greedy continuation, score and first mismatch (default)
  --mode extractable   exact 32-extractability (memorized, first_mismatch) with early exit; no score
  --paper-compatible   forbid EOS (id 0) as EleutherAI's generate(min_length=64) did; default: pure greedy
  --logprob            also the mean log-probability of the true continuation (teacher-forced)
  --batch N            rows per GPU batch (default 1024 on a GPU, 256 on a CPU adapter; halved if memory runs out)
  --gpu-memory GiB     cap for KV cache + activations (default 48 on a GPU, 4 on a CPU adapter)
  --tuning FILE        matmul variants tuned by ./engram tune (default: its cache, when tuned on this adapter)
  --out DIR            results folder, one <model>@<revision>.<format> file each (default out/scores);
                       --format parquet|csv|jsonl (default parquet)
  --out FILE           a path ending in .parquet, .csv or .jsonl (not in /): the one results file of a run
                       that scores one checkpoint, unsharded (the format follows the extension)
  --shard i/N          score only the i-th of N contiguous shares of the rows (0-based); join the shards'
                       files with ./engram merge
  --force              rescore even if the results file is there (without it, a file of these same rows and
                       settings is kept and skipped, one of others refused), and start over from a journal of
                       other arguments (one of these resumes)
  --quiet              no progress (on a terminal a line rewritten in place; otherwise, e.g. a log, a plain
                       line every 30 s, or every ENGRAM_PROGRESS_SECONDS)`;

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

/** Seconds between progress lines when stderr is not a terminal (a log, nohup, Slurm); tests set it lower. */
export function progressInterval(): number {
  const value = Deno.env.get("ENGRAM_PROGRESS_SECONDS");
  if (value === undefined) return 30;
  const seconds = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(seconds >= 0)) {
    throw new EngramError(
      `ENGRAM_PROGRESS_SECONDS must be a number of seconds ≥ 0 (between progress lines), got "${value}"`,
    );
  }
  return seconds;
}

/**
 * A status line: on an interactive stderr rewritten in place at most 4 times a second, `last` ending it;
 * otherwise (a log file, nohup, Slurm) a plain line every `interval` seconds, so a long checkpoint is seen to
 * progress (its last line is the summary that follows).
 */
function progressLine(interval: number): (text: string, last: boolean) => void {
  const encoder = new TextEncoder();
  const interactive = Deno.stderr.isTerminal();
  let shown = performance.now();
  return (text, last) => {
    const now = performance.now();
    if (interactive) {
      if (now - shown < 250 && !last) return;
      shown = now;
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${text}${last ? "\n" : ""}`));
    } else if (!last && now - shown >= interval * 1000) {
      shown = now;
      Deno.stderr.writeSync(encoder.encode(`${text}\n`));
    }
  };
}

/**
 * How one checkpoint's scoring job shows itself on stderr, as score does: notes and a progress line (a plain one
 * every `interval` seconds off a terminal), or (quiet) nothing but the files it deletes.
 */
export function scoreReporting(
  quiet: boolean,
  interval: number,
): Pick<ScoreCheckpointOptions, "log" | "progress"> {
  return quiet ? {} : { log: (line) => console.error(line), progress: progressLine(interval) };
}

/** `./engram score` on `argv`, on `gpuIn` if given (else one it opens and destroys): each checkpoint's summary. */
export async function scoreCommand(argv: string[], gpuIn?: Gpu): Promise<ScoreSummary[]> {
  const { values: a } = parseArgs(argv, OPTIONS, "score");
  if (a.help) {
    console.log(SCORE_HELP);
    return [];
  }
  // Everything that can be checked is checked before a file is written or a weight loaded.
  const settings: ScoreSettings = {
    mode: (a.mode ?? "score") as ScoreMode,
    prompt: intFlag(a.prompt, "prompt", 1),
    continuation: intFlag(a.continuation, "continuation", 1),
    offset: intFlag(a.offset, "offset", 0),
    paperCompatible: a["paper-compatible"] ?? false,
    logprob: a.logprob ?? false,
  };
  checkScoreSettings(settings);
  const shard = parseShard(a.shard);
  const batch = intFlag(a.batch, "batch", 1);
  const rows = rowsFlags(a);
  const progressSeconds = progressInterval();
  const gpuMemoryGiB = a["gpu-memory"] === undefined ? undefined : Number(a["gpu-memory"]);
  if (gpuMemoryGiB !== undefined && !(/^\d+(\.\d+)?$/.test(a["gpu-memory"]!) && gpuMemoryGiB > 0)) {
    throw new EngramError(
      `--gpu-memory must be a positive number of GiB (e.g. 40 or 7.5), got "${a["gpu-memory"]}"`,
    );
  }
  const checkpoints = await resolveCheckpoints(
    a.model ?? PICO_MODELS,
    listFlag(a.models, "models"),
    listFlag(a.revisions, "revisions"),
    a.quiet ? undefined : (line) => console.error(`score: note: ${line}`),
  );
  for (const ck of checkpoints) checkCheckpointNames(ck);
  const resolvedRows = await stepRows(rows, checkpoints);
  const paths = await resultPaths(a.out ?? "out/scores", a.format, checkpoints, shard);
  const data = await openScoringData(a.data ?? PICO_DATA, {
    tokenizer: a.tokenizer,
    modelDir: checkpoints[0].dir,
  });
  const summaries: ScoreSummary[] = [];
  let gpu: Gpu | undefined;
  try {
    const step = resolvedRows.step;
    const jobRows = {
      start: resolvedRows.start,
      count: resolvedRows.count,
      countFrom: step &&
        `--step ${step[0]} × ${step[1]} rows per step, from ${step[2]}; --rows-per-step N sets it`,
      shard: shard ?? undefined,
    };
    scoredRows(data.source, jobRows); // refused before the GPU opens
    gpu = gpuIn ?? await Gpu.open();
    const tuning = useTuning(gpu, a.tuning);
    for (const [i, ck] of checkpoints.entries()) {
      summaries.push(
        await scoreCheckpoint({
          checkpoint: ck,
          data,
          out: paths[i],
          ...settings,
          ...jobRows,
          batch,
          gpuMemoryGiB,
          force: a.force ?? false,
          gpu,
          tuning,
          ...scoreReporting(a.quiet ?? false, progressSeconds),
        }),
      );
    }
  } finally {
    data.close();
    if (!gpuIn) gpu?.destroy();
  }
  return summaries;
}

/** The rows a run asks for: --start/--count (count undefined: to the end), or --step N (× rows per step). */
interface RowsFlags {
  start: number;
  count: number | undefined;
  /** --step N and --rows-per-step (undefined: from the checkpoints' folders, see stepRows). */
  step?: [number, number | undefined];
}

function rowsFlags(
  a: { start?: string; count?: string; step?: string; "rows-per-step"?: string },
): RowsFlags {
  const start = intFlag(a.start, "start", 0) ?? 0;
  const count = intFlag(a.count, "count", 1);
  const step = intFlag(a.step, "step", 1);
  const rowsPerStep = intFlag(a["rows-per-step"], "rows-per-step", 1);
  if (step === undefined) {
    if (a["rows-per-step"] !== undefined) {
      throw new EngramError(
        "--rows-per-step says how many rows --step N covers; give --step too, or drop it",
      );
    }
    return { start, count };
  }
  if (a.start !== undefined || a.count !== undefined) {
    throw new EngramError("give --step or --start/--count, not both");
  }
  return { start: 0, count: undefined, step: [step, rowsPerStep] };
}

/**
 * The rows --step N covers: N × rows per step, from --rows-per-step, else from the checkpoints' folders as the
 * report reads them (suite.json's batch or engram.json's rows_per_step, in or above each checkpoint), else
 * Pythia's 1024. Checkpoints whose folders disagree are refused: one --step cannot mean both.
 */
async function stepRows(rows: RowsFlags, checkpoints: Checkpoint[]): Promise<ResolvedRows> {
  if (!rows.step) return { start: rows.start, count: rows.count };
  const [step, given] = rows.step;
  if (given !== undefined) return { start: 0, count: step * given, step: [step, given, "--rows-per-step"] };
  const { folderMeta } = await importLazily<typeof import("../analysis/meta.ts")>(
    "../analysis/meta.ts",
    import.meta.url,
  );
  const found = new Map<number, { checkpoint: string; from: string }>();
  for (const ck of checkpoints) {
    const meta = await folderMeta(ck.dir, ck.model);
    const perStep = meta.rowsPerStep ?? PYTHIA_ROWS_PER_STEP;
    const from = meta.rowsPerStep !== undefined && meta.from
      ? meta.from
      : `Pythia's default: no suite.json or engram.json in or above ${ck.dir}`;
    if (!found.has(perStep)) found.set(perStep, { checkpoint: `${ck.model}@${ck.revision}`, from });
  }
  if (found.size > 1) {
    const each = [...found].map(([n, { checkpoint, from }]) => `${checkpoint}: ${n} (${from})`);
    throw new EngramError(
      `--step ${step}: the checkpoints' rows per step differ (${each.join("; ")}); ` +
        `score them separately, or give --rows-per-step N`,
    );
  }
  const [[perStep, { from }]] = [...found];
  return { start: 0, count: step * perStep, step: [step, perStep, from] };
}

/** RowsFlags with the rows --step covers known: [step, rows per step, where that number came from]. */
interface ResolvedRows {
  start: number;
  count: number | undefined;
  step?: [number, number, string];
}

/**
 * The results file of each checkpoint. `--out` ending in .parquet, .csv or .jsonl is one results file (its
 * extension is the format), allowed for one checkpoint and no shard; anything else is a folder of
 * <model>@<revision>[.shard-i-of-N].<format> files.
 */
async function resultPaths(
  out: string,
  formatFlag: string | undefined,
  checkpoints: Checkpoint[],
  shard: [number, number] | null,
): Promise<string[]> {
  const ext = extname(out).toLowerCase();
  const info = await Deno.stat(out).catch(() => null);
  // "runs.csv/" is a folder: the trailing separator says so, whatever the name ends with.
  if ((RESULT_FORMATS as readonly string[]).includes(ext) && !/[\\/]$/.test(out)) {
    const why = formatFlag !== undefined && `.${formatFlag}` !== ext
      ? `but --format is ${formatFlag}; drop --format (the extension says it) or make them agree`
      : checkpoints.length > 1
      ? `but this run scores ${checkpoints.length} checkpoints (${
        checkpoints.slice(0, 4).map((c) => `${c.model}@${c.revision}`).join(", ")
      }${checkpoints.length > 4 ? ", ..." : ""}); pass a folder, or one checkpoint (--models, --revisions)`
      : shard
      ? `but --shard writes one file per shard for ./engram merge; pass a folder`
      : info?.isDirectory
      ? `but a folder of that name is there; remove it or pass another path`
      : null;
    if (why) throw new EngramError(`--out ${out} names one results file (its extension is ${ext}) ${why}`);
    return [out];
  }
  const format = `.${formatFlag ?? "parquet"}`;
  if (!(RESULT_FORMATS as readonly string[]).includes(format)) {
    throw new EngramError(`--format must be parquet, csv or jsonl, got "${formatFlag}"`);
  }
  if (info && !info.isDirectory) {
    throw new EngramError(
      `--out ${out} is a file, not a folder; pass a folder, or a path ending in .parquet, .csv or .jsonl ` +
        `for one results file`,
    );
  }
  const suffix = shard ? `.shard-${shard[0]}-of-${shard[1]}` : "";
  return checkpoints.map((ck) => join(out, `${ck.model}@${ck.revision}${suffix}${format}`));
}
