// Scale check of results files (not a test): a synthetic scoring journal of N rows, then, each step in its own
// process so that its peak RSS (VmHWM) is its own:
//   - score's final write from the journal (the same writeResultsStream + journalBatches score runs), to Parquet
//     and to CSV;
//   - reading each back through openResults (every row checked; counts compared with the generator's);
//   - 64 shard files of the same rows (Parquet, or --shard-format csv|jsonl), then `merge` of them (mergeShards,
//     as `cli.ts merge` runs it) into one file of that format.
//
//   deno run -A bench/scale/write.ts --rows 146432000 [--dir /work/scratch/io] [--shards 64] [--logprob]
//     [--mode extractable] [--formats parquet,csv,jsonl] [--shard-format parquet]
//
// Prints rows/s and peak RSS per step; deletes what it made unless --keep.
import { parseArgs } from "node:util";
import { Journal, journalBatches } from "../../scoring/journal.ts";
import { join } from "../../base/path.ts";
import {
  openResults,
  type Provenance,
  provenancePath,
  type ResultsBatch,
  shardRange,
  writeResultsStream,
} from "../../io/results.ts";
import { mergeShards } from "../../io/merge.ts";

const { values: a } = parseArgs({
  args: Deno.args,
  options: {
    rows: { type: "string", default: "10000000" },
    dir: { type: "string", default: "/work/scratch/io" },
    shards: { type: "string", default: "64" },
    logprob: { type: "boolean", default: false },
    mode: { type: "string", default: "score" },
    formats: { type: "string", default: "parquet,csv" },
    "shard-format": { type: "string", default: "parquet" },
    keep: { type: "boolean", default: false },
    step: { type: "string" },
    out: { type: "string" },
  },
});
const ROWS = Number(a.rows), SHARDS = Number(a.shards), CONT = 32;
/** Extractable mode: no matches or score (null in every file), as `score --mode extractable` writes. */
const EXTRACTABLE = a.mode === "extractable";
const SHARD_EXT = `.${a["shard-format"]}`;
const dir = a.dir!;
const journalPath = join(dir, "scale.partial");
const KEY = { bench: "scale", rows: ROWS, logprob: a.logprob, mode: a.mode };

function provenance(shard?: [number, number]): Provenance {
  const [, rows] = shardRange(0, ROWS, shard ?? null);
  return {
    model: "synthetic",
    revision: "step0",
    model_path: "/synthetic",
    params: 1,
    config_hash: "0000000000000000",
    data: "/synthetic",
    prompt: 32,
    continuation: CONT,
    offset: 0,
    mode: EXTRACTABLE ? "extractable" : "score",
    paper_compatible: false,
    logprob: a.logprob!,
    engram_version: "bench",
    adapter: "none",
    start: 0,
    count: ROWS,
    rows,
    ...(shard ? { shard: `${shard[0]}/${shard[1]}` } : {}),
    created: "2025-01-01T00:00:00.000Z",
  };
}

