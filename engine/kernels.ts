// One small typed constructor per WGSL kernel: each returns the pipeline, a bind group and the dispatch size
// (a Kernel). Constructors are memoized on their shape and buffers, so a decode loop that replays the same
// shapes builds its pipelines, uniform buffers and bind groups once. Each kernel is declared once, as a
// KernelLayout here: its uniform parameters (which give the WGSL `struct Params` and the words written) and its
// operands by name, element type and access, storage buffers or textures (which give the WGSL binding lines, so
// binding numbers are written nowhere by hand) with the bytes each must hold for the kernel's shape. Buffers and
// textures are passed by operand name, and checked when a kernel is encoded: a missing, unknown or short
// operand, or one written while bound twice, is an EngramError naming the kernel and the operand, before
// anything is dispatched.
import { EngramError } from "../base/errors.ts";
import { type GeneratedCode, type Gpu, grid, type Kernel } from "./gpu.ts";
import {
  PARTIAL_BYTES,
  REFERENCE,
  type TexelLayout,
  texelLayout,
  type TileFamily,
  type TileKernel,
  tileSource,
  type TileVariant,
  variantName,
  type WeightFormat,
} from "./tiles.ts";
import type { Tuning } from "./tuning.ts";

export type { WeightFormat } from "./tiles.ts";

/**
 * A matrix held as an rgba32uint texture for the texel tiles (engine/tiles.ts): the stored bytes, 16 a texel,
 * matrix row r at texels ((r % fold) * pitch .. + kt - 1, r / fold).
 */
export interface TexelMatrix {
  /** The texture. */
  texture: GPUTexture;
  /** Matrix rows per texture row. */
  fold: number;
  /** Texels per matrix row. */
  kt: number;
  /** Texels from one matrix row's start to the next's (kt, or more: see texelLayout). */
  pitch: number;
}

/**
 * A storage texture of `layout` (engine/tiles.ts) in `format`: rgba32uint for a matrix's stored bytes,
 * rgba32float for f32 values (activations, KV caches); `usage` adds to STORAGE_BINDING.
 */
export function texelTexture(
  gpu: Gpu,
  layout: TexelLayout,
  format: "rgba32uint" | "rgba32float",
  label: string,
  usage = 0,
): TexelMatrix {
  const texture = gpu.device.createTexture({
    label,
    size: [layout.width, layout.height],
    format,
    usage: GPUTextureUsage.STORAGE_BINDING | usage,
  });
  return { texture, fold: layout.fold, kt: layout.kt, pitch: layout.pitch };
}

/**
 * A matrix's stored bytes into an rgba32uint texture of `layout` (engine/tiles.ts): rows packed end to end go in
 * whole texture rows in one write, the last, part-filled row zero-padded; rows with a spare line after each go
 * in one strided write per place in the texture row. Spare texels and rows are never read.
 */
export function uploadTexels(gpu: Gpu, bytes: Uint8Array, layout: TexelLayout, label: string): TexelMatrix {
  const held = texelTexture(gpu, layout, "rgba32uint", label, GPUTextureUsage.COPY_DST);
  const texture = held.texture;
  if (layout.pitch !== layout.kt) {
    const rowBytes = layout.kt * 16;
    const rows = bytes.byteLength / rowBytes;
    for (let j = 0; j < Math.min(layout.fold, rows); j++) {
      // Matrix rows j, j + fold, j + 2 fold, ...: one texel column block of the texture.
      gpu.device.queue.writeTexture(
        { texture, origin: [j * layout.pitch, 0] },
        bytes as Uint8Array<ArrayBuffer>,
        { offset: bytes.byteOffset + j * rowBytes, bytesPerRow: layout.fold * rowBytes },
        [layout.kt, Math.ceil((rows - j) / layout.fold)],
      );
    }
    return held;
  }
  const used = layout.fold * layout.kt; // texels of each texture row that the matrix fills
  const rowBytes = used * 16;
  const whole = Math.floor(bytes.byteLength / rowBytes);
  const write = (data: Uint8Array, y: number, height: number) =>
    gpu.device.queue.writeTexture({ texture, origin: [0, y] }, data as Uint8Array<ArrayBuffer>, {
      bytesPerRow: rowBytes,
    }, [used, height]);
  if (whole > 0) write(bytes.subarray(0, whole * rowBytes), 0, whole);
  if (whole * rowBytes < bytes.byteLength) {
    const last = new Uint8Array(rowBytes);
    last.set(bytes.subarray(whole * rowBytes));
    write(last, whole, 1);
  }
  return held;
}

/**
 * A weight matrix on the GPU, row-major as the checkpoint stores it (torch's [out, in]), in a storage buffer or
 * (CPU adapters) a texture.
 */
export interface WeightMatrix {
  /** Its values in `format` (null when held as texels). */
  buffer: GPUBuffer | null;
  /** The same bytes as a texture (CPU adapters; null in a buffer). */
  texels: TexelMatrix | null;
  /** How the values are stored (widened to f32 as they are read). */
  format: WeightFormat;
  /** Out features (N). */
  rows: number;
  /** In features (K). */
  cols: number;
}

/** Bytes of a weight matrix of `rows` × `cols` stored as `format`. */
function matrixBytes(format: WeightFormat, rows: number, cols: number): number {
  return rows * cols * (format === "f32" ? 4 : 2);
}

/** A uniform parameter: a u32 (a number) or an f32. */
export type Word = number | { f32: number };

/**
 * A storage buffer (or, with `texture`, a texture) a kernel binds: its WGSL element type, how it is accessed, and
 * the bytes it must hold.
 */
export interface Operand<S> {
  /** A texture, of this WGSL type, instead of a storage buffer (its element then names the texel's values). */
  texture?:
    | "texture_storage_2d<rgba32float, read>"
    | "texture_storage_2d<rgba32uint, read>"
    | "texture_storage_2d<rgba32float, write>";
  /** The WGSL type of one element of its `array<...>` (a loader's Raw4, `Partial`, `vec4<f32>`, ...). */
  element: string;
  /** `read_write` where the kernel writes it. */
  access: "read" | "read_write";
  /** Bytes the kernel may reach for shape `s` (0 where this use of the kernel does not read it). */
  bytes: (s: S) => number;
  /** May be left out (null or absent): a placeholder is bound, which the shader does not read in that use. */
  optional?: true;
}

/** What a kernel binds: a storage buffer, or a texture for a texture operand. */
export type Bound = GPUBuffer | GPUTexture;

