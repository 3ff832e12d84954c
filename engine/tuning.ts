// Which matmul tile variant (engine/tiles.ts) runs each matmul shape on this adapter. Every variant gives the
// same bits, so this decides speed only. A tuning table is what `cli.ts tune` measured on one adapter: per
// shape (kernel, weight format, M, N, K) the fastest variant. Tables live in a tuning file keyed by adapter
// (description, and the driver where it can be read); engram looks, in order, at the file given with
// --tuning, the user's cache (tuningCachePath) and the tables shipped in shaders/tuning.json; without a match
// it uses defaultVariant. A shape without an entry takes the entry of the same kernel, format, N and K whose
// M is nearest (in log scale), else the default.
import { EngramError } from "../base/errors.ts";
import { writeTextAtomic } from "../base/atomic.ts";
import { parseJson } from "../base/fs.ts";
import type { Gpu } from "./gpu.ts";
import { join } from "../base/path.ts";
import {
  fits,
  parseVariant,
  REFERENCE,
  type TexelLayout,
  texelLayout,
  type TileFamily,
  type TileKernel,
  type TileVariant,
  variantName,
  type WeightFormat,
} from "./tiles.ts";

/** One measured shape and its winner. */
export interface TunedShape {
  /** The kernel whose matmul was timed. */
  kernel: TileKernel;
  /** How its weights are stored. */
  format: WeightFormat;
  /** Rows of X (tokens per pass). */
  m: number;
  /** Rows of W (output features). */
  n: number;
  /** The shared dimension (input features). */
  k: number;
  /** The fastest variant's name (`variantName`). */
  variant: string;
  /** Measured GFLOP/s of the winner, for the record. */
  gflops?: number;
  /** Measured GFLOP/s of the default variant, for the record. */
  default_gflops?: number;
}

/** What one adapter's table is keyed by. */
export interface AdapterKey {
  /** The adapter's description, e.g. "NVIDIA H200" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  adapter: string;
  /** The driver version where the system says it (NVIDIA: /sys/module/nvidia/version), else "". */
  driver: string;
}

/** What `cli.ts tune` measured on one adapter. */
export interface TuningTable extends AdapterKey {
  /** The Deno version that measured it. */
  deno: string;
  /** When it was measured (ISO 8601). */
  measured: string;
  /** Each measured shape and its fastest variant. */
  shapes: TunedShape[];
}

/** A tuning file: tables for any number of adapters. */
export interface TuningFile {
  /** The file format's version. */
  engram_tuning: 1;
  /** One table per adapter and driver. */
  tables: TuningTable[];
}

/** The shipped tables (measured on the named adapters; empty until measured). */
const SHIPPED = new URL("../shaders/tuning.json", import.meta.url);

/**
 * The layout a [rows, cols] weight matrix stored as `format` takes as texels on `gpu`, or null where it stays
 * in a storage buffer: the CPU kernels hold what fits as textures (their loads cost far less there: see
 * engine/tiles.ts) unless `gpu.texels` is off; GPUs hold buffers.
 */
export function matrixTexels(gpu: Gpu, format: WeightFormat, rows: number, cols: number): TexelLayout | null {
  if (!gpu.cpuKernels || !gpu.texels) return null;
  return texelLayout(rows, cols, format, gpu.device.limits.maxTextureDimension2D);
}

/** The tile family that runs a [rows, cols] weight matrix stored as `format` on `gpu` (see matrixTexels). */
export function matrixFamily(gpu: Gpu, format: WeightFormat, rows: number, cols: number): TileFamily {
  if (!gpu.cpuKernels) return "tiled";
  return matrixTexels(gpu, format, rows, cols) ? "texel" : "direct";
}

/** The variant of the adapter's family when nothing was measured for a shape. */
function defaultVariant(family: TileFamily, m: number, n: number): TileVariant {
  // Texel tiles: 8 x 16 outputs per thread ran pythia-70m's shapes within 5% of the best on lavapipe
  // (bench/NOTES.md); below 64 rows the 32-row tile wastes less on rows past the matrix.
  if (family === "texel") return m >= 64 ? TEXEL_LARGE : TEXEL_SMALL;
  // On lavapipe (2 cores) 8x8 outputs per thread ran the pico-3 matmuls 1.5x faster than 4x4 (scoring rows/s
  // 1.5x), and 8x16 faster again (1.1-2x on pythia-70m's shapes and most of pico-3's: llvmpipe's loads cost
  // far more than its fmas, bench/NOTES.md); below 64 rows the 32-row tile wastes less on rows past the matrix.
  if (family === "direct") return m >= 64 ? DIRECT_LARGE : DIRECT_SMALL;
  // The 128x128 tile (8x8 per thread) ran prefill at twice the 64x64 tile's rate on an H200; it needs
  // enough workgroups to fill the card (≥ 256: two per SM on 132 SMs), which a decode step at M = batch ≥ 1024
  // gives for the wide matrices.
  const tiles = Math.ceil(m / 128) * Math.ceil(n / 128);
  if (m >= 1024 && tiles >= 256) return LARGE;
  return REFERENCE.tiled;
}
const LARGE = parseVariant("t128x128k16-8x8");
const DIRECT_LARGE = parseVariant("d64x64-8x16");
const DIRECT_SMALL = parseVariant("d32x64-4x4");
/** The texel tile the CPU adapters run from 64 rows where nothing was measured. */
export const TEXEL_LARGE: TileVariant = parseVariant("x64x64-8x16");
const TEXEL_SMALL = parseVariant("x32x64-4x4");

