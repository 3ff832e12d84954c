// The report's figures and their captions.
import { type Correlation, memorizedMeaning } from "./forecast.ts";
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
import { pct } from "./format.ts";
import type { CurveEntry } from "./ranked.ts";
import type { Report } from "./report_types.ts";

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
