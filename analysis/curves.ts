// Ranked forecasts: a predictor's per-row value (its score k, first mismatch or log-probability, a combined
// forecaster's probability, a property of the text) ranks the rows, and the precision–recall curve over every
// threshold says how well that ranking finds the target's memorized rows. The definitions are scikit-learn's
// (`precision_recall_curve`, `average_precision_score`), so the numbers can be checked there:
//   - predicted at threshold t = the rows with value ≥ t, for every distinct value t, best first;
//   - AP = Σₙ (Rₙ − Rₙ₋₁)·Pₙ over those thresholds, R₀ = 0;
//   - recall at precision ≥ p = the largest recall among thresholds whose precision is ≥ p (0 when none is:
//     scikit-learn's curve ends at precision 1, recall 0, the empty prediction).
// Cost is linear in rows for small-integer values (counts per value), and one typed-array sort otherwise.
import { type Bitset, hasRow } from "./bitset.ts";

/** The precision levels at which the report gives the best recall a threshold reaches. */
export const PRECISION_LEVELS = [0.5, 0.8, 0.9, 0.95] as const;

/** A precision level as report.json's keys write it. */
export type PrecisionKey = "0.5" | "0.8" | "0.9" | "0.95";

/** One value per precision level, keyed as report.json writes them: `value(key, l)` for PRECISION_LEVELS[l]. */
export function perLevel<T>(value: (key: PrecisionKey, l: number) => T): Record<PrecisionKey, T> {
  const out = {} as Record<PrecisionKey, T>;
  PRECISION_LEVELS.forEach((level, l) => {
    const key = String(level) as PrecisionKey;
    out[key] = value(key, l);
  });
  return out;
}

/** Recall at precision ≥ 0.5, 0.8, 0.9, 0.95; null without memorized rows. */
export type RecallAtPrecision = Record<PrecisionKey, number | null>;

/** One predictor's ranked forecast of the target's memorized rows (a `curves` entry of report.json). */
export interface PrCurve {
  /** The forecasting model@revision ("combined" or "text" for forecasts of no one model). */
  predictor: string;
  /** The target, model@revision. */
  target: string;
  /** score, logprob, first_mismatch, combined, or a property of the text. */
  feature: string;
  /** ">=": larger values forecast memorized (predicted = value ≥ t); "<=": smaller ones do. */
  predicted_when: ">=" | "<=";
  /** Rows with a value (NaN = not scored: left out of the curve). */
  rows: number;
  /** Memorized rows among them. */
  positives: number;
  /** Distinct values, best first, with precision and recall at each. When there are more than the curve's
   *  point budget (continuous values), only points at least 1/budget apart in precision or recall are kept;
   *  the average precision and recall at precision are always computed over every threshold. */
  thresholds: number[];
  /** Precision at each threshold, in [0, 1]. */
  precision: number[];
  /** Recall at each threshold, in [0, 1]. */
  recall: number[];
  /** null when no row is memorized (recall is undefined). */
  average_precision: number | null;
  /** Recall at precision ≥ each level, over every threshold. */
  recall_at_precision: RecallAtPrecision;
  /** For each precision level, the threshold that reaches recall_at_precision there (the first, best first)
   *  and the precision it has: how to use the forecast. null where no threshold recalls anything at the level. */
  operating_points: OperatingPoints;
}

/** A threshold of a ranked forecast with its precision and recall, and the counts they come from. */
export interface OperatingPoint {
  /** The value at or beyond which (per predicted_when) a row is predicted memorized. */
  threshold: number;
  /** TP / (TP + FP) at the threshold, in [0, 1]. */
  precision: number;
  /** TP / positives at the threshold, in [0, 1]. */
  recall: number;
  /** Memorized rows among the predicted ones, and the other predicted rows. */
  tp: number;
  /** Other rows predicted (false positives). */
  fp: number;
}

/** The operating point reaching each recall_at_precision level; null where none recalls anything at it. */
export type OperatingPoints = Record<keyof RecallAtPrecision, OperatingPoint | null>;

