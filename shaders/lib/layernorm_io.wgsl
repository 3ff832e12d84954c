// Shared piece of layernorm.wgsl and layernorm_serial.wgsl: the output of one element.
// Parameters p and bindings (generated from its declaration in engine/kernels.ts): x [in_rows, h], gamma [h],
// beta [h], y [rows, h] out; with PAIR == 1 also gamma2, beta2, y2: a second norm of the same rows (the
// parallel residual's ln1 and ln2 read the same x), from the same mean and variance.

// Element j of output row `dst` from its input x_j: (x_j - mean) * rstd * gamma + beta, as torch computes it.
fn store_normalized(dst: u32, j: u32, x_j: f32, mean: f32, rstd: f32) {
  let n = (x_j - mean) * rstd;
  y[dst + j] = n * gamma[j] + beta[j];
  if (PAIR == 1u) { y2[dst + j] = n * gamma2[j] + beta2[j]; }
}
