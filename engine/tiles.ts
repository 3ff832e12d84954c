// The matmul tile family: the ways engram computes Y[M, N] = X[M, K] · W[N, K]ᵀ a workgroup tile at a time,
// and the WGSL entry point each variant compiles to (shaders/matmul.wgsl and shaders/unembed_argmax.wgsl supply
// what happens to the outputs; shaders/lib/matmul_tile.wgsl the bounded loads and the workgroup order).
//
// The invariant every variant keeps: each output starts at 0 and takes one fma per k, in increasing k
// (acc = fma(x[m, k], w[n, k], acc)); what follows (bias, GELU, residual add, argmax) is one shared function.
// So choosing a variant never changes a bit of a result, and the tuner may pick any of them. Split-K is not in
// the family for that reason: an fma chain rounds after every step, so the sum over k ≥ K/2 cannot be computed
// before the sum over k < K/2 is known; partial sums combined afterwards round differently.
//
// Two families:
// - "tiled" (GPUs): X and W tiles staged in workgroup memory, BK values of k at a time, k-major with 4
//   consecutive rows (or columns) per vec4, so the inner loop reads whole vec4s. A thread owns TM consecutive
//   rows and TN/4 groups of 4 columns spread BN/(TN/4) apart (consecutive threads read consecutive vec4s).
//   stages 2 prefetches tile k+1 into registers while tile k is multiplied, into a second workgroup buffer
//   (one barrier per step instead of two). w16 keeps 16-bit weights in their storage format in workgroup memory
//   (half the bytes) and widens them on use with the loader's own widen4. swizzle G walks the output tiles G
//   row-tiles at a time, column by column, so a group's W tiles stay in L2.
// - "direct" (CPU adapters): no workgroup memory and no barriers (a CPU's caches do what tiling does on a GPU);
//   each thread reads X and W from memory; thread rows are TY apart, its TN columns consecutive.
// - "texel" (CPU adapters, matrices held as textures): the direct family's threads, reading W from an rgba32uint
//   texture (16 bytes of the stored matrix a texel: 8 values of k for 16-bit formats, 4 for f32) and X from an
//   rgba32float texture that a copy (or, where a copy's rules do not hold, shaders/texel_stage.wgsl) fills
//   from the activations (engine/kernels.ts: KernelCache.staging), both
//   bound as read-only storage textures. llvmpipe fetches a texel for each of its 8 SIMD lanes with one plain
//   load and no branch, but loads from a storage buffer one lane and one 32-bit component at a time (a loop
//   with a branch each); and a storage-texture load skips the sampler path, which a sampled texture's
//   textureLoad takes with its mip level handled per lane. pythia-70m's matmuls ran at 48-70 GFLOP/s from
//   storage textures, 42-54 from sampled ones, 27-37 from buffers (bench/NOTES.md). A matrix row r lives at
//   texels ((r % fold) * pitch .. + kt - 1, r / fold): `fold` rows share a texture row, so a 50k-row
//   unembedding fits the texture dimension limit; pitch is kt, or kt and a spare cache line (texelLayout).
// Accumulators are named registers (c<row>_<column group>) and every loop over them is unrolled here: naga
// bounds-checks every dynamically indexed array, and drivers spill such arrays to memory.
import { EngramError } from "../base/errors.ts";

/**
 * "tiled" variants stage tiles in workgroup memory (GPUs); "direct" ones read memory directly (CPU adapters);
 * "texel" ones read textures directly (CPU adapters, weights held as texels).
 */
export type TileFamily = "tiled" | "direct" | "texel";

