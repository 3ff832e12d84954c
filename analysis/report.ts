// The report: inputs → compact columns (dataset.ts) → the paper's numbers (report.json) → figures,
// report.html and report.md, written together into a temporary folder and renamed into place. Its rooms: the
// numbers' types (report_types.ts), the prose made of them (report_text.ts), the figures (report_figures.ts).
import { type RowSource, rowSourceFiles, rowSourceKind } from "../io/rows.ts";
import { EngramError, ensure } from "../base/errors.ts";
import { isFile } from "../base/fs.ts";
import { PAPER_PROMPT } from "../engine/paper.ts";
import { basename, dirname, isAbsolute, join, relative } from "../base/path.ts";
import { rowSourceFingerprint } from "../io/files.ts";
import { loadTokenizer, openTextRows } from "../io/texts.ts";
import { analysedIndices, buildDataset, type Dataset, type Source } from "./dataset.ts";
import {
  type BudgetChoice,
  chooseTarget,
  computeFrontier,
  forecasts,
  memorizedCorrelations,
  scalingFits,
  scoreHistograms,
  scoreStatistics,
  summarize,
} from "./forecast.ts";
import { reportHtml, reportMarkdown } from "./html.ts";
import { reportFigures } from "./report_figures.ts";
import { findingsText, recommendationText } from "./report_text.ts";
import type { BudgetRow, Report } from "./report_types.ts";
import { collectInputFiles, publishedList } from "./load.ts";
import { type ModelMeta, readMetaCsv, sameSuite, unmatchedMetaNote } from "./meta.ts";
import { findTokenizer } from "../io/checkpoints.ts";
import { rankedForecasts, thresholdText } from "./ranked.ts";
import { checkListAgainstData, memorizedSamples, type Sample } from "./samples.ts";
import { trainingOrders } from "./training_order.ts";

export type { BudgetRow, Report } from "./report_types.ts";
export { reportFigures } from "./report_figures.ts";

/** What a report is computed from (computeReport, writeReport). */
export interface ReportOptions {
  /** Results files or folders. */
  results: string[];
  /** "model@revision" or "model"; default: the largest model at its last revision. */
  target?: string;
  /** Rows in the training data, for memorized-evals inputs that list only memorized rows. */
  universe?: number;
  /** Analyse only the rows every input scored, instead of failing when row sets differ. */
  intersect?: boolean;
  /** CSV model,params[,rows_per_step,tokens_per_row]. */
  meta?: string;
  /** Folder with <model>/<revision>/config.json (or <model>/config.json) to count parameters. */
  models?: string;
  /** A checkpoint folder of each model by name, read before `models` (e.g. the Hugging Face cache, resolved by
   *  the caller with io/checkpoints.ts resolveCheckpoints). */
  modelDirs?: ReadonlyMap<string, string>;
  /** Tokenizer folder and training data prefix, to decode memorized rows (default: found from the target's
   *  provenance: its data, and the tokenizer.json nearest to its model). */
  tokenizer?: string;
  /** Training data (Megatron .bin/.idx prefix, .npy or .jsonl) to decode memorized rows from. */
  data?: string;
  /** Memorized rows of the target to show as text (default 10). */
  samples?: number;
  /** Compare sources scored differently (prompt, continuation, offset, data, mode, paper_compatible). */
  allowMixed?: boolean;
  /** Where the row store spills when it passes memoryBudget bytes (see DatasetOptions). */
  spillDir?: string;
  /** Bytes of pages kept in memory before they spill (see DatasetOptions; default 4 GiB). */
  memoryBudget?: number;
  /** Compute the properties of the text from the training rows (default true; they need the data). */
  textFeatures?: boolean;
  /** Where the text features are cached (default: not cached; writeReport: engram-cache beside the report). */
  cacheDir?: string;
  /** The combined forecaster's predictors (model@revisions; default: the cheap ones, see ranked.ts). */
  combine?: string[];
  /** Rankings with more cells are bootstrapped merged (default MAX_BOOTSTRAP_CELLS). */
  maxBootstrapCells?: number;
}

