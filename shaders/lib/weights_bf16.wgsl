// Weight loader, bf16 storage read as packed u32 pairs. A bf16 value is the top half of an f32, so widening is
// a shift: exact, and half the memory of storing the widened f32. Contract: weights_f32.wgsl.
alias Raw4 = vec2<u32>;  // (k0 | k1 << 16, k2 | k3 << 16)

fn widen4(r: Raw4) -> vec4<f32> {
  return vec4<f32>(
    bitcast<f32>(r.x << 16u), bitcast<f32>(r.x & 0xffff0000u),
    bitcast<f32>(r.y << 16u), bitcast<f32>(r.y & 0xffff0000u),
  );
}
