// Score results files: one row per scored training row, in Parquet, CSV or JSONL, with their provenance.
// Columns, in order: index (int64), score (double = matches/continuation; null in extractable mode),
// matches (int32; null in extractable mode), first_mismatch (int32), memorized (boolean), logprob (double, optional).
//
// Files of any length are written and read a batch at a time (never an array over all rows). Provenance:
//   - Parquet: inside the file (key-value metadata "engram.provenance"), so the file is self-contained;
//   - CSV/JSONL: a sidecar `<file>.provenance.json` holding the provenance and the data file's length and
//     CRC-32 ("results_file"). Both are written under temporary names, the sidecar renamed into place first and
//     the data last; a reader refuses a pair that does not belong together (a failure between the renames, an
//     edited or truncated copy).
// Every row is checked as it is read or written: index an integer ≥ 0 and strictly increasing (with provenance:
// exactly the rows of the job's range or its shard's share), first_mismatch and matches in [0, continuation],
// score in [0, 1] and equal to matches/continuation, memorized = (first_mismatch = continuation), logprob in
// LOGPROB_DOMAIN, and the number of rows equal to the provenance's.
// Parquet is read and written by io/parquet.ts (hyparquet only for Snappy pages and foreign encodings,
// hyparquet-compressors for ZSTD, GZIP, Brotli and LZ4 pages), so CSV/JSONL results need no npm package at all
// (the GPU machine has no registry).
import { EngramError, ensure } from "../base/errors.ts";
import { isObject, parseJson, readJsonFile } from "../base/fs.ts";
import { PAPER_CONTINUATION } from "../engine/paper.ts";
import { extname } from "../base/path.ts";
import { BatchArrays } from "./arrays.ts";
import { type CsvBatch, type CsvColumnSpec, openCsv } from "./csv.ts";
import { AtomicFile, Crc32 } from "../base/atomic.ts";
import { fileSize } from "./files.ts";
import { openJsonl } from "./jsonl.ts";
import { type ParquetColumnSpec, ParquetFile, ParquetWriter } from "./parquet.ts";

/** Columnar scores, one row per scored training row, sorted by index (small files: `readResults`). */
export interface ScoreTable {
  /** Row index in the training data (may exceed 2^31; exact up to 2^53). */
  index: Float64Array;
  /** Greedy tokens equal to the true continuation; null in "extractable" mode. */
  matches: Int16Array | null;
  /** First position where greedy ≠ truth, = continuation length if none. */
  firstMismatch: Int16Array;
  /** Optional mean log-prob of the true continuation. */
  logprob: Float32Array | null;
  /** Continuation length (32 in the paper). */
  continuation: number;
}

/** Everything needed to know what produced a results file. */
export interface Provenance {
  /** The model's name, e.g. "pythia-1b" (the part before `@` in the file name). */
  model: string;
  /** The checkpoint's revision, e.g. "step143000". */
  revision: string;
  /** The checkpoint folder, as an absolute path. */
  model_path: string;
  /** A checkpoint of the huggingface_hub cache: its repository id (ORG/NAME; `revision` is the ref's name). */
  repo?: string;
  /** A checkpoint of the huggingface_hub cache: the commit its revision named when it was scored. */
  commit?: string;
  /** The model's parameter count (engine/config.ts countParameters). */
  params: number;
  /** Hash of the model's config (engine/config.ts configHash): the same folder with another config differs. */
  config_hash: string;
  /** The token data, as an absolute path. */
  data: string;
  /** Data in the huggingface_hub cache: its dataset repository (ORG/NAME). */
  data_repo?: string;
  /** Data in the huggingface_hub cache: the ref it was named by (absent when no ref names its snapshot). */
  data_revision?: string;
  /** Data in the huggingface_hub cache: the commit of its snapshot. */
  data_commit?: string;
  /** The tokenizer.json that turned .jsonl texts into tokens, as an absolute path (absent for token data). */
  tokenizer?: string;
  /** io/files.ts sampledFingerprint of the checkpoint's weight files: another checkpoint at the same path
   *  (a repointed link, weights replaced in place) differs. Absent in files of engram before it was added. */
  weights_fingerprint?: string;
  /** sampledFingerprint of the data's files (Megatron .idx and .bin, .npy or .jsonl): data rewritten in
   *  place at the same path differs. Absent in files of engram before it was added. */
  data_fingerprint?: string;
  /** Prompt tokens per row (32 in the paper). */
  prompt: number;
  /** Continuation tokens per row (32 in the paper). */
  continuation: number;
  /** The token of each row where the prompt starts. */
  offset: number;
  /** "score": greedy decoding (score and matches); "extractable": first mismatch only. */
  mode: "score" | "extractable";
  /** Whether EOS was forbidden at every generated position, as EleutherAI's pipeline did (--paper-compatible). */
  paper_compatible: boolean;
  /** Whether rows carry the mean log-probability of the true continuation. */
  logprob: boolean;
  /** The engram that wrote the file (deno.json's version). */
  engram_version: string;
  /** The WebGPU adapter that scored the rows (merged files: the distinct ones joined by "; "). */
  adapter: string;
  /** Matmul tile variants used (engine/tuning.ts source: variant names); results never depend on them. */
  kernels?: string;
  /** The job's rows: [start, start + count) of the data, before any sharding. */
  start: number;
  /** How many rows the job has (see `start`). */
  count: number;
  /** Rows this file holds: all of the job's, or its shard's share (`shardRange`). */
  rows: number;
  /** "i/N" when the file holds one contiguous share of the job's rows. */
  shard?: string;
  /** When the job first started (ISO 8601; kept across resumes, the earliest of merged shards). */
  created: string;
}