function budgetRows(frontier: BudgetChoice[]): BudgetRow[] {
  return frontier.map((b) => ({
    budget: b.budget,
    predictor: b.best.predictor,
    family: b.best.family,
    recall: b.best.recall,
    precision: b.best.precision,
    best_smaller_model: b.bestSmaller?.predictor ?? null,
    best_smaller_model_recall: b.bestSmaller?.recall ?? null,
    best_checkpoint: b.bestCheckpoint?.predictor ?? null,
    best_checkpoint_recall: b.bestCheckpoint?.recall ?? null,
  }));
}

/** The training rows and the tokenizer: as given, else found from the target's provenance (its data, and the
 *  tokenizer.json nearest to its model); null where neither says. The data must be the data the target was
 *  scored on, where its provenance records that data's fingerprint: --data of other rows is refused, and data
 *  rewritten at the provenance's path since is not used (`dataMissing` says why), so that the samples and the
 *  properties of the text never describe other rows. */
async function findTrainingData(
  options: ReportOptions,
  target: Source,
): Promise<{ data: string | null; tokenizer: string | null; dataMissing: string | null }> {
  // A memorized-evals list carries its rows' tokens: decoding them needs only the tokenizer.
  ensure(
    !options.tokenizer || options.data || target.listedOnly,
    "report: --tokenizer DIR decodes the training rows, which --data PREFIX names; pass both",
  );
  const p = target.provenance;
  // Texts are read with the tokenizer that scored them, when the provenance names it.
  const tokenizer = options.tokenizer ?? p?.tokenizer ??
    (p?.model_path ? await findTokenizer(p.model_path) : null);
  const scoredOn = async (data: string) =>
    !p?.data_fingerprint || await rowSourceFingerprint(data) === p.data_fingerprint;
  if (options.data) {
    ensure(
      !(await dataExists(options.data)) || await scoredOn(options.data),
      () =>
        `--data ${options.data} is not the data ${target.source} was scored on (${p!.data}: the sampled ` +
        `fingerprints of their files differ); pass that data, or drop --data`,
    );
    return { data: options.data, tokenizer, dataMissing: null };
  }
  if (!p?.data) return { data: null, tokenizer, dataMissing: null };
  if (!await dataExists(p.data)) return { data: null, tokenizer, dataMissing: `${p.data} is not there` };
  return await scoredOn(p.data) ? { data: p.data, tokenizer, dataMissing: null } : {
    data: null,
    tokenizer,
    dataMissing:
      `${p.data} changed since ${target.source} was scored (the sampled fingerprint of its files ` +
      `differs from the provenance's)`,
  };
}

/** The tokenizer and data that decode the memorized rows, or null with a note of what is lacking when the
 *  provenance or the flags promised them. */
function samplesInputs(
  found: { data: string | null; tokenizer: string | null; dataMissing: string | null },
  target: Source,
): { decode: { tokenizer: string; data: string | null } | null; note: string | null } {
  const none = { decode: null, note: null };
  if (target.listedOnly) {
    return found.tokenizer ? { decode: { data: found.data, tokenizer: found.tokenizer }, note: null } : none;
  }
  if (found.data && found.tokenizer) {
    return { decode: { data: found.data, tokenizer: found.tokenizer }, note: null };
  }
  const p = target.provenance;
  if (!p && !found.data) return none;
  return {
    decode: null,
    note: `memorized rows not decoded: ${
      [
        found.tokenizer
          ? ""
          : `no tokenizer.json in or above ${p?.model_path ?? "the model (no provenance)"}`,
        found.data ? "" : `the data ${found.dataMissing ?? "(not in the provenance) is not there"}`,
      ].filter((x) => x).join(" and ")
    } (from ${target.source}'s provenance); pass --tokenizer DIR --data PREFIX`,
  };
}

/** Whether the rows at `data` are there (a Megatron dataset's .idx, however the dataset is named). */
async function dataExists(data: string): Promise<boolean> {
  return await isFile(rowSourceFiles(data)[0]);
}

