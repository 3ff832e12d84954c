// The score command end to end on the pico suite: HF reference scores reproduced, extractable mode agreeing
// with full scoring, results independent of the batch size, shards merging into the unsharded file.
import { Gpu } from "../engine/gpu.ts";
import { scoreCommand } from "../cli/score.ts";
import { mergeShards } from "../io/merge.ts";
import { readResults } from "../io/results.ts";
import { assert, assertEquals } from "./assert.ts";
import { PICO_DATA, PICO_MODELS, picoReference } from "./helpers.ts";

const gpu = await Gpu.open();
const reference = await picoReference();
const ROWS = 512;

async function score(out: string, extra: string[]) {
  await scoreCommand(["--model", PICO_MODELS, "--data", PICO_DATA, "--out", out, "--quiet", ...extra], gpu);
}

for (const model of ["pico-1", "pico-2", "pico-3"]) {
  Deno.test(`${model}, all revisions, rows 0..${ROWS - 1}: score and extractable modes reproduce the HF reference`, async () => {
    const dir = await Deno.makeTempDir();
    await score(`${dir}/score`, ["--models", model, "--count", String(ROWS)]);
    await score(`${dir}/extract`, ["--models", model, "--count", String(ROWS), "--mode", "extractable"]);
    for (const revision of ["step273", "step546", "step819", "step1092"]) {
      const ref = reference.get(`${model}@${revision}`)!;
      const full = (await readResults(`${dir}/score/${model}@${revision}.parquet`)).table;
      const fast = (await readResults(`${dir}/extract/${model}@${revision}.parquet`)).table;
      assertEquals(full.index.length, ROWS);
      assertEquals(fast.matches, null);
      let compared = 0;
      for (let i = 0; i < ROWS; i++) {
        assertEquals(full.index[i], i);
        // Extractable mode must agree with our own full scoring on every row, near-ties included.
        assertEquals(
          fast.firstMismatch[i],
          full.firstMismatch[i],
          `${model}@${revision} row ${i}: first mismatch`,
        );
        if (ref[i].margin < 1e-3) continue;
        compared++;
        assertEquals(full.matches![i] / 32, ref[i].score, `${model}@${revision} row ${i}: score`);
        assertEquals(
          full.firstMismatch[i],
          ref[i].firstMismatch,
          `${model}@${revision} row ${i}: first mismatch`,
        );
      }
      assert(compared > ROWS * 0.9, `only ${compared} rows without a near-tie`);
    }
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("results do not depend on the batch size (score, extractable, logprob)", async () => {
  const dir = await Deno.makeTempDir();
  const common = ["--models", "pico-2", "--revisions", "step1092", "--count", "150", "--format", "jsonl"];
  for (const mode of ["score", "extractable"]) {
    await score(`${dir}/b7-${mode}`, [...common, "--mode", mode, "--batch", "7", "--logprob"]);
    await score(`${dir}/b64-${mode}`, [...common, "--mode", mode, "--batch", "64", "--logprob"]);
    const a = await Deno.readTextFile(`${dir}/b7-${mode}/pico-2@step1092.jsonl`);
    const b = await Deno.readTextFile(`${dir}/b64-${mode}/pico-2@step1092.jsonl`);
    assertEquals(a, b, `${mode}: batch 7 vs 64`);
    assert(a.includes('"logprob":-'), "log-probabilities were written");
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("shards 0/3..2/3 merge into exactly the unsharded result; a missing shard is refused", async () => {
  const dir = await Deno.makeTempDir();
  const common = ["--models", "pico-1", "--revisions", "step819", "--start", "100", "--count", "200"];
  await score(`${dir}/whole`, common);
  for (let i = 0; i < 3; i++) await score(`${dir}/shards`, [...common, "--shard", `${i}/3`]);
  const files = [0, 1, 2].map((i) => `${dir}/shards/pico-1@step819.shard-${i}-of-3.parquet`);
  await mergeShards([files[2], files[0], files[1]], `${dir}/merged.parquet`);
  const whole = await readResults(`${dir}/whole/pico-1@step819.parquet`);
  const merged = await readResults(`${dir}/merged.parquet`);
  assertEquals(merged.table, whole.table);
  assertEquals(merged.provenance!.rows, 200);
  assertEquals(merged.table.index[0], 100);
  let error = "";
  await mergeShards([files[0], files[2]], `${dir}/bad.parquet`).catch((e) => error = e.message);
  assert(/missing shard 1 of 3/.test(error), error);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a .jsonl of texts is tokenized with the model's tokenizer and scored like the same token rows", async () => {
  const { MegatronDataset } = await import("../io/rows.ts");
  const { loadTokenizer } = await import("../io/texts.ts");
  const dir = await Deno.makeTempDir();
  const data = await MegatronDataset.open(PICO_DATA);
  const tokenizer = await loadTokenizer(`${PICO_MODELS}/../tokenizer`);
  const rows = [0, 1, 2, 3, 4, 5, 6, 7];
  const tokens = await data.read(rows, 0, 64);
  data.close();
  const texts = rows.map((r) =>
    JSON.stringify({ text: tokenizer.decode(Array.from(tokens.subarray(r * 64, r * 64 + 64))) })
  );
  await Deno.writeTextFile(`${dir}/texts.jsonl`, texts.join("\n") + "\n");
  await scoreCommand([
    "--model",
    `${PICO_MODELS}/pico-3/step1092`,
    "--data",
    `${dir}/texts.jsonl`,
    "--tokenizer",
    `${PICO_MODELS}/../tokenizer`,
    "--out",
    dir,
    "--quiet",
  ], gpu);
  const { table } = await readResults(`${dir}/pico-3@step1092.parquet`);
  const ref = reference.get("pico-3@step1092")!;
  assertEquals(table.index.length, rows.length);
  for (const r of rows) {
    if (ref[r].margin >= 1e-3) assertEquals(table.matches![r] / 32, ref[r].score, `text ${r}`);
  }
  await Deno.remove(dir, { recursive: true });
});
