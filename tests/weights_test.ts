// GPT-NeoX tensor names mapped to layers (engine/weights.ts): every fixture's tensors, old names and buffers,
// and one-line errors naming a missing, unexpected or misshapen tensor.
import { loadConfig, type NeoXConfig } from "../engine/config.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { CheckpointReader } from "../engine/checkpoint.ts";
import { mapNeoXTensors } from "../engine/weights.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";

const FIXTURES = [
  ...["neox-parallel", "neox-sequential"].flatMap((v) =>
    ["float32", "float16", "bfloat16"].map((d) => `fixtures/golden/${v}/${d}`)
  ),
  ...["pico-1", "pico-2", "pico-3"].map((m) => `fixtures/pico/models/${m}/step273`),
  // torch.save's pytorch_model.bin (single, sharded) and Pythia's buffers (U8/BOOL masks) in both formats.
  ...["pico-1/step1092", "golden-sharded", "buffers-bin", "buffers-safetensors", "golden-f32"].map((d) =>
    `fixtures/torch/${d}`
  ),
];
const GOLDEN = "fixtures/golden/neox-parallel/float16";

Deno.test("maps every fixture's tensors", async () => {
  for (const dir of FIXTURES) {
    const [ckpt, cfg] = [await CheckpointReader.open(dir), await loadConfig(dir)];
    try {
      const w = mapNeoXTensors(ckpt, cfg);
      assertEquals(w.layers.length, cfg.numLayers);
      assertEquals(w.embedIn.name, "gpt_neox.embed_in.weight");
      const lmHead = dir.includes("neox-sequential") || dir.includes("golden-f32");
      assertEquals(w.embedOut.name, lmHead ? "lm_head.weight" : "embed_out.weight");
      assertEquals(
        w.layers[cfg.numLayers - 1].fc2W.name,
        `gpt_neox.layers.${cfg.numLayers - 1}.mlp.dense_4h_to_h.weight`,
      );
      assertEquals(w.layers[0].qkvW.shape, [3 * cfg.hiddenSize, cfg.hiddenSize]);
      assertEquals(w.finalLnB.shape, [cfg.hiddenSize]);
    } finally {
      ckpt.close();
    }
  }
});

/** Writes a zero-filled F16 checkpoint with the given tensor names and shapes into a temp dir, then runs fn. */
async function withSynthetic(tensors: [string, number[]][], fn: (c: CheckpointReader) => void) {
  const tmp = await Deno.makeTempDir();
  try {
    const header: Record<string, unknown> = {};
    let off = 0;
    for (const [name, shape] of tensors) {
      const size = shape.reduce((a, b) => a * b, 1) * 2;
      header[name] = { dtype: "F16", shape, data_offsets: [off, off + size] };
      off += size;
    }
    const h = new TextEncoder().encode(JSON.stringify(header));
    const buf = new Uint8Array(8 + h.length + off);
    new DataView(buf.buffer).setBigUint64(0, BigInt(h.length), true);
    buf.set(h, 8);
    await Deno.writeFile(join(tmp, "model.safetensors"), buf);
    const ckpt = await CheckpointReader.open(tmp);
    try {
      fn(ckpt);
    } finally {
      ckpt.close();
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

async function golden(): Promise<[[string, number[]][], NeoXConfig]> {
  const ckpt = await CheckpointReader.open(GOLDEN);
  ckpt.close();
  return [[...ckpt.tensors.values()].map((t) => [t.name, t.shape]), await loadConfig(GOLDEN)];
}

function fails(ckpt: CheckpointReader, cfg: NeoXConfig, ...parts: string[]) {
  const e = assertThrows(() => mapNeoXTensors(ckpt, cfg), EngramError);
  assert(!e.message.includes("\n"), "message must be one line");
  for (const p of ["model.safetensors", ...parts]) {
    assert(e.message.includes(p), `${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
  }
}

Deno.test("accepts names without the gpt_neox. prefix and ignores old buffers", async () => {
  const [tensors, cfg] = await golden();
  const renamed = tensors.map(([n, s]): [string, number[]] => [n.replace(/^gpt_neox\./, ""), s]);
  const buffers: [string, number[]][] = [
    ["gpt_neox.layers.0.attention.bias", [1, 1, 8, 8]],
    ["gpt_neox.layers.0.attention.masked_bias", []],
    ["gpt_neox.layers.1.attention.rotary_emb.inv_freq", [2]],
    ["gpt_neox.rotary_emb.inv_freq", [2]],
  ];
  await withSynthetic([...renamed, ...buffers], (c) => {
    const w = mapNeoXTensors(c, cfg);
    assertEquals(w.embedIn.name, "embed_in.weight");
    assertEquals(w.layers[1].ln2b.name, "layers.1.post_attention_layernorm.bias");
  });
});

Deno.test("shape that disagrees with config.json names tensor and both shapes", async () => {
  const [tensors, cfg] = await golden();
  const fc1 = "gpt_neox.layers.0.mlp.dense_h_to_4h.weight";
  const bad = tensors.map(([n, s]): [string, number[]] => [n, n === fc1 ? [512, 128] : s]);
  await withSynthetic(bad, (c) => {
    fails(
      c,
      cfg,
      `model.safetensors: ${fc1} has shape [512,128] but config.json implies [256,64] (intermediate_size × hidden_size)`,
    );
  });
});

Deno.test("missing tensor is named", async () => {
  const [tensors, cfg] = await golden();
  const gone = "gpt_neox.layers.1.attention.dense.bias";
  await withSynthetic(tensors.filter(([n]) => n !== gone), (c) => fails(c, cfg, `missing tensor ${gone}`));
  await withSynthetic(tensors.filter(([n]) => n !== "embed_out.weight"), (c) => {
    fails(c, cfg, "missing tensor embed_out.weight (or lm_head.weight)", "tie_word_embeddings");
    // With tied embeddings the unembedding is embed_in.
    assertEquals(
      mapNeoXTensors(c, { ...cfg, tieWordEmbeddings: true }).embedOut.name,
      "gpt_neox.embed_in.weight",
    );
  });
});

Deno.test("unexpected tensor is named", async () => {
  const [tensors, cfg] = await golden();
  await withSynthetic([...tensors, ["gpt_neox.layers.0.attention.extra.weight", [4]]], (c) => {
    fails(c, cfg, "unexpected tensor gpt_neox.layers.0.attention.extra.weight");
  });
  // A config with fewer layers than the checkpoint leaves the extra layers unexpected.
  await withSynthetic(
    tensors,
    (c) => fails(c, { ...cfg, numLayers: 1 }, "unexpected tensor gpt_neox.layers.1.", "and 11 more"),
  );
});

Deno.test("both embed_out.weight and lm_head.weight is an error", async () => {
  const [tensors, cfg] = await golden();
  await withSynthetic([...tensors, ["lm_head.weight", [512, 64]]], (c) => {
    fails(c, cfg, "embed_out.weight and lm_head.weight");
  });
});
