// Unembedding fused with argmax (phase 1 of 2), after a matmul tile (matmul_tile_4x4.wgsl or matmul_direct_tile.wgsl) and argmax_partial.wgsl: logits = X[M, h] . W_out[V, h]^T are
// computed a BM x BN tile at a time and reduced inside the workgroup, so the [rows x vocab] logits never reach
// memory. Per (row, vocab tile) it writes: the best logit and its index (ties to the lowest index, as torch;
// token SUPPRESS excluded, for EleutherAI's min_length=64 which forbids EOS), and, when LOGPROB == 1, the tile's
// max and sum of exp(logit - max) over all tokens and the logit of the row's true next token.
// Bindings: 0 W_out (weights loader), 1 params, 2 X (the tile), 3 tokens [slots, seq_len] (true tokens, for
// LOGPROB), 4 slot_of, 5 partials [M, tiles] out. Unembedding row r is token r % per of pass row r / per; its
// true next token is tokens[slot * seq_len + truth_pos + r % per].
struct Params {
  m: u32,
  n: u32,
  k: u32,
  suppress: u32,   // 0xffffffff: none
  per: u32,
  row_base: u32,
  seq_len: u32,
  truth_pos: u32,
}
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> tokens: array<u32>;
@group(0) @binding(4) var<storage, read> slot_of: array<u32>;
@group(0) @binding(5) var<storage, read_write> partials: array<Partial>;

var<workgroup> by_thread: array<Partial, BM * TX>;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  let acc = tile_product(row0, col0, li, p.m, p.n, p.k);
  let tx = li % TX;
  let ty = li / TX;
  for (var i = 0u; i < TM; i++) {
    let local_row = tile_row(ty, i);
    let row = row0 + local_row;
    var pt = Partial(LOWEST, 0xffffffffu, LOWEST, 0.0, LOWEST, 0.0);
    var truth = 0xffffffffu;
    if (LOGPROB == 1u && row < p.m) {
      let slot = slot_of[p.row_base + row / p.per];
      truth = tokens[slot * p.seq_len + p.truth_pos + row % p.per];
    }
    for (var g = 0u; g < TG; g++) {
      for (var j = 0u; j < 4u; j++) {
        let col = col0 + tile_col(tx, g) + j;
        if (row >= p.m || col >= p.n) { continue; }
        let v = acc[i * TG + g][j];
        if (col != p.suppress && (v > pt.best || (v == pt.best && col < pt.idx))) {
          pt.best = v;
          pt.idx = col;
        }
        if (LOGPROB == 1u) {
          if (v > pt.lse_max) {
            pt.lse_sum = pt.lse_sum * exp(pt.lse_max - v) + 1.0;
            pt.lse_max = v;
          } else {
            pt.lse_sum += exp(v - pt.lse_max);
          }
          if (col == truth) { pt.truth = v; }
        }
      }
    }
    by_thread[local_row * TX + tx] = pt;
  }
  workgroupBarrier();
  for (var r = li; r < BM; r += THREADS) {
    if (row0 + r >= p.m) { continue; }
    var pt = by_thread[r * TX];
    for (var t = 1u; t < TX; t++) { pt = merge(pt, by_thread[r * TX + t]); }
    partials[(row0 + r) * nwg.x + wg.x] = pt;
  }
}
