// GPU matmul tile, 8 x 8 outputs per thread (BM = BN = 128 with 256 threads), after matmul_tile_load.wgsl:
// twice the math per workgroup-memory read of the 4x4 tile, for the many rows of a prefill. Accumulators are
// named registers c<row><column group>, not an indexed array. Each output is the f32 sum over increasing k, one
// fma per k, exactly as in matmul_tile_4x4.wgsl and matmul_direct_tile.wgsl.
fn tile_product(row0: u32, col0: u32, li: u32, m: u32, n: u32, k: u32) -> array<vec4<f32>, 16> {
  let tx = li % TX;
  let ty = li / TX;
  let k4 = k / 4u;
  var c00 = vec4<f32>(0.0);
  var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0);
  var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0);
  var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0);
  var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0);
  var c41 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0);
  var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0);
  var c61 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0);
  var c71 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < k; k0 += BK) {
    load_tiles(row0, col0, k0, li, m, n, k4);
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a0 = tile_x[kk * (BM / 4u) + ty * 2u];
      let a1 = tile_x[kk * (BM / 4u) + ty * 2u + 1u];
      let b0 = tile_w[kk * (BN / 4u) + tx];
      let b1 = tile_w[kk * (BN / 4u) + BN / 8u + tx];
      c00 = fma(vec4<f32>(a0.x), b0, c00);
      c01 = fma(vec4<f32>(a0.x), b1, c01);
      c10 = fma(vec4<f32>(a0.y), b0, c10);
      c11 = fma(vec4<f32>(a0.y), b1, c11);
      c20 = fma(vec4<f32>(a0.z), b0, c20);
      c21 = fma(vec4<f32>(a0.z), b1, c21);
      c30 = fma(vec4<f32>(a0.w), b0, c30);
      c31 = fma(vec4<f32>(a0.w), b1, c31);
      c40 = fma(vec4<f32>(a1.x), b0, c40);
      c41 = fma(vec4<f32>(a1.x), b1, c41);
      c50 = fma(vec4<f32>(a1.y), b0, c50);
      c51 = fma(vec4<f32>(a1.y), b1, c51);
      c60 = fma(vec4<f32>(a1.z), b0, c60);
      c61 = fma(vec4<f32>(a1.z), b1, c61);
      c70 = fma(vec4<f32>(a1.w), b0, c70);
      c71 = fma(vec4<f32>(a1.w), b1, c71);
    }
    workgroupBarrier();
  }
  return array<vec4<f32>, 16>(c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71);
}
