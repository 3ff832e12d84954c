// The paper's analysis over the long table: memorization per model and revision, every other model@revision
// as a forecast of the target's memorized set, compute, correlations and score distributions.
import { EngramError } from "../engine/errors.ts";
import type { Dataset, Source } from "./dataset.ts";
import { op, type Params, type Row, type Table } from "./table.ts";

export type Family = "smaller model" | "checkpoint" | "other";

export interface SourceSummary {
  source: string;
  model: string;
  revision: string;
  step: number | null;
  params: number | null;
  params_from: string;
  tokens_seen: number | null;
  rows_loaded: number;
  rows_missing: number;
  rows_excluded: number;
  memorized: number;
  memorized_fraction: number;
  mean_score: number | null;
  listed_only: boolean;
}

export interface Forecast {
  predictor: string;
  target: string;
  family: Family;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  compute_fraction: number | null;
  recall_per_compute: number | null;
  precision_per_compute: number | null;
  predictor_params: number | null;
  predictor_step: number | null;
}

export interface Correlation {
  /** The revision shared by both models (memorized) or the model shared by both checkpoints (scores). */
  group: string;
  a: string;
  b: string;
  r: number | null;
}

export interface HistogramBin {
  source: string;
  model: string;
  revision: string;
  k: number;
  score: number;
  count: number;
}

/** The pair counts of two memorized indicators over the analysed rows. */
export interface Confusion {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

/** Picks the target: "model@revision", "model" (its last revision), or by default the largest model's last. */
export function chooseTarget(sources: Source[], wanted?: string): Source {
  const names = sources.map((s) => s.source);
  if (wanted) {
    const [model, revision] = wanted.includes("@") ? wanted.split("@", 2) : [wanted, undefined];
    const ofModel = sources.filter((s) => s.model === model);
    const found = revision === undefined ? ofModel.at(-1) : ofModel.find((s) => s.revision === revision);
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

/** Memorized count, fraction and mean score of every model@revision. */
export function summarize(dataset: Dataset): SourceSummary[] {
  const n = dataset.rows.analysed;
  const stats = new Map(
    (dataset.scores.groupby("source").rollup({
      memorized: op.sum("memorized"),
      mean_score: op.mean("score"),
    }).objects() as Row[]).map((r) => [r.source as string, r]),
  );
  return dataset.sources.map((s) => {
    const r = stats.get(s.source);
    const memorized = r?.memorized ?? 0;
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
      mean_score: s.scored && Number.isFinite(r?.mean_score) ? r!.mean_score : null,
      listed_only: s.listedOnly,
    };
  });
}

/**
 * TP/FP/FN/TN of every ordered pair of sources (a predicts b). Rows are grouped by the set of sources that
 * memorized them, so the work grows with the memorized rows, not with rows × sources²; rows nobody memorized
 * (including those a memorized-evals list leaves out) are true negatives for every pair.
 */
export function confusionMatrix(dataset: Dataset): Map<string, Map<string, Confusion>> {
  const names = dataset.sources.map((s) => s.source);
  const ids = new Map(names.map((s, i) => [s, i]));
  const patterns = dataset.scores
    .filter((d: Row) => d.memorized === 1)
    .params({ ids: Object.fromEntries(ids) })
    .derive({ id: (d: Row, $: Params) => $.ids[d.source] })
    .groupby("index")
    .rollup({ pattern: op.array_agg("id") })
    .derive({ key: (d: Row) => op.join(d.pattern, " ") })
    .groupby("key")
    .count({ as: "rows" })
    .objects() as Row[];
  const k = names.length;
  const both = new Float64Array(k * k), positives = new Float64Array(k);
  for (const { key, rows } of patterns) {
    const members = String(key).split(" ").map(Number);
    for (const a of members) {
      positives[a] += rows;
      for (const b of members) both[a * k + b] += rows;
    }
  }
  const n = dataset.rows.analysed;
  return new Map(names.map((a, i) => [
    a,
    new Map(names.map((b, j) => {
      const tp = both[i * k + j], fp = positives[i] - tp, fn = positives[j] - tp;
      return [b, { tp, fp, fn, tn: n - tp - fp - fn }];
    })),
  ]));
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
  confusion: Map<string, Map<string, Confusion>>,
  sameSuite: (a: string, b: string) => boolean,
): Forecast[] {
  return dataset.sources.filter((p) => p !== target).map((p) => {
    const { tp, fp, fn, tn } = confusion.get(p.source)!.get(target.source)!;
    const precision = ratio(tp, tp + fp), recall = ratio(tp, tp + fn);
    const compute = computeFraction(p, target);
    return {
      predictor: p.source,
      target: target.source,
      family: familyOf(p, target, dataset.sources, sameSuite),
      precision,
      recall,
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
export function memorizedCorrelations(
  dataset: Dataset,
  confusion: Map<string, Map<string, Confusion>>,
): Correlation[] {
  const out: Correlation[] = [];
  for (const a of dataset.sources) {
    for (const b of dataset.sources) {
      if (a.revision !== b.revision) continue;
      out.push({
        group: a.revision,
        a: a.model,
        b: b.model,
        r: phi(confusion.get(a.source)!.get(b.source)!),
      });
    }
  }
  return out;
}

/** Pearson on raw scores between every pair of checkpoints of one model (rows with both scores). */
export function scoreCorrelations(dataset: Dataset): Correlation[] {
  const out: Correlation[] = [];
  const models = [...new Set(dataset.sources.filter((s) => s.scored).map((s) => s.model))];
  for (const model of models) {
    const revisions = dataset.sources.filter((s) => s.model === model && s.scored).map((s) => s.revision);
    const wide: Table = dataset.scores
      .params({ model })
      .filter((d: Row, $: Params) => d.model === $.model && d.score != null)
      .groupby("index")
      .pivot("revision", "score");
    const pairs: Record<string, string> = {};
    revisions.forEach((a, i) =>
      revisions.forEach((b, j) => {
        if (j > i) pairs[`${i}:${j}`] = `op.corr(d[${JSON.stringify(a)}], d[${JSON.stringify(b)}])`;
      })
    );
    const r = Object.keys(pairs).length ? wide.rollup(pairs).object(0) as Row : {};
    revisions.forEach((a, i) =>
      revisions.forEach((b, j) => {
        const v = i === j ? 1 : r[`${Math.min(i, j)}:${Math.max(i, j)}`];
        out.push({ group: model, a, b, r: Number.isFinite(v) ? v : null });
      })
    );
  }
  return out;
}

/** Counts of each score k/continuation per model@revision (sources with scores only), all bins present. */
export function scoreHistograms(dataset: Dataset): HistogramBin[] {
  const counts = new Map(
    (dataset.scores
      .filter((d: Row) => d.score != null)
      .derive({ k: (d: Row) => op.round(d.score * d.continuation) })
      .groupby("source", "k")
      .count()
      .objects() as Row[]).map((r) => [`${r.source} ${r.k}`, r.count as number]),
  );
  return dataset.sources.filter((s) => s.scored).flatMap((s) =>
    Array.from({ length: s.continuation + 1 }, (_, k) => ({
      source: s.source,
      model: s.model,
      revision: s.revision,
      k,
      score: k / s.continuation,
      count: counts.get(`${s.source} ${k}`) ?? 0,
    }))
  );
}

export interface BudgetChoice {
  budget: number;
  best: Forecast;
  bestSmaller: Forecast | null;
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
