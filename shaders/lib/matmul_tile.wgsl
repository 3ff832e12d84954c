// Shared piece of every matmul tile variant (shaders/matmul.wgsl, shaders/unembed_argmax.wgsl), after a
// weights_*.wgsl loader; the entry point and the tile constants (BM, BN, BK, TM, TN, TX, TY, THREADS, SWIZZLE)
// are generated per variant by engine/tiles.ts. The kernel binds x, X [M, K] f32 as vec4 (K % 4 == 0),
// and weights, W row-major [N, K] as PyTorch stores it; p.m, p.n, p.k are the kernel's M, N, K.

// Loads for staging tiles: past the matrix they give zeros (a zero product leaves a sum unchanged).
fn x4(row: u32, q: u32, m: u32, k4: u32) -> vec4<f32> {
  if (row < m && q < k4) { return x[row * k4 + q]; }
  return vec4<f32>(0.0);
}

fn w4(col: u32, q: u32, n: u32, k4: u32) -> vec4<f32> {
  if (col < n && q < k4) { return weight4(col * k4 + q); }
  return vec4<f32>(0.0);
}

fn w4_raw(col: u32, q: u32, n: u32, k4: u32) -> Raw4 {
  if (col < n && q < k4) { return weights[col * k4 + q]; }
  return Raw4();
}

// Which output tile (column tile, row tile) workgroup wg computes. SWIZZLE 0: the grid's own (x = column tile,
// y = row tile). SWIZZLE G: tiles in groups of G row-tiles, walked column by column within a group, so the
// workgroups running together share W tiles in L2.
fn tile_origin(wg: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
  if (SWIZZLE == 0u) { return wg.xy; }
  let id = wg.x + wg.y * nwg.x;
  let per_group = SWIZZLE * nwg.x;
  let first = (id / per_group) * SWIZZLE;
  let rows = min(nwg.y - first, SWIZZLE);
  let at = id % per_group;
  return vec2<u32>(at / rows, first + at % rows);
}