/** One way of computing a matmul a workgroup tile at a time (see the top of this file); named by `variantName`. */
export interface TileVariant {
  /** Which family it belongs to. */
  family: TileFamily;
  /** Workgroup tile: BM rows × BN columns of Y. */
  bm: number;
  /** Columns of Y per workgroup tile (BN). */
  bn: number;
  /** Outputs per thread: TM rows × TN columns (TN a multiple of 4). */
  tm: number;
  /** Columns of outputs per thread (TN, a multiple of 4). */
  tn: number;
  /** tiled: values of k staged per step (a multiple of 4); direct and texel: 4. */
  bk: number;
  /** tiled: 2 = register prefetch into a second workgroup buffer. */
  stages: 1 | 2;
  /** tiled, 16-bit weights: W tiles stay 16-bit in workgroup memory, widened on use. */
  w16: boolean;
  /** tiled: output row-tiles per group of the L2-friendly workgroup order (0: row-major order). */
  swizzle: number;
}

/** How a weight matrix is stored on the GPU; names the shaders/lib/weights_*.wgsl loader. */
export type WeightFormat = "f32" | "f16" | "f16native" | "bf16";

/** What consumes the tile's outputs: a linear layer (matmul.wgsl) or the fused unembedding argmax. */
export type TileKernel = "matmul" | "unembed";

/** Bytes of one argmax partial (struct Partial in shaders/lib/argmax_partial.wgsl: 6 × 4 bytes). */
export const PARTIAL_BYTES = 24;

/** The narrowest vocabulary tile of any variant: argmax partials are sized for it. */
export const MIN_BN = 64;

/** The variant's name, e.g. "t128x128k16-8x8", "d64x64-4x4" or "x64x64-8x16"; `parseVariant` reads it back. */
export function variantName(v: TileVariant): string {
  if (v.family === "direct") return `d${v.bm}x${v.bn}-${v.tm}x${v.tn}`;
  if (v.family === "texel") return `x${v.bm}x${v.bn}-${v.tm}x${v.tn}`;
  return `t${v.bm}x${v.bn}k${v.bk}-${v.tm}x${v.tn}` + (v.stages === 2 ? "-s2" : "") + (v.w16 ? "-w16" : "") +
    (v.swizzle ? `-g${v.swizzle}` : "");
}

/** A variant of a family without workgroup tiles (direct or texel): only its tile and outputs per thread vary. */
function untiled(family: "direct" | "texel", bm: number, bn: number, tm: number, tn: number): TileVariant {
  return { family, bm, bn, tm, tn, bk: 4, stages: 1, w16: false, swizzle: 0 };
}

/** Parses a variant name (see variantName); a malformed or impossible one is an EngramError. */
export function parseVariant(name: string): TileVariant {
  const bad = (why: string): never => {
    throw new EngramError(
      `kernel variant "${name}" ${why} (names look like t128x128k16-8x8-s2-w16-g8, d64x64-4x4 or x64x64-4x4)`,
    );
  };
  const d = /^([dx])(\d+)x(\d+)-(\d+)x(\d+)$/.exec(name);
  const t = /^t(\d+)x(\d+)k(\d+)-(\d+)x(\d+)(-s2)?(-w16)?(?:-g(\d+))?$/.exec(name);
  let v: TileVariant;
  if (d) {
    const [bm, bn, tm, tn] = d.slice(2).map(Number);
    v = untiled(d[1] === "d" ? "direct" : "texel", bm, bn, tm, tn);
  } else if (t) {
    const [bm, bn, bk, tm, tn] = t.slice(1, 6).map(Number);
    v = {
      family: "tiled",
      bm,
      bn,
      tm,
      tn,
      bk,
      stages: t[6] ? 2 : 1,
      w16: !!t[7],
      swizzle: Number(t[8] ?? 0),
    };
  } else {
    return bad("is not a variant name");
  }
  const why = invalidReason(v);
  if (why) bad(why);
  return v;
}

