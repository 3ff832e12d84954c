// Shared piece of the matmul kernels for GPUs (prepended to matmul.wgsl and unembed_argmax.wgsl, after a
// weights_*.wgsl loader): one workgroup computes the BM x BN tile at (row0, col0) of X[M, K] . W[N, K]^T, where
// W is row-major [out, in] as PyTorch stores it. Binding 2 is X [M, K] f32 (K % 4 == 0).
// Constants BM, BN, BK, TM, TN (TN % 4 == 0) come from the pipeline builder. Thread (tx, ty) owns TM rows
// (tile_row) x TN columns in TN/4 groups of 4 (tile_col); its outputs are acc[i * TG + g], a vec4 of columns.
// Every output is the f32 sum of x*w over increasing k, one fma per k, in every tile shape and in
// matmul_direct_tile.wgsl: results do not depend on which shape ran.
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;

const TG: u32 = TN / 4u;
const TX: u32 = BN / TN;
const TY: u32 = BM / TM;
const THREADS: u32 = TX * TY;

var<workgroup> tile_x: array<vec4<f32>, BK * BM / 4u>;   // [k][m / 4]
var<workgroup> tile_w: array<vec4<f32>, BK * BN / 4u>;   // [k][n / 4]

/** Local row of the thread's i-th row: TM consecutive rows, read from tile_x as vec4s. */
fn tile_row(ty: u32, i: u32) -> u32 {
  return ty * TM + i;
}

/** Local column of the first of the thread's g-th group of 4: groups BN/TG apart, so a warp reads tile_w
 *  contiguously. */
fn tile_col(tx: u32, g: u32) -> u32 {
  return g * (BN / TG) + tx * 4u;
}

fn tile_product(row0: u32, col0: u32, li: u32, m: u32, n: u32, k: u32) -> array<vec4<f32>, TM * TG> {
  let tx = li % TX;
  let ty = li / TX;
  let k4 = k / 4u;
  var acc: array<vec4<f32>, TM * TG>;
  for (var k0 = 0u; k0 < k; k0 += BK) {
    for (var l = li; l < BM * BK / 4u; l += THREADS) {
      let r = l / (BK / 4u);
      let q = l % (BK / 4u);
      var v = vec4<f32>(0.0);
      if (row0 + r < m && k0 + q * 4u < k) { v = x[(row0 + r) * k4 + k0 / 4u + q]; }
      for (var e = 0u; e < 4u; e++) { tile_x[(q * 4u + e) * (BM / 4u) + r / 4u][r % 4u] = v[e]; }
    }
    for (var l = li; l < BN * BK / 4u; l += THREADS) {
      let c = l / (BK / 4u);
      let q = l % (BK / 4u);
      var v = vec4<f32>(0.0);
      if (col0 + c < n && k0 + q * 4u < k) { v = weight4((col0 + c) * k4 + k0 / 4u + q); }
      for (var e = 0u; e < 4u; e++) { tile_w[(q * 4u + e) * (BN / 4u) + c / 4u][c % 4u] = v[e]; }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var b: array<vec4<f32>, TG>;
      for (var g = 0u; g < TG; g++) { b[g] = tile_w[kk * (BN / 4u) + tile_col(tx, g) / 4u]; }
      for (var i4 = 0u; i4 < TM / 4u; i4++) {
        let a = tile_x[kk * (BM / 4u) + (ty * TM) / 4u + i4];
        for (var e = 0u; e < 4u; e++) {
          for (var g = 0u; g < TG; g++) {
            acc[(i4 * 4u + e) * TG + g] = fma(vec4<f32>(a[e]), b[g], acc[(i4 * 4u + e) * TG + g]);
          }
        }
      }
    }
    workgroupBarrier();
  }
  return acc;
}
