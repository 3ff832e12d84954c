// Every matmul tile variant (engine/tiles.ts), forced one at a time on this adapter, against sums computed here
// with plain loops and an exactly rounded f32 fma: bit for bit, for every weight format (f32, f16 packed, f16
// through shader-f16, bf16). Then the fused unembedding argmax (ties to the lowest index, a suppressed token)
// for every thread layout, and the workgroup orders (swizzle) over more row-tiles than one group holds.
// Shapes leave partial tiles in M, N and K.
import { Gpu } from "../engine/gpu.ts";
import {
  allRows,
  argmaxReduceKernel,
  type Epilogue,
  KernelCache,
  layerNormKernel,
  matmulKernel,
  singleTarget,
  unembedArgmaxKernel,
  uploadTexels,
  type WeightMatrix,
} from "../engine/kernels.ts";
import {
  allVariants,
  fits,
  MIN_BN,
  PARTIAL_BYTES,
  REFERENCE,
  texelLayout,
  type TileKernel,
  type TileVariant,
  variantName,
  type WeightFormat,
} from "../engine/tiles.ts";
import { type Kernel, Recorder } from "../engine/gpu.ts";
import { TEXEL_LARGE, Tuning } from "../engine/tuning.ts";
import { assert, assertEquals } from "./assert.ts";
import { EngramError } from "../base/errors.ts";

const M = 136, N = 140, K = 72;
/** Rows for the swizzle check: 10 row-tiles of 64, more than a group of 8. */
const M_SWIZZLE = 600;
// Weight rows TIE_A and TIE_B (other vocabulary tiles for BN 64 and 128) copy row BEST, whose weights are all
// 1: even rows of X (all ≥ 0) give the three the same, largest logit; with BEST suppressed, the tie goes to
// TIE_A. Odd rows of X are signed.
const BEST = 5, TIE_A = 70, TIE_B = 130;

/** a * b + c rounded once to f32 (a, b, c f32): what WGSL's fma computes on an adapter that fuses it. */
function fmaF32(a: number, b: number, c: number): number {
  const p = a * b; // exact: 24 + 24 significant bits
  const s = p + c;
  const bv = s - p;
  const err = (p - (s - bv)) + (c - bv); // s + err = p + c exactly (TwoSum)
  const r = Math.fround(s);
  if (err === 0 || r === s) return r;
  // Only an s exactly halfway between two f32s can round the wrong way: the exact value lies on err's side.
  const other = nextF32(r, s > r ? 1 : -1);
  if ((r + other) / 2 !== s) return r;
  return err > 0 ? Math.max(r, other) : Math.min(r, other);
}

function nextF32(x: number, dir: 1 | -1): number {
  const f = new Float32Array([x]);
  const i = new Int32Array(f.buffer);
  if (x === 0) i[0] = dir > 0 ? 1 : 0x80000001;
  else i[0] += (x > 0) === (dir > 0) ? 1 : -1;
  return f[0];
}

function f32ToF16Bits(v: number): number {
  // The test's weights are multiples of 2^-10 in [-1, 1]: normal f16 values, so truncation is exact.
  const f = new Float32Array([v]);
  const b = new Uint32Array(f.buffer)[0];
  const sign = (b >>> 16) & 0x8000;
  if (v === 0) return sign;
  const exp = ((b >>> 23) & 0xff) - 127 + 15;
  return sign | (exp << 10) | ((b >>> 13) & 0x3ff);
}

/** Deterministic values k / 1024, |k| ≤ range (range 255: exact in f16 and bf16). */
function values(n: number, seed: number, { nonNegative = false, range = 1024 } = {}): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const k = (s >>> 8) % (2 * range + 1) - range;
    return (nonNegative ? Math.abs(k) : k) / 1024;
  });
}

const w = values(N * K, 1, { range: 255 });
for (let k = 0; k < K; k++) for (const r of [BEST, TIE_A, TIE_B]) w[r * K + k] = 1;
const x = new Float32Array(M_SWIZZLE * K);
const nonNegative = values(M_SWIZZLE * K, 2, { nonNegative: true }), signed = values(M_SWIZZLE * K, 3);
for (let m = 0; m < M_SWIZZLE; m++) {
  x.set((m % 2 ? signed : nonNegative).subarray(m * K, m * K + K), m * K);
}
const bias = values(N, 4);

