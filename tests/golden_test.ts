// The engine against transformers' float64 outputs for tiny random GPT-NeoX models (fixtures/golden):
// logits within 1e-5 of the largest reference logit (measured on lavapipe and an H200: 0.6–1.6e-6), and greedy
// continuations equal wherever the reference's top-2 margin leaves no near-tie.
import { Gpu } from "../engine/gpu.ts";
import { NeoXModel } from "../engine/model.ts";
import { compareContinuation } from "../scoring/memorization.ts";
import { Decoder } from "../engine/decoder.ts";
import { allVariants, fits, variantName } from "../engine/tiles.ts";
import { TEXEL_LARGE, Tuning } from "../engine/tuning.ts";
import { fitWorkspace } from "../engine/workspace.ts";
import { assert, assertEquals } from "./assert.ts";

const ROOT = new URL("../fixtures/golden/", import.meta.url).pathname;
/** Largest |logit − HF float64 logit| allowed, as a fraction of the largest |logit| (README states it). */
const LOGIT_TOLERANCE = 1e-5;
const VARIANTS = ["neox-parallel", "neox-sequential"];
const DTYPES = ["float32", "float16", "bfloat16"];

interface Expected {
  input_ids: number[][];
  logits_shape: [number, number, number];
  greedy_32_after_first_32: number[][];
  greedy_min_top2_margin: number[];
}

const gpu = await Gpu.open();

/** The engine's logits for the golden rows of `dir`. */
async function logitsOf(model: NeoXModel, dir: string, tuning?: Tuning): Promise<Float32Array> {
  const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
  const [rows, n, vocab] = expected.logits_shape;
  const decoder = await Decoder.create(model, { batch: rows, prompt: n, cont: 0, logits: true, tuning });
  const tokens = Uint32Array.from(expected.input_ids.slice(0, rows).flatMap((r) => r.slice(0, n)));
  const logits = await decoder.logits(tokens, rows, n);
  decoder.destroy();
  assertEquals(logits.length, rows * n * vocab);
  return logits;
}

/** Greedy continuations (32 after the first 32 tokens) of the golden rows of `dir`. */
async function greedyOf(model: NeoXModel, dir: string, tuning?: Tuning): Promise<Uint32Array> {
  const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
  const all = expected.input_ids.length;
  const decoder = await Decoder.create(model, { batch: all, prompt: 32, cont: 32, tuning });
  const prompts = new Uint32Array(all * 64);
  expected.input_ids.forEach((r, i) => prompts.set(r.slice(0, 32), i * 64));
  const greedy = await decoder.greedy(prompts, all);
  decoder.destroy();
  return greedy;
}

/** The engine's logits for the golden rows vs the reference: largest error and largest reference logit. */
async function logitsError(
  on: Gpu,
  model: NeoXModel,
  dir: string,
): Promise<{ maxErr: number; maxRef: number }> {
  const ref = new Float32Array((await Deno.readFile(`${dir}/logits.f32`)).buffer);
  const logits = await logitsOf(model, dir);
  let maxRef = 0, maxErr = 0;
  ref.forEach((r, i) => {
    maxRef = Math.max(maxRef, Math.abs(r));
    maxErr = Math.max(maxErr, Math.abs(logits[i] - r));
  });
  if (Deno.env.get("ENGRAM_VERBOSE")) {
    console.log(`${dir} on ${on.describe()}: max err ${maxErr}, max ref ${maxRef}`);
  }
  return { maxErr, maxRef };
}