/** A batch of rows of a results file, in file order. */
export interface ResultsBatch {
  /** Rows in this batch (≤ ~1M). */
  length: number;
  /** Row indices, strictly increasing across the whole file. */
  index: Float64Array;
  /** null when the file has no per-row matches/score (extractable mode). */
  matches: Int16Array | null;
  /** First position where greedy ≠ truth, = continuation if none. */
  firstMismatch: Int16Array;
  /** null when the file has no logprob column. */
  logprob: Float32Array | null;
}

/** A results file opened for reading: what it is, and its rows a batch at a time. */
export interface ResultsReader {
  /** The file read. */
  path: string;
  /** Its format, by extension. */
  format: ResultsFormat;
  /** What produced it; null for a CSV or JSONL file without its sidecar. */
  provenance: Provenance | null;
  /** Continuation length: the provenance's, else told by the first rows (32 when they cannot tell). */
  continuation: number;
  /** Known without a full read (Parquet metadata or provenance), else null. */
  rows: number | null;
  /** The rows in file order, validated as read; each call reads the file again. With `reuse`, a batch's arrays
   *  are overwritten by the next batch (no fresh memory per batch: for readers that are done with a batch when
   *  they ask for the next); without it each batch's arrays are its own. */
  batches(options?: { reuse?: boolean }): AsyncGenerator<ResultsBatch>;
}

/** The Parquet key-value metadata key that holds a results file's provenance (JSON). */
export const PROVENANCE_KEY = "engram.provenance";
/** The extensions of results files, one per format. */
export const RESULT_FORMATS = [".parquet", ".csv", ".jsonl"] as const;
/** A results file's format, named by its extension. */
export type ResultsFormat = typeof RESULT_FORMATS[number];

/** The sidecar that holds a CSV or JSONL file's provenance. */
export const provenancePath = (path: string): string => `${path}.provenance.json`;

/**
 * The values a logprob may take: [-Infinity, 0] (a mean of log-probabilities, each ≤ 0; -Infinity: a true
 * token of probability 0). Every format keeps each of them: Parquet as a double, CSV as its shortest
 * text ("-Infinity" included), JSONL as a number or, for -Infinity (which JSON has no number for), the string
 * "-Infinity". NaN (refused where it is made: the engine stops on non-finite logits), +Infinity and values > 0 are
 * refused on reading and writing, naming file, row and value.
 */
export const LOGPROB_DOMAIN = "[-Infinity, 0]";
/** Whether v lies in LOGPROB_DOMAIN (false for NaN). */
export const isLogprob = (v: number): boolean => v <= 0;

/** Rows per Parquet row group, and per batch read from any format. */
export const BATCH_ROWS = 1 << 20;

function formatOf(path: string): ResultsFormat {
  const ext = extname(path).toLowerCase();
  ensure(
    (RESULT_FORMATS as readonly string[]).includes(ext),
    () =>
      `${path}: unknown results format "${ext || "(no extension)"}"; name the file .parquet, .csv or .jsonl`,
  );
  return ext as ResultsFormat;
}

// --------------------------------------------------------------------------------------------------- shards

/** "i/N" (share i of N, 0 ≤ i < N) as [i, N]; null for anything else. */
function shardOf(value: string): [number, number] | null {
  const m = /^(\d+)\/(\d+)$/.exec(value);
  return m && Number(m[1]) < Number(m[2]) ? [Number(m[1]), Number(m[2])] : null;
}

/** Parses `--shard i/N` into [i, N]. */
export function parseShard(value: string | undefined): [number, number] | null {
  if (value === undefined) return null;
  const shard = shardOf(value);
  ensure(shard, () => `--shard must be i/N with 0 ≤ i < N (e.g. 3/64), got "${value}"`);
  return shard;
}

/** Rows [start, start + count) split into N contiguous shares; share i as [first row, rows]. */
export function shardRange(start: number, count: number, shard: [number, number] | null): [number, number] {
  if (!shard) return [start, count];
  const [i, n] = shard;
  const a = start + Math.floor((i * count) / n);
  const b = start + Math.floor(((i + 1) * count) / n);
  return [a, b - a];
}

/** The rows a file with this provenance holds: [first row, rows]. */
export function provenanceRange(p: Provenance): [number, number] {
  return shardRange(p.start, p.count, p.shard === undefined ? null : parseShard(p.shard));
}

// ----------------------------------------------------------------------------------------------- provenance

type FieldKind = "string" | "integer" | "positive" | "boolean" | "mode" | "shard";
/** Every provenance field and what it holds, in the order they are checked; an optional field may be absent
 *  (not null). */
