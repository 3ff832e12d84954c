// Which checkpoints a --model path names: one checkpoint folder (config.json inside), a model folder of
// revisions (<model>/<revision>/config.json, as Pythia's stepN revisions), or a suite (<suite>/<model>/<revision>);
// or in the huggingface_hub cache (io/hub.ts) a repository folder (models--ORG--NAME, its revisions the refs), a
// cache root (the folder of models--* repositories: a suite), a snapshot, or a repository id ORG/NAME.
import { EngramError } from "../base/errors.ts";
import { isFile } from "../base/fs.ts";
import { basename, dirname, join, resolve } from "../base/path.ts";
import {
  byRevision,
  cachedRepoDir,
  cachedRepos,
  checkSnapshot,
  hubOrigin,
  isRepoId,
  parseRepoFolder,
  refsNaming,
  repoName,
  repoRevisions,
} from "./hub.ts";

/** A checkpoint found by resolveCheckpoints: results name it model@revision. */
export interface Checkpoint {
  /** The model's name (e.g. pythia-1b). */
  model: string;
  /** The revision's name (stepN, main). */
  revision: string;
  /** Its folder (config.json and weights). */
  dir: string;
  /** In the hub cache: the repository id (ORG/NAME) and the revision's commit. */
  repo?: string;
  /** In the hub cache: the commit of the revision. */
  commit?: string;
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

/** The checkpoints of the cached repository folder `repoDir` (models--ORG--NAME): one per ref, named NAME. */
async function hubCheckpoints(repoDir: string, note: (line: string) => void): Promise<Checkpoint[]> {
  const id = parseRepoFolder(basename(repoDir))!.id;
  return (await repoRevisions(repoDir, id, note)).sort((a, b) => byRevision(a.revision, b.revision)).map((
    r,
  ) => ({
    model: repoName(id),
    revision: r.revision,
    dir: r.dir,
    repo: id,
    commit: r.commit,
  }));
}

/**
 * The checkpoints under `path`, optionally restricted to some model and revision names. `note` hears what a hub
 * cache holds that is skipped (snapshots no ref names, nested refs).
 */
export async function resolveCheckpoints(
  path: string,
  models?: string[],
  revisions?: string[],
  note: (line: string) => void = () => {},
): Promise<Checkpoint[]> {
  let root = resolve(path);
  let info = await Deno.stat(root).catch(() => null);
  // ORG/NAME where neither it nor a folder ORG is here: a repository id, looked up in the hub cache.
  if (!info && isRepoId(path) && !await Deno.stat(path.split("/")[0]).catch(() => null)) {
    root = await cachedRepoDir("model", path, "--model");
    info = await Deno.stat(root);
  }
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
  const origin = hubOrigin(root);
  const repos = await cachedRepos(root, "model");
  if (parseRepoFolder(basename(root))?.type === "model") {
    found = await hubCheckpoints(root, note);
    if (found.length === 0) {
      const id = parseRepoFolder(basename(root))!.id;
      throw new EngramError(
        `--model ${path}: ${join(root, "refs")} names no revision (no branch was downloaded); download one ` +
          `(./engram download ${id} --revisions main), or pass a snapshot folder (${
            join(root, "snapshots")
          }/...)`,
      );
    }
  } else if (repos.length > 0) {
    // A cache root: a suite whose models are the repositories' names (two organisations' NAME is ambiguous).
    const byName = new Map<string, string>();
    for (const folder of repos) {
      const id = parseRepoFolder(folder)!.id, name = repoName(id);
      if (byName.has(name)) {
        throw new EngramError(
          `--model ${path} holds two models named ${name} (${byName.get(name)} and ${id}); pass the ` +
            `repository folder of one (${join(root, folder)})`,
        );
      }
      byName.set(name, id);
      found.push(...await hubCheckpoints(join(root, folder), note));
    }
  } else if (origin?.type === "model" && origin.commit === basename(root) && await isCheckpoint(root)) {
    // A snapshot folder: its revision is the ref that names its commit (stepN before main), else the commit.
    const [revision] = await refsNaming(origin.repoDir, origin.repo, origin.commit);
    found = [{
      model: repoName(origin.repo),
      revision: revision ?? origin.commit,
      dir: root,
      repo: origin.repo,
      commit: origin.commit,
    }];
  } else if (await isCheckpoint(root)) {
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
  // Refs naming one commit are one checkpoint (Pythia's main is step143000): unless --revisions names it, a
  // second name is left out, with a note, so the same weights are not scored twice. stepN names are kept first.
  if (revisions === undefined) {
    const kept = new Map<string, string>();
    found = found.filter((c) => {
      if (c.repo === undefined || c.commit === undefined) return true;
      const key = `${c.repo} ${c.commit}`, first = kept.get(key);
      if (first === undefined) {
        kept.set(key, c.revision);
        return true;
      }
      note(
        `${c.repo}: ${c.revision} is ${first}'s commit ${c.commit}; scored once, as ${first} (--revisions ` +
          `${c.revision} scores it under ${c.revision})`,
      );
      return false;
    });
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
  // A picked revision of a hub cache must have its snapshot, whole (every link reaching its blob), and a config.
  for (const ck of picked) {
    if (ck.repo === undefined || ck.commit === undefined) continue;
    const refFile = join(ck.dir, "..", "..", "refs", ck.revision);
    await checkSnapshot(
      { repo: ck.repo, revision: ck.revision, commit: ck.commit, dir: ck.dir, refFile },
      "model",
    );
    if (!await isCheckpoint(ck.dir)) {
      throw new EngramError(
        `--model ${path}: the snapshot ${ck.dir} of ${ck.repo}@${ck.revision} holds no config.json; download ` +
          `it (./engram download ${ck.repo} --revisions ${ck.revision})`,
      );
    }
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

/**
 * The one checkpoint folder that a command taking a single checkpoint (logits, generate) reads: a checkpoint
 * folder (config.json inside) as it is; otherwise what resolveCheckpoints finds (a models--ORG--NAME folder or
 * ORG/NAME of the hub cache, a model folder of revisions) at revision `revision`, default main. More than one
 * checkpoint (a suite, a cache root) or none at that revision is one EngramError.
 */
export async function resolveOneCheckpoint(path: string, revision?: string): Promise<string> {
  if (revision === undefined && await isCheckpoint(path)) return path;
  if (revision !== undefined && (revision.includes(",") || revision.trim() === "")) {
    throw new EngramError(
      `--revisions "${revision}": this command reads one checkpoint; name one revision (e.g. --revisions main)`,
    );
  }
  const wanted = revision ?? "main";
  let found: Checkpoint[];
  try {
    found = await resolveCheckpoints(path, undefined, [wanted]);
  } catch (e) {
    if (revision !== undefined || !(e instanceof EngramError)) throw e;
    // A folder with neither config.json nor checkpoints inside: the config's reader names what is missing.
    if (e.message.startsWith(`--model ${path} holds no checkpoint`)) return path;
    if (!e.message.startsWith("--revisions names")) throw e;
    // The default revision is missing: say so without blaming a flag that was not given.
    const have = [...new Set((await resolveCheckpoints(path)).map((c) => c.revision))];
    throw new EngramError(
      `--model ${path} has no revision main (it has ${have.slice(0, 12).join(", ")}${
        have.length > 12 ? ", ..." : ""
      }); name one with --revisions R`,
    );
  }
  if (found.length > 1) {
    throw new EngramError(
      `--model ${path} holds ${found.length} checkpoints at ${wanted} (${
        found.slice(0, 4).map((c) => `${c.model}@${c.revision}`).join(", ")
      }${found.length > 4 ? ", ..." : ""}); this command reads one: pass one model's folder or ORG/NAME`,
    );
  }
  return found[0].dir;
}