/** Why `v` is not a valid variant, or null. */
function invalidReason(v: TileVariant): string | null {
  const pos = [v.bm, v.bn, v.tm, v.tn, v.bk].every((n) => Number.isInteger(n) && n > 0);
  if (!pos) return "has a zero size";
  if (v.bm % v.tm || v.bn % v.tn) return "does not divide its tile into whole threads";
  if (v.tn % 4) return "needs columns per thread in multiples of 4";
  if (v.bn < MIN_BN) return `needs a tile at least ${MIN_BN} columns wide`;
  if (threads(v) > 1024) return "has more than 1024 threads";
  if (v.family === "tiled") {
    if (v.tm % 4 || v.bm % 4 || v.bk % 4) return "needs rows per thread and k per step in multiples of 4";
    if (v.swizzle < 0 || !Number.isInteger(v.swizzle)) return "has a bad swizzle";
  }
  return null;
}

function threads(v: TileVariant): number {
  return (v.bm / v.tm) * (v.bn / v.tn);
}

/** Bytes of workgroup memory a kernel built on `v` takes (the unembedding adds one partial per thread). */
function workgroupBytes(v: TileVariant, kernel: TileKernel): number {
  const reduce = kernel === "unembed" ? threads(v) * PARTIAL_BYTES : 0;
  if (v.family !== "tiled") return reduce;
  return v.stages * v.bk * (v.bm * 4 + v.bn * (v.w16 ? 2 : 4)) + reduce;
}

const is16Bit = (f: WeightFormat): boolean => f !== "f32";

/** Whether `v` can run `kernel` on weights of `format` within an adapter's limits. */
export function fits(
  v: TileVariant,
  format: WeightFormat,
  kernel: TileKernel,
  limits: { workgroupStorage: number; invocations: number },
): boolean {
  if (v.w16 && !is16Bit(format)) return false;
  if (v.family === "texel" && format === "f16native") return false;
  return threads(v) <= limits.invocations && workgroupBytes(v, kernel) <= limits.workgroupStorage;
}

const TILED_SHAPES: [number, number, number, number][] = [
  [64, 64, 4, 4],
  [128, 64, 8, 4],
  [64, 128, 4, 8],
  [128, 128, 8, 8],
  [128, 128, 4, 8],
  [256, 128, 8, 8],
];
const DIRECT_SHAPES: [number, number, number, number][] = [
  [64, 64, 4, 4],
  [64, 64, 2, 4],
  [32, 64, 2, 4],
  [16, 64, 1, 4],
  [64, 64, 1, 4],
  [64, 64, 8, 4],
  [32, 64, 4, 4],
  [64, 64, 4, 8],
  [64, 64, 2, 8],
  [32, 64, 2, 8],
  [64, 64, 8, 8],
  [64, 128, 4, 8],
  // Wider register tiles for llvmpipe, which loads storage memory one SIMD lane and one component at a time
  // (a loop with a bounds check each): per 4 values of k a thread loads TM + TN vec4s for TM × TN × 4 fmas, so
  // more outputs per thread means fewer loads per fma, even when the accumulators spill to the stack (whole
  // vectors, far cheaper than a lane loop).
  [64, 64, 8, 16],
  [64, 128, 8, 16],
  [128, 64, 16, 8],
  [64, 128, 4, 16],
  [32, 128, 4, 16],
  [64, 128, 8, 32],
  // 16 × 32: half the loads per fma of 8 × 16 for more stack traffic; with packed f16 weights 1.05-1.3x the
  // best other variant on pythia-70m's decode shapes, within 5% on its prefill ones (bench/NOTES.md).
  [128, 128, 16, 32],
];

// The texel family: from storage textures, 8 × 16 outputs per thread ran pythia-70m's shapes as fast as 16 × 32
// (within 5% either way, bench/NOTES.md) and compiles in a seventh of its time on lavapipe (0.5 s against 3.8);
// 16 × 32 and 32 × 16 left the family for that. The 4 × 4 tiles serve few rows (64 × 64: the reference's).
const TEXEL_SHAPES: [number, number, number, number][] = [
  [64, 64, 4, 4],
  [32, 64, 4, 4],
  [64, 64, 8, 16],
  [64, 128, 8, 32],
  [128, 64, 16, 16],
];

