// GPT-NeoX (Pythia) on WebGPU, as transformers' modeling_gpt_neox.py computes it:
//   embed_in → per layer: LayerNorm → fused QKV → rotary on the first rotary_ndims dims of each head →
//   causal attention over the KV cache → attention.dense → GELU MLP, with a parallel or sequential residual →
//   final LayerNorm → embed_out.
// All arithmetic is f32; f16/bf16 weights stay packed on the GPU and are widened (exactly) as they are read.
import { loadConfig, type NeoXConfig } from "./config.ts";
import { EngramError } from "../base/errors.ts";
import { fmtBytes, type Gpu, type Recorder } from "./gpu.ts";
import {
  allRows,
  argmaxReduceKernel,
  attentionKernel,
  embedKernel,
  layerNormKernel,
  matmulKernel,
  type PassShape,
  qkvRotaryKernel,
  type RowSelection,
  unembedArgmaxKernel,
  type UnembedTarget,
  uploadTexels,
  type WeightFormat,
  type WeightMatrix,
} from "./kernels.ts";
import { type CheckpointFiles, CheckpointReader } from "./checkpoint.ts";
import { type DType, firstNonFinite, type TensorInfo, toFloat32, valueAt } from "./tensors.ts";
import { mapNeoXTensors } from "./weights.ts";
import type { Workspace } from "./workspace.ts";
import { matrixTexels } from "./tuning.ts";

/** A LayerNorm's parameters on the GPU, f32 [hidden size] each. */
export interface Norm {
  /** The scale (gamma). */
  weight: GPUBuffer;
  /** The shift (beta). */
  bias: GPUBuffer;
}

/** One transformer layer's weights on the GPU (biases f32). */
export interface Layer {
  /** input_layernorm. */
  ln1: Norm;
  /** attention.query_key_value [3 × hidden, hidden]. */
  qkv: WeightMatrix;
  /** Its bias. */
  qkvBias: GPUBuffer;
  /** attention.dense [hidden, hidden]. */
  dense: WeightMatrix;
  /** Its bias. */
  denseBias: GPUBuffer;
  /** post_attention_layernorm. */
  ln2: Norm;
  /** mlp.dense_h_to_4h [intermediate, hidden]. */
  fc1: WeightMatrix;
  /** Its bias. */
  fc1Bias: GPUBuffer;
  /** mlp.dense_4h_to_h [hidden, intermediate]. */
  fc2: WeightMatrix;
  /** Its bias. */
  fc2Bias: GPUBuffer;
}

/** How `NeoXModel.load` reads a checkpoint: what a caller has read already is handed down, not read again. */
export interface LoadOptions {
  /** The checkpoint's config.json, parsed (`loadConfig`). */
  config?: NeoXConfig;
  /** Its weight files (`checkpointFiles`). */
  files?: CheckpointFiles;
  /** Hears the bytes loaded so far (a 12B checkpoint takes a while). */
  onProgress?: (loaded: number, total: number) => void;
}

/** A GPT-NeoX checkpoint's weights on the GPU; `encodeForward` and the decoder run it. */
export class NeoXModel {
  private constructor(
    /** The device holding the weights. */
    readonly gpu: Gpu,
    /** The model's config.json. */
    readonly cfg: NeoXConfig,
    /** The checkpoint folder it was loaded from. */
    readonly dir: string,
    /** embed_in [vocab, hidden]. */
    readonly embedIn: WeightMatrix,
    /** The layers, first to last. */
    readonly layers: Layer[],
    /** final_layer_norm. */
    readonly finalNorm: Norm,
    /** The unembedding [vocab, hidden] (the same object as embedIn when the embeddings are tied). */
    readonly embedOut: WeightMatrix,
  ) {}

  /**
   * Loads config.json and the weights (safetensors or pytorch_model.bin) of `dir`, one tensor at a time, onto the
   * GPU (the config and the file listing from `opts` where given).
   */
  static async load(gpu: Gpu, dir: string, opts: LoadOptions = {}): Promise<NeoXModel> {
    const { onProgress } = opts;
    const cfg = opts.config ?? await loadConfig(dir);
    const ckpt = await CheckpointReader.open(opts.files ?? dir);
    try {
      const t = mapNeoXTensors(ckpt, cfg);
      const total = [...ckpt.tensors.values()].reduce((n, info) => n + info.byteLength, 0);
      let loaded = 0;
      const counted = <T>(info: TensorInfo, value: T) => {
        loaded += info.byteLength;
        onProgress?.(loaded, total);
        return value;
      };
      // Matrices the tile kernels read are held as texels where the adapter runs the texel family; the
      // embedding kernel reads embed_in from a buffer.
      const matrix = async (info: TensorInfo, texels = true) =>
        counted(info, await uploadMatrix(gpu, ckpt, info, texels));
      const vector = async (info: TensorInfo) =>
        counted(info, gpu.upload(toFloat32(await readFinite(ckpt, info), info.dtype), info.name));
      const norm = async (w: TensorInfo, b: TensorInfo) => ({
        weight: await vector(w),
        bias: await vector(b),
      });
      const layers: Layer[] = [];
      for (const l of t.layers) {
        layers.push({
          ln1: await norm(l.ln1w, l.ln1b),
          qkv: await matrix(l.qkvW),
          qkvBias: await vector(l.qkvB),
          dense: await matrix(l.denseW),
          denseBias: await vector(l.denseB),
          ln2: await norm(l.ln2w, l.ln2b),
          fc1: await matrix(l.fc1W),
          fc1Bias: await vector(l.fc1B),
          fc2: await matrix(l.fc2W),
          fc2Bias: await vector(l.fc2B),
        });
      }
      const embedIn = await matrix(t.embedIn, false);
      // Tied embeddings: the unembedding is the same matrix, as texels where the tiles read texels.
      const embedOut =
        t.embedOut === t.embedIn && !matrixTexels(gpu, embedIn.format, embedIn.rows, embedIn.cols)
          ? embedIn
          : await matrix(t.embedOut);
      const finalNorm = await norm(t.finalLnW, t.finalLnB);
      gpu.check();
      return new NeoXModel(gpu, cfg, dir, embedIn, layers, finalNorm, embedOut);
    } finally {
      ckpt.close();
    }
  }

