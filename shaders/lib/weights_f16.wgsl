// Weight loader, f16 storage read as packed u32 pairs: works on every adapter (unpack2x16float is core WGSL,
// no shader-f16 needed). Widening f16 -> f32 is exact, so the math stays f32. Contract: weights_f32.wgsl.
alias Raw4 = vec2<u32>;  // (k0 | k1 << 16, k2 | k3 << 16)

fn widen4(r: Raw4) -> vec4<f32> {
  return vec4<f32>(unpack2x16float(r.x), unpack2x16float(r.y));
}
