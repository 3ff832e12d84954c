// Builds huggingface_hub cache trees for the tests: <cache>/<type>s--ORG--NAME/{blobs/<sha256>, refs/<revision>,
// snapshots/<commit>/<path> → ../../blobs/<sha256>}, as huggingface_hub and ./engram download lay them out.
import { dirname, join, relative } from "../base/path.ts";

const hex = (bytes: ArrayBuffer) =>
  [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** A made-up commit hash (40 hex digits) that depends on `text` only. */
export async function fakeCommit(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text)));
}

/** The folder of every file under `dir`, as paths relative to it (links followed), sorted. */
export async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if ((await Deno.stat(join(dir, rel))).isDirectory) out.push(...await filesUnder(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

/**
 * Adds the files of folder `from` to the cache as commit `commit` of repository `id` (type "model" or
 * "dataset"), named by `refs` (each a refs/ file holding the commit; none: an unnamed snapshot). Returns the
 * snapshot folder.
 */
export async function addSnapshot(
  cache: string,
  type: "model" | "dataset",
  id: string,
  commit: string,
  from: string,
  refs: string[],
): Promise<string> {
  const repo = join(cache, `${type}s--${id.replace("/", "--")}`);
  const snapshot = join(repo, "snapshots", commit);
  for (const rel of await filesUnder(from)) {
    const bytes = await Deno.readFile(join(from, rel));
    const blob = join(repo, "blobs", hex(await crypto.subtle.digest("SHA-256", bytes)));
    await Deno.mkdir(dirname(blob), { recursive: true });
    await Deno.writeFile(blob, bytes);
    const link = join(snapshot, rel);
    await Deno.mkdir(dirname(link), { recursive: true });
    await Deno.symlink(relative(dirname(link), blob), link);
  }
  for (const ref of refs) {
    await Deno.mkdir(dirname(join(repo, "refs", ref)), { recursive: true });
    await Deno.writeTextFile(join(repo, "refs", ref), commit);
  }
  return snapshot;
}

/** Runs `fn` with the environment variables `vars` set (undefined: unset), restored afterwards. */
export async function withEnv(
  vars: Record<string, string | undefined>,
  fn: () => Promise<void>,
): Promise<void> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) x === undefined ? Deno.env.delete(k) : Deno.env.set(k, x);
  };
  set(vars);
  try {
    await fn();
  } finally {
    set(before);
  }
}