/** Reads the inputs and computes every number of the report. */
export async function computeReport(options: ReportOptions): Promise<{ report: Report }> {
  const paths = await collectInputFiles(options.results);
  const meta: Map<string, ModelMeta> = options.meta ? await readMetaCsv(options.meta) : new Map();
  const dataset = await buildDataset(paths, {
    universe: options.universe,
    intersect: options.intersect,
    meta,
    modelsDir: options.models,
    modelDirs: options.modelDirs,
    allowMixed: options.allowMixed,
    spillDir: options.spillDir,
    memoryBudget: options.memoryBudget,
  });
  const unmatched = options.meta &&
    unmatchedMetaNote(options.meta, meta, dataset.sources.map((s) => s.model));
  if (unmatched) dataset.notes.push(unmatched);
  try {
    return { report: await analyse(dataset, options) };
  } finally {
    dataset.close();
  }
}

async function analyse(dataset: Dataset, options: ReportOptions): Promise<Report> {
  const target: Source = chooseTarget(dataset.sources, options.target);
  const notes = [...dataset.notes];
  if (!options.target && target.params === null) {
    notes.push(`target ${target.source} chosen by name (parameters unknown); pass --target or --meta`);
  }
  const scores = await scoreStatistics(dataset);
  const summary = summarize(dataset, scores.counts);
  const list = forecasts(dataset, target, sameSuite);
  const frontier = computeFrontier(list);
  const targetSummary = summary.find((s) => s.source === target.source)!;
  const found = await findTrainingData(options, target);
  if (target.listedOnly && found.data) await checkListAgainstData(dataset, target, found.data);
  const p = target.provenance;
  const window = {
    prompt: p?.prompt ?? PAPER_PROMPT,
    continuation: p?.continuation ?? target.continuation,
    offset: p?.offset ?? 0,
  };
  let samples: Sample[] | null = null, samplesNote: string | null = null;
  const { decode, note: samplesLack } = samplesInputs(found, target);
  if (samplesLack) notes.push(samplesLack);
  if (decode) {
    samples = await memorizedSamples(dataset, target, { ...decode, count: options.samples ?? 10, ...window });
    samplesNote =
      `${samples.length} of ${targetSummary.memorized} memorized rows of ${target.source}, decoded ` +
      `from ${
        target.listedOnly
          ? `the tokens of EleutherAI's list ${publishedList(target.files[0])?.split}`
          : decode.data
      } (prompt ${window.prompt} tokens, then the memorized continuation)`;
  } else {
    samplesNote = target.listedOnly
      ? "pass --tokenizer DIR to see the memorized rows as text (decoded from the memorized-evals list's own tokens)"
      : "pass --tokenizer DIR --data PREFIX to see the memorized rows as text";
  }

  const rowIndex = analysedIndices(dataset);
  const { text, note: textLack } = await textInputs(options, found);
  if (textLack) notes.push(textLack);
  let ranked;
  try {
    ranked = await rankedForecasts(dataset, target, list, rowIndex, {
      text: text && { ...text, window, cacheDir: options.cacheDir ?? null },
      combine: options.combine,
      maxBootstrapCells: options.maxBootstrapCells,
    });
    notes.push(...ranked.notes);
  } finally {
    text?.source?.close();
  }
  const scaling = scalingFits(list);
  const order = trainingOrders(dataset, rowIndex);
  if (order.note) notes.push(order.note);
  return {
    generator: "engram report",
    created: new Date().toISOString(),
    target: target.source,
    inputs: dataset.inputs,
    rows: dataset.rows,
    notes,
    sources: summary,
    forecasts: list,
    curves: ranked.curves,
    text_features: ranked.text_features,
    combined: ranked.combined,
    combined_unfit: ranked.combined_unfit,
    scaling,
    training_order: order.orders,
    recommendation: {
      budgets: budgetRows(frontier),
      thresholds: ranked.thresholds,
      text: [
        ...recommendationText(targetSummary, list, frontier),
        ...thresholdText(ranked.thresholds, targetSummary.memorized),
      ],
    },
    findings: findingsText(
      targetSummary,
      ranked.curves,
      ranked.combined,
      scaling,
      order.orders,
      ranked.combined_unfit,
    ),
    correlations: {
      memorized: memorizedCorrelations(dataset),
      scores: scores.correlations,
    },
    histograms: scoreHistograms(dataset, scores.counts),
    samples,
    samples_note: samplesNote,
  };
}

/** The training rows for the text features (a JSONL file opened through the tokenizer), or null with a note. */
async function textInputs(
  options: ReportOptions,
  found: { data: string | null; tokenizer: string | null; dataMissing: string | null },
): Promise<{ text: { data: string; source?: RowSource; tokenizer?: string } | null; note: string | null }> {
  const none = (note: string) => ({ text: null, note });
  if (options.textFeatures === false) return none("properties of the text not computed (--no-text-features)");
  if (!found.data) {
    return none(
      `properties of the text not computed: ${
        found.dataMissing
          ? `the training data ${found.dataMissing} (from the results' provenance)`
          : "the results do not name their training data"
      }; pass --data PREFIX`,
    );
  }
  if (rowSourceKind(found.data) !== "jsonl") return { text: { data: found.data }, note: null };
  if (!found.tokenizer) {
    return none(`properties of the text not computed: ${found.data} holds texts; pass --tokenizer DIR`);
  }
  const tokenizer = await loadTokenizer(found.tokenizer);
  return {
    text: { data: found.data, source: await openTextRows(found.data, tokenizer), tokenizer: tokenizer.path },
    note: null,
  };
}

/** JSON with NaN and ±Infinity as null. */
export const reportJson = (report: Report): string =>
  JSON.stringify(report, (_, v) => typeof v === "number" && !Number.isFinite(v) ? null : v, 1) + "\n";

/** The cache folder writeReport keeps beside the report folder (text features, keyed by data, rows, window). */
export const REPORT_CACHE = "engram-cache";

/**
 * Writes report.html, report.json and report.md into a temporary folder beside outDir, then renames it into
 * place: the three appear together or not at all, and an existing report is replaced only once the new one is
 * complete. Disk full, a read-only folder or an outDir that is a file are one EngramError.
 */
export async function writeReport(
  outDir: string,
  options: ReportOptions,
): Promise<{ report: Report; files: string[] }> {
  const existing = await Deno.stat(outDir).catch(() => null);
  ensure(
    !existing || existing.isDirectory,
    () => `--out ${outDir} is a file; pass a folder for the report (report.html, report.json, report.md)`,
  );
  // The folder is replaced whole: only an empty one or an earlier report's, and never one holding the inputs.
  const inside = (path: string) =>
    !relative(outDir, path).startsWith("..") && !isAbsolute(relative(outDir, path));
  const input = options.results.find(inside);
  ensure(
    input === undefined,
    () =>
      `--out ${outDir} holds the results ${input}, and the report replaces that folder whole; pass another --out`,
  );
  if (existing) {
    const held: string[] = [];
    for await (const e of Deno.readDir(outDir)) held.push(e.name);
    ensure(
      held.length === 0 || held.includes("report.json"),
      () =>
        `--out ${outDir} holds other files than a report (${held.sort().slice(0, 3).join(", ")}${
          held.length > 3 ? ", ..." : ""
        }), and the report replaces that folder whole; pass a new folder or an earlier report's`,
    );
  }
  const parent = dirname(outDir), name = basename(outDir);
  await Deno.mkdir(parent, { recursive: true }).catch((e) => {
    throw new EngramError(`cannot make the folder ${parent} for the report: ${(e as Error).message}`);
  });
  const { report } = await computeReport({
    spillDir: parent,
    cacheDir: join(parent, REPORT_CACHE),
    ...options,
  });
  const figures = await reportFigures(report);
  const names = ["report.html", "report.json", "report.md"];
  const contents = [reportHtml(report, figures), reportJson(report), reportMarkdown(report)];
  const tmp = join(parent, `.${name}.tmp-${Deno.pid}`), old = join(parent, `.${name}.old-${Deno.pid}`);
  try {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.mkdir(tmp);
    for (let i = 0; i < names.length; i++) await Deno.writeTextFile(join(tmp, names[i]), contents[i]);
    if (existing) await Deno.rename(outDir, old);
    await Deno.rename(tmp, outDir);
    if (existing) await Deno.remove(old, { recursive: true });
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    if (existing && !(await Deno.stat(outDir).catch(() => null))) {
      await Deno.rename(old, outDir).catch(() => {});
    }
    throw new EngramError(
      `cannot write the report to ${outDir}: ${
        (e as Error).message
      }; check free space and that the folder is ` +
        `writable`,
    );
  }
  return { report, files: names.map((n) => join(outDir, n)) };
}