const PROVENANCE_FIELDS: [keyof Provenance, FieldKind, "optional"?][] = [
  ["model", "string"],
  ["revision", "string"],
  ["model_path", "string"],
  ["repo", "string", "optional"],
  ["commit", "string", "optional"],
  ["params", "integer"],
  ["config_hash", "string"],
  ["data", "string"],
  ["data_repo", "string", "optional"],
  ["data_revision", "string", "optional"],
  ["data_commit", "string", "optional"],
  ["tokenizer", "string", "optional"],
  ["weights_fingerprint", "string", "optional"],
  ["data_fingerprint", "string", "optional"],
  ["prompt", "positive"],
  ["continuation", "positive"],
  ["offset", "integer"],
  ["mode", "mode"],
  ["paper_compatible", "boolean"],
  ["logprob", "boolean"],
  ["engram_version", "string"],
  ["adapter", "string"],
  ["kernels", "string", "optional"],
  ["start", "integer"],
  ["count", "positive"],
  ["rows", "integer"],
  ["shard", "shard", "optional"],
  ["created", "string"],
];
const KIND_TEXT: Record<FieldKind, string> = {
  string: "a string",
  integer: "an integer ≥ 0",
  positive: "an integer ≥ 1",
  boolean: "true or false",
  mode: '"score" or "extractable"',
  shard: '"i/N" with 0 ≤ i < N',
};

function kindHolds(kind: FieldKind, v: unknown): boolean {
  switch (kind) {
    case "string":
      return typeof v === "string";
    case "integer":
      return Number.isSafeInteger(v) && (v as number) >= 0;
    case "positive":
      return Number.isSafeInteger(v) && (v as number) >= 1;
    case "boolean":
      return typeof v === "boolean";
    case "mode":
      return v === "score" || v === "extractable";
    case "shard":
      return typeof v === "string" && shardOf(v) !== null;
  }
}

/** Checks a parsed provenance field by field; `where` names it in messages. */
export function checkProvenance(value: unknown, where: string): Provenance {
  const fix = "rewrite it or score again";
  ensure(isObject(value), () => `${where}: provenance is not a JSON object; ${fix}`);
  const p = value as Record<string, unknown>;
  for (const [name, kind, optional] of PROVENANCE_FIELDS) {
    if (optional && p[name] === undefined) continue; // (a key holding undefined: JSON.stringify drops it)
    if (!Object.hasOwn(p, name)) throw new EngramError(`${where}: provenance has no "${name}"; ${fix}`);
    if (!kindHolds(kind, p[name])) {
      throw new EngramError(
        `${where}: provenance "${name}" is ${JSON.stringify(p[name])}; expected ${KIND_TEXT[kind]}; ${fix}`,
      );
    }
  }
  const prov = p as unknown as Provenance;
  ensure(
    prov.continuation <= 32767,
    () => `${where}: provenance "continuation" ${prov.continuation} is over 32767; ${fix}`,
  );
  const [first, rows] = provenanceRange(prov);
  ensure(
    rows === prov.rows,
    () =>
      `${where}: provenance says ${prov.rows} rows, but ${
        prov.shard === undefined ? "the job" : `shard ${prov.shard} of the job`
      } (rows [${prov.start}, ${prov.start + prov.count})) has ${rows} (rows [${first}, ${
        first + rows
      })); ${fix}`,
  );
  return prov;
}

/** What a CSV/JSONL sidecar says about the data file it belongs to. */
interface FileCheck {
  bytes: number;
  crc32: string;
}

/** A CSV/JSONL file's sidecar, checked against the data file's length; null when there is none. */
async function readSidecar(path: string): Promise<{ provenance: Provenance; check: FileCheck } | null> {
  const side = provenancePath(path);
  const value = await readJsonFile(side, "rewrite it", `${side}: provenance`);
  if (value === undefined) return null;
  const { results_file: check, ...rest } = isObject(value) ? value : {};
  const provenance = checkProvenance(isObject(value) ? rest : value, side);
  const c = check as FileCheck | undefined;
  if (
    typeof c !== "object" || c === null || !Number.isSafeInteger(c.bytes) ||
    typeof c.crc32 !== "string" || !/^[0-9a-f]{8}$/.test(c.crc32)
  ) {
    throw new EngramError(
      `${side}: no "results_file" {bytes, crc32} to tie it to ${path}; score again, or delete the sidecar ` +
        `to read the data without provenance`,
    );
  }
  const size = await fileSize(path);
  if (size !== c.bytes) throw mismatch(path, c, `${size} bytes`);
  return { provenance, check: c };
}

const mismatch = (path: string, c: FileCheck, found: string) =>
  new EngramError(
    `${path} does not match its provenance ${provenancePath(path)} (written for a file of ${c.bytes} bytes ` +
      `with CRC-32 ${c.crc32}; this one has ${found}): the pair is from different runs or the data was changed; ` +
      `score again, or delete the sidecar to read the data without provenance`,
  );

/** A results file's provenance, from the Parquet footer or the CSV/JSONL sidecar (not reading the rows). */
export async function readProvenance(path: string): Promise<Provenance | null> {
  const format = formatOf(path);
  if (format === ".parquet") return parquetProvenance(await ParquetFile.open(path));
  await fileSize(path);
  return (await readSidecar(path))?.provenance ?? null;
}

function parquetProvenance(file: ParquetFile): Provenance | null {
  const kv = file.keyValue(PROVENANCE_KEY);
  if (kv === undefined) return null;
  const where = `${file.path} (its ${PROVENANCE_KEY} metadata)`;
  return checkProvenance(parseJson(kv, `${where}: provenance`, "rewrite it"), where);
}

// ------------------------------------------------------------------------------------------------- checking

/**
 * Checks rows as a file is read or written: index, first_mismatch, matches, contiguity with the provenance's
 * range, and (at the end) the row count. The one home of these checks: `check` runs them over a batch to be
 * written, `toBatch` row by row as it decodes what a file holds.
 */