/** The buffers a kernel's encode call takes, by operand name; optional ones may be null or left out. */
export type OperandBuffers<T> =
  & {
    [K in keyof T as T[K] extends { optional: true } ? never : K]: T[K] extends { texture: string }
      ? GPUTexture
      : GPUBuffer;
  }
  & { [K in keyof T as T[K] extends { optional: true } ? K : never]?: GPUBuffer | null };

/** Bytes a bound buffer or texture holds (textures here have 16-byte texels). */
function boundBytes(b: Bound): number {
  return "createView" in b ? b.width * b.height * 16 : b.size;
}

/** WGSL names are the operand names in snake_case (slotOf → slot_of). */
function wgslName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * A kernel's one declaration: its uniform parameters (binding 0, `p`) and its operands (bindings 1.. in the
 * order declared). The WGSL for both is generated from it; shaders use the operands by their WGSL names. S is
 * the kernel's shape: its parameters' values and what else sizes its operands.
 */
export class KernelLayout<S, T extends Record<string, Operand<S>>> {
  /** `struct Params`, its binding `p` and each operand's binding, as generated code (its text is its key). */
  readonly code: GeneratedCode;
  private readonly fieldNames: string[];
  private readonly f32: boolean[];
  private readonly names: string[];
  private readonly operands: Operand<S>[];

  /** Declares kernel `kernel`: its uniform fields (binding 0) and its operands (bindings 1.., in this order). */
  constructor(
    /** The kernel's name in messages. */
    readonly kernel: string,
    fields: Record<string, "u32" | "f32">,
    operands: T,
  ) {
    this.fieldNames = Object.keys(fields);
    this.f32 = this.fieldNames.map((f) => fields[f] === "f32");
    this.names = Object.keys(operands);
    this.operands = this.names.map((n) => operands[n]);
    const lines = Object.entries(fields).map(([name, type]) => `  ${name}: ${type},`);
    const bindings = this.names.map((name, i) => {
      const o = this.operands[i];
      return o.texture
        ? `@group(0) @binding(${i + 1}) var ${wgslName(name)}: ${o.texture};`
        : `@group(0) @binding(${i + 1}) var<storage, ${o.access}> ${wgslName(name)}: array<${o.element}>;`;
    });
    const wgsl = [
      `struct Params {\n${lines.join("\n")}\n}`,
      "@group(0) @binding(0) var<uniform> p: Params;",
      ...bindings,
    ].join("\n");
    this.code = { key: wgsl, wgsl: () => wgsl };
  }

  /** The uniform's words: the parameters' values in declared order. */
  words(s: S): Word[] {
    const values = s as Record<string, number>;
    return this.fieldNames.map((name, i) => this.f32[i] ? { f32: values[name] } : values[name]);
  }

  /**
   * The buffers in binding order (undefined: an optional operand left out). Every declared operand must be
   * given unless optional, and no other name: checked on every call (a few compares per operand).
   */
  list(given: OperandBuffers<T>): (Bound | undefined)[] {
    const byName = given as Record<string, Bound | null | undefined>;
    const list: (Bound | undefined)[] = [];
    let found = 0;
    for (let i = 0; i < this.names.length; i++) {
      const b = byName[this.names[i]] ?? undefined;
      if (b === undefined && !this.operands[i].optional) {
        throw new EngramError(
          `internal: kernel ${this.kernel} was given no buffer for its operand ${
            this.names[i]
          } (its operands: ${this.names.join(", ")})`,
        );
      }
      if (b !== undefined) found++;
      list.push(b);
    }
    let count = 0;
    for (const name in byName) if (byName[name] != null) count++;
    if (count !== found) {
      const unknown = Object.keys(byName).filter((n) => byName[n] != null && !this.names.includes(n));
      throw new EngramError(
        `internal: kernel ${this.kernel} has no operand ${unknown.join(", ")} (its operands: ${
          this.names.join(", ")
        })`,
      );
    }
    return list;
  }

  /**
   * Throws where a buffer is shorter than the bytes its operand reaches for shape `s`, or a written operand's
   * buffer is also bound as another operand (WebGPU would refuse the dispatch later, asynchronously). Run when
   * a kernel is built: its cache key holds the shape and the buffers, whose sizes never change.
   */
  check(s: S, list: (Bound | undefined)[]): void {
    for (let i = 0; i < list.length; i++) {
      const b = list[i];
      if (!b) continue;
      const need = this.operands[i].bytes(s);
      if (boundBytes(b) < need || ("createView" in b) !== !!this.operands[i].texture) {
        throw new EngramError(
          `internal: kernel ${this.kernel}'s operand ${this.names[i]} needs ${need} bytes${
            this.operands[i].texture ? " as a texture" : ""
          }, but its ${"createView" in b ? "texture" : "buffer"} "${b.label}" holds ${boundBytes(b)}`,
        );
      }
      if (this.operands[i].access !== "read_write") continue;
      const j = list.findIndex((o, j) => o === b && j !== i);
      if (j >= 0) {
        throw new EngramError(
          `internal: kernel ${this.kernel} writes its operand ${
            this.names[i]
          }, whose buffer "${b.label}" is ` +
            `also bound as ${this.names[j]}`,
        );
      }
    }
  }
}

/**
 * Declares a kernel (see KernelLayout): the shape is its parameters' values (`fields`: name → WGSL type) and
 * the extra values X that size its operands.
 */
function layout<X>() {
  return <F extends string, T extends Record<string, Operand<Record<F, number> & X>>>(
    kernel: string,
    fields: Record<F, "u32" | "f32">,
    operands: T,
  ) => new KernelLayout<Record<F, number> & X, T>(kernel, fields, operands);
}

const u32 = 4, f32 = 4;

// Shared field meanings: n = new positions per pass row, t0 = position of the first new token, row_base = first
// entry of slot_of this pass uses (pass row b is slot slot_of[row_base + b]), seq_len = row stride of tokens.
// Shared extras: rows = pass rows, slots = slots the slot-indexed buffers hold (slot_of's values are below it),
// weightBytes = the weight matrix's bytes as stored.
const EMBED = layout<{ rows: number; slots: number; weightBytes: number }>()("embed", {
  tokens: "u32", // tokens in this pass = rows * n
  n: "u32",
  t0: "u32",
  seq_len: "u32",
  row_base: "u32",
  h4: "u32", // hidden_size / 4
}, {
  weights: { element: "Raw4", access: "read", bytes: (s) => s.weightBytes }, // [vocab, h], a weights_* loader
  tokens: { element: "u32", access: "read", bytes: (s) => s.slots * s.seq_len * u32 }, // [slots, seq_len]
  slotOf: { element: "u32", access: "read", bytes: (s) => (s.row_base + s.rows) * u32 },
  x: { element: "vec4<f32>", access: "read_write", bytes: (s) => s.tokens * s.h4 * 4 * f32 }, // [tokens, h]
});

