// The report at the paper's scale, against DuckDB on the same files in the same run (not a test: minutes, GBs).
//
//   flock /tmp/engram-heavy.lock deno run -A --no-lock bench/scale/report.ts --case csv2 [--rows 146432000] [--dir DIR]
//     [--cli A/cli.ts,B/cli.ts] [--keep] [--reuse]
//
// Cases (one a run; each makes its inputs under DIR, times both tools, deletes the inputs after unless --keep;
// --reuse takes those a --keep run of the same case and rows left, e.g. text2's with its features cached).
// CSVs and memorized-evals files are made by DuckDB; Parquet results by engram's own writer, as the score
// command writes them (--parquet-writer duckdb: by DuckDB, Snappy-compressed, a foreign writer's encodings):
//   csv2     2 model@revisions, reference CSVs model,revision,index,score; DuckDB: the confusion-matrix join
//   parquet2 the same two as the score command's Parquet (provenance in the metadata); DuckDB: the same join
//   parquet8 8 model@revisions as Parquet; DuckDB: the target in a table, then the 7 confusion matrices
//   evals28  28 memorized-evals-like Parquet files (index + tokens, ~39M listed rows) with --universe
//   parquet30 30 model@revisions as Parquet (engram only: bounded memory is the point)
//   checkpoints8 8 checkpoints of one model as Parquet (syn@step1000..8000): the per-pair score correlations
//            of checkpoints; DuckDB: as parquet8
//   text2    2 model@revisions as Parquet with --logprob, and their training rows (a Megatron dataset of 64-token
//            rows, 1% repeating an earlier row): the report with text features computed (and cached), log-prob
//            curves, the combined forecaster on a predictor's score and log-probability and the text, 10
//            decoded samples; then again, the text features read from the cache (engram only)
// Each tool runs in its own process under /usr/bin/time, so wall time and peak RSS are each its own; the
// confusion counts of both must agree. --cli A/cli.ts,B/cli.ts times the report of each of those (e.g. main's
// and a branch's checkouts) on the same inputs in the same run, one after the other (default: this checkout's).
// Inputs are synthetic: a row's memorized status comes from one hash shared by all sources (nested memorized
// sets, as for the paper's models), its score from another.
import { writeAll } from "../../base/fs.ts";
import { join, resolve } from "../../base/path.ts";
import { type Provenance, type ResultsBatch, writeResultsStream } from "../../io/results.ts";

const args = Object.fromEntries(
  Deno.args.flatMap((a, i, all) => a.startsWith("--") ? [[a.slice(2), all[i + 1] ?? ""]] : []),
);
const ROWS = Number(args.rows ?? 146_432_000);
const DIR = resolve(args.dir ?? "/work/scratch/report/scale");
const CASE = args.case ?? "csv2";
const KEEP = "keep" in args;
/** Reuse the inputs an earlier run of the same case and rows left in DIR (with --keep) instead of making them. */
const REUSE = "reuse" in args;
/** The sources are checkpoints of one model instead of one model each. */
const CHECKPOINTS = CASE === "checkpoints8";
const CLIS = args.cli
  ? args.cli.split(",").map((p) => resolve(p))
  : [resolve(new URL("../../cli.ts", import.meta.url).pathname)];
/** Who writes the Parquet inputs: engram (the score command's writer: what `report` reads in practice) or DuckDB
 *  (Snappy, its own encodings: a foreign writer). */
const PARQUET_WRITER = args["parquet-writer"] ?? "engram";

/** Memorized per mille of source j of `count` (the target, j = count - 1, memorizes the most). */
const threshold = (j: number, count: number) => 10 + Math.round((25 * j) / Math.max(1, count - 1));

const scoreSql = (j: number, count: number) =>
  `CASE WHEN hash(i) % 1000 < ${threshold(j, count)} THEN 32 ELSE hash(i + ${j + 1} * 1000003) % 20 END`;

/** The little of @duckdb/node-api this benchmark uses. */
interface DuckConnection {
  run(sql: string): Promise<unknown>;
  runAndReadAll(sql: string): Promise<{ getRows(): unknown[][] }>;
}
interface DuckModule {
  DuckDBInstance: {
    create(path: string, options: Record<string, string>): Promise<{ connect(): Promise<DuckConnection> }>;
  };
}

