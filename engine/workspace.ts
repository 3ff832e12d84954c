// The GPU buffers one batch of decoding needs (token rows, KV caches, one forward chunk's activations, the
// unembedding's outputs), their sizes from one table, and the loop that fits a batch into GPU memory. Sized by
// the model's config alone: the weights stay the model's (engine/model.ts), which the forward pass takes
// beside the workspace.
import type { NeoXConfig } from "./config.ts";
import { EngramError } from "../base/errors.ts";
import { fmtBytes, type Gpu, GpuOutOfMemory } from "./gpu.ts";
import { KernelCache, type KvCache, texelTexture } from "./kernels.ts";
import { MIN_BN, PARTIAL_BYTES, texelLayout } from "./tiles.ts";
import type { Tuning } from "./tuning.ts";

/** What a decoder asks of its workspace. */
export interface WorkspaceRequest {
  /** Sequences per batch; halved until the workspace fits in GPU memory. */
  batch: number;
  /** Prompt tokens per sequence (32 in the paper). */
  prompt: number;
  /** Continuation tokens per sequence (32 in the paper). */
  cont: number;
  /** Upper bound for the workspace (KV cache + activations), bytes. */
  memoryBudget?: number;
  /** Where the budget comes from, for the message when one sequence does not fit in it (e.g. a command's flag). */
  memoryBudgetSource?: string;
  /** Tokens per forward chunk (default: as many as one buffer binding and the budget allow). */
  maxTokens?: number;
  /** Size the workspace for full logits (the `logits` command) rather than fused argmax. */
  logits?: boolean;
}

/** What a workspace is fitted to: the device, the model's config and the GPU bytes its weights already hold. */
export interface WorkspaceTarget {
  /** The device the workspace is allocated on. */
  readonly gpu: Gpu;
  /** The model's config: its layers, widths and vocabulary size the buffers. */
  readonly cfg: NeoXConfig;
  /** GPU bytes of the weights (named when not even one sequence fits beside them). */
  readonly weightBytes: number;
  /** Whether some of its matrices are held as texels (their matmuls' inputs then go through staging textures). */
  readonly holdsTexels: boolean;
}

/** Capacity of a Workspace: sequences (slots), their length, and how many tokens one forward pass holds. */
export interface WorkspaceShape {
  /** Sequences held at once (the batch). */
  slots: number;
  /** Positions of a sequence: prompt + continuation. */
  seqLen: number;
  /** Prompt tokens. */
  prompt: number;
  /** Continuation tokens. */
  cont: number;
  /** Tokens of one forward chunk: rows × new positions. */
  maxTokens: number;
  /** Rows one unembedding pass takes. */
  maxUnembedRows: number;
}

/** Bytes of each kind of workspace buffer (the scratch slot included). */
interface WorkspaceLayout {
  rope: number;
  tokens: number;
  slotOf: number;
  pred: number;
  logprob: number;
  kvCache: number;
  x: number;
  qkv: number;
  mlp: number;
  final: number;
  partials: number;
}

function workspaceLayout(cfg: NeoXConfig, s: WorkspaceShape): WorkspaceLayout {
  const slots = s.slots + 1;
  const h = cfg.hiddenSize;
  return {
    rope: 8 * s.seqLen * Math.max(1, cfg.rotaryNdims / 2),
    tokens: 4 * slots * s.seqLen,
    slotOf: 4 * slots,
    pred: 4 * slots * s.cont,
    logprob: 4 * slots * s.cont,
    kvCache: 4 * slots * s.seqLen * h,
    x: 4 * s.maxTokens * h,
    qkv: 4 * s.maxTokens * 3 * h,
    mlp: 4 * s.maxTokens * cfg.intermediateSize,
    final: 4 * s.maxUnembedRows * h,
    partials: unembedRowBytes(cfg, false) * s.maxUnembedRows,
  };
}

/** Bytes per unembedding row: full logits, or the argmax partials (one per narrowest vocabulary tile). */
function unembedRowBytes(cfg: NeoXConfig, logits: boolean | undefined): number {
  return logits ? 4 * cfg.vocabSize : PARTIAL_BYTES * Math.ceil(cfg.vocabSize / MIN_BN);
}

/**
 * GPU buffers for scoring a batch: the rotary table for its positions, the token rows, KV caches, activations
 * of one forward chunk, and the unembedding's outputs. Slot `slots` (one past the end) is scratch, used to pad
 * shrinking batches.
 */
