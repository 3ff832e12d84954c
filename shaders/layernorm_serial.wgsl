// LayerNorm for CPU adapters: the arithmetic of layernorm.wgsl (two passes: mean, then variance of x - mean)
// with one invocation per row and no barriers, which cost far more than the math on a CPU (lavapipe).
// Bindings, output (lib/layernorm_io.wgsl) and row selection: as layernorm.wgsl.
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let r = (wg.x + wg.y * nwg.x) * 64u + li;
  if (r >= p.rows) { return; }
  let src = ((r / p.per) * p.stride + p.offset + r % p.per) * p.h;
  let dst = r * p.h;
  var s = 0.0;
  for (var j = 0u; j < p.h; j++) { s += x[src + j]; }
  let mean = s / f32(p.h);
  var v = 0.0;
  for (var j = 0u; j < p.h; j++) {
    let d = x[src + j] - mean;
    v += d * d;
  }
  let rstd = 1.0 / sqrt(v / f32(p.h) + p.eps);
  for (var j = 0u; j < p.h; j++) { store_normalized(dst, j, x[src + j], mean, rstd); }
}
