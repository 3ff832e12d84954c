// Ranked forecasts of the target's memorized rows, over the report's dataset: every other model@revision's
// per-row score, first mismatch and log-probability as precision–recall curves (curves.ts); properties of the
// text at no compute (text_features.ts); a combined forecaster on the cheap predictors and the text
// (logistic.ts); bootstrap intervals of every curve's AP and recall at precision (uncertainty.ts); and the
// equal-compute advice with thresholds (recallFrontier).
// Memory: one source's columns at a time (analysed rows only), and those of the combined forecaster's inputs
// until it is fitted: 1 byte a row for a score, 4 for a log-probability, 20 for the text features; one sort
// buffer (8 bytes a row) for every curve of continuous values, which also holds the held-out log-odds.
// Cost: linear in rows; a log-probability or combined curve sorts its rows once; bootstraps are per cell, with
// at most MAX_BOOTSTRAP_CELLS cells (longer rankings are merged, and their intervals say so).
import type { RowSource } from "../io/rows.ts";
import { EngramError } from "../base/errors.ts";
import { compactBitset } from "./bitset.ts";
import { FIRST_MISMATCH_UNKNOWN, NOT_SCORED } from "./columns.ts";
import {
  type CostedCurve,
  type OperatingPoint,
  perLevel,
  type PrCurve,
  precisionRecall,
  type Ranking,
  type RecallAtPrecision,
  recallFrontier,
  SortBuffer,
} from "./curves.ts";
import type { Dataset, Source } from "./dataset.ts";
import type { Family, Forecast } from "./forecast.ts";
import { interval95, pct, withBudget } from "./format.ts";
import {
  type CombinedForecast,
  crossValidatedForecast,
  crossValidationPlan,
  type ForecastInput,
} from "./logistic.ts";
import {
  cachedTextFeatures,
  computeTextFeatures,
  TEXT_FEATURES,
  textFeatureCurves,
  textFeaturesCacheDir,
  type TextWindow,
} from "./text_features.ts";
import {
  bootstrapRanking,
  type Interval,
  type RankingIntervals,
  tooUncertain,
  wilson,
} from "./uncertainty.ts";

/** Where a curve's forecast comes from: a predictor's family, the text alone, or the combined forecaster. */
export type CurveFamily = Family | "text" | "combined";

/** An operating point with Wilson 95% intervals of its precision (TP of the predicted rows) and recall (TP of
 *  the memorized rows). */
export interface OperatingPointWithIntervals extends OperatingPoint {
  /** Wilson 95% interval of the precision; null when nothing is predicted. */
  precision_interval: Interval | null;
  /** Wilson 95% interval of the recall; null without memorized rows. */
  recall_interval: Interval | null;
}

/** A `curves` entry of report.json: the curve, its cost, Wilson intervals at its operating points, and bootstrap
 *  intervals of its AP and recall at each precision (which include the choice of the threshold). */
export interface CurveEntry extends Omit<PrCurve, "operating_points"> {
  /** The operating point at each precision level, with intervals; null where none recalls anything at it. */
  operating_points: Record<keyof RecallAtPrecision, OperatingPointWithIntervals | null>;
  /** Where the forecast comes from. */
  family: CurveFamily;
  /** Share of the target's training compute (0 for the text; null when unknown). */
  compute_fraction: number | null;
  /** Bootstrap 95% intervals of the average precision and of recall at each precision. */
  intervals: RankingIntervals;
}

/** The text features as the report used them. */
export interface TextFeatureSummary {
  /** The training rows' file. */
  data: string;
  /** The prompt, continuation and offset of the text each row's features describe. */
  window: TextWindow;
  /** Rows whose features were computed. */
  rows: number;
  /** Rows whose shared hash was checked token by token, and hash groups that held different texts. */
  verified_rows: number;
  /** Hash groups that held different texts. */
  collisions: number;
  /** The cache file (null: not cached), and whether this report read it instead of computing. */
  cache: string | null;
  /** Whether this report read the cache instead of computing. */
  cached: boolean;
}

/** The combined forecaster as report.json gives it (its curve is the `curves` entry "combined"). */
export interface CombinedSummary extends Omit<CombinedForecast, "curve"> {
  /** Its inputs' compute as a share of the target's (nestedCompute; null if one is unknown). */
  compute_fraction: number | null;
  /** The model@revisions whose columns are inputs, and how they were chosen. */
  predictors: string[];
  /** How the predictors were chosen, in words (--combine, or the default rule). */
  chosen_by: string;
  /** How compute_fraction counts (nestedCompute), in words. */
  compute_note: string;
  /** Average precision of the held-out forecasts; null without memorized rows. */
  average_precision: number | null;
  /** Its bootstrap 95% interval; null when unknown. */
  average_precision_interval: Interval | null;
  /** Recall of the held-out forecasts at precision ≥ each level. */
  recall_at_precision: PrCurve["recall_at_precision"];
}

