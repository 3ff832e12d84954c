// The report's figures: one Vega-Lite spec per analysis, rendered headless to SVG by vega's SVG renderer.
import * as vega from "vega";
import * as vl from "vega-lite";
import type { Correlation, Forecast, HistogramBin, SourceSummary } from "./forecast.ts";

/** A Vega-Lite spec, as the figures are drawn from. */
export type Spec = vl.TopLevelSpec;

/** A figure of the report: its spec, the SVG rendered from it, and the words around it. */
export interface Figure {
  /** Its id; its anchor in the report's HTML is fig-<id>. */
  id: string;
  /** Its heading. */
  title: string;
  /** The words under it: what it shows and how to read it. */
  caption: string;
  /** The Vega-Lite spec it is drawn from. */
  spec: Spec;
  /** The figure rendered headless, as SVG markup. */
  svg: string;
}

const WIDTH = 440, HEIGHT = 260;
const METRIC_COLORS = { domain: ["precision", "recall"], range: ["#4c78a8", "#e45756"] };
const config = {
  font: "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif",
  view: { stroke: "#ddd" },
  axis: {
    labelFontSize: 11,
    titleFontSize: 12,
    titleFontWeight: "normal" as const,
    grid: true,
    gridColor: "#eee",
  },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: "normal" as const },
  title: { fontSize: 14, anchor: "start" as const, fontWeight: "bold" as const },
};

/** precision and recall of each forecast as rows { ...forecast, metric, value } (Vega-Lite's fold, done here). */
const metricRows = (forecasts: Forecast[]) =>
  forecasts.flatMap((f) =>
    (["precision", "recall"] as const).filter((m) => f[m] !== null).map((metric) => ({
      ...f,
      metric,
      value: f[metric],
    }))
  );

/** The y axis of the forecast figures: precision and recall share one 0–100% scale. */
const PRECISION_RECALL = {
  field: "value",
  type: "quantitative" as const,
  scale: { domain: [0, 1] },
  title: "precision / recall",
  axis: { format: "%" },
};

/**
 * A log-scale x axis of parameter counts (model sizes span orders of magnitude), ticked at the sizes shown: a
 * log scale's own ticks are powers of ten and their multiples, which leave the largest model past the last one.
 */
function paramsAxis(field: string, title: string, params: number[]) {
  return {
    field,
    type: "quantitative" as const,
    scale: { type: "log" as const, nice: false, padding: 24 },
    title,
    axis: { format: ".3~s", values: [...new Set(params)].sort((a, b) => a - b) },
  };
}

/** Fraction of rows memorized against parameters, one line per revision. */
export function memorizedFractionFigure(summary: SourceSummary[], revisions: string[]): Spec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Memorized fraction vs model size",
    width: WIDTH,
    height: HEIGHT,
    config,
    data: { values: summary.filter((s) => s.params !== null) },
    mark: { type: "line", point: { size: 60 }, strokeWidth: 2 },
    encoding: {
      x: paramsAxis("params", "parameters (log scale)", summary.flatMap((s) => s.params ?? [])),
      y: {
        field: "memorized_fraction",
        type: "quantitative",
        title: "memorized",
        axis: { format: ".2~%" },
      },
      color: {
        field: "revision",
        type: "ordinal",
        sort: revisions,
        scale: { scheme: "viridis" },
        title: "revision",
      },
    },
  };
}

/** Precision and recall of the smaller fully-trained models as forecasts of the target, against their size. */
export function forecastBySizeFigure(forecasts: Forecast[], target: string): Spec {
  const shown = forecasts.filter((f) => f.family === "smaller model" && f.predictor_params !== null);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Forecast by smaller models vs predictor size", subtitle: `target: ${target}` },
    width: WIDTH,
    height: HEIGHT,
    config,
    data: { values: metricRows(shown) },
    mark: { type: "line", point: { size: 60 }, strokeWidth: 2 },
    encoding: {
      x: paramsAxis(
        "predictor_params",
        "predictor parameters (log scale)",
        shown.map((f) => f.predictor_params!),
      ),
      y: PRECISION_RECALL,
      color: { field: "metric", type: "nominal", scale: METRIC_COLORS, title: null },
    },
  };
}

