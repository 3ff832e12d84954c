// `cli.ts score`: memorization scores of training rows for one or more checkpoints, resumable and shardable.
import { configHash, countParameters, loadConfig, type NeoXConfig } from "../engine/config.ts";
import { openRowSource, type RowSource, rowSourceKind, rowSourcePath } from "../engine/data.ts";
import { EngramError } from "../engine/errors.ts";
import { fmtBytes, Gpu } from "../engine/gpu.ts";
import { Journal, journalBatches } from "../scoring/journal.ts";
import { NeoXModel } from "../engine/model.ts";
import { type CheckpointFiles, checkpointFiles } from "../engine/checkpoint.ts";
import { MAX_CONTINUATION, PAPER_CONTINUATION, PAPER_PROMPT, PYTHIA_ROWS_PER_STEP } from "../engine/paper.ts";
import { dirname, extname, join, resolve } from "../engine/path.ts";
import { type ScoreMode, scoreRows } from "../scoring/memorization.ts";
import { Decoder } from "../engine/decoder.ts";
import { useTuning } from "../engine/tuning.ts";
import { intFlag, parseArgs } from "./args.ts";
import {
  type Checkpoint,
  findTokenizer,
  foldersAbove,
  listFlag,
  resolveCheckpoints,
} from "../io/checkpoints.ts";
import { importLazily } from "../io/lazy.ts";
import { type DataOrigin, hubData } from "../io/hub.ts";
import {
  describeRemovedTemporaries,
  removeDeadTemporaries,
  rowSourceFingerprint,
  sampledFingerprint,
} from "../io/files.ts";
import { FileLock } from "../io/lock.ts";
import {
  parseShard,
  type Provenance,
  readProvenance,
  RESULT_FORMATS,
  shardRange,
  writeResultsStream,
} from "../io/results.ts";
import { ENGRAM_VERSION } from "../io/version.ts";

import { PICO_DATA, PICO_MODELS } from "../io/pico.ts";

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

export interface ScoreSummary {
  checkpoint: Checkpoint;
  path: string;
  rows: number;
  memorized: number;
  seconds: number;
  skipped: boolean;
}

/** The rows of `data`, and for texts the tokenizer.json that made them (part of what the rows are). */
async function openSource(
  data: string,
  tokenizerDir: string | undefined,
  modelDir: string,
): Promise<{ source: RowSource; tokenizer?: string }> {
  if (rowSourceKind(data) === "jsonl") {
    const { loadTokenizer, openTextRows } = await importLazily<typeof import("../io/texts.ts")>(
      "../io/texts.ts",
      import.meta.url,
    );
    const found = tokenizerDir ?? await findTokenizer(modelDir);
    if (found === null) {
      throw new EngramError(
        `no tokenizer.json for the texts of ${data}: looked for tokenizer.json and tokenizer/tokenizer.json ` +
          `in ${foldersAbove(modelDir).join(", ")}; ` +
          `pass --tokenizer DIR, a folder with the model's tokenizer.json`,
      );
    }
    const tokenizer = await loadTokenizer(found);
    return { source: await openTextRows(data, tokenizer), tokenizer: resolve(tokenizer.path) };
  }
  if (tokenizerDir !== undefined) {
    throw new EngramError(
      `--tokenizer applies to .jsonl texts only, but --data ${data} holds token ids; drop --tokenizer`,
    );
  }
  return { source: await openRowSource(data) };
}

