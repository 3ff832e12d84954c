// `./engram download`: models and datasets from the Hugging Face Hub into the huggingface_hub cache layout
// (io/hub.ts), which score --model/--data and report --results then read by repository id.
//
// The Hub's API is spoken by @huggingface/hub (modelInfo/datasetInfo for a revision's commit, listFiles for its
// files, fileDownloadInfo + downloadFile for each file's bytes, ranges and Xet storage included). Its own
// downloadFileToCacheDir is not used: it restarts an interrupted file from byte 0, checks neither size nor hash,
// reports no progress and writes no ref. So the cache entries are written here, as huggingface_hub (Python)
// writes them: bytes go to blobs/<etag>.incomplete (appended from where an interrupted run stopped, fetched as a
// range from that byte), are checked against the listing's size and hash (LFS sha256, or the git blob sha1 of a
// small file), renamed to blobs/<etag>, linked from snapshots/<commit>/<path>; the ref is written last, so a ref
// names a snapshot whose chosen files are all there.
import { createHash, type Hash } from "node:crypto";
import {
  datasetInfo,
  downloadFile,
  fileDownloadInfo,
  HubApiError,
  type ListFileEntry,
  listFiles,
  modelInfo,
  type RepoDesignation,
} from "@huggingface/hub";
import { writeTextAtomic } from "../base/atomic.ts";
import { EngramError } from "../base/errors.ts";
import { fmtBytes } from "../engine/gpu.ts";
import { dirname, join, relative } from "../base/path.ts";
import { hubCacheDir, isRepoId, repoFolderName, type RepoType } from "../io/hub.ts";
import { FileLock } from "../io/lock.ts";
import { listFlag, parseArgs } from "./args.ts";

/** `./engram download --help`: what download does and its options. */
export const DOWNLOAD_HELP = `./engram download ORG/NAME[,ORG/NAME...] [options]
  Downloads models or datasets from the Hugging Face Hub into the huggingface_hub cache (the layout its Python
  and JavaScript clients share: models--ORG--NAME/{blobs, refs, snapshots}), every repository at every
  revision asked for; score --model ORG/NAME and --data/--results ORG/NAME then read them from there.
  --revisions r1,r2    branches, tags or commits (default main), e.g. step71000,step143000 for Pythia
  --repo-type T        model (default) or dataset
  --include P1,P2      only files matching one of these patterns (* any characters, ? one, [0-2] a class; as
                       huggingface-cli's --include), e.g. 'document.idx,document-0000[0-2]-of-00020.bin'
  --exclude P1,P2      not files matching these
  --cache DIR          the cache (default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)
  --dry-run            list the files each revision would download (size, and whether the cache has them)
                       and download nothing
  --quiet              no progress on stderr
  The Hub is $HF_ENDPOINT (default https://huggingface.co); $HF_TOKEN is sent for gated or private repositories.
  Files already in the cache are kept (by size); an interrupted download resumes from its .incomplete file.
  Each file's size and hash (sha256 of LFS files, the git blob hash of others) are checked before it is kept.`;

const OPTIONS = {
  revisions: { type: "string" },
  "repo-type": { type: "string" },
  include: { type: "string" },
  exclude: { type: "string" },
  cache: { type: "string" },
  "dry-run": { type: "boolean" },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** What one repository at one revision came to. */
export interface DownloadSummary {
  /** The repository, ORG/NAME. */
  repo: string;
  /** The revision asked for (branch, tag or commit). */
  revision: string;
  /** The commit hash the Hub resolved it to. */
  commit: string;
  /** Its snapshot folder in the cache (snapshots/COMMIT). */
  snapshot: string;
  /** Files chosen (by --include/--exclude). */
  files: number;
  /** Bytes fetched by this run (resumed files count their new bytes only). */
  fetched: number;
  /** Files that were in the cache already. */
  kept: number;
}

/**
 * A huggingface-cli --include pattern (Python's fnmatch) as a RegExp: `*` any characters ("/" included), `?`
 * one, `[seq]` / `[!seq]` a class. Written here because glob packages give `*` other meanings ("/" excluded).
 */
export function patternRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[" && pattern.indexOf("]", i + 2) > 0) {
      const end = pattern.indexOf("]", i + 2);
      let body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
      if (body.startsWith("!")) body = `^${body.slice(1)}`;
      re += `[${body}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** A status line rewritten in place on an interactive stderr (at most 4 times a second), else one line a file. */
function progress(quiet: boolean): (text: string, done: boolean) => void {
  const interactive = Deno.stderr.isTerminal(), encoder = new TextEncoder();
  let shown = 0;
  return (text, done) => {
    if (quiet) return;
    if (!interactive) {
      if (done) console.error(text);
      return;
    }
    const now = performance.now();
    if (now - shown < 250 && !done) return;
    shown = now;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${text}${done ? "\n" : ""}`));
  };
}

