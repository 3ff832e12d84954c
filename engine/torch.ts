// Reader of torch.save checkpoints (pytorch_model.bin, torch ≥ 1.6): a zip archive of stored (uncompressed)
// entries — <folder>/data.pkl, the pickled state dict, and <folder>/data/<key>, one per storage — with zip64
// records past 4 GiB. Only the zip's central directory, one local header per storage and data.pkl are read here;
// a tensor is then, like a safetensors one, a byte range of the file read on demand (engine/checkpoint.ts), so
// a 10 GB shard is never read whole. data.pkl is unpickled by engine/pickle.ts under rules that allow only what
// a state dict holds (OrderedDict, torch's tensor rebuild functions, storage types); anything else is refused
// by name and never run. Hand-written because engine/ loads no npm package.
import { EngramError } from "../base/errors.ts";
import { readExactly } from "../base/fs.ts";
import { type PickleDict, printable, unpickle, type UnpickleRules } from "./pickle.ts";
import { type DType, isNeoXBuffer, isSupportedDType, type TensorInfo } from "./tensors.ts";

const FIX = "re-download it, or re-save the weights with torch.save (torch ≥ 1.6) or as safetensors";
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;
const MAX_DIRECTORY_BYTES = 256 * 1024 * 1024;
const EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50, LOCAL = 0x04034b50;

/** torch's storage classes (torch.FloatStorage, ...) → safetensors' dtype name and bytes per value. */
const STORAGES: Record<string, [string, number]> = {
  DoubleStorage: ["F64", 8],
  FloatStorage: ["F32", 4],
  HalfStorage: ["F16", 2],
  BFloat16Storage: ["BF16", 2],
  LongStorage: ["I64", 8],
  IntStorage: ["I32", 4],
  ShortStorage: ["I16", 2],
  CharStorage: ["I8", 1],
  ByteStorage: ["U8", 1],
  BoolStorage: ["BOOL", 1],
};

/** Throws the one-line EngramError "<file>: `what`; `fix`". */
type Bad = (what: string, fix?: string) => never;

/** One entry of the archive's central directory. */
interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** A storage named by a persistent id: its archive key and element type. */
class Storage {
  constructor(
    readonly key: string,
    readonly dtype: string,
    readonly itemSize: number,
    readonly numel: number,
  ) {}
}

/** A tensor as `_rebuild_tensor_v2` describes it: a view of a storage. */
class TensorView {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** An allowed global: a storage class or one of the functions a state dict's pickle calls. */
class Allowed {
  constructor(readonly qualname: string, readonly storage?: [string, number]) {}
}

const ORDERED_DICT = new Allowed("collections.OrderedDict");
const REBUILD_TENSOR = new Allowed("torch._utils._rebuild_tensor_v2");
const REBUILD_PARAMETER = new Allowed("torch._utils._rebuild_parameter");

const isInts = (v: unknown): v is number[] =>
  Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && x >= 0);

