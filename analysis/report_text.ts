// The report's prose computed from its numbers: the recommendation and the findings.
import type { BudgetChoice, Forecast, ScalingFit, SourceSummary } from "./forecast.ts";
import { interval95, pct } from "./format.ts";
import { foldsInWords } from "./logistic.ts";
import type { CombinedSummary, CurveEntry } from "./ranked.ts";
import { orderVerdict, type TrainingOrder } from "./training_order.ts";
import { MIN_MEMORIZED, tooUncertain } from "./uncertainty.ts";
import type {} from "./report_types.ts";

/** The equi-compute recommendation in words. */
export function recommendationText(
  target: SourceSummary,
  list: Forecast[],
  frontier: BudgetChoice[],
): string[] {
  const text: string[] = [];
  if (target.memorized === 0) {
    return [`${target.source} memorized none of the analysed rows, so no predictor can be scored on recall.`];
  }
  if (frontier.length === 0) {
    const family = list.filter((f) => f.family !== "other");
    const priced = family.filter((f) => f.compute_fraction !== null);
    if (family.length === 0) {
      return [
        `No smaller model of ${target.model}'s suite and no earlier checkpoint of it is among the inputs, so ` +
        `there is nothing to forecast its memorized rows with at a fraction of its compute.`,
      ];
    }
    if (priced.length === 0) {
      return [
        `No predictor of either family has a known compute fraction (${family.length} smaller models or ` +
        `checkpoints, none with known parameters and step); pass --meta with the models' parameters and name ` +
        `revisions stepN.`,
      ];
    }
    return [
      `${target.source} memorized ${target.memorized} of the analysed rows (${
        pct(target.memorized_fraction, 2)
      }), and none of the predictors with a known compute fraction recalls any of them: ${
        priced.map((f) => `${f.predictor} (${pct(f.compute_fraction)} of the compute)`).join(", ")
      }.`,
    ];
  }
  text.push(
    `${target.source} memorized ${target.memorized} of the analysed rows (${
      pct(target.memorized_fraction, 2)
    }). ` +
      `For a compute budget (a fraction of its training compute, params × tokens), the predictor that recalls ` +
      `most of them:`,
  );
  const few = target.memorized < MIN_MEMORIZED;
  if (few) {
    text.push(
      `${target.memorized} memorized rows are too few to tell predictors apart (fewer than ${MIN_MEMORIZED}): ` +
        `the numbers below describe these rows; they are not advice.`,
    );
  }
  const useless = list.filter((f) =>
    f.family !== "other" && f.recall === 0 && f.compute_fraction !== null &&
    f.compute_fraction < frontier[0].budget
  );
  if (useless.length) {
    text.push(
      `Below ${pct(frontier[0].budget)} of the compute nothing helps: ${
        useless.map((f) => f.predictor).join(", ")
      } ` +
        `recall${useless.length === 1 ? "s" : ""} none of the memorized rows.`,
    );
  }
  for (const c of frontier) {
    const alt = c.best.family === "checkpoint" ? c.bestSmaller : c.bestCheckpoint;
    const who = `${c.best.predictor} (${
      c.best.family === "checkpoint" ? "the target's own checkpoint" : "a smaller model"
    })`;
    const ci = c.best.recall_interval;
    const recalls =
      `recalls ${pct(c.best.recall)}${interval95(ci)} of the memorized rows at ${
        pct(c.best.precision)
      } precision` +
      (alt ? `; the best ${alt.family} within the budget, ${alt.predictor}, recalls ${pct(alt.recall)}` : "");
    const reason = few ? null : tooUncertain(target.memorized, ci, "its recall");
    text.push(
      few
        ? `With up to ${pct(c.budget)} of the compute, ${who} ${recalls}.`
        : reason
        ? `With up to ${
          pct(c.budget)
        } of the compute, ${who} ${recalls}; too uncertain to advise on: ${reason}.`
        : `With up to ${pct(c.budget)} of the compute, use ${who}: it ${recalls}.`,
    );
  }
  const wins = { "smaller model": 0, checkpoint: 0 } as Record<string, number>;
  for (const c of frontier) wins[c.best.family]++;
  text.push(
    `Over the ${frontier.length} budget${
      frontier.length === 1 ? "" : "s"
    } where the best choice changes, the ` +
      `target's checkpoints win ${wins.checkpoint} and smaller models ${wins["smaller model"]}.`,
  );
  const perCompute = list.filter((f) => f.family !== "other" && f.recall_per_compute !== null)
    .sort((x, y) => y.recall_per_compute! - x.recall_per_compute!)[0];
  if (perCompute) {
    text.push(
      `Most recall per unit of compute: ${perCompute.predictor}, ${pct(perCompute.recall)} recall for ` +
        `${pct(perCompute.compute_fraction)} of the compute (${
          perCompute.recall_per_compute!.toFixed(2)
        } per unit).`,
    );
  }
  const precise = list.filter((f) => f.family !== "other" && f.precision !== null).map((f) => f.precision!);
  if (precise.length) {
    const [low, high] = [Math.min(...precise), Math.max(...precise)];
    text.push(
      low === 1
        ? `Every predictor has 100% precision: whatever a cheaper model memorized, the target memorized too; ` +
          `recall is what a larger budget buys.`
        : low >= 0.8
        ? `Precision stays at or above ${
          pct(low)
        }: what a cheaper model memorized, the target mostly memorized ` +
          `too; recall is what a larger budget buys.`
        : `Precision ranges from ${pct(low)} to ${pct(high)}: many rows a cheaper model memorized are not ` +
          `memorized by the target.`,
    );
  }
  return text;
}

