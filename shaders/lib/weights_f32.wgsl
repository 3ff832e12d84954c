// Weight loader, f32 storage. Every loader defines the same three things, and kernels that read weights bind
// the matrix as their operand `weights` (array<Raw4>, declared in engine/kernels.ts) and use only them:
//   Raw4          four consecutive elements as stored;
//   widen4(r)     those four as f32, exactly (the only way a stored weight becomes a value);
//   weight4(i)    elements 4i..4i+3 of the row-major matrix, widened.
alias Raw4 = vec4<f32>;

fn widen4(r: Raw4) -> vec4<f32> {
  return r;
}

fn weight4(i: u32) -> vec4<f32> {
  return widen4(weights[i]);
}