for (const variant of VARIANTS) {
  for (const dtype of DTYPES) {
    const dir = `${ROOT}${variant}/${dtype}`;
    Deno.test(`golden ${variant}/${dtype}: logits and greedy continuations match HF float64`, async () => {
      const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
      const model = await NeoXModel.load(gpu, dir);
      const { maxErr, maxRef } = await logitsError(gpu, model, dir);
      assert(
        maxErr <= LOGIT_TOLERANCE * maxRef,
        `max |logit - ref| = ${maxErr} > ${LOGIT_TOLERANCE} × ${maxRef}`,
      );

      const greedy = await greedyOf(model, dir);
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

// The GPU kernel family (workgroup-tiled matmuls, cooperative layernorm and attention) runs on lavapipe too:
// check it here, since CI has no GPU.
Deno.test("GPU kernels (forced on this adapter) reproduce the goldens and pico-2 reference scores", async () => {
  const gpuKernels = await Gpu.open({ kernels: "gpu" });
  try {
    for (const variant of VARIANTS) {
      const dir = `${ROOT}${variant}/float16`;
      const model = await NeoXModel.load(gpuKernels, dir);
      const { maxErr, maxRef } = await logitsError(gpuKernels, model, dir);
      assert(maxErr <= LOGIT_TOLERANCE * maxRef, `${variant}: max |logit - ref| = ${maxErr}`);
      model.destroy();
    }
    const { MegatronDataset } = await import("../io/rows.ts");
    const { picoReference, PICO_DATA, PICO_MODELS } = await import("./helpers.ts");
    const reference = (await picoReference()).get("pico-2@step1092")!;
    const data = await MegatronDataset.open(PICO_DATA);
    const model = await NeoXModel.load(gpuKernels, `${PICO_MODELS}/pico-2/step1092`);
    const decoder = await Decoder.create(model, { batch: 256, prompt: 32, cont: 32 });
    const tokens = await data.read(Array.from({ length: 256 }, (_, i) => i), 0, 64);
    const pred = await decoder.greedy(tokens, 256);
    const { firstMismatch } = await decoder.firstMismatch(tokens, 256, { suppress: null, logprob: false });
    for (let r = 0; r < 256; r++) {
      const { matches, firstMismatch: first } = compareContinuation(pred, r * 32, tokens, r * 64 + 32, 32);
      assertEquals(firstMismatch[r], first, `row ${r}: extractable vs greedy`);
      if (reference[r].margin >= 1e-3) assertEquals(matches / 32, reference[r].score, `row ${r}: score`);
    }
    data.close();
    decoder.destroy();
    model.destroy();
  } finally {
    gpuKernels.destroy();
  }
});

Deno.test("f16 weights without shader-f16 (packed u32 path) match the float16 goldens", async () => {
  const noF16 = await Gpu.open({ f16: false });
  try {
    assertEquals(noF16.hasF16, false);
    for (const variant of VARIANTS) {
      const dir = `${ROOT}${variant}/float16`;
      const model = await NeoXModel.load(noF16, dir);
      assertEquals(model.embedIn.format, "f16");
      const { maxErr, maxRef } = await logitsError(noF16, model, dir);
      assert(maxErr <= LOGIT_TOLERANCE * maxRef, `${variant}: max |logit - ref| = ${maxErr}`);
      model.destroy();
    }
  } finally {
    noF16.destroy();
  }
});

Deno.test("--logprob: mean log-probability of the true continuation equals log-softmax of the HF logits", async () => {
  const dir = `${ROOT}neox-parallel/float32`;
  const expected: Expected = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
  const ref = new Float32Array((await Deno.readFile(`${dir}/logits.f32`)).buffer);
  const [rows, n, vocab] = expected.logits_shape;
  // Prompt 32, continuation 8: positions 31..38 predict tokens 32..39, all inside the reference's 40 positions.
  const prompt = 32, cont = n - prompt;
  const model = await NeoXModel.load(gpu, dir);
  const decoder = await Decoder.create(model, { batch: rows, prompt, cont });
  const tokens = Uint32Array.from(expected.input_ids.slice(0, rows).flatMap((r) => r.slice(0, n)));
  const { logprob, firstMismatch } = await decoder.firstMismatch(tokens, rows, {
    suppress: null,
    logprob: true,
  });
  decoder.destroy();
  for (let r = 0; r < rows; r++) {
    let sum = 0, first = cont;
    for (let j = 0; j < cont; j++) {
      const at = (r * n + prompt - 1 + j) * vocab;
      const logits = Array.from(ref.subarray(at, at + vocab));
      const max = Math.max(...logits);
      const lse = max + Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0));
      const truth = expected.input_ids[r][prompt + j];
      sum += logits[truth] - lse;
      if (first === cont && logits.indexOf(max) !== truth) first = j;
    }
    assert(Math.abs(logprob![r] - sum / cont) < 1e-4, `row ${r}: ${logprob![r]} vs ${sum / cont}`);
    assertEquals(firstMismatch[r], first, `row ${r}: first mismatch`);
  }
  model.destroy();
});

Deno.test("a batch whose KV cache exceeds one buffer binding is halved until it fits", async () => {
  const model = await NeoXModel.load(
    gpu,
    new URL("../fixtures/pico/models/pico-3/step1092", import.meta.url).pathname,
  );
  const perSlot = 64 * model.cfg.hiddenSize * 4; // one layer's K cache per sequence of 64 tokens
  const want = Math.ceil((2 * gpu.limits.maxBinding) / perSlot);
  const decoder = await Decoder.create(model, { batch: want, prompt: 32, cont: 32 });
  assert((decoder.batch + 1) * perSlot <= gpu.limits.maxBinding, `batch ${decoder.batch} does not fit`);
  assert(decoder.batch >= want / 4, `batch ${decoder.batch} shrank more than needed from ${want}`);
  decoder.destroy();
  model.destroy();
});

Deno.test("any tile variant, forced through the whole model, leaves every logit and greedy token unchanged", async () => {
  for (const kernels of ["cpu", "gpu"] as const) {
    // CPU kernels: every matrix held as texels (the default), then again in buffers.
    const g = await Gpu.open({ kernels });
    try {
      // The GPU family is slow on a CPU adapter: float16 (where 16-bit weight tiles apply) stands for it.
      for (const dtype of kernels === "cpu" ? DTYPES : ["float16"]) {
        const dir = `${ROOT}neox-parallel/${dtype}`;
        const model = await NeoXModel.load(g, dir);
        const [logits, greedy] = [await logitsOf(model, dir), await greedyOf(model, dir)];
        if (kernels === "cpu") {
          // Texel tiles compute the direct tiles' sums: the same bits as the matrices held in buffers.
          assert(model.embedOut.texels && model.layers[0].qkv.texels, "the matrices are not held as texels");
          // fc2's rows (K = 256) and its input's staging texture have a spare cache line after each row (engine/
          // tiles.ts's texelLayout), the other matrices none: both layouts are compared below.
          const fc2 = model.layers[0].fc2.texels!;
          assertEquals([fc2.kt, fc2.pitch], [dtype === "float32" ? 64 : 32, dtype === "float32" ? 68 : 36]);
          assertEquals(model.layers[0].qkv.texels!.pitch, model.layers[0].qkv.texels!.kt);
          const plain = await Gpu.open({ kernels, texels: false });
          const held = await NeoXModel.load(plain, dir);
          assert(!held.embedOut.texels && !held.layers[0].qkv.texels, "texels: false holds buffers");
          // ...and so are the KV caches (head size 16): attention from texels is compared with buffers too.
          for (const [m, texels] of [[model, true], [held, false]] as const) {
            const ws = await fitWorkspace(m, { batch: 2, prompt: 32, cont: 32 }, Tuning.defaults());
            assertEquals(
              "texture" in ws.kCache[0] && "texture" in ws.vCache[0],
              texels,
              "KV caches as texels",
            );
            ws.destroy();
          }
          assertEquals(await logitsOf(held, dir), logits, `${dtype}: texel logits against buffer logits`);
          assertEquals(await greedyOf(held, dir), greedy, `${dtype}: texel greedy against buffer greedy`);
          held.destroy();
          plain.destroy();
        }
        const format = model.embedIn.format;
        // The family the model's matrices run: texel where the CPU kernels hold them as textures.
        const family = kernels === "gpu" ? "tiled" : model.embedOut.texels ? "texel" : "direct";
        const usable = allVariants(family, format).filter((v) => fits(v, format, "unembed", g.tileLimits));
        // GPU: the first, the last (largest tile, two stages, 16-bit weights where they apply) and one between.
        // CPU (texel tiles, whose large ones take a second or more each to compile on lavapipe): the first and
        // the one the CPU adapters run by default; every texel variant is checked bit for bit in kernels_test.
        const picked = family === "texel"
          ? [usable[0], usable.find((v) => variantName(v) === variantName(TEXEL_LARGE))!]
          : [usable[0], usable[Math.floor(usable.length / 2)], usable[usable.length - 1]];
        for (const v of picked) {
          const forced = Tuning.forced(v);
          assertEquals(await logitsOf(model, dir, forced), logits, `${dtype} ${variantName(v)}: logits`);
          assertEquals(await greedyOf(model, dir, forced), greedy, `${dtype} ${variantName(v)}: greedy`);
        }
        model.destroy();
      }
    } finally {
      g.destroy();
    }
  }
});
