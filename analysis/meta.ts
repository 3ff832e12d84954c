// What the report knows about each model and revision: parameters, training step, tokens per step.
// Sources, first wins: --meta CSV, the results' provenance (parameters; its model_path leads to the model's
// folder metadata below), --models DIR config.json, Pythia's published sizes.
//
// Folder metadata, looked for in the checkpoint folder of the provenance's model_path and up to three folders
// above it (model, suite), nearest first:
//   - engram.json: {"rows_per_step": 1024, "tokens_per_row": 2048} (either may be left out), for any model;
//   - suite.json of a training suite (fixtures/pico/suite.json): "batch" rows per step, and tokens per row
//     from models[<model>].tokens_seen / (steps × batch), else "seq" − 1 (rows hold seq tokens with the label).
// The tokenizer is found the same way: tokenizer.json in one of those folders or in their tokenizer/.
import { countParameters, loadConfig } from "../engine/config.ts";
import { EngramError, ensure } from "../base/errors.ts";
import { isFile, isObject, readJsonFile } from "../base/fs.ts";
import { PYTHIA_ROWS_PER_STEP } from "../engine/paper.ts";
import { join } from "../base/path.ts";
import { foldersAbove } from "../io/checkpoints.ts";
import { openCsv, parseNumber } from "../io/csv.ts";

/** Pythia's published total parameter counts (the Pythia README; equal to countParameters of each config). */
export const PYTHIA_PARAMS: Record<string, number> = {
  "14m": 14067712,
  "31m": 30494720,
  "70m": 70426624,
  "160m": 162322944,
  "410m": 405334016,
  "1b": 1011781632,
  "1.4b": 1414647808,
  "2.8b": 2775208960,
  "6.9b": 6857302016,
  "12b": 11846072320,
};
/** Pythia trained every model for 143,000 steps of 1,024 rows of 2,048 tokens. */
export const PYTHIA_FINAL_STEP = 143000;
/** Tokens per training row of every Pythia model. */
export const PYTHIA_TOKENS_PER_ROW = 2048;

/** Per-model facts given by the user (--meta) or found in the results. */
export interface ModelMeta {
  /** Parameters of the model. */
  params?: number;
  /** Training rows per optimizer step. */
  rowsPerStep?: number;
  /** Tokens per training row. */
  tokensPerRow?: number;
}

/** Training step of a revision: "step1092" → 1092; Pythia's "main" is its last step; otherwise null. */
export function stepOf(model: string, revision: string): number | null {
  const m = /^step(\d+)$/.exec(revision) ?? /(?:^|[^a-z])step[_-]?(\d+)/i.exec(revision);
  if (m) return Number(m[1]);
  if (revision === "main" && isPythia(model)) return PYTHIA_FINAL_STEP;
  return null;
}

const isPythia = (model: string) => /^pythia-/i.test(model);
const pythiaSize = (model: string) => /^pythia-(\d+(?:\.\d+)?[mb])(?:-|$)/i.exec(model)?.[1].toLowerCase();

/**
 * The suite a model belongs to, its size left out: "pythia-1.4b-deduped" → "pythia-*-deduped", "pico-3" → "pico-*";
 * "" when the name shows no size (then it is taken to be of the same suite as any model).
 */
export function suiteOf(model: string): string {
  const size = pythiaSize(model);
  if (size) return model.toLowerCase().replace(size, "*");
  const other = model.replace(/\d+(?:\.\d+)?[mbk]?(?=[^0-9]*$)/i, "*");
  return other === model ? "" : other;
}

/** Whether two models are of one suite (Pythia's duped and deduped models are two suites). */
export const sameSuite = (a: string, b: string): boolean =>
  suiteOf(a) === "" || suiteOf(b) === "" || suiteOf(a) === suiteOf(b);

