// Reader for Hugging Face safetensors checkpoints (single file or sharded with an index). Only headers are read
// up front; tensor bytes are read on demand with seek + read, so multi-GB files never sit in memory whole.
import { EngramError, ensure } from "./errors.ts";
import { isFile, isObject, readExactly, readJsonFile } from "./fs.ts";
import { basename, dirname, join } from "./path.ts";

/** The tensor dtypes engram reads (safetensors' names). */
export type DType = "F32" | "F16" | "BF16";

/** Where one tensor of a checkpoint lies, from its file's header. */
export interface TensorInfo {
  /** The tensor's name in the checkpoint, e.g. "gpt_neox.layers.0.attention.dense.weight". */
  name: string;
  /** How its values are stored (little-endian). */
  dtype: DType;
  /** Its dimensions, outermost first (torch's order). */
  shape: number[];
  /** The .safetensors file that holds it. */
  file: string;
  /** Absolute byte offset of the tensor's data in `file`. */
  start: number;
  /** Bytes of data: the product of `shape` × the dtype's size. */
  byteLength: number;
}

const DTYPE_BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const SINGLE = "model.safetensors";
const INDEX = "model.safetensors.index.json";

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const REREAD = "re-download it";

interface Shard {
  file: Deno.FsFile;
  busy: Promise<unknown>;
}

/** Parses one file's header into `out`. Leaves `file` open. */
async function parseHeader(
  path: string,
  file: Deno.FsFile,
  out: TensorInfo[],
): Promise<void> {
  const size = (await file.stat()).size;
  const bad = (what: string) => new EngramError(`${path}: ${what}; re-download or re-save the checkpoint`);
  if (size < 8) throw bad(`only ${size} bytes, too short for a safetensors header (truncated file)`);
  const n = new DataView((await readExactly(file, 0, new Uint8Array(8), path, REREAD)).buffer).getBigUint64(
    0,
    true,
  );
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw bad(`header length ${n} bytes exceeds the 100 MB cap (not a safetensors file?)`);
  }
  const headerLen = Number(n);
  if (8 + headerLen > size) {
    throw bad(`header length ${headerLen} runs past the end of the ${size}-byte file (truncated)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(
        await readExactly(file, 8, new Uint8Array(headerLen), path, REREAD),
      ),
    );
  } catch (e) {
    throw bad(`header is not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  if (!isObject(header)) throw bad("header is not a JSON object");
  const dataStart = 8 + headerLen, dataSize = size - dataStart;
  const spans: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isObject(entry) || !Object.values(entry).every((v) => typeof v === "string")) {
        throw bad("__metadata__ must be a map of strings");
      }
      continue;
    }
    const e = isObject(entry) ? entry : {};
    const { dtype, shape, data_offsets: off } = e;
    if (
      typeof dtype !== "string" || !Array.isArray(shape) || !shape.every(isCount) || !Array.isArray(off) ||
      off.length !== 2 || !off.every(isCount) || off[0] > off[1]
    ) {
      throw bad(
        `tensor ${name} needs dtype (string), shape (array of integers ≥ 0) and data_offsets ([begin, end]), got ${
          JSON.stringify(entry).slice(0, 80)
        }`,
      );
    }
    if (!Object.hasOwn(DTYPE_BYTES, dtype)) {
      throw bad(
        `tensor ${name} has dtype ${dtype}; engram supports F32, F16 and BF16`,
      );
    }
    const [begin, end] = off as [number, number];
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype as DType];
    if (expected !== end - begin) {
      throw bad(
        `tensor ${name} has shape [${shape}] × ${dtype} = ${expected} bytes but data_offsets span ${
          end - begin
        } bytes`,
      );
    }
    if (end > dataSize) {
      throw bad(
        `tensor ${name} spans data bytes ${begin}..${end} but the data section has only ${dataSize} bytes (truncated file)`,
      );
    }
    spans.push([begin, end, name]);
    out.push({
      name,
      dtype: dtype as DType,
      shape: shape as number[],
      file: path,
      start: dataStart + begin,
      byteLength: end - begin,
    });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    const [p, c] = [spans[i - 1], spans[i]];
    if (c[0] < p[1]) {
      throw bad(`tensors ${p[2]} (bytes ${p[0]}..${p[1]}) and ${c[2]} (bytes ${c[0]}..${c[1]}) overlap`);
    }
  }
}

