// Opens the pico report in a real browser (Debian's chromium, headless, driven over the DevTools protocol on
// 127.0.0.1) and checks that every figure rendered and that nothing was logged as an error.
// ENGRAM_REPORT_SCREENSHOT=docs/report.png also saves a screenshot of the page down to the figures.
import { writeReport } from "../analysis/report.ts";
import { join, resolve } from "../base/path.ts";
import { assert, assertEquals } from "./assert.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

function findChromium(): string {
  for (const path of CHROMIUM) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch { /* next */ }
  }
  throw new Error(
    `chromium not found (${CHROMIUM.join(", ")}): run \`sh scripts/setup.sh test\` to install it`,
  );
}

interface Cdp {
  send(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  waitFor(method: string, timeoutMs: number): Promise<Record<string, unknown>>;
  errors: string[];
  close(): Promise<void>;
}

/** Starts headless chromium and attaches to one page over the DevTools protocol (flattened session). */
async function openBrowser(): Promise<Cdp> {
  const profile = await Deno.makeTempDir({ prefix: "engram-chromium-" });
  const child = new Deno.Command(findChromium(), {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--no-default-browser-check",
      "--hide-scrollbars",
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "--remote-allow-origins=*",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  };
  // Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID" on stderr.
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "", url: string | undefined;
  const deadline = setTimeout(() => reader.cancel().catch(() => {}), 30_000);
  while (!url) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    if (done) break;
    seen += value;
    url = /DevTools listening on (ws:\/\/\S+)/.exec(seen)?.[1];
  }
  clearTimeout(deadline);
  if (!url) {
    await stop();
    throw new Error(`chromium did not start its DevTools endpoint; it said: ${seen.slice(-500)}`);
  }
  (async () => { // keep draining stderr so chromium never blocks on a full pipe
    while (!(await reader.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();

  const ws = new WebSocket(url);
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = () => fail(new Error(`cannot connect to ${url}`));
  });
  let nextId = 1;
  const session: { id?: string } = {};
  const pending = new Map<number, { ok: (v: Record<string, unknown>) => void; fail: (e: Error) => void }>();
  const waiters = new Map<string, ((v: Record<string, unknown>) => void)[]>();
  const errors: string[] = [];
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.fail(new Error(`${msg.error.message} (${msg.error.code})`));
      else p?.ok(msg.result ?? {});
      return;
    }
    const params = msg.params ?? {};
    if (msg.method === "Runtime.consoleAPICalled" && ["error", "assert"].includes(params.type)) {
      errors.push(
        `console.${params.type}: ${params.args?.map((a: { value?: unknown }) => a.value).join(" ")}`,
      );
    }
    if (msg.method === "Runtime.exceptionThrown") {
      errors.push(
        `exception: ${params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text}`,
      );
    }
    if (msg.method === "Log.entryAdded" && params.entry?.level === "error") {
      errors.push(`log: ${params.entry.text} ${params.entry.url ?? ""}`);
    }
    for (const w of waiters.get(msg.method) ?? []) w(params);
    waiters.delete(msg.method);
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((ok, fail) => {
      const id = nextId++;
      pending.set(id, { ok, fail });
      ws.send(JSON.stringify({ id, method, params, ...(session.id ? { sessionId: session.id } : {}) }));
    });
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  session.id = (await send("Target.attachToTarget", { targetId, flatten: true })).sessionId as string;
  return {
    send,
    errors,
    waitFor: (method, timeoutMs) =>
      new Promise((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`no ${method} within ${timeoutMs} ms`)), timeoutMs);
        waiters.set(method, [...(waiters.get(method) ?? []), (v) => {
          clearTimeout(timer);
          ok(v);
        }]);
      }),
    close: async () => {
      ws.close();
      await stop();
    },
  };
}

interface FigureCheck {
  id: string;
  tag: string | null;
  width: number;
  height: number;
  marks: number;
  drawn: number;
}

/** Per <figure>: its SVG/IMG element, laid-out size, and how much it draws. Runs in the page. */
const CHECK_FIGURES = `(() => [...document.querySelectorAll("figure")].map((f) => {
  const el = f.querySelector("svg, img");
  const r = el ? el.getBoundingClientRect() : { width: 0, height: 0 };
  let drawn = 0, marks = 0;
  if (el && el.tagName.toLowerCase() === "svg") {
    marks = el.querySelectorAll("path, rect, line, text, circle").length;
    const b = el.getBBox();
    drawn = b.width * b.height;
  } else if (el) {
    drawn = el.naturalWidth * el.naturalHeight;
    marks = el.complete ? 1 : 0;
  }
  return { id: f.id, tag: el ? el.tagName.toLowerCase() : null, width: r.width, height: r.height, marks, drawn };
}))()`;

