// One small typed constructor per WGSL kernel: each returns the pipeline, a bind group and the dispatch size
// (a Kernel). Constructors are memoized on their shape and buffers, so a decode loop that replays the same
// shapes builds its pipelines, uniform buffers and bind groups once. Each kernel's uniform parameters are
// defined once, as a field list here, which gives both the WGSL `struct Params` and the words written.
import { type GeneratedCode, type Gpu, grid, type Kernel } from "./gpu.ts";
import {
  REFERENCE,
  type TileKernel,
  tileSource,
  type TileVariant,
  variantName,
  type WeightFormat,
} from "./tiles.ts";

export type { WeightFormat } from "./tiles.ts";

/** A weight matrix on the GPU, row-major as the checkpoint stores it (torch's [out, in]). */
export interface WeightMatrix {
  /** Its values in `format`. */
  buffer: GPUBuffer;
  /** How the values are stored (widened to f32 as they are read). */
  format: WeightFormat;
  /** Out features (N). */
  rows: number;
  /** In features (K). */
  cols: number;
}

/** A uniform parameter: a u32 (a number) or an f32. */
export type Word = number | { f32: number };

/** A kernel's uniform parameters: the field list gives the WGSL struct and the uniform's words, in order. */
class Params<F extends string> {
  /** `struct Params { ... }` and its binding `p`, as generated code (the text is its own key: it is short). */
  readonly code: GeneratedCode;

  constructor(readonly binding: number, readonly fields: Record<F, "u32" | "f32">) {
    const lines = Object.entries(fields).map(([name, type]) => `  ${name}: ${type},`);
    const wgsl = `struct Params {\n${
      lines.join("\n")
    }\n}\n@group(0) @binding(${binding}) var<uniform> p: Params;`;
    this.code = { key: wgsl, wgsl: () => wgsl };
  }

  words(values: Record<F, number>): Word[] {
    return (Object.keys(this.fields) as F[]).map((name) =>
      this.fields[name] === "f32" ? { f32: values[name] } : values[name]
    );
  }
}

// Shared field meanings: n = new positions per pass row, t0 = position of the first new token, row_base = first
// entry of slot_of this pass uses (pass row b is slot slot_of[row_base + b]), seq_len = row stride of tokens.
const EMBED = new Params(1, {
  tokens: "u32", // tokens in this pass = rows * n
  n: "u32",
  t0: "u32",
  seq_len: "u32",
  row_base: "u32",
  h4: "u32", // hidden_size / 4
});
const LAYERNORM = new Params(0, {
  rows: "u32",
  per: "u32", // output row r reads input row (r / per) * stride + offset + r % per
  stride: "u32",
  offset: "u32",
  h: "u32",
  eps: "f32",
});
const MATMUL = new Params(1, { m: "u32", n: "u32", k: "u32" });
const QKV_ROTARY = new Params(0, {
  tokens: "u32",
  n: "u32",
  t0: "u32",
  heads: "u32",
  hs: "u32", // head size
  rot_half: "u32", // rotary dims / 2
  max_t: "u32", // positions per KV-cache slot
  row_base: "u32",
});
const ATTENTION = new Params(0, {
  tokens: "u32",
  n: "u32",
  t0: "u32",
  heads: "u32",
  hs: "u32",
  max_t: "u32",
  row_base: "u32",
  scale: "f32", // head_size^-0.5
});
const UNEMBED = new Params(1, {
  m: "u32",
  n: "u32",
  k: "u32",
  suppress: "u32", // token id never chosen; 0xffffffff: none
  per: "u32",
  row_base: "u32",
  seq_len: "u32",
  truth_pos: "u32", // token position of the first predicted row's true next token
});
const ARGMAX_REDUCE = new Params(0, {
  rows: "u32",
  tiles: "u32", // vocabulary tiles per row in partials
  per: "u32",
  row_base: "u32",
  seq_len: "u32",
  cont: "u32",
  pos_base: "u32",
  prompt: "u32",
});

