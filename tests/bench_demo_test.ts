// The bench's JSON contract (a smoke test of its shape, never of its speed) and the demo's score → report flow.
import { assert, assertEquals } from "./assert.ts";
import { expectError } from "./cli_contract.ts";
import { runCli } from "./helpers.ts";

Deno.test("bench --format json: both modes, the same memorized rows, kernel GFLOP/s per shape", async () => {
  const save = await Deno.makeTempFile({ suffix: ".json" });
  const { code, stdout, stderr } = await runCli([
    "bench",
    "--model",
    "fixtures/pico/models/pico-2/step1092",
    "--count",
    "24",
    "--batch",
    "8",
    "--matmuls",
    "--format",
    "json",
    "--save",
    save,
  ]);
  assertEquals(code, 0, stderr);
  const out = JSON.parse(stdout);
  assertEquals(Object.keys(out.modes).sort(), ["extractable", "score"]);
  for (const mode of ["score", "extractable"]) {
    assert(out.modes[mode].seq_per_s > 0, `${mode}: seq_per_s`);
    assertEquals(out.modes[mode].rows, 24);
  }
  assert(typeof out.adapter === "string" && out.adapter.length > 0, "adapter named");
  assertEquals(out.model, "fixtures/pico/models/pico-2/step1092");
  assert(
    out.kernels.length === 9 && out.kernels.every((k: { gflop_per_s: number }) => k.gflop_per_s > 0),
    "kernels",
  );
  const rows = JSON.parse(await Deno.readTextFile(save)).first_mismatch;
  assertEquals(rows.extractable, rows.score, "extractable and score modes find the same first mismatches");
  await Deno.remove(save);
});

Deno.test("bench: an unwritable --save, an unknown --format or texts as --data are one engram: line before the bench", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/file`, "");
  await expectError(["bench", "--count", "8", "--save", `${dir}/file/rows.json`], [
    `--save ${dir}/file/rows.json cannot be written`,
  ]);
  // A folder passed the check (a file beside it can be written) and failed at the rename after the whole bench.
  await expectError(["bench", "--count", "8", "--save", dir], [
    `--save ${dir} is a folder; pass a file path`,
  ]);
  await expectError(["bench", "--count", "8", "--format", "xml"], [
    '--format must be json or text, got "xml"',
  ]);
  await expectError(["bench", "--count", "8", "--data", `${dir}/texts.jsonl`], ["holds texts", "token rows"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("demo: scores every embedded checkpoint and writes the report on them", async () => {
  const out = await Deno.makeTempDir();
  const { code, stderr } = await runCli(["demo", "--count", "16", "--out", out]);
  assertEquals(code, 0, stderr);
  const scores = [...Deno.readDirSync(`${out}/scores`)].map((e) => e.name).filter((n) =>
    n.endsWith(".parquet")
  );
  assertEquals(scores.length, 12);
  const report = JSON.parse(await Deno.readTextFile(`${out}/report/report.json`));
  // Target: the largest model at its last revision; every other checkpoint forecasts it.
  assertEquals(report.target, "pico-3@step1092");
  assertEquals(report.forecasts.length, 11);
  assert((await Deno.stat(`${out}/report/report.html`)).size > 10_000, "report.html written");
  await Deno.remove(out, { recursive: true });
});
