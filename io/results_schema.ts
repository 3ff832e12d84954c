// The rows of a results file as engram holds them in memory, and what every format shares: the formats, the
// logprob domain, the batch size.
import { ensure } from "../base/errors.ts";
import { extname } from "../base/path.ts";

/** A results file's rows as typed columns, one entry per row, sorted by index: what `ScoreTable` (a whole
 *  file) and `ResultsBatch` (some of its rows) both are. */
export interface ResultRows {
  /** Row index in the training data (may exceed 2^31; exact up to 2^53), strictly increasing. */
  index: Float64Array;
  /** Greedy tokens equal to the true continuation; null when the file has none (extractable mode). */
  matches: Int16Array | null;
  /** First position where greedy ≠ truth, = continuation length if none. */
  firstMismatch: Int16Array;
  /** Mean log-prob of the true continuation; null when the file has no logprob column. */
  logprob: Float32Array | null;
}

/** Columnar scores of a whole (small) results file (`readResults`). */
export interface ScoreTable extends ResultRows {
  /** Continuation length (32 in the paper). */
  continuation: number;
}

/** A batch of rows of a results file, in file order. */
export interface ResultsBatch extends ResultRows {
  /** Rows in this batch (≤ ~1M). */
  length: number;
}

/** The extensions of results files, one per format. */
export const RESULT_FORMATS = [".parquet", ".csv", ".jsonl"] as const;
/** A results file's format, named by its extension. */
export type ResultsFormat = typeof RESULT_FORMATS[number];

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

/** A results file's format, by its extension (refused: any other). */
export function resultsFormat(path: string): ResultsFormat {
  const ext = extname(path).toLowerCase();
  ensure(
    (RESULT_FORMATS as readonly string[]).includes(ext),
    () =>
      `${path}: unknown results format "${ext || "(no extension)"}"; name the file .parquet, .csv or .jsonl`,
  );
  return ext as ResultsFormat;
}

/**
 * The columns of a results file, in order: the one list the Parquet, CSV and JSONL layouts derive from.
 * `type`: as Parquet stores it (CSV and JSONL: numbers, memorized as true/false). `in`: which rows hold a value:
 * every row; in score mode only (null in extractable mode); files with --logprob only (the column is absent
 * without). `derived`: computed from the others where written (score = matches/continuation, memorized =
 * first_mismatch = continuation), so a file without it is still read. `values`: the only values it can hold,
 * k/continuation ("fractions") or k ("counts") for k in [0, continuation] (Parquet writes them as a dictionary).
 * `journal`: how the scoring journal (scoring/journal.ts) records it, for every column not derived; its records
 * lay these fields out in this order.
 */
export const RESULT_COLUMNS = [
  { name: "index", type: "INT64", in: "every row", journal: { field: "index", type: "f64" } },
  { name: "score", type: "DOUBLE", in: "score mode", derived: true, values: "fractions" },
  {
    name: "matches",
    type: "INT32",
    in: "score mode",
    values: "counts",
    journal: { field: "matches", type: "i16" },
  },
  {
    name: "first_mismatch",
    type: "INT32",
    in: "every row",
    values: "counts",
    journal: { field: "firstMismatch", type: "i16" },
  },
  { name: "memorized", type: "BOOLEAN", in: "every row", derived: true },
  {
    name: "logprob",
    type: "DOUBLE",
    in: "with --logprob",
    journal: { field: "logprob", type: "f32" },
  },
] as const satisfies readonly ResultColumn[];

/** One column of RESULT_COLUMNS. */
export interface ResultColumn {
  /** Its name in every format (Parquet column, CSV header, JSONL key). */
  name: string;
  /** Its Parquet physical type. */
  type: "INT64" | "INT32" | "DOUBLE" | "BOOLEAN";
  /** Which rows hold a value. */
  in: "every row" | "score mode" | "with --logprob";
  /** Computed from other columns where written, never recorded on its own. */
  derived?: true;
  /** The only values it holds, for a continuation of length c: k/c ("fractions") or k ("counts"), k in [0, c]. */
  values?: "fractions" | "counts";
  /** How the scoring journal records it; present exactly on the columns not derived. */
  journal?: JournalField;
}

/** A column as the scoring journal records it: one field of its fixed-size little-endian record. */
export interface JournalField {
  /** The column's key in ResultRows (and in the scorer's columns). */
  field: keyof ResultRows;
  /** Its binary type: f64 (8 bytes), i16 (2) or f32 (4); a row without a value holds ScoreColumns' sentinel. */
  type: "f64" | "i16" | "f32";
}

/** The names of the columns a file with (or without) --logprob holds, in order. */
export const resultColumnNames = (logprob: boolean): string[] =>
  RESULT_COLUMNS.filter((c) => logprob || c.in !== "with --logprob").map((c) => c.name);

/** The columns every results file must have, whatever its mode (the rest can be told or derived without). */
export const REQUIRED_COLUMNS: string[] = (RESULT_COLUMNS as readonly ResultColumn[])
  .filter((c) => c.in === "every row" && !c.derived).map((c) => c.name);
