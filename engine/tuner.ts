// Times matmul tile variants (engine/tiles.ts) at a model's own matmul shapes on this adapter: what
// `cli.ts tune` stores in a tuning table and `cli.ts bench --matmuls` reports. Weights and activations are
// synthetic (values in [-1, 1] in the model's weight format): speed does not depend on the values, and a 12B
// checkpoint need not be loaded to tune for it. Timing uses GPU timestamps when the adapter has them (else
// the host clock over enough repetitions).
import type { NeoXConfig } from "./config.ts";
import { type Gpu, type Kernel, Recorder } from "./gpu.ts";
import {
  KernelCache,
  matmulKernel,
  singleTarget,
  type TexelMatrix,
  unembedArgmaxKernel,
  uploadTexels,
  type WeightMatrix,
} from "./kernels.ts";
import {
  allVariants,
  fits,
  MIN_BN,
  PARTIAL_BYTES,
  type TileKernel,
  type TileVariant,
  variantName,
  type WeightFormat,
} from "./tiles.ts";
import { matrixFamily, matrixTexels, type TunedShape, Tuning } from "./tuning.ts";
import { maxForwardTokens } from "./workspace.ts";

/** One matmul of the forward pass: Y[m, n] = X[m, k] · W[n, k]ᵀ (unembed: fused with the argmax). */
export interface MatmulShape {
  /** The phase and the matrix, e.g. "prefill qkv". */
  name: string;
  /** The kernel that runs it. */
  kernel: TileKernel;
  /** How W is stored. */
  format: WeightFormat;
  /** Rows of X and Y. */
  m: number;
  /** Rows of W: columns of Y. */
  n: number;
  /** The inner dimension. */
  k: number;
}

/** How a model's matrices are stored on the GPU: the layers', and the unembedding's (a checkpoint may differ). */
export interface ModelFormats {
  /** The layers' weight matrices (query_key_value's stands for all of them). */
  layers: WeightFormat;
  /** The unembedding (embed_out, or embed_in when tied). */
  unembed: WeightFormat;
}

/**
 * The matmuls of scoring `batch` rows with `prompt`-token prompts: prefill (M = the prompt tokens of as many
 * rows as one forward chunk holds), decode (M = batch: score mode decodes all rows together) and the fused
 * unembedding argmax (M = batch).
 */
export function modelShapes(
  cfg: NeoXConfig,
  formats: ModelFormats,
  batch: number,
  prompt: number,
  maxBinding: number,
): MatmulShape[] {
  const format = formats.layers;
  const h = cfg.hiddenSize, i = cfg.intermediateSize;
  const prefill = Math.min(batch, Math.floor(maxForwardTokens(cfg, maxBinding) / prompt)) * prompt;
  const shapes: MatmulShape[] = [];
  for (const [phase, m] of [["prefill", prefill], ["decode", batch]] as const) {
    shapes.push(
      { name: `${phase} qkv`, kernel: "matmul", format, m, n: 3 * h, k: h },
      { name: `${phase} dense`, kernel: "matmul", format, m, n: h, k: h },
      { name: `${phase} mlp up`, kernel: "matmul", format, m, n: i, k: h },
      { name: `${phase} mlp down`, kernel: "matmul", format, m, n: h, k: i },
    );
  }
  shapes.push({
    name: "decode unembed+argmax",
    kernel: "unembed",
    format: formats.unembed,
    m: batch,
    n: cfg.vocabSize,
    k: h,
  });
  return shapes;
}

/** Floating-point operations of a matmul: a multiply and an add per (m, n, k). */
export const flops = (s: { m: number; n: number; k: number }): number => 2 * s.m * s.n * s.k;

/** Synthetic operands for a set of shapes, sized for the largest; freed by destroy. */
class ShapeBuffers {
  readonly weights = new Map<WeightFormat, GPUBuffer>();
  private readonly texelMatrices = new Map<string, TexelMatrix>();
  readonly x: GPUBuffer;
  readonly y: GPUBuffer;
  readonly bias: GPUBuffer;
  readonly tokens: GPUBuffer;
  readonly slotOf: GPUBuffer;
  readonly partials: GPUBuffer;