/** The precision level of the equal-compute advice with thresholds. */
export const ADVICE_LEVEL = "0.9";

/** At a compute budget, the forecast and threshold that recall most at precision ≥ ADVICE_LEVEL. */
export interface ThresholdBudget {
  /** The budget: a compute fraction of the target's. */
  budget: number;
  /** The forecasting model@revision, "combined" or "text" (as in its curve). */
  predictor: string;
  /** score, first_mismatch, logprob, combined, a text feature, or "memorized set" (the paper's forecast). */
  feature: string;
  /** Rows predicted memorized: value ≥ threshold (">=") or ≤ it ("<="); null for a memorized set. */
  threshold: number | null;
  /** ">=" or "<=" as for `threshold`; null for a memorized set. */
  predicted_when: ">=" | "<=" | null;
  /** Recall of the target's memorized rows, in [0, 1]. */
  recall: number;
  /** Wilson 95% interval of the recall: TP out of the target's memorized rows with a value. */
  recall_interval: Interval | null;
  /** Precision at the threshold, in [0, 1] (≥ ADVICE_LEVEL). */
  precision: number;
  /** The best memorized set within the budget with precision ≥ ADVICE_LEVEL (null: none). */
  memorized_set: { predictor: string; recall: number } | null;
}

/** What the ranked forecasts are computed from (rankedForecasts). */
export interface RankedOptions {
  /** The training rows for the text features; null: not computed (the caller notes why). */
  text: {
    data: string;
    /** An opened source to read instead of `data` (JSONL texts through a tokenizer). */
    source?: RowSource;
    /** The tokenizer.json of `source` (its rows depend on it, so the cached features do too). */
    tokenizer?: string;
    window: TextWindow;
    /** Root of the report's cache (null: compute without caching). */
    cacheDir: string | null;
  } | null;
  /** The combined forecaster's predictors (default: cheapPredictors). */
  combine?: string[];
  /** Bootstrap seed and resamples (default 1 and 200); cells above which a ranking is merged. */
  seed?: number;
  /** Bootstrap resamples (default 200). */
  resamples?: number;
  /** Rankings with more cells than this are merged before the bootstrap (default MAX_BOOTSTRAP_CELLS). */
  maxBootstrapCells?: number;
}

/**
 * The ranked forecasts of the target's memorized rows: curves, text features, the combined forecaster,
 * advice.
 */
export interface RankedForecasts {
  /** Every ranked forecast's curve. */
  curves: CurveEntry[];
  /** The text features as used; null when not computed. */
  text_features: TextFeatureSummary | null;
  /** The combined forecaster; null when none was fitted. */
  combined: CombinedSummary | null;
  /** Why there is no combined forecaster although it had inputs and memorized rows: it cannot be fitted
   *  honestly (crossValidationPlan); null otherwise. */
  combined_unfit: string | null;
  /** The advice with thresholds at precision ≥ ADVICE_LEVEL, one entry per compute budget. */
  thresholds: ThresholdBudget[];
  /** What the report's notes should say about curves or a combined forecaster that could not be made. */
  notes: string[];
}

/** The combined forecaster's default inputs cost at most this share of the target's compute together. */
export const CHEAP_COMPUTE = 0.5;

/**
 * The combined forecaster's default predictors: smaller models and earlier checkpoints of the target with
 * per-row results and a known compute, one revision a model (its latest of at most CHEAP_COMPUTE), cheapest
 * first while their compute together stays within CHEAP_COMPUTE of the target's — so that the combination is
 * compared at a compute the target's own training would dwarf. Chosen by compute only, never by the target.
 */
export function cheapPredictors(sources: Source[], list: Forecast[]): string[] {
  const latest = new Map<string, Forecast>();
  for (const f of list) {
    const s = sources.find((s) => s.source === f.predictor)!;
    if (s.listedOnly || f.family === "other" || f.compute_fraction === null) continue;
    if (f.compute_fraction > CHEAP_COMPUTE * (1 + 1e-12)) continue;
    const seen = latest.get(s.model);
    if (!seen || f.compute_fraction > seen.compute_fraction!) latest.set(s.model, f);
  }
  const chosen: string[] = [];
  let total = 0;
  for (const f of [...latest.values()].sort((a, b) => a.compute_fraction! - b.compute_fraction!)) {
    if (total + f.compute_fraction! > CHEAP_COMPUTE * (1 + 1e-12)) break;
    total += f.compute_fraction!;
    chosen.push(f.predictor);
  }
  return chosen;
}

