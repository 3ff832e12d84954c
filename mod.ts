/**
 * engram's public API: GPT-NeoX (Pythia) inference on WebGPU, memorization scoring of training rows, and the
 * results files scoring writes (Parquet, CSV or JSONL with their provenance). `scoreCheckpoint` is the whole
 * job the score command runs: one checkpoint's rows into one results file, resumable, under a lock. Everything here runs from the bare
 * Deno binary, no npm package loaded (Parquet in a foreign layout or with Snappy loads hyparquet, and with ZSTD,
 * GZIP, Brotli or LZ4 hyparquet-compressors, when first met). The forecasting report is `analysis/report.ts`
 * (`computeReport`, `writeReport`; it needs npm packages); JSONL texts are tokenized by `io/texts.ts`
 * (`loadTokenizer`, `openTextRows`).
 *
 * @example Score rows 0..63 of the embedded pico data with the smallest pico model into a results file
 * ```ts
 * import { scoreCheckpoint } from "./mod.ts";
 *
 * // Resumable (a killed run continues from its journal) and kept when rerun: a file answering the same job
 * // is skipped, one answering another is refused unless `force`.
 * const summary = await scoreCheckpoint({
 *   checkpoint: "fixtures/pico/models/pico-1/step1092",
 *   data: "fixtures/pico/data/pico_document",
 *   count: 64,
 *   out: "out/pico-1@step1092.parquet",
 * });
 * console.log(summary.rows, "rows,", summary.memorized, "memorized");
 * ```
 *
 * @example Score the first 8 rows of the embedded pico data with the largest pico model, in memory
 * ```ts
 * import { Decoder, Gpu, MegatronDataset, NeoXModel, scoreRows, type ScoreColumns } from "./mod.ts";
 *
 * const gpu = await Gpu.open();
 * const model = await NeoXModel.load(gpu, "fixtures/pico/models/pico-3/step1092");
 * // Its matmuls run the tile variants shipped for this adapter; `tuning: useTuning(gpu)` runs ./engram tune's.
 * const decoder = await Decoder.create(model, { batch: 8, prompt: 32, cont: 32 });
 * const data = await MegatronDataset.open("fixtures/pico/data/pico_document");
 *
 * // Greedy continuations of rows 0..2: 3 × 32 token ids.
 * const tokens = await data.read([0, 1, 2], 0, 64, model.cfg.vocabSize);
 * const greedy = await decoder.greedy(tokens, 3);
 * console.log(greedy.length); // 96
 *
 * // Memorization scores of rows 0..7, kept in memory (the score command journals them to disk instead).
 * const firstMismatch: number[] = [];
 * let done = 0;
 * await scoreRows(
 *   decoder,
 *   { source: data, start: 0, count: 8, offset: 0, mode: "score", suppress: null, logprob: false },
 *   {
 *     get done() {
 *       return done;
 *     },
 *     memorized: () => Promise.resolve(0),
 *     append(cols: ScoreColumns, n: number) {
 *       firstMismatch.push(...cols.firstMismatch.subarray(0, n));
 *       done += n;
 *       return Promise.resolve();
 *     },
 *   },
 * );
 * console.log(firstMismatch.filter((f) => f === 32).length, "of 8 rows memorized");
 * decoder.destroy();
 * model.destroy();
 * data.close();
 * gpu.destroy();
 * ```
 *
 * @example Read a results file a batch at a time
 * ```ts
 * import { openResults } from "./mod.ts";
 *
 * const reader = await openResults("out/demo/scores/pico-3@step1092.parquet");
 * console.log(reader.provenance?.model, reader.rows);
 * let memorized = 0;
 * for await (const batch of reader.batches()) {
 *   for (const f of batch.firstMismatch) if (f === reader.continuation) memorized++;
 * }
 * console.log(memorized, "rows memorized");
 * ```
 *
 * @module
 */
export { EngramError } from "./base/errors.ts";
export { type AdapterSummary, type GeneratedCode, Gpu, GpuOutOfMemory } from "./engine/gpu.ts";
export {
  type AdapterKey,
  shippedTuning,
  type TunedShape,
  Tuning,
  type TuningTable,
  useTuning,
} from "./engine/tuning.ts";
export {
  parseVariant,
  type TileFamily,
  type TileKernel,
  type TileVariant,
  variantName,
  type WeightFormat,
} from "./engine/tiles.ts";
export { configHash, countParameters, loadConfig, type NeoXConfig, parseConfig } from "./engine/config.ts";
export {
  type CheckpointFiles,
  checkpointFiles,
  type CheckpointFormat,
  CheckpointReader,
} from "./engine/checkpoint.ts";
export { type DType, isNeoXBuffer, type TensorInfo, toFloat32 } from "./engine/tensors.ts";
export { type LayerTensors, mapNeoXTensors, type NeoXTensors } from "./engine/weights.ts";
export { type Layer, type LoadOptions, NeoXModel, type Norm } from "./engine/model.ts";
export type { TexelMatrix, WeightMatrix } from "./engine/kernels.ts";
export { ropeTable, type WorkspaceRequest } from "./engine/workspace.ts";
export { Decoder, type DecoderOptions, DEFAULT_CHUNKS, type ExtractOptions } from "./engine/decoder.ts";
export {
  compareContinuation,
  type ScoreColumns,
  type ScoreJob,
  type ScoreMode,
  type ScoreProgress,
  scoreRows,
  type ScoreSink,
} from "./scoring/memorization.ts";
export { Journal, journalBatches } from "./scoring/journal.ts";
export {
  checkScoreSettings,
  openScoringData,
  scoreCheckpoint,
  type ScoreCheckpointOptions,
  type ScoreSettings,
  type ScoreSummary,
  type ScoringData,
} from "./scoring/job.ts";
export { MAX_CONTINUATION, PAPER_CONTINUATION, PAPER_PROMPT, PYTHIA_ROWS_PER_STEP } from "./engine/paper.ts";
export { type Checkpoint, resolveCheckpoints } from "./io/checkpoints.ts";
export type { DataOrigin } from "./io/hub.ts";
export { FileRows, MegatronDataset, MemoryRows, NpyRows, openRowSource, type RowSource } from "./io/rows.ts";
export {
  type NamedRows,
  openResults,
  type Provenance,
  readProvenance,
  readResults,
  RESULT_FORMATS,
  type ResultRows,
  type ResultsBatch,
  type ResultsFormat,
  type ResultsReader,
  type ScoreTable,
  type WriteOptions,
  writeResults,
  writeResultsStream,
} from "./io/results.ts";
export { type MergeOptions, mergeShards } from "./io/merge.ts";
