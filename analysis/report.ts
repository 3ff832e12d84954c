// The report: inputs → compact columns (dataset.ts) → the paper's numbers (report.json) → figures,
// report.html and report.md, written together into a temporary folder and renamed into place.
import { type RowSource, rowSourceFiles, rowSourceKind } from "../engine/data.ts";
import { EngramError, ensure } from "../base/errors.ts";
import { isFile } from "../base/fs.ts";
import { PAPER_PROMPT } from "../engine/paper.ts";
import { basename, dirname, isAbsolute, join, relative } from "../base/path.ts";
import { rowSourceFingerprint } from "../io/files.ts";
import { loadTokenizer, openTextRows } from "../io/texts.ts";
import {
  analysedIndices,
  buildDataset,
  type Dataset,
  type InputSummary,
  type RowAccounting,
  type Source,
} from "./dataset.ts";
import {
  type BudgetChoice,
  chooseTarget,
  computeFrontier,
  type Correlation,
  type Forecast,
  forecasts,
  type HistogramBin,
  memorizedCorrelations,
  memorizedMeaning,
  type ScalingFit,
  scalingFits,
  scoreHistograms,
  scoreStatistics,
  type SourceSummary,
  summarize,
} from "./forecast.ts";
import {
  definedGroups,
  drawnSteps,
  type Figure,
  type FittedLaw,
  forecastByComputeFigure,
  forecastBySizeFigure,
  memorizedCorrelationFigure,
  memorizedFractionFigure,
  prCurveFigure,
  renderFigure,
  scoreCorrelationFigure,
  scoreHistogramFigure,
  type Spec,
  trainingOrderFigure,
} from "./figures.ts";
import { interval95, pct } from "./format.ts";
import { reportHtml, reportMarkdown } from "./html.ts";
import { collectInputFiles, publishedList } from "./load.ts";
import { foldsInWords } from "./logistic.ts";
import { type ModelMeta, readMetaCsv, sameSuite, unmatchedMetaNote } from "./meta.ts";
import { findTokenizer } from "../io/checkpoints.ts";
import {
  type CombinedSummary,
  type CurveEntry,
  rankedForecasts,
  type TextFeatureSummary,
  type ThresholdBudget,
  thresholdText,
} from "./ranked.ts";
import { checkListAgainstData, memorizedSamples, type Sample } from "./samples.ts";
import { orderVerdict, type TrainingOrder, trainingOrders } from "./training_order.ts";
import { MIN_MEMORIZED, tooUncertain } from "./uncertainty.ts";

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
  /** Compute the properties of the text from the training rows (default true; they need the data). */
  textFeatures?: boolean;
  /** Where the text features are cached (default: not cached; writeReport: engram-cache beside the report). */
  cacheDir?: string;
  /** The combined forecaster's predictors (model@revisions; default: the cheap ones, see ranked.ts). */
  combine?: string[];
  /** Rankings with more cells are bootstrapped merged (default MAX_BOOTSTRAP_CELLS). */
  maxBootstrapCells?: number;
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
  /** Ranked forecasts: every predictor's score, first_mismatch and logprob, the text features and the combined
   *  forecaster, as precision–recall curves with bootstrap intervals. */
  curves: CurveEntry[];
  text_features: TextFeatureSummary | null;
  combined: CombinedSummary | null;
  /** Why no combined forecaster could be fitted honestly (too few memorized rows), or null. */
  combined_unfit: string | null;
  scaling: ScalingFit[];
  training_order: TrainingOrder[];
  recommendation: {
    budgets: BudgetRow[];
    /** The advice with thresholds at precision ≥ 0.9 (analysis/ranked.ts). */
    thresholds: ThresholdBudget[];
    text: string[];
  };
  /** What the ranked forecasts, the text, the combined forecaster, the scaling fits and training order say. */
  findings: string[];
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
  const few = target.memorized < MIN_MEMORIZED;
  if (few) {
    text.push(
      `${target.memorized} memorized rows are too few to tell predictors apart (fewer than ${MIN_MEMORIZED}): ` +
        `the numbers below describe these rows; they are not advice.`,
    );
  }
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
    const who = `${c.best.predictor} (${
      c.best.family === "checkpoint" ? "the target's own checkpoint" : "a smaller model"
    })`;
    const ci = c.best.recall_interval;
    const recalls =
      `recalls ${pct(c.best.recall)}${interval95(ci)} of the memorized rows at ${
        pct(c.best.precision)
      } precision` +
      (alt ? `; the best ${alt.family} within the budget, ${alt.predictor}, recalls ${pct(alt.recall)}` : "");
    const reason = few ? null : tooUncertain(target.memorized, ci, "its recall");
    text.push(
      few
        ? `With up to ${pct(c.budget)} of the compute, ${who} ${recalls}.`
        : reason
        ? `With up to ${
          pct(c.budget)
        } of the compute, ${who} ${recalls}; too uncertain to advise on: ${reason}.`
        : `With up to ${pct(c.budget)} of the compute, use ${who}: it ${recalls}.`,
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

/** Notes what decoding the memorized rows lacks, when the provenance or the flags promised them. */
function samplesInputs(
  found: { data: string | null; tokenizer: string | null; dataMissing: string | null },
  target: Source,
  notes: string[],
): { tokenizer: string; data: string | null } | null {
  if (target.listedOnly) return found.tokenizer ? { data: found.data, tokenizer: found.tokenizer } : null;
  if (found.data && found.tokenizer) return { data: found.data, tokenizer: found.tokenizer };
  const p = target.provenance;
  if (!p && !found.data) return null;
  notes.push(
    `memorized rows not decoded: ${
      [
        found.tokenizer
          ? ""
          : `no tokenizer.json in or above ${p?.model_path ?? "the model (no provenance)"}`,
        found.data ? "" : `the data ${found.dataMissing ?? "(not in the provenance) is not there"}`,
      ].filter((x) => x).join(" and ")
    } (from ${target.source}'s provenance); pass --tokenizer DIR --data PREFIX`,
  );
  return null;
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
  const decode = samplesInputs(found, target, notes);
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
  const text = await textInputs(options, found, notes);
  let ranked;
  try {
    ranked = await rankedForecasts(dataset, target, list, rowIndex, {
      text: text && { ...text, window, cacheDir: options.cacheDir ?? null },
      combine: options.combine,
      maxBootstrapCells: options.maxBootstrapCells,
    }, notes);
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
  notes: string[],
): Promise<{ data: string; source?: RowSource; tokenizer?: string } | null> {
  if (options.textFeatures === false) {
    notes.push("properties of the text not computed (--no-text-features)");
    return null;
  }
  if (!found.data) {
    notes.push(
      `properties of the text not computed: ${
        found.dataMissing
          ? `the training data ${found.dataMissing} (from the results' provenance)`
          : "the results do not name their training data"
      }; pass --data PREFIX`,
    );
    return null;
  }
  if (rowSourceKind(found.data) !== "jsonl") return { data: found.data };
  if (!found.tokenizer) {
    notes.push(`properties of the text not computed: ${found.data} holds texts; pass --tokenizer DIR`);
    return null;
  }
  const tokenizer = await loadTokenizer(found.tokenizer);
  return { data: found.data, source: await openTextRows(found.data, tokenizer), tokenizer: tokenizer.path };
}

/** "a score, b score and 5 properties of the text". */
function inputNames(combined: CombinedSummary): string {
  const text = combined.inputs.filter((i) => i.name.startsWith("text: ")).length;
  const names = combined.inputs.filter((i) => !i.name.startsWith("text: ")).map((i) => i.name);
  if (text) names.push(`${text} properties of the text`);
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : names[0];
}

/** What the analyses beyond the memorized sets say, in words. */
export function findingsText(
  target: SourceSummary,
  curves: CurveEntry[],
  combined: CombinedSummary | null,
  scaling: ScalingFit[],
  orders: TrainingOrder[],
  combinedUnfit: string | null = null,
): string[] {
  const text: string[] = [];
  const base = `a random ranking gets the base rate, ${pct(target.memorized_fraction, 2)}`;
  const best = (list: CurveEntry[]) =>
    list.filter((c) => c.average_precision !== null)
      .sort((a, b) => b.average_precision! - a.average_precision!)[0];
  const predictor = best(curves.filter((c) => c.family !== "text" && c.family !== "combined"));
  if (predictor) {
    text.push(
      `Ranked by a predictor's own value (score, first mismatch, log-probability) rather than by its memorized ` +
        `set, the best forecast of ${target.source}'s memorized rows is ${predictor.predictor}'s ` +
        `${predictor.feature}: average precision ${pct(predictor.average_precision)}${
          interval95(predictor.intervals.average_precision)
        }; ${base}.`,
    );
  }
  const text_ = best(curves.filter((c) => c.family === "text"));
  if (text_) {
    // "Most telling" only when the ranking beats a random one: its AP's interval above the base rate.
    const interval = text_.intervals.average_precision;
    const telling = interval
      ? interval.low > target.memorized_fraction
      : text_.average_precision! > target.memorized_fraction;
    const property = `${text_.feature.replaceAll("_", " ")} (${
      text_.predicted_when === ">=" ? "more" : "less"
    } is likelier memorized)`;
    const ap = `average precision ${pct(text_.average_precision)}${interval95(interval)}`;
    const base = `the base rate ${pct(target.memorized_fraction, 2)}`;
    text.push(
      telling
        ? `The text alone (no model, no compute): its most telling property is ${property}, ${ap} against ${base}.`
        : `The text alone (no model, no compute) tells memorized rows apart no better than a random ranking: ` +
          `its best property, ${property}, has ${ap}, ${
            interval ? "an interval that holds" : "at or below"
          } ${base}.`,
    );
  }
  if (combined) {
    const alone = combined.inputs.filter((i) => i.average_precision !== null)
      .sort((a, b) => b.average_precision! - a.average_precision!)[0];
    const reason = tooUncertain(
      target.memorized,
      combined.average_precision_interval,
      "its average precision",
    );
    text.push(
      `The combined forecaster (logistic regression on ${
        inputNames(combined)
      }; ${combined.folds}-fold cross-validation over rows, ${
        foldsInWords(combined)
      }, every forecast made by a ` +
        `model that did not see the row; ${
          combined.compute_fraction === null
            ? "compute unknown"
            : `${pct(combined.compute_fraction)} of the compute`
        }) has average precision ${pct(combined.average_precision)}${
          interval95(combined.average_precision_interval)
        }` +
        (alone ? `; its best input alone, ${alone.name}, has ${pct(alone.average_precision)}` : "") +
        (reason ? `; too uncertain to tell them apart: ${reason}.` : "."),
    );
  }
  if (combinedUnfit) {
    text.push(`No combined forecaster: ${combinedUnfit}.`);
  }
  const laws = scaling.map((fit) => {
    const who = `${
      fit.family === "checkpoint" ? "the target's checkpoints'" : "smaller models'"
    } ${fit.metric}`;
    const law = fit.law;
    if (!law) return `${who}: no law (${fit.note})`;
    const at = (level: "0.5" | "0.9") => {
      const c = law.compute_for[level];
      return c
        ? `${pct(Number(level), 0)} at ${pct(c.compute_fraction)} of the compute${
          interval95(c, c.extrapolated ? ", extrapolated" : "")
        }`
        : `${pct(Number(level), 0)} never (the law does not rise with compute)`;
    };
    return `${who}: logit = ${law.a.toFixed(2)} + ${law.b.toFixed(2)}·ln(compute) (slope ± ` +
      `${law.se_b.toFixed(2)}, ${law.points} predictors${fit.note ? `; ${fit.note}` : ""}), ${at("0.5")}, ` +
      `${at("0.9")}`;
  });
  if (laws.length) text.push(`Scaling with compute, fitted per family: ${laws.join("; ")}.`);
  if (orders.length) {
    text.push(
      `Memorization over training order (rows in ${orders[0].buckets.length} buckets by the step they were ` +
        `first seen at${
          orders[0].tested > 1 ? `; p-values Holm-adjusted for the ${orders[0].tested} models tested` : ""
        }): ${orders.map((o) => `${o.source} ${orderVerdict(o, false)}`).join("; ")}.`,
    );
  }
  return text;
}

/** Most forecasts drawn in the precision–recall figure (the best by AP; the caption says when some are left out). */
const MAX_PR_LINES = 10;

/** The precision–recall figure's lines and points: each predictor of the two families by its score (or first
 *  mismatch) with its memorized set as a point, the combined forecaster, and the most telling text feature. */
function prCurveLines(report: Report) {
  const family = report.curves.filter((c) => c.family === "smaller model" || c.family === "checkpoint");
  const byPredictor = new Map<string, CurveEntry>();
  for (const c of family) {
    if (c.feature === "score" || (c.feature === "first_mismatch" && !byPredictor.has(c.predictor))) {
      byPredictor.set(c.predictor, c);
    }
  }
  const ranked = [...byPredictor.values()].filter((c) => c.average_precision !== null)
    .sort((a, b) => b.average_precision! - a.average_precision!);
  const kept = ranked.slice(0, MAX_PR_LINES), left = ranked.length - kept.length;
  const text = report.curves.filter((c) => c.family === "text" && c.average_precision !== null)
    .sort((a, b) => b.average_precision! - a.average_precision!)[0];
  const combined = report.curves.find((c) => c.family === "combined");
  const order = (c: CurveEntry) => report.sources.findIndex((s) => s.source === c.predictor);
  const lines = [
    ...kept.sort((a, b) => order(a) - order(b)).map((c) => ({ ...c, label: c.predictor })),
    ...(combined ? [{ ...combined, label: "combined (held out)" }] : []),
    ...(text ? [{ ...text, label: `text: ${text.feature.replaceAll("_", " ")}` }] : []),
  ];
  // A line drawn along another (the same steps, or the same up to where it stops) would hide under it without a
  // word: each such line joins the group of the first line it runs along, is labelled as that line's curve, and
  // the caption lists the groups.
  const shapes = lines.map((l) => stepShape(drawnSteps(l)));
  const groups: string[][] = [], groupOf: number[] = [];
  lines.forEach((line, i) => {
    const j = lines.findIndex((_, k) => k < i && groupOf[k] === k && alongside(shapes[i], shapes[k]));
    groupOf[i] = j < 0 ? i : j;
    if (j < 0) groups[i] = [line.label];
    else groups[j].push(line.label);
  });
  const same = groups.filter((g) => g && g.length > 1);
  const labelOf = new Map<string, string>();
  for (const group of same) {
    for (const label of group.slice(1)) labelOf.set(label, `${label} (= ${group[0]})`);
  }
  const points = report.forecasts.filter((f) =>
    kept.some((c) => c.predictor === f.predictor) && f.precision !== null && f.recall !== null
  ).map((f) => ({
    label: labelOf.get(f.predictor) ?? f.predictor,
    precision: f.precision!,
    recall: f.recall!,
  }));
  return {
    lines: lines.map((l) => ({ ...l, label: labelOf.get(l.label) ?? l.label })),
    points,
    left,
    same,
    // Memorized sets at one place are drawn as one point: listed too.
    samePoints: [
      ...Map.groupBy(points, (p) => `${p.recall} ${p.precision}`).values(),
    ].filter((g) => g.length > 1).map((g) => ({
      labels: g.map((p) => p.label.replace(/ \(= .*\)$/, "")),
      recall: g[0].recall,
      precision: g[0].precision,
    })),
    combined: combined !== undefined,
    text: text ? `text: ${text.feature.replaceAll("_", " ")}` : null,
  };
}

/** A drawn step line (drawnSteps) as its steps: the precision over recall (previous end, end], runs of one
 *  precision merged and steps of no width dropped, so that lines that look the same have the same steps. */
function stepShape(points: { recall: number; precision: number }[]): { end: number; precision: number }[] {
  const steps: { end: number; precision: number }[] = [];
  for (let k = 1; k < points.length; k++) {
    const { recall, precision } = points[k], last = steps.at(-1);
    if (recall <= (last?.end ?? 0)) continue;
    if (last && last.precision === precision) last.end = recall;
    else steps.push({ end: recall, precision });
  }
  return steps;
}

/** Whether one step line runs along the other wherever it is drawn (the same steps, the shorter's last one
 *  ending no later than the other's). */
function alongside(
  a: { end: number; precision: number }[],
  b: { end: number; precision: number }[],
): boolean {
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  if (short.length === 0) return long.length === 0;
  return short.every((s, i) =>
    s.precision === long[i].precision &&
    (i === short.length - 1 ? s.end <= long[i].end : s.end === long[i].end)
  );
}

/** "a, b and c". */
const listed = (items: string[]) =>
  items.length > 1 ? `${items.slice(0, -1).join(", ")} and ${items.at(-1)}` : items[0] ?? "";

/** " Left out: the revisions step273 and …, where r is undefined for every pair." for panels of only n/a. */
function leftOut(rows: Correlation[], order: string[], what: string): string {
  const kept = definedGroups(rows, order);
  const gone = order.filter((g) => !kept.includes(g) && rows.some((r) => r.group === g));
  if (gone.length === 0) return "";
  return ` Left out: the ${what}${gone.length === 1 ? "" : "s"} ${
    gone.join(", ")
  }, where r is undefined for ` +
    `every pair (a memorized indicator or scores that are constant).`;
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
  const laws: FittedLaw[] = report.scaling.filter((f) => f.law).map((f) => ({
    family: f.family,
    metric: f.metric,
    curve: f.law!.curve,
  }));
  const pr = prCurveLines(report);
  const meaning = memorizedMeaning(report.sources);
  const candidates: [string, string, string, Spec, boolean][] = [
    [
      "memorized-fraction",
      "Memorized fraction vs model size",
      `Share of the analysed rows each model reproduces exactly (${meaning.short}), one line per revision.`,
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
      `${target}'s own earlier checkpoints (circles) and smaller models (triangles) against the share of its ` +
      `training compute they cost` +
      (laws.length
        ? `; lines: logit(y) = a + b·ln(compute) fitted to the counts of ${
          listed(laws.map((l) =>
            `${
              l.family === "checkpoint" ? "the checkpoints' (solid)" : "the smaller models' (dashed)"
            } ${l.metric}`
          ))
        }${
          laws.length < report.scaling.length
            ? "; the others have no law (Scaling with compute says why)"
            : ""
        }.`
        : "; lines join each family's points (checkpoints solid, smaller models dashed)."),
      forecastByComputeFigure(report.forecasts, target, laws),
      (withFamily("checkpoint") || withFamily("smaller model")) &&
      report.forecasts.some((f) => f.family !== "other" && f.compute_fraction !== null && f.recall !== null),
    ],
    [
      "pr-curves",
      "Ranked forecasts: precision–recall",
      `Each predictor's score (or first mismatch) ranks the rows (a threshold per value); the curve is ` +
      `precision against recall over every threshold (drawn up to its highest recall)` +
      (pr.points.length ? `, and the point is its memorized set, the paper's forecast.` : ".") +
      (pr.combined ? " The combined forecaster's rows are all held out." : "") +
      (pr.text ? ` The line “${pr.text}” is the text's best property.` : "") +
      pr.same.map((g) => ` ${listed(g)} draw the same curve, one over another.`).join("") +
      pr.samePoints.map((g) =>
        ` The memorized sets of ${listed(g.labels)} are one point (recall ${pct(g.recall)}, precision ${
          pct(g.precision)
        }).`
      ).join("") +
      (pr.left > 0 ? ` ${pr.left} more predictors with lower average precision are in the tables.` : ""),
      prCurveFigure(pr.lines, pr.points, target),
      pr.lines.length > 0,
    ],
    [
      "correlation-memorized",
      "Correlation of memorization between models",
      "Pearson r of the memorized indicator for each pair of models at the same revision; n/a where a model " +
      "memorized nothing." + leftOut(report.correlations.memorized, revisions, "revision"),
      memorizedCorrelationFigure(report.correlations.memorized, models, revisions),
      definedGroups(report.correlations.memorized, revisions).length > 0,
    ],
    [
      "correlation-scores",
      "Correlation of scores between checkpoints",
      "Pearson r of raw scores for each pair of checkpoints of one model." +
      leftOut(report.correlations.scores, models, "model"),
      scoreCorrelationFigure(report.correlations.scores, revisions, models),
      definedGroups(report.correlations.scores, models).length > 0,
    ],
    [
      "score-histogram",
      "Score distribution",
      "Rows per score k/32 at each model's last revision, log scale (the paper found a thick tail at score 1).",
      scoreHistogramFigure(report.histograms.filter((h) => lastOf.get(h.model) === h.revision), models),
      report.histograms.some((h) => h.count > 0),
    ],
    [
      "training-order",
      "Memorization over training order",
      "Memorized fraction of each model (last revision) by the step at which its rows were first trained on, " +
      "with 95% Wilson intervals; flat unless when a row was seen matters.",
      trainingOrderFigure(
        report.training_order.flatMap((o) =>
          o.buckets.map((b) => ({
            source: o.source,
            first_step: b.first_step,
            last_step: b.last_step,
            fraction: b.fraction,
            low: b.interval?.low ?? null,
            high: b.interval?.high ?? null,
          }))
        ),
        report.training_order.map((o) => o.source),
      ),
      report.training_order.some((o) => o.buckets.length > 0),
    ],
  ];
  const figures: Figure[] = [];
  for (const [id, title, caption, spec, show] of candidates) {
    if (show) figures.push(await renderFigure(id, title, caption, spec));
  }
  return figures;
}

/** JSON with NaN and ±Infinity as null. */
export const reportJson = (report: Report) =>
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
