// The report: inputs → compact columns (dataset.ts) → the paper's numbers (report.json) → figures,
// report.html and report.md, written together into a temporary folder and renamed into place.
import { EngramError, ensure } from "../engine/errors.ts";
import { basename, dirname, join } from "../engine/path.ts";
import { buildDataset, type Dataset, type InputSummary, type RowAccounting, type Source } from "./dataset.ts";
import {
  type BudgetChoice,
  chooseTarget,
  computeFrontier,
  type Correlation,
  type Forecast,
  forecasts,
  type HistogramBin,
  memorizedCorrelations,
  scoreCorrelations,
  scoreCounts,
  scoreHistograms,
  type SourceSummary,
  summarize,
} from "./forecast.ts";
import {
  forecastByComputeFigure,
  forecastBySizeFigure,
  memorizedCorrelationFigure,
  memorizedFractionFigure,
  prefixSvgIds,
  renderSvg,
  scoreCorrelationFigure,
  scoreHistogramFigure,
  type Spec,
} from "./figures.ts";
import { pct } from "./format.ts";
import { reportHtml, reportMarkdown } from "./html.ts";
import { collectInputFiles } from "./load.ts";
import { findTokenizer, type ModelMeta, readMetaCsv, sameSuite } from "./meta.ts";
import { memorizedSamples, type Sample } from "./samples.ts";

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
  /** Tokenizer folder and training data prefix, to decode memorized rows (default: found from the target's
   *  provenance: its data, and the tokenizer.json nearest to its model). */
  tokenizer?: string;
  data?: string;
  samples?: number;
  /** Compare sources scored differently (prompt, continuation, offset, data, mode, paper_compatible). */
  allowMixed?: boolean;
  /** Where the row store spills when it passes memoryBudget bytes (see DatasetOptions). */
  spillDir?: string;
  memoryBudget?: number;
}

/** Every number of the report (written as report.json). */
export interface Report {
  generator: string;
  created: string;
  target: string;
  inputs: InputSummary[];
  rows: RowAccounting;
  notes: string[];
  sources: SourceSummary[];
  forecasts: Forecast[];
  recommendation: { budgets: BudgetRow[]; text: string[] };
  correlations: { memorized: Correlation[]; scores: Correlation[] };
  histograms: HistogramBin[];
  samples: Sample[] | null;
  samples_note: string | null;
}

