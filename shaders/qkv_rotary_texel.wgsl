// qkv_rotary.wgsl with the KV cache held as texels (CPU adapters): k and v written to rgba32float storage
// textures, whose loads in attention_texel.wgsl cost llvmpipe a texel for all its SIMD lanes where a storage
// buffer costs a loop over lanes per value. Same values: the rotation of lib/rotary.wgsl, dim by dim.
// Parameters p and bindings generated from its declaration in engine/kernels.ts: qkv [tokens, 3h], rope, slot_of,
// q [tokens, h] out, k_cache and v_cache (write-only storage textures): the cache row of (slot, head, position)
// r = (slot * heads + head) * max_t + pos holds its hs values in texels (r % kv_fold * kv_kt .., r / kv_fold),
// kv_kt = hs / 4 (engine/tiles.ts's texel layout of a [rows, hs] f32 matrix, packed).
// One thread per (token, head, 4 dims).

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let id = (wg.x + wg.y * nwg.x) * 256u + li;
  let h = p.heads * p.hs;
  if (id >= p.tokens * h / 4u) { return; }
  let t = id / (h / 4u);
  let head = (id % (h / 4u)) / p.kv_kt;
  let q4 = id % p.kv_kt;
  let pos = p.t0 + t % p.n;
  let base = t * 3u * h + head * 3u * p.hs;
  var k = vec4<f32>(0.0);
  var v = vec4<f32>(0.0);
  for (var i = 0u; i < 4u; i++) {
    let d = 4u * q4 + i;
    let cs = rope_cs(pos, d);
    q[t * h + head * p.hs + d] = rotate(base, d, cs);
    k[i] = rotate(base + p.hs, d, cs);
    v[i] = qkv[base + 2u * p.hs + d];
  }
  let r = (slot_of[p.row_base + t / p.n] * p.heads + head) * p.max_t + pos;
  let at = vec2<i32>(i32(r % p.kv_fold * p.kv_kt + q4), i32(r / p.kv_fold));
  textureStore(k_cache, at, k);
  textureStore(v_cache, at, v);
}
