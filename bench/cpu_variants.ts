// Interleaved A/B of matmul tile variants on this adapter at a few shapes (rounds × variants, medians): for
// comparing CPU-adapter variants under a noisy shared machine, where one `tune` pass per variant is not enough.
//   deno run -A bench/cpu_variants.ts --variants d64x64-8x8,d64x64-64x4-u16 [--rounds 3] [--shapes 70m|pico]
//     [--format f16native] [--ms 60] [--only qkv,unembed]
// Variants of the tiled (GPU) family run with the GPU kernels; list one family per run.
import { parseArgs } from "node:util";
import { Gpu } from "../engine/gpu.ts";
import { parseVariant, variantName } from "../engine/tiles.ts";
import { type MatmulShape, tuneShapes } from "../engine/tuner.ts";
import type { WeightFormat } from "../engine/tiles.ts";

const a = parseArgs({
  args: Deno.args,
  options: Object.fromEntries(
    ["variants", "rounds", "shapes", "format", "ms", "only", "kernel-family"].map((
      k,
    ) => [k, { type: "string" as const }]),
  ),
}).values;
const variants = (a.variants ?? "d64x64-8x8").split(",").map(parseVariant);
const rounds = Number(a.rounds ?? 3);
const format = (a.format ?? "f16native") as WeightFormat;
// [hidden, vocab]: pythia-70m and pico-3; decode at batch 256, prefill at 8192 rows.
const [h, vocab] = a.shapes === "pico" ? [128, 2048] : [512, 50304];
const all: MatmulShape[] = [
  { name: "prefill mlp up", kernel: "matmul", format, m: 8192, n: 4 * h, k: h },
  { name: "decode qkv", kernel: "matmul", format, m: 256, n: 3 * h, k: h },
  { name: "decode mlp down", kernel: "matmul", format, m: 256, n: h, k: 4 * h },
  { name: "decode unembed+argmax", kernel: "unembed", format, m: 256, n: vocab, k: h },
];
const shapes = a.only ? all.filter((s) => a.only!.split(",").some((o) => s.name.includes(o))) : all;
const family = a["kernel-family"] as "cpu" | "gpu" | undefined;
const gpu = await Gpu.open({ kernels: family ?? (variants[0].family === "tiled" ? "gpu" : "cpu") });
const rates = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  // Each round times every variant at every shape, in a rotated order (no variant always first).
  const order = variants.map((_, i) => variants[(i + r) % variants.length]);
  for (const v of order) {
    const res = await tuneShapes(gpu, shapes, { variants: [v], target: Number(a.ms ?? 60) / 1e3 });
    for (const s of res) {
      // tuneShapes also times the untuned default; keep only the variant asked for.
      const t = s.timings.find((t) => t.variant === variantName(v));
      const key = `${s.shape.name}\t${t!.variant}`;
      rates.set(key, [...(rates.get(key) ?? []), t!.gflops]);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
for (const [k, xs] of rates) {
  console.log(`${k}\tmedian ${median(xs).toFixed(1)} GFLOP/s\t(${xs.map((x) => x.toFixed(1)).join(" / ")})`);
}
