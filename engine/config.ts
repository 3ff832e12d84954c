// GPT-NeoX config.json parsing: Pythia's (transformers 4.x) field names and transformers 5's rope_parameters.
import { EngramError } from "../base/errors.ts";
import { isObject, readJsonFile } from "../base/fs.ts";
import { join } from "../base/path.ts";
import { sha256Hex } from "../base/hash.ts";

/** A GPT-NeoX model's shape and numerics, read from its config.json (`parseConfig`, `loadConfig`). */
export interface NeoXConfig {
  /** Rows of the embedding and unembedding (vocab_size; may exceed the tokenizer's vocabulary). */
  vocabSize: number;
  /** Width of the residual stream (hidden_size). */
  hiddenSize: number;
  /** Transformer layers (num_hidden_layers). */
  numLayers: number;
  /** Attention heads per layer (num_attention_heads). */
  numHeads: number;
  /** hiddenSize / numHeads. */
  headSize: number;
  /** Width of the MLP's hidden layer (intermediate_size; 4 × hiddenSize when absent). */
  intermediateSize: number;
  /** Math.trunc(headSize * rotary_pct), as transformers' int(). */
  rotaryNdims: number;
  /** Base of the rotary frequencies (rotary_emb_base or rope_theta; 10000 when absent). */
  rotaryBase: number;
  /** x + attn(ln1(x)) + mlp(ln2(x)) when true (Pythia), else the sequential residual. */
  parallelResidual: boolean;
  /** LayerNorm epsilon (layer_norm_eps; 1e-5 when absent). */
  layerNormEps: number;
  /** Longest sequence the model takes, in tokens (max_position_embeddings; 2048 when absent). */
  maxPositions: number;
  /** Whether the unembedding is the embedding matrix (tie_word_embeddings). */
  tieWordEmbeddings: boolean;
  /** The MLP's activation: exact erf GELU, the only one engram runs. */
  hiddenAct: "gelu";
  /** The dtype the checkpoint says it was saved in (torch_dtype or dtype), or null when it says none. */
  torchDtype: string | null;
}

/**
 * Checks a parsed config.json and returns the model's shape; anything engram cannot run exactly (another
 * model_type, scaled rotary embeddings, odd head sizes, ...) is an EngramError naming `where` and the field.
 */
