// The engine against transformers' float64 outputs for tiny random GPT-NeoX models (fixtures/golden):
// logits within 1e-4 of the largest reference logit, and greedy continuations equal wherever the
// reference's top-2 margin leaves no near-tie.
import { Gpu } from "../engine/gpu.ts";
import { NeoXModel } from "../engine/model.ts";
import { Scorer } from "../engine/scorer.ts";
import { assert, assertEquals } from "./assert.ts";

const ROOT = new URL("../fixtures/golden/", import.meta.url).pathname;
const VARIANTS = ["neox-parallel", "neox-sequential"];
const DTYPES = ["float32", "float16", "bfloat16"];

interface Expected {
  input_ids: number[][];
  logits_shape: [number, number, number];
  greedy_32_after_first_32: number[][];
  greedy_min_top2_margin: number[];
}

const gpu = await Gpu.open();

for (const variant of VARIANTS) {
  for (const dtype of DTYPES) {
    const dir = `${ROOT}${variant}/${dtype}`;
    Deno.test(`golden ${variant}/${dtype}: logits and greedy continuations match HF float64`, async () => {
      const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
      const ref = new Float32Array((await Deno.readFile(`${dir}/logits.f32`)).buffer);
      const [rows, n, vocab] = expected.logits_shape;
      const model = await NeoXModel.load(gpu, dir);

      const forLogits = await Scorer.create(model, { batch: rows, prompt: n, cont: 0, logits: true });
      const tokens = Uint32Array.from(expected.input_ids.slice(0, rows).flatMap((r) => r.slice(0, n)));
      const logits = await forLogits.logits(tokens, rows, n);
      forLogits.destroy();
      assertEquals(logits.length, rows * n * vocab);
      let maxRef = 0, maxErr = 0;
      for (let i = 0; i < ref.length; i++) {
        maxRef = Math.max(maxRef, Math.abs(ref[i]));
        maxErr = Math.max(maxErr, Math.abs(logits[i] - ref[i]));
      }
      if (Deno.env.get("ENGRAM_VERBOSE")) {
        console.log(`${variant}/${dtype}: max err ${maxErr}, max ref ${maxRef}`);
      }
      assert(maxErr <= 1e-4 * maxRef, `max |logit - ref| = ${maxErr} > 1e-4 × ${maxRef}`);

      const all = expected.input_ids.length;
      const scorer = await Scorer.create(model, { batch: all, prompt: 32, cont: 32 });
      const prompts = new Uint32Array(all * 64);
      expected.input_ids.forEach((r, i) => prompts.set(r.slice(0, 32), i * 64));
      const greedy = await scorer.greedy(prompts, all);
      scorer.destroy();
      let compared = 0;
      expected.input_ids.forEach((_, i) => {
        if (expected.greedy_min_top2_margin[i] < 1e-3) return;
        compared++;
        assertEquals(
          [...greedy.subarray(i * 32, i * 32 + 32)],
          expected.greedy_32_after_first_32[i],
          `row ${i}`,
        );
      });
      assert(compared > 0, "no row without a near-tie to compare");
    });
  }
}