/** Logits X · Wᵀ with one fma per k in increasing k; Y = logits + bias, each step rounded to f32. */
const logits = new Float32Array(M_SWIZZLE * N);
const expected = new Float32Array(M_SWIZZLE * N);
for (let m = 0; m < M_SWIZZLE; m++) {
  for (let n = 0; n < N; n++) {
    let acc = 0;
    for (let k = 0; k < K; k++) acc = fmaF32(x[m * K + k], w[n * K + k], acc);
    logits[m * N + n] = acc;
    expected[m * N + n] = Math.fround(acc + bias[n]);
  }
}
/** Argmax of each row with BEST excluded, ties to the lowest index. */
const expectedArgmax = Int32Array.from({ length: M }, (_, m) => {
  let best = -Infinity, idx = -1;
  for (let n = 0; n < N; n++) {
    if (n !== BEST && logits[m * N + n] > best) [best, idx] = [logits[m * N + n], n];
  }
  return idx;
});
assert(expectedArgmax.every((i, m) => m % 2 || i === TIE_A), "the tied rows win on X ≥ 0");

function weightBytes(format: WeightFormat): Uint8Array {
  if (format === "f32") return new Uint8Array(w.buffer.slice(0));
  const half = Uint16Array.from(
    w,
    (v) => format === "bf16" ? new Uint32Array(new Float32Array([v]).buffer)[0] >>> 16 : f32ToF16Bits(v),
  );
  return new Uint8Array(half.buffer);
}

const gpu = await Gpu.open({ kernels: "gpu" });

function run(kernels: Kernel[]) {
  const enc = gpu.device.createCommandEncoder();
  const rec = new Recorder(enc);
  for (const kernel of kernels) rec.kernel(kernel);
  rec.end();
  gpu.device.queue.submit([enc.finish()]);
}

/** Runs `fn` with the test's matrices on the GPU (rows of X: `rows`). */
async function withBuffers<T>(
  format: WeightFormat,
  rows: number,
  fn: (
    c: KernelCache,
    b: { w: WeightMatrix; wt: WeightMatrix | null; x: GPUBuffer; bias: GPUBuffer; y: GPUBuffer },
  ) => Promise<T>,
): Promise<T> {
  const c = new KernelCache(gpu, Tuning.defaults()); // every matmul here names its variant
  // Texel layouts at most 64 texels wide, so that matrix rows fold several to a texture row, as they do
  // on an adapter only past 16384 texels.
  c.texelDim = 64;
  const wb = gpu.upload(weightBytes(format), "w");
  const layout = texelLayout(N, K, format, 64);
  const texels = layout ? uploadTexels(gpu, weightBytes(format), layout, "w texels") : null;
  const b = {
    w: { buffer: wb, texels: null, format, rows: N, cols: K },
    wt: texels ? { buffer: null, texels, format, rows: N, cols: K } : null,
    x: gpu.upload(x.subarray(0, rows * K), "x"),
    bias: gpu.upload(bias, "bias"),
    y: gpu.storage(rows * N * 4, "y"),
  };
  try {
    return await fn(c, b);
  } finally {
    for (const buf of [wb, b.x, b.bias, b.y]) buf.destroy();
    texels?.texture.destroy();
    c.destroy();
  }
}

/** The test's weights as `variant` reads them: held as texels for the texel family, else in a buffer. */
const held = (b: { w: WeightMatrix; wt: WeightMatrix | null }, variant: TileVariant): WeightMatrix =>
  variant.family === "texel" ? b.wt! : b.w;

/** Y = X · Wᵀ + bias by `variant` over `rows` rows: null if bit for bit as expected, else the first difference. */
function checkMatmul(format: WeightFormat, variant: TileVariant, rows: number): Promise<string | null> {
  return withBuffers(format, rows, async (c, b) => {
    run([matmulKernel(c, rows, held(b, variant), { x: b.x, bias: b.bias, y: b.y }, "store", variant)]);
    const got = new Float32Array(await gpu.read(b.y, rows * N * 4));
    gpu.check();
    const i = got.findIndex((v, i) => !Object.is(v, expected[i]));
    return i < 0 ? null : `y[${Math.floor(i / N)}, ${i % N}] = ${got[i]}, expected ${expected[i]}`;
  });
}

