// How sure the report can be: 95% intervals for precision and recall (Wilson) and for average precision and
// recall at precision (bootstrap over rows), when an interval is too wide to advise on, and laws fitted to
// recall and precision against compute with the compute they predict for 50% and 90%.
import {
  perLevel,
  PRECISION_LEVELS,
  type Ranking,
  rankingMetrics,
  type RecallAtPrecision,
} from "./curves.ts";
import { Z95 } from "./distributions.ts";
import { fitLogistic } from "./logistic.ts";
import { Rng } from "./random.ts";

/** A 95% interval. */
export interface Interval {
  /** Lower bound. */
  low: number;
  /** Upper bound. */
  high: number;
}

/** Wilson's 95% score interval for a proportion successes/trials; null when trials is 0. */
export function wilson(successes: number, trials: number, z = Z95): Interval | null {
  if (!(trials > 0)) return null;
  const p = successes / trials, z2 = z * z, denominator = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** Bootstrap intervals of a ranked forecast's AP and recall at each precision level. */
export interface RankingIntervals {
  /** Bootstrap resamples drawn. */
  resamples: number;
  /** Seed of the resampling. */
  seed: number;
  /** Cells of the ranking (thresholds holding a memorized row), and how many were resampled: fewer when
   *  consecutive cells were merged to bound the cost (see bootstrapRanking). */
  cells: number;
  /** Cells resampled (after merging). */
  resampled_cells: number;
  /** 95% interval of the average precision; null when undefined. */
  average_precision: Interval | null;
  /** 95% interval of the recall at precision ≥ each level; null where undefined. */
  recall_at_precision: Record<keyof RecallAtPrecision, Interval | null>;
}

/** Rankings with more cells than this are bootstrapped on merged cells (a 146M-row log-probability ranking has
 *  ~2M: 49 s for 200 resamples; 20,000 cells take ~0.4 s). */
export const MAX_BOOTSTRAP_CELLS = 20_000;

/** Consecutive cells merged into groups of ⌈cells / maxCells⌉, as if each group's rows tied. */
export function mergeCells(ranking: Ranking, maxCells: number): Ranking {
  const cells = ranking.positives.length, size = Math.ceil(cells / maxCells);
  if (size <= 1) return ranking;
  const groups = Math.ceil(cells / size);
  const positives = new Float64Array(groups), negatives = new Float64Array(groups);
  for (let j = 0; j < cells; j++) {
    positives[Math.floor(j / size)] += ranking.positives[j];
    negatives[Math.floor(j / size)] += ranking.negatives[j];
  }
  return { positives, negatives };
}

/**
 * Percentile 95% intervals of AP and recall at precision over `resamples` bootstrap resamples of the rows. It is
 * the Poisson bootstrap (each row drawn Poisson(1) times, i.e. the multinomial resample of n rows without the
 * fixed total): it works on the ranking's cells, whose row counts are resampled as Poisson(count), which is
 * exactly the sum of their rows' Poisson(1) weights — so a 146M-row forecast costs one draw per cell, not per
 * row. Resamples without a memorized row are skipped; null when the ranking has none.
 * With more than `maxCells` cells (default MAX_BOOTSTRAP_CELLS), consecutive cells are merged (mergeCells) and
 * the merged ranking is resampled; the intervals are then moved by the exact minus the merged estimate, so
 * that only their width comes from the merged ranking (merging shifts AP by at most a group's share of recall).
 */
export function bootstrapRanking(
  ranking: Ranking,
  options: { resamples?: number; seed?: number; maxCells?: number } = {},
): RankingIntervals {
  const resamples = options.resamples ?? 200, seed = options.seed ?? 1, rng = new Rng(seed);
  const merged = mergeCells(ranking, options.maxCells ?? MAX_BOOTSTRAP_CELLS);
  const cells = merged.positives.length, pos = new Float64Array(cells), neg = new Float64Array(cells);
  const ap: number[] = [], rap: number[][] = PRECISION_LEVELS.map(() => []);
  for (let b = 0; b < resamples; b++) {
    for (let j = 0; j < cells; j++) {
      pos[j] = rng.poisson(merged.positives[j]);
      neg[j] = rng.poisson(merged.negatives[j]);
    }
    const m = rankingMetrics(pos, neg);
    if (m.average_precision === null) continue;
    ap.push(m.average_precision);
    Object.values(m.recall_at_precision).forEach((r, l) => rap[l].push(r!));
  }
  // Merged: shift by exact − merged estimate (0 when nothing was merged).
  const exact = rankingMetrics(ranking.positives, ranking.negatives);
  const approx = merged === ranking ? exact : rankingMetrics(merged.positives, merged.negatives);
  const exactR = Object.values(exact.recall_at_precision),
    approxR = Object.values(approx.recall_at_precision);
  const interval = (xs: number[], shift: number) =>
    xs.length === 0 ? null : {
      low: clamp01(quantile(xs, 0.025) + shift),
      high: clamp01(quantile(xs, 0.975) + shift),
    };
  const shiftR = (l: number) => (exactR[l] ?? 0) - (approxR[l] ?? 0);
  return {
    resamples,
    seed,
    cells: ranking.positives.length,
    resampled_cells: cells,
    average_precision: interval(ap, (exact.average_precision ?? 0) - (approx.average_precision ?? 0)),
    recall_at_precision: perLevel((_, l) => interval(rap[l], shiftR(l))),
  };
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/** The q-quantile of xs, linearly interpolated between order statistics (numpy's default, "type 7"). */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b), h = (s.length - 1) * q, lo = Math.floor(h);
  return lo + 1 < s.length ? s[lo] + (h - lo) * (s[lo + 1] - s[lo]) : s[lo];
}

