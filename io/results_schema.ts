// The rows of a results file as engram holds them in memory, and what every format shares: the formats, the
// logprob domain, the batch size.
import { ensure } from "../engine/errors.ts";
import { extname } from "../engine/path.ts";

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