/** The kernels of one workspace, built once per parameters and buffers, with the uniforms they read. */
export class KernelCache {
  private readonly kernels = new Map<string, Kernel>();
  private readonly uniforms = new Map<string, GPUBuffer>();
  private readonly variants = new Map<string, TileVariant>();
  /**
   * Names of the tile variants of the kernels this cache built (for provenance and bench): what ran, not what
   * the tuning would pick for the full batch (kernels are built where they are encoded, so each one built ran).
   */
  readonly used: Set<string> = new Set();
  /**
   * Bound where a shader declares a buffer this use of it does not need (auto layouts keep every binding); a
   * dispatch's unused bindings each get their own, since one buffer cannot be both read and written by it.
   */
  private readonly dummies: GPUBuffer[] = [];
  /** An empty cache of kernels on `gpu`. */
  constructor(readonly gpu: Gpu) {}

  /** The kernel for `key`, built by `build` the first time. */
  get(name: string, params: Word[], buffers: GPUBuffer[], build: () => Kernel): Kernel {
    const key = `${name}:${JSON.stringify(params)}:${buffers.map((b) => this.gpu.id(b)).join(",")}`;
    let k = this.kernels.get(key);
    if (!k) {
      k = build();
      this.kernels.set(key, k);
    }
    return k;
  }

  /** The tile variant for a matmul of this shape: the adapter's tuning decides (see engine/tuning.ts). */
  variant(kernel: TileKernel, format: WeightFormat, m: number, n: number, k: number): TileVariant {
    const key = `${kernel}:${format}:${m}:${n}:${k}`;
    let v = this.variants.get(key);
    if (!v) {
      v = this.gpu.tuning.pick(this.gpu, kernel, format, m, n, k);
      this.variants.set(key, v);
    }
    return v;
  }

  /** A uniform buffer holding `words` (u32, or f32 where given as {f32}). */
  uniform(words: Word[]): GPUBuffer {
    // Every layer dispatches with the same parameters: one buffer per distinct content serves them all.
    const key = JSON.stringify(words);
    const known = this.uniforms.get(key);
    if (known) return known;
    const data = new ArrayBuffer(Math.ceil(words.length / 4) * 16);
    const view = new DataView(data);
    words.forEach((w, i) => {
      if (typeof w === "number") view.setUint32(i * 4, w >>> 0, true);
      else view.setFloat32(i * 4, w.f32, true);
    });
    const buf = this.gpu.buffer(data.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, "params");
    this.gpu.device.queue.writeBuffer(buf, 0, data);
    this.uniforms.set(key, buf);
    return buf;
  }

  /** Frees the uniform and placeholder buffers (pipelines stay cached on the Gpu). */
  destroy(): void {
    for (const b of [...this.uniforms.values(), ...this.dummies]) b.destroy();
    this.uniforms.clear();
    this.kernels.clear();
  }

  /** A bind group of `entries` as bindings 0, 1, ... of group 0; an undefined entry gets a placeholder buffer. */
  bind(pipeline: GPUComputePipeline, entries: (GPUBuffer | undefined)[]): GPUBindGroup {
    let unused = 0;
    const dummy = () => (this.dummies[unused++] ??= this.gpu.storage(16, "unused binding"));
    return this.gpu.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: entries.map((buffer, binding) => ({ binding, resource: { buffer: buffer ?? dummy() } })),
    });
  }
}

/** Where a pass's rows live: row b of the pass uses KV/token slot slot_of[rowBase + b]. */
export interface PassShape {
  /** Sequences in this pass. */
  rows: number;
  /** New positions per sequence. */
  n: number;
  /** Position of the first new token. */
  t0: number;
  /** The first entry of slot_of this pass reads. */
  rowBase: number;
}

/** The token embeddings of a pass's new positions into `x`. */
export function embedKernel(
  c: KernelCache,
  embedIn: WeightMatrix,
  pass: PassShape,
  seqLen: number,
  tokens: GPUBuffer,
  slotOf: GPUBuffer,
  x: GPUBuffer,
): Kernel {
  const h4 = embedIn.cols / 4;
  const params = EMBED.words({
    tokens: pass.rows * pass.n,
    n: pass.n,
    t0: pass.t0,
    seq_len: seqLen,
    row_base: pass.rowBase,
    h4,
  });
  return c.get("embed", params, [embedIn.buffer, tokens, slotOf, x], () => {
    const pipeline = c.gpu.pipeline("embed", {
      parts: [`lib/weights_${embedIn.format}`],
      code: EMBED.code,
    });
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [embedIn.buffer, c.uniform(params), tokens, slotOf, x]),
      workgroups: grid(Math.ceil(pass.rows * pass.n * h4 / 256), c.gpu.limits.maxWorkgroups),
    };
  });
}

