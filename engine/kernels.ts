/**
 * One small typed constructor per WGSL kernel: each returns the pipeline, a bind group and the dispatch size
 * (a Kernel). Constructors are memoized on their shape and buffers, so a decode loop that replays the same
 * shapes builds its pipelines, uniform buffers and bind groups once.
 */
import { type Gpu, grid, type Kernel } from "./gpu.ts";

/** How a weight matrix is stored on the GPU; names the shaders/weights_*.wgsl loader. */
export type WeightFormat = "f32" | "f16" | "f16native" | "bf16";

export interface WeightMatrix {
  buffer: GPUBuffer;
  format: WeightFormat;
  rows: number; // out features (N)
  cols: number; // in features (K)
}

/** Matmul tiling: a 64x64 output tile per 256-thread workgroup, 4x4 outputs per thread. */
const TILE = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
/**
 * For many rows (prefill) GPUs take 128x128 tiles, 8x8 outputs per thread: twice the math per shared-memory
 * read. Both shapes sum each output the same way (fma per k, increasing k: see matmul_tile_4x4.wgsl), so the choice never changes a result.
 */
const LARGE_TILE = { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 };
const LARGE_TILE_ROWS = 4096;

/**
 * CPU adapters run the barrier-free tile (matmul_direct_tile.wgsl): 2.5x faster on lavapipe (measured 2 vs 5
 * GFLOP/s at pico shapes), with the same sums. Other tile shapes measured no better there.
 */
function tileParts(gpu: Gpu, tile: { TM: number }): string[] {
  if (gpu.cpuKernels) return ["matmul_direct_tile"];
  return ["matmul_tile_load", tile.TM === 8 ? "matmul_tile_8x8" : "matmul_tile_4x4"];
}

export class KernelCache {
  private readonly kernels = new Map<string, Kernel>();
  private readonly uniforms = new Map<string, GPUBuffer>();
  /** Bound where a shader declares a buffer this use of it does not need (auto layouts keep every binding). */
  readonly dummy: GPUBuffer;
  constructor(readonly gpu: Gpu) {
    this.dummy = gpu.storage(16, "unused binding");
  }

  /** The kernel for `key`, built by `build` the first time. */
  get(name: string, params: number[], buffers: GPUBuffer[], build: () => Kernel): Kernel {
    const key = `${name}:${params.join(",")}:${buffers.map((b) => this.gpu.id(b)).join(",")}`;
    let k = this.kernels.get(key);
    if (!k) {
      k = build();
      this.kernels.set(key, k);
    }
    return k;
  }

  /** A uniform buffer holding `words` (u32, or f32 where given as {f32}). */
  uniform(words: (number | { f32: number })[]): GPUBuffer {
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
    for (const b of this.uniforms.values()) b.destroy();
    this.dummy.destroy();
    this.uniforms.clear();
    this.kernels.clear();
  }

  bind(pipeline: GPUComputePipeline, entries: (GPUBuffer | undefined)[]): GPUBindGroup {
    return this.gpu.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: entries.map((buffer, binding) => ({ binding, resource: { buffer: buffer ?? this.dummy } })),
    });
  }
}

/** Where a pass's rows live: row b of the pass uses KV/token slot slot_of[rowBase + b]. */
export interface PassShape {
  rows: number; // sequences in this pass
  n: number; // new positions per sequence
  t0: number; // position of the first new token
  rowBase: number;
}

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
  const params = [pass.rows * pass.n, pass.n, pass.t0, seqLen, pass.rowBase, h4];
  return c.get("embed", params, [embedIn.buffer, tokens, slotOf, x], () => {
    const pipeline = c.gpu.pipeline("embed", {}, [`weights_${embedIn.format}`]);
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [embedIn.buffer, c.uniform(params), tokens, slotOf, x]),
      workgroups: grid(Math.ceil(pass.rows * pass.n * h4 / 256), c.gpu.limits.maxWorkgroups),
    };
  });
}

/** Output row r normalizes input row (r / per) * stride + offset + r % per (see layernorm.wgsl). */
export interface RowSelection {
  rows: number;
  per: number;
  stride: number;
  offset: number;
}

export function allRows(rows: number): RowSelection {
  return { rows, per: 1, stride: 1, offset: 0 };
}

export function layerNormKernel(
  c: KernelCache,
  sel: RowSelection,
  h: number,
  eps: number,
  x: GPUBuffer,
  gamma: GPUBuffer,
  beta: GPUBuffer,
  y: GPUBuffer,
): Kernel {
  const params = [sel.rows, sel.per, sel.stride, sel.offset, h];
  return c.get("layernorm", [...params, eps], [x, gamma, beta, y], () => {
    // CPU adapters: one invocation per row (barriers cost more than the math there).
    const serial = c.gpu.cpuKernels;
    const pipeline = c.gpu.pipeline(serial ? "layernorm_serial" : "layernorm", {}, ["layernorm_io"]);
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [c.uniform([...params, { f32: eps }]), x, gamma, beta, y]),
      workgroups: grid(serial ? Math.ceil(sel.rows / 64) : sel.rows, c.gpu.limits.maxWorkgroups),
    };
  });
}

export type Epilogue = "store" | "gelu" | "accumulate";
const EPILOGUES: Record<Epilogue, number> = { store: 0, gelu: 1, accumulate: 2 };