/** Input rows a row selection reaches: output row r reads (r / per) * stride + offset + r % per. */
function selectedInputRows(s: { rows: number; per: number; stride: number; offset: number }): number {
  if (s.rows === 0) return 0;
  const block = Math.floor((s.rows - 1) / s.per);
  // The last row, or the last of the previous block of `per` (a later one when stride < per).
  const last = block * s.stride + s.offset + (s.rows - 1) % s.per;
  return 1 + (block > 0 ? Math.max(last, (block - 1) * s.stride + s.offset + s.per - 1) : last);
}

const LAYERNORM = layout<unknown>()("layernorm", {
  rows: "u32",
  per: "u32", // output row r reads input row (r / per) * stride + offset + r % per
  stride: "u32",
  offset: "u32",
  h: "u32",
  eps: "f32",
}, {
  x: { element: "f32", access: "read", bytes: (s) => selectedInputRows(s) * s.h * f32 }, // [in_rows, h]
  gamma: { element: "f32", access: "read", bytes: (s) => s.h * f32 },
  beta: { element: "f32", access: "read", bytes: (s) => s.h * f32 },
  y: { element: "f32", access: "read_write", bytes: (s) => s.rows * s.h * f32 }, // [rows, h]
  // With PAIR: a second norm of the same rows from the same statistics (the parallel residual's ln2).
  gamma2: { element: "f32", access: "read", bytes: (s) => s.h * f32, optional: true },
  beta2: { element: "f32", access: "read", bytes: (s) => s.h * f32, optional: true },
  y2: { element: "f32", access: "read_write", bytes: (s) => s.rows * s.h * f32, optional: true },
});

const MATMUL = layout<{ weightBytes: number }>()("matmul", { m: "u32", n: "u32", k: "u32" }, {
  weights: { element: "Raw4", access: "read", bytes: (s) => s.weightBytes }, // W [N, K]
  x: { element: "vec4<f32>", access: "read", bytes: (s) => s.m * s.k * f32 }, // X [M, K]
  bias: { element: "f32", access: "read", bytes: (s) => s.n * f32, optional: true }, // [N]
  y: { element: "f32", access: "read_write", bytes: (s) => s.m * s.n * f32 }, // Y [M, N]
});

// The texel family's matmul: W and X as textures in their layouts (engine/tiles.ts): w_fold, w_pitch, x_fold,
// x_pitch, and w_kt texels a row of W (X's rows take one texel for W's one, or two where W's hold 8 values of k).
const texelFields = {
  m: "u32",
  n: "u32",
  k: "u32",
  w_fold: "u32",
  w_kt: "u32",
  w_pitch: "u32",
  x_fold: "u32",
  x_pitch: "u32",
} as const;
const texelBytes = (fold: number, pitch: number, rows: number) => Math.ceil(rows / fold) * fold * pitch * 16;
type TexelShape = Record<keyof typeof texelFields, number>;
/** W [N, K] (rgba32uint, the stored bytes) and X [M, K] (rgba32float) of a texel tile. */
const texelInputs = {
  weights: {
    element: "vec4<u32>",
    texture: "texture_storage_2d<rgba32uint, read>",
    access: "read",
    bytes: (s: TexelShape) => texelBytes(s.w_fold, s.w_pitch, s.n),
  },
  x: {
    element: "vec4<f32>",
    texture: "texture_storage_2d<rgba32float, read>",
    access: "read",
    bytes: (s: TexelShape) => texelBytes(s.x_fold, s.x_pitch, s.m),
  },
} as const;

const MATMUL_TEXEL = layout<unknown>()("matmul", texelFields, {
  ...texelInputs,
  bias: { element: "f32", access: "read", bytes: (s) => s.n * f32, optional: true }, // [N]
  y: { element: "f32", access: "read_write", bytes: (s) => s.m * s.n * f32 }, // Y [M, N]
});

const TEXEL_STAGE = layout<unknown>()("texel_stage", { rows: "u32", kt: "u32", fold: "u32", pitch: "u32" }, {
  x: { element: "vec4<f32>", access: "read", bytes: (s) => s.rows * s.kt * 16 }, // X [rows, 4 kt]
  texels: {
    element: "vec4<f32>",
    texture: "texture_storage_2d<rgba32float, write>",
    access: "read_write",
    bytes: (s) => texelBytes(s.fold, s.pitch, s.rows),
  },
});

/** Bytes of one layer's K or V cache: [slots, heads, max_t, hs] f32. */
const kvBytes = (s: { slots: number; heads: number; max_t: number; hs: number }) =>
  s.slots * s.heads * s.max_t * s.hs * f32;

const rotaryFields = {
  tokens: "u32",
  n: "u32",
  t0: "u32",
  heads: "u32",
  hs: "u32", // head size
  rot_half: "u32", // rotary dims / 2
  max_t: "u32", // positions per KV-cache slot
  row_base: "u32",
} as const;
type RotaryShape = Record<keyof typeof rotaryFields, number>;
const rotaryInputs = {
  qkv: { element: "f32", access: "read", bytes: (s: RotaryShape) => s.tokens * 3 * s.heads * s.hs * f32 }, // [tokens, 3h]
  // (cos, sin) per (position, rotary frequency), for the positions this pass reaches.
  rope: {
    element: "vec2<f32>",
    access: "read",
    bytes: (s: RotaryShape) => (s.t0 + s.n) * s.rot_half * 2 * f32,
  },
  slotOf: { element: "u32", access: "read", bytes: (s: RotaryShape) => (s.row_base + s.tokens / s.n) * u32 },
  q: { element: "f32", access: "read_write", bytes: (s: RotaryShape) => s.tokens * s.heads * s.hs * f32 }, // [tokens, h]
} as const;

const QKV_ROTARY = layout<{ slots: number }>()("qkv_rotary", rotaryFields, {
  ...rotaryInputs,
  kCache: { element: "f32", access: "read_write", bytes: kvBytes },
  vCache: { element: "f32", access: "read_write", bytes: kvBytes },
});

