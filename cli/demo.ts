// `cli.ts demo` (`deno task demo`): scores the embedded pico suite (fixtures/pico: 3 sizes × 4 checkpoints of a
// miniature Pythia trained on the same rows in the same order) and writes the forecasting report.
import { parseArgs } from "./args.ts";
import { PICO_DATA, PICO_META, PICO_MODELS, PICO_TOKENIZER } from "../io/pico.ts";
import { scoreCommand } from "./score.ts";

export const DEMO_ROWS = 192;

export async function demoCommand(argv: string[]): Promise<void> {
  const { values: a } = parseArgs(argv, {
    out: { type: "string" },
    count: { type: "string" },
    tuning: { type: "string" },
    help: { type: "boolean" },
  }, "demo");
  const out = a.out ?? "out/demo";
  if (a.help) {
    return console.log(`deno run -A cli.ts demo [--out ${out}] [--count ${DEMO_ROWS}] [--tuning FILE]
  Scores rows 0..count-1 of ${PICO_DATA} with every checkpoint under ${PICO_MODELS}, then writes
  the report to OUT/report (report.html, report.json, report.md).`);
  }
  const count = a.count ?? String(DEMO_ROWS);
  console.error(`demo: scoring ${count} rows × every checkpoint of ${PICO_MODELS} → ${out}/scores`);
  await scoreCommand([
    "--model",
    PICO_MODELS,
    "--data",
    PICO_DATA,
    "--count",
    count,
    "--out",
    `${out}/scores`,
    ...(a.tuning === undefined ? [] : ["--tuning", a.tuning]),
  ]);
  const { reportCommand } = await import("./report.ts");
  await reportCommand([
    "--results",
    `${out}/scores`,
    "--meta",
    PICO_META,
    "--tokenizer",
    PICO_TOKENIZER,
    "--data",
    PICO_DATA,
    "--out",
    `${out}/report`,
  ]);
}
