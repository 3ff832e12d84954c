// `deno run -A cli.ts report`: scoring results → the seed paper's memorization analysis (analysis/).
import { intFlag, parseArgs } from "./args.ts";
import { pct } from "../analysis/format.ts";
import { writeReport } from "../analysis/report.ts";

export const REPORT_HELP = `deno run -A cli.ts report --results FILE_OR_DIR... [options]

Turns scoring results into the memorization analysis of Biderman et al. (2023): memorized fraction per model
and revision, smaller models and early checkpoints as forecasts of the target's memorized rows (precision,
recall, compute), correlations and score distributions. Writes report.html, report.json and report.md.

  --results PATH     results file or folder (repeatable; extra arguments count too): the score command's
                     .parquet/.csv/.jsonl, CSVs with columns model,revision,index,score[,first_mismatch], or
                     EleutherAI's pythia-memorized-evals Parquet splits (duped.1.4b, deduped.12b.23000, ...)
  --target M@REV     the model@revision to forecast (default: the largest model at its last revision); the
                     model is what comes before the last @
  --universe N       rows in the training data: memorized-evals files list only memorized rows
  --intersect        when inputs cover different rows, analyse only the rows all of them scored
  --allow-mixed      compare results scored differently (prompt, continuation, offset, data, mode,
                     paper_compatible in their provenance); refused by default, noted in the report
  --meta CSV         model,params[,rows_per_step,tokens_per_row]: sizes and batch per model (default: the
                     results' provenance, then suite.json or engram.json above the model folder it names)
  --models DIR       count parameters from DIR/<model>/<revision>/config.json (or DIR/<model>/config.json)
  --tokenizer DIR    with --data: show the target's memorized rows as text (default: the tokenizer.json in
                     or above the target's model folder, as its provenance names it)
  --data PREFIX      the training rows (Megatron PREFIX.bin/.idx, or .npy; default: the provenance's data)
  --samples N        memorized rows to show (default 10)
  --out DIR          where to write the report (default out/report); written beside it first and renamed
                     into place, so report.html, report.json and report.md appear together
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
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, "report");
  if (values.help) {
    console.log(REPORT_HELP);
    return;
  }
  const out = values.out ?? "out/report";
  const { report, files } = await writeReport(out, {
    results: [...(values.results ?? []), ...positionals],
    target: values.target,
    universe: intFlag(values.universe, "universe", 1),
    intersect: values.intersect ?? false,
    allowMixed: values["allow-mixed"] ?? false,
    meta: values.meta,
    models: values.models,
    tokenizer: values.tokenizer,
    data: values.data,
    samples: intFlag(values.samples, "samples", 0),
  });
  const target = report.sources.find((s) => s.source === report.target)!;
  console.log(
    `report: ${report.sources.length} model@revisions × ${report.rows.analysed} rows; target ${report.target} ` +
      `memorized ${target.memorized} (${pct(target.memorized_fraction, 2)})`,
  );
  for (const note of report.notes) console.log(`report: note: ${note}`);
  console.log(`report: wrote ${files.join(", ")}`);
}