export interface BudgetRow {
  budget: number;
  predictor: string;
  family: string;
  recall: number | null;
  precision: number | null;
  best_smaller_model: string | null;
  best_smaller_model_recall: number | null;
  best_checkpoint: string | null;
  best_checkpoint_recall: number | null;
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

/** The equi-compute recommendation in words. */
export function recommendationText(
  target: SourceSummary,
  list: Forecast[],
  frontier: BudgetChoice[],
): string[] {
  const text: string[] = [];
  if (target.memorized === 0) {
    return [`${target.source} memorized none of the analysed rows, so no predictor can be scored on recall.`];
  }
  if (frontier.length === 0) {
    const family = list.filter((f) => f.family !== "other");
    const priced = family.filter((f) => f.compute_fraction !== null);
    if (family.length === 0) {
      return [
        `No smaller model of ${target.model}'s suite and no earlier checkpoint of it is among the inputs, so ` +
        `there is nothing to forecast its memorized rows with at a fraction of its compute.`,
      ];
    }
    if (priced.length === 0) {
      return [
        `No predictor of either family has a known compute fraction (${family.length} smaller models or ` +
        `checkpoints, none with known parameters and step); pass --meta with the models' parameters and name ` +
        `revisions stepN.`,
      ];
    }
    return [
      `${target.source} memorized ${target.memorized} of the analysed rows (${
        pct(target.memorized_fraction, 2)
      }), and none of the predictors with a known compute fraction recalls any of them: ${
        priced.map((f) => `${f.predictor} (${pct(f.compute_fraction)} of the compute)`).join(", ")
      }.`,
    ];
  }
  text.push(
    `${target.source} memorized ${target.memorized} of the analysed rows (${
      pct(target.memorized_fraction, 2)
    }). ` +
      `For a compute budget (a fraction of its training compute, params × tokens), the predictor that recalls ` +
      `most of them:`,
  );
  const useless = list.filter((f) =>
    f.family !== "other" && f.recall === 0 && f.compute_fraction !== null &&
    f.compute_fraction < frontier[0].budget
  );
  if (useless.length) {
    text.push(
      `Below ${pct(frontier[0].budget)} of the compute nothing helps: ${
        useless.map((f) => f.predictor).join(", ")
      } ` +
        `recall${useless.length === 1 ? "s" : ""} none of the memorized rows.`,
    );
  }
  for (const c of frontier) {
    const alt = c.best.family === "checkpoint" ? c.bestSmaller : c.bestCheckpoint;
    text.push(
      `With up to ${pct(c.budget)} of the compute, use ${c.best.predictor} (${
        c.best.family === "checkpoint" ? "the target's own checkpoint" : "a smaller model"
      }): it recalls ${pct(c.best.recall)} of the memorized rows at ${pct(c.best.precision)} precision` +
        (alt
          ? `; the best ${alt.family} within the budget, ${alt.predictor}, recalls ${pct(alt.recall)}.`
          : "."),
    );
  }
  const wins = { "smaller model": 0, checkpoint: 0 } as Record<string, number>;
  for (const c of frontier) wins[c.best.family]++;
  text.push(
    `Over the ${frontier.length} budget${
      frontier.length === 1 ? "" : "s"
    } where the best choice changes, the ` +
      `target's checkpoints win ${wins.checkpoint} and smaller models ${wins["smaller model"]}.`,
  );
  const perCompute = list.filter((f) => f.family !== "other" && f.recall_per_compute !== null)
    .sort((x, y) => y.recall_per_compute! - x.recall_per_compute!)[0];
  if (perCompute) {
    text.push(
      `Most recall per unit of compute: ${perCompute.predictor}, ${pct(perCompute.recall)} recall for ` +
        `${pct(perCompute.compute_fraction)} of the compute (${
          perCompute.recall_per_compute!.toFixed(2)
        } per unit).`,
    );
  }
  const precise = list.filter((f) => f.family !== "other" && f.precision !== null).map((f) => f.precision!);
  if (precise.length) {
    const [low, high] = [Math.min(...precise), Math.max(...precise)];
    text.push(
      low === 1
        ? `Every predictor has 100% precision: whatever a cheaper model memorized, the target memorized too; ` +
          `recall is what a larger budget buys.`
        : low >= 0.8
        ? `Precision stays at or above ${
          pct(low)
        }: what a cheaper model memorized, the target mostly memorized ` +
          `too; recall is what a larger budget buys.`
        : `Precision ranges from ${pct(low)} to ${pct(high)}: many rows a cheaper model memorized are not ` +
          `memorized by the target.`,
    );
  }
  return text;
}

/** The tokenizer and data to decode the target's rows: as given, else found from its provenance. */
async function findSamplesInputs(
  options: ReportOptions,
  target: Source,
  notes: string[],
): Promise<{ tokenizer: string; data: string } | null> {
  ensure(
    !options.tokenizer === !options.data,
    "report: decoding memorized rows needs both --tokenizer DIR and --data PREFIX (the training rows)",
  );
  if (options.tokenizer && options.data) return { tokenizer: options.tokenizer, data: options.data };
  const p = target.provenance;
  if (!p) return null;
  const tokenizer = p.model_path ? await findTokenizer(p.model_path) : null;
  const data = p.data && await dataExists(p.data) ? p.data : null;
  if (tokenizer && data) return { tokenizer, data };
  notes.push(
    `memorized rows not decoded: ${
      [
        tokenizer ? "" : `no tokenizer.json in or above ${p.model_path}`,
        data ? "" : `the data ${p.data} is not there`,
      ].filter((x) => x).join(" and ")
    } (from ${target.source}'s provenance); pass --tokenizer DIR --data PREFIX`,
  );
  return null;
}

async function dataExists(data: string): Promise<boolean> {
  for (const path of [data, `${data}.idx`]) {
    try {
      if ((await Deno.stat(path)).isFile) return true;
    } catch { /* next */ }
  }
  return false;
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
    allowMixed: options.allowMixed,
    spillDir: options.spillDir,
    memoryBudget: options.memoryBudget,
  });
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
  const scores = await scoreCounts(dataset);
  const summary = summarize(dataset, scores);
  const list = forecasts(dataset, target, sameSuite);
  const frontier = computeFrontier(list);
  const targetSummary = summary.find((s) => s.source === target.source)!;
  let samples: Sample[] | null = null, samplesNote: string | null = null;
  const decode = await findSamplesInputs(options, target, notes);
  if (decode) {
    const p = target.provenance;
    samples = await memorizedSamples(dataset, target, {
      ...decode,
      count: options.samples ?? 10,
      prompt: p?.prompt ?? 32,
      continuation: p?.continuation ?? target.continuation,
      offset: p?.offset ?? 0,
    });
    samplesNote =
      `${samples.length} of ${targetSummary.memorized} memorized rows of ${target.source}, decoded ` +
      `from ${decode.data} (prompt ${p?.prompt ?? 32} tokens, then the memorized continuation)`;
  } else {
    samplesNote = "pass --tokenizer DIR --data PREFIX to see the memorized rows as text";
  }
  return {
    generator: "engram report",
    created: new Date().toISOString(),
    target: target.source,
    inputs: dataset.inputs,
    rows: dataset.rows,
    notes,
    sources: summary,
    forecasts: list,
    recommendation: {
      budgets: budgetRows(frontier),
      text: recommendationText(targetSummary, list, frontier),
    },
    correlations: {
      memorized: memorizedCorrelations(dataset),
      scores: await scoreCorrelations(dataset),
    },
    histograms: scoreHistograms(dataset, scores),
    samples,
    samples_note: samplesNote,
  };
}