/** The combined forecaster's compute: per model, its most expensive input (a run's earlier checkpoints come
 *  with its later ones), summed over models; the text costs nothing. null if one is unknown. */
function nestedCompute(predictors: string[], sources: Source[], list: Forecast[]): number | null {
  const perModel = new Map<string, number>();
  for (const name of predictors) {
    const c = list.find((f) => f.predictor === name)!.compute_fraction;
    if (c === null) return null;
    const model = sources.find((s) => s.source === name)!.model;
    perModel.set(model, Math.max(perModel.get(model) ?? 0, c));
  }
  return [...perModel.values()].reduce((a, b) => a + b, 0);
}

/** A curve with its thresholds scaled (a score's matches k → k / continuation). */
function scaled(curve: PrCurve, factor: number): PrCurve {
  const ops = { ...curve.operating_points };
  for (const level of Object.keys(ops) as (keyof typeof ops)[]) {
    const p = ops[level];
    if (p) ops[level] = { ...p, threshold: p.threshold * factor };
  }
  return { ...curve, thresholds: curve.thresholds.map((t) => t * factor), operating_points: ops };
}

/** Every ranked forecast of the target (see the top of this file). `rowIndex`: the analysed rows' indices. */
export async function rankedForecasts(
  dataset: Dataset,
  target: Source,
  list: Forecast[],
  rowIndex: ArrayLike<number>,
  options: RankedOptions,
): Promise<RankedForecasts> {
  const notes: string[] = [];
  const memorized = dataset.memorized.get(target.source)!;
  const boot = (ranking: Ranking) =>
    bootstrapRanking(ranking, {
      seed: options.seed ?? 1,
      resamples: options.resamples,
      maxCells: options.maxBootstrapCells,
    });
  const curves: CurveEntry[] = [];
  const add = (curve: PrCurve, ranking: Ranking, family: CurveFamily, compute: number | null) => {
    const at = (p: OperatingPoint | null) =>
      p &&
      { ...p, precision_interval: wilson(p.tp, p.tp + p.fp), recall_interval: wilson(p.tp, curve.positives) };
    curves.push({
      ...curve,
      operating_points: perLevel((key) => at(curve.operating_points[key])),
      family,
      compute_fraction: compute,
      intervals: boot(ranking),
    });
  };

  const chosen = options.combine ?? cheapPredictors(dataset.sources, list);
  for (const name of options.combine ?? []) {
    const s = dataset.sources.find((s) => s.source === name);
    if (!s || s === target || s.listedOnly) {
      throw new EngramError(
        `--combine ${name}: ${
          !s ? "not among the results" : s === target ? "is the target" : "has no per-row results (a list)"
        }; pass model@revisions with scores, other than the target (${
          dataset.sources.filter((x) => x !== target && !x.listedOnly).map((x) => x.source).join(", ")
        })`,
      );
    }
  }

  // The text features first: computing them takes the most memory (~50 bytes a row at the peak), before any
  // predictor's inputs are held. Every column below is over the analysed rows, as memorizedRows is.
  const memorizedRows = compactBitset(memorized, dataset.analysed), textInputs: ForecastInput[] = [];
  const sortBuffer = new SortBuffer(); // every curve of continuous values sorts them here, one after another
  let textSummary: TextFeatureSummary | null = null;
  if (options.text) {
    const { data, source, tokenizer, window, cacheDir } = options.text;
    let features, cache: string | null = null, cached = false;
    if (cacheDir) {
      const dir = textFeaturesCacheDir(cacheDir, data, rowIndex, window);
      const found = await cachedTextFeatures(dir, data, rowIndex, window, { source, tokenizer });
      [features, cache, cached] = [found.features, found.file, found.cached];
    } else features = await computeTextFeatures(source ?? data, rowIndex, window);
    for (
      const { curve, ranking } of textFeatureCurves(features, memorizedRows, target.source, { sortBuffer })
    ) {
      add(curve, ranking, "text", 0);
    }
    for (const { feature, higherIsMemorized } of TEXT_FEATURES) {
      textInputs.push({
        name: `text: ${feature}`,
        values: features[feature],
        higherIsMemorized,
        compute_fraction: 0,
        transform: feature.endsWith("_copies") ? "log1p" : undefined,
      });
    }
    textSummary = {
      data,
      window,
      rows: features.rows,
      verified_rows: features.verified_rows,
      collisions: features.collisions,
      cache,
      cached,
    };
  }

  // Each predictor's columns once: its curves, and its compact inputs if the combined forecaster uses it.
  const predictorInputs: ForecastInput[] = [], partial: string[] = [];
  for (const p of dataset.sources) {
    if (p === target || p.listedOnly) continue;
    const f = list.find((x) => x.predictor === p.source)!;
    const { matches, logprob, ...rest } = await dataset.columns(p.source);
    const firstMismatch = rest.firstMismatch!;
    const names = (feature: string) => ({ predictor: p.source, target: target.source, feature });
    const input = chosen.includes(p.source);
    // A score or first mismatch missing on some analysed rows (inputs that give only a score, or a source read
    // from files of both modes) would rank those rows by the marker: no curve then, and a note.
    let noScore = 0, noFirst = 0;
    for (let i = 0; i < firstMismatch.length; i++) {
      if (matches && matches[i] === NOT_SCORED) noScore++;
      if (firstMismatch[i] === FIRST_MISMATCH_UNKNOWN || firstMismatch[i] === NOT_SCORED) noFirst++;
    }
    if (noScore > 0) partial.push(`${p.source} score`);
    if (noFirst > 0) partial.push(`${p.source} first_mismatch`);
    // The columns are the forecaster's inputs as they are (held until it is fitted, then dropped).
    const inputOf = (feature: string, values: Uint8Array | Float32Array) => {
      if (input) {
        predictorInputs.push({
          name: `${p.source} ${feature}`,
          values,
          compute_fraction: f.compute_fraction,
        });
      }
    };
    if (matches && noScore === 0) {
      const { curve, ranking } = precisionRecall(matches, memorizedRows, names("score"), { sortBuffer });
      add(scaled(curve, 1 / p.continuation), ranking, f.family, f.compute_fraction);
      inputOf("score", matches);
    }
    if (noFirst === 0) {
      const { curve, ranking } = precisionRecall(firstMismatch, memorizedRows, names("first_mismatch"), {
        sortBuffer,
      });
      add(curve, ranking, f.family, f.compute_fraction);
      if (!(matches && noScore === 0)) inputOf("first_mismatch", firstMismatch);
    }
    if (logprob) {
      const { curve, ranking } = precisionRecall(logprob, memorizedRows, names("logprob"), { sortBuffer });
      add(curve, ranking, f.family, f.compute_fraction);
      inputOf("logprob", logprob);
    }
  }
  if (partial.length) {
    notes.push(
      `no curve for ${
        partial.join(", ")
      }: the inputs leave it unknown on some analysed rows (e.g. reference ` +
        `CSVs without the first_mismatch column)`,
    );
  }

  const inputs = [...predictorInputs, ...textInputs];
  let combined: CombinedSummary | null = null;
  const positives = dataset.memorizedCount.get(target.source)!;
  const unfit = inputs.length && positives
    ? crossValidationPlan(inputs, memorizedRows, rowIndex.length).unfit
    : null;
  if (inputs.length === 0) {
    notes.push(
      `no combined forecaster: no smaller model or earlier checkpoint of at most ${
        pct(CHEAP_COMPUTE, 0)
      } of the target's compute has per-row results and a known compute, and there are no text features ` +
        `(pass --combine or --data)`,
    );
  } else if (positives === 0) {
    notes.push(`no combined forecaster: ${target.source} memorized none of the analysed rows`);
  } else if (unfit) {
    // Said in the findings, where its number would have been.
  } else {
    const predictors = dataset.sources.filter((s) => chosen.includes(s.source)).map((s) => s.source);
    const { forecast, ranking } = crossValidatedForecast(inputs, memorizedRows, rowIndex, target.source, {
      seed: options.seed ?? 1,
      sortBuffer,
    });
    const compute = nestedCompute(predictors, dataset.sources, list);
    const { curve, inputs: alone, ...fit } = forecast;
    add(curve, ranking, "combined", compute);
    combined = {
      ...fit,
      compute_fraction: compute,
      inputs: alone,
      predictors,
      chosen_by: options.combine
        ? "--combine"
        : `the cheapest smaller models and earlier checkpoints whose compute together is at most ${
          pct(CHEAP_COMPUTE, 0)
        } of the target's (one revision a model)`,
      compute_note:
        "each model counted once, at its latest input checkpoint (a run's earlier checkpoints come with it); " +
        "the text costs nothing",
      average_precision: curve.average_precision,
      average_precision_interval: curves.at(-1)!.intervals.average_precision,
      recall_at_precision: curve.recall_at_precision,
    };
  }
  return {
    curves,
    text_features: textSummary,
    combined,
    combined_unfit: unfit,
    thresholds: thresholdBudgets(curves, list),
    notes,
  };
}