  /** The weight matrices, each once (embed_in and embed_out may be one). */
  private get matrices(): WeightMatrix[] {
    const all = [this.embedIn, this.embedOut];
    for (const l of this.layers) all.push(l.qkv, l.dense, l.fc1, l.fc2);
    return [...new Set(all)];
  }

  /** Whether some of the weight matrices are held as texels (engine/tiles.ts; CPU adapters). */
  get holdsTexels(): boolean {
    return this.matrices.some((m) => m.texels !== null);
  }

  /** Frees the weights' GPU memory. */
  destroy(): void {
    const bufs = [this.finalNorm.weight, this.finalNorm.bias];
    for (const l of this.layers) {
      bufs.push(
        l.qkvBias,
        l.denseBias,
        l.fc1Bias,
        l.fc2Bias,
        l.ln1.weight,
        l.ln1.bias,
        l.ln2.weight,
        l.ln2.bias,
      );
    }
    for (const m of this.matrices) {
      m.buffer?.destroy();
      m.texels?.texture.destroy();
    }
    for (const b of bufs) b.destroy();
  }

  /** GPU bytes held by the weight matrices. */
  get weightBytes(): number {
    let n = 0;
    for (const m of this.matrices) {
      n += (m.buffer?.size ?? 0) + (m.texels ? m.texels.texture.width * m.texels.texture.height * 16 : 0);
    }
    return n;
  }
}

const FORMAT_OF: Record<DType, WeightFormat> = { F32: "f32", F16: "f16", BF16: "bf16" };

/**
 * How weights stored as `dtype` live on this GPU: f16 natively where the adapter has shader-f16, except with
 * the CPU kernels, which read f16 packed in pairs (two halves a u32): llvmpipe loads a storage buffer one lane
 * and one component at a time, so a vec2<u32> costs half a vec4<f16> for the same four weights (1.1-1.4x the
 * matmul rate on lavapipe, bench/NOTES.md). The values are the same either way.
 */
export function weightFormat(gpu: Gpu, dtype: DType): WeightFormat {
  const format = FORMAT_OF[dtype];
  return format === "f16" && gpu.hasF16 && !gpu.cpuKernels ? "f16native" : format;
}

/**
 * A tensor's bytes, checked to hold only finite values: a NaN or infinite weight would make every logit it
 * touches NaN, and an argmax over NaN finds no token. Stopped here, naming the tensor and the element.
 */
async function readFinite(ckpt: CheckpointReader, info: TensorInfo): Promise<Uint8Array> {
  const bytes = await ckpt.read(info.name);
  const at = firstNonFinite(bytes, info.dtype);
  if (at >= 0) {
    const place: number[] = [];
    for (let d = info.shape.length - 1, rest = at; d >= 0; d--) {
      place.unshift(rest % info.shape[d]);
      rest = Math.floor(rest / info.shape[d]);
    }
    throw new EngramError(
      `${info.file}: tensor ${info.name} holds ${valueAt(bytes, info.dtype, at)} at [${
        place.join(", ")
      }]; the checkpoint ` +
        `is damaged (every weight must be a finite number): re-download or re-convert it`,
    );
  }
  return bytes;
}

/**
 * One weight matrix onto the GPU: as texels where `texels` and the adapter holds this matrix so (matrixTexels),
 * else in a storage buffer.
 */
async function uploadMatrix(
  gpu: Gpu,
  ckpt: CheckpointReader,
  info: TensorInfo,
  texels: boolean,
): Promise<WeightMatrix> {
  const format = weightFormat(gpu, info.dtype);
  const [rows, cols] = info.shape;
  const layout = texels ? matrixTexels(gpu, format, rows, cols) : null;
  if (layout) {
    const bytes = await readFinite(ckpt, info);
    return { buffer: null, texels: uploadTexels(gpu, bytes, layout, info.name), format, rows, cols };
  }
  if (info.byteLength > gpu.limits.maxBinding) {
    throw new EngramError(
      `${info.name} is ${fmtBytes(info.byteLength)}, above this adapter's ${
        fmtBytes(gpu.limits.maxBinding)
      } ` +
        `per-buffer binding limit: a GPU with a larger maxStorageBufferBindingSize is needed`,
    );
  }
  const buffer = gpu.upload(await readFinite(ckpt, info), info.name);
  return { buffer, texels: null, format, rows, cols };
}

