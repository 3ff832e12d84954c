// Precision–recall curves and average precision against scikit-learn's definitions, worked by hand on small
// cases (scikit-learn itself is not reachable here) and by a plain quadratic loop on larger ones.
import { bitsetFromFlags } from "../analysis/bitset.ts";
import {
  type CurveOptions,
  precisionRecall,
  rankingMetrics,
  recallFrontier,
  SortBuffer,
  sortFloat64,
} from "../analysis/curves.ts";
import { Rng } from "../analysis/random.ts";
import { picoReference } from "./pico_reference.ts";
import { assert, assertAlmostEquals, assertEquals } from "./assert.ts";
import { plainCurve } from "./plain.ts";

const NAMES = { predictor: "p", target: "t", feature: "score" };
function checkAgainstPlain(
  values: number[],
  labels: boolean[],
  higher = true,
  typed?: ArrayLike<number>,
  options: CurveOptions = {},
) {
  const { curve } = precisionRecall(typed ?? values, bitsetFromFlags(labels.map(Number)), NAMES, {
    ...options,
    higherIsMemorized: higher,
  });
  const plain = plainCurve(values, labels, higher);
  assertEquals(curve.rows, plain.rows);
  assertEquals(curve.positives, plain.positives);
  assertEquals(curve.thresholds, plain.points.map((p) => p.t));
  curve.precision.forEach((p, k) => assertAlmostEquals(p, plain.points[k].precision, 1e-15));
  curve.recall.forEach((r, k) => assertAlmostEquals(r, plain.points[k].recall, 1e-15));
  assertAlmostEquals(curve.average_precision!, plain.ap, 1e-12);
  assertEquals(Object.values(curve.recall_at_precision), plain.rap);
  return curve;
}

Deno.test("curve: ties in scores, worked by hand as sklearn defines it", () => {
  // values 3 3 2 2 2 1 0, memorized 1 0 1 1 0 0 1 (4 memorized rows). Thresholds, best first:
  //   t=3: rows {0,1}, TP 1 FP 1 → P 1/2, R 1/4
  //   t=2: rows {0..4}, TP 3 FP 2 → P 3/5, R 3/4
  //   t=1: rows {0..5}, TP 3 FP 3 → P 1/2, R 3/4
  //   t=0: all 7,      TP 4 FP 3 → P 4/7, R 1
  // AP = (1/4 − 0)·1/2 + (3/4 − 1/4)·3/5 + (3/4 − 3/4)·1/2 + (1 − 3/4)·4/7 = 1/8 + 3/10 + 1/7 = 0.567857142857…
  // sklearn: precision_recall_curve gives precision [4/7, 1/2, 3/5, 1/2, 1], recall [1, 3/4, 3/4, 1/4, 0];
  // average_precision_score = −Σ diff(recall)·precision[:-1] = the same sum.
  // Recall at precision ≥ 0.5: every threshold qualifies (4/7 ≥ 0.5) → 1; ≥ 0.8: none → 0.
  const labels = [1, 0, 1, 1, 0, 0, 1];
  const { curve, ranking } = precisionRecall(
    new Uint8Array([3, 3, 2, 2, 2, 1, 0]),
    bitsetFromFlags(labels),
    NAMES,
  );
  assertEquals(curve.thresholds, [3, 2, 1, 0]);
  assertEquals(curve.precision, [1 / 2, 3 / 5, 1 / 2, 4 / 7]);
  assertEquals(curve.recall, [1 / 4, 3 / 4, 3 / 4, 1]);
  assertAlmostEquals(curve.average_precision!, 1 / 8 + 3 / 10 + 1 / 7, 1e-15);
  assertEquals(curve.recall_at_precision, { "0.5": 1, "0.8": 0, "0.9": 0, "0.95": 0 });
  assertEquals(curve.predicted_when, ">=");
  // The ranking keeps thresholds holding a memorized row; t=1's other row folds into t=0's cell.
  assertEquals([...ranking.positives], [1, 2, 1]);
  assertEquals([...ranking.negatives], [1, 1, 1]);
});

Deno.test("curve: the same ties through the sort (non-integer values) and with smaller = more likely", () => {
  const labels = [true, false, true, true, false, false, true];
  const a = checkAgainstPlain([0.3, 0.3, 0.2, 0.2, 0.2, 0.1, 0], labels);
  assertAlmostEquals(a.average_precision!, 1 / 8 + 3 / 10 + 1 / 7, 1e-15);
  const b = checkAgainstPlain([-3, -3, -2, -2, -2, -1, 0], labels, false);
  assertEquals(b.thresholds, [-3, -2, -1, 0]);
  assertEquals(b.predicted_when, "<=");
  assertAlmostEquals(b.average_precision!, a.average_precision!, 1e-15);
});

