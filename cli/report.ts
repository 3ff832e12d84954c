// `./engram report`: scoring results → the seed paper's memorization analysis (analysis/).
import { intFlag, listFlag, parseArgs } from "./args.ts";
import { resolveCheckpoints } from "../io/checkpoints.ts";
import { pct } from "../analysis/format.ts";
import {
  cachedRepoDir,
  cachedRepos,
  hubData,
  hubOrigin,
  isRepoId,
  parseRepoFolder,
  resolveDatasetPath,
} from "../io/hub.ts";
import { basename, resolve } from "../base/path.ts";
import { REPORT_CACHE, writeReport } from "../analysis/report.ts";

const REPORT_HELP = `./engram report --results FILE_OR_DIR... [options]

Turns scoring results into the memorization analysis of Biderman et al. (2023): memorized fraction per model
and revision, smaller models and early checkpoints as forecasts of the target's memorized rows (precision,
recall, compute), correlations and score distributions; then ranked forecasts (precision-recall curves of every
predictor's score, first mismatch and log-probability), properties of the training text, a cross-validated
combined forecaster, laws fitted to recall and precision against compute, 95% intervals, and memorization over
training order. Writes report.html, report.json and report.md.

  --results PATH     results file or folder (repeatable; extra arguments count too): the score command's
                     .parquet/.csv/.jsonl, CSVs with columns model,revision,index,score[,first_mismatch], or
                     EleutherAI's pythia-memorized-evals Parquet splits (duped.1.4b, deduped.12b.23000, ...;
                     its whole data/ folder: of deduped.1b and deduped.1b.new the newer is read, said in a note)
                     a dataset of the hub cache is read in its snapshot: ORG/NAME[@REVISION][/PATH] (e.g.
                     EleutherAI/pythia-memorized-evals, as ./engram download fetches it) or datasets--ORG--NAME
  --target M@REV     the model@revision to forecast (default: the largest model at its last revision); the
                     model is what comes before the last @
  --universe N       rows in the training data: memorized-evals files list only memorized rows
  --intersect        when inputs cover different rows, analyse only the rows all of them scored
  --allow-mixed      compare results scored differently (prompt, continuation, offset, data, mode,
                     paper_compatible in their provenance); refused by default, noted in the report
  --meta CSV         model,params[,rows_per_step,tokens_per_row]: sizes and batch per model (default: the
                     results' provenance, then suite.json or engram.json above the model folder it names)
  --models DIR       count parameters from DIR/<model>/<revision>/config.json (or DIR/<model>/config.json);
                     or from the Hugging Face cache as score --model reads it: the cache folder, a
                     models--ORG--NAME folder or ORG/NAME (its refs the revisions)
  --tokenizer DIR    with --data: show the target's memorized rows as text (default: the tokenizer that
                     scored .jsonl texts, else the tokenizer.json in or above the target's model folder, as
                     its provenance names them); alone for a memorized-evals target (its list holds the tokens)
  --data PREFIX      the training rows (Megatron PREFIX.bin/.idx, .npy, or .jsonl with a tokenizer, or a
                     dataset of the hub cache as score --data takes it; default:
                     the provenance's data): the memorized rows as text and the properties of the text; the
                     data the results were scored on (checked by the fingerprint their provenance records)
  --samples N        memorized rows to show (default 10)
  --combine M@R,...  the combined forecaster's predictors (default: the cheapest smaller models and earlier
                     checkpoints whose compute together is at most 50% of the target's, one revision a
                     model); the text features are added whenever they are computed
  --no-text-features do not compute the properties of the training text (duplication, compressibility,
                     repetitiveness, token rarity): they read every analysed row of the data, ~20 µs a row the
                     first time (about 40 minutes for Pythia's 146M rows on 2 cores), then come from the cache
  --cache DIR        where the text features are cached (default: ${REPORT_CACHE}/ beside the --out folder, e.g.
                     out/${REPORT_CACHE}); one text-features-<hash>/ folder per data, rows and window, so a later
                     report over the same data and rows reads them instead of computing
  --out DIR          where to write the report (default out/report); written beside it first and renamed
                     into place, so report.html, report.json and report.md appear together. An existing DIR
                     is replaced whole, so it must be empty or an earlier report, and hold no --results
`;

/** Parses the flags, computes the report and writes it; prints where it went. */
export async function reportCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs(argv, {
    results: { type: "string", multiple: true },
    target: { type: "string" },
    universe: { type: "string" },
    intersect: { type: "boolean" },
    "allow-mixed": { type: "boolean" },
    meta: { type: "string" },
    models: { type: "string" },
    tokenizer: { type: "string" },
    data: { type: "string" },
    samples: { type: "string" },
    combine: { type: "string" },
    "no-text-features": { type: "boolean" },
    cache: { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, "report");
  if (values.help) {
    console.log(REPORT_HELP);
    return;
  }
  const out = values.out ?? "out/report";
  // A dataset of the hub cache (EleutherAI/pythia-memorized-evals, datasets--ORG--NAME) is read in its snapshot.
  const results = await Promise.all(
    [...(values.results ?? []), ...positionals].map(async (p) =>
      (await resolveDatasetPath(p, "--results")).path
    ),
  );
  const modelDirs = values.models === undefined ? null : await hubModelDirs(values.models);
  const { report, files } = await writeReport(out, {
    results,
    target: values.target,
    universe: intFlag(values.universe, "universe", 1),
    intersect: values.intersect ?? false,
    allowMixed: values["allow-mixed"] ?? false,
    meta: values.meta,
    ...(modelDirs ? { modelDirs } : { models: values.models }),
    tokenizer: values.tokenizer,
    data: values.data === undefined ? undefined : (await hubData(values.data, "--data")).path,
    samples: intFlag(values.samples, "samples", 0),
    combine: listFlag(values.combine, "combine"),
    textFeatures: !values["no-text-features"],
    ...(values.cache ? { cacheDir: values.cache } : {}),
  });
  const target = report.sources.find((s) => s.source === report.target)!;
  console.log(
    `report: ${report.sources.length} model@revisions × ${report.rows.analysed} rows; target ${report.target} ` +
      `memorized ${target.memorized} (${pct(target.memorized_fraction, 2)})`,
  );
  for (const note of report.notes) console.log(`report: note: ${note}`);
  console.log(`report: wrote ${files.join(", ")}`);
}

/**
 * --models in the Hugging Face cache (the cache folder, a models--ORG--NAME folder, a snapshot, or ORG/NAME looked
 * up in the cache): a checkpoint folder of each model, for its size (every revision of a model has the same).
 * Null for any other --models, which the report reads as a folder of <model>/<revision>/.
 */
async function hubModelDirs(arg: string): Promise<Map<string, string> | null> {
  let path = arg;
  if (!(await Deno.stat(arg).catch(() => null))) {
    // ORG/NAME where neither it nor a folder ORG is here: a repository id, looked up in the hub cache.
    if (!isRepoId(arg) || await Deno.stat(arg.split("/")[0]).catch(() => null)) return null;
    path = await cachedRepoDir("model", arg, "--models");
  } else if (
    parseRepoFolder(basename(resolve(arg)))?.type !== "model" &&
    (await cachedRepos(arg, "model")).length === 0 &&
    hubOrigin(arg)?.type !== "model"
  ) return null;
  const checkpoints = (await resolveCheckpoints(path)).filter((c) => c.repo !== undefined);
  if (checkpoints.length === 0) return null;
  const dirs = new Map<string, string>();
  for (const c of checkpoints) if (!dirs.has(c.model)) dirs.set(c.model, c.dir);
  return dirs;
}
