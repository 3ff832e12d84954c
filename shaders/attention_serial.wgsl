// Causal softmax attention for CPU adapters: the arithmetic of attention.wgsl (scores scaled by
// head_size^-0.5, max-subtracted exp, sum_j p_j v_j / sum) with one invocation per (token, head) and no
// workgroup memory or barriers, which cost far more than the math on a CPU (lavapipe). Only the order of the
// softmax sum differs (sequential here, a tree there).
// Parameters and bindings: as attention.wgsl. MAX_T sizes the per-invocation score array; the softmax is
// lib/softmax_serial.wgsl.
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let id = (wg.x + wg.y * nwg.x) * 64u + li;
  if (id >= p.tokens * p.heads) { return; }
  let t = id / p.heads;
  let head = id % p.heads;
  let h = p.heads * p.hs;
  let keys = p.t0 + t % p.n + 1u;
  let kv = (slot_of[p.row_base + t / p.n] * p.heads + head) * p.max_t * p.hs;
  let qi = t * h + head * p.hs;
  var scores: array<f32, MAX_T>;
  var mx = -3.0e38;
  for (var j = 0u; j < keys; j++) {
    var s = 0.0;
    for (var d = 0u; d < p.hs; d++) { s += q[qi + d] * k_cache[kv + j * p.hs + d]; }
    s = s * p.scale;
    scores[j] = s;
    mx = max(mx, s);
  }
  let sum = softmax_exp(&scores, keys, mx);
  for (var d = 0u; d < p.hs; d++) {
    var acc = 0.0;
    for (var j = 0u; j < keys; j++) { acc += scores[j] * v_cache[kv + j * p.hs + d]; }
    out[qi + d] = acc / sum;
  }
}