/** A law fitted to one family's precision or recall against compute (analysis/uncertainty.ts), as drawn. */
export interface FittedLaw {
  /** The family fitted. */
  family: "checkpoint" | "smaller model";
  /** Whether the law fits the family's precision or its recall. */
  metric: "precision" | "recall";
  /** The fitted law's value at compute fractions, ascending, for drawing (ComputeLaw's curve). */
  curve: { compute_fraction: number; value: number }[];
}

const FAMILY_DASH = { domain: ["checkpoint", "smaller model"], range: [[1, 0], [5, 4]] };
const FAMILY_SHAPE = { domain: ["checkpoint", "smaller model"], range: ["circle", "triangle-up"] };

/**
 * Precision and recall of both families against the predictor's share of the target's training compute; with
 * fitted laws, the measured points stand alone and each law is drawn through its family's points.
 */
export function forecastByComputeFigure(forecasts: Forecast[], target: string, laws: FittedLaw[] = []): Spec {
  const x = {
    field: "compute_fraction",
    type: "quantitative" as const,
    scale: { domain: [0, 1] },
    title: "predictor compute / target compute (params × tokens)",
    axis: { format: "%" },
  };
  const color = { field: "metric", type: "nominal" as const, scale: METRIC_COLORS, title: null };
  const family = { field: "family", type: "nominal" as const, title: "predictor" };
  const points = metricRows(forecasts.filter((f) => f.family !== "other" && f.compute_fraction !== null));
  const fitted = laws.flatMap((law) =>
    law.curve.filter((p) => p.compute_fraction <= 1).map((p) => ({
      family: law.family,
      metric: law.metric,
      compute_fraction: p.compute_fraction,
      value: p.value,
    }))
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Forecast vs fraction of the target's compute",
      subtitle: laws.length
        ? `target: ${target}; lines: logit(y) = a + b·ln(compute), fitted`
        : `target: ${target}`,
    },
    width: WIDTH,
    height: HEIGHT,
    config,
    encoding: { x, y: PRECISION_RECALL, color },
    layer: [
      {
        data: { values: laws.length ? fitted : points },
        mark: { type: "line", strokeWidth: 2, clip: true },
        encoding: { strokeDash: { ...family, scale: FAMILY_DASH } },
      },
      {
        data: { values: points },
        mark: { type: "point", size: 60, filled: true, opacity: 1 },
        encoding: { shape: { ...family, scale: FAMILY_SHAPE } },
      },
    ],
  };
}

/** One ranked forecast's precision–recall curve, as drawn (recall non-decreasing, best threshold first). */
export interface CurveSeries {
  /** e.g. "pico-2@step1092 score" or "combined". */
  label: string;
  /** Precision at each point, in [0, 1]. */
  precision: number[];
  /** Recall at each point, in [0, 1]. */
  recall: number[];
}

/**
 * The points a precision–recall line is drawn through, from recall 0. Each line stops at its first point of
 * highest recall: past it only precision falls, down to the base rate, a vertical run at the right edge that
 * every curve shares. Lines with the same points are drawn over one another (see prCurveLines in report.ts).
 */
export function drawnSteps(c: CurveSeries): { recall: number; precision: number }[] {
  const end = c.recall.indexOf(Math.max(...c.recall));
  return end < 0 ? [] : [
    { recall: 0, precision: c.precision[0] },
    ...c.recall.slice(0, end + 1).map((recall, k) => ({ recall, precision: c.precision[k] })),
  ];
}

/**
 * Precision–recall curves of ranked forecasts of one target, each a step function (precision Pₙ over recall
 * (Rₙ₋₁, Rₙ], the rectangles whose area is the average precision) drawn up to its highest recall, with each
 * predictor's memorized set — the paper's binary forecast — marked as a point of its colour.
 */