  constructor(readonly gpu: Gpu, shapes: MatmulShape[]) {
    const max = (f: (s: MatmulShape) => number) => Math.max(...shapes.map(f));
    for (const format of new Set(shapes.map((s) => s.format))) {
      const bytes = max((s) => (s.format === format ? s.n * s.k : 0)) * (format === "f32" ? 4 : 2);
      this.weights.set(format, this.filled(bytes, format, "weights"));
    }
    this.x = this.filled(max((s) => s.m * s.k) * 4, "f32", "x");
    this.y = gpu.storage(max((s) => s.m * s.n) * 4, "y");
    this.bias = gpu.storage(max((s) => s.n) * 4, "bias");
    this.tokens = gpu.storage(16, "tokens");
    this.slotOf = gpu.upload(Uint32Array.from({ length: max((s) => s.m) + 1 }, (_, i) => i), "slot_of");
    this.partials = gpu.storage(max((s) => s.m * Math.ceil(s.n / MIN_BN)) * PARTIAL_BYTES, "partials");
  }

  /** A buffer of `bytes` holding values in [-1, 1] as `format` (written in chunks). */
  private filled(bytes: number, format: WeightFormat, label: string): GPUBuffer {
    const buffer = this.gpu.storage(bytes, label);
    const chunk = synthetic(format, 1 << 22);
    for (let at = 0; at < bytes; at += chunk.byteLength) {
      const n = Math.min(chunk.byteLength, Math.ceil((bytes - at) / 4) * 4);
      this.gpu.write(buffer, at, new Uint8Array(chunk.buffer, 0, n));
    }
    return buffer;
  }

  /** A [n, k] matrix of `format` as texels (for the texel family), made on first use. */
  private texels(format: WeightFormat, n: number, k: number): TexelMatrix {
    const key = `${format}:${n}:${k}`;
    let t = this.texelMatrices.get(key);
    if (!t) {
      const layout = matrixTexels(this.gpu, format, n, k)!;
      const words = synthetic(format, Math.ceil(n * k * (format === "f32" ? 4 : 2) / 4));
      t = uploadTexels(this.gpu, new Uint8Array(words.buffer), layout, `weights ${key}`);
      this.texelMatrices.set(key, t);
    }
    return t;
  }

  /** The kernel computing `shape` with `variant`. */
  kernel(c: KernelCache, shape: MatmulShape, variant: TileVariant): Kernel {
    const texel = variant.family === "texel";
    const w: WeightMatrix = {
      buffer: texel ? null : this.weights.get(shape.format)!,
      texels: texel ? this.texels(shape.format, shape.n, shape.k) : null,
      format: shape.format,
      rows: shape.n,
      cols: shape.k,
    };
    if (shape.kernel === "matmul") {
      return matmulKernel(c, shape.m, w, { x: this.x, bias: this.bias, y: this.y }, "store", variant);
    }
    const target = singleTarget(shape.m);
    const bufs = { x: this.x, tokens: this.tokens, slotOf: this.slotOf, partials: this.partials };
    return unembedArgmaxKernel(c, target, w, bufs, variant);
  }

  destroy(): void {
    for (
      const b of [
        ...this.weights.values(),
        this.x,
        this.y,
        this.bias,
        this.tokens,
        this.slotOf,
        this.partials,
      ]
    ) {
      b.destroy();
    }
    for (const t of this.texelMatrices.values()) t.texture.destroy();
  }
}

/** `words` 32-bit words of values in [-1, 1] as `format` (a fixed xorshift sequence). */
function synthetic(format: WeightFormat, words: number): Uint32Array {
  const out = new Uint32Array(words);
  let s = 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13, s ^= s >>> 17, s ^= s << 5;
    // Two 16-bit values (sign, exponent of 0.5..1, random mantissa), or one f32 of 0.5..1 with a sign.
    out[i] = format === "f32"
      ? (s & 0x807fffff) | 0x3f000000
      : format === "bf16"
      ? (s & 0x807f807f) | 0x3f003f00
      : (s & 0x83ff83ff) | 0x38003800;
  }
  return out;
}

/**
 * Times dispatches: GPU timestamps from the beginning of the first compute pass to the end of the last (a copy
 * between passes included) where the adapter has them, else the host clock.
 */
class KernelTimer {
  private readonly querySet: GPUQuerySet | null;
  private readonly resolved: GPUBuffer | null;
  private readonly staging: GPUBuffer | null;
  /** Whether the GPU clock is used: decided by calibrate (a clock that disagrees with the host's is not). */
  private useDevice: boolean;

  constructor(readonly gpu: Gpu) {
    this.querySet = gpu.hasTimestamps ? gpu.device.createQuerySet({ type: "timestamp", count: 2 }) : null;
    this.resolved = gpu.hasTimestamps
      ? gpu.buffer(16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, "timestamps")
      : null;
    this.staging = gpu.hasTimestamps
      ? gpu.buffer(16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, "timestamps read back")
      : null;
    this.useDevice = gpu.hasTimestamps;
  }

  /** "gpu timestamps" or "host clock". */
  get clock(): string {
    return this.useDevice ? "gpu timestamps" : "host clock";
  }