// The KV cache held as texels (CPU adapters): a [slots × heads × max_t, hs] f32 matrix in engine/tiles.ts's
// texel layout, packed (no spare lines: see engine/workspace.ts), kv_fold cache rows a texture row, kv_kt = hs / 4
// texels each.
const kvTexelFields = { kv_fold: "u32", kv_kt: "u32" } as const;
const kvTexelBytes = (s: { slots: number; heads: number; max_t: number; kv_fold: number; kv_kt: number }) =>
  texelBytes(s.kv_fold, s.kv_kt, s.slots * s.heads * s.max_t);
/** A KV-cache texture operand: written (qkv_rotary_texel) or read (attention_texel). */
const kvOperand = (access: "read" | "read_write") => ({
  element: "vec4<f32>",
  texture: access === "read"
    ? "texture_storage_2d<rgba32float, read>" as const
    : "texture_storage_2d<rgba32float, write>" as const,
  access,
  bytes: kvTexelBytes,
});

const QKV_ROTARY_TEXEL = layout<{ slots: number }>()("qkv_rotary", { ...rotaryFields, ...kvTexelFields }, {
  ...rotaryInputs,
  kCache: kvOperand("read_write"),
  vCache: kvOperand("read_write"),
});

const attentionFields = {
  tokens: "u32",
  n: "u32",
  t0: "u32",
  heads: "u32",
  hs: "u32",
  max_t: "u32",
  row_base: "u32",
  scale: "f32", // head_size^-0.5
} as const;
type AttentionShape = Record<keyof typeof attentionFields, number>;
const attentionIo = {
  // [tokens, h], rotated
  q: { element: "f32", access: "read", bytes: (s: AttentionShape) => s.tokens * s.heads * s.hs * f32 },
  slotOf: {
    element: "u32",
    access: "read",
    bytes: (s: AttentionShape) => (s.row_base + s.tokens / s.n) * u32,
  },
  // [tokens, h]
  out: {
    element: "f32",
    access: "read_write",
    bytes: (s: AttentionShape) => s.tokens * s.heads * s.hs * f32,
  },
} as const;

const ATTENTION = layout<{ slots: number }>()("attention", attentionFields, {
  q: attentionIo.q,
  kCache: { element: "f32", access: "read", bytes: kvBytes },
  vCache: { element: "f32", access: "read", bytes: kvBytes },
  slotOf: attentionIo.slotOf,
  out: attentionIo.out,
});

const ATTENTION_TEXEL = layout<{ slots: number }>()("attention", { ...attentionFields, ...kvTexelFields }, {
  q: attentionIo.q,
  kCache: kvOperand("read"),
  vCache: kvOperand("read"),
  slotOf: attentionIo.slotOf,
  out: attentionIo.out,
});

const UNEMBED = layout<{ slots: number; weightBytes: number; tiles: number; logprob: boolean }>()(
  "unembed_argmax",
  {
    m: "u32",
    n: "u32",
    k: "u32",
    suppress: "u32", // token id never chosen; 0xffffffff: none
    per: "u32",
    row_base: "u32",
    seq_len: "u32",
    truth_pos: "u32", // token position of the first predicted row's true next token
  },
  {
    weights: { element: "Raw4", access: "read", bytes: (s) => s.weightBytes }, // W_out [V, h]
    x: { element: "vec4<f32>", access: "read", bytes: (s) => s.m * s.k * f32 }, // X [M, h]
    // The true next tokens, read with LOGPROB only.
    tokens: { element: "u32", access: "read", bytes: (s) => s.logprob ? s.slots * s.seq_len * u32 : 0 },
    slotOf: {
      element: "u32",
      access: "read",
      bytes: (s) => s.logprob ? (s.row_base + Math.ceil(s.m / s.per)) * u32 : 0,
    },
    partials: { element: "Partial", access: "read_write", bytes: (s) => s.m * s.tiles * PARTIAL_BYTES }, // [M, tiles]
  },
);

// The unembedding with the texel family (UNEMBED's operands, W and X as textures).
const UNEMBED_TEXEL = layout<{ slots: number; tiles: number; logprob: boolean }>()(
  "unembed_argmax",
  { ...texelFields, suppress: "u32", per: "u32", row_base: "u32", seq_len: "u32", truth_pos: "u32" },
  {
    ...texelInputs,
    tokens: { element: "u32", access: "read", bytes: (s) => s.logprob ? s.slots * s.seq_len * u32 : 0 },
    slotOf: {
      element: "u32",
      access: "read",
      bytes: (s) => s.logprob ? (s.row_base + Math.ceil(s.m / s.per)) * u32 : 0,
    },
    partials: { element: "Partial", access: "read_write", bytes: (s) => s.m * s.tiles * PARTIAL_BYTES },
  },
);

const ARGMAX_REDUCE = layout<{ slots: number; feed: boolean; logprob: boolean }>()("argmax_reduce", {
  rows: "u32",
  tiles: "u32", // vocabulary tiles per row in partials
  per: "u32",
  row_base: "u32",
  seq_len: "u32",
  cont: "u32",
  pos_base: "u32",
  prompt: "u32",
}, {
  partials: { element: "Partial", access: "read", bytes: (s) => s.rows * s.tiles * PARTIAL_BYTES }, // [rows, tiles]
  slotOf: { element: "u32", access: "read", bytes: (s) => (s.row_base + Math.ceil(s.rows / s.per)) * u32 },
  // [slots, seq_len]: with FEED each argmax is written as the next step's input token.
  tokens: { element: "u32", access: "read_write", bytes: (s) => s.feed ? s.slots * s.seq_len * u32 : 0 },
  pred: { element: "u32", access: "read_write", bytes: (s) => s.slots * s.cont * u32 }, // [slots, cont]
  logprob: { element: "f32", access: "read_write", bytes: (s) => s.logprob ? s.slots * s.cont * f32 : 0 },
});

/** A staging texture the texel tiles read X from (see KernelCache.staging). */
export interface Staged {
  /** The texture. */
  texture: GPUTexture;
  /** Its layout. */
  layout: TexelLayout;
  /** Whether X's rows are copied in (one a texture row), else written by the staging kernel. */
  copied: boolean;
}