export class Workspace {
  /** The kernels bound to this workspace's buffers. */
  readonly kernels: KernelCache;
  /** cos/sin per (position < seqLen, rotary frequency), f32, as transformers computes them. */
  readonly rope: GPUBuffer;
  /** [slots + 1, seqLen] u32: the token rows. */
  readonly tokens: GPUBuffer;
  /** [slots + 1] u32: the slot of each row of a forward pass. */
  readonly slotOf: GPUBuffer;
  /** [slots + 1, cont] u32: the greedy predictions. */
  readonly pred: GPUBuffer;
  /** [slots + 1, cont] f32: the true continuation's log-probabilities. */
  readonly logprob: GPUBuffer;
  /**
   * Per layer, [slots + 1, heads, seqLen, head size] f32: the attention keys; held as texels where the CPU
   * kernels hold texels (`gpu.texels`) and the head size is a multiple of 4 (engine/kernels.ts, KvCache).
   */
  readonly kCache: KvCache[];
  /** Per layer, [slots + 1, heads, seqLen, head size] f32: the attention values, held as the keys are. */
  readonly vCache: KvCache[];
  /** [maxTokens, hidden] f32: the residual stream. */
  readonly x: GPUBuffer;
  /** [maxTokens, hidden] f32: the first layer norm's output. */
  readonly ln1: GPUBuffer;
  /** [maxTokens, hidden] f32: the second layer norm's output (parallel residual). */
  readonly ln2: GPUBuffer;
  /** [maxTokens, 3 × hidden] f32: the query-key-value projection. */
  readonly qkv: GPUBuffer;
  /** [maxTokens, hidden] f32: the rotated queries. */
  readonly q: GPUBuffer;
  /** [maxTokens, hidden] f32: the attention's output. */
  readonly attn: GPUBuffer;
  /** [maxTokens, intermediate] f32: the MLP's hidden activations. */
  readonly mlp: GPUBuffer;
  /** [maxUnembedRows, hidden] f32: the final layer norm's output, the unembedding's input. */
  readonly final: GPUBuffer;
  /** The unembedding's argmax partials (one per narrowest vocabulary tile and row). */
  readonly partials: GPUBuffer;
  private logitsBuffer: GPUBuffer | null = null;
  private readonly owned: (GPUBuffer | GPUTexture)[] = [];

