// The paper's analysis over the compact columns: memorization per model and revision, every other
// model@revision as a forecast of the target's memorized set, compute, correlations and score distributions.
// Pair counts are bitset AND + popcount over the analysed rows; score statistics are counts per score k (and per
// pair of scores for the correlations), in one pass over every scored source's pages.
import { EngramError } from "../base/errors.ts";
import { countAnd, forEachRow } from "./bitset.ts";
import { NOT_SCORED, PAGE_ROWS } from "./columns.ts";
import type { Dataset, Source } from "./dataset.ts";
import { type ComputeLaw, fitComputeLaw, type Interval, wilson } from "./uncertainty.ts";
/**
 * Which of the paper's two families a predictor belongs to: an earlier checkpoint of the target's model, a
 * smaller model of its suite, or neither.
 */
export type Family = "smaller model" | "checkpoint" | "other";

/** One model@revision's memorization over the analysed rows (a `sources` entry of report.json). */
export interface SourceSummary {
  /** Its name, model@revision. */
  source: string;
  /** The model's name. */
  model: string;
  /** The revision, e.g. "step143000". */
  revision: string;
  /** Training step of the revision; null when its name gives none. */
  step: number | null;
  /** Parameters of the model; null when unknown. */
  params: number | null;
  /** Where the parameter count came from (e.g. "--meta"; "unknown" when nowhere). */
  params_from: string;
  /** Tokens the checkpoint was trained on (step × tokens per step); null when unknown. */
  tokens_seen: number | null;
  /** Rows its inputs hold. */
  rows_loaded: number;
  /** Rows that other sources scored but this one did not. */
  rows_missing: number;
  /** Rows loaded but left out of the analysis (see Source.excluded). */
  rows_excluded: number;
  /** Analysed rows it memorized. */
  memorized: number;
  /** memorized / analysed rows, in [0, 1]. */
  memorized_fraction: number;
  /** Mean score (matches / continuation) over its scored analysed rows, in [0, 1]; null without scores. */
  mean_score: number | null;
  /** Whether its input lists only memorized rows (published memorized-evals). */
  listed_only: boolean;
}

/**
 * What "memorized" means over these sources, in a few words: "score 1" where every source has scores; for
 * results without them (--mode extractable, lists of memorized rows) a row is memorized when its greedy
 * continuation is the true one, found from the first mismatch or listed, and "score 1" would define nothing.
 */
export function memorizedMeaning(sources: SourceSummary[]): { short: string; long: string } {
  const scored = sources.filter((s) => s.mean_score !== null).length;
  if (scored === sources.length) {
    return { short: "score = 1", long: "score 1 (all continuation tokens right)" };
  }
  if (scored === 0) {
    return {
      short: "greedy continuation = the true one",
      long:
        "the greedy continuation equals the true one (all continuation tokens right; these results have " +
        "no score: first mismatch past the continuation, or listed as memorized)",
    };
  }
  return {
    short: "all continuation tokens right",
    long: "all continuation tokens right (score 1; for results without a score, first mismatch past the " +
      "continuation or listed as memorized)",
  };
}

/**
 * One model@revision (the predictor) as a forecast of the target's memorized rows: predicted memorized where
 * it memorized.
 */
export interface Forecast {
  /** The predictor, model@revision. */
  predictor: string;
  /** The target, model@revision. */
  target: string;
  /** The predictor's family relative to the target. */
  family: Family;
  /** TP / (TP + FP), in [0, 1]; null when it memorized no row. */
  precision: number | null;
  /** TP / (TP + FN), in [0, 1]; null when the target memorized no row. */
  recall: number | null;
  /** Wilson 95% intervals: of TP among the predicted rows, and among the target's memorized rows. */
  precision_interval: Interval | null;
  /** Wilson 95% interval of the recall. */
  recall_interval: Interval | null;
  /** 2·TP / (2·TP + FP + FN); null when both memorized nothing. */
  f1: number | null;
  /** Rows both memorized. */
  tp: number;
  /** Rows the predictor memorized and the target did not. */
  fp: number;
  /** Rows the target memorized and the predictor did not. */
  fn: number;
  /** Rows neither memorized. */
  tn: number;
  /**
   * The predictor's training compute as a fraction of the target's (params × tokens seen); null when unknown.
   */
  compute_fraction: number | null;
  /** recall / compute_fraction; null when either is unknown or the fraction is 0. */
  recall_per_compute: number | null;
  /** precision / compute_fraction; null when either is unknown or the fraction is 0. */
  precision_per_compute: number | null;
  /** The predictor's parameters; null when unknown. */
  predictor_params: number | null;
  /** The predictor's training step; null when unknown. */
  predictor_step: number | null;
}

