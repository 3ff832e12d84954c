// LayerNorm over the hidden dimension, f32, two passes (mean, then variance of x - mean) like torch.
// Bindings and the normalized output (one norm, or two from the same statistics): lib/layernorm_io.wgsl.
// Output row r reads input row (r / per) * stride + offset + r % per: identity for per = stride = 1,
// offset = 0; "the last k positions of each sequence of n" for per = k, stride = n, offset = n - k, which
// lets the final norm (and so the unembedding) skip positions whose logits nobody needs.
// One workgroup of 64 threads per output row.
var<workgroup> partial: array<f32, 64>;

fn workgroup_sum(v: f32, li: u32) -> f32 {
  partial[li] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s = s >> 1u) {
    if (li < s) { partial[li] = partial[li] + partial[li + s]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.rows) { return; }  // uniform per workgroup, so barriers stay uniform
  let src = ((r / p.per) * p.stride + p.offset + r % p.per) * p.h;
  let dst = r * p.h;
  var s = 0.0;
  for (var j = li; j < p.h; j += 64u) { s += x[src + j]; }
  let mean = workgroup_sum(s, li) / f32(p.h);
  var v = 0.0;
  for (var j = li; j < p.h; j += 64u) {
    let d = x[src + j] - mean;
    v += d * d;
  }
  let rstd = 1.0 / sqrt(workgroup_sum(v, li) / f32(p.h) + p.eps);
  for (var j = li; j < p.h; j += 64u) { store_normalized(dst, j, x[src + j], mean, rstd); }
}
