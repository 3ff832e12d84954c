// GPU matmul tile, 4 x 4 outputs per thread (BM = BN = 64 with 256 threads), after matmul_tile_load.wgsl.
// Accumulators are named registers, not an indexed array. Each output is the f32 sum over increasing k, one
// fma per k, exactly as in matmul_tile_8x8.wgsl and matmul_direct_tile.wgsl: the tile shape never changes
// a result.
fn tile_product(row0: u32, col0: u32, li: u32, m: u32, n: u32, k: u32) -> array<vec4<f32>, 4> {
  let tx = li % TX;
  let ty = li / TX;
  let k4 = k / 4u;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < k; k0 += BK) {
    load_tiles(row0, col0, k0, li, m, n, k4);
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a = tile_x[kk * (BM / 4u) + ty];
      let b = tile_w[kk * (BN / 4u) + tx];
      c0 = fma(vec4<f32>(a.x), b, c0);
      c1 = fma(vec4<f32>(a.y), b, c1);
      c2 = fma(vec4<f32>(a.z), b, c2);
      c3 = fma(vec4<f32>(a.w), b, c3);
    }
    workgroupBarrier();
  }
  return array<vec4<f32>, 4>(c0, c1, c2, c3);
}
