// Reader of a Hugging Face safetensors file's header: where each tensor lies. Tensor bytes are read on demand by
// engine/checkpoint.ts, so multi-GB files never sit in memory whole.
import { EngramError } from "../base/errors.ts";
import { isObject, readExactly } from "../base/fs.ts";
import { type DType, isNeoXBuffer, isSupportedDType, type TensorInfo } from "./tensors.ts";

const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Bytes per value of every safetensors dtype, so buffers of dtypes engram does not read are still checked. */
const ANY_DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const REREAD = "re-download it";

/**
 * Parses the header of the safetensors file `path` (open as `file`) into `out`, GPT-NeoX's saved buffers
 * (`isNeoXBuffer`) left out whatever their dtype; leaves `file` open.
 */
export async function readSafetensorsHeader(
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
    const buffer = isNeoXBuffer(name);
    if (!isSupportedDType(dtype) && !buffer) {
      throw bad(
        `tensor ${name} has dtype ${dtype}; engram supports F32, F16 and BF16`,
      );
    }
    const [begin, end] = off as [number, number];
    // A dtype safetensors does not define (only a buffer gets here with one) has no size to check.
    const size = Object.hasOwn(ANY_DTYPE_BYTES, dtype) ? ANY_DTYPE_BYTES[dtype] : NaN;
    const expected = (shape as number[]).reduce((a, b) => a * b, 1) * size;
    if (!Number.isNaN(expected) && expected !== end - begin) {
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
    if (buffer) continue;
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