/**
 * The forward pass of `model` over `rowsOf.rows` sequences × `rowsOf.n` new tokens at positions t0.. (tokens
 * read from the workspace's token rows, whose slots the workspace counts), appending to the KV cache; leaves the
 * residual stream in ws.x.
 */
export function encodeForward(
  rec: Recorder,
  model: NeoXModel,
  ws: Workspace,
  rowsOf: Omit<PassShape, "slots">,
): void {
  const { cfg } = model;
  const pass = { ...rowsOf, slots: ws.slots };
  const c = ws.kernels;
  const rows = pass.rows * pass.n;
  const h = cfg.hiddenSize;
  const dims = {
    heads: cfg.numHeads,
    headSize: cfg.headSize,
    rotHalf: cfg.rotaryNdims / 2,
    maxT: ws.shape.seqLen,
  };
  const run = (k: ReturnType<typeof matmulKernel>) => rec.kernel(k);

  run(
    embedKernel(c, model.embedIn, pass, ws.shape.seqLen, {
      tokens: ws.tokens,
      slotOf: ws.slotOf,
      x: ws.x,
    }),
  );
  const norm = (n: Norm, y: GPUBuffer, pair?: [Norm, GPUBuffer]) =>
    run(layerNormKernel(c, allRows(rows), h, cfg.layerNormEps, {
      x: ws.x,
      gamma: n.weight,
      beta: n.bias,
      y,
      gamma2: pair?.[0].weight,
      beta2: pair?.[0].bias,
      y2: pair?.[1],
    }));
  model.layers.forEach((layer, l) => {
    const kv = { kCache: ws.kCache[l], vCache: ws.vCache[l] };
    // Parallel residual, x + attn(ln1(x)) + mlp(ln2(x)): both norms of the layer's input in one pass over it.
    if (cfg.parallelResidual) norm(layer.ln1, ws.ln1, [layer.ln2, ws.ln2]);
    else norm(layer.ln1, ws.ln1);
    run(matmulKernel(c, rows, layer.qkv, { x: ws.ln1, bias: layer.qkvBias, y: ws.qkv }, "store"));
    run(
      qkvRotaryKernel(c, pass, dims, { qkv: ws.qkv, rope: ws.rope, slotOf: ws.slotOf, q: ws.q, ...kv }),
    );
    run(attentionKernel(c, pass, dims, { q: ws.q, ...kv, slotOf: ws.slotOf, out: ws.attn }));
    run(matmulKernel(c, rows, layer.dense, { x: ws.attn, bias: layer.denseBias, y: ws.x }, "accumulate"));
    // Sequential residual, h = x + attn(ln1(x)); h + mlp(ln2(h)).
    if (!cfg.parallelResidual) norm(layer.ln2, ws.ln2);
    run(matmulKernel(c, rows, layer.fc1, { x: ws.ln2, bias: layer.fc1Bias, y: ws.mlp }, "gelu"));
    run(matmulKernel(c, rows, layer.fc2, { x: ws.mlp, bias: layer.fc2Bias, y: ws.x }, "accumulate"));
  });
}

/** `model`'s final_layer_norm on the selected positions of ws.x, into ws.final. */
export function encodeFinalNorm(
  rec: Recorder,
  model: NeoXModel,
  ws: Workspace,
  sel: RowSelection,
): void {
  const { cfg, finalNorm } = model;
  rec.kernel(
    layerNormKernel(ws.kernels, sel, cfg.hiddenSize, cfg.layerNormEps, {
      x: ws.x,
      gamma: finalNorm.weight,
      beta: finalNorm.bias,
      y: ws.final,
    }),
  );
}

/** `model`'s embed_out fused with argmax over ws.final: predictions (and log-probs) land in ws.pred / ws.logprob. */
export function encodeUnembedArgmax(
  rec: Recorder,
  model: NeoXModel,
  ws: Workspace,
  targetOf: Omit<UnembedTarget, "slots">,
): void {
  const c = ws.kernels;
  const target = { ...targetOf, slots: ws.slots };
  const common = { tokens: ws.tokens, slotOf: ws.slotOf, partials: ws.partials };
  const unembed = unembedArgmaxKernel(c, target, model.embedOut, { x: ws.final, ...common });
  rec.kernel(unembed);
  rec.kernel(argmaxReduceKernel(c, target, unembed.tiles, { ...common, pred: ws.pred, logprob: ws.logprob }));
}

/** `model`'s full logits of `rows` rows of ws.final into ws.logits (the `logits` command; scoring never needs them). */
export function encodeLogits(
  rec: Recorder,
  model: NeoXModel,
  ws: Workspace,
  rows: number,
): void {
  rec.kernel(matmulKernel(ws.kernels, rows, model.embedOut, { x: ws.final, y: ws.logits }, "store"));
}
