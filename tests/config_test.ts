// Model configs (engine/config.ts): Pythia's and transformers 5's config.json read alike, defaults, parameter
// counts, the config hash, and one-line errors that name the file and the field.
import { configHash, countParameters, loadConfig, type NeoXConfig, parseConfig } from "../engine/config.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "./assert.ts";

const PARALLEL = "fixtures/golden/neox-parallel/float16";
const pythia = async (dir = PARALLEL) => JSON.parse(await Deno.readTextFile(join(dir, "config.json")));

function fails(json: unknown, ...parts: string[]) {
  const e = assertThrows(() => parseConfig(json, "dir/config.json"), EngramError);
  assert(!e.message.includes("\n"), "message must be one line");
  for (const p of ["dir/config.json", ...parts]) {
    assert(e.message.includes(p), `${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
  }
}

Deno.test("loads the golden and pico configs", async () => {
  assertEquals(await loadConfig(PARALLEL), {
    vocabSize: 512,
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    headSize: 16,
    intermediateSize: 256,
    rotaryNdims: 4,
    rotaryBase: 10000,
    parallelResidual: true,
    layerNormEps: 1e-5,
    maxPositions: 128,
    tieWordEmbeddings: false,
    hiddenAct: "gelu",
    torchDtype: "float16",
  });
  const seq = await loadConfig("fixtures/golden/neox-sequential/bfloat16");
  assertEquals([seq.headSize, seq.rotaryNdims, seq.parallelResidual, seq.torchDtype], [
    16,
    16,
    false,
    "bfloat16",
  ]);
  const pico3 = await loadConfig("fixtures/pico/models/pico-3/step819");
  assertEquals([pico3.hiddenSize, pico3.numLayers, pico3.headSize, pico3.rotaryNdims], [128, 4, 32, 8]);
});

Deno.test("countParameters matches the pico suite's recorded counts and Pythia-70m", async () => {
  const suite = JSON.parse(await Deno.readTextFile("fixtures/pico/suite.json"));
  for (const m of ["pico-1", "pico-2", "pico-3"]) {
    assertEquals(
      countParameters(await loadConfig(`fixtures/pico/models/${m}/step273`)),
      suite.models[m].params,
      m,
    );
  }
  const p70m = parseConfig({
    ...await pythia(),
    vocab_size: 50304,
    hidden_size: 512,
    num_hidden_layers: 6,
    num_attention_heads: 8,
    intermediate_size: 2048,
  }, "70m");
  assertEquals(countParameters(p70m), 70426624);
  assertEquals(countParameters({ ...p70m, tieWordEmbeddings: true }), 70426624 - 50304 * 512);
});

Deno.test("newer transformers format parses equal to Pythia's", async () => {
  const old = await pythia();
  const { rotary_pct: _p, rotary_emb_base: _b, torch_dtype, ...rest } = old;
  const v5 = {
    ...rest,
    dtype: torch_dtype,
    partial_rotary_factor: 0.25,
    rope_parameters: { rope_theta: 10000, partial_rotary_factor: 0.25, rope_type: "default" },
  };
  assertEquals(parseConfig(v5, "v5"), parseConfig(old, "old"));
  assertEquals(
    parseConfig({ ...rest, torch_dtype, rope_theta: 10000, partial_rotary_factor: 0.25 }, "4.4x"),
    parseConfig(old, "old"),
  );
});

Deno.test("optional fields take transformers' defaults", () => {
  const cfg = parseConfig(
    {
      model_type: "gpt_neox",
      vocab_size: 100,
      hidden_size: 64,
      num_hidden_layers: 1,
      num_attention_heads: 2,
    },
    "x",
  );
  assertEquals(cfg, {
    vocabSize: 100,
    hiddenSize: 64,
    numLayers: 1,
    numHeads: 2,
    headSize: 32,
    intermediateSize: 256,
    rotaryNdims: 8,
    rotaryBase: 10000,
    parallelResidual: true,
    layerNormEps: 1e-5,
    maxPositions: 2048,
    tieWordEmbeddings: false,
    hiddenAct: "gelu",
    torchDtype: null,
  });
});

Deno.test("configHash is 16 hex digits, stable, and sensitive to every field", async () => {
  const cfg = await loadConfig(PARALLEL);
  const h = await configHash(cfg);
  assertMatch(h, /^[0-9a-f]{16}$/);
  assertEquals(await configHash({ ...cfg }), h);
  const reordered = Object.fromEntries(Object.entries(cfg).reverse()) as unknown as NeoXConfig;
  assertEquals(await configHash(reordered), h);
  assert((await configHash({ ...cfg, rotaryBase: 10001 })) !== h);
  assert((await configHash({ ...cfg, parallelResidual: false })) !== h);
});

Deno.test("model_type other than gpt_neox", async () => {
  fails({ ...await pythia(), model_type: "llama" }, "model_type", '"llama"', "gpt_neox");
  const { model_type: _, ...noType } = await pythia();
  fails(noType, "missing model_type");
});

Deno.test("missing required field and wrong types", async () => {
  for (const k of ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads"]) {
    const c = await pythia();
    delete c[k];
    fails(c, `missing required field ${k}`);
  }
  fails({ ...await pythia(), hidden_size: "64" }, "hidden_size", "positive integer", '"64"');
  fails({ ...await pythia(), num_hidden_layers: 2.5 }, "num_hidden_layers", "2.5");
  fails({ ...await pythia(), use_parallel_residual: "yes" }, "use_parallel_residual", "true or false");
  fails({ ...await pythia(), layer_norm_eps: -1 }, "layer_norm_eps");
  fails([], "not a JSON object");
});

Deno.test("contradictory rotary fields", async () => {
  fails(
    { ...await pythia(), partial_rotary_factor: 0.5 },
    "rotary_pct is 0.25",
    "partial_rotary_factor is 0.5",
  );
  fails({ ...await pythia(), rope_theta: 500 }, "rotary_emb_base is 10000", "rope_theta is 500");
  fails({ ...await pythia(), rope_parameters: { rope_theta: 1e6 } }, "rope_parameters.rope_theta is 1000000");
  fails({ ...await pythia(), rotary_pct: 1.5 }, "rotary_pct", "1.5");
});

Deno.test("unsupported shapes, activations and rope scaling", async () => {
  fails({ ...await pythia(), num_attention_heads: 3 }, "hidden_size 64", "num_attention_heads 3");
  fails({ ...await pythia(), hidden_size: 66, num_attention_heads: 6 }, "hidden_size 66", "multiple of 4");
  fails({ ...await pythia(), hidden_size: 60, num_attention_heads: 4 }, "head size 15", "odd");
  assertEquals(parseConfig({ ...await pythia(), rotary_pct: 0.3 }, "x").rotaryNdims, 4); // int(16 * 0.3)
  fails({ ...await pythia(), rotary_pct: 0.1875 }, "rotary dimensions 3", "odd");
  fails({ ...await pythia(), hidden_act: "gelu_new" }, "hidden_act", "gelu_new", 'only "gelu"');
  fails({ ...await pythia(), rope_scaling: { type: "linear", factor: 2 } }, "rope_scaling", "linear");
  fails({ ...await pythia(), rope_parameters: { rope_type: "yarn" } }, "rope_parameters", "yarn");
  parseConfig({ ...await pythia(), rope_scaling: null }, "null scaling is fine");
});

Deno.test("loadConfig: missing file and invalid JSON", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await assertRejects(() => loadConfig(tmp), EngramError, "config.json: missing");
    await Deno.writeTextFile(join(tmp, "config.json"), "{bad");
    await assertRejects(() => loadConfig(tmp), EngramError, "not valid JSON");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