class RowChecker {
  /** Rows checked so far. */
  rows = 0;
  private prev = -1;
  private readonly first: number | null;

  constructor(
    /** What holds the rows, as messages name it (a file, a journal). */
    readonly path: string,
    readonly continuation: number,
    readonly provenance: Provenance | null,
    readonly hasMatches: boolean,
    readonly hasLogprob: boolean,
  ) {
    this.first = provenance ? provenanceRange(provenance)[0] : null;
  }

  fail(row: number, what: string): never {
    throw new EngramError(`${this.path}: row ${row + 1} ${what}`);
  }

  /** Row `row` (0-based in the whole file) has index x. */
  index(row: number, x: number): void {
    // With provenance every index is known (first + row), which also makes it an increasing integer ≥ 0.
    if (this.first === null || x !== this.first + row) this.checkIndex(row, x);
    this.prev = x;
  }

  private checkIndex(row: number, x: number): void {
    if (!Number.isSafeInteger(x) || x < 0) this.fail(row, `has index ${x}; indices are integers ≥ 0`);
    if (x <= this.prev) {
      this.fail(
        row,
        `has index ${x} after ${this.prev}; indices must be strictly increasing (sort and dedupe)`,
      );
    }
    if (this.first !== null) {
      const expected = this.first + row;
      this.fail(
        row,
        `has index ${x} but its provenance's rows start at ${this.first}, so row ${
          row + 1
        } is ${expected}: ` +
          (x > expected ? `rows ${expected}..${x - 1} are missing` : "rows out of order"),
      );
    }
  }

  /** Row `row` has first_mismatch f and matches m (NaN: none, extractable mode), as numbers (before they are
   *  narrowed to 16 bits): integers in [0, continuation], = continuation both or neither. */
  values(row: number, f: number, m: number): void {
    const c = this.continuation;
    if (!(f >= 0 && f <= c && Math.floor(f) === f)) {
      this.fail(row, `has first_mismatch ${f}; expected an integer in [0, ${c}]`);
    }
    if (m !== m) return;
    if (!(m >= 0 && m <= c && Math.floor(m) === m)) {
      this.fail(row, `has matches ${m}; expected an integer in [0, ${c}]`);
    }
    if ((m === c) !== (f === c)) {
      this.fail(
        row,
        `has matches ${m} but first_mismatch ${f}: only a row with all ${c} right has both = ${c}`,
      );
    }
  }

  /** Row `row` has logprob v (as a double, before it is narrowed to f32); callers test isLogprob first, inline,
   *  so that a batch's rows cost a comparison each. */
  logprob(row: number, v: number): void {
    if (!isLogprob(v)) {
      this.fail(row, `has logprob ${v}; a mean log-probability is a number in ${LOGPROB_DOMAIN}`);
    }
  }

  /** Checks a batch of rows (to be written). `checked`: its rows were checked as they were read (see
   *  NamedRows), so only its first and last index are, which places the batch among the provenance's rows. */
  check(b: ResultsBatch, checked = false): void {
    if ((b.matches !== null) !== this.hasMatches) {
      throw new EngramError(
        `${this.path}: rows ${this.hasMatches ? "without" : "with"} matches in a file ${
          this.hasMatches ? "in score mode" : "without them (extractable mode)"
        }`,
      );
    }
    if ((b.logprob !== null) !== this.hasLogprob) {
      throw new EngramError(
        `${this.path}: rows ${this.hasLogprob ? "without" : "with"} logprob in a file ${
          this.hasLogprob ? "with" : "without"
        } the logprob column`,
      );
    }
    const matches = b.matches;
    if (checked && this.first !== null) {
      if (b.length > 0) {
        this.index(this.rows, b.index[0]);
        this.index(this.rows + b.length - 1, b.index[b.length - 1]);
      }
    } else {
      for (let i = 0; i < b.length; i++) {
        this.index(this.rows + i, b.index[i]);
        this.values(this.rows + i, b.firstMismatch[i], matches !== null ? matches[i] : NaN);
      }
      const lp = b.logprob;
      if (lp) {
        for (let i = 0; i < b.length; i++) if (!isLogprob(lp[i])) this.logprob(this.rows + i, lp[i]);
      }
    }
    this.rows += b.length;
  }

  /** The row count against the provenance's, once every row is checked. */
  end(): void {
    const p = this.provenance;
    if (p && this.rows !== p.rows) {
      const [first] = provenanceRange(p);
      throw new EngramError(
        `${this.path}: holds ${this.rows} rows but its provenance says ${p.rows} (rows [${first}, ${
          first + p.rows
        })${p.shard ? `, shard ${p.shard}` : ""}): a truncated or edited copy; score it again`,
      );
    }
  }
}

// --------------------------------------------------------------------------------------------------- reading

/** A batch as a file holds it, before checking: numbers (NaN: empty), memorized as 1/0 (-1 or NaN: empty). */
interface RawBatch {
  length: number;
  index: Float64Array;
  score?: Float64Array;
  matches?: Float64Array;
  firstMismatch: Float64Array;
  memorized?: Float64Array | Int8Array;
  logprob?: Float64Array;
}

