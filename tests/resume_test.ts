// Resumable scoring, run as a user would (`deno run -A cli.ts score ...` in a subprocess): a run killed with
// SIGKILL mid-way and restarted with the same arguments continues where it stopped, and the final file is
// complete, without duplicates, and byte for byte that of an uninterrupted run, but for the provenance's kernels
// (which rows the last run's variants scored). Partial work is never visible under the final name. A torn
// journal record is dropped; a journal of other arguments is refused. The runs that are killed stop themselves
// once their journal holds a given number of rows (tests/score_stopping.ts), so the kill lands mid-run at a
// known point on any adapter, however fast.
import { isFile } from "../base/fs.ts";
import { assert, assertEquals } from "./assert.ts";
import { engramLines, PICO_DATA, PICO_MODELS, runCli } from "./helpers.ts";
import { startStopping } from "./score_stopping.ts";

const ROWS = 400;
const BATCH = 16;
const NAME = "pico-2@step1092.csv";
const PROVENANCE = `${NAME}.provenance.json`;
const JOURNAL = `${NAME}.partial`;
/** The results file's lock: a SIGKILLed run cannot remove it; the next run sees its holder is gone. */
const LOCK = `${NAME}.lock`;

function scoreArgs(out: string, { count = ROWS, extra = [] as string[] } = {}): string[] {
  return [
    "score",
    ...["--model", PICO_MODELS, "--data", PICO_DATA, "--models", "pico-2", "--revisions", "step1092"],
    ...["--count", String(count), "--batch", String(BATCH), "--out", out, "--format", "csv", "--quiet"],
    ...extra,
  ];
}

interface JournalState {
  created: string;
  /** Row index of every whole record, in file order. */
  indices: number[];
  /** Bytes after the last whole record. */
  torn: number;
}

/** The journal at `path` as a reader sees it; null while it does not exist or its header is incomplete. */
async function readJournal(path: string): Promise<JournalState | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  if (bytes.length < 12) return null;
  assertEquals(new TextDecoder().decode(bytes.subarray(0, 8)), "ENGRAMJ1", `${path}: magic`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  const dataStart = 12 + headerLength;
  if (bytes.length < dataStart) return null;
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, dataStart)));
  const n = Math.floor((bytes.length - dataStart) / 16);
  const indices = Array.from({ length: n }, (_, i) => view.getFloat64(dataStart + i * 16, true));
  return { created: header.created, indices, torn: (bytes.length - dataStart) % 16 };
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Starts the score run into `out`, stopped by itself once its journal holds `stopAt` rows or more (a whole
 * number of batches: `stopAt` rounded up to a multiple of BATCH), SIGKILLs it there and returns the journal as
 * the kill left it.
 */
async function killPartway(out: string, stopAt: number, count = ROWS): Promise<JournalState> {
  const run = startStopping(stopAt, scoreArgs(out, { count }));
  try {
    await run.stopped();
    run.child.kill("SIGKILL");
  } catch (e) {
    try {
      run.child.kill("SIGKILL");
    } catch {
      // it had already exited
    }
    await run.output.catch(() => {});
    throw e;
  }
  const o = await run.output;
  assertEquals(o.signal, "SIGKILL", "the run was killed");
  const j = await readJournal(`${out}/${JOURNAL}`);
  assert(j !== null, "the journal survives the kill");
  // Whole records, in order, each row once, up to the batch where the run stopped.
  assertEquals(j.indices, range(Math.ceil(stopAt / BATCH) * BATCH), "journal rows after the kill");
  // Partial work is never visible under the final name: only the journal (and the dead run's lock) are there.
  assertEquals(await listDir(out), [JOURNAL, LOCK].sort(), "files after the kill");
  return j;
}

/** Runs the same score command to completion; checks it succeeded and left only the results. */
async function runToEnd(out: string, count = ROWS, extra: string[] = []): Promise<void> {
  const r = await runCli(scoreArgs(out, { count, extra }));
  assertEquals(r.code, 0, `score exit code; stderr: ${r.stderr}`);
  assert(!(await isFile(`${out}/${JOURNAL}`)), "the journal is removed once the results are written");
  assertEquals(await listDir(out), [NAME, PROVENANCE], "files after the run");
}

