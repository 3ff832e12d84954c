// Weight loader, f32 storage. Every loader defines the same two things, and kernels use only them to read
// weights (lib/weights_buffer.wgsl's weight4 from a storage buffer, the texel tiles of engine/tiles.ts from a
// texture holding the same bytes):
//   Raw4          four consecutive elements as stored;
//   widen4(r)     those four as f32, exactly (the only way a stored weight becomes a value).
alias Raw4 = vec4<f32>;

fn widen4(r: Raw4) -> vec4<f32> {
  return r;
}