/** y[m, :] (=|+=) act(x[m, :] . W^T + bias) for m < rows. */
export function matmulKernel(
  c: KernelCache,
  rows: number,
  w: WeightMatrix,
  x: GPUBuffer,
  bias: GPUBuffer | null,
  y: GPUBuffer,
  epilogue: Epilogue,
): Kernel {
  const params = [rows, w.rows, w.cols];
  const buffers = bias ? [w.buffer, x, bias, y] : [w.buffer, x, y];
  return c.get(`matmul-${epilogue}`, params, buffers, () => {
    const tile = !c.gpu.cpuKernels && rows >= LARGE_TILE_ROWS ? LARGE_TILE : TILE;
    const consts = { ...tile, EPILOGUE: EPILOGUES[epilogue], HAS_BIAS: bias ? 1 : 0 };
    const pipeline = c.gpu.pipeline("matmul", consts, [`weights_${w.format}`, ...tileParts(c.gpu, tile)]);
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [w.buffer, c.uniform(params), x, bias ?? undefined, y]),
      workgroups: [Math.ceil(w.rows / consts.BN), Math.ceil(rows / consts.BM), 1],
    };
  });
}

export interface AttentionDims {
  heads: number;
  headSize: number;
  rotHalf: number;
  maxT: number;
}

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
  const params = [tokens, pass.n, pass.t0, dims.heads, dims.headSize, dims.rotHalf, dims.maxT, pass.rowBase];
  const list = [bufs.qkv, bufs.rope, bufs.slotOf, bufs.q, bufs.kCache, bufs.vCache];
  return c.get("qkv_rotary", params, list, () => {
    const pipeline = c.gpu.pipeline("qkv_rotary", {});
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [c.uniform(params), ...list]),
      workgroups: grid(Math.ceil(tokens * dims.heads * dims.headSize / 256), c.gpu.limits.maxWorkgroups),
    };
  });
}

export function attentionKernel(
  c: KernelCache,
  pass: PassShape,
  dims: AttentionDims,
  bufs: { q: GPUBuffer; kCache: GPUBuffer; vCache: GPUBuffer; slotOf: GPUBuffer; out: GPUBuffer },
): Kernel {
  const tokens = pass.rows * pass.n;
  const params = [tokens, pass.n, pass.t0, dims.heads, dims.headSize, dims.maxT, pass.rowBase];
  const list = [bufs.q, bufs.kCache, bufs.vCache, bufs.slotOf, bufs.out];
  return c.get("attention", params, list, () => {
    // Workgroup arrays are sized by constants: round up so few pipelines cover all shapes.
    const consts = { MAX_T: Math.ceil(dims.maxT / 64) * 64, MAX_HS: Math.ceil(dims.headSize / 64) * 64 };
    // CPU adapters: one invocation per (token, head) (barriers cost more than the math there).
    const serial = c.gpu.cpuKernels;
    const pipeline = c.gpu.pipeline(serial ? "attention_serial" : "attention", consts, ["attention_io"]);
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [c.uniform([...params, { f32: dims.headSize ** -0.5 }]), ...list]),
      workgroups: grid(
        serial ? Math.ceil(tokens * dims.heads / 64) : tokens * dims.heads,
        c.gpu.limits.maxWorkgroups,
      ),
    };
  });
}

/** Which continuation positions an unembedding pass predicts, and where their true tokens are. */
export interface UnembedTarget {
  rows: number; // unembedding rows = pass rows * per
  per: number; // predicted positions per pass row
  rowBase: number;
  posBase: number; // continuation index of the first predicted position
  prompt: number; // prompt length: continuation index c lives at token position prompt + c
  seqLen: number;
  cont: number; // continuation length (pred/logprob row stride)
  suppress: number | null; // token id excluded from argmax
  feed: boolean; // write the argmax into tokens (greedy decoding)
  logprob: boolean;
}

export const VOCAB_TILE = TILE.BN;

export function unembedArgmaxKernel(
  c: KernelCache,
  t: UnembedTarget,
  w: WeightMatrix,
  bufs: { x: GPUBuffer; tokens: GPUBuffer; slotOf: GPUBuffer; partials: GPUBuffer },
): Kernel {
  const params = [
    t.rows,
    w.rows,
    w.cols,
    t.suppress ?? 0xffffffff,
    t.per,
    t.rowBase,
    t.seqLen,
    t.prompt + t.posBase,
  ];
  const list = [w.buffer, bufs.x, bufs.tokens, bufs.slotOf, bufs.partials];
  return c.get(`unembed_argmax-${t.logprob}`, params, list, () => {
    const consts = { ...TILE, LOGPROB: t.logprob ? 1 : 0 };
    const parts = [`weights_${w.format}`, ...tileParts(c.gpu, TILE), "argmax_partial"];
    const pipeline = c.gpu.pipeline("unembed_argmax", consts, parts);
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
      workgroups: [Math.ceil(w.rows / TILE.BN), Math.ceil(t.rows / TILE.BM), 1],
    };
  });
}

export function argmaxReduceKernel(
  c: KernelCache,
  t: UnembedTarget,
  vocab: number,
  bufs: { partials: GPUBuffer; slotOf: GPUBuffer; tokens: GPUBuffer; pred: GPUBuffer; logprob: GPUBuffer },
): Kernel {
  const tiles = Math.ceil(vocab / TILE.BN);
  const params = [t.rows, tiles, t.per, t.rowBase, t.seqLen, t.cont, t.posBase, t.prompt];
  const list = [bufs.partials, bufs.slotOf, bufs.tokens, bufs.pred, bufs.logprob];
  return c.get(`argmax_reduce-${t.feed}-${t.logprob}`, params, list, () => {
    const pipeline = c.gpu.pipeline("argmax_reduce", { FEED: t.feed ? 1 : 0, LOGPROB: t.logprob ? 1 : 0 }, [
      "argmax_partial",
    ]);
    return {
      pipeline,
      bindGroup: c.bind(pipeline, [c.uniform(params), ...list]),
      workgroups: grid(t.rows, c.gpu.limits.maxWorkgroups),
    };
  });
}
