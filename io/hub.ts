// The huggingface_hub cache, read in place: `<cache>/models--ORG--NAME/` (and `datasets--ORG--NAME/`) holds
// blobs/<etag> (the files' contents), refs/<revision> (a file holding the revision's commit hash) and
// snapshots/<commit>/<path> (links into ../../blobs). Scoring and reports name checkpoints and data by these
// folders, by the cache root, or by a repository id (ORG/NAME) looked up in the cache the Hub's clients use.
import { EngramError } from "../base/errors.ts";
import { basename, dirname, join, resolve } from "../base/path.ts";

/** What a Hub repository holds: its cache folder is `models--ORG--NAME` or `datasets--ORG--NAME`. */
export type RepoType = "model" | "dataset";

/** One revision of a cached repository: the ref's name, the commit it names and that commit's snapshot. */
export interface HubRevision {
  /** The repository id, ORG/NAME. */
  repo: string;
  /** The ref's name, e.g. "main" or "step143000". */
  revision: string;
  /** The commit hash the ref holds. */
  commit: string;
  /** snapshots/<commit>, absolute (it may be missing: checkSnapshot says so). */
  dir: string;
  /** The ref file, for messages. */
  refFile: string;
}

const COMMIT = /^[0-9a-f]{40}$/;
/** A repository id as the Hub spells them: ORG/NAME (letters, digits, "-", "_", "."). */
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/** Whether `text` reads as a repository id ORG/NAME (the caller checks that no such local path exists). */
export const isRepoId = (text: string): boolean => REPO_ID.test(text) && !text.includes("..");

/**
 * The hub cache folder, chosen as huggingface_hub (Python) and @huggingface/hub choose it: $HF_HUB_CACHE
 * (or its older name $HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub. `where` says which, for messages.
 */
export function hubCacheDir(): { dir: string; where: string } {
  const env = (name: string) => Deno.env.get(name) || undefined;
  for (const name of ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"]) {
    const dir = env(name);
    if (dir) return { dir: resolve(dir), where: `$${name}` };
  }
  const home = env("HF_HOME");
  if (home) return { dir: resolve(join(home, "hub")), where: "$HF_HOME/hub" };
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return { dir: resolve(join(xdg, "huggingface", "hub")), where: "$XDG_CACHE_HOME/huggingface/hub" };
  return {
    dir: join(env("HOME") ?? env("USERPROFILE") ?? ".", ".cache", "huggingface", "hub"),
    where: "~/.cache/huggingface/hub",
  };
}

/** The cache's folder name of a repository: models--ORG--NAME, datasets--ORG--NAME. */
export const repoFolderName = (type: RepoType, id: string): string => `${type}s--${id.split("/").join("--")}`;

/** The type and id of a repository folder's name (models--ORG--NAME → model, ORG/NAME), or null. */
export function parseRepoFolder(name: string): { type: RepoType; id: string } | null {
  const m = /^(models|datasets)--(.+)$/.exec(name);
  if (!m || m[2].split("--").some((part) => part === "")) return null;
  return { type: m[1] === "models" ? "model" : "dataset", id: m[2].split("--").join("/") };
}

/** The repository's name without its organisation: what engram calls the model. */
export const repoName = (id: string): string => id.slice(id.lastIndexOf("/") + 1);

/** The repository folders (models--*, datasets--*) of type `type` in `dir`, sorted; none if it is not a cache. */
export async function cachedRepos(dir: string, type: RepoType): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if ((e.isDirectory || e.isSymlink) && parseRepoFolder(e.name)?.type === type) found.push(e.name);
    }
  } catch {
    return [];
  }
  return found.sort();
}

/**
 * The revisions of the repository folder `repoDir` (of `id`): one per file under refs/ whose path has no "/"
 * (a branch or tag: main, step143000). Nested refs (refs/pr/1, pull requests) and snapshots that no ref names
 * are skipped, each with a note. A ref that does not hold a commit hash is an EngramError.
 */