/**
 * Every variant of `family` for weights of `format` (before adapter limits): what the exactness tests run and
 * what the tuner chooses from. Direct: the DIRECT_SHAPES; texel: the TEXEL_SHAPES. Tiled: 6 tile shapes ×
 * BK 8/16/32 × 1 or 2 stages × (16-bit formats) w16 × swizzle 0/8.
 */
export function allVariants(family: TileFamily, format: WeightFormat): TileVariant[] {
  if (family !== "tiled") {
    const shapes = family === "direct" ? DIRECT_SHAPES : TEXEL_SHAPES;
    return shapes.map(([bm, bn, tm, tn]) => untiled(family, bm, bn, tm, tn));
  }
  const out: TileVariant[] = [];
  for (const [bm, bn, tm, tn] of TILED_SHAPES) {
    for (const bk of [8, 16, 32]) {
      for (const stages of [1, 2] as const) {
        for (const w16 of is16Bit(format) ? [false, true] : [false]) {
          for (const swizzle of [0, 8]) out.push({ family, bm, bn, tm, tn, bk, stages, w16, swizzle });
        }
      }
    }
  }
  return out;
}

/** The variant the engine used before tuning existed (and keeps for --logprob: see the unembedding). */
export const REFERENCE: Record<TileFamily, TileVariant> = {
  tiled: parseVariant("t64x64k16-4x4"),
  direct: parseVariant("d64x64-4x4"),
  // The direct reference's threads and columns: the same log-probabilities.
  texel: parseVariant("x64x64-4x4"),
};

/** Format of the raw 16-bit values in a w16 tile: packed u32 pairs, or vec4<f16> with shader-f16. */
function rawKind(format: WeightFormat): "packed" | "native" | "f32" {
  return format === "f16native" ? "native" : format === "f32" ? "f32" : "packed";
}

/**
 * The WGSL of variant `v` for `kernel`: constants, workgroup tiles and the entry point, which computes the
 * thread's accumulators and hands them to the kernel (matmul: out4 per 4 outputs; unembed: fold4 per 4 outputs
 * of a row, then reduce_rows per row). Placed after the weights loader, lib/matmul_tile.wgsl and the kernel.
 */
