// The journal's record (scoring/journal.ts), derived from RESULT_COLUMNS, against the 16 bytes its header comment
// lays out by hand: f64 row index, i16 matches (-1 when not computed), i16 first mismatch, f32 mean log-prob (NaN
// when absent), little-endian. A change to RESULT_COLUMNS that moves, resizes or drops a journal field fails here
// rather than leaving journals written before it unresumable (or read as other numbers).
import type { ScoreColumns } from "../scoring/memorization.ts";
import { Journal } from "../scoring/journal.ts";
import { join } from "../base/path.ts";
import { RESULT_COLUMNS, type ResultColumn } from "../io/results_schema.ts";
import { assertEquals } from "./assert.ts";
import { FIXTURES, withTempDir } from "./helpers.ts";

type Row = [index: number, matches: number, firstMismatch: number, logprob: number];

/** One record laid out by hand, as the header comment says. */
function record([index, matches, firstMismatch, logprob]: Row): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setFloat64(0, index, true);
  view.setInt16(8, matches, true);
  view.setInt16(10, firstMismatch, true);
  view.setFloat32(12, logprob, true);
  return bytes;
}

const columns = (rows: Row[]): ScoreColumns => ({
  index: Float64Array.from(rows, (r) => r[0]),
  matches: Int16Array.from(rows, (r) => r[1]),
  firstMismatch: Int16Array.from(rows, (r) => r[2]),
  logprob: Float32Array.from(rows, (r) => r[3]),
});

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

/** The rows of fixtures/journal/score-v1.partial, as the engram that wrote it was given them (the f32 logprobs
 *  are exact in f32). */
const V1_ROWS: Row[] = [
  [0, 0, 0, -0.5],
  [1, 32, 32, 0],
  [2 ** 31, -1, 5, NaN],
  [2 ** 40 + 3, 7, 3, -Infinity],
  [2 ** 53, 12, 31, Math.fround(-1e-7)],
];
const V1_KEY = { fixture: "journal written by engram before its record derived from RESULT_COLUMNS" };

async function readAll(journal: Journal): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const c of journal.chunks(2)) {
    for (let i = 0; i < c.index.length; i++) {
      rows.push([c.index[i], c.matches[i], c.firstMismatch[i], c.logprob[i]]);
    }
  }
  return rows;
}

Deno.test("the journal records exactly the results columns that are not derived", () => {
  const columns = RESULT_COLUMNS as readonly ResultColumn[];
  assertEquals(
    columns.filter((c) => c.journal).map((c) => c.name),
    columns.filter((c) => !c.derived).map((c) => c.name),
  );
});

Deno.test("a journal's records are the 16 bytes its header comment lays out, and read back as written", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "x.partial");
    const rows: Row[] = [
      [5, 0, 0, -0.25],
      [2 ** 33 + 1, -1, 32, NaN],
      [2 ** 53, 32, 32, -Infinity],
      [7, 31, 31, 0],
    ];
    const journal = await Journal.open(path, { job: 1 });
    await journal.append(columns(rows), 3);
    await journal.append(columns(rows.slice(3)), 1);
    const bytes = await Deno.readFile(path);
    const headerLength = new DataView(bytes.buffer).getUint32(8, true);
    assertEquals(bytes.subarray(12 + headerLength), concat(rows.map(record)), "the records' bytes");
    assertEquals(await readAll(journal), rows, "the rows read back");
    journal.close();
  });
});

Deno.test("a journal written by an earlier engram (committed) resumes: same rows, new rows appended after", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "x.partial");
    const old = await Deno.readFile(`${FIXTURES}journal/score-v1.partial`);
    await Deno.writeFile(path, old);
    const journal = await Journal.open(path, V1_KEY);
    assertEquals(journal.done, V1_ROWS.length, "rows resumed");
    assertEquals(await readAll(journal), V1_ROWS, "the rows the earlier engram recorded");
    const more: Row[] = [[2 ** 53 + 2, -1, 0, NaN]];
    await journal.append(columns(more), 1);
    journal.close();
    assertEquals(await Deno.readFile(path), concat([old, ...more.map(record)]), "appended after its records");
  });
});
