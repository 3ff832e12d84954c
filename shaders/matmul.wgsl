// Linear layer Y[M, N] (=|+=) act(X[M, K] . W[N, K]^T + bias[N]), after a matmul tile (matmul_tile_4x4/8x8.wgsl
// on GPUs, matmul_direct_tile.wgsl on CPUs).
// Bindings: 0 W (weights loader), 1 params, 2 X (the tile), 3 bias [N] f32, 4 Y [M, N] f32.
// EPILOGUE: 0 store, 1 exact GELU then store (torch's erf form), 2 accumulate into Y (the residual stream:
// each Y element is read and written by the thread that owns it). HAS_BIAS 0 skips the bias (the unembedding).
struct Params {
  m: u32,
  n: u32,
  k: u32,
}
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// erf with < 1 ulp error in f32 (after N. Juffa's erff): WGSL has no erf, and a coarse one would shift logits.
fn erf_f32(a: f32) -> f32 {
  let t = abs(a);
  let s = a * a;
  if (t > 0.927734375) {
    var r = fma(-1.72853470e-5, t, 3.83197126e-4);
    let u = fma(-3.88396438e-3, t, 2.42546219e-2);
    r = fma(r, s, u);
    r = fma(r, t, -1.06777877e-1);
    r = fma(r, t, -6.34846687e-1);
    r = fma(r, t, -1.28717512e-1);
    r = fma(r, t, -t);
    r = 1.0 - exp(r);
    return select(r, -r, a < 0.0);
  }
  var r = -5.96761703e-4;
  r = fma(r, s, 4.99119423e-3);
  r = fma(r, s, -2.67681349e-2);
  r = fma(r, s, 1.12819925e-1);
  r = fma(r, s, -3.76125336e-1);
  r = fma(r, s, 1.28379166e-1);
  return fma(r, a, a);
}

fn gelu(v: f32) -> f32 {
  return v * 0.5 * (1.0 + erf_f32(v * 0.70710678118654752));
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  let acc = tile_product(row0, col0, li, p.m, p.n, p.k);
  let tx = li % TX;
  let ty = li / TX;
  for (var o = 0u; o < TM * TG; o++) {
    let row = row0 + tile_row(ty, o / TG);
    if (row >= p.m) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + tile_col(tx, o % TG) + j;
      if (col >= p.n) { continue; }
      var v = acc[o][j];
      if (HAS_BIAS == 1u) { v += bias[col]; }
      if (EPILOGUE == 1u) { v = gelu(v); }
      let at = row * p.n + col;
      if (EPILOGUE == 2u) { v = y[at] + v; }
      y[at] = v;
    }
  }
}
