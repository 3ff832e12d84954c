// The load-time check for non-finite weights (engine/tensors.ts firstNonFinite) against what loading
// costs anyway: reading the bytes from a file and, for F16/BF16 vectors, widening them. Run:
//   deno run -A bench/nonfinite_bench.ts [MiB]
// Each line: dtype, GB/s of the check, of reading a file of that size (page cache warm: the best case for the
// read, so the check's share is an upper bound), and of toFloat32.
import { firstNonFinite, toFloat32 } from "../engine/tensors.ts";

const mib = Number(Deno.args[0] ?? 256), bytes = new Uint8Array(mib * 2 ** 20);
for (let i = 0; i < bytes.length; i += 2) bytes[i] = i & 0xff, bytes[i + 1] = (i >> 8) & 0x3f; // finite
const file = await Deno.makeTempFile({ suffix: ".bin" });
await Deno.writeFile(file, bytes);
const rate = (f: () => unknown, runs = 5) => {
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return (bytes.length / 1e9 / (best / 1000)).toFixed(2);
};
let readBest = Infinity;
for (let r = 0; r < 3; r++) {
  const t0 = performance.now();
  await Deno.readFile(file);
  readBest = Math.min(readBest, performance.now() - t0);
}
const read = (bytes.length / 1e9 / (readBest / 1000)).toFixed(2);
for (const dtype of ["F32", "F16", "BF16"] as const) {
  console.log(
    `${dtype}: check ${rate(() => firstNonFinite(bytes, dtype))} GB/s, read ${read} GB/s, toFloat32 ${
      rate(() => toFloat32(bytes, dtype), 2)
    } GB/s (${mib} MiB)`,
  );
}
await Deno.remove(file);