/**
 * DuckDB's 140 MB of native bindings are for this benchmark only. Deno installs every package deno.lock lists
 * once a program needs any npm package, so a DuckDB entry there would be downloaded by every `deno task demo`:
 * the specifier is built at run time (deno check leaves it alone) and this script runs with --no-lock (its
 * child processes too), so DuckDB never enters the lock.
 */
async function duck(): Promise<DuckConnection> {
  const specifier = ["npm:@duckdb/node-api", "1.5.6-r.1"].join("@");
  const { DuckDBInstance } = await import(specifier) as DuckModule;
  const db = await DuckDBInstance.create(":memory:", { threads: "2", temp_directory: join(DIR, "duck.tmp") });
  return await db.connect();
}

/** Source j's file name (without extension). */
const name = (j: number) => `syn-${String(j + 1).padStart(2, "0")}`;
/** Source j's model and revision: a model each, or checkpoints of one model. */
const modelOf = (j: number) => CHECKPOINTS ? "syn" : name(j);
const revisionOf = (j: number) => CHECKPOINTS ? `step${(j + 1) * 1000}` : "step143000";
const sourceOf = (j: number) => `${modelOf(j)}@${revisionOf(j)}`;

/** The score command's provenance of source j. */
function provenance(j: number, data = "/data/synthetic", logprob = false): Provenance {
  return {
    model: modelOf(j),
    revision: revisionOf(j),
    model_path: `/models/${modelOf(j)}/${revisionOf(j)}`,
    params: CHECKPOINTS ? 1e8 : 1e8 * (j + 1),
    config_hash: "synthetic",
    data,
    prompt: 32,
    continuation: 32,
    offset: 0,
    mode: "score",
    paper_compatible: false,
    logprob,
    engram_version: "bench",
    adapter: "none",
    start: 0,
    count: ROWS,
    rows: ROWS,
    created: new Date(0).toISOString(),
  } satisfies Provenance;
}

