// Shared piece of layernorm.wgsl and layernorm_serial.wgsl: their bindings and the output of one element.
// Bindings: 0 params p (struct Params, generated from its field list in engine/kernels.ts), 1 x [in_rows, h],
// 2 gamma [h], 3 beta [h], 4 y [rows, h] out; with PAIR == 1 also 5 gamma2, 6 beta2, 7 y2: a second norm of
// the same rows (the parallel residual's ln1 and ln2 read the same x), from the same mean and variance.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> gamma2: array<f32>;
@group(0) @binding(6) var<storage, read> beta2: array<f32>;
@group(0) @binding(7) var<storage, read_write> y2: array<f32>;

// Element j of output row `dst` from its input x_j: (x_j - mean) * rstd * gamma + beta, as torch computes it.
fn store_normalized(dst: u32, j: u32, x_j: f32, mean: f32, rstd: f32) {
  let n = (x_j - mean) * rstd;
  y[dst + j] = n * gamma[j] + beta[j];
  if (PAIR == 1u) { y2[dst + j] = n * gamma2[j] + beta2[j]; }
}
