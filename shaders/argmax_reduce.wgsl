// Argmax over vocabulary tiles (phase 2 of 2, after unembed_argmax.wgsl): one workgroup per unembedding row
// merges its tiles' partials; the winner is the greatest logit, ties to the lowest token id.
// Parameters p and bindings (generated from its declaration in engine/kernels.ts): partials [rows, tiles],
// slot_of, tokens [slots, seq_len] (read_write), pred [slots, cont] u32 out, logprob [slots, cont] f32 out.
// Row r is continuation position c = pos_base + r % per of pass row r / per (slot s): pred[s, c] = argmax;
// with FEED the token is also written to tokens[s, prompt + c], the next decode step's input, so greedy
// decoding needs no readback. With LOGPROB, logprob[s, c] = true logit - logsumexp(all logits).

var<workgroup> shared_parts: array<Partial, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.rows) { return; }  // uniform per workgroup
  var pt = Partial(LOWEST, 0xffffffffu, LOWEST, 0.0, LOWEST, 0.0);
  for (var t = li; t < p.tiles; t += 64u) { pt = merge(pt, partials[r * p.tiles + t]); }
  shared_parts[li] = pt;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (li < s) { shared_parts[li] = merge(shared_parts[li], shared_parts[li + s]); }
    workgroupBarrier();
  }
  if (li == 0u) {
    let best = shared_parts[0];
    let slot = slot_of[p.row_base + r / p.per];
    let c = p.pos_base + r % p.per;
    // A greatest logit of +Inf (an overflow, or a NaN logit, which unembed_argmax.wgsl enters as +Inf) answers
    // nothing: the "none" placeholder goes out instead, and the host stops the run (engine/decoder.ts). Tested
    // on the bits: a compiler may assume that float compares never see Inf or NaN.
    let idx = select(0xffffffffu, best.idx, (bitcast<u32>(best.best) & 0x7f800000u) != 0x7f800000u);
    pred[slot * p.cont + c] = idx;
    if (FEED == 1u && p.prompt + c < p.seq_len) { tokens[slot * p.seq_len + p.prompt + c] = idx; }
    if (LOGPROB == 1u) { logprob[slot * p.cont + c] = best.truth - (best.lse_max + log(best.lse_sum)); }
  }
}