export function parseConfig(json: unknown, where: string): NeoXConfig {
  const fail = (msg: string): never => {
    throw new EngramError(`${where}: ${msg}`);
  };
  if (!isObject(json)) fail("is not a JSON object; expected a GPT-NeoX config.json");
  const c = json as Record<string, unknown>;
  const show = (v: unknown) => JSON.stringify(v);
  const has = (k: string, obj = c) => obj[k] !== undefined && obj[k] !== null;

  if (c.model_type !== "gpt_neox") {
    fail(
      has("model_type")
        ? `model_type is ${show(c.model_type)}; engram runs only gpt_neox (Pythia) models`
        : `missing model_type; engram runs only gpt_neox (Pythia) models, whose config.json says "model_type": "gpt_neox"`,
    );
  }
  const int = (k: string, dflt?: number): number => {
    if (!has(k)) {
      return dflt ?? fail(`missing required field ${k}; add it from the model's original config.json`);
    }
    const v = c[k];
    if (!Number.isSafeInteger(v) || (v as number) <= 0) {
      fail(`${k} must be a positive integer, got ${show(v)}`);
    }
    return v as number;
  };
  const bool = (k: string, dflt: boolean): boolean => {
    if (!has(k)) return dflt;
    if (typeof c[k] !== "boolean") fail(`${k} must be true or false, got ${show(c[k])}`);
    return c[k] as boolean;
  };
  // A value that may be given under several names (old and new formats): all given ones must agree.
  const agreed = (
    names: [string, Record<string, unknown>][],
    dflt: number,
    check: (v: number) => boolean,
  ): number => {
    let value: number | undefined, from = "";
    for (const [k, obj] of names) {
      if (!has(k, obj)) continue;
      const label = obj === c ? k : `rope_parameters.${k}`;
      const v = obj[k];
      if (typeof v !== "number" || !check(v)) fail(`${label} has invalid value ${show(v)}`);
      if (value !== undefined && v !== value) {
        fail(`${from} is ${value} but ${label} is ${v}; they must agree (remove one)`);
      }
      [value, from] = [v as number, label];
    }
    return value ?? dflt;
  };

  const vocabSize = int("vocab_size"), hiddenSize = int("hidden_size");
  const numLayers = int("num_hidden_layers"), numHeads = int("num_attention_heads");
  const intermediateSize = int("intermediate_size", 4 * hiddenSize);
  const maxPositions = int("max_position_embeddings", 2048);

  if (has("rope_parameters") && !isObject(c.rope_parameters)) {
    fail(`rope_parameters must be an object, got ${show(c.rope_parameters)}`);
  }
  const rp = isObject(c.rope_parameters) ? c.rope_parameters : {};
  for (const [label, obj] of [["rope_parameters", rp], ["rope_scaling", c.rope_scaling]] as const) {
    if (!isObject(obj)) {
      if (label === "rope_scaling" && has("rope_scaling")) {
        fail(`rope_scaling must be an object or null, got ${show(obj)}`);
      }
      continue;
    }
    const type = obj.rope_type ?? obj.type ?? "default";
    if (type !== "default") {
      fail(`${label} has rope type ${show(type)}; engram supports only default (unscaled) rotary embeddings`);
    }
  }
  const pct = agreed(
    [["rotary_pct", c], ["partial_rotary_factor", c], ["partial_rotary_factor", rp]],
    0.25,
    (v) => v > 0 && v <= 1,
  );
  const rotaryBase = agreed(
    [["rotary_emb_base", c], ["rope_theta", c], ["rope_theta", rp]],
    10000,
    (v) => v > 0,
  );

  const hiddenAct = has("hidden_act") ? c.hidden_act : "gelu";
  if (hiddenAct !== "gelu") {
    fail(`hidden_act is ${show(hiddenAct)}; engram supports only "gelu" (exact erf GELU, as in Pythia)`);
  }
  if (has("attention_bias") && c.attention_bias !== true) {
    fail(`attention_bias is ${show(c.attention_bias)}; engram needs the attention biases Pythia has (true)`);
  }
  const layerNormEps = has("layer_norm_eps") ? c.layer_norm_eps : 1e-5;
  if (typeof layerNormEps !== "number" || !(layerNormEps > 0)) {
    fail(`layer_norm_eps must be a positive number, got ${show(layerNormEps)}`);
  }
  const dtype = c.torch_dtype ?? c.dtype ?? null;
  if (dtype !== null && typeof dtype !== "string") fail(`torch_dtype must be a string, got ${show(dtype)}`);

  if (hiddenSize % numHeads !== 0) {
    fail(`hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}; fix one of them`);
  }
  const headSize = hiddenSize / numHeads;
  const rotaryNdims = Math.trunc(headSize * pct);
  // The GPU kernels load vec4s along the hidden dimension and rotate pairs within a head.
  if (hiddenSize % 4 !== 0) {
    fail(`hidden_size ${hiddenSize} is not a multiple of 4, which engram's GPU kernels need`);
  }
  if (headSize % 2 !== 0) {
    fail(`head size ${headSize} (hidden_size / num_attention_heads) is odd; engram's kernels need it even`);
  }
  if (rotaryNdims % 2 !== 0) {
    fail(
      `rotary dimensions ${rotaryNdims} (head size ${headSize} × rotary fraction ${pct}) is odd; engram's kernels need it even`,
    );
  }

  return {
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    headSize,
    intermediateSize,
    rotaryNdims,
    rotaryBase,
    parallelResidual: bool("use_parallel_residual", true),
    layerNormEps: layerNormEps as number,
    maxPositions,
    tieWordEmbeddings: bool("tie_word_embeddings", false),
    hiddenAct: "gelu",
    torchDtype: dtype as string | null,
  };
}

/** Reads and parses `dir`/config.json. */
export async function loadConfig(dir: string): Promise<NeoXConfig> {
  const path = join(dir, "config.json");
  const json = await readJsonFile(path, "fix or re-download it");
  if (json === undefined) {
    throw new EngramError(
      `${path}: missing; a checkpoint directory needs the model's config.json next to its weights`,
    );
  }
  return parseConfig(json, path);
}

/** First 16 hex digits of SHA-256 over the config's fields in sorted-key JSON: stable across field order. */
export async function configHash(cfg: NeoXConfig): Promise<string> {
  const canonical = JSON.stringify(
    Object.fromEntries(Object.entries(cfg).sort(([a], [b]) => (a < b ? -1 : 1))),
  );
  return await sha256Hex(new TextEncoder().encode(canonical), 16);
}

/** Total parameter count: embeddings, unembedding (once if tied), all weights, biases and norms. */
export function countParameters(cfg: NeoXConfig): number {
  const { vocabSize: v, hiddenSize: h, intermediateSize: i, numLayers: l } = cfg;
  const perLayer = 2 * 2 * h + (3 * h * h + 3 * h) + (h * h + h) + (i * h + i) + (h * i + h);
  return v * h * (cfg.tieWordEmbeddings ? 1 : 2) + l * perLayer + 2 * h;
}