/** Pearson's r between two sources' memorized indicators (same revision) or scores (same model). */
export interface Correlation {
  /** The revision shared by both models (memorized) or the model shared by both checkpoints (scores). */
  group: string;
  /** The first model (memorized) or revision (scores) compared. */
  a: string;
  /** The second model (memorized) or revision (scores) compared. */
  b: string;
  /** Pearson's r, in [-1, 1]; null when either is constant. */
  r: number | null;
}

/** One bar of a source's score histogram: rows with k matching tokens. */
export interface HistogramBin {
  /** The source, model@revision. */
  source: string;
  /** Its model. */
  model: string;
  /** Its revision. */
  revision: string;
  /** Matching tokens, in [0, continuation]. */
  k: number;
  /** k / continuation, in [0, 1]. */
  score: number;
  /** Analysed rows with that score. */
  count: number;
}

/** The pair counts of two memorized indicators over the analysed rows. */
export interface Confusion {
  /** Rows both memorized (true positives). */
  tp: number;
  /** Rows a memorized and b did not (false positives). */
  fp: number;
  /** Rows b memorized and a did not (false negatives). */
  fn: number;
  /** Rows neither memorized (true negatives). */
  tn: number;
}

/** Picks the target: "model@revision" (the model is what comes before the last @), "model" (its last revision),
 *  or by default the largest model's last revision. */
export function chooseTarget(sources: Source[], wanted?: string): Source {
  const names = sources.map((s) => s.source);
  if (wanted) {
    const found = sources.find((s) => s.source === wanted) ??
      sources.filter((s) => s.model === wanted).at(-1);
    if (!found) {
      throw new EngramError(
        `--target ${wanted} is not among the results; pass one of ${names.join(", ")}`,
      );
    }
    return found;
  }
  const largest = sources.at(-1)!; // sources are ordered by parameters, then model, then step
  return sources.filter((s) => s.model === largest.model).at(-1)!;
}

/** Counts of each score over the analysed rows: per source, and per pair of checkpoints of one model. */
export interface ScoreStatistics {
  /** Rows per score k = 0..continuation, for every source with scores. */
  counts: Map<string, Float64Array>;
  /** Pearson on raw scores between every pair of checkpoints of one model (analysed rows with both scores). */
  correlations: Correlation[];
}

/** The score statistics in one pass over the pages: every scored source's scores read once, a page at a time. */
export async function scoreStatistics(dataset: Dataset): Promise<ScoreStatistics> {
  const scored = dataset.sources.filter((s) => s.scored);
  const counts = scored.map((s) => new Float64Array(s.continuation + 1));
  // Joint histograms (joint[a·side + b]) of the pairs of checkpoints of one model, i < j in `scored`.
  const pairs: { i: number; j: number; side: number; joint: Float64Array }[] = [];
  scored.forEach((a, i) =>
    scored.forEach((b, j) => {
      if (j <= i || a.model !== b.model) return;
      const side = Math.max(a.continuation, b.continuation) + 1;
      pairs.push({ i, j, side, joint: new Float64Array(side * side) });
    })
  );
  const noScores = new Uint8Array(PAGE_ROWS).fill(NOT_SCORED), rows = new Uint16Array(PAGE_ROWS);
  await dataset.forEachPage(scored.map((s) => s.source), ["matches"], (start, pages) => {
    // The page's analysed rows once, then one tight loop a source and a pair.
    let n = 0;
    forEachRow(dataset.analysed.subarray(start >>> 5, (start + PAGE_ROWS) >>> 5), (o) => rows[n++] = o);
    const m = pages.map((p) => (p.matches ?? noScores) as Uint8Array);
    m.forEach((column, s) => {
      const c = counts[s];
      for (let r = 0; r < n; r++) {
        const k = column[rows[r]];
        if (k !== NOT_SCORED) c[k]++;
      }
    });
    for (const { i, j, side, joint } of pairs) {
      const a = m[i], b = m[j];
      for (let r = 0; r < n; r++) {
        const x = a[rows[r]], y = b[rows[r]];
        if (x !== NOT_SCORED && y !== NOT_SCORED) joint[x * side + y]++;
      }
    }
  });
  // Pearson r of each pair once, looked up by (i, j) either way round (a search per cell was C^4 a model).
  const pearson = new Map(pairs.map((p) => [p.i * scored.length + p.j, pearsonOfCounts(p.joint, p.side)]));
  const r = (i: number, j: number) => pearson.get(Math.min(i, j) * scored.length + Math.max(i, j))!;
  const correlations: Correlation[] = [];
  for (const model of new Set(scored.map((s) => s.model))) {
    const of = scored.flatMap((s, i) => s.model === model ? [i] : []);
    for (const i of of) {
      for (const j of of) {
        correlations.push({
          group: model,
          a: scored[i].revision,
          b: scored[j].revision,
          r: i === j ? 1 : r(i, j),
        });
      }
    }
  }
  return { counts: new Map(scored.map((s, i) => [s.source, counts[i]])), correlations };
}