export async function repoRevisions(
  repoDir: string,
  id: string,
  note: (line: string) => void = () => {},
): Promise<HubRevision[]> {
  const refsDir = join(repoDir, "refs");
  const revisions: HubRevision[] = [];
  const named = new Set<string>();
  const walk = async (dir: string, prefix: string): Promise<void> => {
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw new EngramError(`${dir}: cannot be read (${(e as Error).message}); check its permissions`);
    }
    for (const e of entries.sort((a, b) => a.name < b.name ? -1 : 1)) {
      const file = join(dir, e.name), name = prefix + e.name;
      if (e.name.includes(".tmp-")) continue; // a ref being written (./engram download: base/atomic.ts)
      if (e.isDirectory) {
        await walk(file, `${name}/`);
        continue;
      }
      const commit = (await Deno.readTextFile(file).catch(() => "")).trim();
      if (!COMMIT.test(commit)) {
        throw new EngramError(
          `${file}: the ref ${name} holds ${
            JSON.stringify(commit.slice(0, 60))
          }, not a commit hash; delete it ` +
            `or download the revision again (./engram download ${id} --revisions ${name})`,
        );
      }
      if (prefix !== "") {
        note(
          `${repoDir}: the nested ref ${name} (commit ${commit}) is skipped: engram names revisions by branch`,
        );
        continue;
      }
      named.add(commit);
      revisions.push({
        repo: id,
        revision: name,
        commit,
        dir: join(repoDir, "snapshots", commit),
        refFile: file,
      });
    }
  };
  await walk(refsDir, "");
  try {
    const snapshots = await Array.fromAsync(Deno.readDir(join(repoDir, "snapshots")));
    for (const s of snapshots.map((e) => e.name).sort()) {
      if (!named.has(s)) {
        note(`${join(repoDir, "snapshots", s)}: no ref in ${refsDir} names this snapshot; skipped`);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return revisions;
}

/**
 * Checks that a revision's snapshot is there and that every link in it reaches its blob; a missing snapshot or
 * a broken link (an interrupted or deleted download) is one EngramError naming it and the download that fixes it.
 */
export async function checkSnapshot(rev: HubRevision, type: RepoType): Promise<void> {
  const fix =
    `download it again (./engram download ${rev.repo}${type === "dataset" ? " --repo-type dataset" : ""} ` +
    `--revisions ${rev.revision})`;
  const info = await Deno.stat(rev.dir).catch(() => null);
  if (!info?.isDirectory) {
    throw new EngramError(
      `${rev.refFile}: the ref ${rev.revision} names commit ${rev.commit}, but its snapshot ${rev.dir} is not ` +
        `there (an interrupted or deleted download); ${fix}, or delete the ref`,
    );
  }
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isSymlink) {
        const target = await Deno.stat(path).catch(() => null);
        if (target === null) {
          const to = await Deno.readLink(path).catch(() => "?");
          throw new EngramError(
            `${path} is a broken link (to ${to}): its blob is missing (an interrupted or deleted download); ${fix}`,
          );
        }
        if (target.isDirectory) await walk(path);
      } else if (e.isDirectory) await walk(path);
    }
  };
  await walk(rev.dir);
}

/** Where a path lies in a hub cache: under <cache>/<type>s--ORG--NAME/snapshots/<commit>/, or null. */
export function hubOrigin(
  path: string,
): { type: RepoType; repo: string; commit: string; repoDir: string } | null {
  let dir = resolve(path);
  for (;;) {
    const parent = dirname(dir);
    if (parent === dir) return null;
    const repoDir = dirname(parent);
    const folder = parseRepoFolder(basename(repoDir));
    if (basename(parent) === "snapshots" && COMMIT.test(basename(dir)) && folder) {
      return { type: folder.type, repo: folder.id, commit: basename(dir), repoDir };
    }
    dir = parent;
  }
}

/** The flat refs that name `commit` in `repoDir` (stepN first, then the others by name), for provenance. */
export async function refsNaming(repoDir: string, id: string, commit: string): Promise<string[]> {
  return (await repoRevisions(repoDir, id)).filter((r) => r.commit === commit).map((r) => r.revision)
    .sort(byRevision);
}