/** Fewer memorized rows than this and the report says the numbers are too uncertain to advise on. */
export const MIN_MEMORIZED = 10;
/** An interval wider than this (30 percentage points) is too wide to choose between predictors on. */
export const MAX_USEFUL_WIDTH = 0.3;

/** Why a number is too uncertain to advise on (one sentence), or null when it is not. */
export function tooUncertain(
  memorized: number,
  interval: Interval | null,
  what = "this estimate",
): string | null {
  if (memorized < MIN_MEMORIZED) {
    return `the target memorized only ${memorized} of the analysed rows (fewer than ${MIN_MEMORIZED}), too few ` +
      `to tell predictors apart`;
  }
  if (interval === null) return `${what} has no interval`;
  const width = interval.high - interval.low;
  if (width > MAX_USEFUL_WIDTH) {
    return `the 95% interval of ${what} spans ${(100 * width).toFixed(0)} percentage points ` +
      `(${(100 * interval.low).toFixed(1)}%–${(100 * interval.high).toFixed(1)}%)`;
  }
  return null;
}

/** One predictor on a compute curve: compute fraction and successes out of trials (TP of memorized rows for
 *  recall, TP of predicted rows for precision). */
export interface ComputePoint {
  /** The predictor's compute as a fraction of the target's. */
  compute_fraction: number;
  /** TP counted. */
  successes: number;
  /** Rows counted (the target's memorized rows for recall, the predicted rows for precision). */
  trials: number;
}

/** Compute at which a fitted law reaches a level, with its 95% interval. */
export interface ComputeAt {
  /** The compute fraction predicted. */
  compute_fraction: number;
  /** Lower end of its 95% interval. */
  low: number;
  /** Upper end of its 95% interval. */
  high: number;
  /** Outside the range of the fitted predictors' compute: an extrapolation. */
  extrapolated: boolean;
}

/**
 * logit(y) = a + b·ln(compute), fitted by maximum likelihood to binomial counts. The paper plots recall and
 * precision against compute on a log axis; a proportion needs a law that stays in [0, 1]: this is a power law
 * (y ≈ e^a·compute^b) while y is small and saturates at 1.
 */
