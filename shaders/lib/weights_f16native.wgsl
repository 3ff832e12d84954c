// Weight loader, f16 storage through the shader-f16 feature (the pipeline builder adds `enable f16;`).
// Same values as weights_f16.wgsl; native vec4<f16> loads where the adapter offers them. Contract:
// weights_f32.wgsl.
alias Raw4 = vec4<f16>;

fn widen4(r: Raw4) -> vec4<f32> {
  return vec4<f32>(r);
}