const RESULT_COLUMNS: Record<string, CsvColumnSpec> = {
  index: { type: "number" },
  score: { type: "number", optional: true, nullable: true },
  matches: { type: "number", optional: true, nullable: true },
  first_mismatch: { type: "number" },
  memorized: { type: "boolean", optional: true, nullable: true },
  logprob: { type: "number", optional: true, nullable: true },
};

function fromText(b: CsvBatch): RawBatch {
  return {
    length: b.length,
    index: b.number("index")!,
    score: b.number("score"),
    matches: b.number("matches"),
    firstMismatch: b.number("first_mismatch")!,
    memorized: b.boolean("memorized"),
    logprob: b.number("logprob"),
  };
}

/** Converts a raw batch and checks its rows: the checker's checks, and what only a file can hold wrong (score
 *  against matches, memorized against first_mismatch, values in columns the file should not fill). */
function toBatch(raw: RawBatch, checker: RowChecker, outputs: BatchArrays): ResultsBatch {
  const n = raw.length, c = checker.continuation, at = checker.rows;
  const rawIndex = raw.index, rawFirst = raw.firstMismatch, memorized = raw.memorized ?? null;
  const score = raw.score ?? null, rawMatches = raw.matches ?? null;
  const firstMismatch = outputs.get("first_mismatch", n, Int16Array);
  const matches = checker.hasMatches ? outputs.get("matches", n, Int16Array) : null;
  for (let i = 0; i < n; i++) {
    checker.index(at + i, rawIndex[i]);
    const f = rawFirst[i];
    if (matches === null) {
      checker.values(at + i, f, NaN);
      firstMismatch[i] = f;
      continue;
    }
    const s = score !== null ? score[i] : NaN, k = rawMatches !== null ? rawMatches[i] : NaN;
    if (s === s && !(s >= 0 && s <= 1)) checker.fail(at + i, `has score ${s}; expected a number in [0, 1]`);
    let v = k;
    if (k !== k) {
      if (s !== s) checker.fail(at + i, "has no score or matches, but the file has them (score mode)");
      v = Math.round(s * c);
      if (Math.abs(s * c - v) > 1e-6) checker.fail(at + i, `has score ${s}, not a multiple of 1/${c}`);
    }
    checker.values(at + i, f, v);
    if (k === k && s === s && Math.abs(s - k / c) > 1e-9) {
      checker.fail(at + i, `has score ${s} but matches ${k}; score must be matches / ${c} = ${k / c}`);
    }
    firstMismatch[i] = f;
    matches[i] = v;
  }
  checker.rows += n;
  if (matches === null) {
    for (const [name, col] of [["score", score], ["matches", rawMatches]] as const) {
      if (!col) continue;
      for (let i = 0; i < n; i++) {
        if (col[i] === col[i]) {
          checker.fail(at + i, `has ${name} ${col[i]} in a file without them (extractable mode)`);
        }
      }
    }
  }
  if (memorized !== null) { // after the values it is checked against, so their errors come first
    for (let i = 0; i < n; i++) {
      const v = memorized[i];
      if (!(v === 0 || v === 1)) checker.fail(at + i, "has no memorized value");
      if ((v === 1) !== (firstMismatch[i] === c)) {
        checker.fail(at + i, `has memorized ${v === 1} but first_mismatch ${firstMismatch[i]} (of ${c})`);
      }
    }
  }
  let logprob: Float32Array | null = null;
  if (checker.hasLogprob) {
    if (!raw.logprob) {
      throw new EngramError(`${checker.path}: no logprob column, but its provenance says --logprob`);
    }
    const values = raw.logprob;
    for (let i = 0; i < n; i++) if (!isLogprob(values[i])) checker.logprob(at + i, values[i]);
    logprob = outputs.get("logprob", n, Float32Array);
    logprob.set(values);
  }
  const index = outputs.reuse ? rawIndex : rawIndex.slice(); // raw arrays are always reused
  return { length: n, index, matches, firstMismatch, logprob };
}

/** Continuation length of a file without provenance: a memorized row's first_mismatch, or matches/score. */
function inferContinuation(raw: RawBatch | undefined): number {
  if (!raw) return PAPER_CONTINUATION;
  for (let i = 0; i < raw.length; i++) {
    if (raw.memorized?.[i] === 1) return raw.firstMismatch[i];
    const m = raw.matches?.[i], s = raw.score?.[i];
    if (m !== undefined && s !== undefined && m === m && s > 0) return Math.round(m / s);
  }
  return PAPER_CONTINUATION;
}

const someValue = (col: Float64Array | undefined) => col?.some((v) => v === v) ?? false;

/**
 * Opens a results file (.parquet, .csv, .jsonl) for reading batch by batch. What can be checked without
 * reading the rows is checked here (provenance, the sidecar's length, Parquet's row count); the rows are checked
 * as `batches` reads them.
 */
export function openResults(path: string): Promise<ResultsReader> {
  return openReader(path, null);
}

/**
 * `openResults` of a Parquet file the caller has opened already (its footer is not read again).
 *
 * @ignore io/parquet.ts's ParquetFile is not public API: analysis/load.ts alone calls this.
 */
export function openParquetResults(file: ParquetFile): Promise<ResultsReader> {
  return openReader(file.path, file);
}

