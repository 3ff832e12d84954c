// Split the fused QKV projection, apply rotary embeddings to q and k, append k and v to the KV cache.
// Parameters p and bindings (generated from its declaration in engine/kernels.ts): qkv [tokens, 3h] f32 (per
// head: q = [0, hs), k = [hs, 2hs), v = [2hs, 3hs), as GPT-NeoX's query_key_value lays it out), rope
// [positions, rot_half] vec2 (cos, sin) f32, slot_of [rows], q [tokens, h] out, k_cache, v_cache [slots, heads,
// max_t, hs].
// Rotary touches the first 2*rot_half dims of each head, NeoX half-split: out = x*cos + rotate_half(x)*sin
// with rotate_half(x) = cat(-x2, x1). cos/sin come from a table the CPU filled the way transformers computes
// it in f32: GPU sin/cos are too loose (Vulkan allows ~1e-3 absolute error) for exact logits (lib/rotary.wgsl).
// One thread per (token, head, dim). qkv_rotary_texel.wgsl is the same with the KV cache held as texels.

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let id = (wg.x + wg.y * nwg.x) * 256u + li;
  let h = p.heads * p.hs;
  if (id >= p.tokens * h) { return; }
  let t = id / h;
  let head = (id % h) / p.hs;
  let d = id % p.hs;
  let pos = p.t0 + t % p.n;
  let cs = rope_cs(pos, d);
  let base = t * 3u * h + head * 3u * p.hs;
  q[id] = rotate(base, d, cs);
  let slot = slot_of[p.row_base + t / p.n];
  let at = ((slot * p.heads + head) * p.max_t + pos) * p.hs + d;
  k_cache[at] = rotate(base + p.hs, d, cs);
  v_cache[at] = qkv[base + 2u * p.hs + d];
}