  /** Host and GPU seconds of `reps` dispatches of `k` in one pass (GPU: NaN without timestamps). */
  private async pass(k: Kernel, reps: number): Promise<{ host: number; device: number }> {
    const { device } = this.gpu;
    const enc = device.createCommandEncoder();
    const rec = new Recorder(enc, this.querySet);
    for (let i = 0; i < reps; i++) rec.kernel(k);
    rec.end();
    if (this.querySet) {
      enc.resolveQuerySet(this.querySet, 0, 2, this.resolved!, 0);
      enc.copyBufferToBuffer(this.resolved!, 0, this.staging!, 0, 16);
    }
    const t = performance.now();
    device.queue.submit([enc.finish()]);
    // One wait per pass (a round trip costs ~11 ms on an H200): the mapping waits for the work.
    if (this.staging) await this.staging.mapAsync(GPUMapMode.READ);
    else await device.queue.onSubmittedWorkDone();
    const host = (performance.now() - t) / 1000;
    this.gpu.check();
    if (!this.staging) return { host, device: NaN };
    const [t0, t1] = new BigUint64Array(this.staging.getMappedRange().slice(0));
    this.staging.unmap();
    return { host, device: Number(t1 - t0) / 1e9 };
  }

  /**
   * Checks the GPU clock against the host's (WebGPU timestamps are nanoseconds only where the driver's tick
   * is): after a warm-up, passes of R and 4R dispatches of `k`, with R large enough that the work outweighs
   * the host's fixed cost of a pass (4R takes at least twice as long); the extra 3R must take the same time on
   * both clocks (within 30%), else the host clock is used. Returns both clocks' seconds for the extra 3R.
   */
  async calibrate(k: Kernel): Promise<{ host: number; device: number }> {
    await this.pass(k, 1);
    let reps = 1, short = await this.pass(k, reps), long = await this.pass(k, 4 * reps);
    while (long.host < 2 * short.host && reps < 4096) {
      reps *= 4;
      [short, long] = [long, await this.pass(k, 4 * reps)];
    }
    const extra = { host: long.host - short.host, device: long.device - short.device };
    this.useDevice = this.useDevice && extra.device >= 0.7 * extra.host && extra.device <= 1.3 * extra.host;
    return extra;
  }

  /** Seconds of `reps` dispatches of `k` in one pass. */
  async run(k: Kernel, reps: number): Promise<number> {
    const r = await this.pass(k, reps);
    return this.useDevice ? r.device : r.host;
  }

  /**
   * Seconds per dispatch of `k`: a warm-up dispatch, then passes of as many dispatches as take about
   * `target` seconds; the fastest of `repeats` passes.
   */
  async time(k: Kernel, target: number, repeats = 2): Promise<number> {
    const once = await this.run(k, 1);
    const reps = Math.max(1, Math.min(200, Math.round(target / Math.max(once, 1e-6))));
    let best = Infinity;
    for (let r = 0; r < repeats; r++) best = Math.min(best, (await this.run(k, reps)) / reps);
    return best;
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolved?.destroy();
    this.staging?.destroy();
  }
}

/** How fast one variant ran one shape. */
export interface VariantTiming {
  /** The variant's name. */
  variant: string;
  /** Seconds per matmul. */
  seconds: number;
  /** Its rate, GFLOP/s. */
  gflops: number;
}

/** The timings of one shape. */
export interface ShapeTuning {
  /** The shape timed. */
  shape: MatmulShape;
  /** Rows the timing used (prefill shapes are timed at no more than maxTimedRows). */
  timedM: number;
  /** Every variant's timing. */
  timings: VariantTiming[];
  /** The fastest. */
  best: VariantTiming;
  /** The variant the adapter uses without tuning, and its rate. */
  default: VariantTiming;
  /** What timed it: "gpu timestamps" or "host clock". */
  clock: string;
}

/** How `tuneShapes` times. */
export interface TuneOptions {
  /** Seconds of work per timed pass (default 0.03 on a GPU, 0.15 on a CPU adapter). */
  target?: number;
  /** Prefill shapes are timed at this many rows at most (default 8192: enough to fill a large GPU). */
  maxTimedRows?: number;
  /**
   * Only these variants (those of the adapter's family that fit), for every shape or per shape; default: the
   * family's whole set.
   */
  variants?: TileVariant[] | ((shape: MatmulShape) => TileVariant[]);
  /** Called with a line on each shape's progress. */
  onProgress?: (line: string) => void;
}

/**
 * Times the variants on each shape and returns, per shape, every timing and the fastest. The tiled family is
 * searched in two phases: every tile × K step × stages (no w16, no swizzle), then the three fastest with w16
 * and swizzle; the three fastest overall are timed again and the best time of each kept.
 */
