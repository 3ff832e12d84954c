// A combined forecaster: logistic regression of "memorized by the target" on cheap inputs (smaller models' and
// early checkpoints' scores, first mismatches and log-probabilities, properties of the text), judged honestly
// by k-fold cross-validation over rows: every row's forecast comes from a model fitted without its fold. The
// folds are stratified by the label: memorized rows are few (3 of 192 in the demo) and, put in folds by a hash,
// may all land in one fold, whose model is then fitted on no memorized row and forecasts none of them.
//
// The fit is Newton's method (iteratively reweighted least squares) with an L2 penalty on standardized inputs,
// written here: npm's logistic regressions (ml-logistic-regression: fixed-step gradient descent, no intercept,
// no penalty, no convergence test; @stdlib's is incremental SGD) do not converge to the optimum, and with a few
// dozen inputs Newton's method needs a (p+1)² system per step and converges in ~10 steps.
import { addRow, type Bitset, emptyBitset, hasRow } from "./bitset.ts";
import {
  type PrCurve,
  precisionRecall,
  type Ranking,
  type RecallAtPrecision,
  type SortBuffer,
} from "./curves.ts";
import { Rng } from "./random.ts";

/** A logistic regression fitted by Newton's method (fitLogistic). */
export interface LogisticFit {
  /** The intercept, then one coefficient per column. */
  coefficients: Float64Array;
  /** Inverse of the (penalized) Hessian of the negative log-likelihood at the optimum, (columns+1)², row-major:
   *  the coefficients' covariance when unpenalized. */
  covariance: Float64Array;
  /** Newton steps taken. */
  iterations: number;
  /** Whether the coefficients settled within the tolerance before maxIterations. */
  converged: boolean;
  /** Weighted log-likelihood at the optimum (without the penalty). */
  logLikelihood: number;
}

/** How fitLogistic fits. */
export interface FitOptions {
  /** Weight of each row (e.g. trials of a binomial count whose success fraction is y); default 1. */
  weights?: ArrayLike<number>;
  /** L2 penalty λ on the coefficients (not the intercept): the objective adds λ/2·Σβⱼ². Default 0. */
  l2?: number;
  /** Newton steps at most (default 100). */
  maxIterations?: number;
  /** Converged when no coefficient moves more than this in a step (default 1e-10). */
  tolerance?: number;
}

/** log(1 + e^η) without overflow. */
const softplus = (eta: number) => eta > 0 ? eta + Math.log1p(Math.exp(-eta)) : Math.log1p(Math.exp(eta));
const sigmoid = (eta: number) => 1 / (1 + Math.exp(-eta));

/**
 * Maximizes Σ wᵢ[yᵢηᵢ − log(1 + e^ηᵢ)] − λ/2·Σβⱼ², ηᵢ = β₀ + Σⱼ xᵢⱼβⱼ, by Newton steps halved until the
 * objective improves. x: rows × columns, row-major; y in [0, 1] (a 0/1 label or a success fraction).
 */
export function fitLogistic(
  x: Float64Array,
  columns: number,
  y: ArrayLike<number>,
  options: FitOptions = {},
): LogisticFit {
  const rows = y.length, p = columns + 1, l2 = options.l2 ?? 0, w = options.weights;
  const maxIterations = options.maxIterations ?? 100, tolerance = options.tolerance ?? 1e-10;
  const beta = new Float64Array(p), trial = new Float64Array(p);
  const eta = (b: Float64Array, i: number) => {
    let e = b[0];
    for (let j = 0; j < columns; j++) e += x[i * columns + j] * b[j + 1];
    return e;
  };
  const objective = (b: Float64Array) => {
    let ll = 0;
    for (let i = 0; i < rows; i++) {
      const e = eta(b, i);
      ll += (w ? w[i] : 1) * (y[i] * e - softplus(e));
    }
    let penalty = 0;
    for (let j = 1; j < p; j++) penalty += b[j] * b[j];
    return { ll, value: ll - (l2 / 2) * penalty };
  };
  const newton = (b: Float64Array) => {
    const g = new Float64Array(p), h = new Float64Array(p * p), z = new Float64Array(p);
    z[0] = 1;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < columns; j++) z[j + 1] = x[i * columns + j];
      const mu = sigmoid(eta(b, i)), wi = w ? w[i] : 1, r = wi * (y[i] - mu), s = wi * mu * (1 - mu);
      for (let a = 0; a < p; a++) {
        g[a] += r * z[a];
        for (let c = 0; c <= a; c++) h[a * p + c] += s * z[a] * z[c];
      }
    }
    for (let a = 0; a < p; a++) for (let c = 0; c < a; c++) h[c * p + a] = h[a * p + c];
    for (let j = 1; j < p; j++) {
      g[j] -= l2 * b[j];
      h[j * p + j] += l2;
    }
    return { g, h };
  };
  let current = objective(beta), iterations = 0, converged = false;
  while (iterations < maxIterations && !converged) {
    iterations++;
    const { g, h } = newton(beta);
    const step = choleskySolve(h, p, g);
    if (!step) break;
    let t = 1, next = current;
    for (; t > 1e-12; t /= 2) {
      for (let j = 0; j < p; j++) trial[j] = beta[j] + t * step[j];
      next = objective(trial);
      if (next.value >= current.value - 1e-12 * Math.abs(current.value)) break;
    }
    let moved = 0;
    for (let j = 0; j < p; j++) moved = Math.max(moved, Math.abs(trial[j] - beta[j]));
    beta.set(trial);
    current = next;
    converged = moved < tolerance;
  }
  const { h } = newton(beta);
  const covariance = choleskyInverse(h, p) ?? new Float64Array(p * p).fill(NaN);
  return { coefficients: beta, covariance, iterations, converged, logLikelihood: current.ll };
}