/** The fused unembedding argmax (BEST suppressed) by `variant`: null, or the first row that differs. */
function checkArgmax(format: WeightFormat, variant: TileVariant): Promise<string | null> {
  return withBuffers(format, M, async (c, b) => {
    const tokens = gpu.storage(16, "tokens");
    const slotOf = gpu.upload(Uint32Array.from({ length: M + 1 }, (_, i) => i), "slot_of");
    const partials = gpu.storage(M * Math.ceil(N / MIN_BN) * PARTIAL_BYTES, "partials");
    const pred = gpu.storage((M + 1) * 4, "pred"), logprob = gpu.storage((M + 1) * 4, "logprob");
    const target = singleTarget(M, BEST);
    const u = unembedArgmaxKernel(c, target, held(b, variant), { x: b.x, tokens, slotOf, partials }, variant);
    run([u, argmaxReduceKernel(c, target, u.tiles, { partials, slotOf, tokens, pred, logprob })]);
    const idx = new Uint32Array(await gpu.read(pred, M * 4));
    gpu.check();
    for (const buf of [tokens, slotOf, partials, pred, logprob]) buf.destroy();
    const m = idx.findIndex((v, m) => v !== expectedArgmax[m]);
    return m < 0 ? null : `argmax of row ${m} = ${idx[m]}, expected ${expectedArgmax[m]}`;
  });
}

/** Runs `check` on each variant; asserts that none differed. */
async function checkAll(variants: TileVariant[], check: (v: TileVariant) => Promise<string | null>) {
  assert(variants.length > 0, "no variant fits this adapter");
  const failed: string[] = [];
  for (const v of variants) {
    const t = performance.now();
    const why = await check(v);
    if (Deno.env.get("ENGRAM_VERBOSE")) console.log(variantName(v), (performance.now() - t).toFixed(0), "ms");
    if (why) failed.push(`${variantName(v)}: ${why}`);
  }
  assertEquals(failed, [], `${failed.length} of ${variants.length} variants differ`);
}

const usable = (format: WeightFormat, kernel: TileKernel = "unembed") => (v: TileVariant) =>
  fits(v, format, kernel, gpu.tileLimits);

for (const family of ["tiled", "direct", "texel"] as const) {
  for (const format of ["f32", "f16", "f16native", "bf16"] as WeightFormat[]) {
    // f16native is a GPU format: never held as texels.
    if (family === "texel" && format === "f16native") continue;
    Deno.test(`every ${family} variant gives the exact sums on ${format} weights`, async () => {
      assert(format !== "f16native" || gpu.hasF16, "this adapter lacks shader-f16");
      // Swizzle only reorders workgroups: it has a test of its own.
      const variants = allVariants(family, format).filter((v) =>
        v.swizzle === 0 && usable(format, "matmul")(v)
      );
      await checkAll(variants, (v) => checkMatmul(format, v, M));
    });
  }
  Deno.test(`every ${family} thread layout gives the exact argmax, ties to the lowest index`, async () => {
    // The row reduction depends on the thread layout only (tile and outputs per thread), not on the weights.
    const layouts = new Map<string, TileVariant>();
    for (const v of allVariants(family, "f16").filter(usable("f16"))) {
      const layout = `${v.bm}x${v.bn}-${v.tm}x${v.tn}`;
      if (!layouts.has(layout)) layouts.set(layout, v);
    }
    await checkAll([...layouts.values()], (v) => checkArgmax("f16", v));
  });
}

Deno.test("every swizzled workgroup order covers each output tile once", async () => {
  const variants = allVariants("tiled", "f32").filter((v) => v.swizzle > 0 && usable("f32")(v));
  await checkAll(variants, (v) => checkMatmul("f32", v, M_SWIZZLE));
});

Deno.test("texel tiles: X copied in (rows of whole 256-byte steps) or written by the staging kernel, the same sums as the direct tiles", async () => {
  // K = 256: a row of X is 1 KiB (a copy's 256-byte rule holds) and W's rows (f16) have a spare cache line after
  // each. 300 rows fit a 1024-texel texture one a row (copied); not a 200-texel one (two a row, the staging
  // kernel).
  const k = 256, rows = 300;
  const wk = values(N * k, 11, { range: 255 }), xk = values(rows * k, 12);
  const half = Uint16Array.from(wk, f32ToF16Bits);
  const bytes = new Uint8Array(half.buffer);
  const xb = gpu.upload(xk, "x"), y = gpu.storage(rows * N * 4, "y");
  const layout = texelLayout(N, k, "f16", 1024)!;
  assertEquals([layout.kt, layout.pitch], [32, 36]);
  const w: WeightMatrix = { buffer: gpu.upload(bytes, "w"), texels: null, format: "f16", rows: N, cols: k };
  const wt: WeightMatrix = { ...w, buffer: null, texels: uploadTexels(gpu, bytes, layout, "w texels") };
  const outputs: Float32Array[] = [];
  try {
    for (
      const [variant, dim, fill] of [
        [REFERENCE.direct, 1024, "none"],
        [REFERENCE.texel, 1024, "copy"],
        [REFERENCE.texel, 200, "before"],
        [TEXEL_LARGE, 1024, "copy"],
        [TEXEL_LARGE, 200, "before"],
      ] as const
    ) {
      const c = new KernelCache(gpu, Tuning.defaults());
      c.texelDim = dim;
      const kernel = matmulKernel(
        c,
        rows,
        variant.family === "texel" ? wt : w,
        { x: xb, y },
        "store",
        variant,
      );
      assertEquals(
        kernel.copy ? "copy" : kernel.before ? "before" : "none",
        fill,
        `${variantName(variant)}@${dim}`,
      );
      run([kernel]);
      outputs.push(new Float32Array(await gpu.read(y, rows * N * 4)));
      gpu.check();
      c.destroy();
    }
    for (let i = 1; i < outputs.length; i++) {
      assertEquals(outputs[i], outputs[0], `case ${i} against the direct tile`);
    }
  } finally {
    for (const b of [xb, y, w.buffer!]) b.destroy();
    wt.texels!.texture.destroy();
  }
});