/** The kernels of one workspace, built once per parameters and buffers, with the uniforms they read. */
export class KernelCache {
  private readonly kernels = new Map<string, Kernel>();
  private readonly uniforms = new Map<string, GPUBuffer>();
  private readonly variants = new Map<string, TileVariant>();
  private readonly textures = new Map<string, Staged>();
  /** Every staging texture made, the current ones and those replaced by larger ones: destroyed with the cache. */
  private readonly stagingMade: GPUTexture[] = [];
  /**
   * Names of the tile variants of the kernels this cache built (for provenance and bench): what ran, not what
   * the tuning would pick for the full batch (kernels are built where they are encoded, so each one built ran).
   */
  readonly used: Set<string> = new Set();
  /**
   * Bound where a shader declares a buffer this use of it does not need (auto layouts keep every binding); a
   * dispatch's unused bindings each get their own, since one buffer cannot be both read and written by it.
   */
  private readonly dummies: GPUBuffer[] = [];
  /**
   * The side, in texels, of the staging textures' layout (the adapter's limit; tests lower it, so that rows fold
   * as they do only past 16384 texels).
   */
  texelDim: number;
  /** An empty cache of kernels on `gpu`, whose matmuls run the tile variants `tuning` picks. */
  constructor(readonly gpu: Gpu, readonly tuning: Tuning) {
    this.texelDim = gpu.device.limits.maxTextureDimension2D;
  }

  /**
   * The kernel `name` of `layout` for shape `s` on `buffers` (by operand name): their names are checked on
   * every call; the first time, their sizes too, and then `build` gives the pipeline and the dispatch size.
   */
  get<S, T extends Record<string, Operand<S>>>(
    layout: KernelLayout<S, T>,
    name: string,
    s: S,
    buffers: OperandBuffers<T>,
    build: () => { pipeline: GPUComputePipeline; workgroups: [number, number, number] },
  ): Kernel {
    const list = layout.list(buffers);
    let key = `${name}:${JSON.stringify(s)}:`;
    for (const b of list) key += b ? `${this.gpu.id(b)},` : "-,";
    let k = this.kernels.get(key);
    if (!k) {
      layout.check(s, list);
      const { pipeline, workgroups } = build();
      k = { pipeline, bindGroup: this.bind(pipeline, [this.uniform(layout.words(s)), ...list]), workgroups };
      this.kernels.set(key, k);
    }
    return k;
  }

  /**
   * The tile variant for a matmul of `m` rows by `w`: the cache's tuning decides (see engine/tuning.ts), within
   * the family that reads where `w` is held.
   */
  variant(kernel: TileKernel, w: WeightMatrix, m: number): TileVariant {
    const family: TileFamily = w.texels ? "texel" : this.gpu.cpuKernels ? "direct" : "tiled";
    const key = `${kernel}:${w.format}:${family}:${m}:${w.rows}:${w.cols}`;
    let v = this.variants.get(key);
    if (!v) {
      v = this.tuning.pick(this.gpu, kernel, w.format, m, w.rows, w.cols, family);
      this.variants.set(key, v);
    }
    return v;
  }

  /**
   * The rgba32float texture the texel tiles read `rows` rows of a K = `k` activation from, its layout, and how
   * it is filled: one per k and way, made on first use and replaced by a larger one (twice the rows) when a
   * pass needs more; replaced ones are kept until destroy, since kernels encoded but not yet submitted may still
   * bind them. Where a row of k f32 is a whole number of 256-byte steps (a copy's rule) and the rows fit one a
   * texture row, the buffer's rows are copied in (lavapipe copies at 16-43 GB/s); otherwise the staging kernel
   * writes them, folded (1-2.5 GB/s: its loads from a storage buffer go one lane and one value at a time).
   */
  staging(k: number, rows: number): Staged {
    const max = this.texelDim;
    const unfolded = (k * f32) % 256 === 0 ? texelLayout(rows, k, "f32", max, { folded: false }) : null;
    const copied = unfolded !== null;
    const need = unfolded ?? texelLayout(rows, k, "f32", max);
    if (!need) {
      throw new EngramError(`internal: ${rows} rows of ${k} activations do not fit a ${max}-texel texture`);
    }
    const key = `${k}:${copied ? "copied" : "staged"}`;
    const have = this.textures.get(key);
    if (have && have.layout.height >= need.height) return have;
    const more = Math.max(rows, 2 * (have ? have.layout.height * have.layout.fold : 0));
    const layout = texelLayout(more, k, "f32", max, { folded: !copied }) ?? need;
    const usage = copied ? GPUTextureUsage.COPY_DST : 0;
    const { texture } = texelTexture(this.gpu, layout, "rgba32float", `x texels k=${k}`, usage);
    const staged = { texture, layout, copied };
    this.textures.set(key, staged);
    this.stagingMade.push(texture);
    return staged;
  }

  /** A uniform buffer holding `words` (u32, or f32 where given as {f32}). */
  uniform(words: Word[]): GPUBuffer {
    // Every layer dispatches with the same parameters: one buffer per distinct content serves them all.
    const key = JSON.stringify(words);
    const known = this.uniforms.get(key);
    if (known) return known;
    const data = new ArrayBuffer(Math.ceil(words.length / 4) * 16);
    const view = new DataView(data);
    words.forEach((w, i) => {
      if (typeof w === "number") view.setUint32(i * 4, w >>> 0, true);
      else view.setFloat32(i * 4, w.f32, true);
    });
    const buf = this.gpu.buffer(data.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, "params");
    this.gpu.device.queue.writeBuffer(buf, 0, data);
    this.uniforms.set(key, buf);
    return buf;
  }

  /** Frees the uniform and placeholder buffers and the staging textures (pipelines stay cached on the Gpu). */
  destroy(): void {
    for (const b of [...this.uniforms.values(), ...this.dummies, ...this.stagingMade]) b.destroy();
    this.uniforms.clear();
    this.textures.clear();
    this.stagingMade.length = 0;
    this.kernels.clear();
  }

  /** A bind group of `entries` in binding order (params first); undefined entries get placeholders. */
  private bind(pipeline: GPUComputePipeline, entries: (Bound | undefined)[]): GPUBindGroup {
    let unused = 0;
    const dummy = () => (this.dummies[unused++] ??= this.gpu.storage(16, "unused binding"));
    return this.gpu.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: entries.map((b, binding) => ({
        binding,
        resource: b && "createView" in b ? b.createView() : { buffer: b ?? dummy() },
      })),
    });
  }
}

/** Where a pass's rows live: row b of the pass uses KV/token slot slot_of[rowBase + b]. */
export interface PassShape {
  /** Sequences in this pass. */
  rows: number;
  /** New positions per sequence. */
  n: number;
  /** Position of the first new token. */
  t0: number;
  /** The first entry of slot_of this pass reads. */
  rowBase: number;
  /** Slots the token rows and KV caches hold (slot_of's values are below it). */
  slots: number;
}

