// Shared piece of the GPU matmul tiles (matmul_tile_4x4.wgsl, matmul_tile_8x8.wgsl), after a weights_*.wgsl
// loader: bindings, the thread-to-output map and the staging of X and W tiles in workgroup memory.
// Binding 2 is X [M, K] f32 (K % 4 == 0); W is row-major [N, K] as PyTorch stores it. Constants BM, BN, BK, TM,
// TN come from the pipeline builder. Thread (tx, ty) owns rows tile_row(ty, i), i < TM, and TN/4 groups of 4
// columns from tile_col(tx, g); its outputs are acc[i * TG + g].
// Tiles are stored k-major with 4 consecutive rows (or columns) per vec4, so the inner loop reads whole vec4s
// and no code indexes a vector component dynamically (that spills to local memory on some compilers).
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;

const TG: u32 = TN / 4u;
const TX: u32 = BN / TN;
const TY: u32 = BM / TM;
const THREADS: u32 = TX * TY;

var<workgroup> tile_x: array<vec4<f32>, BK * BM / 4u>;   // [k][m / 4]
var<workgroup> tile_w: array<vec4<f32>, BK * BN / 4u>;   // [k][n / 4]

fn tile_row(ty: u32, i: u32) -> u32 {
  return ty * TM + i;
}

fn tile_col(tx: u32, g: u32) -> u32 {
  return g * (BN / TG) + tx * 4u;
}

fn x4(row: u32, q: u32, m: u32, k4: u32) -> vec4<f32> {
  if (row < m && q < k4) { return x[row * k4 + q]; }
  return vec4<f32>(0.0);
}

fn w4(col: u32, q: u32, n: u32, k4: u32) -> vec4<f32> {
  if (col < n && q < k4) { return weight4(col * k4 + q); }
  return vec4<f32>(0.0);
}

/** Stages X[row0 .. row0+BM, k0 .. k0+BK] and W[col0 .. col0+BN, k0 .. k0+BK], transposed 4x4 at a time. */
fn load_tiles(row0: u32, col0: u32, k0: u32, li: u32, m: u32, n: u32, k4: u32) {
  for (var l = li; l < (BM / 4u) * (BK / 4u); l += THREADS) {
    let r = (l / (BK / 4u)) * 4u;
    let q = l % (BK / 4u);
    let v0 = x4(row0 + r, k0 / 4u + q, m, k4);
    let v1 = x4(row0 + r + 1u, k0 / 4u + q, m, k4);
    let v2 = x4(row0 + r + 2u, k0 / 4u + q, m, k4);
    let v3 = x4(row0 + r + 3u, k0 / 4u + q, m, k4);
    let at = q * BM + r / 4u;  // row k = 4q of tile_x, vec4 r / 4
    tile_x[at] = vec4<f32>(v0.x, v1.x, v2.x, v3.x);
    tile_x[at + BM / 4u] = vec4<f32>(v0.y, v1.y, v2.y, v3.y);
    tile_x[at + BM / 2u] = vec4<f32>(v0.z, v1.z, v2.z, v3.z);
    tile_x[at + 3u * BM / 4u] = vec4<f32>(v0.w, v1.w, v2.w, v3.w);
  }
  for (var l = li; l < (BN / 4u) * (BK / 4u); l += THREADS) {
    let c = (l / (BK / 4u)) * 4u;
    let q = l % (BK / 4u);
    let v0 = w4(col0 + c, k0 / 4u + q, n, k4);
    let v1 = w4(col0 + c + 1u, k0 / 4u + q, n, k4);
    let v2 = w4(col0 + c + 2u, k0 / 4u + q, n, k4);
    let v3 = w4(col0 + c + 3u, k0 / 4u + q, n, k4);
    let at = q * BN + c / 4u;
    tile_w[at] = vec4<f32>(v0.x, v1.x, v2.x, v3.x);
    tile_w[at + BN / 4u] = vec4<f32>(v0.y, v1.y, v2.y, v3.y);
    tile_w[at + BN / 2u] = vec4<f32>(v0.z, v1.z, v2.z, v3.z);
    tile_w[at + 3u * BN / 4u] = vec4<f32>(v0.w, v1.w, v2.w, v3.w);
  }
}