/**
 * The curve's counts reduced to what AP and recall at precision depend on: one cell per threshold that holds a
 * memorized row, best first, with its memorized rows and the other rows that enter the prediction at it or at a
 * threshold after the previous cell. Rows ranked below the last memorized one cannot change either number and
 * are dropped. This is what the bootstrap resamples.
 */
export interface Ranking {
  /** Memorized rows per cell. */
  positives: Float64Array;
  /** Other rows per cell. */
  negatives: Float64Array;
}

/** How a curve is computed (prCurve). */
export interface CurveOptions {
  /** Larger values forecast memorized (default); false for values where smaller means more likely. */
  higherIsMemorized?: boolean;
  /** Only these rows (default: every row). */
  include?: Bitset;
  /** Point budget of the curve as written (default 1000; every threshold is used for AP either way). */
  maxPoints?: number;
  /** Where values are sorted (default: a buffer of its own); one buffer serves every curve of a report. */
  sortBuffer?: SortBuffer;
  /** `values` is a Float64Array the curve may sort in place (its contents are lost): no 8 bytes a row beside it. */
  consumeValues?: boolean;
}

/** The memory a curve of continuous values sorts them in (8 bytes a row), kept from one curve to the next so
 *  that a report with several holds one such buffer instead of one per curve until they are collected. */
export class SortBuffer {
  private data = new Float64Array(0);

  /** A Float64Array of n values (its contents are whatever the last curve left). */
  take(n: number): Float64Array {
    if (this.data.length < n) this.data = new Float64Array(n);
    return this.data.subarray(0, n);
  }
}

/** AP and recall at each precision level of a ranking (best-first counts); nulls without memorized rows. */
export function rankingMetrics(
  positives: ArrayLike<number>,
  negatives: ArrayLike<number>,
): { average_precision: number | null; recall_at_precision: RecallAtPrecision } {
  let total = 0;
  for (let j = 0; j < positives.length; j++) total += positives[j];
  const best = [0, 0, 0, 0];
  if (total === 0) {
    return { average_precision: null, recall_at_precision: perLevel(() => null) };
  }
  let tp = 0, fp = 0, ap = 0;
  for (let j = 0; j < positives.length; j++) {
    tp += positives[j];
    fp += negatives[j];
    if (positives[j] === 0) continue;
    const precision = tp / (tp + fp), recall = tp / total;
    ap += (positives[j] / total) * precision;
    for (let l = 0; l < PRECISION_LEVELS.length; l++) {
      if (precision >= PRECISION_LEVELS[l] && recall > best[l]) best[l] = recall;
    }
  }
  return { average_precision: ap, recall_at_precision: perLevel((_, l) => best[l]) };
}

/** The precision–recall curve of `values` (one per row, NaN = not scored) as a forecast of `memorized`. */
export function precisionRecall(
  values: ArrayLike<number>,
  memorized: Bitset,
  names: { predictor: string; target: string; feature: string },
  options: CurveOptions = {},
): { curve: PrCurve; ranking: Ranking } {
  const higher = options.higherIsMemorized ?? true, include = options.include;
  let rows = 0, positives = 0, integral = true, min = Infinity, max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v || (include && !hasRow(include, i))) continue;
    rows++;
    if (hasRow(memorized, i)) positives++;
    if (!Number.isInteger(v)) integral = false;
    else if (v < min) min = v;
    if (integral && v > max) max = v;
  }
  const builder = new CurveBuilder(positives, options.maxPoints ?? 1000);
  if (integral && rows > 0 && max - min <= COUNTING_RANGE) {
    walkCounts(values, memorized, include, min, max, higher, builder);
  } else if (rows > 0) {
    // The rows' values, memorized ones (few) and the others apart, each part to be sorted.
    const inPlace = options.consumeValues === true && values instanceof Float64Array;
    const sorted = inPlace ? null : (options.sortBuffer ?? new SortBuffer()).take(rows);
    const pv = sorted ? sorted.subarray(0, positives) : new Float64Array(positives);
    const nv = sorted ? sorted.subarray(positives) : (values as Float64Array).subarray(0, rows - positives);
    walkSorted(values, memorized, include, pv, nv, higher, builder);
  }
  const ranking = builder.ranking();
  return {
    curve: {
      ...names,
      predicted_when: higher ? ">=" : "<=",
      rows,
      positives,
      ...builder.points(),
      ...rankingMetrics(ranking.positives, ranking.negatives),
      operating_points: builder.operatingPoints(),
    },
    ranking,
  };
}