/** Where a checkpoint's weights are: what `checkpointFiles` lists and `SafetensorsCheckpoint.open` reads. */
export interface CheckpointFiles {
  /** The checkpoint's folder. */
  dir: string;
  /** Its .safetensors files: the one given, the folder's model.safetensors, or the shards the index names. */
  files: string[];
  /** The index's tensor name → shard file name, or null for one file. */
  weightMap: Record<string, string> | null;
}

/**
 * The weight files of a checkpoint: `path` itself when it is a .safetensors file, else the folder's
 * model.safetensors or the shards its model.safetensors.index.json names (each checked to be there).
 */
export async function checkpointFiles(path: string): Promise<CheckpointFiles> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new EngramError(`${path}: no such checkpoint directory or file; check the path`);
    }
    throw e;
  }
  if (stat.isFile) return { dir: dirname(path), files: [path], weightMap: null };
  const dir = path, indexPath = join(dir, INDEX);
  if (await isFile(join(dir, SINGLE))) return { dir, files: [join(dir, SINGLE)], weightMap: null };
  if (!await isFile(indexPath)) {
    throw new EngramError(
      `${dir}: found neither ${SINGLE} nor ${INDEX}; point engram at a Hugging Face checkpoint directory`,
    );
  }
  const index = await readJsonFile(indexPath, REREAD);
  const wm = isObject(index) ? index.weight_map : undefined;
  ensure(
    isObject(wm) && Object.values(wm).every((v) => typeof v === "string" && v !== "" && basename(v) === v),
    `${indexPath}: needs "weight_map": {tensor name: shard file name}; re-download it`,
  );
  const weightMap = wm as Record<string, string>;
  const files = [...new Set(Object.values(weightMap))].map((f) => join(dir, f));
  for (const f of files) {
    const user = Object.keys(weightMap).find((t) => join(dir, weightMap[t]) === f);
    ensure(
      await isFile(f),
      `${indexPath}: weight_map puts ${user} in ${
        basename(f)
      }, which is missing from ${dir}; download all shards`,
    );
  }
  return { dir, files, weightMap };
}

/** A safetensors checkpoint opened for reading: every tensor's place from the headers, bytes read on demand. */
export class SafetensorsCheckpoint {
  private constructor(
    /** The checkpoint's folder. */
    readonly dir: string,
    /** Every tensor of every shard, by name. */
    readonly tensors: Map<string, TensorInfo>,
    private readonly shards: Map<string, Shard>,
  ) {}

  /**
   * Opens `path`: a folder holding model.safetensors or model.safetensors.index.json + shards, or one
   * .safetensors file; or the files `checkpointFiles` listed (not listed again).
   */
  static async open(path: string | CheckpointFiles): Promise<SafetensorsCheckpoint> {
    const { dir, files, weightMap } = typeof path === "string" ? await checkpointFiles(path) : path;

    const shards = new Map<string, Shard>();
    const tensors = new Map<string, TensorInfo>();
    try {
      for (const path of files) {
        const file = await Deno.open(path, { read: true });
        shards.set(path, { file, busy: Promise.resolve() });
        const infos: TensorInfo[] = [];
        await parseHeader(path, file, infos);
        for (const t of infos) {
          const prev = tensors.get(t.name);
          ensure(
            !prev,
            () =>
              `${dir}: tensor ${t.name} is in both ${basename(prev!.file)} and ${
                basename(path)
              }; the shards do not belong together`,
          );
          tensors.set(t.name, t);
        }
      }
      for (const [name, f] of Object.entries(weightMap ?? {})) {
        ensure(
          tensors.get(name)?.file === join(dir, f),
          `${
            join(dir, INDEX)
          }: weight_map puts ${name} in ${f} but that shard does not contain it; re-download the checkpoint`,
        );
      }
    } catch (e) {
      for (const s of shards.values()) s.file.close();
      throw e;
    }
    return new SafetensorsCheckpoint(dir, tensors, shards);
  }

  /** Reads one tensor's raw little-endian bytes. */
  read(name: string): Promise<Uint8Array> {
    const info = this.tensors.get(name);
    if (!info) return Promise.reject(new EngramError(`${this.dir}: checkpoint has no tensor ${name}`));
    const shard = this.shards.get(info.file)!;
    // One handle per shard: chain reads so concurrent callers' seek/read pairs do not interleave.
    const result = shard.busy.then(() =>
      readExactly(shard.file, info.start, new Uint8Array(info.byteLength), info.file, REREAD)
    );
    shard.busy = result.catch(() => {});
    return result;
  }

  /** Closes the shard files; reads after this fail. */
  close(): void {
    for (const s of this.shards.values()) s.file.close();
    this.shards.clear();
  }
}

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