/** Parameters of a Pythia model from the published sizes, else approximated from the name ("1.4b"). */
export function pythiaParams(model: string): { params: number; exact: boolean } | null {
  const size = pythiaSize(model);
  if (!size) return null;
  if (PYTHIA_PARAMS[size]) return { params: PYTHIA_PARAMS[size], exact: true };
  const value = Number(size.slice(0, -1)) * (size.endsWith("b") ? 1e9 : 1e6);
  return Number.isFinite(value) ? { params: value, exact: false } : null;
}

/** Reads --meta: a CSV with columns model,params and optionally rows_per_step,tokens_per_row. */
export async function readMetaCsv(path: string): Promise<Map<string, ModelMeta>> {
  // The numbers are read as the text written (dictionary columns), so a bad one is quoted as it stands.
  const written = { type: "dictionary", optional: true, nullable: true } as const;
  const meta = new Map<string, ModelMeta>();
  try {
    const csv = await openCsv(path, {
      model: { type: "dictionary" },
      params: { ...written, optional: false },
      rows_per_step: written,
      tokens_per_row: written,
    });
    for await (const batch of csv.batches()) {
      for (let i = 0; i < batch.length; i++) {
        const model = csv.dictionary("model")[batch.ids("model")![i]];
        const positive = (name: string): number | undefined => {
          const id = batch.ids(name)?.[i] ?? -1;
          if (id < 0) return undefined;
          const text = csv.dictionary(name)[id], bytes = new TextEncoder().encode(text);
          const v = parseNumber(bytes, 0, bytes.length);
          ensure(
            v > 0 && Number.isFinite(v),
            () => `${path}: ${name} of ${model} is "${text}"; expected a positive number`,
          );
          return v;
        };
        ensure(!meta.has(model), () => `${path}: ${model} has two rows; keep one row per model`);
        meta.set(model, {
          params: positive("params"),
          rowsPerStep: positive("rows_per_step"),
          tokensPerRow: positive("tokens_per_row"),
        });
      }
    }
  } catch (e) {
    if (e instanceof EngramError) throw new EngramError(`--meta ${e.message}`);
    throw e;
  }
  return meta;
}

/**
 * A note listing the rows of --meta that name no model of the results (a typo or another casing,
 * "pythia-410M" for "pythia-410m", would otherwise be ignored without a word); null when every row matches.
 */
export function unmatchedMetaNote(
  path: string,
  meta: Map<string, ModelMeta>,
  models: Iterable<string>,
): string | null {
  const known = [...new Set(models)];
  const unmatched = [...meta.keys()].filter((m) => !known.includes(m));
  if (unmatched.length === 0) return null;
  const named = unmatched.map((m) => {
    const like = known.find((k) => k.toLowerCase() === m.toLowerCase());
    return like ? `${m} (did you mean ${like}?)` : m;
  });
  return `--meta ${path}: ${unmatched.length === 1 ? "a row names" : "rows name"} no model of the results, ` +
    `ignored: ${named.join(", ")}; model names are matched exactly`;
}

/** The JSON object in the file at `path`; null when there is no file or it holds no object. */
async function readJsonIfThere(path: string): Promise<Record<string, unknown> | null> {
  const value = await readJsonFile(path, "fix or remove it");
  return isObject(value) ? value : null;
}

const positiveOr = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) && v > 0 ? v : undefined;

/** Rows per step and tokens per row from the folder metadata above a model (see the top of this file). */
export async function folderMeta(modelPath: string, model: string): Promise<ModelMeta & { from?: string }> {
  for (const dir of foldersAbove(modelPath)) {
    const engram = await readJsonIfThere(join(dir, "engram.json"));
    if (engram) {
      return {
        rowsPerStep: positiveOr(engram.rows_per_step),
        tokensPerRow: positiveOr(engram.tokens_per_row),
        from: join(dir, "engram.json"),
      };
    }
    const suite = await readJsonIfThere(join(dir, "suite.json"));
    if (suite) {
      const batch = positiveOr(suite.batch);
      const entry = (suite.models as Record<string, Record<string, unknown>> | undefined)?.[model];
      const seen = positiveOr(entry?.tokens_seen), steps = positiveOr(entry?.steps);
      const seq = positiveOr(suite.seq);
      return {
        rowsPerStep: batch,
        tokensPerRow: batch && seen && steps ? seen / (steps * batch) : seq ? seq - 1 : undefined,
        from: join(dir, "suite.json"),
      };
    }
  }
  return {};
}