/** "a score, b score and 5 properties of the text". */
function inputNames(combined: CombinedSummary): string {
  const text = combined.inputs.filter((i) => i.name.startsWith("text: ")).length;
  const names = combined.inputs.filter((i) => !i.name.startsWith("text: ")).map((i) => i.name);
  if (text) names.push(`${text} properties of the text`);
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names.at(-1)}` : names[0];
}

/** What the analyses beyond the memorized sets say, in words. */
export function findingsText(
  target: SourceSummary,
  curves: CurveEntry[],
  combined: CombinedSummary | null,
  scaling: ScalingFit[],
  orders: TrainingOrder[],
  combinedUnfit: string | null = null,
): string[] {
  const text: string[] = [];
  const base = `a random ranking gets the base rate, ${pct(target.memorized_fraction, 2)}`;
  const best = (list: CurveEntry[]) =>
    list.filter((c) => c.average_precision !== null)
      .sort((a, b) => b.average_precision! - a.average_precision!)[0];
  const predictor = best(curves.filter((c) => c.family !== "text" && c.family !== "combined"));
  if (predictor) {
    text.push(
      `Ranked by a predictor's own value (score, first mismatch, log-probability) rather than by its memorized ` +
        `set, the best forecast of ${target.source}'s memorized rows is ${predictor.predictor}'s ` +
        `${predictor.feature}: average precision ${pct(predictor.average_precision)}${
          interval95(predictor.intervals.average_precision)
        }; ${base}.`,
    );
  }
  const text_ = best(curves.filter((c) => c.family === "text"));
  if (text_) {
    // "Most telling" only when the ranking beats a random one: its AP's interval above the base rate.
    const interval = text_.intervals.average_precision;
    const telling = interval
      ? interval.low > target.memorized_fraction
      : text_.average_precision! > target.memorized_fraction;
    const property = `${text_.feature.replaceAll("_", " ")} (${
      text_.predicted_when === ">=" ? "more" : "less"
    } is likelier memorized)`;
    const ap = `average precision ${pct(text_.average_precision)}${interval95(interval)}`;
    const base = `the base rate ${pct(target.memorized_fraction, 2)}`;
    text.push(
      telling
        ? `The text alone (no model, no compute): its most telling property is ${property}, ${ap} against ${base}.`
        : `The text alone (no model, no compute) tells memorized rows apart no better than a random ranking: ` +
          `its best property, ${property}, has ${ap}, ${
            interval ? "an interval that holds" : "at or below"
          } ${base}.`,
    );
  }
  if (combined) {
    const alone = combined.inputs.filter((i) => i.average_precision !== null)
      .sort((a, b) => b.average_precision! - a.average_precision!)[0];
    const reason = tooUncertain(
      target.memorized,
      combined.average_precision_interval,
      "its average precision",
    );
    text.push(
      `The combined forecaster (logistic regression on ${
        inputNames(combined)
      }; ${combined.folds}-fold cross-validation over rows, ${
        foldsInWords(combined)
      }, every forecast made by a ` +
        `model that did not see the row; ${
          combined.compute_fraction === null
            ? "compute unknown"
            : `${pct(combined.compute_fraction)} of the compute`
        }) has average precision ${pct(combined.average_precision)}${
          interval95(combined.average_precision_interval)
        }` +
        (alone ? `; its best input alone, ${alone.name}, has ${pct(alone.average_precision)}` : "") +
        (reason ? `; too uncertain to tell them apart: ${reason}.` : "."),
    );
  }
  if (combinedUnfit) {
    text.push(`No combined forecaster: ${combinedUnfit}.`);
  }
  const laws = scaling.map((fit) => {
    const who = `${
      fit.family === "checkpoint" ? "the target's checkpoints'" : "smaller models'"
    } ${fit.metric}`;
    const law = fit.law;
    if (!law) return `${who}: no law (${fit.note})`;
    const at = (level: "0.5" | "0.9") => {
      const c = law.compute_for[level];
      return c
        ? `${pct(Number(level), 0)} at ${pct(c.compute_fraction)} of the compute${
          interval95(c, c.extrapolated ? ", extrapolated" : "")
        }`
        : `${pct(Number(level), 0)} never (the law does not rise with compute)`;
    };
    return `${who}: logit = ${law.a.toFixed(2)} + ${law.b.toFixed(2)}·ln(compute) (slope ± ` +
      `${law.se_b.toFixed(2)}, ${law.points} predictors${fit.note ? `; ${fit.note}` : ""}), ${at("0.5")}, ` +
      `${at("0.9")}`;
  });
  if (laws.length) text.push(`Scaling with compute, fitted per family: ${laws.join("; ")}.`);
  if (orders.length) {
    text.push(
      `Memorization over training order (rows in ${orders[0].buckets.length} buckets by the step they were ` +
        `first seen at${
          orders[0].tested > 1 ? `; p-values Holm-adjusted for the ${orders[0].tested} models tested` : ""
        }): ${orders.map((o) => `${o.source} ${orderVerdict(o, false)}`).join("; ")}.`,
    );
  }
  return text;
}
