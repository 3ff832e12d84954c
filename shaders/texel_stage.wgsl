// Activations X [rows, k] f32 (a storage buffer, as vec4) into the rgba32float texture the texel matmul tiles
// read (engine/tiles.ts): row r's texel q (values 4q..4q+3) at ((r % fold) * pitch + q, r / fold), kt = k / 4.
// A plain copy: the values are unchanged. Used where a copy command cannot do it (a row of X not a whole number
// of 256-byte steps, or more rows than a texture's side; engine/kernels.ts: KernelCache.staging). Parameters p and bindings generated from its declaration in
// engine/kernels.ts: x [rows, k], texels (write-only storage texture).

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = id.x + id.y * nwg.x * 64u;
  if (i >= p.rows * p.kt) { return; }
  let r = i / p.kt;
  let q = i % p.kt;
  textureStore(texels, vec2<i32>(i32(r % p.fold * p.pitch + q), i32(r / p.fold)), x[i]);
}