/** Lower Cholesky factor of a symmetric positive definite n×n matrix, or null if it is not. */
function cholesky(a: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (!(s > 0)) return null;
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j];
    }
  }
  return l;
}

function solveWith(l: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * y[k];
    y[i] = s / l[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * y[k];
    y[i] = s / l[i * n + i];
  }
  return y;
}

/** Solves A·x = b for symmetric positive definite A, or null if A is not. */
function choleskySolve(a: Float64Array, n: number, b: ArrayLike<number>): Float64Array | null {
  const l = cholesky(a, n);
  return l && solveWith(l, n, b);
}

function choleskyInverse(a: Float64Array, n: number): Float64Array | null {
  const l = cholesky(a, n);
  if (!l) return null;
  const inv = new Float64Array(n * n), e = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    e.fill(0);
    e[c] = 1;
    const col = solveWith(l, n, e);
    for (let r = 0; r < n; r++) inv[r * n + c] = col[r];
  }
  return inv;
}

/** One input of the combined forecaster: a value per analysed row (NaN = missing). */
export interface ForecastInput {
  /** e.g. "pico-2@step1092 score" or "text: window copies". */
  name: string;
  /** The input's value per analysed row. */
  values: ArrayLike<number>;
  /** Larger values mean more likely memorized (default true): only for the input's own curve. */
  higherIsMemorized?: boolean;
  /** The input's cost as a share of the target's training compute (0 for properties of the text). */
  compute_fraction: number | null;
  /** "log1p": enter as log(1 + value) (counts, e.g. copies of a window). */
  transform?: "log1p";
}

/** How the combined forecaster is cross-validated. */
export interface CrossValidationOptions {
  /** Folds asked for (default 5); fewer when there are fewer memorized rows (or others) than that (see
   *  crossValidationPlan). */
  folds?: number;
  /** Seed of the fold assignment and of the fit samples (default 1). */
  seed?: number;
  /** L2 penalty on the standardized coefficients (default 1). */
  l2?: number;
  /** Each fold's model is fitted on at most this many of its training rows, a seeded uniform sample
   *  (default 100,000); every held-out row is forecast. */
  fitRows?: number;
  /** Point budget of the written curves (see PrCurve). */
  maxPoints?: number;
  /** Where the curves sort their values (see CurveOptions), and where the held-out log-odds are then kept: the
   *  combined curve sorts them in place, so they are not returned (logOdds null). */
  sortBuffer?: SortBuffer;
}

/** The combined forecaster as report.json gives it. */
export interface CombinedForecast {
  /** The target, model@revision. */
  target: string;
  /** Rows with every input present (the others get no forecast), and the memorized rows among them. */
  rows: number;
  /** Memorized rows among `rows`. */
  positives: number;
  /** Folds used: the folds asked for, or fewer when fewer rows of a class (memorized or not) than that. */
  folds: number;
  /** Folds asked for. */
  folds_requested: number;
  /** How rows were put in folds, in words. */
  stratification: string;
  /** Seed of the fold assignment and of the fit samples. */
  seed: number;
  /** L2 penalty on the standardized coefficients. */
  l2: number;
  /** Rows each fold's model was fitted on (a seeded sample of the other folds' rows when they are more). */
  fit_rows: number[];
  /** Per input: its coefficient on the standardized input in a fit to (a sample of) every row — the size
   *  says how much it counts, given the others — and its own AP and recall at precision on the same rows. */
  inputs: {
    name: string;
    compute_fraction: number | null;
    transform: string | null;
    coefficient: number;
    average_precision: number | null;
    recall_at_precision: RecallAtPrecision;
  }[];
  /** The held-out forecasts' curve (feature "combined"). */
  curve: PrCurve;
}

