// Shared piece of layernorm.wgsl and layernorm_serial.wgsl: their bindings.
// Bindings: 0 params p (struct Params, generated from its field list in engine/kernels.ts), 1 x [in_rows, h],
// 2 gamma [h], 3 beta [h], 4 y [rows, h] out.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
