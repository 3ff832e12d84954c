// Reading results files (Parquet, CSV, JSONL) a batch at a time, and their provenance, checked as read.
import { EngramError, ensure } from "../base/errors.ts";
import { isObject, parseJson, readJsonFile } from "../base/fs.ts";
import { PAPER_CONTINUATION } from "../engine/paper.ts";
import { BatchArrays } from "./arrays.ts";
import { type CsvBatch, type CsvColumnSpec, openCsv } from "./csv.ts";
import { Crc32 } from "../base/atomic.ts";
import { fileSize } from "./files.ts";
import { openJsonl } from "./jsonl.ts";
import { ParquetFile } from "./parquet.ts";
import { checkProvenance, type Provenance, PROVENANCE_KEY, provenancePath } from "./provenance.ts";
import { RowChecker } from "./results_check.ts";
import {
  isLogprob,
  REQUIRED_COLUMNS,
  RESULT_COLUMNS,
  type ResultsBatch,
  type ResultsFormat,
  resultsFormat,
  type ScoreTable,
} from "./results_schema.ts";

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

/** What a CSV/JSONL sidecar says about the data file it belongs to. */
export interface FileCheck {
  /** The data file's length in bytes. */
  bytes: number;
  /** The data file's CRC-32, 8 lowercase hex digits. */
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

/** The error for a data file that does not match its sidecar's FileCheck (`found`: what it has instead). */
export const mismatch = (path: string, c: FileCheck, found: string): EngramError =>
  new EngramError(
    `${path} does not match its provenance ${provenancePath(path)} (written for a file of ${c.bytes} bytes ` +
      `with CRC-32 ${c.crc32}; this one has ${found}): the pair is from different runs or the data was changed; ` +
      `score again, or delete the sidecar to read the data without provenance`,
  );

/** A results file's provenance, from the Parquet footer or the CSV/JSONL sidecar (not reading the rows). */
export async function readProvenance(path: string): Promise<Provenance | null> {
  const format = resultsFormat(path);
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

/** The columns as CSV and JSONL are read: those a file may lack optional and nullable (see RESULT_COLUMNS). */
const TEXT_COLUMNS: Record<string, CsvColumnSpec> = Object.fromEntries(
  RESULT_COLUMNS.map((c) => [
    c.name,
    REQUIRED_COLUMNS.includes(c.name)
      ? { type: c.type === "BOOLEAN" ? "boolean" : "number" }
      : { type: c.type === "BOOLEAN" ? "boolean" : "number", optional: true, nullable: true },
  ]),
);

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
 * @ignore io/parquet.ts's ParquetFile is not public API: analysis/load.ts alone calls this.
 */
export function openParquetResults(file: ParquetFile): Promise<ResultsReader> {
  return openReader(file.path, file);
}

async function openReader(path: string, parquet: ParquetFile | null): Promise<ResultsReader> {
  const format = resultsFormat(path);
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
    const wanted = Object.keys(TEXT_COLUMNS).filter((n) => names.includes(n));
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
    names = csv ? (await openCsv(path, TEXT_COLUMNS)).header : Object.keys(TEXT_COLUMNS);
    raw = async function* (observe) {
      const options = { observe, reuse: true, expectRows: rows ?? undefined };
      const file = csv ? await openCsv(path, TEXT_COLUMNS, options) : openJsonl(path, TEXT_COLUMNS, options);
      for await (const b of file.batches()) yield fromText(b);
    };
  }
  for (const name of REQUIRED_COLUMNS) {
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
