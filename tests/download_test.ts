// ./engram download against a Hub served on 127.0.0.1 by the test (no test reaches the internet): the endpoints
// @huggingface/hub calls (/api/{models,datasets}/{repo}/revision/{rev}, /api/.../tree/{rev}, /{repo}/resolve/
// {rev}/{file} with X-Repo-Commit, ETag/X-Linked-Etag, X-Linked-Size and a redirect of LFS files to a CDN path,
// Range requests), serving pico-1's checkpoints as a model repository and the pico data as a dataset. Checked:
// the cache tree (blobs by hash, refs, snapshot links), HF_TOKEN sent, files kept on a rerun, an interrupted file
// resumed from its byte, a corrupted one refused, and score --model ORG/NAME reading what was downloaded.
import { Gpu } from "../engine/gpu.ts";
import { EngramError } from "../base/errors.ts";
import { downloadCommand, patternRegExp } from "../cli/download.ts";
import { scoreCommand } from "../cli/score.ts";
import { resolveCheckpoints } from "../io/checkpoints.ts";
import { hubData } from "../io/hub.ts";
import { readResults } from "../io/results.ts";
import { assert, assertEquals, assertRejects } from "./assert.ts";
import { engramLines, FIXTURES, PICO_DATA, PICO_MODELS, runCli, withTempDir } from "./helpers.ts";
import { fakeCommit, filesUnder, withEnv } from "./hub_tree.ts";

const TOKEN = "hf_engramtest";
const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
const digest = async (algo: string, bytes: Uint8Array<ArrayBuffer>) =>
  hex(await crypto.subtle.digest(algo, bytes));

interface ServedFile {
  path: string;
  bytes: Uint8Array<ArrayBuffer>;
  lfs: boolean;
  sha256: string;
  /** git's blob id: sha1("blob <size>\0" + bytes). */
  oid: string;
}

interface ServedRepo {
  type: "model" | "dataset";
  id: string;
  /** Ref → commit. */
  refs: Record<string, string>;
  files: Record<string, ServedFile[]>;
}

async function servedFiles(dir: string, lfs: (path: string) => boolean): Promise<ServedFile[]> {
  const out: ServedFile[] = [];
  for (const path of await filesUnder(dir)) {
    const bytes = await Deno.readFile(`${dir}/${path}`);
    const header = new TextEncoder().encode(`blob ${bytes.length}\0`);
    out.push({
      path,
      bytes,
      lfs: lfs(path),
      sha256: await digest("SHA-256", bytes),
      oid: await digest("SHA-1", new Uint8Array([...header, ...bytes])),
    });
  }
  return out;
}

/** A Hub on 127.0.0.1: what @huggingface/hub asks of huggingface.co, for `repos`. */
class FakeHub {
  requests: { path: string; range: string | null; auth: string | null }[] = [];
  /** sha256 → bytes after which the next full transfer of that blob breaks off. */
  cutAfter = new Map<string, number>();
  /** sha256s served with one byte changed. */
  corrupt = new Set<string>();
  private server: Deno.HttpServer<Deno.NetAddr>;