async function openReader(path: string, parquet: ParquetFile | null): Promise<ResultsReader> {
  const format = formatOf(path);
  let provenance: Provenance | null;
  let rows: number | null;
  let names: string[];
  // The file's batches as it holds them; `observe` sees every byte read (CSV/JSONL, to check the CRC).
  let raw: (observe?: (bytes: Uint8Array) => void) => AsyncGenerator<RawBatch>;
  let check: FileCheck | null = null;
  if (format === ".parquet") {
    const file = parquet ?? await ParquetFile.open(path);
    provenance = parquetProvenance(file);
    rows = file.rows;
    names = file.columnNames;
    if (provenance && provenance.rows !== rows) {
      throw new EngramError(
        `${path}: holds ${rows} rows but its provenance says ${provenance.rows}; a damaged file: score it again`,
      );
    }
    const wanted = Object.keys(RESULT_COLUMNS).filter((n) => names.includes(n));
    raw = async function* () {
      for await (const b of file.batches(wanted, { reuse: true })) {
        const col = (name: string) => b.columns.get(name);
        yield {
          length: b.length,
          index: col("index")!,
          score: col("score"),
          matches: col("matches"),
          firstMismatch: col("first_mismatch")!,
          memorized: col("memorized"),
          logprob: col("logprob"),
        };
      }
    };
  } else {
    const side = await readSidecar(path);
    provenance = side?.provenance ?? null;
    check = side?.check ?? null;
    rows = provenance?.rows ?? null;
    const csv = format === ".csv";
    names = csv ? (await openCsv(path, RESULT_COLUMNS)).header : Object.keys(RESULT_COLUMNS);
    raw = async function* (observe) {
      const options = { observe, reuse: true, expectRows: rows ?? undefined };
      const file = csv
        ? await openCsv(path, RESULT_COLUMNS, options)
        : openJsonl(path, RESULT_COLUMNS, options);
      for await (const b of file.batches()) yield fromText(b);
    };
  }
  for (const name of ["index", "first_mismatch"]) {
    ensure(
      names.includes(name),
      () => `${path}: no "${name}" column (has ${names.join(", ")}); is this an engram results file?`,
    );
  }
  let continuation: number, hasMatches: boolean, hasLogprob: boolean;
  if (provenance) {
    continuation = provenance.continuation;
    hasMatches = provenance.mode === "score";
    hasLogprob = provenance.logprob;
    if (hasMatches && !names.includes("matches") && !names.includes("score")) {
      throw new EngramError(`${path}: no "matches" or "score" column, but its provenance says mode "score"`);
    }
    if (hasLogprob && !names.includes("logprob")) {
      throw new EngramError(`${path}: no "logprob" column, but its provenance says --logprob`);
    }
  } else {
    // No provenance: what the file holds is told by its first batch.
    const first = await peek(raw());
    continuation = inferContinuation(first);
    hasMatches = someValue(first?.matches) || someValue(first?.score);
    hasLogprob = format === ".jsonl" ? someValue(first?.logprob) : names.includes("logprob");
  }
  return {
    path,
    format,
    provenance,
    continuation,
    rows,
    async *batches(options = {}) {
      const crc = new Crc32();
      const checker = new RowChecker(path, continuation, provenance, hasMatches, hasLogprob);
      const outputs = new BatchArrays(options.reuse ?? false);
      for await (const b of raw((bytes) => crc.update(bytes))) {
        yield toBatch(b, checker, outputs);
      }
      checker.end();
      if (check && (crc.bytes !== check.bytes || crc.hex() !== check.crc32)) {
        throw mismatch(path, check, `${crc.bytes} bytes with CRC-32 ${crc.hex()}`);
      }
    },
  };
}

async function peek<X>(gen: AsyncGenerator<X>): Promise<X | undefined> {
  const { value, done } = await gen.next();
  await gen.return(undefined);
  return done ? undefined : value;
}

/** Reads a whole (small) results file into one table; `openResults` reads files of any length. */
export async function readResults(
  path: string,
): Promise<{ table: ScoreTable; provenance: Provenance | null }> {
  const reader = await openResults(path);
  const batches: ResultsBatch[] = [];
  for await (const b of reader.batches()) batches.push(b);
  const n = batches.reduce((s, b) => s + b.length, 0);
  const join = <A extends Float64Array | Int16Array | Float32Array>(
    make: (n: number) => A,
    get: (b: ResultsBatch) => A,
  ) => {
    const out = make(n);
    let at = 0;
    for (const b of batches) {
      out.set(get(b), at);
      at += b.length;
    }
    return out;
  };
  const first = batches[0];
  const hasMatches = first ? first.matches !== null : reader.provenance?.mode === "score";
  const hasLogprob = first ? first.logprob !== null : reader.provenance?.logprob ?? false;
  return {
    table: {
      index: join((k) => new Float64Array(k), (b) => b.index),
      matches: hasMatches ? join((k) => new Int16Array(k), (b) => b.matches!) : null,
      firstMismatch: join((k) => new Int16Array(k), (b) => b.firstMismatch),
      logprob: hasLogprob ? join((k) => new Float32Array(k), (b) => b.logprob!) : null,
      continuation: reader.continuation,
    },
    provenance: reader.provenance,
  };
}

// --------------------------------------------------------------------------------------------------- writing

/** How `writeResults` and `writeResultsStream` lay out a file. */
export interface WriteOptions {
  /** Rows per Parquet row group (default BATCH_ROWS). */
  rowGroupRows?: number;
}

/** Writes the rows of one format into an AtomicFile. */
interface Encoder {
  write(b: ResultsBatch): Promise<void>;
  finish(): Promise<void>;
}