/** The token embeddings of a pass's new positions into `x`. */
export function embedKernel(
  c: KernelCache,
  embedIn: WeightMatrix,
  pass: PassShape,
  seqLen: number,
  bufs: { tokens: GPUBuffer; slotOf: GPUBuffer; x: GPUBuffer },
): Kernel {
  const s = {
    tokens: pass.rows * pass.n,
    n: pass.n,
    t0: pass.t0,
    seq_len: seqLen,
    row_base: pass.rowBase,
    h4: embedIn.cols / 4,
    rows: pass.rows,
    slots: pass.slots,
    weightBytes: matrixBytes(embedIn.format, embedIn.rows, embedIn.cols),
  };
  if (!embedIn.buffer) throw new EngramError("internal: the embedding kernel reads embed_in from a buffer");
  return c.get(EMBED, "embed", s, { weights: embedIn.buffer, ...bufs }, () => ({
    pipeline: c.gpu.pipeline("embed", {
      parts: [`lib/weights_${embedIn.format}`, "lib/weights_buffer"],
      code: EMBED.code,
    }),
    workgroups: grid(Math.ceil(s.tokens * s.h4 / 256), c.gpu.limits.maxWorkgroups),
  }));
}

/** Output row r normalizes input row (r / per) * stride + offset + r % per (see layernorm.wgsl). */
export interface RowSelection {
  /** Output rows. */
  rows: number;
  /** Consecutive output rows taken from each group of input rows. */
  per: number;
  /** Input rows from one group to the next. */
  stride: number;
  /** The first input row taken in a group. */
  offset: number;
}

/** Rows 0 .. rows - 1, in order. */
export function allRows(rows: number): RowSelection {
  return { rows, per: 1, stride: 1, offset: 0 };
}

/** The buffers of a LayerNorm: input x, weights gamma and beta, output y; with gamma2, beta2, y2 a second norm. */
export interface NormBuffers {
  /** The input rows [in_rows, h]. */
  x: GPUBuffer;
  /** The scale [h]. */
  gamma: GPUBuffer;
  /** The shift [h]. */
  beta: GPUBuffer;
  /** The normalized rows [rows, h]. */
  y: GPUBuffer;
  /** The second norm's scale (all three of gamma2, beta2, y2, or none). */
  gamma2?: GPUBuffer | null;
  /** The second norm's shift. */
  beta2?: GPUBuffer | null;
  /** The second norm's rows. */
  y2?: GPUBuffer | null;
}

/** LayerNorm of the selected rows of x into y, and with gamma2, beta2, y2 a second norm from the same statistics. */
export function layerNormKernel(
  c: KernelCache,
  sel: RowSelection,
  h: number,
  eps: number,
  bufs: NormBuffers,
): Kernel {
  const s = { rows: sel.rows, per: sel.per, stride: sel.stride, offset: sel.offset, h, eps };
  const pair = !!bufs.y2;
  // With PAIR the shader reads all three: a placeholder for one of them would give a wrong norm silently.
  if (pair !== !!bufs.gamma2 || pair !== !!bufs.beta2) {
    throw new EngramError("internal: kernel layernorm's second norm needs all of gamma2, beta2 and y2");
  }
  return c.get(LAYERNORM, "layernorm", s, bufs, () => {
    // CPU adapters: one invocation per row (barriers cost more than the math there).
    const serial = c.gpu.cpuKernels;
    return {
      pipeline: c.gpu.pipeline(serial ? "layernorm_serial" : "layernorm", {
        consts: { PAIR: pair ? 1 : 0 },
        parts: ["lib/layernorm_io"],
        code: LAYERNORM.code,
      }),
      workgroups: grid(serial ? Math.ceil(sel.rows / 64) : sel.rows, c.gpu.limits.maxWorkgroups),
    };
  });
}

/** What a matmul does with its result: stores it, stores its GELU, or adds it to y. */
export type Epilogue = "store" | "gelu" | "accumulate";
const EPILOGUES: Record<Epilogue, number> = { store: 0, gelu: 1, accumulate: 2 };

/**
 * The pipeline of a tile kernel (matmul or unembedding) for `variant` on weights of `format`, for a kernel
 * being built: the variant is recorded in `c.used`.
 */
function tilePipeline(
  c: KernelCache,
  kernel: TileKernel,
  variant: TileVariant,
  format: WeightFormat,
  consts: Record<string, number>,
): GPUComputePipeline {
  c.used.add(variantName(variant));
  const shader = kernel === "matmul" ? "matmul" : "unembed_argmax";
  const texel = variant.family === "texel";
  const declared = texel
    ? (kernel === "matmul" ? MATMUL_TEXEL : UNEMBED_TEXEL).code
    : (kernel === "matmul" ? MATMUL : UNEMBED).code;
  // Texel tiles read textures: the storage-buffer loads of lib/weights_buffer and lib/matmul_tile are left out.
  const parts = texel
    ? [`lib/weights_${format}`]
    : [`lib/weights_${format}`, "lib/weights_buffer", "lib/matmul_tile"];
  if (kernel === "unembed") parts.push("lib/argmax_partial");
  // The declaration follows from the kernel, so the variant, format and kernel name the generated text.
  const code = {
    key: `${declared.key}\n${variantName(variant)} ${format} ${kernel}`,
    wgsl: () => `${declared.wgsl()}\n${tileSource(variant, format, kernel)}`,
  };
  return c.gpu.pipeline(shader, { consts, parts, code });
}

/** y[m, :] (=|+=) act(x[m, :] . W^T + bias) for m < rows; no bias: left out or null. */
export function matmulKernel(
  c: KernelCache,
  rows: number,
  w: WeightMatrix,
  bufs: { x: GPUBuffer; bias?: GPUBuffer | null; y: GPUBuffer },
  epilogue: Epilogue,
  variant: TileVariant = c.variant("matmul", w, rows),
): Kernel {
  const name = `matmul-${epilogue}-${variantName(variant)}`;
  const build = () => ({
    pipeline: tilePipeline(c, "matmul", variant, w.format, {
      EPILOGUE: EPILOGUES[epilogue],
      HAS_BIAS: bufs.bias ? 1 : 0,
    }),
    workgroups: [Math.ceil(w.rows / variant.bn), Math.ceil(rows / variant.bm), 1] as [number, number, number],
  });
  if (variant.family === "texel") {
    const { texels, x } = texelOperands(c, w, rows, bufs.x);
    const s = { m: rows, n: w.rows, k: w.cols, ...texels };
    const kernel = c.get(MATMUL_TEXEL, name, s, { ...bufs, weights: w.texels!.texture, x: x.texture }, build);
    return { ...kernel, ...x.fill };
  }
  if (!w.buffer) {
    throw new EngramError(`internal: variant ${variantName(variant)} reads weights from a buffer`);
  }
  const s = { m: rows, n: w.rows, k: w.cols, weightBytes: matrixBytes(w.format, w.rows, w.cols) };
  return c.get(MATMUL, name, s, { ...bufs, weights: w.buffer }, build);
}

