// Maps a checkpoint's tensor names to GPT-NeoX's weights and checks every shape against config.json.
import type { NeoXConfig } from "./config.ts";
import { EngramError } from "../base/errors.ts";
import type { CheckpointReader } from "./checkpoint.ts";
import { isNeoXBuffer, type TensorInfo } from "./tensors.ts";

/** One GPT-NeoX layer's tensors, shapes checked against config.json (h = hidden, i = intermediate size). */
export interface LayerTensors {
  /** input_layernorm weight [h]. */
  ln1w: TensorInfo;
  /** input_layernorm bias [h]. */
  ln1b: TensorInfo;
  /** attention.query_key_value weight [3h, h]. */
  qkvW: TensorInfo;
  /** attention.query_key_value bias [3h]. */
  qkvB: TensorInfo;
  /** attention.dense weight [h, h]. */
  denseW: TensorInfo;
  /** attention.dense bias [h]. */
  denseB: TensorInfo;
  /** post_attention_layernorm weight [h]. */
  ln2w: TensorInfo;
  /** post_attention_layernorm bias [h]. */
  ln2b: TensorInfo;
  /** mlp.dense_h_to_4h weight [i, h]. */
  fc1W: TensorInfo;
  /** mlp.dense_h_to_4h bias [i]. */
  fc1B: TensorInfo;
  /** mlp.dense_4h_to_h weight [h, i]. */
  fc2W: TensorInfo;
  /** mlp.dense_4h_to_h bias [h]. */
  fc2B: TensorInfo;
}

/** A checkpoint's GPT-NeoX tensors by role (v = vocab size, h = hidden size). */
export interface NeoXTensors {
  /** embed_in weight [v, h]. */
  embedIn: TensorInfo;
  /** The layers, first to last. */
  layers: LayerTensors[];
  /** final_layer_norm weight [h]. */
  finalLnW: TensorInfo;
  /** final_layer_norm bias [h]. */
  finalLnB: TensorInfo;
  /** The unembedding [v, h]: embed_out or lm_head, or embedIn itself when the embeddings are tied. */
  embedOut: TensorInfo;
}

type Dim = [number, string];

/**
 * Finds each GPT-NeoX tensor in `ckpt` (with or without the "gpt_neox." prefix) and checks its shape against
 * `cfg`; a missing, duplicated, misshapen or unexpected tensor is an EngramError naming it.
 */
export function mapNeoXTensors(ckpt: CheckpointReader, cfg: NeoXConfig): NeoXTensors {
  // Name the file in messages; for a sharded checkpoint without a specific tensor, its directory.
  const files = new Set([...ckpt.tensors.values()].map((t) => t.file));
  const where = (t?: TensorInfo) => t?.file ?? (files.size === 1 ? [...files][0] : ckpt.dir);
  const used = new Set<string>();
  const find = (name: string): TensorInfo | undefined => {
    const t = ckpt.tensors.get(name);
    if (t) used.add(name);
    return t;
  };
  const check = (t: TensorInfo, dims: Dim[]): TensorInfo => {
    const want = dims.map((d) => d[0]);
    if (t.shape.length !== want.length || t.shape.some((s, i) => s !== want[i])) {
      throw new EngramError(
        `${t.file}: ${t.name} has shape [${t.shape}] but config.json implies [${want}] (${
          dims.map((d) => d[1]).join(" × ")
        }); the checkpoint and config.json do not match`,
      );
    }
    return t;
  };
  // GPT-NeoX body weights, with or without the "gpt_neox." prefix some re-saved checkpoints drop.
  const body = (name: string, ...dims: Dim[]): TensorInfo => {
    const [a, b] = [find(`gpt_neox.${name}`), find(name)];
    if (a && b) {
      throw new EngramError(`${where(a)}: both gpt_neox.${name} and ${name} are present; keep only one`);
    }
    const t = a ?? b;
    if (!t) {
      throw new EngramError(
        `${where()}: missing tensor gpt_neox.${name}; the checkpoint is incomplete or not GPT-NeoX`,
      );
    }
    return check(t, dims);
  };

  const V: Dim = [cfg.vocabSize, "vocab_size"], H: Dim = [cfg.hiddenSize, "hidden_size"];
  const I: Dim = [cfg.intermediateSize, "intermediate_size"], H3: Dim = [3 * cfg.hiddenSize, "3·hidden_size"];
  const embedIn = body("embed_in.weight", V, H);
  const layers: LayerTensors[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `layers.${i}.`;
    layers.push({
      ln1w: body(`${p}input_layernorm.weight`, H),
      ln1b: body(`${p}input_layernorm.bias`, H),
      qkvW: body(`${p}attention.query_key_value.weight`, H3, H),
      qkvB: body(`${p}attention.query_key_value.bias`, H3),
      denseW: body(`${p}attention.dense.weight`, H, H),
      denseB: body(`${p}attention.dense.bias`, H),
      ln2w: body(`${p}post_attention_layernorm.weight`, H),
      ln2b: body(`${p}post_attention_layernorm.bias`, H),
      fc1W: body(`${p}mlp.dense_h_to_4h.weight`, I, H),
      fc1B: body(`${p}mlp.dense_h_to_4h.bias`, I),
      fc2W: body(`${p}mlp.dense_4h_to_h.weight`, H, I),
      fc2B: body(`${p}mlp.dense_4h_to_h.bias`, H),
    });
  }
  const finalLnW = body("final_layer_norm.weight", H);
  const finalLnB = body("final_layer_norm.bias", H);

  // Pythia names the unembedding embed_out, transformers 5 writes lm_head. With tied embeddings transformers
  // overwrites it with embed_in, so we do the same.
  const [eo, lm] = [find("embed_out.weight"), find("lm_head.weight")];
  if (eo && lm) {
    throw new EngramError(
      `${where(eo)}: both embed_out.weight and lm_head.weight are present; keep only one`,
    );
  }
  let embedOut: TensorInfo;
  if (cfg.tieWordEmbeddings) embedOut = embedIn;
  else if (eo ?? lm) embedOut = check((eo ?? lm)!, [V, H]);
  else {
    throw new EngramError(
      `${where()}: missing tensor embed_out.weight (or lm_head.weight) and config.json has tie_word_embeddings false; the checkpoint is incomplete`,
    );
  }

  const extra = [...ckpt.tensors.keys()].filter((n) => !used.has(n) && !isNeoXBuffer(n));
  if (extra.length > 0) {
    const more = extra.length > 1 ? ` (and ${extra.length - 1} more)` : "";
    throw new EngramError(
      `${where(ckpt.tensors.get(extra[0]))}: unexpected tensor ${
        extra[0]
      }${more} for GPT-NeoX with num_hidden_layers ${cfg.numLayers}; check that config.json belongs to this checkpoint`,
    );
  }
  return { embedIn, layers, finalLnW, finalLnB, embedOut };
}