export interface Figure {
  id: string;
  title: string;
  caption: string;
  spec: Spec;
  svg: string;
}

/** One figure per analysis that has data to show. */
export async function reportFigures(report: Report): Promise<Figure[]> {
  const models = [...new Set(report.sources.map((s) => s.model))];
  const revisions = [
    ...new Set(
      [...report.sources].sort((a, b) => (a.step ?? Infinity) - (b.step ?? Infinity)).map((s) => s.revision),
    ),
  ];
  const lastOf = new Map(report.sources.map((s) => [s.model, s.revision]));
  const target = report.target;
  const withFamily = (family: string) => report.forecasts.some((f) => f.family === family);
  const candidates: [string, string, string, Spec, boolean][] = [
    [
      "memorized-fraction",
      "Memorized fraction vs model size",
      "Share of the analysed rows each model reproduces exactly (score = 1), one line per revision.",
      memorizedFractionFigure(report.sources, revisions),
      report.sources.some((s) => s.params !== null),
    ],
    [
      "forecast-size",
      "Precision and recall vs predictor size",
      `Smaller fully-trained models as forecasts of ${target}'s memorized rows.`,
      forecastBySizeFigure(report.forecasts, target),
      report.forecasts.some((f) =>
        f.family === "smaller model" && f.predictor_params !== null && f.recall !== null
      ),
    ],
    [
      "forecast-compute",
      "Precision and recall vs fraction of compute",
      `${target}'s own earlier checkpoints (solid) and smaller models (dashed) against the share of its ` +
      `training compute they cost.`,
      forecastByComputeFigure(report.forecasts, target),
      (withFamily("checkpoint") || withFamily("smaller model")) &&
      report.forecasts.some((f) => f.family !== "other" && f.compute_fraction !== null && f.recall !== null),
    ],
    [
      "correlation-memorized",
      "Correlation of memorization between models",
      "Pearson r of the memorized indicator for each pair of models at the same revision; n/a where a model " +
      "memorized nothing.",
      memorizedCorrelationFigure(report.correlations.memorized, models, revisions),
      report.correlations.memorized.length > 0,
    ],
    [
      "correlation-scores",
      "Correlation of scores between checkpoints",
      "Pearson r of raw scores for each pair of checkpoints of one model.",
      scoreCorrelationFigure(report.correlations.scores, revisions, models),
      report.correlations.scores.length > 0,
    ],
    [
      "score-histogram",
      "Score distribution",
      "Rows per score k/32 at each model's last revision, log scale: the paper's thick tail at score 1.",
      scoreHistogramFigure(report.histograms.filter((h) => lastOf.get(h.model) === h.revision), models),
      report.histograms.some((h) => h.count > 0),
    ],
  ];
  const figures: Figure[] = [];
  for (const [id, title, caption, spec, show] of candidates) {
    if (!show) continue;
    figures.push({ id, title, caption, spec, svg: prefixSvgIds(await renderSvg(spec), id) });
  }
  return figures;
}

/** JSON with NaN and ±Infinity as null. */
export const reportJson = (report: Report) =>
  JSON.stringify(report, (_, v) => typeof v === "number" && !Number.isFinite(v) ? null : v, 1) + "\n";

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
  const parent = dirname(outDir), name = basename(outDir);
  await Deno.mkdir(parent, { recursive: true }).catch((e) => {
    throw new EngramError(`cannot make the folder ${parent} for the report: ${(e as Error).message}`);
  });
  const { report } = await computeReport({ spillDir: parent, ...options });
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