/** Which tile variant runs each matmul shape: a tuning table, the defaults, or one forced variant. */
export class Tuning {
  private constructor(
    /** Where the table came from: "default", "--tuning FILE", "cache FILE", "shipped shaders/tuning.json". */
    readonly source: string,
    private readonly shapes: TunedShape[],
    /** Every shape runs this variant (tests and bench --variant). */
    readonly forced: TileVariant | null = null,
  ) {}

  /** No table: every shape runs `defaultVariant`. */
  static defaults(): Tuning {
    return new Tuning("default", []);
  }

  /** Every shape runs `variant` (where it fits; otherwise the pick falls back as usual). */
  static forced(variant: TileVariant): Tuning {
    return new Tuning(`forced ${variantName(variant)}`, [], variant);
  }

  /** The variants measured in `table`; `source` says where it came from (provenance records it). */
  static fromTable(source: string, table: TuningTable): Tuning {
    return new Tuning(source, table.shapes);
  }

  /**
   * The variant for a matmul of this shape on `gpu` (always one that fits its limits and `family`: by default
   * the one a [n, k] matrix of `format` runs on this adapter, matrixFamily).
   */
  pick(
    gpu: Gpu,
    kernel: TileKernel,
    format: WeightFormat,
    m: number,
    n: number,
    k: number,
    family: TileFamily = matrixFamily(gpu, format, n, k),
  ): TileVariant {
    const limits = gpu.tileLimits;
    const usable = (v: TileVariant) => fits(v, format, kernel, limits);
    if (this.forced && this.forced.family === family && usable(this.forced)) return this.forced;
    let best: TileVariant | null = null, distance = Infinity;
    for (const s of this.shapes) {
      if (s.kernel !== kernel || s.format !== format || s.n !== n || s.k !== k) continue;
      const v = parseVariant(s.variant);
      if (v.family !== family || !usable(v)) continue;
      const d = Math.abs(Math.log2(s.m) - Math.log2(m));
      if (d < distance) [best, distance] = [v, d];
    }
    if (best) return best;
    const fallback = defaultVariant(family, m, n);
    return usable(fallback) ? fallback : REFERENCE[family];
  }
}

/** Each Gpu's adapter key, worked out once (the shipped table and the command's tuning both need it). */
const adapterKeys = new WeakMap<Gpu, AdapterKey>();

/** The adapter's key for tuning tables. */
export function adapterKey(gpu: Gpu): AdapterKey {
  let key = adapterKeys.get(gpu);
  if (!key) {
    key = { adapter: gpu.summary().description, driver: driverVersion() };
    adapterKeys.set(gpu, key);
  }
  return key;
}

/** The driver's version where the system says it (NVIDIA), else "". */
function driverVersion(): string {
  // NVIDIA's kernel module states its version; other drivers are named in the adapter's description or not at all.
  for (const path of ["/sys/module/nvidia/version", "/proc/driver/nvidia/version"]) {
    try {
      const driver = /(\d+\.\d+(\.\d+)?)/.exec(Deno.readTextFileSync(path))?.[1];
      if (driver) return driver;
    } catch {
      // not this driver, or not readable
    }
  }
  return "";
}

/** Where `tune` stores tables by default: $XDG_CACHE_HOME/engram/tuning.json (or ~/.cache/...). */
export function tuningCachePath(): string | null {
  const env = (k: string) => Deno.env.get(k) || undefined;
  const base = env("XDG_CACHE_HOME") ?? (env("HOME") ? join(env("HOME")!, ".cache") : env("LOCALAPPDATA"));
  return base ? join(base, "engram", "tuning.json") : null;
}