/** Integer values spanning at most this many get one count per value instead of a sort. */
const COUNTING_RANGE = 1 << 16;

function walkCounts(
  values: ArrayLike<number>,
  memorized: Bitset,
  include: Bitset | undefined,
  min: number,
  max: number,
  higher: boolean,
  builder: CurveBuilder,
): void {
  const size = max - min + 1, pos = new Float64Array(size), neg = new Float64Array(size);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v || (include && !hasRow(include, i))) continue;
    if (hasRow(memorized, i)) pos[v - min]++;
    else neg[v - min]++;
  }
  for (let k = 0; k < size; k++) {
    const at = higher ? size - 1 - k : k;
    if (pos[at] + neg[at] > 0) builder.add(at + min, pos[at], neg[at]);
  }
}

/** The rows' values into pv (memorized rows) and nv (the others), each sorted, then walked best first. nv may be
 *  the front of `values` itself: row i's value is read before anything is written at i or after. */
function walkSorted(
  values: ArrayLike<number>,
  memorized: Bitset,
  include: Bitset | undefined,
  pv: Float64Array,
  nv: Float64Array,
  higher: boolean,
  builder: CurveBuilder,
): void {
  // Values are stored as sign·v (+0 for ±0) so that larger always means more likely memorized.
  const sign = higher ? 1 : -1, positives = pv.length, negatives = nv.length;
  let p = 0, n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v || (include && !hasRow(include, i))) continue;
    const x = v === 0 ? 0 : sign * v;
    if (hasRow(memorized, i)) pv[p++] = x;
    else nv[n++] = x;
  }
  sortFloat64(pv);
  sortFloat64(nv);
  for (let i = positives - 1, j = negatives - 1; i >= 0 || j >= 0;) {
    const t = i < 0 ? nv[j] : j < 0 ? pv[i] : pv[i] >= nv[j] ? pv[i] : nv[j];
    let tp = 0, fp = 0;
    for (; i >= 0 && pv[i] === t; i--) tp++;
    for (; j >= 0 && nv[j] === t; j--) fp++;
    builder.add(t === 0 ? 0 : sign * t, tp, fp);
  }
}

/**
 * Sorts non-NaN doubles ascending, in place, through their bits: mapped to unsigned 64-bit keys in the same
 * order and sorted as a BigUint64Array (a native sort, ~5× faster than Float64Array's). Needs a little-endian
 * machine (every platform Deno runs on). -0 sorts before +0.
 */
export function sortFloat64(a: Float64Array): void {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
  for (let i = 1; i < u.length; i += 2) {
    if (u[i] & 0x80000000) {
      u[i] = ~u[i];
      u[i - 1] = ~u[i - 1];
    } else u[i] |= 0x80000000;
  }
  new BigUint64Array(a.buffer, a.byteOffset, a.length).sort();
  for (let i = 1; i < u.length; i += 2) {
    if (u[i] & 0x80000000) u[i] &= 0x7fffffff;
    else {
      u[i] = ~u[i];
      u[i - 1] = ~u[i - 1];
    }
  }
}

/** A Float64Array that grows (the ranking's cells: up to one per memorized row). */
class Growable {
  data = new Float64Array(64);
  length = 0;
  push(x: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = x;
  }
  array = (): Float64Array => this.data.slice(0, this.length);
}

/** Receives (threshold, memorized rows, other rows) best first; keeps the ranking and the points to write. */
class CurveBuilder {
  private tp = 0;
  private fp = 0;
  private pending = 0;
  private cellPositives = new Growable();
  private cellNegatives = new Growable();
  private kept: [number, number, number][] = [];
  private last: [number, number, number] | null = null;
  private thinning = false;
  /** Per precision level, the first point with the largest recall at that precision or above. */
  private best: (OperatingPoint | null)[] = PRECISION_LEVELS.map(() => null);

  constructor(private readonly total: number, private readonly maxPoints: number) {}