/** The pickle rules of a state dict: what `unpickle` may build from data.pkl. */
function stateDictRules(bad: Bad, storages: Map<string, Storage>): UnpickleRules {
  const refuse = (what: string): never =>
    bad(
      `data.pkl ${what}, which a state dict of tensors never needs: refused, nothing in it was run`,
      "the file may be malicious: load only checkpoints you trust, or their safetensors form",
    );
  const nameOf = (v: unknown) =>
    v instanceof Allowed
      ? v.qualname
      : v instanceof Map
      ? "a dict"
      : v instanceof TensorView
      ? "a tensor"
      : Array.isArray(v)
      ? "a tuple"
      : typeof v;
  return {
    global(module, name) {
      const qualname = `${module}.${name}`;
      if (module === "torch" && Object.hasOwn(STORAGES, name)) return new Allowed(qualname, STORAGES[name]);
      const found = [ORDERED_DICT, REBUILD_TENSOR, REBUILD_PARAMETER].find((a) => a.qualname === qualname);
      return found ?? refuse(`names ${printable(qualname)}`);
    },
    reduce(fn, args) {
      if (fn === ORDERED_DICT) {
        if (args.length > 0) refuse("calls collections.OrderedDict with arguments");
        return new Map();
      }
      if (fn === REBUILD_TENSOR) {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        const [storage, offset, shape, stride] = args;
        if (
          !(storage instanceof Storage) || !Number.isSafeInteger(offset) || (offset as number) < 0 ||
          !isInts(shape) || !isInts(stride) || shape.length !== stride.length || args.length < 6
        ) {
          return bad(
            "data.pkl calls torch._utils._rebuild_tensor_v2 with arguments that are not (storage, offset, size, stride, ...) (malformed)",
          );
        }
        return new TensorView(storage, offset as number, shape, stride);
      }
      if (fn === REBUILD_PARAMETER) {
        if (!(args[0] instanceof TensorView)) {
          bad("data.pkl rebuilds a parameter from something not a tensor");
        }
        return args[0];
      }
      return refuse(`calls ${nameOf(fn)}`);
    },
    build(target, state) {
      // OrderedDict's pickle sets its attributes (the state dict's _metadata) this way; they are not needed.
      if (target instanceof Map && (state instanceof Map || state === null)) return target;
      return refuse(`sets the state of ${nameOf(target)}`);
    },
    persistentLoad(pid) {
      // ('storage', storage type, key, location, numel), as torch.save's persistent_id writes it.
      if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length !== 5) {
        return bad(`data.pkl has a persistent id (${nameOf(pid)}) that is not a torch storage's (malformed)`);
      }
      const [, type, key, , numel] = pid;
      if (
        !(type instanceof Allowed) || !type.storage || typeof key !== "string" || !Number.isSafeInteger(numel)
      ) {
        return refuse(`has a persistent id naming ${nameOf(type)} as a storage`);
      }
      const [dtype, itemSize] = type.storage;
      const prev = storages.get(key);
      if (prev && prev.dtype !== dtype) {
        bad(`data.pkl reads storage ${key} as both ${prev.dtype} and ${dtype}`);
      }
      const s = prev ?? new Storage(key, dtype, itemSize, numel as number);
      storages.set(key, s);
      return s;
    },
  };
}