/**
 * The equal-compute advice with thresholds: at each budget where the answer changes, the forecast and threshold
 * that recall most of the target's memorized rows at precision ≥ ADVICE_LEVEL — among the curves of the two
 * families, the text and the combined forecaster, and the memorized sets themselves.
 */
export function thresholdBudgets(curves: CurveEntry[], list: Forecast[]): ThresholdBudget[] {
  const level = ADVICE_LEVEL, floor = Number(level);
  const shown = curves.filter((c) => c.family !== "other");
  const sets: CostedCurve[] = list.filter((f) => f.family !== "other" && f.precision !== null).map((f) => ({
    predictor: f.predictor,
    feature: "memorized set",
    compute_fraction: f.compute_fraction,
    recall_at_precision: perLevel((key) => f.precision! >= Number(key) ? f.recall : 0),
  }));
  return recallFrontier([...shown, ...sets], level).map((pick) => {
    const within = list.filter((f) =>
      f.family !== "other" && f.compute_fraction !== null &&
      f.compute_fraction <= pick.budget * (1 + 1e-12) &&
      f.precision !== null && f.precision >= floor && (f.recall ?? 0) > 0
    ).sort((a, b) => b.recall! - a.recall!);
    const memorizedSet = within[0] ? { predictor: within[0].predictor, recall: within[0].recall! } : null;
    if (pick.feature === "memorized set") {
      const f = list.find((f) => f.predictor === pick.predictor)!;
      return {
        ...pick,
        threshold: null,
        predicted_when: null,
        recall_interval: wilson(f.tp, f.tp + f.fn),
        precision: f.precision!,
        memorized_set: memorizedSet,
      };
    }
    const c = shown.find((c) => c.predictor === pick.predictor && c.feature === pick.feature)!;
    const op = c.operating_points[level]!;
    return {
      ...pick,
      threshold: op.threshold,
      predicted_when: c.predicted_when,
      recall_interval: op.recall_interval,
      precision: op.precision,
      memorized_set: memorizedSet,
    };
  });
}

