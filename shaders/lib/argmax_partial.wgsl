// Shared piece of unembed_argmax.wgsl and argmax_reduce.wgsl: the per-(row, vocabulary tile) partial result
// and how two partials combine. LOGPROB comes from the pipeline builder. Its size, 24 bytes, is PARTIAL_BYTES
// in engine/tiles.ts (the workspace sizes the partials buffer with it).
struct Partial {
  best: f32,
  idx: u32,
  lse_max: f32,
  lse_sum: f32,
  truth: f32,
  pad: f32,
}
const LOWEST: f32 = -3.0e38;
// Order-free merge: max logit, ties to the lower index; log-sum-exp partials rescaled to the larger max.
fn merge(a: Partial, b: Partial) -> Partial {
  var r = a;
  if (b.best > a.best || (b.best == a.best && b.idx < a.idx)) {
    r.best = b.best;
    r.idx = b.idx;
  }
  if (LOGPROB == 1u) {
    let m = max(a.lse_max, b.lse_max);
    r.lse_max = m;
    r.lse_sum = a.lse_sum * exp(a.lse_max - m) + b.lse_sum * exp(b.lse_max - m);
    r.truth = max(a.truth, b.truth);
  }
  return r;
}