export interface ComputeLaw {
  /** The law's form. */
  law: "logit(y) = a + b·ln(compute)";
  /** Intercept a. */
  a: number;
  /** Slope b (per unit of ln compute). */
  b: number;
  /** Standard error of a (quasi-binomial). */
  se_a: number;
  /** Standard error of b (quasi-binomial). */
  se_b: number;
  /** Covariance of a and b. */
  cov_ab: number;
  /** Pearson χ²/(points − 2), at least 1: the standard errors are the binomial ones times its square root
   *  (quasi-binomial), since predictors of one target share its rows and are not independent draws. */
  dispersion: number;
  /** Predictors fitted (points with a known compute). */
  points: number;
  /** Compute fraction predicted for y = 0.5 and 0.9 (null when the law does not rise with compute). */
  compute_for: { "0.5": ComputeAt | null; "0.9": ComputeAt | null };
  /** The law at 64 compute fractions from the smallest point's half to 1, for drawing. */
  curve: { compute_fraction: number; value: number }[];
}

/** Fits the law to a family's points, or says in one sentence why it cannot. */
export function fitComputeLaw(points: ComputePoint[]): { law: ComputeLaw | null; note: string | null } {
  const usable = points.filter((p) => p.compute_fraction > 0 && p.trials > 0);
  const distinct = new Set(usable.map((p) => p.compute_fraction)).size;
  if (distinct < 2) {
    return {
      law: null,
      note: `${distinct} predictor${distinct === 1 ? "" : "s"} with a known compute: a law needs two`,
    };
  }
  const successes = usable.reduce((s, p) => s + p.successes, 0),
    trials = usable.reduce((s, p) => s + p.trials, 0);
  if (successes === 0 || successes === trials) {
    return { law: null, note: `every predictor is at ${successes === 0 ? "0%" : "100%"}: no law to fit` };
  }
  const x = Float64Array.from(usable, (p) => Math.log(p.compute_fraction));
  const y = Float64Array.from(usable, (p) => p.successes / p.trials);
  const w = Float64Array.from(usable, (p) => p.trials);
  const fit = fitLogistic(x, 1, y, { weights: w });
  const [a, b] = fit.coefficients;
  if (!fit.converged || !Number.isFinite(fit.covariance[0]) || Math.abs(b) > 100) {
    return {
      law: null,
      note: "the predictors separate perfectly (0% below some compute, 100% above): no finite law",
    };
  }
  let chi2 = 0;
  for (let i = 0; i < usable.length; i++) {
    const mu = 1 / (1 + Math.exp(-(a + b * x[i])));
    chi2 += (w[i] * (y[i] - mu) ** 2) / (mu * (1 - mu));
  }
  const dispersion = usable.length > 2 ? Math.max(1, chi2 / (usable.length - 2)) : 1;
  const [vaa, vab, , vbb] = Array.from(fit.covariance, (v) => v * dispersion);
  const lo = Math.min(...x), hi = Math.max(...x);
  const at = (level: number): ComputeAt | null => {
    if (!(b > 0)) return null;
    const logit = Math.log(level / (1 - level)), lnc = (logit - a) / b;
    const ga = -1 / b, gb = -(logit - a) / (b * b);
    const se = Math.sqrt(ga * ga * vaa + 2 * ga * gb * vab + gb * gb * vbb);
    return {
      compute_fraction: Math.exp(lnc),
      low: Math.exp(lnc - Z95 * se),
      high: Math.exp(lnc + Z95 * se),
      extrapolated: lnc < lo || lnc > hi,
    };
  };
  const from = Math.log(Math.exp(lo) / 2);
  const curve = Array.from({ length: 64 }, (_, i) => {
    const lnc = from + (i / 63) * (0 - from);
    return { compute_fraction: Math.exp(lnc), value: 1 / (1 + Math.exp(-(a + b * lnc))) };
  });
  return {
    law: {
      law: "logit(y) = a + b·ln(compute)",
      a,
      b,
      se_a: Math.sqrt(vaa),
      se_b: Math.sqrt(vbb),
      cov_ab: vab,
      dispersion,
      points: usable.length,
      compute_for: { "0.5": at(0.5), "0.9": at(0.9) },
      curve,
    },
    note: usable.length === 2
      ? "two predictors: the law passes through both, its errors are binomial only"
      : null,
  };
}
