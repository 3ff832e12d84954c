// Weight loader, bf16 storage read as packed u32 pairs. A bf16 value is the top half of an f32, so widening is
// a shift: exact, and half the memory of storing the widened f32.
@group(0) @binding(0) var<storage, read> weights: array<vec2<u32>>;

fn weight4(i: u32) -> vec4<f32> {
  let p = weights[i];
  return vec4<f32>(
    bitcast<f32>(p.x << 16u), bitcast<f32>(p.x & 0xffff0000u),
    bitcast<f32>(p.y << 16u), bitcast<f32>(p.y & 0xffff0000u),
  );
}