export function tileSource(v: TileVariant, format: WeightFormat, kernel: TileKernel): string {
  const tx = v.bn / v.tn, ty = v.bm / v.tm, tg = v.tn / 4;
  const L: string[] = [];
  const consts: Record<string, number> = {
    BM: v.bm,
    BN: v.bn,
    BK: v.bk,
    TM: v.tm,
    TN: v.tn,
    TX: tx,
    TY: ty,
    THREADS: tx * ty,
    SWIZZLE: v.swizzle,
  };
  for (const [k, n] of Object.entries(consts)) L.push(`const ${k}: u32 = ${n}u;`);
  const tiled = v.family === "tiled";
  // Thread (tx, ty) = (li % TX, li / TX): row i of its TM, column group g of its TG.
  const rowOf = (i: number, lane = "ty") => tiled ? `${lane} * TM + ${i}u` : `${lane} + ${i}u * TY`;
  const colOf = (g: number) => tiled ? `${g}u * (BN / ${tg}u) + tx * 4u` : `tx * TN + ${4 * g}u`;
  const acc = (i: number, g: number) => `c${i}_${g}`;

  const body: string[] = [];
  const emit = (s: string, indent = 1) => body.push("  ".repeat(indent) + s);
  // Texel kernels leave out lib/matmul_tile.wgsl (its loads index storage buffers): the grid's own order.
  emit(v.family === "texel" ? "let origin = wg.xy;" : "let origin = tile_origin(wg, nwg);");
  emit("let row0 = origin.y * BM;");
  emit("let col0 = origin.x * BN;");
  emit("let tx = li % TX;");
  emit("let ty = li / TX;");
  emit("let k4 = p.k / 4u;");
  for (let i = 0; i < v.tm; i++) for (let g = 0; g < tg; g++) emit(`var ${acc(i, g)} = vec4<f32>(0.0);`);

  if (tiled) {
    const raw = v.w16 ? rawKind(format) : "f32";
    const wType = raw === "packed" ? "vec2<u32>" : raw === "native" ? "vec4<f16>" : "vec4<f32>";
    L.push(`var<workgroup> tile_x: array<vec4<f32>, ${v.stages * v.bk * v.bm / 4}>;  // [stage][k][m / 4]`);
    L.push(`var<workgroup> tile_w: array<${wType}, ${v.stages * v.bk * v.bn / 4}>;  // [stage][k][n / 4]`);
    tiledBody(v, raw, emit, acc);
  } else if (v.family === "texel") {
    texelBody(v, format, emit, acc);
  } else {
    directBody(v, emit, acc);
  }

  // Hand the accumulators to the kernel.
  if (kernel === "matmul") {
    for (let i = 0; i < v.tm; i++) {
      for (let g = 0; g < tg; g++) emit(`out4(row0 + ${rowOf(i)}, col0 + ${colOf(g)}, ${acc(i, g)});`);
    }
  } else {
    for (let i = 0; i < v.tm; i++) {
      emit("{");
      emit(`let row = row0 + ${rowOf(i)};`, 2);
      emit("let truth = truth_token(row);", 2);
      emit("var pt = EMPTY_PARTIAL;", 2);
      for (let g = 0; g < tg; g++) emit(`pt = fold4(pt, row, col0 + ${colOf(g)}, ${acc(i, g)}, truth);`, 2);
      emit(`reduce_rows(pt, li, row0 + ${rowOf(i, "li")}, origin.x, nwg.x);`, 2);
      emit("}");
    }
  }
  L.push(
    "@compute @workgroup_size(THREADS)",
    "fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,",
    "        @builtin(local_invocation_index) li: u32) {",
    ...body,
    "}",
  );
  return `// Tile variant ${
    variantName(v)
  } (generated by engine/tiles.ts for ${format} weights, ${kernel}).\n` +
    L.join("\n") + "\n";
}

