// Token embedding gather: x[t, :] = embed_in[token(t), :] for the t = b*n + i tokens of one forward pass.
// Parameters p and bindings (generated from its declaration in engine/kernels.ts): weights [vocab, h] (a
// weights_*.wgsl loader), tokens [slots, seq_len] u32 (the sequence being scored or built), slot_of [rows] u32
// (pass row -> KV/token slot), x [tokens, h] f32 out (as vec4).
// Pass row b, position i reads tokens[slot_of[row_base + b] * seq_len + t0 + i]. One thread per 4 floats.

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let id = (wg.x + wg.y * nwg.x) * 256u + li;
  if (id >= p.tokens * p.h4) { return; }
  let t = id / p.h4;
  let c = id % p.h4;
  let slot = slot_of[p.row_base + t / p.n];
  let token = tokens[slot * p.seq_len + p.t0 + t % p.n];
  x[id] = weight4(token * p.h4 + c);
}