/**
 * What a texel tile needs besides its own operands: W's and X's layouts (uniform fields), and X's staging
 * texture with what fills it from `x` (`rows` rows) before the tile runs: a copy, or the staging kernel.
 */
function texelOperands(
  c: KernelCache,
  w: WeightMatrix,
  rows: number,
  x: GPUBuffer,
): {
  texels: Record<"w_fold" | "w_kt" | "w_pitch" | "x_fold" | "x_pitch", number>;
  x: { texture: GPUTexture; fill: Pick<Kernel, "before" | "copy"> };
} {
  if (!w.texels) throw new EngramError("internal: a texel tile variant needs its weights held as texels");
  const staged = c.staging(w.cols, rows);
  const { fold, kt, pitch } = staged.layout;
  const texels = {
    w_fold: w.texels.fold,
    w_kt: w.texels.kt,
    w_pitch: w.texels.pitch,
    x_fold: fold,
    x_pitch: pitch,
  };
  if (staged.copied) {
    const copy = { buffer: x, bytesPerRow: kt * 16, texture: staged.texture, width: kt, height: rows };
    return { texels, x: { texture: staged.texture, fill: { copy } } };
  }
  const stage = c.get(
    TEXEL_STAGE,
    "texel_stage",
    { rows, kt, fold, pitch },
    { x, texels: staged.texture },
    () => ({
      pipeline: c.gpu.pipeline("texel_stage", { code: TEXEL_STAGE.code }),
      workgroups: grid(Math.ceil(rows * kt / 64), c.gpu.limits.maxWorkgroups),
    }),
  );
  return { texels, x: { texture: staged.texture, fill: { before: stage } } };
}

/** The attention's sizes. */
export interface AttentionDims {
  /** Attention heads. */
  heads: number;
  /** Dimensions per head. */
  headSize: number;
  /** Half the rotary dimensions of a head. */
  rotHalf: number;
  /** Positions a sequence may reach (the KV cache's length). */
  maxT: number;
}

/**
 * One layer's K or V cache, [slots, heads, max_t, hs] f32: a storage buffer, or (CPU kernels holding texels)
 * a texture of cache rows (slot, head, position), whose loads cost llvmpipe far less.
 */
export type KvCache = GPUBuffer | TexelMatrix;

/**
 * A layer's K and V caches as its kernels bind them: textures with their layout's parameters, or null where both
 * are buffers (a workspace makes both alike; a mixed pair is an internal error).
 */
function kvBinding(
  kCache: KvCache,
  vCache: KvCache,
):
  | {
    textures: { kCache: GPUTexture; vCache: GPUTexture };
    fields: { kv_fold: number; kv_kt: number };
  }
  | null {
  if ("texture" in kCache !== "texture" in vCache) {
    throw new EngramError("internal: K and V caches differ in kind");
  }
  if (!("texture" in kCache) || !("texture" in vCache)) return null;
  // The KV shaders address rows kv_kt texels apart: the workspace makes the caches without spare lines.
  if (kCache.pitch !== kCache.kt) throw new EngramError("internal: KV caches held with spare lines");
  return {
    textures: { kCache: kCache.texture, vCache: vCache.texture },
    fields: { kv_fold: kCache.fold, kv_kt: kCache.kt },
  };
}

/** Splits a pass's fused qkv projection: q and k rotated, q into `q`, k and v appended to the KV cache. */
export function qkvRotaryKernel(
  c: KernelCache,
  pass: PassShape,
  dims: AttentionDims,
  bufs: {
    qkv: GPUBuffer;
    rope: GPUBuffer;
    slotOf: GPUBuffer;
    q: GPUBuffer;
    kCache: KvCache;
    vCache: KvCache;
  },
): Kernel {
  const s = {
    tokens: pass.rows * pass.n,
    n: pass.n,
    t0: pass.t0,
    heads: dims.heads,
    hs: dims.headSize,
    rot_half: dims.rotHalf,
    max_t: dims.maxT,
    row_base: pass.rowBase,
    slots: pass.slots,
  };
  const texels = kvBinding(bufs.kCache, bufs.vCache);
  if (texels) {
    const t = { ...s, ...texels.fields };
    return c.get(QKV_ROTARY_TEXEL, "qkv_rotary_texel", t, { ...bufs, ...texels.textures }, () => ({
      pipeline: c.gpu.pipeline("qkv_rotary_texel", { parts: ["lib/rotary"], code: QKV_ROTARY_TEXEL.code }),
      workgroups: grid(Math.ceil(s.tokens * dims.heads * t.kv_kt / 256), c.gpu.limits.maxWorkgroups),
    }));
  }
  const buffers = bufs as typeof bufs & { kCache: GPUBuffer; vCache: GPUBuffer };
  return c.get(QKV_ROTARY, "qkv_rotary", s, buffers, () => ({
    pipeline: c.gpu.pipeline("qkv_rotary", { parts: ["lib/rotary"], code: QKV_ROTARY.code }),
    workgroups: grid(Math.ceil(s.tokens * dims.heads * dims.headSize / 256), c.gpu.limits.maxWorkgroups),
  }));
}

