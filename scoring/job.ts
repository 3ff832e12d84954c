// A scoring job: one checkpoint's memorization scores of training rows into one results file. It owns what makes
// the file the truth: the request that identifies the rows (paths, settings, the model's and the data's
// fingerprints), keeping a file that answers it or refusing one that does not (--force replaces it), the lock on
// the file, the journal a killed run resumes from, the provenance and the final write. A row goes downward only:
// data reader (io/rows.ts) → model (engine/decoder.ts) → journal (scoring/journal.ts) → results file
// (io/results.ts).
//
// `scoreCheckpoint` is the entry point (the score and demo commands call it, and so may any program); flags,
// progress on a terminal and the choice of results paths stay in cli/score.ts.
import { configHash, countParameters, loadConfig, type NeoXConfig } from "../engine/config.ts";
import { type CheckpointFiles, checkpointFiles } from "../engine/checkpoint.ts";
import { openRowSource, type RowSource, rowSourceKind, rowSourcePath } from "../io/rows.ts";
import { Decoder } from "../engine/decoder.ts";
import { EngramError } from "../base/errors.ts";
import { fmtBytes, Gpu } from "../engine/gpu.ts";
import { NeoXModel } from "../engine/model.ts";
import { MAX_CONTINUATION, PAPER_CONTINUATION, PAPER_PROMPT } from "../engine/paper.ts";
import { dirname, extname, resolve } from "../base/path.ts";
import { type Tuning, useTuning } from "../engine/tuning.ts";
import { type Checkpoint, findTokenizer, foldersAbove, resolveCheckpoints } from "../io/checkpoints.ts";
import { describeRemovedTemporaries, removeDeadTemporaries } from "../base/atomic.ts";
import { rowSourceFingerprint, sampledFingerprint } from "../io/files.ts";
import { type DataOrigin, hubData } from "../io/hub.ts";
import { importLazily } from "../base/lazy.ts";
import { FileLock } from "../io/lock.ts";
import {
  type Provenance,
  readProvenance,
  RESULT_FORMATS,
  shardRange,
  writeResultsStream,
} from "../io/results.ts";
import { type Request, REQUEST_FIELDS } from "../io/provenance.ts";
import { ENGRAM_VERSION } from "../io/version.ts";
import { Journal, journalBatches } from "./journal.ts";
import { type ScoreMode, scoreRows } from "./memorization.ts";

/** What `scoreCheckpoint` did. */
export interface ScoreSummary {
  /** The checkpoint scored. */
  checkpoint: Checkpoint;
  /** Its results file. */
  path: string;
  /** The rows the file holds. */
  rows: number;
  /** How many of them are memorized (-1 when the file was kept, not read). */
  memorized: number;
  /** Seconds the scoring and the final write took (0 when kept). */
  seconds: number;
  /** The file was there already and answers this job: kept as it is. */
  skipped: boolean;
}

/** The settings that decide what a row's results are (the paper's when left out). */
export interface ScoreSettings {
  /** Prompt tokens per row (default 32). */
  prompt?: number;
  /** Continuation tokens per row, at most MAX_CONTINUATION (253, the report's limit; default 32). */
  continuation?: number;
  /** The token of each row where the prompt starts (default 0). */
  offset?: number;
  /** "score" (greedy continuation, score and first mismatch; the default) or "extractable" (first mismatch). */
  mode?: ScoreMode;
  /** Forbid EOS (id 0) as EleutherAI's generate(min_length=64) did (default: pure greedy). */
  paperCompatible?: boolean;
  /** Also the mean log-probability of the true continuation (default false). */
  logprob?: boolean;
}

