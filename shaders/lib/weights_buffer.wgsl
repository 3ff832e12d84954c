// Weights from a storage buffer: kernels that read them this way bind the matrix as their operand `weights`
// (array<Raw4>, declared in engine/kernels.ts), after a weights_*.wgsl loader.

// Elements 4i..4i+3 of the row-major matrix, widened.
fn weight4(i: u32) -> vec4<f32> {
  return widen4(weights[i]);
}
