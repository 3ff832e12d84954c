// What every checkpoint format reader yields: where each tensor's bytes lie in which file, so the model loader
// reads a safetensors tensor and a torch.save tensor the same way (one seek + read of `byteLength` bytes).
import { ensure } from "../base/errors.ts";

/** The tensor dtypes engram reads (safetensors' names). */
export type DType = "F32" | "F16" | "BF16";

/** Where one tensor of a checkpoint lies, from its file's header (safetensors) or pickle (torch.save). */
export interface TensorInfo {
  /** The tensor's name in the checkpoint, e.g. "gpt_neox.layers.0.attention.dense.weight". */
  name: string;
  /** How its values are stored (little-endian). */
  dtype: DType;
  /** Its dimensions, outermost first (torch's order). */
  shape: number[];
  /** The file that holds it (.safetensors, or a torch.save archive such as pytorch_model.bin). */
  file: string;
  /** Absolute byte offset of the tensor's data in `file`. */
  start: number;
  /** Bytes of data: the product of `shape` × the dtype's size (stored contiguously from `start`). */
  byteLength: number;
}

/** Bytes per value of each dtype engram reads. */
export const DTYPE_BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };

/** Whether `dtype` (safetensors' name) is one engram reads. */
export const isSupportedDType = (dtype: string): dtype is DType => Object.hasOwn(DTYPE_BYTES, dtype);

// Buffers that transformers saved alongside the weights before 4.3x (Pythia's step checkpoints and the
// conversion bot's model.safetensors keep them: a U8 or BOOL causal mask, masked_bias, inv_freq); engram
// recomputes them, so readers skip them by name whatever their dtype.
const BUFFER_SUFFIXES = [".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq"];

/** Whether tensor `name` is one of GPT-NeoX's saved buffers (causal mask, masked_bias, inv_freq), not a weight. */
export const isNeoXBuffer = (name: string): boolean => BUFFER_SUFFIXES.some((s) => name.endsWith(s));

let f16Table: Float32Array | null = null;
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  f16Table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    f16Table[h] = e === 0
      ? sign * m * 2 ** -24
      : e === 31
      ? (m ? NaN : sign * Infinity)
      : sign * (1024 + m) * 2 ** (e - 25);
  }
  return f16Table;
}

/** Widens little-endian F32/F16/BF16 bytes to a fresh Float32Array (exact for every value). */
export function toFloat32(bytes: Uint8Array, dtype: DType): Float32Array {
  const size = DTYPE_BYTES[dtype];
  ensure(size !== undefined, `toFloat32: unsupported dtype ${dtype}`);
  ensure(
    bytes.length % size === 0,
    `toFloat32: ${bytes.length} bytes is not a whole number of ${dtype} values`,
  );
  // Typed array views need aligned offsets; copy when the slice is not.
  const b = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const n = b.length / size;
  if (dtype === "F32") return new Float32Array(b.buffer, b.byteOffset, n).slice();
  const src = new Uint16Array(b.buffer, b.byteOffset, n);
  const out = new Float32Array(n);
  if (dtype === "BF16") {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = src[i] << 16;
  } else {
    const t = halfTable();
    for (let i = 0; i < n; i++) out[i] = t[src[i]];
  }
  return out;
}

/**
 * The first element of little-endian F32/F16/BF16 `bytes` that is NaN or infinite (its exponent bits all set),
 * or -1 when every one is finite. Integer compares on the raw bits, no widening: a pass over a checkpoint's
 * bytes costs far less than reading them from disk (bench/nonfinite_bench.ts).
 */
export function firstNonFinite(bytes: Uint8Array, dtype: DType): number {
  const size = DTYPE_BYTES[dtype];
  ensure(size !== undefined, `firstNonFinite: unsupported dtype ${dtype}`);
  const b = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  const n = Math.floor(b.length / size);
  if (dtype === "F32") {
    const bits = new Uint32Array(b.buffer, b.byteOffset, n);
    for (let i = 0; i < n; i++) if ((bits[i] & 0x7f800000) === 0x7f800000) return i;
    return -1;
  }
  // Two 16-bit values a 32-bit word: a value's exponent bits are all set exactly when adding their lowest bit
  // carries into the value's sign bit (masked, no carry reaches the other half).
  const exponent = dtype === "BF16" ? 0x7f80 : 0x7c00, low = exponent & -exponent;
  const mask = exponent * 0x10001, carry = low * 0x10001;
  const w = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const words = new Uint32Array(w.buffer, w.byteOffset, n >> 1);
  for (let i = 0; i < words.length; i++) {
    if ((((words[i] & mask) + carry) & 0x80008000) !== 0) {
      return (words[i] & exponent) === exponent ? 2 * i : 2 * i + 1; // little-endian: the low half is first
    }
  }
  const bits = new Uint16Array(b.buffer, b.byteOffset, n);
  if (n % 2 === 1 && (bits[n - 1] & exponent) === exponent) return n - 1;
  return -1;
}

/** "NaN", "+Infinity" or "-Infinity": element i of `bytes` as a number (to name what firstNonFinite found). */
export function valueAt(bytes: Uint8Array, dtype: DType, i: number): string {
  const size = DTYPE_BYTES[dtype];
  return String(toFloat32(bytes.subarray(i * size, (i + 1) * size), dtype)[0]).replace(
    /^Infinity$/,
    "+Infinity",
  );
}
