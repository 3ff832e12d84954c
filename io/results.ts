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
//
// The rooms: io/provenance.ts (the provenance and shards), io/results_schema.ts (the rows in memory, formats),
// io/results_check.ts (the row checks), io/results_read.ts (readers), io/results_write.ts (writers).
export {
  checkProvenance,
  firstDifference,
  MAY_DIFFER_IN_MERGE,
  parseShard,
  type Provenance,
  PROVENANCE_KEY,
  provenancePath,
  provenanceRange,
  RECORDED_SINCE,
  SCORED_ALIKE,
  shardRange,
} from "./provenance.ts";
export {
  BATCH_ROWS,
  isLogprob,
  LOGPROB_DOMAIN,
  RESULT_COLUMNS,
  RESULT_FORMATS,
  type ResultRows,
  type ResultsBatch,
  type ResultsFormat,
  type ScoreTable,
} from "./results_schema.ts";
export {
  openParquetResults,
  openResults,
  readProvenance,
  readResults,
  type ResultsReader,
} from "./results_read.ts";
export {
  type NamedRows,
  type WriteOptions,
  writeResults,
  writeResultsStream,
  writeRowsCheckedAsRead,
} from "./results_write.ts";
