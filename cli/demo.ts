// `cli.ts demo` (`deno task demo`): scores the embedded pico suite (fixtures/pico: 3 sizes × 4 checkpoints of a
// miniature Pythia trained on the same rows in the same order) and writes the forecasting report.
import { Gpu } from "../engine/gpu.ts";
import { join } from "../base/path.ts";
import { useTuning } from "../engine/tuning.ts";
import { resolveCheckpoints } from "../io/checkpoints.ts";
import { importLazily } from "../base/lazy.ts";
import { PICO_DATA, PICO_MODELS } from "../io/pico.ts";
import { openScoringData, scoreCheckpoint } from "../scoring/job.ts";
import { intFlag, parseArgs } from "./args.ts";
import { progressInterval, scoreReporting } from "./score.ts";

const DEMO_ROWS = 192;

/** `./engram demo` on `argv`. */
export async function demoCommand(argv: string[]): Promise<void> {
  const { values: a } = parseArgs(argv, {
    out: { type: "string" },
    count: { type: "string" },
    force: { type: "boolean" },
    tuning: { type: "string" },
    help: { type: "boolean" },
  }, "demo");
  const out = a.out ?? "out/demo";
  if (a.help) {
    return console.log(
      `./engram demo [--out ${out}] [--count ${DEMO_ROWS}] [--force] [--tuning FILE]
  Scores rows 0..count-1 of ${PICO_DATA} with every checkpoint under ${PICO_MODELS} into OUT/scores,
  then writes the report to OUT/report (report.html, report.json, report.md). Scores already in OUT/scores
  for the same rows are kept; scores for other rows are refused unless --force (rescore them).
  --tuning FILE: matmul variants from ./engram tune (default: its cache, when tuned on this adapter).`,
    );
  }
  const count = intFlag(a.count, "count", 1) ?? DEMO_ROWS;
  const progressSeconds = progressInterval();
  console.error(`demo: scoring ${count} rows × every checkpoint of ${PICO_MODELS} → ${out}/scores`);
  const checkpoints = await resolveCheckpoints(PICO_MODELS);
  const data = await openScoringData(PICO_DATA, { modelDir: checkpoints[0].dir });
  const gpu = await Gpu.open();
  try {
    const tuning = useTuning(gpu, a.tuning);
    for (const ck of checkpoints) {
      await scoreCheckpoint({
        checkpoint: ck,
        data,
        count,
        out: join(out, "scores", `${ck.model}@${ck.revision}.parquet`),
        force: a.force ?? false,
        gpu,
        tuning,
        ...scoreReporting(false, progressSeconds),
      });
    }
  } finally {
    data.close();
    gpu.destroy();
  }
  const { reportCommand } = await importLazily<typeof import("./report.ts")>("./report.ts", import.meta.url);
  // Sizes, rows per step, data and tokenizer come from the results' provenance (fixtures/pico/suite.json).
  await reportCommand(["--results", `${out}/scores`, "--out", `${out}/report`]);
}