/** Causal attention of a pass's queries over its sequences' KV caches into `out`. */
export function attentionKernel(
  c: KernelCache,
  pass: PassShape,
  dims: AttentionDims,
  bufs: { q: GPUBuffer; kCache: KvCache; vCache: KvCache; slotOf: GPUBuffer; out: GPUBuffer },
): Kernel {
  const s = {
    tokens: pass.rows * pass.n,
    n: pass.n,
    t0: pass.t0,
    heads: dims.heads,
    hs: dims.headSize,
    max_t: dims.maxT,
    row_base: pass.rowBase,
    scale: dims.headSize ** -0.5,
    slots: pass.slots,
  };
  // Workgroup arrays are sized by constants: round up so few pipelines cover all shapes.
  const consts = { MAX_T: Math.ceil(dims.maxT / 64) * 64, MAX_HS: Math.ceil(dims.headSize / 64) * 64 };
  const texels = kvBinding(bufs.kCache, bufs.vCache);
  if (texels) {
    const t = { ...s, ...texels.fields };
    return c.get(ATTENTION_TEXEL, "attention_texel", t, { ...bufs, ...texels.textures }, () => ({
      pipeline: c.gpu.pipeline("attention_texel", {
        consts: { MAX_T: consts.MAX_T, MAX_HS4: consts.MAX_HS / 4 },
        parts: ["lib/softmax_serial"],
        code: ATTENTION_TEXEL.code,
      }),
      workgroups: grid(Math.ceil(s.tokens * dims.heads / 64), c.gpu.limits.maxWorkgroups),
    }));
  }
  const buffers = bufs as typeof bufs & { kCache: GPUBuffer; vCache: GPUBuffer };
  return c.get(ATTENTION, "attention", s, buffers, () => {
    // CPU adapters: one invocation per (token, head) (barriers cost more than the math there).
    const serial = c.gpu.cpuKernels;
    return {
      pipeline: c.gpu.pipeline(serial ? "attention_serial" : "attention", {
        consts,
        parts: serial ? ["lib/softmax_serial"] : [],
        code: ATTENTION.code,
      }),
      workgroups: grid(
        serial ? Math.ceil(s.tokens * dims.heads / 64) : s.tokens * dims.heads,
        c.gpu.limits.maxWorkgroups,
      ),
    };
  });
}

/** Which continuation positions an unembedding pass predicts, and where their true tokens are. */
export interface UnembedTarget {
  /** Unembedding rows: pass rows × per. */
  rows: number;
  /** Predicted positions per pass row. */
  per: number;
  /** The first entry of slot_of the pass reads. */
  rowBase: number;
  /** Continuation index of the first predicted position. */
  posBase: number;
  /** Prompt length: continuation index c lives at token position prompt + c. */
  prompt: number;
  /** Positions of a sequence (the token rows' stride). */
  seqLen: number;
  /** Continuation length (the pred and logprob rows' stride). */
  cont: number;
  /** Slots the token rows, pred and logprob hold (slot_of's values are below it). */
  slots: number;
  /** A token id the argmax never picks; null: none. */
  suppress: number | null;
  /** Write the argmax into the tokens (greedy decoding). */
  feed: boolean;
  /** Compute the true token's log-probability. */
  logprob: boolean;
}

/**
 * `rows` rows of x, one prediction each (pred[r] = argmax of row r, slot_of the identity), nothing fed back:
 * for timing and tests.
 */
export function singleTarget(rows: number, suppress: number | null = null): UnembedTarget {
  return {
    rows,
    per: 1,
    rowBase: 0,
    posBase: 0,
    prompt: 0,
    seqLen: 1,
    cont: 1,
    slots: rows,
    suppress,
    feed: false,
    logprob: false,
  };
}

/** The unembedding's kernel, and how many vocabulary tiles (partials per row) it writes. */
export function unembedArgmaxKernel(
  c: KernelCache,
  t: UnembedTarget,
  w: WeightMatrix,
  bufs: { x: GPUBuffer; tokens: GPUBuffer; slotOf: GPUBuffer; partials: GPUBuffer },
  // The log-sum-exp's order depends on the vocabulary tile's layout: --logprob keeps the reference variant.
  variant: TileVariant = t.logprob
    ? REFERENCE[w.texels ? "texel" : c.gpu.cpuKernels ? "direct" : "tiled"]
    : c.variant("unembed", w, t.rows),
): Kernel & { tiles: number } {
  const tiles = Math.ceil(w.rows / variant.bn);
  const common = {
    m: t.rows,
    n: w.rows,
    k: w.cols,
    suppress: t.suppress ?? 0xffffffff,
    per: t.per,
    row_base: t.rowBase,
    seq_len: t.seqLen,
    truth_pos: t.prompt + t.posBase,
    slots: t.slots,
    tiles,
    logprob: t.logprob,
  };
  const name = `unembed_argmax-${t.logprob}-${variantName(variant)}`;
  const build = () => ({
    pipeline: tilePipeline(c, "unembed", variant, w.format, { LOGPROB: t.logprob ? 1 : 0 }),
    workgroups: [tiles, Math.ceil(t.rows / variant.bm), 1] as [number, number, number],
  });
  if (variant.family === "texel") {
    const { texels, x } = texelOperands(c, w, t.rows, bufs.x);
    const s = { ...common, ...texels };
    const kernel = c.get(
      UNEMBED_TEXEL,
      name,
      s,
      { ...bufs, weights: w.texels!.texture, x: x.texture },
      build,
    );
    return { ...kernel, ...x.fill, tiles };
  }
  if (!w.buffer) {
    throw new EngramError(`internal: variant ${variantName(variant)} reads weights from a buffer`);
  }
  const s = { ...common, weightBytes: matrixBytes(w.format, w.rows, w.cols) };
  return { ...c.get(UNEMBED, name, s, { ...bufs, weights: w.buffer }, build), tiles };
}

/** The argmax (and log-probability) of each unembedding row from its vocabulary tiles' partials. */
export function argmaxReduceKernel(
  c: KernelCache,
  t: UnembedTarget,
  tiles: number,
  bufs: { partials: GPUBuffer; slotOf: GPUBuffer; tokens: GPUBuffer; pred: GPUBuffer; logprob: GPUBuffer },
): Kernel {
  const s = {
    rows: t.rows,
    tiles,
    per: t.per,
    row_base: t.rowBase,
    seq_len: t.seqLen,
    cont: t.cont,
    pos_base: t.posBase,
    prompt: t.prompt,
    slots: t.slots,
    feed: t.feed,
    logprob: t.logprob,
  };
  return c.get(ARGMAX_REDUCE, `argmax_reduce-${t.feed}-${t.logprob}`, s, bufs, () => ({
    pipeline: c.gpu.pipeline("argmax_reduce", {
      consts: { FEED: t.feed ? 1 : 0, LOGPROB: t.logprob ? 1 : 0 },
      parts: ["lib/argmax_partial"],
      code: ARGMAX_REDUCE.code,
    }),
    workgroups: grid(t.rows, c.gpu.limits.maxWorkgroups),
  }));
}