/** How rows are put in folds (CombinedForecast.stratification). */
export const STRATIFICATION: string =
  "stratified by the label: the memorized rows, and the others, each dealt out over " +
  "the folds in row order, in a seeded random order within each round, so that every fold holds its share of " +
  "both (±1)";

/** Why there are fewer folds than asked for ("3 folds, not 5, as only 3 rows are memorized"); "" when not. */
export function fewerFolds(
  c: { folds: number; folds_requested: number; positives: number; rows: number },
): string {
  if (c.folds >= c.folds_requested) return "";
  const few = c.positives <= c.rows - c.positives
    ? `${c.positives} rows are memorized`
    : `${c.rows - c.positives} are not memorized`;
  return `${c.folds} folds, not ${c.folds_requested}, as only ${few}`;
}

/** "stratified (…)" in a sentence of the findings. */
export function foldsInWords(
  c: { folds: number; folds_requested: number; positives: number; rows: number },
): string {
  const fewer = fewerFolds(c);
  return `stratified (every fold holds its share of the memorized rows${fewer ? `; ${fewer}` : ""})`;
}

/** The rows the combined forecaster would use (every input present) and its folds, or why it cannot be fitted
 *  honestly: a fold's model needs a memorized row and another one to fit on, and each held-out fold one of each
 *  would be forecast without. */
export function crossValidationPlan(
  inputs: ForecastInput[],
  memorized: Bitset,
  n: number,
  requested = 5,
): { present: Bitset; rows: number; positives: number; folds: number; unfit: string | null } {
  const present = emptyBitset(n);
  let rows = 0, positives = 0;
  for (let i = 0; i < n; i++) {
    let ok = true;
    for (let j = 0; j < inputs.length && ok; j++) ok = !Number.isNaN(inputs[j].values[i]);
    if (!ok) continue;
    addRow(present, i);
    rows++;
    if (hasRow(memorized, i)) positives++;
  }
  const negatives = rows - positives, folds = Math.min(requested, positives, negatives);
  const unfit = folds >= 2
    ? null
    : `${positives === 1 ? "only 1 row is" : `${positives} rows are`} memorized ` +
      `and ${negatives} not among the ${rows} rows with every input; cross-validation needs at least 2 of each ` +
      "(a model fitted on one forecasts the other, held out), so no honest forecast can be made";
  return { present, rows, positives, folds: Math.max(folds, 0), unfit };
}

/**
 * The fold of each of rows 0..n-1 that `present` holds (STRATIFICATION): each class (memorized or not) dealt out
 * in rounds of `folds` rows, in row order, each round in a seeded random order of the folds. Linear in rows,
 * a few bytes of state besides the result.
 */
export function stratifiedFolds(
  present: Bitset,
  memorized: Bitset,
  n: number,
  folds: number,
  seed: number,
): Uint8Array {
  const fold = new Uint8Array(n), order = [new Uint8Array(folds), new Uint8Array(folds)], dealt = [0, 0];
  const dealer = new Rng(seed * 7919 + folds);
  for (let i = 0; i < n; i++) {
    if (!hasRow(present, i)) continue;
    const c = hasRow(memorized, i) ? 1 : 0, round = order[c], at = dealt[c]++ % folds;
    if (at === 0) {
      for (let f = 0; f < folds; f++) round[f] = f;
      for (let f = folds - 1; f > 0; f--) {
        const g = Math.floor(dealer.uniform() * (f + 1));
        [round[f], round[g]] = [round[g], round[f]];
      }
    }
    fold[i] = round[at];
  }
  return fold;
}

/**
 * Cross-validated logistic regression of the target's memorized set on the inputs. Returns the report's summary,
 * the held-out forecasts' ranking (for the bootstrap) and the held-out log-odds per analysed row (NaN where an
 * input is missing; log-odds rather than probabilities, which round to 1 and would tie; null with a sortBuffer).
 * `rowIndex[i]` is analysed row i's index in the training data, in increasing order: rows are dealt into folds in
 * that order. Throws when crossValidationPlan finds no honest fit (ask it first).
 */