function tiledBody(
  v: TileVariant,
  raw: "packed" | "native" | "f32",
  emit: (s: string, indent?: number) => void,
  acc: (i: number, g: number) => string,
): void {
  const tg = v.tn / 4, threads = (v.bn / v.tn) * (v.bm / v.tm);
  const qb = v.bk / 4; // vec4s of k per row per step
  // Staging units: 4 rows (or columns) × one vec4 of k, transposed into 4 k-rows of the tile.
  const units = (span: number) => {
    const total = (span / 4) * qb;
    return Array.from({ length: Math.ceil(total / threads) }, (_, u) => ({
      u,
      guard: (u + 1) * threads > total ? `li + ${u * threads}u < ${total}u` : null,
    }));
  };
  const xUnits = units(v.bm), wUnits = units(v.bn);
  const comps = ["x", "y", "z", "w"];
  // The 4 k-rows of a unit: columns (rows) a..d of one vec4 of k become one vec4 per k.
  const kRow = (names: string[], j: number, kind: "packed" | "native" | "f32") => {
    if (kind === "packed") {
      const half = (
        n: string,
      ) => (j % 2 === 0 ? `(${n}.${comps[j >> 1]} & 0xffffu)` : `(${n}.${comps[j >> 1]} >> 16u)`);
      return `vec2<u32>(${half(names[0])} | (${half(names[1])} << 16u), ${half(names[2])} | (${
        half(names[3])
      } << 16u))`;
    }
    const t = kind === "native" ? "vec4<f16>" : "vec4<f32>";
    return `${t}(${names.map((n) => `${n}.${comps[j]}`).join(", ")})`;
  };
  const loadW = raw === "f32" ? "w4" : "w4_raw";
  const regs = (p: string, u: number) => [0, 1, 2, 3].map((j) => `${p}${u}_${j}`);
  // Loads of step `step` into registers (declared by the caller), then stores into stage buffer `buf`.
  const load = (step: string, indent: number, declare: boolean) => {
    for (const [units, span, p, fn] of [[xUnits, "BM", "rx", "x4"], [wUnits, "BN", "rw", loadW]] as const) {
      for (const { u, guard } of units) {
        const at = `li + ${u * threads}u`;
        const lines = [0, 1, 2, 3].map((j) =>
          `${regs(p, u)[j]} = ${fn}(${span === "BM" ? "row0" : "col0"} + (${at}) / ${qb}u * 4u + ${j}u, ` +
          `${step} * ${qb}u + (${at}) % ${qb}u, ${span === "BM" ? "p.m" : "p.n"}, k4);`
        );
        if (declare) {
          const t = span === "BM" ? "vec4<f32>" : (raw === "f32" ? "vec4<f32>" : "Raw4");
          for (const r of regs(p, u)) emit(`var ${r}: ${t};`, indent);
        }
        if (guard) {
          emit(`if (${guard}) {`, indent);
          for (const l of lines) emit(l, indent + 1);
          emit("}", indent);
        } else {
          for (const l of lines) emit(l, indent);
        }
      }
    }
  };
  const store = (buf: string, indent: number) => {
    for (
      const [units, span, p, tile, kind] of [
        [xUnits, v.bm, "rx", "tile_x", "f32"],
        [wUnits, v.bn, "rw", "tile_w", raw],
      ] as const
    ) {
      for (const { u, guard } of units) {
        const at = `li + ${u * threads}u`;
        const base = `${buf} * ${v.bk * span / 4}u + (${at}) % ${qb}u * ${span}u + (${at}) / ${qb}u`;
        const lines = [0, 1, 2, 3].map((j) =>
          `${tile}[${base} + ${j * span / 4}u] = ${kRow(regs(p, u), j, kind)};`
        );
        if (guard) {
          emit(`if (${guard}) {`, indent);
          for (const l of lines) emit(l, indent + 1);
          emit("}", indent);
        } else {
          for (const l of lines) emit(l, indent);
        }
      }
    }
  };
  const widen = (e: string) => (raw === "f32" ? e : `widen4(${e})`);
  const compute = (buf: string, indent: number) => {
    emit("for (var kk = 0u; kk < BK; kk++) {", indent);
    emit(`let xa = ${buf} * ${v.bk * v.bm / 4}u + kk * (BM / 4u) + ty * (TM / 4u);`, indent + 1);
    emit(`let wa = ${buf} * ${v.bk * v.bn / 4}u + kk * (BN / 4u) + tx;`, indent + 1);
    for (let a = 0; a < v.tm / 4; a++) emit(`let a${a} = tile_x[xa + ${a}u];`, indent + 1);
    for (let g = 0; g < tg; g++) {
      emit(`let b${g} = ${widen(`tile_w[wa + ${g * v.bn / 4 / tg}u]`)};`, indent + 1);
    }
    for (let i = 0; i < v.tm; i++) {
      for (let g = 0; g < tg; g++) {
        emit(`${acc(i, g)} = fma(vec4<f32>(a${i >> 2}.${comps[i & 3]}), b${g}, ${acc(i, g)});`, indent + 1);
      }
    }
    emit("}", indent);
  };
  emit("let steps = (p.k + BK - 1u) / BK;");
  if (v.stages === 1) {
    emit("for (var s = 0u; s < steps; s++) {");
    load("s", 2, true);
    store("0u", 2);
    emit("workgroupBarrier();", 2);
    compute("0u", 2);
    emit("workgroupBarrier();", 2);
    emit("}");
  } else {
    // Step s multiplies buffer s % 2 while step s + 1's tiles travel into registers, then into the other
    // buffer, whose last readers (step s - 1) all passed the barrier that ended their step.
    load("0u", 1, true);
    store("0u", 1);
    emit("workgroupBarrier();");
    emit("for (var s = 0u; s < steps; s++) {");
    emit("let cur = s & 1u;", 2);
    emit("let more = s + 1u < steps;", 2);
    emit("if (more) {", 2);
    load("(s + 1u)", 3, false);
    emit("}", 2);
    compute("cur", 2);
    emit("if (more) {", 2);
    store("(1u - cur)", 3);
    emit("}", 2);
    emit("workgroupBarrier();", 2);
    emit("}");
  }
}

