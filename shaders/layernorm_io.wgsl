// Shared piece of layernorm.wgsl and layernorm_serial.wgsl: their parameters and bindings.
// Bindings: 0 params, 1 x [in_rows, h], 2 gamma [h], 3 beta [h], 4 y [rows, h] out.
struct Params {
  rows: u32,
  per: u32,
  stride: u32,
  offset: u32,
  h: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