/** Row r's synthetic values (a cheap hash): most rows fail at 0 or 1, ~2% are memorized. */
function row(r: number): [matches: number, first: number, logprob: number] {
  let h = Math.imul(r ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  const u = h % 1000;
  const first = u < 20 ? CONT : u < 600 ? 0 : u < 850 ? 1 : 2 + (h >>> 10) % (CONT - 2);
  const matches = first === CONT ? CONT : first + (h >>> 20) % (CONT - first);
  return [matches, first, -((h >>> 8) % 10000) / 1000];
}

/** Rows [from, from + n) as a batch. */
function makeBatch(from: number, n: number): ResultsBatch {
  const b: ResultsBatch = {
    length: n,
    index: new Float64Array(n),
    matches: EXTRACTABLE ? null : new Int16Array(n),
    firstMismatch: new Int16Array(n),
    logprob: a.logprob ? new Float32Array(n) : null,
  };
  for (let i = 0; i < n; i++) {
    const [m, f, lp] = row(from + i);
    b.index[i] = from + i;
    if (b.matches) b.matches[i] = m;
    b.firstMismatch[i] = f;
    if (b.logprob) b.logprob[i] = lp;
  }
  return b;
}

function peakRss(): string {
  const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return `${(Number(m![1]) / 1024 / 1024).toFixed(2)} GiB`;
}

const rate = (rows: number, ms: number) => `${(rows / (ms / 1000) / 1e6).toFixed(2)}M rows/s`;

/** Runs one step of this script in a child process (its own peak RSS) and prints what it reports. */
async function step(name: string, out?: string): Promise<void> {
  const args = [
    "run",
    "-A",
    new URL(import.meta.url).pathname,
    "--rows",
    String(ROWS),
    "--dir",
    dir,
    "--shards",
    String(SHARDS),
    "--step",
    name,
    ...(out ? ["--out", out] : []),
    ...(a.logprob ? ["--logprob"] : []),
    ...["--mode", a.mode!, "--shard-format", a["shard-format"]!],
  ];
  const r = await new Deno.Command(Deno.execPath(), { args, stdout: "inherit", stderr: "inherit" }).output();
  if (!r.success) throw new Error(`step ${name} failed`);
}

async function makeJournal(): Promise<void> {
  const t0 = performance.now();
  const journal = await Journal.open(journalPath, KEY);
  const CHUNK = 1 << 20;
  for (let at = 0; at < ROWS; at += CHUNK) {
    const b = makeBatch(at, Math.min(CHUNK, ROWS - at));
    await journal.append({
      index: b.index,
      matches: b.matches ?? new Int16Array(b.length).fill(-1),
      firstMismatch: b.firstMismatch,
      logprob: b.logprob ?? new Float32Array(b.length).fill(NaN),
    }, b.length);
  }
  journal.close();
  console.log(`journal: ${ROWS} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function finalWrite(out: string): Promise<void> {
  const journal = await Journal.open(journalPath, KEY);
  const prov = provenance();
  const t0 = performance.now();
  const { rows } = await writeResultsStream(out, prov, journalBatches(journal, prov));
  const ms = performance.now() - t0;
  journal.close();
  const size = (await Deno.stat(out)).size;
  console.log(
    `final write ${out}: ${rows} rows, ${(size / 2 ** 20).toFixed(0)} MiB, ${(ms / 1000).toFixed(1)} s, ` +
      `${rate(rows, ms)}, peak RSS ${peakRss()}`,
  );
}

async function readBack(path: string): Promise<void> {
  const t0 = performance.now();
  const reader = await openResults(path);
  let rows = 0,
    matches = 0,
    memorized = 0,
    logprob = 0,
    expectMatches = 0,
    expectMemorized = 0,
    expectLogprob = 0;
  for await (const b of reader.batches()) {
    for (let i = 0; i < b.length; i++) {
      if (b.matches) matches += b.matches[i];
      if (b.firstMismatch[i] === CONT) memorized++;
      if (b.logprob) logprob += b.logprob[i];
    }
    rows += b.length;
  }
  const ms = performance.now() - t0;
  for (let r = 0; r < ROWS; r++) {
    const [m, f, lp] = row(r);
    if (!EXTRACTABLE) expectMatches += m;
    if (f === CONT) expectMemorized++;
    if (a.logprob) expectLogprob += Math.fround(lp);
  }
  // The logprob sum is added in the same order from the same f32 values: equal only if every value came back.
  const ok = rows === ROWS && matches === expectMatches && memorized === expectMemorized &&
    logprob === expectLogprob;
  console.log(
    `read ${path}: ${rows} rows, ${(ms / 1000).toFixed(1)} s, ${rate(rows, ms)}, peak RSS ${peakRss()}, ` +
      `${ok ? "rows, sums of matches and logprob and memorized count as generated" : "MISMATCH"}`,
  );
  if (!ok) Deno.exit(1);
}

const shardPath = (i: number) => join(dir, `shards/synthetic@step0.shard-${i}-of-${SHARDS}${SHARD_EXT}`);

async function makeShards(): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < SHARDS; i++) {
    const [first, n] = shardRange(0, ROWS, [i, SHARDS]);
    const batches = function* () {
      for (let at = 0; at < n; at += 1 << 20) yield makeBatch(first + at, Math.min(1 << 20, n - at));
    };
    await writeResultsStream(shardPath(i), provenance([i, SHARDS]), batches());
  }
  console.log(`${SHARDS} shards: ${((performance.now() - t0) / 1000).toFixed(1)} s, peak RSS ${peakRss()}`);
}

async function merge(out: string): Promise<void> {
  const t0 = performance.now();
  // (force: a rerun with --keep replaces its own earlier merge)
  const { rows } = await mergeShards(Array.from({ length: SHARDS }, (_, i) => shardPath(i)), out, {
    force: true,
  });
  const ms = performance.now() - t0;
  console.log(
    `merge ${SHARDS} shards → ${out}: ${rows} rows, ${(ms / 1000).toFixed(1)} s, ${rate(rows, ms)}, ` +
      `peak RSS ${peakRss()}`,
  );
}

if (a.step === "journal") await makeJournal();
else if (a.step === "final") await finalWrite(a.out!);
else if (a.step === "read") await readBack(a.out!);
else if (a.step === "shards") await makeShards();
else if (a.step === "merge") await merge(a.out!);
else {
  await Deno.mkdir(join(dir, "shards"), { recursive: true });
  console.log(
    `scale: ${ROWS} rows, ${a.mode} mode${a.logprob ? " with logprob" : ""}, ${a["shard-format"]} shards, ` +
      `files under ${dir}`,
  );
  const merged = join(dir, `merged${SHARD_EXT}`);
  try {
    await step("journal");
    for (const ext of a.formats!.split(",").map((f) => `.${f}`)) {
      await step("final", join(dir, `final${ext}`));
      await step("read", join(dir, `final${ext}`));
      if (!a.keep) {
        await Deno.remove(join(dir, `final${ext}`));
        await Deno.remove(provenancePath(join(dir, `final${ext}`))).catch(() => {});
      }
    }
    await Deno.remove(journalPath);
    await step("shards");
    await step("merge", merged);
    await step("read", merged);
  } finally {
    if (!a.keep) {
      for (const p of [journalPath, join(dir, "shards"), merged, provenancePath(merged)]) {
        await Deno.remove(p, { recursive: true }).catch(() => {});
      }
    }
  }
}