/** The archive's central directory: every entry by name. */
async function readDirectory(
  path: string,
  file: Deno.FsFile,
  size: number,
  bad: Bad,
): Promise<Map<string, ZipEntry>> {
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = await readExactly(file, size - tailLength, new Uint8Array(tailLength), path, FIX);
  const tv = new DataView(tail.buffer);
  let e = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD && i + 22 + tv.getUint16(i + 20, true) === tailLength) {
      e = i;
      break;
    }
  }
  if (e < 0) bad("no zip end-of-central-directory record at its end (truncated, or not a torch.save file)");
  const eocdAt = size - tailLength + e;
  let count = tv.getUint16(e + 10, true),
    dirSize = tv.getUint32(e + 12, true),
    dirAt = tv.getUint32(e + 16, true);
  let dirEnd = eocdAt;
  if (tv.getUint16(e + 4, true) !== 0 || tv.getUint16(e + 6, true) !== 0) bad("is a multi-disk zip archive");
  // zip64: a locator just before the end record points at the zip64 end record, whose fields replace the
  // 16- and 32-bit ones (torch writes them once the archive passes 4 GiB).
  if (eocdAt >= 20) {
    const loc = new DataView((await readExactly(file, eocdAt - 20, new Uint8Array(20), path, FIX)).buffer);
    if (loc.getUint32(0, true) === ZIP64_LOCATOR) {
      const at = Number(loc.getBigUint64(8, true));
      if (at + 56 > eocdAt - 20) bad("zip64 end record lies outside the archive (corrupt)");
      const rec = new DataView((await readExactly(file, at, new Uint8Array(56), path, FIX)).buffer);
      if (rec.getUint32(0, true) !== ZIP64_EOCD) bad("zip64 locator points at no zip64 end record (corrupt)");
      count = Number(rec.getBigUint64(32, true));
      dirSize = Number(rec.getBigUint64(40, true));
      dirAt = Number(rec.getBigUint64(48, true));
      dirEnd = at;
    }
  }
  if (dirAt + dirSize > dirEnd) bad("zip central directory runs past its end record (truncated or corrupt)");
  if (dirSize > MAX_DIRECTORY_BYTES) bad(`zip central directory of ${dirSize} bytes is too large`);
  const dir = await readExactly(file, dirAt, new Uint8Array(dirSize), path, FIX);
  const dv = new DataView(dir.buffer);
  const entries = new Map<string, ZipEntry>();
  const names = new TextDecoder();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dirSize || dv.getUint32(p, true) !== CENTRAL) {
      bad(`zip central directory entry ${i} is corrupt`);
    }
    const nameLen = dv.getUint16(p + 28, true), extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    if (p + 46 + nameLen + extraLen + commentLen > dirSize) {
      bad(`zip central directory entry ${i} is corrupt`);
    }
    const entry: ZipEntry = {
      name: names.decode(dir.subarray(p + 46, p + 46 + nameLen)),
      method: dv.getUint16(p + 10, true),
      compressedSize: dv.getUint32(p + 20, true),
      size: dv.getUint32(p + 24, true),
      localOffset: dv.getUint32(p + 42, true),
    };
    // The zip64 extra field holds, in this order, each of the three that is 0xFFFFFFFF in the fixed part.
    const wide = (["size", "compressedSize", "localOffset"] as const).filter((k) => entry[k] === 0xffffffff);
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen && wide.length > 0;) {
      const id = dv.getUint16(x, true), len = dv.getUint16(x + 2, true);
      if (id === 0x0001) {
        if (len < 8 * wide.length) bad(`zip64 extra field of ${entry.name} is too short (corrupt)`);
        wide.forEach((k, j) => entry[k] = Number(dv.getBigUint64(x + 4 + 8 * j, true)));
        wide.length = 0;
      }
      x += 4 + len;
    }
    if (wide.length > 0) {
      bad(`zip entry ${entry.name} has 32-bit fields at their maximum but no zip64 extra field`);
    }
    entries.set(entry.name, entry);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/**
 * Parses the torch.save archive `path` (open as `file`) into `out`: each tensor of its state dict as a byte range
 * of the file, GPT-NeoX's saved buffers (`isNeoXBuffer`) left out whatever their dtype; leaves `file` open.
 */