/** `./engram download` on `argv`: what each repository at each revision came to. */
export async function downloadCommand(argv: string[]): Promise<DownloadSummary[]> {
  const { values: a, positionals } = parseArgs(argv, OPTIONS, "download");
  if (a.help) {
    console.log(DOWNLOAD_HELP);
    return [];
  }
  const repos = positionals.flatMap((p) => listFlag(p, "repositories")!);
  if (repos.length === 0) {
    throw new EngramError("download: name the repositories, e.g. ./engram download EleutherAI/pythia-160m");
  }
  for (const id of repos) {
    if (!isRepoId(id)) {
      throw new EngramError(
        `download: "${id}" is not a repository id ORG/NAME (e.g. EleutherAI/pythia-160m)`,
      );
    }
  }
  const type = (a["repo-type"] ?? "model") as RepoType;
  if (type !== "model" && type !== "dataset") {
    throw new EngramError(`download: --repo-type must be model or dataset, got "${a["repo-type"]}"`);
  }
  const revisions = listFlag(a.revisions, "revisions") ?? ["main"];
  const include = listFlag(a.include, "include")?.map(patternRegExp);
  const exclude = listFlag(a.exclude, "exclude")?.map(patternRegExp) ?? [];
  const cache = a.cache ?? hubCacheDir().dir;
  const endpoint = (Deno.env.get("HF_ENDPOINT") || "https://huggingface.co").replace(/\/+$/, "");
  const token = Deno.env.get("HF_TOKEN") || undefined;
  if (token !== undefined && !token.startsWith("hf_")) {
    throw new EngramError(
      "download: $HF_TOKEN does not start with hf_; set it to a Hugging Face access token",
    );
  }
  const hub = { hubUrl: endpoint, accessToken: token };
  const show = progress(a.quiet ?? false);
  const summaries: DownloadSummary[] = [];
  for (const id of repos) {
    for (const revision of revisions) {
      const dryRun = a["dry-run"] ?? false;
      const summary = await downloadRevision({
        id,
        type,
        revision,
        cache,
        hub,
        include,
        exclude,
        show,
        dryRun,
      });
      summaries.push(summary);
      if (dryRun) continue;
      console.log(
        `download: ${id}@${revision} (commit ${summary.commit}): ${summary.files} files, ${
          fmtBytes(summary.fetched)
        } fetched, ${summary.kept} already there → ${summary.snapshot}`,
      );
    }
  }
  return summaries;
}

interface RevisionJob {
  id: string;
  type: RepoType;
  revision: string;
  cache: string;
  hub: { hubUrl: string; accessToken?: string };
  include?: RegExp[];
  exclude: RegExp[];
  show: (text: string, done: boolean) => void;
  /** List the chosen files on stdout instead of downloading them. */
  dryRun?: boolean;
}

/** An error of the Hub or the network as one line: what was asked, what came back, what to do. */
function hubError(e: unknown, what: string, job: RevisionJob): EngramError {
  if (e instanceof EngramError) return e;
  const repoType = job.type === "dataset" ? "" : " (a dataset needs --repo-type dataset)";
  if (e instanceof HubApiError) {
    const message = e.message.split(". URL:")[0];
    const fix = e.statusCode === 401 || e.statusCode === 403
      ? `the repository may be gated or private: set HF_TOKEN to a token with access${repoType}`
      : e.statusCode === 404
      ? `check the repository and revision names${repoType}`
      : "try again later";
    return new EngramError(`download: ${what}: HTTP ${e.statusCode} from ${e.url} (${message}); ${fix}`);
  }
  const message = (e as Error)?.message ?? String(e);
  return new EngramError(
    `download: ${what}: ${
      message.split("\n")[0]
    } (from ${job.hub.hubUrl}); check the network or HF_ENDPOINT, ` +
      `and run again (interrupted files resume)`,
  );
}