export async function tuneShapes(
  gpu: Gpu,
  shapes: MatmulShape[],
  opts: TuneOptions = {},
): Promise<ShapeTuning[]> {
  const target = opts.target ?? (gpu.isCpu ? 0.15 : 0.03);
  const maxRows = opts.maxTimedRows ?? 8192;
  const timedShapes = shapes.map((s) => ({ ...s, m: Math.min(s.m, maxRows) }));
  const buffers = new ShapeBuffers(gpu, timedShapes);
  const timer = new KernelTimer(gpu);
  const untuned = Tuning.defaults();
  // Every kernel built here is given its variant; the cache's tuning is only the fallback it would pick.
  const c = new KernelCache(gpu, untuned);
  const out: ShapeTuning[] = [];
  try {
    const first = shapes.length ? timedShapes[0] : null;
    if (first) {
      const v = untuned.pick(gpu, first.kernel, first.format, first.m, first.n, first.k);
      const c0 = await timer.calibrate(buffers.kernel(c, first, v));
      opts.onProgress?.(
        `clock: ${timer.clock} (the same work: ${(c0.host * 1e3).toFixed(1)} ms by the host's clock, ` +
          `${(c0.device * 1e3).toFixed(1)} ms by the GPU's)`,
      );
    }
    for (const [i, shape] of shapes.entries()) {
      const timed = timedShapes[i];
      const family = matrixFamily(gpu, shape.format, shape.n, shape.k);
      // The family that runs this matrix on this adapter only (Tuning.pick takes no other), within its limits.
      const usable = (v: TileVariant) =>
        v.family === family && fits(v, shape.format, shape.kernel, gpu.tileLimits);
      const times = new Map<string, number>();
      const measure = async (v: TileVariant) => {
        const name = variantName(v);
        let k: Kernel;
        try {
          k = await gpu.scoped(`building ${name}`, () => buffers.kernel(c, timed, v));
        } catch (e) {
          opts.onProgress?.(`${shape.name}: ${name} skipped (${(e as Error).message})`);
          return;
        }
        const s = await timer.time(k, target);
        times.set(name, Math.min(s, times.get(name) ?? Infinity));
      };
      const ranked = () => [...times.entries()].sort((a, b) => a[1] - b[1]).map(([n]) => n);
      const asked = typeof opts.variants === "function" ? opts.variants(shape) : opts.variants;
      const all = (asked ?? allVariants(family, shape.format)).filter(usable);
      const base = opts.variants ? all : all.filter((v) => !v.w16 && v.swizzle === 0);
      for (const v of base) await measure(v);
      if (!opts.variants && family === "tiled") {
        const top = new Set(ranked().slice(0, 3));
        const key = (v: TileVariant) => variantName({ ...v, w16: false, swizzle: 0 });
        for (const v of all) if (top.has(key(v)) && !times.has(variantName(v))) await measure(v);
      }
      const fallback = untuned.pick(gpu, shape.kernel, shape.format, shape.m, shape.n, shape.k);
      if (!times.has(variantName(fallback))) await measure(fallback);
      for (const name of ranked().slice(0, 3)) {
        await measure(all.find((v) => variantName(v) === name) ?? fallback);
      }
      const timing = (variant: string): VariantTiming => ({
        variant,
        seconds: times.get(variant)!,
        gflops: flops(timed) / times.get(variant)! / 1e9,
      });
      const timings = ranked().map(timing);
      const result = {
        shape,
        timedM: timed.m,
        timings,
        best: timings[0],
        default: timing(variantName(fallback)),
        clock: timer.clock,
      };
      out.push(result);
      opts.onProgress?.(
        `${shape.name} [${shape.m}x${shape.k}]·[${shape.n}x${shape.k}]ᵀ ${shape.format}: best ${result.best.variant} ` +
          `${result.best.gflops.toFixed(0)} GFLOP/s, untuned ${result.default.variant} ${
            result.default.gflops.toFixed(0)
          } (${timings.length} variants)`,
      );
    }
  } finally {
    c.destroy();
    timer.destroy();
    buffers.destroy();
  }
  return out;
}

/** The tuning-table entries of tuned shapes (their winners). */
export function tunedShapes(results: ShapeTuning[]): TunedShape[] {
  return results.map((r) => ({
    kernel: r.shape.kernel,
    format: r.shape.format,
    m: r.shape.m,
    n: r.shape.n,
    k: r.shape.k,
    variant: r.best.variant,
    gflops: Math.round(r.best.gflops),
    default_gflops: Math.round(r.default.gflops),
  }));
}