/** A scoring job: `scoreCheckpoint`'s options. */
export interface ScoreCheckpointOptions extends ScoreSettings {
  /** A checkpoint folder (config.json and weights), or a checkpoint that resolveCheckpoints found. */
  checkpoint: string | Checkpoint;
  /** The results file to write, ending in .parquet, .csv or .jsonl. */
  out: string;
  /**
   * The rows: a Megatron prefix, .npy of token rows, .jsonl of texts or a dataset of the hub cache (as score's
   * --data), or data opened once by `openScoringData` for several checkpoints (the caller closes it).
   */
  data: string | ScoringData;
  /** The folder of tokenizer.json for .jsonl texts (default: the nearest in or above the checkpoint). */
  tokenizer?: string;
  /** The job's first row (default 0). */
  start?: number;
  /** Its rows (default: to the end of the data). */
  count?: number;
  /** Where `count` came from, said when the rows reach past the data's end (score: "--step N × M rows ..."). */
  countFrom?: string;
  /** Score only the i-th of N contiguous shares of the rows, [i, N]. */
  shard?: [number, number];
  /** Rows per GPU batch (default: the adapter's, see Gpu.defaults). */
  batch?: number;
  /** GiB for the KV cache and activations (default: the adapter's). */
  gpuMemoryGiB?: number;
  /** Rescore even when a results file answering this job is there, and start over from a journal of others. */
  force?: boolean;
  /** The GPU (the caller destroys it); default: one opened for this job, destroyed after. */
  gpu?: Gpu;
  /**
   * The matmuls' tile variants: a Tuning (e.g. `useTuning`'s), or a tuning file of ./engram tune read for the
   * GPU; default: `useTuning`'s (the cache of ./engram tune when tuned on this adapter, else the shipped table).
   * Results never depend on it.
   */
  tuning?: Tuning | string;
  /** Lines for a person: a kept file skipped, a journal resumed or replaced, the summary (default: none). */
  log?: (line: string) => void;
  /** Lines about other files this job deleted (dead temporaries of killed runs); default: stderr. */
  warn?: (line: string) => void;
  /** A status line (loading weights, rows scored), `last` true on the final one (default: none). */
  progress?: (text: string, last: boolean) => void;
}

/** The rows of a job, opened once: its reader, and what identifies them in the provenance. */
export interface ScoringData {
  /** The path of the rows (a hub-cache dataset resolved to the data in its snapshot). */
  path: string;
  /** The dataset repository, ref and commit when the rows lie in the hub cache. */
  origin?: DataOrigin;
  /** The tokenizer.json (absolute) that made .jsonl texts into rows, else undefined. */
  tokenizer?: string;
  /** The rows' files' fingerprint (rowSourceFingerprint). */
  fingerprint: string;
  /** The reader of the rows. */
  source: RowSource;
  /** Closes the reader. */
  close(): void;
}

/**
 * Opens the rows at `data` (as score's --data: a path or a hub-cache dataset), texts tokenized with the
 * tokenizer.json in `options.tokenizer`, else the nearest in or above `options.modelDir`.
 */
export async function openScoringData(
  data: string,
  options: { tokenizer?: string; modelDir: string },
): Promise<ScoringData> {
  const { path, origin } = await hubData(data, "--data");
  const { source, tokenizer } = await openSource(path, options.tokenizer, options.modelDir);
  try {
    return {
      path,
      ...(origin ? { origin } : {}),
      ...(tokenizer ? { tokenizer } : {}),
      fingerprint: await rowSourceFingerprint(path),
      source,
      close: () => source.close(),
    };
  } catch (e) {
    source.close();
    throw e;
  }
}

/**
 * Refuses settings no results file can hold or the report read, before anything is opened: one engram: line
 * naming the limit.
 */
export function checkScoreSettings(settings: ScoreSettings & { batch?: number }): void {
  const { mode = "score", prompt = PAPER_PROMPT, continuation = PAPER_CONTINUATION, offset = 0 } = settings;
  if (mode !== "score" && mode !== "extractable") {
    throw new EngramError(`--mode must be score or extractable, got "${mode}"`);
  }
  for (
    const [name, value, min] of [["prompt", prompt, 1], ["continuation", continuation, 1], [
      "offset",
      offset,
      0,
    ]] as const
  ) {
    if (!(Number.isSafeInteger(value) && value >= min)) {
      throw new EngramError(`--${name} must be an integer ≥ ${min}, got ${value}`);
    }
  }
  if (settings.batch !== undefined && !(Number.isSafeInteger(settings.batch) && settings.batch >= 1)) {
    throw new EngramError(`--batch must be an integer ≥ 1, got ${settings.batch}`);
  }
  if (continuation > MAX_CONTINUATION) {
    throw new EngramError(
      `--continuation ${continuation} is longer than the report reads (at most ${MAX_CONTINUATION} tokens); ` +
        `pass --continuation ${MAX_CONTINUATION} or less`,
    );
  }
}

/**
 * Refuses a checkpoint whose model or revision name holds "@" or ",": results are named model@revision, and
 * --models, --revisions and --combine are comma-separated lists, so such a name could not be picked out again.
 */
