// The serial attentions' softmax (attention_serial.wgsl, attention_texel.wgsl): the scaled scores of keys
// j < keys, held in a private array beside their maximum mx, become exp(s_j - mx) in place; returns their sum,
// added in increasing j. MAX_T sizes the array.
fn softmax_exp(scores: ptr<function, array<f32, MAX_T>>, keys: u32, mx: f32) -> f32 {
  var sum = 0.0;
  for (var j = 0u; j < keys; j++) {
    let e = exp((*scores)[j] - mx);
    (*scores)[j] = e;
    sum += e;
  }
  return sum;
}
