// Which checkpoints a --model path names: one checkpoint folder (config.json inside), a model folder of
// revisions (<model>/<revision>/config.json, as Pythia's stepN revisions), or a suite (<suite>/<model>/<revision>).
import { EngramError } from "../engine/errors.ts";
import { isFile } from "../engine/fs.ts";
import { basename, dirname, join, resolve } from "../engine/path.ts";

export interface Checkpoint {
  model: string;
  revision: string;
  dir: string;
}

const isCheckpoint = (dir: string): Promise<boolean> => isFile(join(dir, "config.json"));

/** Names of revision folders: Pythia's stepN and the Hub's default branch, main. */
const isRevisionName = (name: string): boolean => /^(step\d+|main)$/.test(name);

/** The folders in `dir`, symbolic links to folders included (suites are often assembled from links). */
async function subdirs(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) names.push(e.name);
    else if (e.isSymlink) {
      const target = await Deno.stat(join(dir, e.name)).catch(() => null);
      if (target === null) {
        const to = await Deno.readLink(join(dir, e.name)).catch(() => "?");
        throw new EngramError(
          `${join(dir, e.name)} is a broken symbolic link (to ${to}); fix or remove it`,
        );
      }
      if (target.isDirectory) names.push(e.name);
    }
  }
  return names.sort(byRevision);
}

/** stepN revisions in numeric order, others alphabetically after them. */
function byRevision(a: string, b: string): number {
  const sa = /^step(\d+)$/.exec(a), sb = /^step(\d+)$/.exec(b);
  if (sa && sb) return Number(sa[1]) - Number(sb[1]);
  if (sa || sb) return sa ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The checkpoints under `path`, optionally restricted to some model and revision names. */
export async function resolveCheckpoints(
  path: string,
  models?: string[],
  revisions?: string[],
): Promise<Checkpoint[]> {
  const root = resolve(path);
  const info = await Deno.stat(root).catch(() => null);
  if (!info) {
    throw new EngramError(`--model ${path}: no such folder; pass a checkpoint folder (with config.json)`);
  }
  if (!info.isDirectory) {
    throw new EngramError(
      `--model ${path} is a file; pass the checkpoint folder that holds it (${
        dirname(root)
      }, with config.json)`,
    );
  }
  let found: Checkpoint[] = [];
  if (await isCheckpoint(root)) {
    // <model>/<stepN>/ names its model by the parent; a lone folder is its own model at revision "main".
    const rev = basename(root);
    found = isRevisionName(rev)
      ? [{ model: basename(dirname(root)), revision: rev, dir: root }]
      : [{ model: rev, revision: "main", dir: root }];
  } else {
    // Checkpoints inside: revisions of this model when any is named like one (stepN, main), else a folder of
    // models, each its own model at "main" (models/pythia-160m/, models/pythia-1b/, as the Hub downloads them).
    const inside: string[] = [];
    for (const sub of await subdirs(root)) {
      const d = join(root, sub);
      if (await isCheckpoint(d)) inside.push(sub);
      else {
        for (const rev of await subdirs(d)) {
          if (await isCheckpoint(join(d, rev))) found.push({ model: sub, revision: rev, dir: join(d, rev) });
        }
      }
    }
    const asModels = !inside.some(isRevisionName);
    for (const sub of inside) {
      found.push(
        asModels
          ? { model: sub, revision: "main", dir: join(root, sub) }
          : { model: basename(root), revision: sub, dir: join(root, sub) },
      );
    }
  }
  // A name that matches nothing is a typo or a missing checkpoint: scoring the others alone would lose it quietly.
  for (
    const [flag, names, have] of [["--models", models, found.map((c) => c.model)], [
      "--revisions",
      revisions,
      found.map((c) => c.revision),
    ]] as const
  ) {
    const absent = names?.filter((name) => !have.includes(name)) ?? [];
    if (absent.length > 0 && found.length > 0) {
      const known = [...new Set(have)];
      throw new EngramError(
        `${flag} names ${absent.join(", ")}, not in --model ${path} (it has ${known.slice(0, 12).join(", ")}${
          known.length > 12 ? ", ..." : ""
        }); check the names`,
      );
    }
  }
  const picked = found.filter((c) =>
    (!models || models.includes(c.model)) && (!revisions || revisions.includes(c.revision))
  );
  // Each name is in the suite, but a model may lack one of the revisions asked for: name the missing pairs.
  const missing = (models ?? []).flatMap((m) =>
    (revisions ?? []).filter((r) => !picked.some((c) => c.model === m && c.revision === r)).map((r) =>
      `${m}@${r}`
    )
  );
  if (missing.length > 0 && picked.length > 0) {
    throw new EngramError(
      `--models and --revisions ask for ${missing.slice(0, 8).join(", ")}${
        missing.length > 8 ? ", ..." : ""
      }, not in --model ${path}; pick revisions every model has, or score the models apart`,
    );
  }
  if (picked.length === 0) {
    const what = found.length === 0
      ? "holds no checkpoint (a folder with config.json and safetensors or pytorch_model.bin weights)"
      : `has no checkpoint matching --models/--revisions (found ${
        [...new Set(found.map((c) => `${c.model}@${c.revision}`))].slice(0, 8).join(", ")
      })`;
    throw new EngramError(`--model ${path} ${what}`);
  }
  return picked;
}

/** Comma-separated list flag --`name`, or undefined; an empty item (",", "a,,b", "a,") is refused, not skipped. */
export function listFlag(value: string | undefined, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(",").map((s) => s.trim());
  const empty = items.indexOf("");
  if (empty >= 0) {
    throw new EngramError(
      `--${name} "${value}": item ${empty + 1} is empty; separate the names by single commas`,
    );
  }
  return items;
}

/** A checkpoint folder and up to three folders above it (model, suite), nearest first: where folder metadata
 * (engram.json, suite.json) and the tokenizer are looked for. */
export function foldersAbove(modelPath: string): string[] {
  const out = [modelPath];
  for (let i = 0; i < 3; i++) {
    const up = dirname(out.at(-1)!);
    if (up === out.at(-1)) break;
    out.push(up);
  }
  return out;
}

/** The tokenizer.json nearest to a checkpoint: in it or a folder above it (foldersAbove), or in their
 * tokenizer/ subfolder; null if there is none. */
export async function findTokenizer(modelPath: string): Promise<string | null> {
  for (const dir of foldersAbove(modelPath)) {
    for (const candidate of [join(dir, "tokenizer.json"), join(dir, "tokenizer", "tokenizer.json")]) {
      if (await isFile(candidate)) return candidate;
    }
  }
  return null;
}