export function checkCheckpointNames(ck: Checkpoint): void {
  const separators = [
    ["@", "separates model and revision in results (model@revision)"],
    [",", "separates the names of --models, --revisions and --combine"],
  ];
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

/**
 * The rows a job scores, checked against the data: the whole job's [start, count] (count left out: to the end)
 * and this shard's share of it.
 */
export function scoredRows(
  source: RowSource,
  rows: { start?: number; count?: number; countFrom?: string; shard?: [number, number] },
): { job: [number, number]; share: [number, number] } {
  const whole = (n: number | undefined, min: number) =>
    n === undefined || (Number.isSafeInteger(n) && n >= min);
  if (!whole(rows.start, 0)) throw new EngramError(`--start must be an integer ≥ 0, got ${rows.start}`);
  if (!whole(rows.count, 1)) throw new EngramError(`--count must be an integer ≥ 1, got ${rows.count}`);
  const shard = rows.shard;
  if (shard && !(whole(shard[1], 1) && whole(shard[0], 0) && shard[0] < shard[1])) {
    throw new EngramError(`--shard must be i/N with 0 ≤ i < N (e.g. 3/64), got ${shard.join("/")}`);
  }
  const job = jobRows(source, rows.start ?? 0, rows.count, rows.countFrom);
  return { job, share: shardRange(job[0], job[1], rows.shard ?? null) };
}

/**
 * Scores one checkpoint's rows into one results file, holding the file's lock throughout. A results file already
 * there is kept when it answers this very job (the same rows and everything that determines them), refused
 * otherwise, and replaced with `force`; a journal that a killed run of this same job left is resumed.
 *
 * @example Score rows 0..63 of the embedded pico data with the smallest pico model
 * ```ts
 * import { scoreCheckpoint } from "./mod.ts";
 *
 * const summary = await scoreCheckpoint({
 *   checkpoint: "fixtures/pico/models/pico-1/step1092",
 *   data: "fixtures/pico/data/pico_document",
 *   count: 64,
 *   out: "out/pico-1@step1092.parquet",
 * });
 * console.log(summary.rows, "rows,", summary.memorized, "memorized");
 * ```
 */
export async function scoreCheckpoint(options: ScoreCheckpointOptions): Promise<ScoreSummary> {
  checkScoreSettings(options);
  const ck = typeof options.checkpoint === "string"
    ? await oneCheckpoint(options.checkpoint)
    : options.checkpoint;
  checkCheckpointNames(ck);
  const data = typeof options.data === "string"
    ? await openScoringData(options.data, { tokenizer: options.tokenizer, modelDir: ck.dir })
    : options.data;
  let gpu = options.gpu;
  try {
    if (typeof options.data !== "string" && options.tokenizer !== undefined) {
      throw new EngramError("the tokenizer of opened data is chosen by openScoringData; drop tokenizer");
    }
    if (!(RESULT_FORMATS as readonly string[]).includes(extname(options.out).toLowerCase())) {
      throw new EngramError(
        `${options.out}: a results file's name ends in .parquet, .csv or .jsonl; rename it`,
      );
    }
    const { job, share } = scoredRows(data.source, options);
    gpu ??= await Gpu.open();
    const tuning = typeof options.tuning === "object" ? options.tuning : useTuning(gpu, options.tuning);
    return await scoreOrSkip(gpu, ck, data.source, {
      tuning,
      path: options.out,
      dataPath: data.path,
      dataOrigin: data.origin,
      tokenizer: data.tokenizer,
      dataFingerprint: data.fingerprint,
      start: share[0],
      count: share[1],
      jobRows: job,
      prompt: options.prompt ?? PAPER_PROMPT,
      cont: options.continuation ?? PAPER_CONTINUATION,
      offset: options.offset ?? 0,
      mode: options.mode ?? "score",
      paperCompatible: options.paperCompatible ?? false,
      logprob: options.logprob ?? false,
      batch: options.batch,
      gpuMemoryGiB: options.gpuMemoryGiB,
      shard: options.shard ? `${options.shard[0]}/${options.shard[1]}` : undefined,
      force: options.force ?? false,
      log: options.log ?? (() => {}),
      warn: options.warn ?? ((line) => console.error(line)),
      progress: options.progress ?? (() => {}),
    });
  } finally {
    if (typeof options.data === "string") data.close();
    if (!options.gpu) gpu?.destroy();
  }
}

/** The one checkpoint in the folder `dir`. */
async function oneCheckpoint(dir: string): Promise<Checkpoint> {
  const found = await resolveCheckpoints(dir);
  if (found.length !== 1) {
    throw new EngramError(
      `${dir} holds ${found.length} checkpoints (${
        found.slice(0, 4).map((c) => `${c.model}@${c.revision}`).join(", ")
      }${found.length > 4 ? ", ..." : ""}); pass one checkpoint folder`,
    );
  }
  return found[0];
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

/** The job's rows [start, start + count) of `source`, checked against the rows it has. */
function jobRows(
  source: RowSource,
  start: number,
  given: number | undefined,
  countFrom: string | undefined,
): [number, number] {
  const last = source.numRows - 1;
  if (last < 0) {
    throw new EngramError(`${source.description} has no rows; pass a data set with rows to score`);
  }
  if (start > last) {
    throw new EngramError(`--start ${start} is past the last row (${last}) of ${source.description}`);
  }
  const count = given ?? source.numRows - start;
  if (start + count > source.numRows) {
    const asked = countFrom ? ` (${countFrom})` : "";
    const range = `rows [${start}, ${start + count})${asked}`;
    throw new EngramError(`${range} reach past the end of ${source.description}: its last row is ${last}`);
  }
  return [start, count];
}

/** Seconds left as 1h05m, 3m07s or 42s. */
function formatEta(seconds: number): string {
  if (!isFinite(seconds)) return "?";
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m`
    : m > 0
    ? `${m}m${String(s).padStart(2, "0")}s`
    : `${s}s`;
}

/** A job with everything resolved: scoreCheckpoint's options after the defaults, the data opened. */
interface CheckpointJob {
  tuning: Tuning;
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
  log: (line: string) => void;
  warn: (line: string) => void;
  progress: (text: string, last: boolean) => void;
}

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

/** Why the results file at `path` does not answer `want` (its first difference), or null when it does. */
async function whyNotAnswering(path: string, want: Request): Promise<string | null> {
  const have = await readProvenance(path);
  if (!have) return "has no provenance, so whether it answers this run cannot be told";
  for (const { field, verb, say } of REQUEST_FIELDS) {
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
    if (removed) job.warn(`score: ${removed}`);
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
      job.log(
        `${ck.model}@${ck.revision}: ${job.path} holds these results already, skipped (--force rescores)`,
      );
      return { checkpoint: ck, path: job.path, rows: job.count, memorized: -1, seconds: 0, skipped: true };
    }
    return await scoreJob(gpu, ck, id, want, source, job);
  } finally {
    lock.release();
  }
}

/** Loads the checkpoint, scores the rows the journal lacks into it, then writes the results file from it. */
async function scoreJob(
  gpu: Gpu,
  ck: Checkpoint,
  id: ModelIdentity,
  want: Request,
  source: RowSource,
  job: CheckpointJob,
): Promise<ScoreSummary> {
  const label = `${ck.model}@${ck.revision}`;
  const status = job.progress;
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
      tuning: job.tuning,
    });
    journal = await Journal.open(`${job.path}.partial`, want, { replace: job.force });
    if (journal.replaced > 0) {
      job.log(
        `${label}: --force: deleted ${journal.path}, which held ${journal.replaced} rows of a run with other ` +
          `arguments`,
      );
    }
    const resumed = journal.done;
    if (resumed > 0) {
      job.log(`${label}: resuming ${journal.path}: ${resumed} of ${job.count} rows already scored`);
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
      kernels: kernelsRecord(decoder.tuning.source, decoder.variantsUsed, job, resumed),
      created: journal.created,
    };
    // The final file streams from the journal a chunk at a time (memory stays bounded at any length).
    memorized =
      (await writeResultsStream(job.path, provenance, journalBatches(journal, provenance))).memorized;
    await journal.remove();
    const seconds = (performance.now() - t0) / 1000;
    const compiling = gpu.pipelineSeconds - compiled0;
    const rate = ((job.count - resumed) / scoringSeconds(seconds)).toFixed(1);
    const without = compiling >= 0.05 ? `, not counting ${compiling.toFixed(1)} s compiling pipelines` : "";
    job.log(`${label}: ${job.count} rows, ${memorized} memorized (${rate} rows/s${without}) → ${job.path}`);
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