/** stepN revisions in numeric order, others alphabetically after them. */
export function byRevision(a: string, b: string): number {
  const sa = /^step(\d+)$/.exec(a), sb = /^step(\d+)$/.exec(b);
  if (sa && sb) return Number(sa[1]) - Number(sb[1]);
  if (sa || sb) return sa ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A repository id's folder in the hub cache; an EngramError (`flag` names the option) when it is not there. */
export async function cachedRepoDir(type: RepoType, id: string, flag: string): Promise<string> {
  const cache = hubCacheDir();
  const dir = join(cache.dir, repoFolderName(type, id));
  if (!(await Deno.stat(dir).catch(() => null))?.isDirectory) {
    throw new EngramError(
      `${flag} ${id}: no such file or folder, and no ${
        repoFolderName(type, id)
      } in the Hugging Face cache ${cache.dir} ` +
        `(${cache.where}); download it (./engram download ${id}${
          type === "dataset" ? " --repo-type dataset" : ""
        }), set HF_HUB_CACHE to the cache that holds it, or pass its folder`,
    );
  }
  return dir;
}

/**
 * A data or results argument that names a dataset repository, resolved to a path in its snapshot: a
 * `datasets--ORG--NAME` folder, or `ORG/NAME` where no such local path (nor ORG/NAME.idx, .bin) exists, looked up
 * in the hub cache; either may be followed by `@REVISION` (default: main, else the only ref) and `/PATH` inside
 * the snapshot. Anything else is returned as it is, with no origin. The snapshot is checked (there, no broken
 * link).
 */
export async function resolveDatasetPath(
  arg: string,
  flag: string,
): Promise<{ path: string; origin?: HubRevision }> {
  const exists = async (p: string) => (await Deno.stat(p).catch(() => null)) !== null;
  let repoDir: string, id: string, revision: string | undefined, rest: string;
  const local = /^(.*datasets--[^/@]+)(?:@([^/]+))?(\/.*)?$/.exec(arg);
  if (local && /^\/(snapshots|blobs|refs)(\/|$)/.test(local[3] ?? "")) {
    return { path: arg }; // a path inside the repository folder: read as it is (hubData traces its origin)
  } else if (local && parseRepoFolder(basename(local[1]))?.type === "dataset" && await exists(local[1])) {
    repoDir = resolve(local[1]);
    id = parseRepoFolder(basename(repoDir))!.id;
    [revision, rest] = [local[2], local[3] ?? ""];
  } else {
    const hub = /^([^/@]+\/[^/@]+)(?:@([^/]+))?(\/.*)?$/.exec(arg);
    if (!hub || !isRepoId(hub[1])) return { path: arg };
    // A local folder ORG means a local path was meant (a typo is for the data's reader to name).
    const org = hub[1].split("/")[0];
    for (const p of [org, arg, `${arg}.idx`, `${arg}.bin`]) if (await exists(p)) return { path: arg };
    id = hub[1];
    [revision, rest] = [hub[2], hub[3] ?? ""];
    repoDir = await cachedRepoDir("dataset", id, flag);
  }
  const revisions = await repoRevisions(repoDir, id);
  const pick = revision !== undefined
    ? revisions.find((r) => r.revision === revision)
    : revisions.find((r) => r.revision === "main") ?? (revisions.length === 1 ? revisions[0] : undefined);
  if (!pick) {
    const have = revisions.map((r) => r.revision).join(", ") || "none";
    throw new EngramError(
      revision !== undefined
        ? `${flag} ${arg}: ${repoDir} has no ref ${revision} (its refs: ${have}); download it ` +
          `(./engram download ${id} --repo-type dataset --revisions ${revision}) or name one of its refs`
        : `${flag} ${arg}: ${repoDir} has no ref main${
          revisions.length > 0
            ? ` but ${revisions.length} others (${have}); name one as ${id}@REVISION`
            : "; download it"
        }`,
    );
  }
  await checkSnapshot(pick, "dataset");
  const inside = rest.replace(/^\/+/, "");
  return { path: inside === "" ? pick.dir : join(pick.dir, inside), origin: pick };
}

/**
 * The token data in a dataset snapshot folder: the prefix X of its one Megatron X.idx (Pythia's pre-shuffled
 * `document`), else its one .npy or .jsonl file; anything else is an EngramError that lists what is there.
 */
export async function dataInFolder(dir: string, flag: string): Promise<string> {
  const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  for (const ext of [".idx", ".npy", ".jsonl"]) {
    const found = names.filter((n) => n.endsWith(ext));
    if (found.length === 1) return join(dir, ext === ".idx" ? found[0].slice(0, -ext.length) : found[0]);
    if (found.length > 1) {
      throw new EngramError(
        `${flag} ${dir} holds ${found.length} ${ext} files (${found.slice(0, 4).join(", ")}); name one: ` +
          `${flag} ${join(dir, found[0].slice(0, ext === ".idx" ? -ext.length : undefined))}`,
      );
    }
  }
  throw new EngramError(
    `${flag} ${dir} holds no token data (a Megatron .idx with its .bin, a .npy or a .jsonl; it has ${
      names.slice(0, 6).join(", ") || "nothing"
    }); download the data files into it, or pass another --data`,
  );
}

/** Where data in the huggingface_hub cache came from: its dataset repository, the ref (when one names it) and
 * the commit. */
export interface DataOrigin {
  /** The dataset repository, ORG/NAME. */
  repo: string;
  /** The ref that named the snapshot, when one did. */
  revision?: string;
  /** The snapshot's commit. */
  commit: string;
}

/**
 * A --data argument as the path of its rows: a dataset of the hub cache (datasets--ORG--NAME, or ORG/NAME found
 * in the cache; resolveDatasetPath) becomes the data in its snapshot (dataInFolder, e.g. Pythia's `document`),
 * and any path inside a snapshot is traced to its repository for the provenance.
 */
export async function hubData(arg: string, flag: string): Promise<{ path: string; origin?: DataOrigin }> {
  const { path, origin } = await resolveDatasetPath(arg, flag);
  const dir = origin && (await Deno.stat(path).catch(() => null))?.isDirectory;
  const data = dir ? await dataInFolder(path, flag) : path;
  if (origin) {
    return { path: data, origin: { repo: origin.repo, revision: origin.revision, commit: origin.commit } };
  }
  const where = hubOrigin(data);
  if (!where) return { path: data };
  const [revision] = await refsNaming(where.repoDir, where.repo, where.commit);
  return {
    path: data,
    origin: { repo: where.repo, ...(revision ? { revision } : {}), commit: where.commit },
  };
}