/** Memorized count, fraction and mean score of every model@revision. */
export function summarize(dataset: Dataset, scores: Map<string, Float64Array>): SourceSummary[] {
  const n = dataset.rows.analysed;
  return dataset.sources.map((s) => {
    const memorized = dataset.memorizedCount.get(s.source)!;
    const counts = scores.get(s.source);
    let rows = 0, sum = 0;
    counts?.forEach((c, k) => {
      rows += c;
      sum += c * k;
    });
    return {
      source: s.source,
      model: s.model,
      revision: s.revision,
      step: s.step,
      params: s.params,
      params_from: s.paramsFrom,
      tokens_seen: s.step !== null && s.tokensPerStep !== null ? s.step * s.tokensPerStep : null,
      rows_loaded: s.rowsLoaded,
      rows_missing: s.missing,
      rows_excluded: s.excluded,
      memorized,
      memorized_fraction: memorized / n,
      mean_score: rows > 0 ? sum / s.continuation / rows : null,
      listed_only: s.listedOnly,
    };
  });
}

/** TP/FP/FN/TN of a predicting b over the analysed rows (rows a memorized-evals list leaves out are negatives). */
export function confusion(dataset: Dataset, a: string, b: string): Confusion {
  const tp = countAnd(dataset.memorized.get(a)!, dataset.memorized.get(b)!);
  const fp = dataset.memorizedCount.get(a)! - tp, fn = dataset.memorizedCount.get(b)! - tp;
  return { tp, fp, fn, tn: dataset.rows.analysed - tp - fp - fn };
}

const ratio = (x: number, y: number) => y > 0 ? x / y : null;

/** Training compute of p as a fraction of t's: params × tokens seen (or × steps when the batch is unknown). */
export function computeFraction(p: Source, t: Source): number | null {
  if (p.params === null || t.params === null || p.step === null || t.step === null || t.step === 0) {
    return null;
  }
  const tokens = p.tokensPerStep !== null && t.tokensPerStep !== null
    ? p.step * p.tokensPerStep / (t.step * t.tokensPerStep)
    : p.step / t.step;
  return (p.params / t.params) * tokens;
}

/** Which of the paper's two families a predictor belongs to. */
export function familyOf(
  p: Source,
  target: Source,
  sources: Source[],
  sameSuite: (a: string, b: string) => boolean,
): Family {
  if (p.model === target.model) {
    return (p.step ?? Infinity) < (target.step ?? Infinity) ? "checkpoint" : "other";
  }
  const last = sources.filter((s) => s.model === p.model).at(-1);
  const smaller = p.params !== null && target.params !== null ? p.params < target.params : false;
  return last === p && smaller && sameSuite(p.model, target.model) ? "smaller model" : "other";
}

/** Every other model@revision as a predictor of the target's memorized rows. */
export function forecasts(
  dataset: Dataset,
  target: Source,
  sameSuite: (a: string, b: string) => boolean,
): Forecast[] {
  return dataset.sources.filter((p) => p !== target).map((p) => {
    const { tp, fp, fn, tn } = confusion(dataset, p.source, target.source);
    const precision = ratio(tp, tp + fp), recall = ratio(tp, tp + fn);
    const compute = computeFraction(p, target);
    return {
      predictor: p.source,
      target: target.source,
      family: familyOf(p, target, dataset.sources, sameSuite),
      precision,
      recall,
      precision_interval: wilson(tp, tp + fp),
      recall_interval: wilson(tp, tp + fn),
      f1: ratio(2 * tp, 2 * tp + fp + fn),
      tp,
      fp,
      fn,
      tn,
      compute_fraction: compute,
      recall_per_compute: recall !== null && compute ? recall / compute : null,
      precision_per_compute: precision !== null && compute ? precision / compute : null,
      predictor_params: p.params,
      predictor_step: p.step,
    };
  });
}

/** Pearson's r of two 0/1 indicators (the phi coefficient) from their pair counts; null if one is constant. */
export function phi({ tp, fp, fn, tn }: Confusion): number | null {
  const d = (tp + fp) * (fn + tn) * (tp + fn) * (fp + tn);
  return d > 0 ? (tp * tn - fp * fn) / Math.sqrt(d) : null;
}

/** Pearson on the memorized indicator between every pair of models at the same revision. */
export function memorizedCorrelations(dataset: Dataset): Correlation[] {
  const out: Correlation[] = [];
  for (const a of dataset.sources) {
    for (const b of dataset.sources) {
      if (a.revision !== b.revision) continue;
      out.push({ group: a.revision, a: a.model, b: b.model, r: phi(confusion(dataset, a.source, b.source)) });
    }
  }
  return out;
}

