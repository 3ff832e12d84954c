// Shared piece of attention.wgsl and attention_serial.wgsl: their bindings.
// Bindings: 0 params p (struct Params, generated from its field list in engine/kernels.ts), 1 q [tokens, h]
// (rotated), 2 k_cache, 3 v_cache [slots, heads, max_t, hs], 4 slot_of, 5 out [tokens, h] (heads
// concatenated, as attention.dense expects).
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k_cache: array<f32>;
@group(0) @binding(3) var<storage, read> v_cache: array<f32>;
@group(0) @binding(4) var<storage, read> slot_of: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