/** Rows to write that messages about a bad row name by `source` (a journal: the file it was to become
 *  is not what is damaged). */
export interface NamedRows extends AsyncIterable<ResultsBatch> {
  /** What holds the rows, as messages about them name it. */
  readonly source: string;
}

/** Rows marked by `checkedAsRead` (held weakly: the mark goes with the rows). */
const checkedAsRead = new WeakSet<object>();

/**
 * Marks rows every one of which was checked as it was read, by `openResults` readers of files that together hold
 * exactly the provenance's rows, in order (merge's shards), whose messages named the file, row and value: the
 * writer then checks each batch's columns, first and last index, and the count, not every row again. io/ only
 * (not in mod.ts): a library caller's rows are always checked.
 */
export function rowsCheckedAsRead<T extends NamedRows>(rows: T): T {
  checkedAsRead.add(rows);
  return rows;
}

/**
 * Writes a results file from batches of rows (any number, any sizes), checking every row and, at the end, that
 * the file holds exactly the provenance's rows (messages name `path`, or the `source` of NamedRows). The file
 * (and its sidecar) appear whole when this returns, or not at all when it throws.
 */
export async function writeResultsStream(
  path: string,
  provenance: Provenance,
  batches: NamedRows | AsyncIterable<ResultsBatch> | Iterable<ResultsBatch>,
  options: WriteOptions = {},
): Promise<{ rows: number; memorized: number }> {
  const format = formatOf(path);
  const prov = checkProvenance(structuredClone(provenance), `${path} (provenance to write)`);
  const c = prov.continuation;
  const source = "source" in batches ? batches.source : path;
  const checked = checkedAsRead.has(batches);
  const checker = new RowChecker(source, c, prov, prov.mode === "score", prov.logprob);
  const out = await AtomicFile.create(path);
  let side: AtomicFile | null = null;
  try {
    const encoder = format === ".parquet"
      ? parquetEncoder(out, prov, options.rowGroupRows ?? BATCH_ROWS)
      : textEncoder(out, format, prov);
    let memorized = 0;
    for await (const b of batches) {
      checker.check(b, checked);
      for (let i = 0; i < b.length; i++) if (b.firstMismatch[i] === c) memorized++;
      await encoder.write(b);
    }
    checker.end();
    await encoder.finish();
    await out.close();
    if (format !== ".parquet") {
      // The sidecar names the data it belongs to; it is renamed into place first, the data last.
      side = await AtomicFile.create(provenancePath(path));
      const check: FileCheck = { bytes: out.bytes, crc32: out.crc.hex() };
      await side.write(
        new TextEncoder().encode(JSON.stringify({ ...prov, results_file: check }, null, 1) + "\n"),
      );
      await side.commit();
    }
    await out.commit();
    return { rows: checker.rows, memorized };
  } catch (e) {
    await out.abort();
    await side?.abort();
    throw e;
  }
}

/**
 * The first field (in `a`'s order, then `b`'s new ones) whose value differs between two objects as JSON, those
 * in `skip` aside: its name and both values as JSON (undefined where absent); null when none differs. Used for
 * the provenance of shards (io/merge.ts) and for scoring journals' keys (scoring/journal.ts).
 */
export function firstDifference(
  a: unknown,
  b: unknown,
  skip: ReadonlySet<string> = new Set(),
): { field: string; a?: string; b?: string } | null {
  const x = (a ?? {}) as Record<string, unknown>, y = (b ?? {}) as Record<string, unknown>;
  for (const field of new Set([...Object.keys(x), ...Object.keys(y)])) {
    if (skip.has(field)) continue;
    const u = JSON.stringify(x[field]), v = JSON.stringify(y[field]);
    if (u !== v) return { field, a: u, b: v };
  }
  return null;
}

/** Writes a results file from one table (small files; `writeResultsStream` for any length). */
export async function writeResults(
  path: string,
  table: ScoreTable,
  prov: Provenance,
  options: WriteOptions = {},
): Promise<void> {
  ensure(
    prov.continuation === table.continuation,
    () =>
      `${path}: provenance says continuation ${prov.continuation} but the table has ${table.continuation}; ` +
      `make them agree`,
  );
  const n = table.index.length;
  for (
    const [name, col] of [["matches", table.matches], ["firstMismatch", table.firstMismatch], [
      "logprob",
      table.logprob,
    ]] as const
  ) {
    ensure(
      col === null || col.length === n,
      () => `${path}: column ${name} has ${col!.length} rows but index has ${n}`,
    );
  }
  ensure(
    (table.matches === null) === (prov.mode === "extractable"),
    () =>
      `${path}: mode "${prov.mode}" needs matches ${
        prov.mode === "extractable" ? "= null" : "per row"
      }; pass the table the decoder produced`,
  );
  const batch = { length: n, ...table };
  await writeResultsStream(path, prov, [batch], options);
}

/** The Parquet columns of a results file with this provenance. */
function parquetColumns(prov: Provenance): ParquetColumnSpec[] {
  const c = prov.continuation;
  const counts = Array.from({ length: c + 1 }, (_, k) => k);
  return [
    { name: "index", type: "INT64", optional: false },
    { name: "score", type: "DOUBLE", optional: true, dictionary: counts.map((k) => k / c) },
    { name: "matches", type: "INT32", optional: true, dictionary: counts },
    { name: "first_mismatch", type: "INT32", optional: false, dictionary: counts },
    { name: "memorized", type: "BOOLEAN", optional: false },
    ...(prov.logprob ? [{ name: "logprob", type: "DOUBLE", optional: false } as const] : []),
  ];
}