/** Parameters from a GPT-NeoX config.json under dir: <dir>/<model>/<revision>/, <dir>/<model>/ or <dir>/. */
export async function configParams(dir: string, model: string, revision: string): Promise<number | null> {
  return await checkpointParams(join(dir, model, revision)) ?? await checkpointParams(join(dir, model));
}

/** The parameters of the checkpoint in `dir` from its config.json; null when it has none. */
async function checkpointParams(dir: string): Promise<number | null> {
  return await isFile(join(dir, "config.json")) ? countParameters(await loadConfig(dir)) : null;
}

/** What the report uses for one model@revision, with where each number came from. */
export interface SourceFacts {
  /** Parameters of the model; null when unknown. */
  params: number | null;
  /** Where the parameter count came from (e.g. "--meta"; "unknown" when nowhere). */
  paramsFrom: string;
  /** Training step of the revision; null when its name gives none. */
  step: number | null;
  /** Rows per optimizer step × tokens per row; null when not known. */
  tokensPerStep: number | null;
  /** Training rows per optimizer step; null when not known. */
  rowsPerStep: number | null;
}

/** Resolves the facts of one model@revision, with notes of the approximations made. */
export async function resolveFacts(
  model: string,
  revision: string,
  given: {
    meta: Map<string, ModelMeta>;
    provenanceParams?: number;
    modelDir?: string;
    modelsDir?: string;
    folder?: ModelMeta;
  },
): Promise<{ facts: SourceFacts; notes: string[] }> {
  const notes: string[] = [];
  const byFlag = given.meta.get(model) ?? {}, folder = given.folder ?? {};
  const meta: ModelMeta = {
    params: byFlag.params,
    rowsPerStep: byFlag.rowsPerStep ?? folder.rowsPerStep,
    tokensPerRow: byFlag.tokensPerRow ?? folder.tokensPerRow,
  };
  let params: number | null = null, paramsFrom = "unknown";
  if (meta.params) [params, paramsFrom] = [meta.params, "--meta"];
  else if (given.provenanceParams && given.provenanceParams > 0) {
    [params, paramsFrom] = [given.provenanceParams, "provenance"];
  } else if (given.modelDir || given.modelsDir) {
    const p = given.modelDir
      ? await checkpointParams(given.modelDir)
      : await configParams(given.modelsDir!, model, revision);
    if (p !== null) [params, paramsFrom] = [p, "config.json"];
  }
  if (params === null) {
    const pythia = pythiaParams(model);
    if (pythia?.exact) [params, paramsFrom] = [pythia.params, "Pythia's published sizes"];
    else if (pythia) {
      [params, paramsFrom] = [pythia.params, "approximated from the name"];
      notes.push(
        `${model}: parameters approximated from its name (${pythia.params.toExponential(2)}); ` +
          `pass --meta for the exact count`,
      );
    }
  }
  if (params === null) {
    notes.push(
      `${model}: parameters unknown (pass --meta CSV model,params or --models DIR with config.json)`,
    );
  }
  const pythia = isPythia(model);
  const rowsPerStep = meta.rowsPerStep ?? (pythia ? PYTHIA_ROWS_PER_STEP : null);
  const tokensPerRow = meta.tokensPerRow ?? (pythia ? PYTHIA_TOKENS_PER_ROW : null);
  const step = stepOf(model, revision);
  if (step === null) notes.push(`${model}@${revision}: no training step in the revision name (stepN)`);
  const facts = {
    params,
    paramsFrom,
    step,
    rowsPerStep,
    tokensPerStep: rowsPerStep !== null && tokensPerRow !== null ? rowsPerStep * tokensPerRow : null,
  };
  return { facts, notes };
}
