// The report's figures: one Vega-Lite spec per analysis, rendered headless to SVG by vega's SVG renderer.
import * as vega from "vega";
import * as vl from "vega-lite";
import type { Correlation, Forecast, HistogramBin, SourceSummary } from "./forecast.ts";

export type Spec = vl.TopLevelSpec;

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

/** Fraction of rows memorized (score = 1) against parameters, one line per revision. */
/** The y axis of the forecast figures: precision and recall share one 0–100% scale. */
const PRECISION_RECALL = {
  field: "value",
  type: "quantitative" as const,
  scale: { domain: [0, 1] },
  title: "precision / recall",
  axis: { format: "%" },
};

/** A log-scale x axis of parameter counts (model sizes span orders of magnitude). */
function paramsAxis(field: string, title: string) {
  return {
    field,
    type: "quantitative" as const,
    scale: { type: "log" as const, nice: false, padding: 24 },
    title,
    axis: { format: "~s", tickCount: 6 },
  };
}

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
      x: paramsAxis("params", "parameters (log scale)"),
      y: {
        field: "memorized_fraction",
        type: "quantitative",
        title: "memorized (score = 1)",
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
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Forecast by smaller models vs predictor size", subtitle: `target: ${target}` },
    width: WIDTH,
    height: HEIGHT,
    config,
    data: {
      values: metricRows(
        forecasts.filter((f) => f.family === "smaller model" && f.predictor_params !== null),
      ),
    },
    mark: { type: "line", point: { size: 60 }, strokeWidth: 2 },
    encoding: {
      x: paramsAxis("predictor_params", "predictor parameters (log scale)"),
      y: PRECISION_RECALL,
      color: { field: "metric", type: "nominal", scale: METRIC_COLORS, title: null },
    },
  };
}

/** Precision and recall of both families against the predictor's share of the target's training compute. */
export function forecastByComputeFigure(forecasts: Forecast[], target: string): Spec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Forecast vs fraction of the target's compute", subtitle: `target: ${target}` },
    width: WIDTH,
    height: HEIGHT,
    config,
    data: {
      values: metricRows(forecasts.filter((f) => f.family !== "other" && f.compute_fraction !== null)),
    },
    mark: { type: "line", point: { size: 60, filled: true }, strokeWidth: 2 },
    encoding: {
      x: {
        field: "compute_fraction",
        type: "quantitative",
        scale: { domain: [0, 1] },
        title: "predictor compute / target compute (params × tokens)",
        axis: { format: "%" },
      },
      y: PRECISION_RECALL,
      color: { field: "metric", type: "nominal", scale: METRIC_COLORS, title: null },
      strokeDash: {
        field: "family",
        type: "nominal",
        scale: { domain: ["checkpoint", "smaller model"], range: [[1, 0], [5, 4]] },
        title: "predictor",
      },
      shape: {
        field: "family",
        type: "nominal",
        scale: { domain: ["checkpoint", "smaller model"], range: ["circle", "triangle-up"] },
        title: "predictor",
      },
    },
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
      encoding: {
        x: { field: "a", type: "ordinal", sort: order, title: null },
        y: { field: "b", type: "ordinal", sort: order, title: null },
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

/** Pearson correlation of the memorized indicator between models, one panel per revision. */
export function memorizedCorrelationFigure(rows: Correlation[], models: string[], revisions: string[]): Spec {
  const groups = revisions.filter((g) => rows.some((r) => r.group === g));
  return heatmap(
    rows,
    "Which models memorize the same rows",
    "Pearson r of memorized (score = 1), same revision",
    models,
    "revision",
    groups,
  );
}

/** Pearson correlation of raw scores between checkpoints of each model, one panel per model. */
export function scoreCorrelationFigure(rows: Correlation[], revisions: string[], models: string[]): Spec {
  const groups = models.filter((g) => rows.some((r) => r.group === g));
  return heatmap(
    rows,
    "How checkpoints of one model agree",
    "Pearson r of scores between checkpoints",
    revisions,
    "model",
    groups,
  );
}

/** Distribution of scores k/32 at each model's last revision, counts on a log scale: the "thick tail". */
export function scoreHistogramFigure(bins: HistogramBin[], models: string[]): Spec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "Score distribution",
      subtitle: "last revision of each model; rows with score k/32, log scale",
    },
    width: WIDTH,
    height: HEIGHT,
    config,
    data: { values: bins.filter((b) => b.count > 0) },
    mark: { type: "line", point: { size: 40 }, strokeWidth: 1.5 },
    encoding: {
      x: {
        field: "score",
        type: "quantitative",
        scale: { domain: [0, 1] },
        title: "score (fraction of the continuation right)",
      },
      y: { field: "count", type: "quantitative", scale: { type: "log" }, title: "rows (log scale)" },
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

/** Renders a Vega-Lite spec to an SVG string, headless (no canvas, no browser). */
export async function renderSvg(spec: Spec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
