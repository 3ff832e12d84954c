// JSONL texts through a tokenizer (io/texts.ts): rows equal the tokenizer's encoding; bad lines are named.
import { loadTokenizer, openTextRows } from "../io/texts.ts";
import { MegatronDataset } from "../io/rows.ts";
import { EngramError } from "../base/errors.ts";
import { join } from "../base/path.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "./assert.ts";
import { assertRowLength } from "./helpers.ts";

const TOKENIZER = "fixtures/pico/tokenizer";

Deno.test("tokenizer: fixture rows 0..3 decode to text that encodes back to the same 64 ids", async () => {
  const tok = await loadTokenizer(TOKENIZER);
  const ds = await MegatronDataset.open("fixtures/pico/data/pico_document");
  try {
    // Byte-level BPE: all four rows (indeed the first 200) round-trip; a cut mid-merge could in principle not.
    for (const r of [0, 1, 2, 3]) {
      const ids = [...await ds.read([r], 0, 64, 2048)];
      const text = tok.decode(ids);
      assert(text.length > 0, `row ${r} decodes to text`);
      assertEquals(tok.encode(text), ids, `row ${r}`);
    }
  } finally {
    ds.close();
  }
  // Special tokens are single ids, and no BOS/EOS is added.
  assertEquals(tok.encode("<|endoftext|>"), [0]);
  assertEquals(tok.decode([0, 1]), "<|endoftext|><|padding|>");
  // The file itself works as well as its folder.
  const byFile = await loadTokenizer(join(TOKENIZER, "tokenizer.json"));
  assertEquals(byFile.encode("def add_edge(self):"), tok.encode("def add_edge(self):"));
});

Deno.test("texts: a JSONL file becomes rows equal to the tokenizer's encoding; bad lines name the line", async () => {
  const tok = await loadTokenizer(TOKENIZER);
  const dir = await Deno.makeTempDir({ prefix: "engram-texts-" });
  try {
    const texts = ["import numpy as np\n", "  x = 1 # ünïcode ✓", "", "def f(a, b):\n    return a + b"];
    const lines = [
      JSON.stringify({ text: texts[0], meta: { id: 7 } }),
      JSON.stringify(texts[1]),
      "",
      JSON.stringify({ text: texts[2] }),
      JSON.stringify({ text: texts[3] }),
    ];
    const path = join(dir, "t.jsonl");
    await Deno.writeTextFile(path, lines.join("\n") + "\n");
    const src = await openTextRows(path, tok);
    assertEquals(src.numRows, 4);
    assertEquals(src.description, `${path} (JSONL texts, 4 rows)`);
    for (let r = 0; r < 4; r++) {
      const want = tok.encode(texts[r]);
      assertEquals(await src.read([r], 0, want.length), Uint32Array.from(want));
      await assertRowLength(src, r, want.length);
    }
    await assertRejects(() => src.read([2], 0, 1), EngramError, "row 2 of");

    const bad = async (content: string, re: RegExp) => {
      await Deno.writeTextFile(join(dir, "bad.jsonl"), content);
      const e = await assertRejects(() => openTextRows(join(dir, "bad.jsonl"), tok), EngramError);
      assertMatch(e.message, re);
    };
    await bad('{"text": "ok"}\n\n{"text": broken}\n', /bad\.jsonl:3: not valid JSON/);
    await bad('"ok"\n{"title": "no text"}\n', /bad\.jsonl:2: expected \{"text": "\.\.\."\} or a JSON string/);
    await bad('{"text": 5}\n', /bad\.jsonl:1: expected/);
    await assertRejects(() => openTextRows(join(dir, "none.jsonl"), tok), EngramError, "cannot read");

    const e = await assertRejects(() => loadTokenizer(join(dir, "no-such-dir")), EngramError);
    assertMatch(e.message, /no tokenizer at .*tokenizer\.json; pass --tokenizer DIR/);
    await Deno.writeTextFile(join(dir, "tokenizer.json"), "{ not json");
    await assertRejects(() => loadTokenizer(dir), EngramError, "is not valid JSON");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
