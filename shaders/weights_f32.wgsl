// Weight loader, f32 storage: weight4(i) returns elements 4i..4i+3 of a row-major weight matrix.
// Kernels that read weights bind the matrix at @binding(0) and call only weight4.
@group(0) @binding(0) var<storage, read> weights: array<vec4<f32>>;

fn weight4(i: u32) -> vec4<f32> {
  return weights[i];
}