/** Output row r normalizes input row (r / per) * stride + offset + r % per (see layernorm.wgsl). */
export interface RowSelection {
  /** Output rows. */
  rows: number;
  /** Consecutive output rows taken from each group of input rows. */
  per: number;
  /** Input rows from one group to the next. */
  stride: number;
  /** The first input row taken in a group. */
  offset: number;
}

/** Rows 0 .. rows - 1, in order. */
export function allRows(rows: number): RowSelection {
  return { rows, per: 1, stride: 1, offset: 0 };
}

/** A LayerNorm's weights and where its output goes. */
export interface NormOutput {
  /** The scale. */
  gamma: GPUBuffer;
  /** The shift. */
  beta: GPUBuffer;
  /** Where the normalized rows go. */
  y: GPUBuffer;
}

/** LayerNorm of the selected rows of x into `out`, and with `pair` a second norm from the same statistics. */
export function layerNormKernel(
  c: KernelCache,
  sel: RowSelection,
  h: number,
  eps: number,
  x: GPUBuffer,
  out: NormOutput,
  pair?: NormOutput,
): Kernel {
  const params = LAYERNORM.words({ ...sel, h, eps });
  const list = [x, out.gamma, out.beta, out.y, ...(pair ? [pair.gamma, pair.beta, pair.y] : [])];
  return c.get("layernorm", params, list, () => {
    // CPU adapters: one invocation per row (barriers cost more than the math there).
    const serial = c.gpu.cpuKernels;
    const pipeline = c.gpu.pipeline(serial ? "layernorm_serial" : "layernorm", {
      consts: { PAIR: pair ? 1 : 0 },
      parts: ["lib/layernorm_io"],
      code: LAYERNORM.code,
    });
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [
        c.uniform(params),
        x,
        out.gamma,
        out.beta,
        out.y,
        pair?.gamma,
        pair?.beta,
        pair?.y,
      ]),
      workgroups: grid(serial ? Math.ceil(sel.rows / 64) : sel.rows, c.gpu.limits.maxWorkgroups),
    };
  });
}

/** What a matmul does with its result: stores it, stores its GELU, or adds it to y. */
export type Epilogue = "store" | "gelu" | "accumulate";
const EPILOGUES: Record<Epilogue, number> = { store: 0, gelu: 1, accumulate: 2 };

/**
 * The pipeline of a tile kernel (matmul or unembedding) for `variant` on weights of `format`, for a kernel
 * being built: the variant is recorded in `c.used`.
 */
function tilePipeline(
  c: KernelCache,
  kernel: TileKernel,
  variant: TileVariant,
  format: WeightFormat,
  consts: Record<string, number>,
): GPUComputePipeline {
  c.used.add(variantName(variant));
  const shader = kernel === "matmul" ? "matmul" : "unembed_argmax";
  const params = kernel === "matmul" ? MATMUL : UNEMBED;
  const parts = [`lib/weights_${format}`, "lib/matmul_tile"];
  if (kernel === "unembed") parts.push("lib/argmax_partial");
  // The parameters follow from the kernel, so the variant, format and kernel name the generated text.
  const code = {
    key: `${params.code.key}\n${variantName(variant)} ${format} ${kernel}`,
    wgsl: () => `${params.code.wgsl()}\n${tileSource(variant, format, kernel)}`,
  };
  return c.gpu.pipeline(shader, { consts, parts, code });
}

