// A worker of analysis/text_features.ts: one pass over a contiguous share of the rows, writing into the shared
// columns it is given; answers { result } or { error } (an EngramError's message, shown to the user as is).
import { openRowSource } from "../io/rows.ts";
import { EngramError } from "../base/errors.ts";
import { frequencyAndCompression, hashRows } from "./text_features.ts";

const scope = globalThis as unknown as {
  onmessage: (e: MessageEvent) => void;
  postMessage: (message: unknown, transfer?: Transferable[]) => void;
};

scope.onmessage = async ({ data: m }: MessageEvent) => {
  try {
    const source = await openRowSource(m.data);
    try {
      if (m.pass === 1) {
        const counts = await hashRows(source, m.rows, m.from, m.to, m.w, m.hashes, m.batch);
        scope.postMessage({ result: counts }, [counts.buffer as ArrayBuffer]);
      } else {
        await frequencyAndCompression(
          source,
          m.rows,
          m.from,
          m.to,
          m.w,
          m.logCount,
          m.logTotal,
          m.width,
          m.out,
          m.batch,
        );
        scope.postMessage({ result: null });
      }
    } finally {
      source.close();
    }
  } catch (e) {
    if (!(e instanceof EngramError)) throw e;
    scope.postMessage({ error: e.message });
  }
};
