// Rotary embedding of one value of the fused qkv projection (qkv_rotary.wgsl and qkv_rotary_texel.wgsl): NeoX
// half-split over the first 2*rot_half dims of a head, out = x*cos + rotate_half(x)*sin with
// rotate_half(x) = cat(-x2, x1); dims past them pass through. Reads p.rot_half, qkv and rope.

// (cos, sin) of dim d at position pos: from the table the CPU filled (identity where nothing rotates).
fn rope_cs(pos: u32, d: u32) -> vec2<f32> {
  if (p.rot_half == 0u) { return vec2<f32>(1.0, 0.0); }
  return rope[pos * p.rot_half + d % p.rot_half];
}

// Dim d of the head whose values start at qkv[base], rotated.
fn rotate(base: u32, d: u32, cs: vec2<f32>) -> f32 {
  let v = qkv[base + d];
  if (d >= 2u * p.rot_half) { return v; }
  if (d < p.rot_half) { return v * cs.x - qkv[base + d + p.rot_half] * cs.y; }
  return v * cs.x + qkv[base + d - p.rot_half] * cs.y;
}