/** Reads a tuning file; a missing file is null, a malformed one an EngramError naming it. */
export function readTuningFile(path: string | URL): TuningFile | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new EngramError(`cannot read tuning file ${path}: ${(e as Error).message}`);
  }
  const bad = (why: string): never => {
    throw new EngramError(`${path}: ${why}; delete it and rerun ./engram tune`);
  };
  const json = parseJson(text, String(path), "delete it and rerun ./engram tune") as TuningFile;
  if (json?.engram_tuning !== 1 || !Array.isArray(json.tables)) return bad("not an engram tuning file");
  for (const t of json.tables) {
    if (typeof t?.adapter !== "string" || typeof t.driver !== "string" || !Array.isArray(t.shapes)) {
      bad("a table lacks its adapter, driver or shapes");
    }
    for (const s of t.shapes) {
      const dims = [s?.m, s?.n, s?.k].every((d) => Number.isInteger(d) && d > 0);
      if (!dims || !["matmul", "unembed"].includes(s.kernel) || typeof s.variant !== "string") {
        bad(`a shape of ${t.adapter} is malformed`);
      }
      try {
        parseVariant(s.variant);
      } catch (e) {
        bad((e as Error).message);
      }
    }
  }
  return json;
}

/** The table in `file` for `key`: same adapter and driver (`anyDriver`: same adapter). */
function findTable(file: TuningFile | null, key: AdapterKey, anyDriver = false): TuningTable | null {
  return file?.tables.find((t) => t.adapter === key.adapter && (anyDriver || t.driver === key.driver)) ??
    null;
}

/** Each Gpu's shipped tuning, read once (every decoder given no tuning of its own asks for it). */
const shippedTunings = new WeakMap<Gpu, Tuning>();

/**
 * The shipped table for this adapter (any driver), or the defaults: what a decoder runs when its caller passes
 * no tuning.
 */
export function shippedTuning(gpu: Gpu): Tuning {
  let tuning = shippedTunings.get(gpu);
  if (!tuning) {
    const table = findTable(readTuningFile(SHIPPED), adapterKey(gpu), true);
    tuning = table ? Tuning.fromTable("shipped shaders/tuning.json", table) : Tuning.defaults();
    shippedTunings.set(gpu, tuning);
  }
  return tuning;
}

/**
 * The tuning a command runs on `gpu`: `file` (--tuning; it must hold a table for this adapter), else the
 * cache's table for this adapter and driver, else the shipped table (or the defaults). The caller hands it to
 * the decoders it creates (`Decoder.create`'s `tuning`).
 */
export function useTuning(gpu: Gpu, file?: string): Tuning {
  const key = adapterKey(gpu);
  if (file !== undefined) {
    const table = findTable(readTuningFile(file), key);
    if (!table) {
      throw new EngramError(
        `--tuning ${file} has no table for this adapter (${key.adapter}${
          key.driver ? `, driver ${key.driver}` : ""
        }): run ./engram tune --model DIR --tuning ${file} on this machine, or leave out --tuning`,
      );
    }
    return Tuning.fromTable(`--tuning ${file}`, table);
  }
  const cache = tuningCachePath();
  if (cache) {
    let table: TuningTable | null = null;
    try {
      table = findTable(readTuningFile(cache), key);
    } catch (e) {
      // A damaged cache must not stop a scoring run: say so once and carry on without it.
      console.error(`engram: ignoring the tuning cache: ${(e as Error).message}`);
    }
    if (table) return Tuning.fromTable(`cache ${cache}`, table);
  }
  return shippedTuning(gpu);
}

/**
 * Stores `table` in the tuning file at `path`: into the table of the same adapter and driver, whose shapes it
 * replaces where they are the same shape and keeps otherwise (tuning a second model adds its shapes).
 */
export async function saveTuningTable(path: string, table: TuningTable): Promise<void> {
  const file = readTuningFile(path) ?? { engram_tuning: 1, tables: [] };
  const same = (t: AdapterKey) => t.adapter === table.adapter && t.driver === table.driver;
  const shape = (s: TunedShape) => `${s.kernel} ${s.format} ${s.m} ${s.n} ${s.k}`;
  const replaced = new Set(table.shapes.map(shape));
  const kept = (findTable(file, table)?.shapes ?? []).filter((s) => !replaced.has(shape(s)));
  file.tables = [...file.tables.filter((t) => !same(t)), { ...table, shapes: [...kept, ...table.shapes] }];
  // Whole or not at all: a tuning file is never seen half-written.
  await writeTextAtomic(
    path,
    JSON.stringify(file, null, 2) + "\n",
    (path, why) => `cannot write the tuning file ${path}: ${why}; free space or pass --tuning FILE`,
  );
}