  constructor(readonly repos: ServedRepo[]) {
    this.server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (r) => this.handle(r));
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.addr.port}`;
  }

  async close(): Promise<void> {
    await this.server.shutdown();
  }

  private json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
    return new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });
  }

  private bytes(req: Request, file: ServedFile, headers: Record<string, string>): Response {
    let body = file.bytes;
    if (this.corrupt.has(file.sha256)) {
      body = body.slice();
      body[body.length >> 1] ^= 0xff;
    }
    const size = body.length;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.get("range") ?? "");
    const [a, b] = m
      ? [Number(m[1]), m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1)]
      : [0, size - 1];
    const part = body.slice(a, b + 1);
    const cut = this.cutAfter.get(file.sha256);
    let stream: BodyInit = part;
    if (cut !== undefined && a === 0 && part.length === size) {
      this.cutAfter.delete(file.sha256);
      // The connection breaks off after `cut` bytes of the announced length, as a dropped download does.
      stream = new ReadableStream({
        start(c) {
          c.enqueue(part.slice(0, cut));
          c.close();
        },
      });
    }
    return new Response(stream, {
      status: m ? 206 : 200,
      headers: {
        ...headers,
        "accept-ranges": "bytes",
        ...(m ? { "content-range": `bytes ${a}-${b}/${size}` } : {}),
        "content-length": String(part.length),
      },
    });
  }

  private handle(req: Request): Response {
    const url = new URL(req.url);
    const path = decodeURIComponent(url.pathname);
    const auth = req.headers.get("authorization");
    this.requests.push({ path, range: req.headers.get("range"), auth });
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      const file = this.repos.flatMap((r) => Object.values(r.files).flat()).find((f) => f.sha256 === cdn[1]);
      return file ? this.bytes(req, file, { etag: `"${file.sha256}"` }) : new Response("no", { status: 404 });
    }
    if (auth !== `Bearer ${TOKEN}`) {
      return this.json({ error: "Invalid credentials in Authorization header" }, 401);
    }
    const api = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)$/.exec(path);
    const resolve = /^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const [type, id, rev] = api
      ? [api[1] === "models" ? "model" : "dataset", api[2], api[4]]
      : resolve
      ? [resolve[1] ? "dataset" : "model", resolve[2], resolve[3]]
      : [null, null, null];
    const repo = this.repos.find((r) => r.type === type && r.id === id);
    if (!repo) {
      return this.json({ error: "Repository not found" }, 401, { "x-error-code": "RepositoryNotFound" });
    }
    const commit = repo.refs[rev!] ?? (repo.files[rev!] ? rev! : undefined);
    if (!commit) {
      return this.json({ error: `Invalid rev id: ${rev}` }, 404, { "x-error-code": "RevisionNotFound" });
    }
    const files = repo.files[commit];
    if (api?.[3] === "revision") {
      return this.json({
        _id: "x",
        id: repo.id,
        sha: commit,
        private: false,
        lastModified: "2024-01-01T00:00:00Z",
      });
    }
    if (api) {
      return this.json(files.map((f) => ({
        type: "file",
        oid: f.oid,
        size: f.bytes.length,
        path: f.path,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.bytes.length, pointerSize: 134 } } : {}),
      })));
    }
    const file = files.find((f) => f.path === resolve![4]);
    if (!file) return this.json({ error: "Entry not found" }, 404, { "x-error-code": "EntryNotFound" });
    const common = { "x-repo-commit": commit, etag: `"${file.oid}"` };
    if (!file.lfs) return this.bytes(req, file, common);
    return new Response(null, {
      status: 302,
      headers: {
        ...common,
        location: `/cdn/${file.sha256}`,
        "x-linked-etag": `"${file.sha256}"`,
        "x-linked-size": String(file.bytes.length),
      },
    });
  }
}

async function fakeHub(): Promise<FakeHub> {
  const lfs = (p: string) => !p.endsWith(".json") && !p.endsWith(".md");
  const model: ServedRepo = { type: "model", id: "engram-test/pico-1", refs: {}, files: {} };
  for (const revision of ["step273", "step546", "step1092"]) {
    const commit = await fakeCommit(revision);
    model.refs[revision] = commit;
    model.files[commit] = await servedFiles(`${PICO_MODELS}/pico-1/${revision}`, lfs);
  }
  model.refs.main = model.refs.step1092;
  const data: ServedRepo = { type: "dataset", id: "engram-test/pico-data", refs: {}, files: {} };
  const commit = await fakeCommit("data");
  data.refs.main = commit;
  data.files[commit] = [
    ...await servedFiles(`${FIXTURES}pico/data`, lfs),
    ...await servedFiles(`${FIXTURES}pico/tokenizer`, lfs), // other files the --include leaves out
  ];
  return new FakeHub([model, data]);
}

async function download(hub: FakeHub, cache: string, args: string[]) {
  let out: Awaited<ReturnType<typeof downloadCommand>> = [];
  await withEnv({ HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN }, async () => {
    out = await downloadCommand([...args, "--cache", cache, "--quiet"]);
  });
  return out;
}

Deno.test("download: --include patterns are huggingface-cli's (fnmatch: * crosses /, ? one, [0-2] a class)", () => {
  const re = patternRegExp("document-0000[0-2]-of-00020.bin");
  assertEquals(
    ["document-00000-of-00020.bin", "document-00002-of-00020.bin", "document-00003-of-00020.bin"]
      .map((p) => re.test(p)),
    [true, true, false],
  );
  assertEquals([patternRegExp("*.parquet").test("data/a.parquet"), patternRegExp("d?ta/*").test("data/x")], [
    true,
    true,
  ]);
  assertEquals([patternRegExp("[!a]*").test("abc"), patternRegExp("a.b").test("axb")], [false, false]);
});

Deno.test("download: revisions into the cache layout, kept on a rerun, then scored as ORG/NAME", async () => {
  const hub = await fakeHub();
  const gpu = await Gpu.open();
  try {
    await withTempDir(async (dir) => {
      const cache = `${dir}/cache`;
      // --dry-run lists and fetches nothing (no resolve, no cache written).
      const listed = await download(hub, cache, ["engram-test/pico-1", "--revisions", "main", "--dry-run"]);
      assertEquals(listed.map((d) => [d.files, d.fetched]), [[2, 0]]);
      assertEquals([
        hub.requests.filter((r) => /resolve|cdn/.test(r.path)),
        await Deno.stat(cache).catch(() => null),
      ], [
        [],
        null,
      ]);
      const done = await download(hub, cache, ["engram-test/pico-1", "--revisions", "step273,main"]);
      const repo = `${cache}/models--engram-test--pico-1`;
      const served = hub.repos[0];
      assertEquals(done.map((d) => [d.revision, d.commit, d.files, d.kept]), [
        ["step273", served.refs.step273, 2, 0],
        ["main", served.refs.main, 2, 1], // its config.json is step273's: the same blob, already there
      ]);
      // refs hold the commits; every snapshot file is a relative link to its blob, named by sha256 (LFS) or oid.
      for (const revision of ["step273", "main"]) {
        const commit = served.refs[revision];
        assertEquals(await Deno.readTextFile(`${repo}/refs/${revision}`), commit);
        for (const f of served.files[commit]) {
          const link = `${repo}/snapshots/${commit}/${f.path}`;
          assertEquals(await Deno.readLink(link), `../../blobs/${f.lfs ? f.sha256 : f.oid}`);
          assertEquals(await Deno.readFile(link), f.bytes);
        }
      }
      // Three blobs (two weights, one config), nothing left over (.incomplete, .lock).
      assertEquals((await filesUnder(`${repo}/blobs`)).length, 3);
      assert(
        hub.requests.filter((r) => !r.path.startsWith("/cdn/")).every((r) => r.auth === `Bearer ${TOKEN}`),
      );
      assert(hub.requests.some((r) => r.path.startsWith("/cdn/")), "LFS files come through the redirect");

      // Again: every file is there, none is fetched.
      hub.requests = [];
      const again = await download(hub, cache, ["engram-test/pico-1", "--revisions", "step273,main"]);
      assertEquals(again.map((d) => [d.fetched, d.kept]), [[0, 2], [0, 2]]);
      assertEquals(hub.requests.filter((r) => /resolve|cdn/.test(r.path)), []);

      // What score reads: ORG/NAME in HF_HUB_CACHE, the same rows and scores as the plain folders.
      await withEnv({ HF_HUB_CACHE: cache }, async () => {
        const found = await resolveCheckpoints("engram-test/pico-1");
        assertEquals(found.map((c) => `${c.model}@${c.revision}`), ["pico-1@step273", "pico-1@main"]);
        const args = ["--data", PICO_DATA, "--count", "16", "--format", "jsonl", "--quiet"];
        await scoreCommand([
          "--model",
          "engram-test/pico-1",
          "--revisions",
          "main",
          "--out",
          `${dir}/hub`,
          ...args,
        ], gpu);
        await scoreCommand(
          ["--model", `${PICO_MODELS}/pico-1/step1092`, "--out", `${dir}/plain`, ...args],
          gpu,
        );
        const a = await readResults(`${dir}/hub/pico-1@main.jsonl`);
        const b = await readResults(`${dir}/plain/pico-1@step1092.jsonl`);
        assertEquals([...a.table.firstMismatch], [...b.table.firstMismatch]);
        assertEquals([...a.table.matches!], [...b.table.matches!]);
        assertEquals([a.provenance!.repo, a.provenance!.commit], ["engram-test/pico-1", served.refs.main]);
      });
    });
  } finally {
    gpu.destroy();
    await hub.close();
  }
});

Deno.test("download: an interrupted file resumes from its byte; a corrupted one is refused and deleted", async () => {
  const hub = await fakeHub();
  try {
    await withTempDir(async (cache) => {
      const served = hub.repos[0], commit = served.refs.step546;
      const weights = served.files[commit].find((f) => f.lfs)!;
      const repo = `${cache}/models--engram-test--pico-1`;
      hub.cutAfter.set(weights.sha256, 300_000);
      const e = await assertRejects(
        () => download(hub, cache, ["engram-test/pico-1", "--revisions", "step546"]),
        EngramError,
      );
      assert(/interrupted after \d+ of 727456 bytes .*run again to resume/.test(e.message), e.message);
      const partial = (await Deno.stat(`${repo}/blobs/${weights.sha256}.incomplete`)).size;
      assert(partial > 0 && partial < weights.bytes.length, `${partial} bytes kept`);
      assertEquals(await Deno.stat(`${repo}/refs/step546`).catch(() => null), null); // no ref to a partial snapshot
      hub.requests = [];
      const [done] = await download(hub, cache, ["engram-test/pico-1", "--revisions", "step546"]);
      const ranges = hub.requests.filter((r) => r.path === `/cdn/${weights.sha256}`).map((r) => r.range);
      assertEquals(ranges.at(-1), `bytes=${partial}-${weights.bytes.length - 1}`);
      assertEquals(done.fetched, weights.bytes.length - partial);
      assertEquals(await Deno.readFile(`${repo}/snapshots/${commit}/model.safetensors`), weights.bytes);
      assertEquals(await Deno.readTextFile(`${repo}/refs/step546`), commit);

      // A dataset, some files by pattern; one served corrupted is refused, its partial file deleted.
      const data = hub.repos[1], dataCommit = data.refs.main;
      const bin = data.files[dataCommit].find((f) => f.path.endsWith(".bin"))!;
      hub.corrupt.add(bin.sha256);
      const args = [
        "engram-test/pico-data",
        "--repo-type",
        "dataset",
        "--include",
        "*.idx,pico_doc?ment.[b]in",
      ];
      const bad = await assertRejects(() => download(hub, cache, args), EngramError);
      assert(
        bad.message.includes(`its sha256 is `) && bad.message.includes(`not ${bin.sha256}`),
        bad.message,
      );
      const dataRepo = `${cache}/datasets--engram-test--pico-data`;
      assertEquals(await Deno.stat(`${dataRepo}/blobs/${bin.sha256}.incomplete`).catch(() => null), null);
      assertEquals(await Deno.stat(`${dataRepo}/refs/main`).catch(() => null), null);
      hub.corrupt.clear();
      const [got] = await download(hub, cache, args);
      assertEquals(await filesUnder(got.snapshot), ["pico_document.bin", "pico_document.idx"]);
      await withEnv({ HF_HUB_CACHE: cache }, async () => {
        assertEquals(await hubData("engram-test/pico-data", "--data"), {
          path: `${got.snapshot}/pico_document`,
          origin: { repo: "engram-test/pico-data", revision: "main", commit: dataCommit },
        });
      });
    });
  } finally {
    await hub.close();
  }
});

Deno.test("download: a revision the Hub does not have, a repository it does not know: one engram: line", async () => {
  const hub = await fakeHub();
  try {
    await withTempDir(async (cache) => {
      const env = { HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN, HF_HUB_CACHE: cache };
      const cases: [string[], RegExp][] = [
        [
          ["engram-test/pico-1", "--revisions", "step7"],
          /^engram: download: engram-test\/pico-1@step7: the revision's commit: HTTP 404 .*\(Invalid rev id: step7\); check the repository and revision names/,
        ],
        [
          ["engram-test/pico-data"],
          /^engram: download: engram-test\/pico-data@main: .*HTTP 401 .*set HF_TOKEN .*\(a dataset needs --repo-type dataset\)$/,
        ],
      ];
      for (const [args, message] of cases) {
        const run = await runCli(["download", ...args], { env });
        const lines = engramLines(run.stderr);
        assertEquals([run.code, lines.length], [1, 1], run.stderr);
        assert(message.test(lines[0]), lines[0]);
      }
      assertEquals(await filesUnder(cache), []);
    });
  } finally {
    await hub.close();
  }
});