/** y[m, :] (=|+=) act(x[m, :] . W^T + bias) for m < rows. */
export function matmulKernel(
  c: KernelCache,
  rows: number,
  w: WeightMatrix,
  x: GPUBuffer,
  bias: GPUBuffer | null,
  y: GPUBuffer,
  epilogue: Epilogue,
  variant: TileVariant = c.variant("matmul", w.format, rows, w.rows, w.cols),
): Kernel {
  const params = MATMUL.words({ m: rows, n: w.rows, k: w.cols });
  const buffers = bias ? [w.buffer, x, bias, y] : [w.buffer, x, y];
  return c.get(`matmul-${epilogue}-${variantName(variant)}`, params, buffers, () => {
    const consts = { EPILOGUE: EPILOGUES[epilogue], HAS_BIAS: bias ? 1 : 0 };
    const pipeline = tilePipeline(c, "matmul", variant, w.format, consts);
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [w.buffer, c.uniform(params), x, bias ?? undefined, y]),
      workgroups: [Math.ceil(w.rows / variant.bn), Math.ceil(rows / variant.bm), 1],
    };
  });
}

/** The attention's sizes. */
export interface AttentionDims {
  /** Attention heads. */
  heads: number;
  /** Dimensions per head. */
  headSize: number;
  /** Half the rotary dimensions of a head. */
  rotHalf: number;
  /** Positions a sequence may reach (the KV cache's length). */
  maxT: number;
}

/** Splits a pass's fused qkv projection: q and k rotated, q into `q`, k and v appended to the KV cache. */
export function qkvRotaryKernel(
  c: KernelCache,
  pass: PassShape,
  dims: AttentionDims,
  bufs: {
    qkv: GPUBuffer;
    rope: GPUBuffer;
    slotOf: GPUBuffer;
    q: GPUBuffer;
    kCache: GPUBuffer;
    vCache: GPUBuffer;
  },
): Kernel {
  const tokens = pass.rows * pass.n;
  const params = QKV_ROTARY.words({
    tokens,
    n: pass.n,
    t0: pass.t0,
    heads: dims.heads,
    hs: dims.headSize,
    rot_half: dims.rotHalf,
    max_t: dims.maxT,
    row_base: pass.rowBase,
  });
  const list = [bufs.qkv, bufs.rope, bufs.slotOf, bufs.q, bufs.kCache, bufs.vCache];
  return c.get("qkv_rotary", params, list, () => {
    const pipeline = c.gpu.pipeline("qkv_rotary", { code: QKV_ROTARY.code });
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [c.uniform(params), ...list]),
      workgroups: grid(Math.ceil(tokens * dims.heads * dims.headSize / 256), c.gpu.limits.maxWorkgroups),
    };
  });
}

/** Causal attention of a pass's queries over its sequences' KV caches into `out`. */
export function attentionKernel(
  c: KernelCache,
  pass: PassShape,
  dims: AttentionDims,
  bufs: { q: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; slotOf: GPUBuffer; out: GPUBuffer },
): Kernel {
  const tokens = pass.rows * pass.n;
  const params = ATTENTION.words({
    tokens,
    n: pass.n,
    t0: pass.t0,
    heads: dims.heads,
    hs: dims.headSize,
    max_t: dims.maxT,
    row_base: pass.rowBase,
    scale: dims.headSize ** -0.5,
  });
  const list = [bufs.q, bufs.kCache, bufs.vCache, bufs.slotOf, bufs.out];
  return c.get("attention", params, list, () => {
    // Workgroup arrays are sized by constants: round up so few pipelines cover all shapes.
    const consts = { MAX_T: Math.ceil(dims.maxT / 64) * 64, MAX_HS: Math.ceil(dims.headSize / 64) * 64 };
    // CPU adapters: one invocation per (token, head) (barriers cost more than the math there).
    const serial = c.gpu.cpuKernels;
    const pipeline = c.gpu.pipeline(serial ? "attention_serial" : "attention", {
      consts,
      parts: ["lib/attention_io"],
      code: ATTENTION.code,
    });
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [c.uniform(params), ...list]),
      workgroups: grid(
        serial ? Math.ceil(tokens * dims.heads / 64) : tokens * dims.heads,
        c.gpu.limits.maxWorkgroups,
      ),
    };
  });
}