/** Row groups of `groupRows` rows, whatever the sizes of the batches that fill them. */
function parquetEncoder(out: AtomicFile, prov: Provenance, groupRows: number): Encoder {
  const writer = new ParquetWriter(out, parquetColumns(prov), [{
    key: PROVENANCE_KEY,
    value: JSON.stringify(prov),
  }], `engram ${prov.engram_version}`);
  const c = prov.continuation;
  const index = new Float64Array(groupRows);
  const matches = prov.mode === "score" ? new Int16Array(groupRows) : null;
  const firstMismatch = new Int16Array(groupRows);
  const memorized = new Uint8Array(groupRows);
  const logprob = prov.logprob ? new Float64Array(groupRows) : null;
  let n = 0;
  const flush = async () => {
    if (n === 0) return;
    const cut = <A extends { subarray(a: number, b: number): A }>(a: A) => a.subarray(0, n);
    const m = matches ? cut(matches) : null;
    await writer.writeRowGroup(n, [
      cut(index),
      m,
      m,
      cut(firstMismatch),
      cut(memorized),
      ...(logprob ? [cut(logprob)] : []),
    ]);
    n = 0;
  };
  return {
    async write(b) {
      for (let at = 0; at < b.length;) {
        const k = Math.min(groupRows - n, b.length - at);
        index.set(b.index.subarray(at, at + k), n);
        if (matches) matches.set(b.matches!.subarray(at, at + k), n);
        firstMismatch.set(b.firstMismatch.subarray(at, at + k), n);
        for (let i = 0; i < k; i++) memorized[n + i] = b.firstMismatch[at + i] === c ? 1 : 0;
        if (logprob) logprob.set(b.logprob!.subarray(at, at + k), n);
        n += k;
        at += k;
        if (n === groupRows) await flush();
      }
    },
    async finish() {
      await flush();
      await writer.finish();
    },
  };
}

/** CSV or JSONL rows written as bytes, a slice of rows at a time; numbers that repeat are encoded once. */
function textEncoder(out: AtomicFile, format: ".csv" | ".jsonl", prov: Provenance): Encoder {
  const enc = new TextEncoder();
  const c = prov.continuation;
  const small = Array.from({ length: c + 1 }, (_, k) => enc.encode(String(k)));
  const scores = Array.from({ length: c + 1 }, (_, k) => enc.encode(String(k / c)));
  const csv = format === ".csv";
  const key = (name: string) => enc.encode(csv ? "," : `,"${name}":`);
  const [kScore, kMatches, kFirst, kMemorized, kLogprob] = [
    "score",
    "matches",
    "first_mismatch",
    "memorized",
    "logprob",
  ]
    .map(key);
  const open = enc.encode(csv ? "" : '{"index":');
  const close = enc.encode(csv ? "\n" : "}\n");
  const empty = enc.encode(csv ? "" : "null");
  const bools = [enc.encode("false"), enc.encode("true")];
  const SLICE = 1 << 16;
  const buffer = new Uint8Array(SLICE * (160 + 2 * scores.reduce((m, s) => Math.max(m, s.length), 0)));
  let started = false;
  const start = async () => {
    if (!started && csv) {
      await out.write(
        enc.encode(`index,score,matches,first_mismatch,memorized${prov.logprob ? ",logprob" : ""}\n`),
      );
    }
    started = true;
  };
  return {
    async write(b) {
      await start();
      for (let from = 0; from < b.length; from += SLICE) {
        let p = 0;
        const put = (bytes: Uint8Array) => {
          buffer.set(bytes, p);
          p += bytes.length;
        };
        for (let i = from; i < Math.min(b.length, from + SLICE); i++) {
          put(open);
          p = writeInteger(buffer, p, b.index[i]);
          const m = b.matches ? b.matches[i] : -1, f = b.firstMismatch[i];
          put(kScore);
          put(m >= 0 ? scores[m] : empty);
          put(kMatches);
          put(m >= 0 ? small[m] : empty);
          put(kFirst);
          put(small[f]);
          put(kMemorized);
          put(bools[f === c ? 1 : 0]);
          if (b.logprob) {
            put(kLogprob);
            const v = b.logprob[i];
            // (in LOGPROB_DOMAIN: checked) JSON has no number for -Infinity: the string "-Infinity", which
            // JSON.parse gives back as a string that this reader and Number() read as -Infinity.
            p +=
              enc.encodeInto(csv || v !== -Infinity ? String(v) : '"-Infinity"', buffer.subarray(p)).written;
          }
          put(close);
        }
        await out.write(buffer.subarray(0, p));
      }
    },
    finish: start,
  };
}

/** Writes the decimal digits of a non-negative integer < 2^53 at buffer[p]; returns the end. */
function writeInteger(buffer: Uint8Array, p: number, x: number): number {
  if (x < 10) {
    buffer[p] = 48 + x;
    return p + 1;
  }
  let digits = 0;
  for (let y = x; y >= 1; y = Math.floor(y / 10)) digits++;
  for (let k = p + digits - 1, y = x; k >= p; k--) {
    const q = Math.floor(y / 10);
    buffer[k] = 48 + (y - q * 10);
    y = q;
  }
  return p + digits;
}