  /**
   * Allocates on `gpu` the buffers of `shape` for a model of config `cfg`, its kernels' matmuls running the
   * variants `tuning` picks; a buffer above the adapter's binding limit is GpuOutOfMemory.
   */
  constructor(
    /** The device holding the buffers. */
    readonly gpu: Gpu,
    /** The config of the model the buffers are sized for. */
    readonly cfg: NeoXConfig,
    /** The capacity. */
    readonly shape: WorkspaceShape,
    tuning: Tuning,
  ) {
    const size = workspaceLayout(cfg, shape);
    for (const [name, bytes] of Object.entries(size)) {
      if (bytes > gpu.limits.maxBinding) {
        throw new GpuOutOfMemory(
          `${name} would need ${fmtBytes(bytes)}, above this adapter's ${fmtBytes(gpu.limits.maxBinding)} ` +
            `per-buffer binding limit: use a smaller --batch`,
        );
      }
    }
    const buffer = (name: keyof WorkspaceLayout, label: string = name) =>
      this.own(gpu.storage(size[name], label));
    try {
      this.kernels = new KernelCache(gpu, tuning);
      this.rope = this.own(gpu.upload(ropeTable(cfg.rotaryNdims, cfg.rotaryBase, shape.seqLen), "rope"));
      this.tokens = buffer("tokens");
      this.slotOf = buffer("slotOf", "slot_of");
      gpu.write(this.slotOf, 0, Uint32Array.from({ length: shape.slots + 1 }, (_, i) => i));
      this.pred = buffer("pred");
      this.logprob = buffer("logprob");
      // CPU kernels holding texels: the caches as textures of cache rows (slot, head, position), where a row of
      // head-size values fills whole texels. Rows packed end to end: attention reads a row per lane, 8 at once,
      // not a tile's 64 (spare lines there are unmeasured, and the tests' head sizes would never have them).
      const kvLayout = gpu.cpuKernels && gpu.texels
        ? texelLayout(
          this.slots * cfg.numHeads * shape.seqLen,
          cfg.headSize,
          "f32",
          gpu.device.limits.maxTextureDimension2D,
          { spareLines: false },
        )
        : null;
      const kv = (label: string): KvCache => {
        if (!kvLayout) return buffer("kvCache", label);
        const held = texelTexture(gpu, kvLayout, "rgba32float", label);
        this.own(held.texture);
        return held;
      };
      this.kCache = Array.from({ length: cfg.numLayers }, (_, l) => kv(`k_cache.${l}`));
      this.vCache = Array.from({ length: cfg.numLayers }, (_, l) => kv(`v_cache.${l}`));
      this.x = buffer("x");
      this.ln1 = buffer("x", "ln1");
      this.ln2 = buffer("x", "ln2");
      this.qkv = buffer("qkv");
      this.q = buffer("x", "q");
      this.attn = buffer("x", "attn");
      this.mlp = buffer("mlp");
      this.final = buffer("final");
      this.partials = buffer("partials", "argmax partials");
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** Slots the token rows, KV caches, pred and logprob hold: the batch's and the scratch slot. */
  get slots(): number {
    return this.shape.slots + 1;
  }

  /** `b`, destroyed with the workspace. */
  private own<B extends GPUBuffer | GPUTexture>(b: B): B {
    this.owned.push(b);
    return b;
  }

  /** [maxUnembedRows, vocab] f32 logits, allocated on first use (only the `logits` command needs them). */
  get logits(): GPUBuffer {
    this.logitsBuffer ??= this.own(
      this.gpu.storage(this.shape.maxUnembedRows * this.cfg.vocabSize * 4, "logits"),
    );
    return this.logitsBuffer;
  }

  /**
   * GPU bytes a workspace of `shape` takes (for choosing the batch); `staged`: its kernel cache also makes the
   * texel tiles' staging textures, one as large as x and one as large as mlp.
   */
  static bytes(cfg: NeoXConfig, shape: WorkspaceShape, staged = false): number {
    const size = workspaceLayout(cfg, shape);
    // x, ln1, ln2, q and attn share x's size; k and v caches one per layer each.
    const { kvCache, x, ...once } = size;
    const staging = staged ? x + size.mlp : 0;
    return Object.values(once).reduce((a, b) => a + b, 0) + 5 * x + 2 * cfg.numLayers * kvCache + staging;
  }

  /** Frees the GPU buffers and the kernels. */
  destroy(): void {
    this.kernels?.destroy();
    for (const b of this.owned) b.destroy();
  }
}

/** Tokens one forward chunk may hold: its widest activation ([tokens, max(4h, 3h)] f32) fits one binding. */
export function maxForwardTokens(cfg: NeoXConfig, maxBinding: number): number {
  return Math.floor(maxBinding / (4 * Math.max(cfg.intermediateSize, 3 * cfg.hiddenSize)));
}

/**
 * The workspace for `opts.batch` sequences, or the largest batch (halving) that fits: in the memory budget, in
 * one buffer binding per buffer, and in what the GPU can allocate. Its matmuls run the variants `tuning` picks.
 */
export async function fitWorkspace(
  target: WorkspaceTarget,
  opts: WorkspaceRequest,
  tuning: Tuning,
): Promise<Workspace> {
  const { cfg, gpu } = target;
  const seqLen = opts.prompt + opts.cont;
  if (seqLen > cfg.maxPositions) {
    throw new EngramError(
      `prompt + continuation = ${seqLen} tokens exceeds the model's max_position_embeddings ${cfg.maxPositions}`,
    );
  }
  const maxBinding = gpu.limits.maxBinding;
  const unembedRow = unembedRowBytes(cfg, opts.logits);
  let batch = Math.max(1, opts.batch);
  for (;;) {
    let maxTokens = Math.min(
      opts.maxTokens ?? Infinity,
      batch * seqLen,
      maxForwardTokens(cfg, maxBinding),
    );
    const shape = () => ({
      slots: batch,
      seqLen,
      prompt: opts.prompt,
      cont: opts.cont,
      maxTokens,
      maxUnembedRows: Math.max(1, Math.min(maxTokens, Math.floor(maxBinding / unembedRow))),
    });
    // Shrink the forward chunk first, then the batch, to fit the budget.
    while (
      opts.memoryBudget && maxTokens > seqLen &&
      Workspace.bytes(cfg, shape(), target.holdsTexels) > opts.memoryBudget
    ) {
      maxTokens = Math.max(seqLen, Math.floor(maxTokens / 2));
    }
    const bytes = Workspace.bytes(cfg, shape(), target.holdsTexels);
    const fits = !opts.memoryBudget || bytes <= opts.memoryBudget;
    if (fits) {
      // Out of memory, or a buffer past the adapter's limits (one layer's KV cache is one binding): halve.
      let ws: Workspace | undefined;
      try {
        await gpu.scoped("allocating the workspace", () => ws = new Workspace(gpu, cfg, shape(), tuning));
        return ws!;
      } catch (e) {
        ws?.destroy();
        if (!(e instanceof GpuOutOfMemory)) throw e;
      }
    }
    if (batch === 1) {
      throw new EngramError(
        fits
          ? `not enough GPU memory for even one sequence (${fmtBytes(bytes)} besides ${
            fmtBytes(target.weightBytes)
          } of weights); free the GPU, or use a GPU with more memory`
          : `one sequence needs ${fmtBytes(bytes)} of GPU memory besides the weights, past the cap of ${
            fmtBytes(Math.floor(opts.memoryBudget!))
          }${opts.memoryBudgetSource ? ` (${opts.memoryBudgetSource})` : ""}; raise it`,
      );
    }
    batch = Math.floor(batch / 2);
  }
}

/**
 * [positions, rotaryNdims/2] (cos, sin) pairs (the workspace builds it for the positions a run uses), rounded to f32 at each step as transformers does:
 * inv_freq = 1 / base^(arange(0, d, 2) / d), angle = position * inv_freq, then cos and sin.
 */
export function ropeTable(rotaryNdims: number, base: number, positions: number): Float32Array {
  const half = rotaryNdims / 2;
  const f = Math.fround;
  const invFreq = Array.from({ length: half }, (_, i) => f(1 / f(base ** f((2 * i) / rotaryNdims))));
  const table = new Float32Array(Math.max(1, positions * half) * 2);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = f(p * invFreq[i]);
      table[(p * half + i) * 2] = Math.cos(angle);
      table[(p * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}