export async function readTorchArchive(path: string, file: Deno.FsFile, out: TensorInfo[]): Promise<void> {
  const size = (await file.stat()).size;
  const bad: Bad = (what, fix = FIX) => {
    // Names from the archive may hold control characters; the message stays one line.
    // deno-lint-ignore no-control-regex
    throw new EngramError(`${path}: ${what.replace(/[\x00-\x1f\x7f]/g, "?")}; ${fix}`);
  };
  const head = await readExactly(file, 0, new Uint8Array(Math.min(size, 4)), path, FIX);
  if (head[0] === 0x80 && head[1] !== undefined && head[1] <= 5) {
    bad(
      "is a legacy torch.save file (before torch 1.6, not a zip archive), which engram does not read",
      "re-save it with torch ≥ 1.6 (torch.save(torch.load(f), f)) or as safetensors",
    );
  }
  if (size < 22 || new DataView(head.buffer).getUint32(0, true) !== LOCAL) {
    bad(
      `is not a torch.save zip archive (it does not start with a zip entry${
        size < 22 ? "; truncated?" : ""
      })`,
    );
  }
  const entries = await readDirectory(path, file, size, bad);
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    bad(`holds ${pkls.length === 0 ? "no" : "more than one"} <folder>/data.pkl (not a torch.save archive?)`);
  }
  const folder = pkls[0].slice(0, -"data.pkl".length);

  /** Where an entry's bytes start, checked to be stored and inside the file. */
  const dataOf = async (name: string): Promise<[number, number]> => {
    const entry = entries.get(name)!;
    if (entry.method !== 0 || entry.compressedSize !== entry.size) {
      bad(
        `entry ${name} is compressed (zip method ${entry.method}); engram reads only stored entries, as torch.save writes them`,
        "re-save it with torch.save or as safetensors",
      );
    }
    if (entry.localOffset + 30 > size) bad(`entry ${name} starts past the end of the file (truncated)`);
    const local = new DataView(
      (await readExactly(file, entry.localOffset, new Uint8Array(30), path, FIX)).buffer,
    );
    if (local.getUint32(0, true) !== LOCAL) bad(`entry ${name} has no zip local header (corrupt)`);
    const start = entry.localOffset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
    if (start + entry.size > size) {
      bad(`entry ${name} runs to byte ${start + entry.size}, past the ${size}-byte file's end (truncated)`);
    }
    return [start, entry.size];
  };
  const readEntry = async (name: string, cap: number): Promise<Uint8Array> => {
    const [start, length] = await dataOf(name);
    if (length > cap) bad(`entry ${name} is ${length} bytes, too large`);
    return await readExactly(file, start, new Uint8Array(length), path, FIX);
  };

  // torch ≥ 2.1 records the byte order of the storages; older archives are little-endian.
  if (entries.has(`${folder}byteorder`)) {
    const order = new TextDecoder().decode(await readEntry(`${folder}byteorder`, 16));
    if (order !== "little") {
      bad(`stores its tensors ${order}-endian`, "re-save it on a little-endian machine");
    }
  }

  const storages = new Map<string, Storage>();
  const state = unpickle(
    await readEntry(pkls[0], MAX_PICKLE_BYTES),
    stateDictRules(bad, storages),
    `${path}: ${pkls[0]}`,
    FIX,
  );
  if (!(state instanceof Map)) bad("data.pkl holds no dict of tensors (not a state dict)");

  const places = new Map<string, [number, number]>();
  for (const [name, t] of state as PickleDict) {
    if (typeof name !== "string") bad(`state dict has a key that is not a string (${String(name)})`);
    const tname = name as string;
    if (!(t instanceof TensorView)) {
      bad(`state dict entry ${tname} is not a tensor (engram reads a model's state dict: name → tensor)`);
    }
    const { storage, offset, shape, stride } = t as TensorView;
    if (isNeoXBuffer(tname)) continue; // whatever its dtype: engram recomputes it
    if (!isSupportedDType(storage.dtype)) {
      bad(`tensor ${tname} has dtype ${storage.dtype}; engram supports F32, F16 and BF16`);
    }
    const numel = shape.reduce((a, b) => a * b, 1);
    // Row-major strides (dimensions of size 1 may have any stride): then the tensor is one byte range.
    let expect = 1, contiguous = true;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
      expect *= shape[d];
    }
    if (!contiguous && numel > 0) {
      bad(
        `tensor ${tname} is not contiguous (shape [${shape}], strides [${stride}])`,
        "re-save it with tensor.contiguous() or as safetensors",
      );
    }
    if (offset + numel > storage.numel) {
      bad(
        `tensor ${tname} spans elements ${offset}..${
          offset + numel
        } of storage ${storage.key}, which holds ${storage.numel} (corrupt)`,
      );
    }
    const entryName = `${folder}data/${storage.key}`;
    if (!entries.has(entryName)) {
      bad(`has no entry ${entryName} for the storage of tensor ${tname} (corrupt)`);
    }
    let place = places.get(entryName);
    if (!place) places.set(entryName, place = await dataOf(entryName));
    const [start, length] = place;
    if (length < storage.numel * storage.itemSize) {
      bad(
        `entry ${entryName} holds ${length} bytes, fewer than its ${storage.numel} × ${storage.dtype} storage`,
      );
    }
    const dtype = storage.dtype as DType;
    out.push({
      name: tname,
      dtype,
      shape,
      file: path,
      start: start + offset * storage.itemSize,
      byteLength: numel * storage.itemSize,
    });
  }
}