  add(threshold: number, positives: number, negatives: number): void {
    this.tp += positives;
    this.fp += negatives;
    if (positives > 0) {
      this.cellPositives.push(positives);
      this.cellNegatives.push(this.pending + negatives);
      this.pending = 0;
    } else this.pending += negatives;
    const point: [number, number, number] = [
      threshold,
      this.tp / (this.tp + this.fp),
      this.total > 0 ? this.tp / this.total : NaN,
    ];
    this.last = point;
    if (positives > 0) {
      for (let l = 0; l < PRECISION_LEVELS.length; l++) {
        if (point[1] >= PRECISION_LEVELS[l] && point[2] > (this.best[l]?.recall ?? 0)) {
          this.best[l] = { threshold, precision: point[1], recall: point[2], tp: this.tp, fp: this.fp };
        }
      }
    }
    if (!this.thinning) {
      this.kept.push(point);
      if (this.kept.length > this.maxPoints) {
        this.thinning = true;
        const all = this.kept;
        this.kept = [all[0]];
        for (const p of all.slice(1)) this.keepIfFar(p);
      }
    } else this.keepIfFar(point);
  }

  private keepIfFar(p: [number, number, number]): void {
    const q = this.kept.at(-1)!, step = 1 / this.maxPoints;
    if (Math.abs(p[1] - q[1]) >= step || Math.abs(p[2] - q[2]) >= step) this.kept.push(p);
  }

  operatingPoints(): OperatingPoints {
    return perLevel((_, l) => this.best[l]);
  }

  ranking = (): Ranking => ({ positives: this.cellPositives.array(), negatives: this.cellNegatives.array() });

  points(): { thresholds: number[]; precision: number[]; recall: number[] } {
    const kept = this.last && this.kept.at(-1) !== this.last ? [...this.kept, this.last] : this.kept;
    return {
      thresholds: kept.map((p) => p[0]),
      precision: kept.map((p) => p[1]),
      recall: kept.map((p) => p[2]),
    };
  }
}

/** A ranked forecast with its cost, as the equal-compute advice weighs it. */
export interface CostedCurve {
  /** The forecasting model@revision. */
  predictor: string;
  /** Which of its values ranks the rows (see PrCurve.feature). */
  feature: string;
  /** Share of the target's training compute (0 for properties of the text); null: unknown, left out. */
  compute_fraction: number | null;
  /** Recall at precision ≥ each level. */
  recall_at_precision: RecallAtPrecision;
}

/** The best recall reachable at precision ≥ a level within a compute budget, by a threshold on one forecast. */
export interface BudgetPick {
  /** The budget: a compute fraction of the target's. */
  budget: number;
  /** The forecasting model@revision. */
  predictor: string;
  /** Which of its values ranks the rows. */
  feature: string;
  /** Recall at the precision level, in [0, 1]. */
  recall: number;
}

/**
 * For each budget (the compute of some forecast, ascending), the forecast whose threshold recalls most of the
 * target's memorized rows at precision ≥ `level` among those within the budget; only budgets where the answer
 * changes are kept, and only forecasts that recall something count. Ties go to the cheaper, then the earlier.
 */
export function recallFrontier(curves: CostedCurve[], level: keyof RecallAtPrecision = "0.9"): BudgetPick[] {
  const known = curves.filter((c) => c.compute_fraction !== null && (c.recall_at_precision[level] ?? 0) > 0);
  const budgets = [...new Set(known.map((c) => c.compute_fraction!))].sort((a, b) => a - b);
  const out: BudgetPick[] = [];
  let best: CostedCurve | null = null;
  for (const budget of budgets) {
    for (const c of known) {
      if (c.compute_fraction !== budget) continue;
      if (best === null || c.recall_at_precision[level]! > best.recall_at_precision[level]!) best = c;
    }
    if (out.length && out.at(-1)!.predictor === best!.predictor && out.at(-1)!.feature === best!.feature) {
      continue;
    }
    out.push({
      budget,
      predictor: best!.predictor,
      feature: best!.feature,
      recall: best!.recall_at_precision[level]!,
    });
  }
  return out;
}
