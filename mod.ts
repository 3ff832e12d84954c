/**
 * engram's public API: GPT-NeoX (Pythia) inference on WebGPU and memorization scoring. Everything here runs
 * from the bare Deno binary (no npm packages). The report is `analysis/report.ts` (`computeReport`,
 * `writeReport`); results files are `io/results.ts` (`openResults`, `readProvenance`,
 * `writeResultsStream`; `readResults`/`writeResults` for small files).
 *
 * @example
 * ```ts
 * import { Gpu, MegatronDataset, NeoXModel, Decoder } from "./mod.ts";
 * const gpu = await Gpu.open();
 * const model = await NeoXModel.load(gpu, "fixtures/pico/models/pico-3/step1092");
 * const decoder = await Decoder.create(model, { batch: 64, prompt: 32, cont: 32 });
 * const data = await MegatronDataset.open("fixtures/pico/data/pico_document");
 * const tokens = await data.read([0, 1, 2], 0, 64, model.cfg.vocabSize);
 * const greedy = await decoder.greedy(tokens, 3); // 3 × 32 token ids
 * ```
 */
export { EngramError } from "./engine/errors.ts";
export { type AdapterSummary, Gpu, GpuOutOfMemory } from "./engine/gpu.ts";
export { configHash, countParameters, loadConfig, type NeoXConfig, parseConfig } from "./engine/config.ts";
export { type DType, SafetensorsCheckpoint, type TensorInfo, toFloat32 } from "./engine/safetensors.ts";
export { mapNeoXTensors, type NeoXTensors } from "./engine/weights.ts";
export { NeoXModel, ropeTable } from "./engine/model.ts";
export { fitWorkspace, Workspace, type WorkspaceRequest } from "./engine/workspace.ts";
export { Decoder, type DecoderOptions, DEFAULT_CHUNKS, type ExtractOptions } from "./engine/decoder.ts";
export {
  compareContinuation,
  type ScoreJob,
  type ScoreMode,
  type ScoreProgress,
  scoreRows,
  type ScoreSink,
} from "./engine/memorization.ts";
export { Journal, type ScoreColumns } from "./engine/journal.ts";
export { MegatronDataset, MemoryRows, NpyRows, openRowSource, type RowSource } from "./engine/data.ts";