export function prCurveFigure(
  curves: CurveSeries[],
  points: { label: string; precision: number; recall: number }[],
  target: string,
): Spec {
  const labels = [...new Set([...curves.map((c) => c.label), ...points.map((p) => p.label)])];
  const lines = curves.flatMap((c) => drawnSteps(c).map((p, order) => ({ label: c.label, order, ...p })));
  const color = {
    field: "label",
    type: "nominal" as const,
    sort: labels,
    scale: { scheme: labels.length > 10 ? "category20" : "category10" },
    title: "forecast",
    legend: { labelLimit: 360 },
  };
  const axis = (field: string, title: string) => ({
    field,
    type: "quantitative" as const,
    scale: { domain: [0, 1] },
    title,
    axis: { format: "%" },
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Precision–recall of ranked forecasts",
      subtitle: `target: ${target}; points: each predictor's memorized set`,
    },
    width: WIDTH,
    height: HEIGHT,
    config,
    encoding: { x: axis("recall", "recall"), y: axis("precision", "precision"), color },
    layer: [
      {
        data: { values: lines },
        mark: { type: "line", interpolate: "step-before", strokeWidth: 1.5, clip: true },
        encoding: { order: { field: "order", type: "quantitative" } },
      },
      {
        data: { values: points },
        mark: { type: "point", size: 70, filled: true, opacity: 1, stroke: "black", strokeWidth: 0.5 },
      },
    ],
  };
}

/** A step bucket of one model@revision's rows (analysis/training_order.ts), as drawn. */
export interface OrderPoint {
  /** The model@revision, as drawn (one line each). */
  source: string;
  /** First step of the bucket. */
  first_step: number;
  /** Last step of the bucket. */
  last_step: number;
  /** Memorized fraction of the bucket's rows; null when it has none. */
  fraction: number | null;
  /** Low end of the fraction's 95% interval; null when unknown. */
  low: number | null;
  /** High end of the fraction's 95% interval; null when unknown. */
  high: number | null;
}

/**
 * Memorized fraction by when rows were first trained on, with 95% intervals: flat unless recency matters. The
 * sources' points are spread a little around each bucket's middle so that their intervals do not overlap.
 */
export function trainingOrderFigure(points: OrderPoint[], sources: string[]): Spec {
  const spread = (p: OrderPoint) =>
    sources.length > 1
      ? (sources.indexOf(p.source) / (sources.length - 1) - 0.5) * 0.3 * (p.last_step - p.first_step + 1)
      : 0;
  const values = points.filter((p) => p.fraction !== null).map((p) => ({
    ...p,
    step: (p.first_step + p.last_step) / 2 + spread(p),
  }));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Memorized fraction over training order",
      subtitle: "rows by the step they were first seen at",
    },
    width: WIDTH,
    height: HEIGHT,
    config,
    data: { values },
    encoding: {
      x: {
        field: "step",
        type: "quantitative",
        title: "step first seen (bucket middle)",
        axis: { format: "~s", tickMinStep: 1 },
      },
      color: {
        field: "source",
        type: "nominal",
        sort: sources,
        title: "model@revision",
        legend: { symbolOpacity: 1 },
      },
    },
    layer: [
      {
        mark: { type: "rule", opacity: 0.4, strokeWidth: 1.5 },
        encoding: { y: { field: "low", type: "quantitative" }, y2: { field: "high" } },
      },
      {
        mark: { type: "line", point: { size: 40 }, strokeWidth: 1.5 },
        encoding: {
          y: {
            field: "fraction",
            type: "quantitative",
            title: "memorized (95% interval)",
            axis: { format: ".2~%" },
          },
        },
      },
    ],
  };
}

function heatmap(
  rows: Correlation[],
  title: string,
  subtitle: string,
  order: string[],
  facetTitle: string,
  groups: string[],
): Spec {
  const cell = 34;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: title, subtitle },
    config: { ...config, view: { stroke: null } },
    data: { values: rows.map((r) => ({ ...r, label: r.r === null ? "n/a" : r.r.toFixed(2) })) },
    facet: { column: { field: "group", type: "ordinal", sort: groups, title: facetTitle } },
    spec: {
      width: { step: cell },
      height: { step: cell },
      // No grid: on a band scale grid lines run through the middle of each cell, across its number.
      encoding: {
        x: { field: "a", type: "ordinal", sort: order, title: null, axis: { grid: false, ticks: false } },
        y: { field: "b", type: "ordinal", sort: order, title: null, axis: { grid: false, ticks: false } },
      },
      layer: [
        {
          mark: { type: "rect", stroke: "white" },
          encoding: {
            color: {
              condition: { test: "datum.r === null", value: "#eeeeee" },
              field: "r",
              type: "quantitative",
              scale: { domain: [-1, 1], scheme: "blueorange" },
              title: "r",
            },
          },
        },
        {
          mark: { type: "text", fontSize: 9 },
          encoding: {
            text: { field: "label", type: "nominal" },
            color: {
              condition: { test: "datum.r !== null && abs(datum.r) > 0.6", value: "white" },
              value: "black",
            },
          },
        },
      ],
    },
  };
}