async function downloadRevision(job: RevisionJob): Promise<DownloadSummary> {
  const { id, type, revision } = job;
  const repo: RepoDesignation = { type, name: id };
  const label = `${id}@${revision}`;
  let commit: string;
  try {
    const info = type === "model"
      ? await modelInfo({ ...job.hub, name: id, revision, additionalFields: ["sha"] })
      : await datasetInfo({ ...job.hub, name: id, revision, additionalFields: ["sha"] });
    commit = String((info as { sha?: unknown }).sha ?? "");
  } catch (e) {
    throw hubError(e, `${label}: the revision's commit`, job);
  }
  if (!/^[0-9a-f]{40}$/.test(commit)) {
    throw new EngramError(
      `download: ${label}: the Hub gave no commit hash (got "${commit}"); try again later`,
    );
  }
  const entries: ListFileEntry[] = [];
  try {
    for await (const e of listFiles({ ...job.hub, repo, revision: commit, recursive: true })) {
      if (e.type === "file") entries.push(e);
    }
  } catch (e) {
    throw hubError(e, `${label}: its list of files`, job);
  }
  const chosen = entries.filter((e) =>
    (!job.include || job.include.some((re) => re.test(e.path))) && !job.exclude.some((re) => re.test(e.path))
  );
  if (chosen.length === 0) {
    throw new EngramError(
      `download: ${label}: no file matches --include/--exclude (it has ${entries.length} files: ${
        entries.slice(0, 6).map((e) => e.path).join(", ")
      }${entries.length > 6 ? ", ..." : ""}); check the patterns`,
    );
  }
  const repoDir = join(job.cache, repoFolderName(type, id));
  const snapshot = join(repoDir, "snapshots", commit);
  const total = chosen.reduce((n, e) => n + (e.lfs?.size ?? e.size), 0);
  if (job.dryRun) {
    let kept = 0;
    for (const e of chosen) {
      const size = e.lfs?.size ?? e.size;
      const there = (await Deno.stat(join(repoDir, "blobs", etagOf(e))).catch(() => null))?.size === size;
      if (there) kept++;
      console.log(`${label}\t${e.path}\t${size}\t${there ? "in the cache" : "to download"}`);
    }
    console.log(
      `download: ${label} (commit ${commit}): ${chosen.length} files, ${fmtBytes(total)} (dry run)`,
    );
    return { repo: id, revision, commit, snapshot, files: chosen.length, fetched: 0, kept };
  }
  const state = { done: 0, fetched: 0, kept: 0 };
  const t0 = performance.now();
  for (const [i, entry] of chosen.entries()) {
    const what = `${label}: ${entry.path} (${i + 1}/${chosen.length})`;
    const fetched = await downloadFile1(job, repo, commit, repoDir, entry, (bytes, fileDone) => {
      const seconds = (performance.now() - t0) / 1000;
      job.show(
        `${what}: ${fmtBytes(state.done + bytes)} / ${fmtBytes(total)}, ${
          fmtBytes((state.fetched + bytes) / Math.max(seconds, 1e-3))
        }/s`,
        fileDone,
      );
    });
    state.done += entry.lfs?.size ?? entry.size;
    state.fetched += fetched ?? 0;
    if (fetched === null) state.kept++;
  }
  // The ref last: it names a snapshot whose chosen files are all there (written whole, then renamed).
  if (revision !== commit) {
    await writeTextAtomic(join(repoDir, "refs", revision), commit);
  }
  return {
    repo: id,
    revision,
    commit,
    snapshot,
    files: chosen.length,
    fetched: state.fetched,
    kept: state.kept,
  };
}

/** The blob's name: as huggingface_hub names it, the LFS sha256 of a large file, else its git blob id. */
const etagOf = (e: ListFileEntry): string => e.lfs?.oid ?? e.oid ?? "";

/**
 * One file into the cache: its blob (fetched, or resumed from blobs/<etag>.incomplete, then checked) and its
 * snapshot link. Returns the bytes fetched, or null when the blob was there already.
 */