/** Seconds between progress lines when stderr is not a terminal (a log, nohup, Slurm); tests set it lower. */
function progressInterval(): number {
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
 * progress (its last line is the summary that follows). Nothing when `quiet`.
 */
function progressLine(quiet: boolean, interval: number): (text: string, last: boolean) => void {
  const encoder = new TextEncoder();
  const interactive = Deno.stderr.isTerminal();
  let shown = performance.now();
  return (text, last) => {
    if (quiet) return;
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
  // Everything that can be checked is checked before a file is written or a weight loaded.
  const mode = (a.mode ?? "score") as ScoreMode;
  if (mode !== "score" && mode !== "extractable") {
    throw new EngramError(`--mode must be score or extractable, got "${a.mode}"`);
  }
  const prompt = intFlag(a.prompt, "prompt", 1) ?? PAPER_PROMPT;
  const cont = intFlag(a.continuation, "continuation", 1) ?? PAPER_CONTINUATION;
  const offset = intFlag(a.offset, "offset", 0) ?? 0;
  if (cont > MAX_CONTINUATION) {
    throw new EngramError(
      `--continuation ${cont} is longer than the report reads (at most ${MAX_CONTINUATION} tokens); ` +
        `pass --continuation ${MAX_CONTINUATION} or less`,
    );
  }
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
  // Results are named model@revision, and --models, --revisions and --combine are comma-separated lists:
  // a name holding either character could not be picked out again.
  const separators = [
    ["@", "separates model and revision in results (model@revision)"],
    [",", "separates the names of --models, --revisions and --combine"],
  ];
  for (const ck of checkpoints) {
    for (const [what, name] of [["model", ck.model], ["revision", ck.revision]]) {
      for (const [char, role] of separators) {
        if (name.includes(char)) {
          throw new EngramError(
            `${ck.dir}: the ${what} name "${name}" contains "${char}", which ${role}; rename the folder`,
          );
        }
      }
    }
  }
  const resolvedRows = await stepRows(rows, checkpoints);
  const paths = await resultPaths(a.out ?? "out/scores", a.format, checkpoints, shard);
  const data = await hubData(a.data ?? PICO_DATA, "--data");
  const dataPath = data.path;
  const { source, tokenizer } = await openSource(dataPath, a.tokenizer, checkpoints[0].dir);
  const summaries: ScoreSummary[] = [];
  let gpu: Gpu | undefined;
  try {
    const [start, count] = jobRows(source, resolvedRows);
    const [rowStart, rowCount] = shardRange(start, count, shard);
    const dataFingerprint = await rowSourceFingerprint(dataPath);
    gpu = gpuIn ?? await Gpu.open();
    useTuning(gpu, a.tuning);
    for (const [i, ck] of checkpoints.entries()) {
      summaries.push(
        await scoreOrSkip(gpu, ck, source, {
          path: paths[i],
          dataPath,
          dataOrigin: data.origin,
          tokenizer,
          dataFingerprint,
          start: rowStart,
          count: rowCount,
          jobRows: [start, count],
          prompt,
          cont,
          offset,
          mode,
          paperCompatible: a["paper-compatible"] ?? false,
          logprob: a.logprob ?? false,
          batch,
          gpuMemoryGiB,
          // As "i/N" however it was typed (a job script may pad the numbers: 03/64 is 3/64).
          shard: shard ? `${shard[0]}/${shard[1]}` : undefined,
          force: a.force ?? false,
          quiet: a.quiet ?? false,
          progressSeconds,
        }),
      );
    }
  } finally {
    source.close();
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

/** The job's rows [start, start + count) of `source`, checked against the rows it has. */
function jobRows(source: RowSource, rows: ResolvedRows): [number, number] {
  const { start, step } = rows;
  const last = source.numRows - 1;
  if (last < 0) {
    throw new EngramError(`${source.description} has no rows; pass a data set with rows to score`);
  }
  if (start > last) {
    throw new EngramError(`--start ${start} is past the last row (${last}) of ${source.description}`);
  }
  const count = rows.count ?? source.numRows - start;
  if (start + count > source.numRows) {
    const asked = step
      ? ` (--step ${step[0]} × ${step[1]} rows per step, from ${step[2]}; --rows-per-step N sets it)`
      : "";
    const range = `rows [${start}, ${start + count})${asked}`;
    throw new EngramError(`${range} reach past the end of ${source.description}: its last row is ${last}`);
  }
  return [start, count];
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

interface CheckpointJob {
  path: string;
  dataPath: string;
  /** The data's dataset repository, ref and commit when it lies in the hub cache. */
  dataOrigin?: DataOrigin;
  /** The tokenizer.json of .jsonl texts (absolute), else undefined. */
  tokenizer?: string;
  /** rowSourceFingerprint of the data's files. */
  dataFingerprint: string;
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
  force: boolean;
  quiet: boolean;
  /** Seconds between progress lines when stderr is not a terminal. */
  progressSeconds: number;
}

/**
 * The provenance fields that determine a results file's rows and values (not the batch size: they do not). A
 * results file already there is kept, and a journal resumed, only when they are this run's: the journal's key
 * is this same object, so the two checks can never disagree on what a field is.
 */
type Request = Pick<
  Provenance,
  | "start"
  | "count"
  | "rows"
  | "shard"
  | "prompt"
  | "continuation"
  | "offset"
  | "mode"
  | "paper_compatible"
  | "logprob"
  | "data"
  | "tokenizer"
  | "model_path"
  | "config_hash"
  | "weights_fingerprint"
  | "data_fingerprint"
>;

/**
 * What identifies the checkpoint's contents: its config's hash and its weights' sampled fingerprint; the config
 * and the file listing they come from are handed to NeoXModel.load, which then loads what was identified.
 */
interface ModelIdentity {
  config: NeoXConfig;
  files: CheckpointFiles;
  configHash: string;
  weights: string;
}

async function modelIdentity(ck: Checkpoint): Promise<ModelIdentity> {
  const config = await loadConfig(ck.dir);
  const files = await checkpointFiles(ck.dir);
  return {
    config,
    files,
    configHash: await configHash(config),
    // Sorted: the fingerprint does not depend on the order the index lists the shards in.
    weights: await sampledFingerprint([...files.files].sort()),
  };
}

function request(ck: Checkpoint, id: ModelIdentity, job: CheckpointJob): Request {
  return {
    start: job.jobRows[0],
    count: job.jobRows[1],
    rows: job.count,
    ...(job.shard ? { shard: job.shard } : {}),
    prompt: job.prompt,
    continuation: job.cont,
    offset: job.offset,
    mode: job.mode,
    paper_compatible: job.paperCompatible,
    logprob: job.logprob,
    data: resolve(rowSourcePath(job.dataPath)),
    ...(job.tokenizer ? { tokenizer: job.tokenizer } : {}),
    model_path: resolve(ck.dir),
    config_hash: id.configHash,
    weights_fingerprint: id.weights,
    data_fingerprint: job.dataFingerprint,
  };
}

/** How each determining field reads in a message, in the order they are compared; `holds` for what the rows are. */
const REQUEST_FIELDS: [keyof Request, "holds" | "was scored with", (p: Request) => string][] = [
  ["start", "holds", (p) => `rows [${p.start}, ${p.start + p.count})`],
  ["count", "holds", (p) => `rows [${p.start}, ${p.start + p.count})`],
  ["shard", "holds", (p) => p.shard === undefined ? "all of them (no --shard)" : `shard ${p.shard} of them`],
  ["rows", "holds", (p) => `${p.rows} rows`],
  ["prompt", "was scored with", (p) => `--prompt ${p.prompt}`],
  ["continuation", "was scored with", (p) => `--continuation ${p.continuation}`],
  ["offset", "was scored with", (p) => `--offset ${p.offset}`],
  ["mode", "was scored with", (p) => `--mode ${p.mode}`],
  ["paper_compatible", "was scored with", (p) => p.paper_compatible ? "--paper-compatible" : "pure greedy"],
  ["logprob", "was scored with", (p) => p.logprob ? "--logprob" : "no --logprob"],
  ["data", "was scored with", (p) => `data ${p.data}`],
  [
    "tokenizer",
    "was scored with",
    (p) => p.tokenizer === undefined ? "no tokenizer" : `the tokenizer ${p.tokenizer}`,
  ],
  ["model_path", "was scored with", (p) => `the model at ${p.model_path}`],
  ["config_hash", "was scored with", (p) => `a config.json of hash ${p.config_hash}`],
  [
    "weights_fingerprint",
    "was scored with",
    (p) => `weights of fingerprint ${p.weights_fingerprint} (other weights at the same path?)`,
  ],
  [
    "data_fingerprint",
    "was scored with",
    (p) => `data of fingerprint ${p.data_fingerprint} (the data rewritten at the same path?)`,
  ],
];

/** Why the results file at `path` does not answer `want` (its first difference), or null when it does. */
async function whyNotAnswering(path: string, want: Request): Promise<string | null> {
  const have = await readProvenance(path);
  if (!have) return "has no provenance, so whether it answers this run cannot be told";
  for (const [field, verb, say] of REQUEST_FIELDS) {
    if (have[field] === want[field]) continue;
    if (have[field] === undefined && field !== "shard") {
      return `records no "${field}" in its provenance (an older engram wrote it)`;
    }
    return `${verb} ${say(have)}, but this run asks for ${say(want)}`;
  }
  return null;
}

/** Whether a file is at `path` (a folder there is an error: it cannot become a results file or journal). */
async function isFileThere(path: string): Promise<boolean> {
  const info = await Deno.stat(path).catch(() => null);
  if (info && !info.isFile) {
    throw new EngramError(`${path} is there but not a file; remove it or pass another --out`);
  }
  return info !== null;
}

/**
 * Scores one checkpoint into job.path, holding its lock throughout; a results file already there is kept
 * when it answers this very run (same rows and everything that determines them), refused otherwise, and
 * replaced with --force.
 */
async function scoreOrSkip(
  gpu: Gpu,
  ck: Checkpoint,
  source: RowSource,
  job: CheckpointJob,
): Promise<ScoreSummary> {
  const dir = dirname(job.path);
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new EngramError(
      `cannot create the output folder ${dir}: ${(e as Error).message}; pass another --out`,
    );
  }
  const lock = await FileLock.acquire(job.path);
  try {
    const removed = describeRemovedTemporaries(dir, await removeDeadTemporaries(dir));
    if (removed) console.error(`score: ${removed}`);
    const id = await modelIdentity(ck);
    const want = request(ck, id, job);
    if (!job.force && await isFileThere(job.path)) {
      const why = await whyNotAnswering(job.path, want);
      if (why) throw new EngramError(`${job.path} ${why}; pass --force to rescore, or another --out`);
      // A kill between writing the results and deleting the journal leaves the finished job's journal behind.
      const partial = `${job.path}.partial`;
      if (await isFileThere(partial)) {
        try {
          await (await Journal.open(partial, want)).remove();
        } catch (e) {
          if (!(e instanceof EngramError)) throw e; // another job's partial results: they stay
        }
      }
      if (!job.quiet) {
        console.error(
          `${ck.model}@${ck.revision}: ${job.path} holds these results already, skipped (--force rescores)`,
        );
      }
      return { checkpoint: ck, path: job.path, rows: job.count, memorized: -1, seconds: 0, skipped: true };
    }
    return await scoreCheckpoint(gpu, ck, id, want, source, job);
  } finally {
    lock.release();
  }
}

async function scoreCheckpoint(
  gpu: Gpu,
  ck: Checkpoint,
  id: ModelIdentity,
  want: Request,
  source: RowSource,
  job: CheckpointJob,
): Promise<ScoreSummary> {
  const label = `${ck.model}@${ck.revision}`;
  const status = progressLine(job.quiet, job.progressSeconds);
  const model = await NeoXModel.load(gpu, ck.dir, {
    config: id.config,
    files: id.files,
    onProgress: (loaded, total) =>
      status(`${label}: loading weights ${fmtBytes(loaded)} / ${fmtBytes(total)}`, false),
  });
  let decoder: Decoder | undefined, journal: Journal | undefined;
  try {
    decoder = await Decoder.create(model, {
      batch: job.batch ?? gpu.defaults.batch,
      prompt: job.prompt,
      cont: job.cont,
      memoryBudget: (job.gpuMemoryGiB ?? gpu.defaults.memoryGiB) * 2 ** 30,
      memoryBudgetSource: "score --gpu-memory",
    });
    journal = await Journal.open(`${job.path}.partial`, want, { replace: job.force });
    if (journal.replaced > 0 && !job.quiet) {
      console.error(
        `${label}: --force: deleted ${journal.path}, which held ${journal.replaced} rows of a run with other ` +
          `arguments`,
      );
    }
    const resumed = journal.done;
    if (resumed > 0 && !job.quiet) {
      console.error(`${label}: resuming ${journal.path}: ${resumed} of ${job.count} rows already scored`);
    }
    let memorized = 0;
    const t0 = performance.now();
    // The first batches of a process build the pipelines (seconds on a CPU adapter): rates leave that out.
    const compiled0 = gpu.pipelineSeconds;
    const scoringSeconds = (seconds: number) => Math.max(seconds - (gpu.pipelineSeconds - compiled0), 1e-9);
    await scoreRows(
      decoder,
      {
        source,
        start: job.start,
        count: job.count,
        offset: job.offset,
        mode: job.mode,
        suppress: job.paperCompatible ? 0 : null,
        logprob: job.logprob,
      },
      journal,
      (p) => {
        memorized = p.memorized;
        const rate = p.fresh / scoringSeconds(p.seconds);
        const line =
          `${label}: ${p.done}/${p.total} rows, ${rate.toFixed(1)} rows/s, ${p.memorized} memorized, ` +
          `ETA ${formatEta((p.total - p.done) / rate)}`;
        status(line, p.done === p.total);
      },
    );
    // What the rows answer is `want`, the same object an existing results file and the journal were checked against.
    const provenance: Provenance = {
      model: ck.model,
      revision: ck.revision,
      ...(ck.repo !== undefined ? { repo: ck.repo, commit: ck.commit } : {}),
      params: countParameters(model.cfg),
      ...want,
      ...(job.dataOrigin
        ? {
          data_repo: job.dataOrigin.repo,
          ...(job.dataOrigin.revision !== undefined ? { data_revision: job.dataOrigin.revision } : {}),
          data_commit: job.dataOrigin.commit,
        }
        : {}),
      engram_version: ENGRAM_VERSION,
      adapter: gpu.describe(),
      kernels: kernelsRecord(gpu.tuning.source, decoder.variantsUsed, job, resumed),
      created: journal.created,
    };
    // The final file streams from the journal a chunk at a time (memory stays bounded at any length).
    memorized =
      (await writeResultsStream(job.path, provenance, journalBatches(journal, provenance))).memorized;
    await journal.remove();
    const seconds = (performance.now() - t0) / 1000;
    if (!job.quiet) {
      const compiling = gpu.pipelineSeconds - compiled0;
      const rate = ((job.count - resumed) / scoringSeconds(seconds)).toFixed(1);
      const without = compiling >= 0.05 ? `, not counting ${compiling.toFixed(1)} s compiling pipelines` : "";
      console.error(
        `${label}: ${job.count} rows, ${memorized} memorized (${rate} rows/s${without}) → ${job.path}`,
      );
    }
    return { checkpoint: ck, path: job.path, rows: job.count, memorized, seconds, skipped: false };
  } finally {
    journal?.close();
    decoder?.destroy();
    model.destroy();
  }
}

/**
 * The provenance's kernels: where the tuning came from and the tile variants this process built and ran
 * (recorded as they ran, not predicted from the shapes). Rows resumed from a journal were scored by an earlier
 * process, whose variants the journal does not record (its key must not hold them: a resumed run may run
 * others, and variants never change a result); the line then says which rows its variants scored. So a
 * resumed run's file equals an uninterrupted run's in everything but this field, which merge also lets differ.
 */
function kernelsRecord(source: string, variants: string[], job: CheckpointJob, resumed: number): string {
  if (resumed === 0) return `${source}: ${variants.join(", ")}`;
  const earlier = `rows [${job.start}, ${job.start + resumed}) were resumed from a journal, ` +
    `which does not record their kernels`;
  if (resumed >= job.count) return `${source}: none ran (${earlier})`;
  return `${source}: ${variants.join(", ")} for rows [${job.start + resumed}, ${job.start + job.count}) ` +
    `(${earlier})`;
}
