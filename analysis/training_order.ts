// Memorization over training order: rows are trained on in order (row i first at step ⌊i / rows per step⌋), so
// the memorized fraction per step bucket shows whether rows seen early or late are memorized more. The paper's
// data is roughly flat; a recency effect shows as a rise at the end. Two tests say whether it is flat:
//   - chi-square test of homogeneity of the memorized fraction across buckets (any difference);
//   - Cochran–Armitage test for a linear trend in the step (the score test of the slope of a logistic
//     regression on step), row by row, so it does not depend on the buckets: z > 0 means later rows are
//     memorized more.
// One model's p-values would be read as they are; with several models tested at once one of them is likelier
// to pass 0.05 by chance, so each test's p-values are Holm-adjusted over the models tested (Holm's step-down
// correction: it controls the chance of any false "varies" at 5%, as Bonferroni does, and rejects at least as
// often), and the verdicts use the adjusted ones.
import { type Bitset, compactBitset, hasRow } from "./bitset.ts";
import type { Dataset } from "./dataset.ts";
import { chiSquareSf, normalSf } from "./distributions.ts";
import { type Interval, wilson } from "./uncertainty.ts";

/** The rows of one model@revision first trained on in a range of steps, and how many it memorized. */
export interface StepBucket {
  /** Steps [first_step, last_step] at which its rows were first trained on. */
  first_step: number;
  /** Last step of the range (inclusive). */
  last_step: number;
  /** Analysed rows in the bucket. */
  rows: number;
  /** Of them, memorized. */
  memorized: number;
  /** null for a bucket without rows. */
  fraction: number | null;
  /** Wilson 95% interval of the fraction; null for a bucket without rows. */
  interval: Interval | null;
}

/** Memorization over training order for one model@revision (a `training_order` entry of report.json). */
export interface TrainingOrder {
  /** The model@revision. */
  source: string;
  /** Training rows per optimizer step (row i is first trained on at step ⌊i / rows_per_step⌋). */
  rows_per_step: number;
  /** Its rows in buckets of steps, in order. */
  buckets: StepBucket[];
  /** p_holm: p_value Holm-adjusted over the models whose test was made (holmAdjusted); the verdict's. */
  homogeneity:
    | { statistic: number; df: number; p_value: number; p_holm: number; min_expected: number }
    | null;
  /**
   * Cochran–Armitage test of a linear trend in the step (z > 0: later rows memorized more); null when not
   * made.
   */
  trend: { z: number; p_value: number; p_holm: number } | null;
  /** How many models' tests the p_holm values are adjusted over. */
  tested: number;
  /** Why a test is missing, or that the chi-square approximation is rough (an expected count below 5). */
  note: string | null;
}

/**
 * Memorized fraction of `source` per bucket of first-seen step, over the analysed rows (`rowIndex[i]` is row
 * i's index in the training data), in `buckets` buckets of equal width in steps.
 */
export function memorizationOverTraining(
  rowIndex: ArrayLike<number>,
  memorized: Bitset,
  rowsPerStep: number,
  source: string,
  buckets = 10,
): TrainingOrder {
  const n = rowIndex.length;
  /** The step at which row i was first trained on. */
  const stepOf = (i: number) => Math.floor(rowIndex[i] / rowsPerStep);
  let first = Infinity, last = -Infinity;
  for (let i = 0; i < n; i++) {
    const s = stepOf(i);
    if (s < first) first = s;
    if (s > last) last = s;
  }
  const empty = {
    source,
    rows_per_step: rowsPerStep,
    buckets: [],
    homogeneity: null,
    trend: null,
    tested: 0,
  };
  if (n === 0) return { ...empty, note: "no rows" };
  const width = Math.ceil((last - first + 1) / buckets), count = Math.ceil((last - first + 1) / width);
  const rows = new Float64Array(count), hits = new Float64Array(count);
  let stepSum = 0, total = 0;
  for (let i = 0; i < n; i++) {
    const s = stepOf(i), b = Math.floor((s - first) / width);
    rows[b]++;
    stepSum += s;
    if (hasRow(memorized, i)) {
      hits[b]++;
      total++;
    }
  }
  const list: StepBucket[] = Array.from({ length: count }, (_, b) => ({
    first_step: first + b * width,
    last_step: Math.min(last, first + (b + 1) * width - 1),
    rows: rows[b],
    memorized: hits[b],
    fraction: rows[b] > 0 ? hits[b] / rows[b] : null,
    interval: wilson(hits[b], rows[b]),
  }));
  const p = total / n;
  if (total === 0 || total === n) {
    return {
      ...empty,
      buckets: list,
      note: `${source} memorized ${total === 0 ? "none" : "all"} of the rows`,
    };
  }
  let statistic = 0, df = -1, minExpected = Infinity;
  for (let b = 0; b < count; b++) {
    if (rows[b] === 0) continue;
    const expected = rows[b] * p;
    statistic += (hits[b] - expected) ** 2 / (expected * (1 - p));
    minExpected = Math.min(minExpected, expected, rows[b] - expected);
    df++;
  }
  // Trend: z = Σ (sᵢ − s̄)·yᵢ / √(p(1−p)·Σ (sᵢ − s̄)²).
  const mean = stepSum / n;
  let numerator = 0, spread = 0;
  for (let i = 0; i < n; i++) {
    const d = stepOf(i) - mean;
    spread += d * d;
    if (hasRow(memorized, i)) numerator += d;
  }
  const z = spread > 0 ? numerator / Math.sqrt(p * (1 - p) * spread) : null;
  return {
    source,
    rows_per_step: rowsPerStep,
    buckets: list,
    homogeneity: df > 0
      ? {
        statistic,
        df,
        p_value: chiSquareSf(statistic, df),
        p_holm: chiSquareSf(statistic, df),
        min_expected: minExpected,
      }
      : null,
    trend: z === null ? null : { z, p_value: 2 * normalSf(Math.abs(z)), p_holm: 2 * normalSf(Math.abs(z)) },
    tested: 1,
    note: df <= 0
      ? "all rows are in one bucket of steps"
      : minExpected < 5
      ? `an expected count is ${minExpected.toFixed(1)} (< 5): the chi-square p-value is approximate`
      : null,
  };
}

