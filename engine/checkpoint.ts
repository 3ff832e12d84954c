// A checkpoint's weight files — Hugging Face safetensors or torch.save's pytorch_model.bin, one file or shards
// with an index — opened for reading. Only headers (safetensors) or the zip directory and pickle (torch) are read
// up front; a tensor of either format is then a byte range of one file (TensorInfo), read on demand with seek +
// read, so multi-GB files never sit in memory whole and both formats load at the same cost.
import { EngramError, ensure } from "../base/errors.ts";
import { isFile, isObject, readExactly, readJsonFile } from "../base/fs.ts";
import { basename, dirname, join } from "../base/path.ts";
import { readSafetensorsHeader } from "./safetensors.ts";
import { isNeoXBuffer, type TensorInfo } from "./tensors.ts";
import { readTorchArchive } from "./torch.ts";

/** A checkpoint's weight file format: Hugging Face safetensors, or a torch.save archive (pytorch_model.bin). */
export type CheckpointFormat = "safetensors" | "pytorch";

/** Where a checkpoint's weights are: what `checkpointFiles` lists and `CheckpointReader.open` reads. */
export interface CheckpointFiles {
  /** The checkpoint's folder. */
  dir: string;
  /** The format of its weight files. */
  format: CheckpointFormat;
  /** Its weight files: the one given, the folder's single file, or the shards its index names. */
  files: string[];
  /** The index's tensor name → shard file name, or null for one file. */
  weightMap: Record<string, string> | null;
}

// In the order they are looked for: where a folder holds both formats, safetensors is read.
const LAYOUTS: [CheckpointFormat, string, string][] = [
  ["safetensors", "model.safetensors", "model.safetensors.index.json"],
  ["pytorch", "pytorch_model.bin", "pytorch_model.bin.index.json"],
];
const REREAD = "re-download it";

/** The format of the weight file `path`: a torch.save archive for .bin, .pt and .pth, else safetensors. */
const formatOfFile = (path: string): CheckpointFormat =>
  /\.(bin|pt|pth)$/.test(path) ? "pytorch" : "safetensors";

/**
 * The weight files of a checkpoint: `path` itself when it is a file (.bin, .pt or .pth: torch.save; otherwise
 * safetensors), else the folder's model.safetensors, the shards its model.safetensors.index.json names, its
 * pytorch_model.bin or the shards its pytorch_model.bin.index.json names, the first found (each shard checked to
 * be there).
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
  if (stat.isFile) return { dir: dirname(path), format: formatOfFile(path), files: [path], weightMap: null };
  const dir = path;
  for (const [format, single, index] of LAYOUTS) {
    if (await isFile(join(dir, single))) return { dir, format, files: [join(dir, single)], weightMap: null };
    const indexPath = join(dir, index);
    if (!await isFile(indexPath)) continue;
    const parsed = await readJsonFile(indexPath, REREAD);
    const wm = isObject(parsed) ? parsed.weight_map : undefined;
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
    return { dir, format, files, weightMap };
  }
  throw new EngramError(
    `${dir}: found none of model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json; point engram at a Hugging Face checkpoint directory`,
  );
}

interface Shard {
  file: Deno.FsFile;
  busy: Promise<unknown>;
}

/**
 * A checkpoint opened for reading, safetensors or torch.save alike: every tensor's place from the headers,
 * bytes read on demand.
 */
export class CheckpointReader {
  private constructor(
    /** The checkpoint's folder. */
    readonly dir: string,
    /** The format of its weight files. */
    readonly format: CheckpointFormat,
    /** Every tensor of every shard by name, GPT-NeoX's saved buffers (`isNeoXBuffer`) left out. */
    readonly tensors: Map<string, TensorInfo>,
    private readonly shards: Map<string, Shard>,
  ) {}

  /**
   * Opens `path`: a checkpoint folder (see `checkpointFiles`) or one weight file; or the files
   * `checkpointFiles` listed (not listed again).
   */
  static async open(path: string | CheckpointFiles): Promise<CheckpointReader> {
    const { dir, format, files, weightMap } = typeof path === "string" ? await checkpointFiles(path) : path;
    const parse = format === "pytorch" ? readTorchArchive : readSafetensorsHeader;
    const indexName = LAYOUTS.find(([f]) => f === format)![2];

    const shards = new Map<string, Shard>();
    const tensors = new Map<string, TensorInfo>();
    try {
      for (const path of files) {
        const file = await Deno.open(path, { read: true });
        shards.set(path, { file, busy: Promise.resolve() });
        const infos: TensorInfo[] = [];
        await parse(path, file, infos);
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
          isNeoXBuffer(name) || tensors.get(name)?.file === join(dir, f),
          `${
            join(dir, indexName)
          }: weight_map puts ${name} in ${f} but that shard does not contain it; re-download the checkpoint`,
        );
      }
    } catch (e) {
      for (const s of shards.values()) s.file.close();
      throw e;
    }
    return new CheckpointReader(dir, format, tensors, shards);
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