/** "pico-2@step1092 score ≥ 0.875", "text window_copies ≥ 2", "pico-2@step1092's memorized set". */
export function pickLabel(b: ThresholdBudget): string {
  if (b.threshold === null) return `${b.predictor}'s memorized set`;
  const who = b.predictor === "combined"
    ? "the combined forecaster's log-odds"
    : `${b.predictor} ${b.feature}`;
  return `${who} ${b.predicted_when === "<=" ? "≤" : "≥"} ${Number(b.threshold.toPrecision(4))}`;
}

/** The advice with thresholds in words; where an interval is too wide, says so instead of advising. */
export function thresholdText(budgets: ThresholdBudget[], memorized: number): string[] {
  if (memorized === 0) return [];
  const level = pct(Number(ADVICE_LEVEL), 0);
  if (budgets.length === 0) {
    return [
      `With a threshold on a ranked forecast (the memorized set is one): no forecast of known compute recalls any ` +
      `memorized row at precision ≥ ${level}.`,
    ];
  }
  const text = [
    `With a threshold on a ranked forecast (a predictor's score, first mismatch or log-probability, the text, ` +
    `or the combined forecaster; the memorized set is one such threshold), at precision ≥ ${level}:`,
  ];
  for (const b of budgets) {
    const reason = tooUncertain(memorized, b.recall_interval, `its recall`);
    const versus = b.threshold === null
      ? ""
      : b.memorized_set
      ? `; the best memorized set within the budget, ${b.memorized_set.predictor}'s, recalls ${
        pct(b.memorized_set.recall)
      }`
      : `; no memorized set within the budget reaches ${level} precision`;
    const recalls = `recalls ${pct(b.recall)}${interval95(b.recall_interval)} of the memorized rows at ` +
      `${pct(b.precision)} precision`;
    text.push(
      reason
        ? `${withBudget(b.budget)}, ${pickLabel(b)} ${recalls}${versus}; too uncertain to ` +
          `advise on: ${reason}.`
        : `${withBudget(b.budget)}, use ${pickLabel(b)}: it ${recalls}${versus}.`,
    );
  }
  return text;
}
