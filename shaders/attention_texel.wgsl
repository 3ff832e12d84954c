// attention_serial.wgsl with the KV cache held as texels (CPU adapters; written by qkv_rotary_texel.wgsl):
// the same sums in the same order (each score over d increasing, each output over keys increasing), its keys
// and values read a texel (4 dims) at a time. Parameters p and bindings generated from its declaration in
// engine/kernels.ts: as attention_serial's, with k_cache and v_cache read-only storage textures laid out as
// qkv_rotary_texel.wgsl says (kv_fold, kv_kt). MAX_T sizes the per-invocation score array (the softmax is
// lib/softmax_serial.wgsl), MAX_HS4 the query's, read once: with the keys in texels, re-reading it from the
// storage buffer per key was the costly load.
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let id = (wg.x + wg.y * nwg.x) * 64u + li;
  if (id >= p.tokens * p.heads) { return; }
  let t = id / p.heads;
  let head = id % p.heads;
  let h = p.heads * p.hs;
  let keys = p.t0 + t % p.n + 1u;
  let row0 = (slot_of[p.row_base + t / p.n] * p.heads + head) * p.max_t; // cache row of position 0
  let qi = t * h + head * p.hs;
  var scores: array<f32, MAX_T>;
  var qv: array<vec4<f32>, MAX_HS4>;
  for (var q4 = 0u; q4 < p.kv_kt; q4++) {
    let d = qi + 4u * q4;
    qv[q4] = vec4<f32>(q[d], q[d + 1u], q[d + 2u], q[d + 3u]);
  }
  var mx = -3.0e38;
  for (var j = 0u; j < keys; j++) {
    let r = row0 + j;
    let at = vec2<i32>(i32(r % p.kv_fold * p.kv_kt), i32(r / p.kv_fold));
    var s = 0.0;
    for (var q4 = 0u; q4 < p.kv_kt; q4++) {
      let k = textureLoad(k_cache, at + vec2<i32>(i32(q4), 0));
      let qq = qv[q4];
      s += qq.x * k.x;
      s += qq.y * k.y;
      s += qq.z * k.z;
      s += qq.w * k.w;
    }
    s = s * p.scale;
    scores[j] = s;
    mx = max(mx, s);
  }
  let sum = softmax_exp(&scores, keys, mx);
  for (var q4 = 0u; q4 < p.kv_kt; q4++) {
    var acc = vec4<f32>(0.0);
    for (var j = 0u; j < keys; j++) {
      let r = row0 + j;
      acc += scores[j] * textureLoad(v_cache, vec2<i32>(i32(r % p.kv_fold * p.kv_kt + q4), i32(r / p.kv_fold)));
    }
    let d = qi + 4u * q4;
    out[d] = acc.x / sum;
    out[d + 1u] = acc.y / sum;
    out[d + 2u] = acc.z / sum;
    out[d + 3u] = acc.w / sum;
  }
}
