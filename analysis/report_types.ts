// The report's numbers as report.json holds them: computed by analysis/report.ts, written out as text by
// analysis/html.ts (a module of its own, so that neither imports the other).
import type { InputSummary, RowAccounting } from "./dataset.ts";
import type { Correlation, Forecast, HistogramBin, ScalingFit, SourceSummary } from "./forecast.ts";
import type { CombinedSummary, CurveEntry, TextFeatureSummary, ThresholdBudget } from "./ranked.ts";
import type { Sample } from "./samples.ts";
import type { TrainingOrder } from "./training_order.ts";

/** Every number of the report (written as report.json). */
export interface Report {
  /** What wrote it: "engram report". */
  generator: string;
  /** When it was computed (ISO 8601, UTC). */
  created: string;
  /** The model@revision whose memorized rows are forecast. */
  target: string;
  /** Every input file, as read. */
  inputs: InputSummary[];
  /** How many rows were loaded, scored by all, and analysed. */
  rows: RowAccounting;
  /** What the reader should know about the inputs and the rows analysed, one sentence each. */
  notes: string[];
  /** Every model@revision's memorization over the analysed rows. */
  sources: SourceSummary[];
  /** Every other model@revision as a forecast of the target's memorized rows (set overlap). */
  forecasts: Forecast[];
  /** Ranked forecasts: every predictor's score, first_mismatch and logprob, the text features and the combined
   *  forecaster, as precision–recall curves with bootstrap intervals. */
  curves: CurveEntry[];
  /** The properties of the text as forecasters; null when they were not computed. */
  text_features: TextFeatureSummary | null;
  /** The combined forecaster, cross-validated; null when none was fitted. */
  combined: CombinedSummary | null;
  /** Why no combined forecaster could be fitted honestly (too few memorized rows), or null. */
  combined_unfit: string | null;
  /** Each family's precision and recall fitted against compute (the paper's scaling question). */
  scaling: ScalingFit[];
  /** Memorization against when each row was trained on: each model at its last revision, if its batch is known. */
  training_order: TrainingOrder[];
  /** What to run for each compute budget, as a table and as sentences. */
  recommendation: {
    budgets: BudgetRow[];
    /** The advice with thresholds at precision ≥ 0.9 (analysis/ranked.ts). */
    thresholds: ThresholdBudget[];
    text: string[];
  };
  /** What the ranked forecasts, the text, the combined forecaster, the scaling fits and training order say. */
  findings: string[];
  /**
   * Pearson's r of the memorized indicator between models at one revision, and of scores between checkpoints
   * of one model.
   */
  correlations: { memorized: Correlation[]; scores: Correlation[] };
  /** Rows per score k, for every source with scores. */
  histograms: HistogramBin[];
  /** Sample memorized rows of the target as text; null when there is no text to show. */
  samples: Sample[] | null;
  /** Why there are no samples, or what to know about them; null when there is nothing to say. */
  samples_note: string | null;
}

/**
 * One compute budget of the recommendation: the predictor that recalls most of the target's memorized rows
 * within it.
 */
export interface BudgetRow {
  /** The budget: a compute fraction of the target's training (params × tokens seen). */
  budget: number;
  /** The model@revision that recalls most within the budget. */
  predictor: string;
  /** Its family: "checkpoint" or "smaller model". */
  family: string;
  /** Its recall of the target's memorized rows, in [0, 1]. */
  recall: number | null;
  /** Its precision, in [0, 1]. */
  precision: number | null;
  /** The best smaller model within the budget; null when none is. */
  best_smaller_model: string | null;
  /** That smaller model's recall; null when there is none. */
  best_smaller_model_recall: number | null;
  /** The best earlier checkpoint of the target within the budget; null when none is. */
  best_checkpoint: string | null;
  /** That checkpoint's recall; null when there is none. */
  best_checkpoint_recall: number | null;
}