/** Visible tables by id, figures whose boxes overlap, and SVGs wider than their figure. Runs in the page. */
const LAYOUT = `(() => {
  const tables = [...document.querySelectorAll("section.table")].filter((t) => t.offsetHeight > 0).map((t) => t.id);
  const boxes = [...document.querySelectorAll("figure")].map((f) => [f.id, f.getBoundingClientRect()]);
  const overlaps = [], spills = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, r] = boxes[i], [b, s] = boxes[j];
      if (r.left < s.right - 1 && s.left < r.right - 1 && r.top < s.bottom - 1 && s.top < r.bottom - 1) overlaps.push(a + " " + b);
    }
  }
  for (const f of document.querySelectorAll("figure")) {
    const svg = f.querySelector("svg");
    if (svg && svg.getBoundingClientRect().right > f.getBoundingClientRect().right + 1) spills.push(f.id);
  }
  return { tables, overlaps, spills };
})()`;

Deno.test({
  name: "report.html: every figure renders in headless chromium, nothing logged as an error",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    findChromium(); // fail first, with the set-up hint, if the browser is missing
    const out = await Deno.makeTempDir({ prefix: "engram-report-" });
    const browser = await openBrowser();
    try {
      // Sizes and batch from the suite's training log: the report then knows tokens seen and rows trained on.
      const suite = JSON.parse(await Deno.readTextFile("fixtures/pico/suite.json"));
      const meta = join(out, "meta.csv");
      await Deno.writeTextFile(
        meta,
        "model,params,rows_per_step,tokens_per_row\n" +
          Object.entries(suite.models as Record<string, { params: number }>)
            .map(([model, m]) => `${model},${m.params},${suite.batch},${suite.seq - 1}\n`).join(""),
      );
      await writeReport(join(out, "report"), {
        results: ["fixtures/pico/reference"],
        meta,
        tokenizer: "fixtures/pico/tokenizer",
        data: "fixtures/pico/data/pico_document",
        cacheDir: join(out, "cache"),
      });
      await browser.send("Page.enable");
      await browser.send("Runtime.enable");
      await browser.send("Log.enable");
      await browser.send("Emulation.setDeviceMetricsOverride", {
        width: 1240,
        height: 900,
        deviceScaleFactor: 1,
        mobile: false,
      });
      const loaded = browser.waitFor("Page.loadEventFired", 30_000);
      await browser.send("Page.navigate", { url: `file://${resolve(join(out, "report", "report.html"))}` });
      await loaded;
      const result = await browser.send("Runtime.evaluate", {
        expression: CHECK_FIGURES,
        returnByValue: true,
      });
      const figures = (result.result as { value: FigureCheck[] }).value;
      assertEquals(
        figures.map((f) => f.id),
        [
          "fig-memorized-fraction",
          "fig-forecast-size",
          "fig-forecast-compute",
          "fig-pr-curves",
          "fig-correlation-memorized",
          "fig-correlation-scores",
          "fig-score-histogram",
          "fig-training-order",
        ],
      );
      for (const f of figures) {
        assert(f.tag === "svg" || f.tag === "img", `${f.id}: no SVG or IMG element`);
        assert(f.width > 100 && f.height > 100, `${f.id}: laid out at ${f.width}×${f.height}`);
        assert(
          f.marks > 10 && f.drawn > 10_000,
          `${f.id}: draws almost nothing (${f.marks} marks, ${f.drawn} px²)`,
        );
      }
      const text = await browser.send("Runtime.evaluate", {
        expression: `document.querySelector("#samples") ? document.querySelector("#samples").innerText : ""`,
        returnByValue: true,
      });
      assert(
        (text.result as { value: string }).value.includes("memorized continuation"),
        "samples table shown",
      );
      // The new tables are laid out, and no figure overlaps another or spills out of its box.
      const layout = await browser.send("Runtime.evaluate", {
        expression: LAYOUT,
        returnByValue: true,
      });
      const { tables, overlaps, spills } = (layout.result as {
        value: { tables: string[]; overlaps: string[]; spills: string[] };
      }).value;
      for (const id of ["thresholds", "curves", "combined", "scaling", "training-order"]) {
        assert(tables.includes(id), `table ${id} shown (tables: ${tables.join(", ")})`);
      }
      assertEquals(overlaps, [], "figures overlapping");
      assertEquals(spills, [], "figures wider than their box");
      const shot = Deno.env.get("ENGRAM_REPORT_SCREENSHOT");
      if (shot) {
        const bottom = await browser.send("Runtime.evaluate", {
          expression:
            `document.querySelector(".figures").getBoundingClientRect().bottom + window.scrollY + 24`,
          returnByValue: true,
        });
        const height = Math.ceil((bottom.result as { value: number }).value);
        const png = await browser.send("Page.captureScreenshot", {
          format: "png",
          captureBeyondViewport: true,
          clip: { x: 0, y: 0, width: 1240, height, scale: 1 },
        });
        await Deno.writeFile(shot, Uint8Array.from(atob(png.data as string), (c) => c.charCodeAt(0)));
      }
      assertEquals(browser.errors, [], "errors logged while loading report.html");
    } finally {
      await browser.close();
      await Deno.remove(out, { recursive: true });
    }
  },
});
