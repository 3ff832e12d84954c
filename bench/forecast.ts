// Per-row costs of the forecasting analyses on synthetic rows, to project them to Pythia's 146M rows:
// ranked-forecast curves (counted and sorted), the bootstrap, the cross-validated combined forecaster, training
// order and the text features (this thread, workers, and from the cache).
//   flock /tmp/engram-heavy.lock deno run -A bench/forecast.ts [rows=5000000] [text rows=200000] [scratch dir]
import { bitsetFromFlags } from "../analysis/bitset.ts";
import { precisionRecall } from "../analysis/curves.ts";
import { crossValidatedForecast } from "../analysis/logistic.ts";
import { Rng } from "../analysis/random.ts";
import { cachedTextFeatures, computeTextFeatures } from "../analysis/text_features.ts";
import { memorizationOverTraining } from "../analysis/training_order.ts";
import { bootstrapRanking } from "../analysis/uncertainty.ts";

const rows = Number(Deno.args[0] ?? 5_000_000), textRows = Number(Deno.args[1] ?? 200_000);
const scratch = Deno.args[2] ?? await Deno.makeTempDir({ prefix: "engram-bench-forecast-" });
const PYTHIA = 146_000_000;

function report(what: string, seconds: number, n: number, extra = "") {
  const perRow = (seconds * 1e9) / n;
  const projected = (perRow * PYTHIA) / 1e9;
  console.log(
    `${what.padEnd(44)} ${perRow.toFixed(1).padStart(9)} ns/row  146M rows: ${
      projected < 120 ? `${projected.toFixed(1)} s` : `${(projected / 60).toFixed(1)} min`
    } ${extra}`,
  );
}

async function time<T>(fn: () => T | Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const out = await fn();
  return [out, (performance.now() - t) / 1000];
}

// Synthetic predictors of a ~1.6% memorized set: a score k (0..32), a log-probability, a continuous forecast.
const rng = new Rng(1), flags = new Uint8Array(rows), k = new Uint8Array(rows);
const logprob = new Float32Array(rows), other = new Float64Array(rows), index = new Float64Array(rows);
for (let i = 0; i < rows; i++) {
  const latent = rng.uniform();
  flags[i] = latent > 0.984 ? 1 : 0;
  k[i] = Math.min(32, Math.floor(33 * latent ** 6 + 3 * rng.uniform()));
  logprob[i] = Math.log(latent + 1e-3) - 2 * rng.uniform();
  other[i] = latent + rng.uniform();
  index[i] = i;
}
const memorized = bitsetFromFlags(flags), names = { predictor: "p", target: "t", feature: "f" };
console.log(
  `${rows.toLocaleString("en-US")} rows, ${Deno.build.os}/${Deno.build.arch}, deno ${Deno.version.deno}`,
);

const [counted, countedS] = await time(() => precisionRecall(k, memorized, names));
report("curve, score k (counted)", countedS, rows);
const [sorted, sortedS] = await time(() => precisionRecall(logprob, memorized, names));
report("curve, log-probability f32 (sorted)", sortedS, rows, `${sorted.ranking.positives.length} cells`);
report("curve, f64 (sorted)", (await time(() => precisionRecall(other, memorized, names)))[1], rows);
const [, bootCountS] = await time(() => bootstrapRanking(counted.ranking));
console.log(`bootstrap, 200 resamples, 33 cells: ${(bootCountS * 1000).toFixed(1)} ms`);
const [, bootSortS] = await time(() => bootstrapRanking(sorted.ranking));
report("bootstrap, 200 resamples, continuous", bootSortS, rows, "(scales with memorized rows)");
const inputs = [
  { name: "k", values: k, compute_fraction: 0.1 },
  { name: "logprob", values: logprob, compute_fraction: 0.1 },
  { name: "other", values: other, compute_fraction: 0.1 },
  { name: "k again", values: k, compute_fraction: 0.1, transform: "log1p" as const },
];
const [, cvS] = await time(() => crossValidatedForecast(inputs, memorized, index, "t"));
report("combined forecaster, 4 inputs, 5 folds", cvS, rows, "(fits on 100k rows per fold)");
report("training order", (await time(() => memorizationOverTraining(index, memorized, 1024, "t")))[1], rows);

// Text features over a .npy of textRows × 64 tokens: Zipf-like ids, 1% of rows repeated, 5% repetitive.
const textIndex = Float64Array.from({ length: textRows }, (_, i) => i);
const npy = `${scratch}/bench-forecast-tokens.npy`;
{
  const header = `{'descr': '<u2', 'fortran_order': False, 'shape': (${textRows}, 64), }`.padEnd(117) + "\n";
  const bytes = new Uint8Array(10 + header.length + textRows * 128), view = new DataView(bytes.buffer);
  bytes.set([0x93, ...new TextEncoder().encode("NUMPY"), 1, 0]);
  view.setUint16(8, header.length, true);
  bytes.set(new TextEncoder().encode(header), 10);
  const body = new Uint16Array(bytes.buffer, 10 + header.length, textRows * 64);
  for (let r = 0; r < textRows; r++) {
    const copyOf = rng.uniform() < 0.01 && r > 0 ? Math.floor(rng.uniform() * r) : -1;
    const period = rng.uniform() < 0.05 ? 1 + Math.floor(rng.uniform() * 8) : 64;
    for (let p = 0; p < 64; p++) {
      body[r * 64 + p] = copyOf >= 0
        ? body[copyOf * 64 + p]
        : p >= period
        ? body[r * 64 + p - period]
        : Math.floor(50_000 * rng.uniform() ** 3);
    }
  }
  await Deno.writeFile(npy, bytes);
}
const w = { prompt: 32, continuation: 32, offset: 0 };
try {
  const [, inlineS] = await time(() => computeTextFeatures(npy, textIndex, w, { workers: 0 }));
  report(`text features, this thread (${textRows} rows)`, inlineS, textRows);
  const cores = navigator.hardwareConcurrency;
  const [, workersS] = await time(() => computeTextFeatures(npy, textIndex, w, { workers: cores }));
  report(`text features, ${cores} workers`, workersS, textRows);
  await cachedTextFeatures(scratch, npy, textIndex, w, { workers: cores });
  const [again, cachedS] = await time(() => cachedTextFeatures(scratch, npy, textIndex, w));
  report(`text features, from the cache (${again.cached})`, cachedS, textRows);
} finally {
  await Deno.remove(npy);
  await Deno.remove(`${scratch}/text-features.bin`).catch(() => {});
  if (!Deno.args[2]) await Deno.remove(scratch, { recursive: true });
}