export function crossValidatedForecast(
  inputs: ForecastInput[],
  memorized: Bitset,
  rowIndex: ArrayLike<number>,
  target: string,
  options: CrossValidationOptions = {},
): { forecast: CombinedForecast; ranking: Ranking; logOdds: Float64Array | null } {
  const requested = options.folds ?? 5, seed = options.seed ?? 1, l2 = options.l2 ?? 1;
  const fitRows = options.fitRows ?? 100_000, n = rowIndex.length, k = inputs.length;
  const value = (j: number, i: number) => {
    const v = inputs[j].values[i];
    return inputs[j].transform === "log1p" ? Math.log1p(v) : v;
  };
  const { present, rows, positives, folds, unfit } = crossValidationPlan(inputs, memorized, n, requested);
  if (unfit) throw new Error(`crossValidatedForecast: ${unfit} (check crossValidationPlan first)`);
  const fold = stratifiedFolds(present, memorized, n, folds, seed);
  const fitOn = (heldOut: number, rng: Rng) => {
    let candidates = 0;
    for (let i = 0; i < n; i++) if (hasRow(present, i) && fold[i] !== heldOut) candidates++;
    const m = Math.min(fitRows, candidates), x = new Float64Array(m * k), y = new Float64Array(m);
    // Knuth's selection sampling: exactly m of the candidates, each subset equally likely, one pass.
    for (let i = 0, seen = 0, taken = 0; i < n && taken < m; i++) {
      if (!hasRow(present, i) || fold[i] === heldOut) continue;
      if ((candidates - seen++) * rng.uniform() < m - taken) {
        for (let j = 0; j < k; j++) x[taken * k + j] = value(j, i);
        y[taken++] = hasRow(memorized, i) ? 1 : 0;
      }
    }
    const mean = new Float64Array(k), scale = new Float64Array(k);
    for (let j = 0; j < k; j++) {
      let s = 0, ss = 0;
      for (let r = 0; r < m; r++) s += x[r * k + j];
      mean[j] = m > 0 ? s / m : 0;
      for (let r = 0; r < m; r++) ss += (x[r * k + j] - mean[j]) ** 2;
      const sd = m > 0 ? Math.sqrt(ss / m) : 0;
      scale[j] = sd > 0 ? sd : 1; // a constant input stays 0 after centring; the penalty keeps its weight 0
      for (let r = 0; r < m; r++) x[r * k + j] = (x[r * k + j] - mean[j]) / scale[j];
    }
    return { fit: fitLogistic(x, k, y, { l2 }), mean, scale, m };
  };
  const inBuffer = options.sortBuffer !== undefined, fitSizes: number[] = [];
  const logOdds = (inBuffer ? options.sortBuffer!.take(n) : new Float64Array(n)).fill(NaN);
  for (let f = 0; f < folds; f++) {
    const { fit, mean, scale, m } = fitOn(f, new Rng(seed * 1000 + f));
    fitSizes.push(m);
    const b = fit.coefficients;
    for (let i = 0; i < n; i++) {
      if (!hasRow(present, i) || fold[i] !== f) continue;
      let e = b[0];
      for (let j = 0; j < k; j++) e += b[j + 1] * (value(j, i) - mean[j]) / scale[j];
      logOdds[i] = e;
    }
  }
  const all = fitOn(-1, new Rng(seed * 1000 + folds)).fit.coefficients;
  const { curve, ranking } = precisionRecall(logOdds, memorized, {
    predictor: "combined",
    target,
    feature: "combined",
  }, { maxPoints: options.maxPoints, consumeValues: inBuffer });
  const forecast: CombinedForecast = {
    target,
    rows,
    positives,
    folds,
    folds_requested: requested,
    stratification: STRATIFICATION,
    seed,
    l2,
    fit_rows: fitSizes,
    inputs: inputs.map((input, j) => {
      const alone = precisionRecall(input.values, memorized, { predictor: input.name, target, feature: "" }, {
        include: present,
        higherIsMemorized: input.higherIsMemorized ?? true,
        maxPoints: 1,
        sortBuffer: options.sortBuffer,
      }).curve;
      return {
        name: input.name,
        compute_fraction: input.compute_fraction,
        transform: input.transform ?? null,
        coefficient: all[j + 1],
        average_precision: alone.average_precision,
        recall_at_precision: alone.recall_at_precision,
      };
    }),
    curve,
  };
  return { forecast, ranking, logOdds: inBuffer ? null : logOdds };
}
