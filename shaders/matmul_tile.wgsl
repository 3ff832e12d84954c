// Shared piece of the matmul kernels (prepended to matmul.wgsl and unembed_argmax.wgsl, after a weights_*.wgsl
// loader): one workgroup computes the BM x BN tile at (row0, col0) of X[M, K] . W[N, K]^T, where W is row-major
// [out, in] as PyTorch stores it. Binding 2 is X [M, K] f32 (K % 4 == 0). Constants BM, BN, BK, TM come from
// the pipeline builder. Thread (tx, ty) owns rows ty + i*TY (i < TM) and the 4 columns tx*4 .. tx*4+3.
// Accumulation is f32 in increasing k, whatever the weights' storage type.
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;

const TX: u32 = BN / 4u;
const TY: u32 = BM / TM;
const THREADS: u32 = TX * TY;

var<workgroup> tile_x: array<f32, BK * BM>;   // [k][m]
var<workgroup> tile_w: array<f32, BK * BN>;   // [k][n]

fn tile_product(row0: u32, col0: u32, li: u32, m: u32, n: u32, k: u32) -> array<vec4<f32>, TM> {
  let tx = li % TX;
  let ty = li / TX;
  let k4 = k / 4u;
  var acc: array<vec4<f32>, TM>;
  for (var k0 = 0u; k0 < k; k0 += BK) {
    for (var l = li; l < BM * BK / 4u; l += THREADS) {
      let r = l / (BK / 4u);
      let q = l % (BK / 4u);
      var v = vec4<f32>(0.0);
      if (row0 + r < m && k0 + q * 4u < k) { v = x[(row0 + r) * k4 + k0 / 4u + q]; }
      for (var e = 0u; e < 4u; e++) { tile_x[(q * 4u + e) * BM + r] = v[e]; }
    }
    for (var l = li; l < BN * BK / 4u; l += THREADS) {
      let c = l / (BK / 4u);
      let q = l % (BK / 4u);
      var v = vec4<f32>(0.0);
      if (col0 + c < n && k0 + q * 4u < k) { v = weight4((col0 + c) * k4 + k0 / 4u + q); }
      for (var e = 0u; e < 4u; e++) { tile_w[(q * 4u + e) * BN + c] = v[e]; }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let w = kk * BN + tx * 4u;
      let b = vec4<f32>(tile_w[w], tile_w[w + 1u], tile_w[w + 2u], tile_w[w + 3u]);
      for (var i = 0u; i < TM; i++) {
        acc[i] += tile_x[kk * BM + ty + i * TY] * b;
      }
    }
    workgroupBarrier();
  }
  return acc;
}