interface Results {
  csv: string;
  provenance: Record<string, unknown>;
}

async function readOutput(out: string): Promise<Results> {
  return {
    csv: await Deno.readTextFile(`${out}/${NAME}`),
    provenance: JSON.parse(await Deno.readTextFile(`${out}/${PROVENANCE}`)),
  };
}

/**
 * The provenance without its start time, its kernels (a resumed run records the variants it ran, and which rows
 * they scored) and the sidecar's length and CRC of the data (compared byte for byte).
 */
const withoutCreated = (p: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(p).filter(([k]) => k !== "created" && k !== "kernels" && k !== "results_file"),
  );

let uninterrupted: Results | null = null;

/** The results of an uninterrupted run (computed once, by the first test that needs them). */
async function reference(): Promise<Results> {
  if (uninterrupted) return uninterrupted;
  const dir = await Deno.makeTempDir({ prefix: "engram-resume-ref-" });
  try {
    await runToEnd(dir);
    uninterrupted = await readOutput(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const lines = uninterrupted.csv.trimEnd().split("\n");
  assertEquals(lines[0].split(",")[0], "index", "CSV header");
  assertEquals(lines.slice(1).map((l) => Number(l.split(",")[0])), range(ROWS), "uninterrupted run: rows");
  return uninterrupted;
}

/**
 * Checks a resumed run's output against the uninterrupted run's (first `count` rows of it); the last run
 * resumed after `resumed` rows.
 */
async function assertSameAsUninterrupted(
  out: string,
  created: string,
  resumed: number,
  count = ROWS,
): Promise<void> {
  const ref = await reference();
  const got = await readOutput(out);
  const rows = got.csv.trimEnd().split("\n").slice(1).map((l) => Number(l.split(",")[0]));
  assertEquals(rows, range(count), "rows of the resumed run: each of 0..count-1 once, in order");
  const refLines = ref.csv.split("\n");
  assertEquals(
    got.csv,
    refLines.slice(0, count + 1).join("\n") + "\n",
    "CSV of the resumed vs uninterrupted run",
  );
  assertEquals(
    withoutCreated(got.provenance),
    { ...withoutCreated(ref.provenance), rows: count, count },
    "provenance (without created)",
  );
  assertEquals(got.provenance.created, created, "provenance: created is when the job first started");
  // The variants the last run ran, for the rows it scored; the journal does not record the earlier runs'.
  assertEquals(
    got.provenance.kernels,
    `${String(ref.provenance.kernels)} for rows [${resumed}, ${count}) (rows [0, ${resumed}) were resumed ` +
      `from a journal, which does not record their kernels)`,
    "provenance: kernels",
  );
}

Deno.test(`score killed twice with SIGKILL, then resumed: the same ${ROWS} rows as an uninterrupted run`, async () => {
  await reference();
  const dir = await Deno.makeTempDir({ prefix: "engram-resume-" });
  try {
    const first = await killPartway(dir, 2 * BATCH);
    // The restart resumes: the journal keeps its start time and grows from where the kill left it.
    const second = await killPartway(dir, first.indices.length + 2 * BATCH);
    assertEquals(second.created, first.created, "the resumed run kept the journal (created)");
    await runToEnd(dir);
    await assertSameAsUninterrupted(dir, first.created, second.indices.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a journal whose last record is torn (garbage bytes after a kill) resumes correctly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "engram-resume-torn-" });
  try {
    const killed = await killPartway(dir, 2 * BATCH);
    // Half a record: the row index of the next row and a few bytes of garbage.
    const torn = new Uint8Array(11);
    new DataView(torn.buffer).setFloat64(0, killed.indices.length, true);
    torn.set([0xde, 0xad, 0xbe], 8);
    const file = await Deno.open(`${dir}/${JOURNAL}`, { append: true });
    await file.write(torn);
    file.close();
    assertEquals((await readJournal(`${dir}/${JOURNAL}`))!.torn, 11);
    await runToEnd(dir);
    await assertSameAsUninterrupted(dir, killed.created, killed.indices.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rerunning with other arguments against a journal is refused with one clear line; same ones resume", async () => {
  const dir = await Deno.makeTempDir({ prefix: "engram-resume-args-" });
  const COUNT = 64;
  try {
    const killed = await killPartway(dir, BATCH, COUNT);
    const before = await Deno.readFile(`${dir}/${JOURNAL}`);
    // The file name does not depend on these, so each run meets the same journal.
    const others: [number, string[]][] = [
      [COUNT, ["--prompt", "16"]],
      [COUNT, ["--offset", "1"]],
      [COUNT, ["--mode", "extractable"]],
      [COUNT, ["--paper-compatible"]],
      [COUNT + 1, []], // other rows
    ];
    for (const [count, extra] of others) {
      const r = await runCli(scoreArgs(dir, { count, extra }));
      const context = `score --count ${count} ${extra.join(" ")}: exit code ${r.code}, stderr ${
        JSON.stringify(r.stderr)
      }`;
      assertEquals(r.code, 1, context);
      assert(!r.stderr.split("\n").some((l) => /^\s+at /.test(l)), `stack trace: ${context}`);
      const lines = engramLines(r.stderr);
      assertEquals(lines.length, 1, `one error line: ${context}`);
      assert(lines[0].startsWith("engram: "), context);
      assert(lines[0].includes(`${dir}/${JOURNAL}`), `the line names the journal: ${context}`);
      assert(
        /those arguments/.test(lines[0]) && /--force/.test(lines[0]) && /delete/.test(lines[0]),
        `says what to do: ${context}`,
      );
      assertEquals(
        await Deno.readFile(`${dir}/${JOURNAL}`),
        before,
        `the journal is left as it was: ${context}`,
      );
      // (The refused run took over the dead run's lock and released it.)
      assertEquals(await listDir(dir), [JOURNAL], `nothing else is written: ${context}`);
    }
    // The batch size does not change the results, so resuming with another one is allowed.
    await runToEnd(dir, COUNT, ["--batch", "24"]);
    await assertSameAsUninterrupted(dir, killed.created, killed.indices.length, COUNT);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a corrupt journal is refused with one clear line naming it, never an internal error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "engram-resume-corrupt-" });
  const journal = (header: string, declared?: number) => {
    const text = new TextEncoder().encode(header);
    const out = new Uint8Array(12 + text.length);
    out.set(new TextEncoder().encode("ENGRAMJ1"));
    new DataView(out.buffer).setUint32(8, declared ?? text.length, true);
    out.set(text, 12);
    return out;
  };
  const cases: [string, Uint8Array][] = [
    ["not a journal", new TextEncoder().encode("index,score\n0,1\n")],
    ["header not valid JSON", journal('{"key":')],
    ["header JSON not an object", journal("null")],
  ];
  try {
    for (const [what, bytes] of cases) {
      await Deno.writeFile(`${dir}/${JOURNAL}`, bytes);
      const r = await runCli(scoreArgs(dir, { count: 64 }));
      const context = `${what}: exit code ${r.code}, stderr ${JSON.stringify(r.stderr)}`;
      const lines = engramLines(r.stderr);
      assert(!r.stderr.split("\n").some((l) => /^\s+at /.test(l)), `stack trace: ${context}`);
      assert(lines.length === 1 && lines[0].startsWith("engram: "), `one error line: ${context}`);
      assert(!lines[0].startsWith("engram: internal error"), `internal error: ${context}`);
      assertEquals(r.code, 1, context);
      assert(lines[0].includes(`${dir}/${JOURNAL}`), `the line names the journal: ${context}`);
      assert(/delete/.test(lines[0]), `says to delete it: ${context}`);
      assertEquals(await listDir(dir), [JOURNAL], `nothing else is written: ${context}`);
    }
    // A header torn by a kill (no whole record after it) holds nothing: the run replaces it and completes.
    await Deno.writeFile(`${dir}/${JOURNAL}`, journal('{"key":{},"created":"x"}', 4096));
    const r = await runCli(scoreArgs(dir, { count: 64 }));
    assertEquals(r.code, 0, `torn header: ${r.stderr}`);
    assertEquals(await listDir(dir), [NAME, PROVENANCE], "torn header: replaced, then the results");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
