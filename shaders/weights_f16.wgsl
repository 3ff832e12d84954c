// Weight loader, f16 storage read as packed u32 pairs: works on every adapter (unpack2x16float is core WGSL,
// no shader-f16 needed). Widening f16 -> f32 is exact, so the math stays f32.
@group(0) @binding(0) var<storage, read> weights: array<vec2<u32>>;

fn weight4(i: u32) -> vec4<f32> {
  let p = weights[i];
  return vec4<f32>(unpack2x16float(p.x), unpack2x16float(p.y));
}