Deno.test("curve: constant predictor, no memorized rows, perfect ranking, NaN rows, -0", () => {
  // Constant: one threshold predicting every row: P = prevalence 2/8, R = 1, AP = 1/4 (sklearn gives 0.25).
  const c =
    precisionRecall(new Float64Array(8).fill(5), bitsetFromFlags([0, 1, 0, 0, 1, 0, 0, 0]), NAMES).curve;
  assertEquals([c.thresholds, c.precision, c.recall], [[5], [0.25], [1]]);
  assertEquals(c.average_precision, 0.25);
  assertEquals(c.recall_at_precision, { "0.5": 0, "0.8": 0, "0.9": 0, "0.95": 0 });
  // No memorized row: recall undefined, AP and recall at precision null.
  const none = precisionRecall(new Float32Array([0.5, 0.25, 0.5]), bitsetFromFlags([0, 0, 0]), NAMES).curve;
  assertEquals(none.positives, 0);
  assertEquals(none.average_precision, null);
  assertEquals(none.recall_at_precision, { "0.5": null, "0.8": null, "0.9": null, "0.95": null });
  assertEquals(none.precision, [0, 0]);
  // Perfect ranking: every memorized row above every other → AP 1, recall 1 at every precision level.
  const perfect = precisionRecall([9, 8, 8, 1, 0], bitsetFromFlags([1, 1, 1, 0, 0]), NAMES).curve;
  assertEquals(perfect.average_precision, 1);
  assertEquals(perfect.recall_at_precision, { "0.5": 1, "0.8": 1, "0.9": 1, "0.95": 1 });
  // NaN rows are left out entirely (their label too); -0 and +0 are one threshold.
  const gaps = checkAgainstPlain([NaN, 0.5, -0, 0, NaN, 0.5, -1], [
    true,
    true,
    false,
    true,
    true,
    false,
    false,
  ]);
  assertEquals(gaps.rows, 5);
  assertEquals(gaps.thresholds, [0.5, 0, -1]);
  // No rows at all.
  const empty = precisionRecall([NaN, NaN], bitsetFromFlags([1, 0]), NAMES).curve;
  assertEquals([empty.rows, empty.thresholds.length, empty.average_precision], [0, 0, null]);
});

Deno.test("curve: random rows with many ties, integer (counted) and continuous (sorted) paths", () => {
  const rng = new Rng(7);
  for (
    const [rows, distinct, continuous] of [[3000, 33, false], [3000, 200, true], [500, 497, true]] as const
  ) {
    const values: number[] = [], labels: boolean[] = [];
    for (let i = 0; i < rows; i++) {
      const k = Math.floor(rng.uniform() * distinct);
      values.push(continuous ? k / 7 - 3 : k);
      labels.push(rng.uniform() < 0.02 + 0.5 * (k / distinct) ** 4);
    }
    checkAgainstPlain(values, labels, true, continuous ? Float64Array.from(values) : Uint8Array.from(values));
    checkAgainstPlain(values, labels, false);
  }
});

Deno.test("curve: sorted in a buffer shared by curves of any length, or in place in the values", () => {
  const rng = new Rng(5), buffer = new SortBuffer();
  for (const rows of [3000, 40, 5000]) {
    const values: number[] = [], labels: boolean[] = [];
    for (let i = 0; i < rows; i++) {
      const v = Math.floor(rng.uniform() * 400) / 3 - 20;
      values.push(rng.uniform() < 0.05 ? NaN : v);
      labels.push(rng.uniform() < 0.1 + (v > 80 ? 0.5 : 0));
    }
    checkAgainstPlain(values, labels, rows !== 40, Float64Array.from(values), { sortBuffer: buffer });
    const own = Float64Array.from(values);
    checkAgainstPlain(values, labels, rows !== 40, own, { consumeValues: true, sortBuffer: buffer });
    assert(own.some((v, i) => !Object.is(v, values[i])), "sorted in place");
  }
});

Deno.test("curve: the include mask restricts the rows", () => {
  const values = [4, 3, 2, 1, 0, 5], labels = [1, 0, 1, 0, 1, 1];
  const include = bitsetFromFlags([1, 1, 1, 1, 1, 0]);
  const masked = precisionRecall(values, bitsetFromFlags(labels), NAMES, { include }).curve;
  const plain = plainCurve(values.slice(0, 5), labels.slice(0, 5).map(Boolean));
  assertEquals(masked.rows, 5);
  assertAlmostEquals(masked.average_precision!, plain.ap, 1e-15);
});