function directBody(
  v: TileVariant,
  emit: (s: string, indent?: number) => void,
  acc: (i: number, g: number) => string,
): void {
  const comps = ["x", "y", "z", "w"];
  // Rows and columns past the matrix read its last row (in bounds); their outputs are never stored.
  for (let c = 0; c < v.tn; c++) emit(`let wr${c} = min(col0 + tx * TN + ${c}u, p.n - 1u) * k4;`);
  for (let i = 0; i < v.tm; i++) emit(`let xr${i} = min(row0 + ty + ${i}u * TY, p.m - 1u) * k4;`);
  emit("for (var q = 0u; q < k4; q++) {");
  for (let c = 0; c < v.tn; c++) emit(`let w${c} = weight4(wr${c} + q);`, 2);
  for (let i = 0; i < v.tm; i++) {
    emit(`let a${i} = x[xr${i} + q];`, 2);
    for (let g = 0; g < v.tn / 4; g++) {
      for (const comp of comps) {
        const w = [0, 1, 2, 3].map((j) => `w${4 * g + j}.${comp}`).join(", ");
        emit(`${acc(i, g)} = fma(vec4<f32>(a${i}.${comp}), vec4<f32>(${w}), ${acc(i, g)});`, 2);
      }
    }
  }
  emit("}");
}

/**
 * Where a matrix's rows sit in a texture (see the top of this file): `fold` rows a texture row, `kt` texels each,
 * one starting every `pitch` texels.
 */
export interface TexelLayout {
  /** Matrix rows per texture row. */
  fold: number;
  /** Texels per matrix row. */
  kt: number;
  /** Texels from one matrix row's first texel to the next's in a texture row: kt, or kt and a spare cache line. */
  pitch: number;
  /** The texture's width in texels: fold × pitch, or one more. */
  width: number;
  /** Its height: the texture rows `rows` matrix rows take, or one more. */
  height: number;
}

/**
 * The texture layout of a [rows, cols] matrix stored as `format` (16 bytes a texel), within `maxDim` texels a
 * side, or null where it cannot be held so (a row not a whole number of texels, or too many rows): such a
 * matrix stays in a storage buffer and runs the direct family. As many rows share a texture row as fit (unless
 * `folded` is off: one a texture row), so a 50k-row unembedding fits; rows of a multiple of 512 bytes get a
 * spare cache line each unless `spareLines` is off (see below). Neither side is a power of two (a spare texel
 * or row where it would be): llvmpipe compiled a shader once per combination of its sampled textures'
 * power-of-two flags. The texel tiles read storage textures since; the rule stays, at the cost of a spare
 * texel or row at most.
 */