/** Which continuation positions an unembedding pass predicts, and where their true tokens are. */
export interface UnembedTarget {
  /** Unembedding rows: pass rows × per. */
  rows: number;
  /** Predicted positions per pass row. */
  per: number;
  /** The first entry of slot_of the pass reads. */
  rowBase: number;
  /** Continuation index of the first predicted position. */
  posBase: number;
  /** Prompt length: continuation index c lives at token position prompt + c. */
  prompt: number;
  /** Positions of a sequence (the token rows' stride). */
  seqLen: number;
  /** Continuation length (the pred and logprob rows' stride). */
  cont: number;
  /** A token id the argmax never picks; null: none. */
  suppress: number | null;
  /** Write the argmax into the tokens (greedy decoding). */
  feed: boolean;
  /** Compute the true token's log-probability. */
  logprob: boolean;
}

/** `rows` rows of x, one prediction each (pred[r] = argmax of row r), nothing fed back: for timing and tests. */
export function singleTarget(rows: number, suppress: number | null = null): UnembedTarget {
  return {
    rows,
    per: 1,
    rowBase: 0,
    posBase: 0,
    prompt: 0,
    seqLen: 1,
    cont: 1,
    suppress,
    feed: false,
    logprob: false,
  };
}

/** The unembedding's kernel, and how many vocabulary tiles (partials per row) it writes. */
export function unembedArgmaxKernel(
  c: KernelCache,
  t: UnembedTarget,
  w: WeightMatrix,
  bufs: { x: GPUBuffer; tokens: GPUBuffer; slotOf: GPUBuffer; partials: GPUBuffer },
  // The log-sum-exp's order depends on the vocabulary tile's layout: --logprob keeps the reference variant.
  variant: TileVariant = t.logprob
    ? REFERENCE[c.gpu.cpuKernels ? "direct" : "tiled"]
    : c.variant("unembed", w.format, t.rows, w.rows, w.cols),
): Kernel & { tiles: number } {
  const params = UNEMBED.words({
    m: t.rows,
    n: w.rows,
    k: w.cols,
    suppress: t.suppress ?? 0xffffffff,
    per: t.per,
    row_base: t.rowBase,
    seq_len: t.seqLen,
    truth_pos: t.prompt + t.posBase,
  });
  const list = [w.buffer, bufs.x, bufs.tokens, bufs.slotOf, bufs.partials];
  const tiles = Math.ceil(w.rows / variant.bn);
  const kernel = c.get(`unembed_argmax-${t.logprob}-${variantName(variant)}`, params, list, () => {
    const pipeline = tilePipeline(c, "unembed", variant, w.format, { LOGPROB: t.logprob ? 1 : 0 });
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [
        w.buffer,
        c.uniform(params),
        bufs.x,
        bufs.tokens,
        bufs.slotOf,
        bufs.partials,
      ]),
      workgroups: [tiles, Math.ceil(t.rows / variant.bm), 1],
    };
  });
  return { ...kernel, tiles };
}

/** The argmax (and log-probability) of each unembedding row from its vocabulary tiles' partials. */
export function argmaxReduceKernel(
  c: KernelCache,
  t: UnembedTarget,
  tiles: number,
  bufs: { partials: GPUBuffer; slotOf: GPUBuffer; tokens: GPUBuffer; pred: GPUBuffer; logprob: GPUBuffer },
): Kernel {
  const params = ARGMAX_REDUCE.words({
    rows: t.rows,
    tiles,
    per: t.per,
    row_base: t.rowBase,
    seq_len: t.seqLen,
    cont: t.cont,
    pos_base: t.posBase,
    prompt: t.prompt,
  });
  const list = [bufs.partials, bufs.slotOf, bufs.tokens, bufs.pred, bufs.logprob];
  return c.get(`argmax_reduce-${t.feed}-${t.logprob}`, params, list, () => {
    const pipeline = c.gpu.pipeline("argmax_reduce", {
      consts: { FEED: t.feed ? 1 : 0, LOGPROB: t.logprob ? 1 : 0 },
      parts: ["lib/argmax_partial"],
      code: ARGMAX_REDUCE.code,
    });
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [c.uniform(params), ...list]),
      workgroups: grid(t.rows, c.gpu.limits.maxWorkgroups),
    };
  });
}
