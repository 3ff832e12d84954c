// How the report writes numbers: one formatter per kind; "–" where a value is unknown or undefined.

const known = (x: number | null | undefined): x is number =>
  x !== null && x !== undefined && Number.isFinite(x);

/** A fraction as a percentage: 0.1234 → "12.3%". */
export const pct = (x: number | null | undefined, digits = 1): string =>
  known(x) ? `${(100 * x).toFixed(digits)}%` : "–";

/** A count with thousands separators: 1234567 → "1,234,567". */
export const int = (x: number | null | undefined): string =>
  known(x) ? Math.round(x).toLocaleString("en-US") : "–";

/** A number with fixed digits: 0.12345 → "0.123". */
export const num = (x: number | null | undefined, digits = 3): string => known(x) ? x.toFixed(digits) : "–";

/** A 95% interval of fractions as percentages: { low: 0.2, high: 0.5 } → "20.0–50.0%"; "–" when unknown. */
export const pctRange = (i: { low: number; high: number } | null | undefined, digits = 1): string =>
  i ? `${(100 * i.low).toFixed(digits)}–${pct(i.high, digits)}` : "–";

/** A 95% interval of fractions after a number in a sentence: " (95%: 20.0%–50.0%)", `more` inside the
 *  brackets; "" when unknown. */
export const interval95 = (i: { low: number; high: number } | null | undefined, more = ""): string =>
  i ? ` (95%: ${pct(i.low)}–${pct(i.high)}${more})` : "";

/** A fraction with its 95% interval: "33.3% (6.1–79.2%)". */
export const pctWith = (
  x: number | null | undefined,
  i: { low: number; high: number } | null | undefined,
): string => known(x) ? (i ? `${pct(x)} (${pctRange(i)})` : pct(x)) : "–";

/** A count and its noun, the noun in the plural unless the count is 1: (1, "model@revision") → "1 model@revision". */
export const plural = (n: number, noun: string, nouns = `${noun}s`): string =>
  `${n.toLocaleString("en-US")} ${n === 1 ? noun : nouns}`;

/** The start of a sentence about a compute budget: "With up to 27.5% of the compute", or for a budget of 0 (the
 *  text alone) "With no model". */
export const withBudget = (budget: number): string =>
  budget === 0 ? "With no model (the text alone)" : `With up to ${pct(budget)} of the compute`;