/** A 32-bit hash of a row number (for rows below 2^32), as DuckDB's hash() is used in scoreSql. */
function hash32(i: number): number {
  let h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Source j's rows as the score command writes them: the same rule as scoreSql with hash32 for hash. */
function* syntheticBatches(j: number, count: number, logprob = false): Generator<ResultsBatch> {
  const BATCH = 1 << 20, thr = threshold(j, count);
  for (let from = 0; from < ROWS; from += BATCH) {
    const n = Math.min(BATCH, ROWS - from);
    const b: ResultsBatch = {
      length: n,
      index: new Float64Array(n),
      matches: new Int16Array(n),
      firstMismatch: new Int16Array(n),
      logprob: logprob ? new Float32Array(n) : null,
    };
    for (let r = 0; r < n; r++) {
      const i = from + r;
      const k = hash32(i) % 1000 < thr ? 32 : hash32(i + (j + 1) * 1000003) % 20;
      b.index[r] = i;
      b.matches![r] = k;
      b.firstMismatch[r] = k === 32 ? 32 : k >> 1;
      // ~10^6 distinct values, higher for higher scores: a continuous ranking to sort.
      if (b.logprob) b.logprob[r] = (k - 32) / 8 - (hash32(i + (j + 1) * 7919) % 1000000) / 1e6;
    }
    yield b;
  }
}

/** Row i's 64 tokens (ids < 2048, the pico tokenizer's): 1% of rows repeat one of the first 50,000 rows. */
function rowTokens(i: number, out: Uint16Array, at: number): void {
  const from = i >= 50000 && hash32(i ^ 0x5bd1e995) % 100 === 0 ? hash32(i) % 50000 : i;
  for (let p = 0; p < 64; p++) out[at + p] = hash32(from * 64 + p) % 2048;
}

/** A Megatron dataset (uint16) of ROWS rows of 64 tokens at `prefix`.bin/.idx, written a chunk at a time. */
async function makeTokens(prefix: string): Promise<void> {
  const CHUNK = 1 << 20;
  const bin = await Deno.open(`${prefix}.bin`, { write: true, create: true, truncate: true });
  const idx = await Deno.open(`${prefix}.idx`, { write: true, create: true, truncate: true });
  const head = new Uint8Array(34), dv = new DataView(head.buffer);
  head.set(new TextEncoder().encode("MMIDIDX\0\0"));
  dv.setBigUint64(9, 1n, true);
  dv.setUint8(17, 8); // uint16
  dv.setBigUint64(18, BigInt(ROWS), true);
  dv.setBigUint64(26, BigInt(ROWS + 1), true);
  await writeAll(idx, head);
  await writeAll(idx, new Uint8Array(new Int32Array(ROWS).fill(64).buffer));
  for (let from = 0; from < ROWS; from += CHUNK) { // tokens and pointers, then doc_idx (a document a row)
    const n = Math.min(CHUNK, ROWS - from);
    const tokens = new Uint16Array(n * 64), pointers = new BigInt64Array(n);
    for (let r = 0; r < n; r++) {
      rowTokens(from + r, tokens, r * 64);
      pointers[r] = BigInt((from + r) * 128);
    }
    await writeAll(bin, new Uint8Array(tokens.buffer));
    await writeAll(idx, new Uint8Array(pointers.buffer));
  }
  for (let from = 0; from <= ROWS; from += CHUNK) {
    const docs = BigInt64Array.from({ length: Math.min(CHUNK, ROWS + 1 - from) }, (_, r) => BigInt(from + r));
    await writeAll(idx, new Uint8Array(docs.buffer));
  }
  bin.close();
  idx.close();
}

async function makeInputs(kind: "csv" | "parquet" | "evals" | "text", count: number): Promise<string[]> {
  const made = join(DIR, "inputs.json"), key = { case: CASE, rows: ROWS };
  if (REUSE) {
    const kept = JSON.parse(await Deno.readTextFile(made));
    if (JSON.stringify(kept.key) !== JSON.stringify(key)) {
      throw new Error(`${made} holds ${JSON.stringify(kept.key)}`);
    }
    return kept.files;
  }
  await Deno.mkdir(DIR, { recursive: true });
  const c = await duck();
  const files: string[] = [];
  const started = performance.now();
  if (kind === "evals") {
    const sizes = ["70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b"];
    const splits = ["duped", "deduped"].flatMap((d) => [
      ...sizes.map((s) => `${d}.${s}`),
      ...[23000, 43000, 63000, 83000, 103000, 123000].map((step) => `${d}.12b.${step}`),
    ]);
    for (const [j, split] of splits.entries()) {
      const file = join(DIR, `${split}.parquet`);
      const thr = 4 + (j * 7) % 13; // 4..16 per mille: ~39M listed rows over the 28 files
      await c.run(
        `COPY (SELECT i::BIGINT AS index, [i % 50000, (i + 1) % 50000]::INTEGER[] AS tokens FROM range(${ROWS}) t(i)
          WHERE hash(i) % 1000 < ${thr}) TO '${file}' (FORMAT parquet, ROW_GROUP_SIZE 1048576)`,
      );
      files.push(file);
    }
  } else {
    for (let j = 0; j < count; j++) {
      const k = scoreSql(j, count);
      if (kind === "csv") {
        const file = join(DIR, `${name(j)}.csv`);
        await c.run(
          `COPY (SELECT '${name(j)}' AS model, 'step143000' AS revision, i AS index, (${k}) / 32 AS score
            FROM range(${ROWS}) t(i)) TO '${file}' (HEADER)`,
        );
        files.push(file);
      } else if (kind === "text") {
        const file = join(DIR, `${name(j)}.parquet`), data = join(DIR, "document");
        if (j === 0) await makeTokens(data);
        await writeResultsStream(file, provenance(j, data, true), syntheticBatches(j, count, true));
        files.push(file);
      } else if (PARQUET_WRITER === "engram") {
        const file = join(DIR, `${name(j)}.parquet`);
        await writeResultsStream(file, provenance(j), syntheticBatches(j, count));
        files.push(file);
      } else {
        const file = join(DIR, `${name(j)}.parquet`);
        await c.run(
          `COPY (SELECT i::BIGINT AS index, k / 32 AS score, k::INTEGER AS matches,
              (CASE WHEN k = 32 THEN 32 ELSE k // 2 END)::INTEGER AS first_mismatch, k = 32 AS memorized
            FROM (SELECT i, ${k} AS k FROM range(${ROWS}) t(i)))
            TO '${file}' (FORMAT parquet, ROW_GROUP_SIZE 1048576,
              KV_METADATA {'engram.provenance': '${JSON.stringify(provenance(j))}'})`,
        );
        files.push(file);
      }
    }
  }
  await Deno.writeTextFile(made, JSON.stringify({ key, files }));
  const bytes = files.reduce((n, f) => n + Deno.statSync(f).size, 0);
  console.log(
    `made ${files.length} ${kind} files, ${(bytes / 2 ** 30).toFixed(2)} GiB, in ${
      ((performance.now() - started) / 1000).toFixed(0)
    } s`,
  );
  return files;
}

/** The DuckDB side (run in its own process): confusion counts of every predictor against the last file. */
async function duckdbQuery(files: string[]): Promise<void> {
  const c = await duck();
  const read = (f: string) => f.endsWith(".csv") ? `read_csv('${f}')` : `read_parquet('${f}')`;
  const target = files.at(-1)!;
  const out: Record<string, number[]> = {};
  if (files.length === 2) { // the six-line join of the issue
    const r = await c.runAndReadAll(
      `SELECT count(*) FILTER (p.score = 1 AND t.score = 1), count(*) FILTER (p.score = 1 AND t.score < 1),
              count(*) FILTER (p.score < 1 AND t.score = 1), count(*) FILTER (p.score < 1 AND t.score < 1)
       FROM ${read(files[0])} p JOIN ${read(target)} t USING (index)`,
    );
    out[files[0]] = r.getRows()[0].map(Number);
  } else {
    await c.run(`CREATE TABLE t AS SELECT index, score = 1 AS m FROM ${read(target)}`);
    for (const f of files.slice(0, -1)) {
      const r = await c.runAndReadAll(
        `SELECT count(*) FILTER (p.m AND t.m), count(*) FILTER (p.m AND NOT t.m),
                count(*) FILTER (NOT p.m AND t.m), count(*) FILTER (NOT p.m AND NOT t.m)
         FROM (SELECT index, score = 1 AS m FROM ${read(f)}) p JOIN t USING (index)`,
      );
      out[f] = r.getRows()[0].map(Number);
    }
  }
  await Deno.writeTextFile(join(DIR, "duckdb.json"), JSON.stringify(out));
}

interface Measured {
  seconds: number;
  /** User + system CPU seconds (less sensitive than wall time to other work on the machine). */
  cpu: number;
  peakGiB: number;
  /** The machine's 1-minute load average when the command ended. */
  load: number;
}

/** Runs a command under /usr/bin/time: wall and CPU seconds, peak RSS of that process, and the load average. */
async function timed(cmd: string[]): Promise<Measured> {
  const log = join(DIR, "time.txt");
  const { code, stderr } = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%e %M %U %S", "-o", log, ...cmd],
    stdout: "null",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr);
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}): ${err.slice(-2000)}`);
  const [seconds, kib, user, system] = (await Deno.readTextFile(log)).trim().split("\n").at(-1)!.split(" ")
    .map(Number);
  const load = Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]);
  return { seconds, cpu: user + system, peakGiB: kib / 2 ** 20, load };
}

async function main(): Promise<void> {
  if (CASE === "duckdb-only") return await duckdbQuery(args.files.split(","));
  const plan: Record<string, ["csv" | "parquet" | "evals" | "text", number, boolean]> = {
    csv2: ["csv", 2, true],
    parquet2: ["parquet", 2, true],
    parquet8: ["parquet", 8, true],
    evals28: ["evals", 28, false],
    parquet30: ["parquet", 30, false],
    checkpoints8: ["parquet", 8, true],
    text2: ["text", 2, false],
  };
  const [kind, count, withDuckdb] = plan[CASE];
  const files = await makeInputs(kind, count);
  try {
    const deno = Deno.execPath();
    let ref: Measured | null = null;
    if (withDuckdb) {
      ref = await timed([
        deno,
        "run",
        "-A",
        "--no-lock",
        import.meta.filename!,
        "--case",
        "duckdb-only",
        "--files",
        files.join(","),
        "--dir",
        DIR,
      ]);
    }
    const out = join(DIR, "report");
    const extra = kind === "evals" ? ["--universe", String(ROWS)] : ["--target", sourceOf(count - 1)];
    if (kind === "text") {
      const tokenizer = resolve(new URL("../../fixtures/pico/tokenizer", import.meta.url).pathname);
      extra.push(
        "--combine",
        sourceOf(0),
        "--data",
        join(DIR, "document"),
        "--tokenizer",
        tokenizer,
      );
      const meta = join(DIR, "meta.csv"); // rows per step: memorization over training order too
      await Deno.writeTextFile(
        meta,
        `model,params,rows_per_step\n${name(0)},1e8,1024\n${name(1)},2e8,1024\n`,
      );
      extra.push("--cache", join(DIR, "cache"), "--meta", meta);
    }
    const report = (cli: string) =>
      timed([deno, "run", "-A", cli, "report", "--results", ...files, ...extra, "--out", out]);
    for (const cli of CLIS) {
      if (CLIS.length > 1) console.log(`engram of ${cli}:`);
      // Each cli computes the text features itself, unless the inputs (and their cache) are reused.
      if (kind === "text" && !REUSE) {
        await Deno.remove(join(DIR, "cache"), { recursive: true }).catch(() => {});
      }
      await timeReport(() => report(cli), kind, count, out, ref);
    }
  } finally {
    if (!KEEP) await Deno.remove(DIR, { recursive: true }).catch(() => {});
  }
}

/** Times one cli.ts's report on the inputs (twice for text2: the features computed, then cached) and prints its
 *  table row, checking its confusion counts against DuckDB's. */
async function timeReport(
  report: () => Promise<Measured>,
  kind: string,
  count: number,
  out: string,
  ref: Measured | null,
): Promise<void> {
  const engram = await report();
  if (kind === "text") {
    const json = await Deno.stat(join(out, "report.json"));
    console.log(
      `text features computed: ${engram.seconds.toFixed(1)} s, peak RSS ${engram.peakGiB.toFixed(2)} GiB; ` +
        `report.json ${(json.size / 2 ** 20).toFixed(2)} MiB`,
    );
    const again = await report();
    console.log(
      `again, text features from the cache: ${again.seconds.toFixed(1)} s, peak RSS ${
        again.peakGiB.toFixed(2)
      } GiB`,
    );
  }
  const json = JSON.parse(await Deno.readTextFile(join(out, "report.json")));
  let agree = "n/a";
  if (ref) {
    const duck = JSON.parse(await Deno.readTextFile(join(DIR, "duckdb.json"))) as Record<string, number[]>;
    agree = Object.entries(duck).every(([f, [tp, fp, fn, tn]]) => {
        const source = sourceOf(Number(f.match(/syn-(\d+)\.(csv|parquet)$/)![1]) - 1);
        const e = json.forecasts.find((x: { predictor: string }) => x.predictor === source);
        return e && e.tp === tp && e.fp === fp && e.fn === fn && e.tn === tn;
      })
      ? "yes"
      : "NO";
  }
  const pairs = count * (kind === "evals" ? ROWS : json.rows.analysed);
  console.log(
    `| ${CASE} | ${count} × ${ROWS.toLocaleString("en-US")} | ${engram.seconds.toFixed(1)} s | ${
      engram.peakGiB.toFixed(2)
    } GiB | ${
      ref
        ? `${ref.seconds.toFixed(1)} s | ${ref.peakGiB.toFixed(2)} GiB | ${
          (engram.seconds / ref.seconds).toFixed(2)
        }×`
        : "– | – | –"
    } | ${(1e6 * engram.seconds / pairs).toFixed(3)} µs | ${agree} |`,
  );
  const cpu = (m: Measured) => `${m.cpu.toFixed(1)} s CPU, load ${m.load.toFixed(1)} at its end`;
  console.log(`engram: ${cpu(engram)}${ref ? `; DuckDB: ${cpu(ref)}` : ""}`);
}

await main();