export function texelLayout(
  rows: number,
  cols: number,
  format: WeightFormat,
  maxDim: number,
  { spareLines = true, folded = true }: { spareLines?: boolean; folded?: boolean } = {},
): TexelLayout | null {
  if (format === "f16native" || cols % texelValues(format) !== 0) return null;
  const kt = cols / texelValues(format);
  // A tile reads 64 or more rows at the same k at once. Rows 512 bytes apart or a multiple of that map to an
  // eighth or less of the sets of a CPU's L1 cache (64-byte lines, 4 KiB a way): they evict each other, and every
  // fetch goes to L2. A spare 64-byte line after each such row (unless `spareLines` is off) spreads them over the
  // sets (K = 2048: 5-10% faster on lavapipe, bench/NOTES.md).
  const pitch = spareLines && kt % 32 === 0 ? kt + 4 : kt;
  if (kt === 0 || pitch >= maxDim) return null;
  // Unfolded (one matrix row a texture row), a buffer's rows can be copied in with one command.
  let fold = folded ? Math.floor(maxDim / pitch) : 1;
  if (isPow2(fold * pitch) && fold > 1) fold--;
  const width = fold * pitch + (isPow2(fold * pitch) ? 1 : 0);
  const used = Math.max(1, Math.ceil(rows / fold));
  const height = used + (isPow2(used) ? 1 : 0);
  return height > maxDim ? null : { fold, kt, pitch, width, height };
}

const isPow2 = (n: number): boolean => (n & (n - 1)) === 0;

/**
 * Texel values of k per weight texel for `format`: 8 for 16-bit formats (a texel is 4 u32 of packed pairs), 4 for
 * f32 (4 f32 bit patterns). f16native is a GPU format and is never held as texels.
 */
export function texelValues(format: WeightFormat): 4 | 8 {
  return format === "f32" ? 4 : 8;
}

function texelBody(
  v: TileVariant,
  format: WeightFormat,
  emit: (s: string, indent?: number) => void,
  acc: (i: number, g: number) => string,
): void {
  const comps = ["x", "y", "z", "w"];
  const wide = texelValues(format) === 8;
  // Rows and columns past the matrix read its last row (in bounds); their outputs are never stored. Each row's
  // first texel, in the folded layout (see the top of this file).
  for (let c = 0; c < v.tn; c++) {
    emit(`let wr${c} = min(col0 + tx * TN + ${c}u, p.n - 1u);`);
    emit(`let wc${c} = vec2<i32>(i32(wr${c} % p.w_fold * p.w_pitch), i32(wr${c} / p.w_fold));`);
  }
  for (let i = 0; i < v.tm; i++) {
    emit(`let xr${i} = min(row0 + ty + ${i}u * TY, p.m - 1u);`);
    emit(`let xc${i} = vec2<i32>(i32(xr${i} % p.x_fold * p.x_pitch), i32(xr${i} / p.x_fold));`);
  }
  // One weight texel per column per step: 8 values of k (two X texels) or 4 (one).
  emit("for (var q = 0; q < i32(p.w_kt); q++) {");
  for (let c = 0; c < v.tn; c++) {
    emit(`let r${c} = textureLoad(weights, wc${c} + vec2<i32>(q, 0));`, 2);
    if (wide) emit(`let w${c} = widen4(r${c}.xy); let u${c} = widen4(r${c}.zw);`, 2);
    else emit(`let w${c} = widen4(bitcast<vec4<f32>>(r${c}));`, 2);
  }
  for (let i = 0; i < v.tm; i++) {
    if (wide) {
      emit(`let a${i} = textureLoad(x, xc${i} + vec2<i32>(2 * q, 0));`, 2);
      emit(`let b${i} = textureLoad(x, xc${i} + vec2<i32>(2 * q + 1, 0));`, 2);
    } else {
      emit(`let a${i} = textureLoad(x, xc${i} + vec2<i32>(q, 0));`, 2);
    }
    // Each accumulator's fmas in increasing k: the first texel's 4 values of k, then the second's.
    for (let g = 0; g < v.tn / 4; g++) {
      for (const [a, w] of wide ? [["a", "w"], ["b", "u"]] : [["a", "w"]]) {
        for (const comp of comps) {
          const ws = [0, 1, 2, 3].map((j) => `${w}${4 * g + j}.${comp}`).join(", ");
          emit(`${acc(i, g)} = fma(vec4<f32>(${a}${i}.${comp}), vec4<f32>(${ws}), ${acc(i, g)});`, 2);
        }
      }
    }
  }
  emit("}");
}