async function downloadFile1(
  job: RevisionJob,
  repo: RepoDesignation,
  commit: string,
  repoDir: string,
  entry: ListFileEntry,
  onBytes: (bytes: number, done: boolean) => void,
): Promise<number | null> {
  const etag = etagOf(entry), size = entry.lfs?.size ?? entry.size;
  const where = `${job.id}@${job.revision}: ${entry.path}`;
  if (!/^[0-9a-f]{40,64}$/.test(etag)) {
    throw new EngramError(
      `download: ${where}: the listing gives no hash for it ("${etag}"); try again later`,
    );
  }
  if (entry.path.split("/").some((part) => part === ".." || part === "") || entry.path.startsWith("/")) {
    throw new EngramError(`download: ${where}: the path leaves the snapshot folder; refused`);
  }
  const blob = join(repoDir, "blobs", etag);
  const link = join(repoDir, "snapshots", commit, entry.path);
  await Deno.mkdir(dirname(blob), { recursive: true });
  await Deno.mkdir(dirname(link), { recursive: true });
  const have = await Deno.stat(blob).catch(() => null);
  let fetched: number | null = null;
  if (have?.isFile && have.size === size) {
    onBytes(size, true);
  } else {
    if (have) await Deno.remove(blob); // a blob of another size is not this file
    const lock = await FileLock.acquire(blob).catch((e) => {
      throw e instanceof EngramError
        ? new EngramError(`download: ${where}: ${blob} is being downloaded by another run; wait for it`)
        : e;
    });
    try {
      fetched = await fetchBlob(job, repo, commit, entry, blob, size, onBytes);
    } finally {
      lock.release();
    }
  }
  const target = relative(dirname(link), blob);
  if (await Deno.readLink(link).catch(() => null) !== target) {
    await Deno.remove(link).catch(() => {});
    await Deno.symlink(target, link);
  }
  return fetched;
}

/** Bytes [from, size) of the file appended to `incomplete`, hashed on the way; returns the hasher. */
async function fetchBlob(
  job: RevisionJob,
  repo: RepoDesignation,
  commit: string,
  entry: ListFileEntry,
  blob: string,
  size: number,
  onBytes: (bytes: number, done: boolean) => void,
): Promise<number> {
  const where = `${job.id}@${job.revision}: ${entry.path}`;
  const incomplete = `${blob}.incomplete`;
  let from = (await Deno.stat(incomplete).catch(() => null))?.size ?? 0;
  if (from > size) {
    await Deno.remove(incomplete);
    from = 0;
  }
  // The hash covers the bytes an earlier run left too: read them back first.
  const hash = newHash(entry, size);
  if (from > 0) {
    using old = await Deno.open(incomplete);
    for await (const chunk of old.readable) hash.update(chunk);
  }
  let got = from;
  if (from < size) {
    let body: ReadableStream<Uint8Array>;
    try {
      const info = await fileDownloadInfo({ ...job.hub, repo, path: entry.path, revision: commit });
      if (!info) {
        throw new EngramError(`download: ${where}: the Hub has no such file at ${commit}; try again`);
      }
      if (info.size !== size) {
        throw new EngramError(
          `download: ${where}: the Hub serves ${info.size} bytes but lists ${size}; try again later`,
        );
      }
      const file = await downloadFile({
        ...job.hub,
        repo,
        path: entry.path,
        revision: commit,
        downloadInfo: info,
      });
      if (!file) {
        throw new EngramError(`download: ${where}: the Hub has no such file at ${commit}; try again`);
      }
      body = file.slice(from).stream();
    } catch (e) {
      throw hubError(e, where, job);
    }
    using out = await Deno.open(incomplete, { write: true, create: true, append: true });
    try {
      for await (const chunk of body) {
        if (got + chunk.length > size) {
          throw new EngramError(
            `download: ${where}: the Hub sent more than the ${size} bytes listed; try again`,
          );
        }
        hash.update(chunk);
        for (let off = 0; off < chunk.length;) off += await out.write(chunk.subarray(off));
        got += chunk.length;
        onBytes(got, false);
      }
    } catch (e) {
      throw e instanceof EngramError ? e : new EngramError(
        `download: ${where}: interrupted after ${got} of ${size} bytes (${
          (e as Error)?.message ?? e
        }); run again to resume from ${incomplete}`,
      );
    }
    out.syncSync();
  }
  if (got !== size) {
    throw new EngramError(
      `download: ${where}: the transfer ended after ${got} of ${size} bytes; run again to resume from ${incomplete}`,
    );
  }
  const digest = hash.digest("hex"), want = etagOf(entry);
  if (digest !== want) {
    await Deno.remove(incomplete);
    throw new EngramError(
      `download: ${where}: its ${
        entry.lfs ? "sha256" : "git blob hash"
      } is ${digest}, not ${want} as listed ` +
        `(corrupted in transfer); the partial file was deleted, run again`,
    );
  }
  await Deno.rename(incomplete, blob);
  onBytes(size, true);
  return got - from;
}

/** The hash a file is named by: sha256 of an LFS file's bytes; for others git's blob id, sha1("blob N\0" bytes). */
function newHash(entry: ListFileEntry, size: number): Hash {
  if (entry.lfs) return createHash("sha256");
  return createHash("sha1").update(`blob ${size}\0`);
}
