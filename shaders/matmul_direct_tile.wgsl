// Shared piece of the matmul kernels for CPU adapters (lavapipe and the like), a drop-in for the GPU tiles
// (same tile_row / tile_col / tile_product contract, TN = 4): no workgroup memory and no barriers (a CPU's
// caches already do what tiling does on a GPU, and barriers are costly there). Each thread reads X and W
// straight from memory. Same f32 accumulation as the GPU tiles (matmul_tile_4x4/8x8.wgsl): increasing k, one fma per k.
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;

const TG: u32 = 1u;
const TX: u32 = BN / 4u;
const TY: u32 = BM / TM;
const THREADS: u32 = TX * TY;

fn tile_row(ty: u32, i: u32) -> u32 {
  return ty + i * TY;
}

fn tile_col(tx: u32, g: u32) -> u32 {
  return tx * 4u;
}

fn tile_product(row0: u32, col0: u32, li: u32, m: u32, n: u32, k: u32) -> array<vec4<f32>, TM> {
  let tx = li % TX;
  let ty = li / TX;
  let k4 = k / 4u;
  var acc: array<vec4<f32>, TM>;
  var wrow: array<u32, 4>;
  for (var j = 0u; j < 4u; j++) { wrow[j] = min(col0 + tile_col(tx, 0u) + j, n - 1u) * k4; }
  var xrow: array<u32, TM>;
  for (var i = 0u; i < TM; i++) { xrow[i] = min(row0 + tile_row(ty, i), m - 1u) * k4; }
  for (var q = 0u; q < k4; q++) {
    let w0 = weight4(wrow[0] + q);
    let w1 = weight4(wrow[1] + q);
    let w2 = weight4(wrow[2] + q);
    let w3 = weight4(wrow[3] + q);
    for (var i = 0u; i < TM; i++) {
      let a = x[xrow[i] + q];
      acc[i] = fma(vec4<f32>(a.x), vec4<f32>(w0.x, w1.x, w2.x, w3.x), acc[i]);
      acc[i] = fma(vec4<f32>(a.y), vec4<f32>(w0.y, w1.y, w2.y, w3.y), acc[i]);
      acc[i] = fma(vec4<f32>(a.z), vec4<f32>(w0.z, w1.z, w2.z, w3.z), acc[i]);
      acc[i] = fma(vec4<f32>(a.w), vec4<f32>(w0.w, w1.w, w2.w, w3.w), acc[i]);
    }
  }
  return acc;
}