/**
 * Memorization over training order for each model at its last revision whose rows per step are known, over the
 * analysed rows (`rowIndex`: their indices in the training data, which are in training order).
 */
export function trainingOrders(
  dataset: Dataset,
  rowIndex: ArrayLike<number>,
): { orders: TrainingOrder[]; note: string | null } {
  const lastOf = new Map(dataset.sources.map((s) => [s.model, s])); // sources are ordered by step
  const known = [...lastOf.values()].filter((s) => s.rowsPerStep !== null);
  const orders = known.map((s) =>
    memorizationOverTraining(
      rowIndex,
      compactBitset(dataset.memorized.get(s.source)!, dataset.analysed),
      s.rowsPerStep!,
      s.source,
    )
  );
  // Each test's p-values adjusted over the models it was made for.
  for (const test of ["homogeneity", "trend"] as const) {
    const made = orders.filter((o) => o[test] !== null);
    const adjusted = holmAdjusted(made.map((o) => o[test]!.p_value));
    made.forEach((o, k) => o[test]!.p_holm = adjusted[k]);
  }
  for (const o of orders) o.tested = orders.filter((x) => x.trend !== null || x.homogeneity !== null).length;
  const unknown = [...lastOf.values()].filter((s) => s.rowsPerStep === null).map((s) => s.model);
  return {
    orders,
    note: unknown.length
      ? `no memorization over training order for ${unknown.join(", ")}: rows per step unknown (pass --meta ` +
        `rows_per_step, or put suite.json or engram.json above the model)`
      : null,
  };
}

/**
 * Holm's step-down adjustment of m p-values (in their order): the i-th smallest becomes
 * max over j ≤ i of min(1, (m − j + 1) · p₍ⱼ₎).
 */
export function holmAdjusted(p: number[]): number[] {
  const m = p.length, order = p.map((_, i) => i).sort((a, b) => p[a] - p[b] || a - b);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach((i, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p[i]));
    out[i] = running;
  });
  return out;
}

/** Whether a model's memorization looks flat over training order, in words (on the Holm-adjusted p-values
 *  when several models were tested; `sayAdjusted` false where the sentence around says so once). */
export function orderVerdict(o: TrainingOrder, sayAdjusted = true): string {
  if (!o.homogeneity || !o.trend) return o.note ?? "no test";
  const p = (x: number) => x < 0.001 ? "p < 0.001" : `p = ${x.toFixed(3)}`;
  const adjusted = o.tested > 1 && sayAdjusted ? `, Holm-adjusted for ${o.tested} models` : "";
  if (o.trend.p_holm < 0.05) {
    return `${o.trend.z > 0 ? "rises" : "falls"} with the step first seen (trend ${p(o.trend.p_holm)}` +
      `${adjusted}): ${o.trend.z > 0 ? "later" : "earlier"} rows are memorized more`;
  }
  if (o.homogeneity.p_holm < 0.05) {
    return `varies between step buckets (χ² ${p(o.homogeneity.p_holm)}${adjusted}) without a linear trend`;
  }
  return `is flat (no evidence that it varies: χ² ${p(o.homogeneity.p_holm)}, trend ${
    p(o.trend.p_holm)
  }${adjusted})`;
}