Deno.test("GELU and residual epilogues: every family's reference and largest tile agree bit for bit", async () => {
  await withBuffers("f16", M, async (c, b) => {
    const start = values(M * N, 5);
    const outputs = new Map<string, Float32Array>();
    // The texel tiles hand their outputs to the same out4 as the direct ones: their reference stands for them.
    const variants = [
      REFERENCE.tiled,
      REFERENCE.direct,
      REFERENCE.texel,
      ...allVariants("tiled", "f16").slice(-1),
    ];
    for (const v of variants) {
      for (const epilogue of ["gelu", "accumulate"] as Epilogue[]) {
        gpu.write(b.y, 0, start);
        run([matmulKernel(c, M, held(b, v), { x: b.x, bias: b.bias, y: b.y }, epilogue, v)]);
        const got = new Float32Array(await gpu.read(b.y, M * N * 4));
        const first = outputs.get(epilogue);
        if (!first) outputs.set(epilogue, got);
        else assertEquals(got, first, `${variantName(v)} ${epilogue}`);
        if (epilogue === "accumulate") {
          for (let i = 0; i < M * N; i++) assertEquals(got[i], Math.fround(start[i] + expected[i]));
        }
      }
    }
  });
});

Deno.test("the paired LayerNorm (parallel residual's ln1 and ln2) writes exactly what two single ones do", async () => {
  const rows = 37, h = 96;
  const input = values(rows * h, 6);
  const weights = [7, 8, 9, 10].map((seed) => values(h, seed));
  for (const kernels of ["cpu", "gpu"] as const) {
    const g = await Gpu.open({ kernels });
    const c = new KernelCache(g, Tuning.defaults());
    const xb = g.upload(input, "x");
    const [g1, b1, g2, b2] = weights.map((w) => g.upload(w, "norm"));
    const ys = [0, 1, 2, 3].map(() => g.storage(rows * h * 4, "y"));
    const sel = { rows, per: 1, stride: 1, offset: 0 };
    const enc = g.device.createCommandEncoder();
    const rec = new Recorder(enc);
    rec.kernel(layerNormKernel(c, sel, h, 1e-5, { x: xb, gamma: g1, beta: b1, y: ys[0] }));
    rec.kernel(layerNormKernel(c, sel, h, 1e-5, { x: xb, gamma: g2, beta: b2, y: ys[1] }));
    rec.kernel(
      layerNormKernel(c, sel, h, 1e-5, {
        x: xb,
        gamma: g1,
        beta: b1,
        y: ys[2],
        gamma2: g2,
        beta2: b2,
        y2: ys[3],
      }),
    );
    rec.end();
    g.device.queue.submit([enc.finish()]);
    const [single1, single2, pair1, pair2] = await Promise.all(
      ys.map(async (y) => new Float32Array(await g.read(y, rows * h * 4))),
    );
    assertEquals(pair1, single1, `${kernels}: ln1`);
    assertEquals(pair2, single2, `${kernels}: ln2`);
    assert(single1.some((v, i) => v !== single2[i]), "the two norms differ");
    c.destroy();
    g.destroy();
  }
});

/** The EngramError `fn` throws (asserting it throws one). */
function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert(e instanceof EngramError, `not an EngramError: ${e}`);
    return e.message;
  }
  throw new Error("nothing was thrown");
}