Deno.test("curve: beyond the point budget the written curve is thinned, AP still uses every threshold", () => {
  const rng = new Rng(11), values: number[] = [], labels: boolean[] = [];
  for (let i = 0; i < 5000; i++) {
    const v = rng.uniform();
    values.push(v);
    labels.push(rng.uniform() < v * v * 0.3);
  }
  const { curve, ranking } = precisionRecall(
    Float64Array.from(values),
    bitsetFromFlags(labels.map(Number)),
    NAMES,
    {
      maxPoints: 100,
    },
  );
  const plain = plainCurve(values, labels);
  assert(curve.thresholds.length < 400, `${curve.thresholds.length} points kept`);
  assertEquals(curve.thresholds[0], plain.points[0].t);
  assertEquals(curve.thresholds.at(-1), plain.points.at(-1)!.t);
  for (let k = 1; k < curve.thresholds.length - 1; k++) {
    const far = Math.abs(curve.precision[k] - curve.precision[k - 1]) >= 0.01 ||
      Math.abs(curve.recall[k] - curve.recall[k - 1]) >= 0.01;
    assert(far, `point ${k} is closer than 1/100 to the one before`);
  }
  assertAlmostEquals(curve.average_precision!, plain.ap, 1e-12);
  assertEquals(Object.values(curve.recall_at_precision), plain.rap);
  const again = rankingMetrics(ranking.positives, ranking.negatives);
  assertEquals(again.average_precision, curve.average_precision);
});

Deno.test("sortFloat64: ascending, same values, with negatives, infinities, -0 and subnormals", () => {
  const rng = new Rng(3);
  const a = Float64Array.from(
    { length: 2000 },
    () => (rng.uniform() - 0.5) * 10 ** Math.floor(rng.uniform() * 20 - 10),
  );
  a.set([Infinity, -Infinity, -0, 0, 5e-324, -5e-324, Number.MAX_VALUE, -Number.MAX_VALUE], 0);
  const expected = [...a].sort((x, y) => x - y || (Object.is(x, -0) ? -1 : Object.is(y, -0) ? 1 : 0));
  sortFloat64(a);
  assertEquals([...a], expected);
});

Deno.test("curve on the pico suite: pico-2's score and first mismatch as forecasts of pico-3@step1092", async () => {
  const reference = await picoReference();
  const target = reference.get("pico-3@step1092")!, predictor = reference.get("pico-2@step1092")!;
  const labels = target.map((r) => r.score === 1);
  const k = predictor.map((r) => Math.round(r.score * 32));
  const first = predictor.map((r) => r.firstMismatch);
  assertEquals(labels.filter(Boolean).length, 12);
  const scoreCurve = checkAgainstPlain(k, labels, true, Uint8Array.from(k));
  checkAgainstPlain(first, labels, true, Uint8Array.from(first));
  // The paper's binary point is the curve's first threshold when the predictor memorized anything: k = 32.
  let tp = 0, fp = 0;
  for (let i = 0; i < k.length; i++) {
    if (k[i] === 32) {
      if (labels[i]) tp++;
      else fp++;
    }
  }
  assertEquals(scoreCurve.thresholds[0], 32);
  assertEquals([scoreCurve.precision[0], scoreCurve.recall[0]], [tp / (tp + fp), tp / 12]);
});

Deno.test("recallFrontier: best recall at precision ≥ 0.9 within each budget, kept where it changes", () => {
  const entry = (predictor: string, feature: string, compute: number | null, r: number) => ({
    predictor,
    feature,
    compute_fraction: compute,
    recall_at_precision: { "0.5": 1, "0.8": 1, "0.9": r, "0.95": 0 },
  });
  const curves = [
    entry("text", "window_copies", 0, 0.1),
    entry("a", "score", 0.2, 0.05), // cheaper than b but worse than the free text feature
    entry("b", "score", 0.3, 0.4),
    entry("b", "logprob", 0.3, 0.5),
    entry("c", "score", 0.5, 0.45), // within 0.5 the best is still b logprob
    entry("d", "score", null, 0.9), // unknown compute: left out
    entry("e", "score", 0.7, 0), // recalls nothing at 90% precision
    entry("f", "score", 0.75, 0.8),
  ];
  // By hand: budget 0 → text 0.1; 0.2 → still text; 0.3 → b logprob 0.5; 0.5 → b logprob; 0.75 → f 0.8.
  const frontier = recallFrontier(curves);
  assertEquals(frontier.map((b) => [b.budget, `${b.predictor} ${b.feature}`, b.recall]), [
    [0, "text window_copies", 0.1],
    [0.3, "b logprob", 0.5],
    [0.75, "f score", 0.8],
  ]);
  assertEquals(recallFrontier(curves, "0.95"), []);
});
