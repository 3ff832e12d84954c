// Causal softmax attention of new queries over the KV cache (prefill and decode alike).
// Parameters p and bindings (generated from its declaration in engine/kernels.ts): q [tokens, h] (rotated),
// k_cache, v_cache [slots, heads, max_t, hs], slot_of, out [tokens, h] (heads concatenated, as attention.dense
// expects).
// Query i of pass row b sits at position t0 + i and sees keys 0 ..= t0 + i of its slot.
// scores = (q . k) * head_size^-0.5, softmax in f32 (max-subtracted), out = sum_j p_j v_j.
// One workgroup of 64 threads per (token, head); MAX_T (scores) and MAX_HS (q) come from the pipeline builder.
var<workgroup> q_row: array<f32, MAX_HS>;
var<workgroup> scores: array<f32, MAX_T>;
var<workgroup> partial: array<f32, 64>;

fn workgroup_reduce(v: f32, li: u32, is_max: bool) -> f32 {
  partial[li] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (li < s) {
      let o = partial[li + s];
      partial[li] = select(partial[li] + o, max(partial[li], o), is_max);
    }
    workgroupBarrier();
  }
  let r = partial[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let id = wg.x + wg.y * nwg.x;
  if (id >= p.tokens * p.heads) { return; }  // uniform per workgroup
  let t = id / p.heads;
  let head = id % p.heads;
  let h = p.heads * p.hs;
  let keys = p.t0 + t % p.n + 1u;
  let slot = slot_of[p.row_base + t / p.n];
  let kv = (slot * p.heads + head) * p.max_t * p.hs;
  for (var d = li; d < p.hs; d += 64u) { q_row[d] = q[t * h + head * p.hs + d]; }
  workgroupBarrier();
  var mx = -3.0e38;
  for (var j = li; j < keys; j += 64u) {
    var s = 0.0;
    let kj = kv + j * p.hs;
    for (var d = 0u; d < p.hs; d++) { s += q_row[d] * k_cache[kj + d]; }
    s = s * p.scale;
    scores[j] = s;
    mx = max(mx, s);
  }
  mx = workgroup_reduce(mx, li, true);
  var sum = 0.0;
  for (var j = li; j < keys; j += 64u) {
    let e = exp(scores[j] - mx);
    scores[j] = e;
    sum += e;
  }
  sum = workgroup_reduce(sum, li, false);  // its barriers also publish scores[]
  for (var d = li; d < p.hs; d += 64u) {
    var acc = 0.0;
    for (var j = 0u; j < keys; j++) { acc += scores[j] * v_cache[kv + j * p.hs + d]; }
    out[t * h + head * p.hs + d] = acc / sum;
  }
}
