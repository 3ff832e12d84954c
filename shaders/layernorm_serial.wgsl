// LayerNorm for CPU adapters: the arithmetic of layernorm.wgsl (two passes: mean, then variance of x - mean)
// with one invocation per row and no barriers, which cost far more than the math on a CPU (lavapipe).
// Bindings and row selection: as layernorm.wgsl.
struct Params {
  rows: u32,
  per: u32,
  stride: u32,
  offset: u32,
  h: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

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
  for (var j = 0u; j < p.h; j++) {
    y[dst + j] = (x[src + j] - mean) * rstd * gamma[j] + beta[j];
  }
}