/** Pearson's r from a joint histogram of two integer scores (counts[x·side + y]), in exact integer sums;
 *  null when either score is constant. */
export function pearsonOfCounts(counts: Float64Array, side: number): number | null {
  let n = 0n, sx = 0n, sy = 0n, sxy = 0n, sxx = 0n, syy = 0n;
  for (let x = 0; x < side; x++) {
    for (let y = 0; y < side; y++) {
      const c = BigInt(counts[x * side + y]);
      if (c === 0n) continue;
      const bx = BigInt(x), by = BigInt(y);
      n += c;
      sx += c * bx;
      sy += c * by;
      sxy += c * bx * by;
      sxx += c * bx * bx;
      syy += c * by * by;
    }
  }
  const vx = n * sxx - sx * sx, vy = n * syy - sy * sy;
  if (vx <= 0n || vy <= 0n) return null;
  return Number(n * sxy - sx * sy) / Math.sqrt(Number(vx) * Number(vy));
}

/** Counts of each score k/continuation per model@revision (sources with scores only), all bins present. */
export function scoreHistograms(dataset: Dataset, scores: Map<string, Float64Array>): HistogramBin[] {
  return dataset.sources.filter((s) => s.scored).flatMap((s) =>
    Array.from({ length: s.continuation + 1 }, (_, k) => ({
      source: s.source,
      model: s.model,
      revision: s.revision,
      k,
      score: k / s.continuation,
      count: scores.get(s.source)![k],
    }))
  );
}

/** One step of the equi-compute frontier (computeFrontier). */
export interface BudgetChoice {
  /** The budget: a compute fraction of the target's (a candidate's compute_fraction). */
  budget: number;
  /** The predictor of either family that recalls most within the budget. */
  best: Forecast;
  /** The smaller model that recalls most within the budget; null when none is. */
  bestSmaller: Forecast | null;
  /** The earlier checkpoint that recalls most within the budget; null when none is. */
  bestCheckpoint: Forecast | null;
}

const byRecall = (a: Forecast, b: Forecast) =>
  (b.recall ?? -1) - (a.recall ?? -1) || (b.precision ?? -1) - (a.precision ?? -1) ||
  (a.compute_fraction ?? Infinity) - (b.compute_fraction ?? Infinity);

/**
 * The equi-compute frontier: for each budget (the compute fraction of some predictor, ascending), the predictor
 * of the two families that recalls most of the target's memorized rows within that budget; only budgets
 * where the answer changes are kept, and only predictors that recall at least one row count.
 */
export function computeFrontier(list: Forecast[]): BudgetChoice[] {
  const candidates = list.filter((f) =>
    f.family !== "other" && f.compute_fraction !== null && f.recall !== null && f.recall > 0
  );
  const budgets = [...new Set(candidates.map((f) => f.compute_fraction!))].sort((a, b) => a - b);
  const out: BudgetChoice[] = [];
  for (const budget of budgets) {
    const within = candidates.filter((f) => f.compute_fraction! <= budget * (1 + 1e-12)).sort(byRecall);
    const best = within[0];
    if (out.length && out.at(-1)!.best === best) continue;
    out.push({
      budget,
      best,
      bestSmaller: within.find((f) => f.family === "smaller model") ?? null,
      bestCheckpoint: within.find((f) => f.family === "checkpoint") ?? null,
    });
  }
  return out;
}

/** A law fitted to one family's precision or recall against compute (a `scaling` entry of report.json). */
export interface ScalingFit {
  /** The family fitted. */
  family: "checkpoint" | "smaller model";
  /** What is fitted: the family's precision or its recall. */
  metric: "precision" | "recall";
  /** Predictors of the family with a known compute (the points fitted). */
  predictors: number;
  /** The fitted law; null when it could not be fitted (`note` says why). */
  law: ComputeLaw | null;
  /** Why there is no law, or what to know about it. */
  note: string | null;
}

/**
 * The paper's scaling question: recall and precision of each family against compute fraction, fitted as
 * logit(y) = a + b·ln(compute) to the counts (recall: TP of the target's memorized rows; precision: TP of the
 * predicted rows), with the compute each law predicts for 50% and 90%.
 */
export function scalingFits(list: Forecast[]): ScalingFit[] {
  const out: ScalingFit[] = [];
  for (const family of ["checkpoint", "smaller model"] as const) {
    const members = list.filter((f) => f.family === family && f.compute_fraction !== null);
    if (members.length === 0) continue;
    for (const metric of ["recall", "precision"] as const) {
      const points = members.map((f) => ({
        compute_fraction: f.compute_fraction!,
        successes: f.tp,
        trials: metric === "recall" ? f.tp + f.fn : f.tp + f.fp,
      }));
      out.push({ family, metric, predictors: members.length, ...fitComputeLaw(points) });
    }
  }
  return out;
}