/** The groups (panels) of a correlation list with at least one defined r: a panel of "n/a" only shows nothing. */
export const definedGroups = (rows: Correlation[], order: string[]): string[] =>
  order.filter((g) => rows.some((r) => r.group === g && r.r !== null));

/** Pearson correlation of the memorized indicator between models, one panel per revision (those with an r). */
export function memorizedCorrelationFigure(rows: Correlation[], models: string[], revisions: string[]): Spec {
  const groups = definedGroups(rows, revisions);
  rows = rows.filter((r) => groups.includes(r.group));
  return heatmap(
    rows,
    "Which models memorize the same rows",
    "Pearson r of the memorized indicator, same revision",
    models,
    "revision",
    groups,
  );
}

/** Pearson correlation of raw scores between checkpoints of each model, one panel per model (with an r). */
export function scoreCorrelationFigure(rows: Correlation[], revisions: string[], models: string[]): Spec {
  const groups = definedGroups(rows, models);
  rows = rows.filter((r) => groups.includes(r.group));
  return heatmap(
    rows,
    "How checkpoints of one model agree",
    "Pearson r of scores between checkpoints",
    revisions,
    "model",
    groups,
  );
}

/** 0, 1, 10, 100, … up to the first power of ten ≥ max: a symlog axis's own ticks are evenly spaced. */
const powerTicks = (
  max: number,
) => [0, ...Array.from({ length: Math.ceil(Math.log10(Math.max(1, max))) + 1 }, (_, i) => 10 ** i)];

/**
 * Distribution of scores k/32 at each model's last revision: the "thick tail". Counts are on a symlog scale
 * (linear near 0, logarithmic above), so empty bins are drawn at 0 and a line never bridges them.
 */
export function scoreHistogramFigure(bins: HistogramBin[], models: string[]): Spec {
  const ticks = powerTicks(Math.max(0, ...bins.map((b) => b.count)));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Score distribution",
      subtitle: "last revision of each model; rows with score k/32, symmetric log scale",
    },
    width: WIDTH,
    height: HEIGHT,
    config,
    data: { values: bins },
    mark: { type: "line", point: { size: 40 }, strokeWidth: 1.5 },
    encoding: {
      x: {
        field: "score",
        type: "quantitative",
        scale: { domain: [0, 1] },
        title: "score (fraction of the continuation right)",
      },
      y: {
        field: "count",
        type: "quantitative",
        scale: { type: "symlog", constant: 1, domain: [0, ticks.at(-1)!] },
        title: "rows (symmetric log scale)",
        axis: { values: ticks, labelExpr: "format(datum.value, ',')" },
      },
      color: { field: "model", type: "nominal", sort: models, title: "model" },
    },
  };
}

/** Gives every id in an SVG a prefix, so that several inline SVGs in one page keep their own clip paths. */
export function prefixSvgIds(svg: string, prefix: string): string {
  const ids = new Set([...svg.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]));
  if (ids.size === 0) return svg;
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (m, id) => ids.has(id) ? `url(#${prefix}-${id})` : m)
    .replace(/href="#([^"]+)"/g, (m, id) => ids.has(id) ? `href="#${prefix}-${id}"` : m);
}

/** Renders a spec into a report figure, its SVG ids prefixed with the figure's own. */
export async function renderFigure(id: string, title: string, caption: string, spec: Spec): Promise<Figure> {
  return { id, title, caption, spec, svg: prefixSvgIds(await renderSvg(spec), id) };
}

/** Renders a Vega-Lite spec to an SVG string, headless (no canvas, no browser). */
export async function renderSvg(spec: Spec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
