// The report's numbers as report.json holds them: computed by analysis/report.ts, written out as text by
// analysis/html.ts (a module of its own, so that neither imports the other).
import type { InputSummary, RowAccounting } from "./dataset.ts";
import type { Correlation, Forecast, HistogramBin, ScalingFit, SourceSummary } from "./forecast.ts";
import type { CombinedSummary, CurveEntry, TextFeatureSummary, ThresholdBudget } from "./ranked.ts";
import type { Sample } from "./samples.ts";
import type { TrainingOrder } from "./training_order.ts";

/** Every number of the report (written as report.json). */
export interface Report {
  generator: string;
  created: string;
  target: string;
  inputs: InputSummary[];
  rows: RowAccounting;
  notes: string[];
  sources: SourceSummary[];
  forecasts: Forecast[];
  /** Ranked forecasts: every predictor's score, first_mismatch and logprob, the text features and the combined
   *  forecaster, as precision–recall curves with bootstrap intervals. */
  curves: CurveEntry[];
  text_features: TextFeatureSummary | null;
  combined: CombinedSummary | null;
  /** Why no combined forecaster could be fitted honestly (too few memorized rows), or null. */
  combined_unfit: string | null;
  scaling: ScalingFit[];
  training_order: TrainingOrder[];
  recommendation: {
    budgets: BudgetRow[];
    /** The advice with thresholds at precision ≥ 0.9 (analysis/ranked.ts). */
    thresholds: ThresholdBudget[];
    text: string[];
  };
  /** What the ranked forecasts, the text, the combined forecaster, the scaling fits and training order say. */
  findings: string[];
  correlations: { memorized: Correlation[]; scores: Correlation[] };
  histograms: HistogramBin[];
  samples: Sample[] | null;
  samples_note: string | null;
}

export interface BudgetRow {
  budget: number;
  predictor: string;
  family: string;
  recall: number | null;
  precision: number | null;
  best_smaller_model: string | null;
  best_smaller_model_recall: number | null;
  best_checkpoint: string | null;
  best_checkpoint_recall: number | null;
}