Deno.test("operands bind by name: a missing, unknown, short, swapped or aliased buffer is refused before dispatch", async () => {
  await withBuffers("f32", M, (c, b) => {
    const ok = { x: b.x, bias: b.bias, y: b.y };
    const matmul = (bufs: Record<string, GPUBuffer | null>) =>
      thrown(() => matmulKernel(c, M, b.w, bufs as typeof ok, "store", REFERENCE.tiled));
    // A misspelled name is both missing and unknown: the missing one is named first, with the declared list.
    assertEquals(
      matmul({ x: b.x, bias: b.bias, Y: b.y }),
      "internal: kernel matmul was given no buffer for its operand y (its operands: weights, x, bias, y)",
    );
    assertEquals(
      matmul({ ...ok, out: b.y }),
      "internal: kernel matmul has no operand out (its operands: weights, x, bias, y)",
    );
    // x and y swapped: y must hold M × N floats, x only holds M × K.
    assertEquals(
      matmul({ x: b.y, bias: b.bias, y: b.x }),
      `internal: kernel matmul's operand y needs ${M * N * 4} bytes, but its buffer "x" holds ${M * K * 4}`,
    );
    const short = gpu.storage(N * 4 - 16, "short bias");
    assertEquals(
      matmul({ ...ok, bias: short }),
      `internal: kernel matmul's operand bias needs ${N * 4} bytes, but its buffer "short bias" holds ${
        N * 4 - 16
      }`,
    );
    short.destroy();
    // A buffer written while also read in the same dispatch (WebGPU would only say so later).
    const square = { ...b.w, rows: K };
    assertEquals(
      thrown(() => matmulKernel(c, M, square, { x: b.x, y: b.x }, "store", REFERENCE.tiled)),
      `internal: kernel matmul writes its operand y, whose buffer "x" is also bound as x`,
    );
    // The second norm is all or nothing.
    assertEquals(
      thrown(() =>
        layerNormKernel(c, allRows(M), K, 1e-5, { x: b.x, gamma: b.bias, beta: b.bias, y: b.y, y2: b.y })
      ),
      "internal: kernel layernorm's second norm needs all of gamma2, beta2 and y2",
    );
    // Nothing was cached by the refused calls: the right buffers still build, and a bias may be left out.
    matmulKernel(c, M, b.w, ok, "store", REFERENCE.tiled);
    matmulKernel(c, M, b.w, { x: b.x, y: b.y }, "store", REFERENCE.tiled);
    return Promise.resolve();
  });
});

Deno.test("the unembedding's operands are sized by its target: slots, tiles and what LOGPROB reads", async () => {
  await withBuffers("f32", M, (c, b) => {
    const tokens = gpu.storage(16, "tokens");
    const slotOf = gpu.upload(Uint32Array.from({ length: M }, (_, i) => i), "slot_of");
    const partials = gpu.storage(M * Math.ceil(N / 64) * PARTIAL_BYTES, "partials");
    const pred = gpu.storage(M * 4, "pred"), logprob = gpu.storage(16, "logprob");
    try {
      const target = singleTarget(M);
      // Without LOGPROB, tokens and logprob are not read: 16 bytes do.
      const u = unembedArgmaxKernel(c, target, b.w, { x: b.x, tokens, slotOf, partials }, REFERENCE.tiled);
      argmaxReduceKernel(c, target, u.tiles, { partials, slotOf, tokens, pred, logprob });
      // With it, the true tokens of every slot are.
      assertEquals(
        thrown(() =>
          unembedArgmaxKernel(c, { ...target, logprob: true }, b.w, { x: b.x, tokens, slotOf, partials })
        ),
        `internal: kernel unembed_argmax's operand tokens needs ${
          M * 4
        } bytes, but its buffer "tokens" holds 16`,
      );
      // Greedy decoding feeds each argmax back into tokens.
      assertEquals(
        thrown(() =>
          argmaxReduceKernel(c, { ...target, feed: true }, u.tiles, {
            partials,
            slotOf,
            tokens,
            pred,
            logprob,
          })
        ),
        `internal: kernel argmax_reduce's operand tokens needs ${
          M * 4
        } bytes, but its buffer "tokens" holds 16`,
      );
      // One slot more than pred holds.
      assertEquals(
        thrown(() =>
          argmaxReduceKernel(c, { ...target, slots: M + 1 }, u.tiles, {
            partials,
            slotOf,
            tokens,
            pred,
            logprob,
          })
        ),
        `internal: kernel argmax_reduce's operand pred needs ${
          (M + 1) * 4
        } bytes, but its buffer "pred" holds ${M * 4}`,
      );
    } finally {
      for (const buf of [tokens, slotOf, partials, pred, logprob]) buf.destroy();
    }
    return Promise.resolve();
  });
});
