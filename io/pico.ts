// The embedded pico suite (fixtures/pico; fixtures/README.md says where it came from): one home for its paths,
// used by the demo, score's defaults, bench and the tests. Paths are relative to the repository root, which is
// where the README's commands run; `PICO_ROOT` gives them from anywhere.

/** The repository root (absolute), so tests and tools can find the fixtures from any working directory. */
export const PICO_ROOT: string = new URL("../", import.meta.url).pathname;

/** Suite folder: `<model>/<revision>/` for pico-1..3 at step273, step546, step819, step1092. */
export const PICO_MODELS = "fixtures/pico/models";
/** Megatron prefix of the suite's pre-shuffled training rows. */
export const PICO_DATA = "fixtures/pico/data/pico_document";
/** tokenizer.json of the suite. */
export const PICO_TOKENIZER = "fixtures/pico/tokenizer";
/** model,params,rows_per_step,tokens_per_row of each model. */
export const PICO_META = "fixtures/pico/meta.csv";
/** HF fp32 reference scores of pico-1..3 (model,revision,index,score,first_mismatch,margin). */
export const PICO_REFERENCE = "fixtures/pico/reference/scores-pico-1-2-3.csv";
/** The checkpoint that bench times by default (the largest embedded model, fully trained). */
export const PICO_BENCH_MODEL = "fixtures/pico/models/pico-3/step1092";

/** `path` (one of the above) from anywhere: absolute, under the repository root. */
export const picoPath = (path: string): string => `${PICO_ROOT}${path}`;
