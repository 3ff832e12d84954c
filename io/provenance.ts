// The provenance of a results file: what produced its rows (model, checkpoint, data, request, engram), its
// fields and their checks, and the shards a job's rows split into.
import { EngramError, ensure } from "../base/errors.ts";
import { isObject } from "../base/fs.ts";

/** Everything needed to know what produced a results file. */
export interface Provenance {
  /** The model's name, e.g. "pythia-1b" (the part before `@` in the file name). */
  model: string;
  /** The checkpoint's revision, e.g. "step143000". */
  revision: string;
  /** The checkpoint folder, as an absolute path. */
  model_path: string;
  /** A checkpoint of the huggingface_hub cache: its repository id (ORG/NAME; `revision` is the ref's name). */
  repo?: string;
  /** A checkpoint of the huggingface_hub cache: the commit its revision named when it was scored. */
  commit?: string;
  /** The model's parameter count (engine/config.ts countParameters). */
  params: number;
  /** Hash of the model's config (engine/config.ts configHash): the same folder with another config differs. */
  config_hash: string;
  /** The token data, as an absolute path. */
  data: string;
  /** Data in the huggingface_hub cache: its dataset repository (ORG/NAME). */
  data_repo?: string;
  /** Data in the huggingface_hub cache: the ref it was named by (absent when no ref names its snapshot). */
  data_revision?: string;
  /** Data in the huggingface_hub cache: the commit of its snapshot. */
  data_commit?: string;
  /** The tokenizer.json that turned .jsonl texts into tokens, as an absolute path (absent for token data). */
  tokenizer?: string;
  /** io/files.ts sampledFingerprint of the checkpoint's weight files: another checkpoint at the same path
   *  (a repointed link, weights replaced in place) differs. Absent in files of engram before it was added. */
  weights_fingerprint?: string;
  /** sampledFingerprint of the data's files (Megatron .idx and .bin, .npy or .jsonl): data rewritten in
   *  place at the same path differs. Absent in files of engram before it was added. */
  data_fingerprint?: string;
  /** Prompt tokens per row (32 in the paper). */
  prompt: number;
  /** Continuation tokens per row (32 in the paper). */
  continuation: number;
  /** The token of each row where the prompt starts. */
  offset: number;
  /** "score": greedy decoding (score and matches); "extractable": first mismatch only. */
  mode: "score" | "extractable";
  /** Whether EOS was forbidden at every generated position, as EleutherAI's pipeline did (--paper-compatible). */
  paper_compatible: boolean;
  /** Whether rows carry the mean log-probability of the true continuation. */
  logprob: boolean;
  /** The engram that wrote the file (deno.json's version). */
  engram_version: string;
  /** The WebGPU adapter that scored the rows (merged files: the distinct ones joined by "; "). */
  adapter: string;
  /** Matmul tile variants used (engine/tuning.ts source: variant names); results never depend on them. */
  kernels?: string;
  /** The job's rows: [start, start + count) of the data, before any sharding. */
  start: number;
  /** How many rows the job has (see `start`). */
  count: number;
  /** Rows this file holds: all of the job's, or its shard's share (`shardRange`). */
  rows: number;
  /** "i/N" when the file holds one contiguous share of the job's rows. */
  shard?: string;
  /** When the job first started (ISO 8601; kept across resumes, the earliest of merged shards). */
  created: string;
}

/** The Parquet key-value metadata that holds a results file's provenance. */
export const PROVENANCE_KEY = "engram.provenance";

/** The sidecar that holds a CSV or JSONL file's provenance. */
export const provenancePath = (path: string): string => `${path}.provenance.json`;

// --------------------------------------------------------------------------------------------------- shards

/** "i/N" (share i of N, 0 ≤ i < N) as [i, N]; null for anything else. */
function shardOf(value: string): [number, number] | null {
  const m = /^(\d+)\/(\d+)$/.exec(value);
  return m && Number(m[1]) < Number(m[2]) ? [Number(m[1]), Number(m[2])] : null;
}

/** Parses `--shard i/N` into [i, N]. */
export function parseShard(value: string | undefined): [number, number] | null {
  if (value === undefined) return null;
  const shard = shardOf(value);
  ensure(shard, () => `--shard must be i/N with 0 ≤ i < N (e.g. 3/64), got "${value}"`);
  return shard;
}

/** Rows [start, start + count) split into N contiguous shares; share i as [first row, rows]. */
export function shardRange(start: number, count: number, shard: [number, number] | null): [number, number] {
  if (!shard) return [start, count];
  const [i, n] = shard;
  const a = start + Math.floor((i * count) / n);
  const b = start + Math.floor(((i + 1) * count) / n);
  return [a, b - a];
}

/** The rows a file with this provenance holds: [first row, rows]. */
export function provenanceRange(p: Provenance): [number, number] {
  return shardRange(p.start, p.count, p.shard === undefined ? null : parseShard(p.shard));
}

// ----------------------------------------------------------------------------------------------- provenance

type FieldKind = "string" | "integer" | "positive" | "boolean" | "mode" | "shard";

/** One provenance field and its roles (see PROVENANCE_TABLE). */
interface FieldRow {
  name: keyof Provenance;
  /** What it holds (checkProvenance); an optional field may be absent (not null). */
  kind: FieldKind;
  optional?: true;
  /** May differ between the shards of one job (io/merge.ts): results do not depend on it. */
  mayDiffer?: true;
  /** Determines a results file's rows and values (scoring/job.ts: a file there is kept, a journal resumed,
   *  only when it is this run's): compared in `order`, and how it reads in a message (`holds` for what the rows
   *  are). (A method, so that `say` also takes the request alone.) */
  request?: { order: number; verb: "holds" | "was scored with"; say(p: Provenance): string };
  /** Makes two sources' scores comparable (the report, analysis/dataset.ts), compared in this order. */
  scoredAlike?: number;
  /** Older results files lack it: compared among the files that record it. */
  recordedSince?: true;
}

/** Every provenance field with its roles, in the order they are checked: the one home of what each field is. */
export const PROVENANCE_TABLE = [
  { name: "model", kind: "string" },
  { name: "revision", kind: "string" },
  {
    name: "model_path",
    kind: "string",
    request: { order: 12, verb: "was scored with", say: (p) => `the model at ${p.model_path}` },
  },
  { name: "repo", kind: "string", optional: true },
  { name: "commit", kind: "string", optional: true },
  { name: "params", kind: "integer" },
  {
    name: "config_hash",
    kind: "string",
    request: { order: 13, verb: "was scored with", say: (p) => `a config.json of hash ${p.config_hash}` },
  },
  {
    name: "data",
    kind: "string",
    request: { order: 10, verb: "was scored with", say: (p) => `data ${p.data}` },
    scoredAlike: 3,
  },
  { name: "data_repo", kind: "string", optional: true },
  { name: "data_revision", kind: "string", optional: true },
  { name: "data_commit", kind: "string", optional: true },
  {
    name: "tokenizer",
    kind: "string",
    optional: true,
    request: {
      order: 11,
      verb: "was scored with",
      say: (p) => p.tokenizer === undefined ? "no tokenizer" : `the tokenizer ${p.tokenizer}`,
    },
    scoredAlike: 4,
  },
  {
    name: "weights_fingerprint",
    kind: "string",
    optional: true,
    request: {
      order: 14,
      verb: "was scored with",
      say: (p) => `weights of fingerprint ${p.weights_fingerprint} (other weights at the same path?)`,
    },
  },
  {
    name: "data_fingerprint",
    kind: "string",
    optional: true,
    request: {
      order: 15,
      verb: "was scored with",
      say: (p) => `data of fingerprint ${p.data_fingerprint} (the data rewritten at the same path?)`,
    },
    scoredAlike: 5,
    recordedSince: true,
  },
  {
    name: "prompt",
    kind: "positive",
    request: { order: 4, verb: "was scored with", say: (p) => `--prompt ${p.prompt}` },
    scoredAlike: 0,
  },
  {
    name: "continuation",
    kind: "positive",
    request: { order: 5, verb: "was scored with", say: (p) => `--continuation ${p.continuation}` },
    scoredAlike: 1,
  },
  {
    name: "offset",
    kind: "integer",
    request: { order: 6, verb: "was scored with", say: (p) => `--offset ${p.offset}` },
    scoredAlike: 2,
  },
  {
    name: "mode",
    kind: "mode",
    request: { order: 7, verb: "was scored with", say: (p) => `--mode ${p.mode}` },
    scoredAlike: 6,
  },
  {
    name: "paper_compatible",
    kind: "boolean",
    request: {
      order: 8,
      verb: "was scored with",
      say: (p) => p.paper_compatible ? "--paper-compatible" : "pure greedy",
    },
    scoredAlike: 7,
  },
  {
    name: "logprob",
    kind: "boolean",
    request: { order: 9, verb: "was scored with", say: (p) => p.logprob ? "--logprob" : "no --logprob" },
  },
  { name: "engram_version", kind: "string", mayDiffer: true },
  { name: "adapter", kind: "string", mayDiffer: true },
  { name: "kernels", kind: "string", optional: true, mayDiffer: true },
  {
    name: "start",
    kind: "integer",
    request: { order: 0, verb: "holds", say: (p) => `rows [${p.start}, ${p.start + p.count})` },
  },
  {
    name: "count",
    kind: "positive",
    request: { order: 1, verb: "holds", say: (p) => `rows [${p.start}, ${p.start + p.count})` },
  },
  {
    name: "rows",
    kind: "integer",
    mayDiffer: true,
    request: { order: 3, verb: "holds", say: (p) => `${p.rows} rows` },
  },
  {
    name: "shard",
    kind: "shard",
    optional: true,
    mayDiffer: true,
    request: {
      order: 2,
      verb: "holds",
      say: (p) => p.shard === undefined ? "all of them (no --shard)" : `shard ${p.shard} of them`,
    },
  },
  { name: "created", kind: "string", mayDiffer: true },
] as const satisfies readonly FieldRow[];

/** The provenance fields that determine a results file's rows and values (FieldRow's `request`). */
export type RequestField = Extract<typeof PROVENANCE_TABLE[number], { request: unknown }>["name"];
/**
 * The provenance fields that determine a results file's rows and values (not the batch size: they do not). A
 * results file already there is kept, and a journal resumed, only when they are this run's (scoring/job.ts): the
 * journal's key is this same object, so the two checks can never disagree on what a field is.
 */
export type Request = Pick<Provenance, RequestField>;

/** The request fields in the order they are compared, with how each reads in a message. */
export const REQUEST_FIELDS: readonly {
  field: RequestField;
  verb: "holds" | "was scored with";
  say(p: Request): string;
}[] = (PROVENANCE_TABLE as readonly FieldRow[]).filter((f) => f.request)
  .sort((a, b) => a.request!.order - b.request!.order)
  .map((f) => ({ field: f.name as RequestField, ...f.request! }));

/**
 * The fields that may differ between the shards of one job (io/merge.ts): which shard and how many rows (by
 * design), when, on which adapter, with which matmul variants and by which engram version each ran (results do
 * not depend on them: every variant sums in the same order). The merged provenance keeps the earliest `created`
 * and lists every distinct adapter, variant set and engram version, "; "-separated. Every other field (and any
 * field a later version adds) must be equal.
 */
export const MAY_DIFFER_IN_MERGE: ReadonlySet<string> = new Set(
  PROVENANCE_TABLE.filter((f) => "mayDiffer" in f).map((f) => f.name),
);

/** The provenance fields that make two sources' scores comparable, in the order they are compared. */
export const SCORED_ALIKE: readonly (keyof Provenance)[] = (PROVENANCE_TABLE as readonly FieldRow[])
  .filter((f) => f.scoredAlike !== undefined).sort((a, b) => a.scoredAlike! - b.scoredAlike!).map((f) =>
    f.name
  );

/** Fields older results files lack: compared among the files that record them. */
export const RECORDED_SINCE: ReadonlySet<string> = new Set(
  PROVENANCE_TABLE.filter((f) => "recordedSince" in f).map((f) => f.name),
);

const KIND_TEXT: Record<FieldKind, string> = {
  string: "a string",
  integer: "an integer ≥ 0",
  positive: "an integer ≥ 1",
  boolean: "true or false",
  mode: '"score" or "extractable"',
  shard: '"i/N" with 0 ≤ i < N',
};

function kindHolds(kind: FieldKind, v: unknown): boolean {
  switch (kind) {
    case "string":
      return typeof v === "string";
    case "integer":
      return Number.isSafeInteger(v) && (v as number) >= 0;
    case "positive":
      return Number.isSafeInteger(v) && (v as number) >= 1;
    case "boolean":
      return typeof v === "boolean";
    case "mode":
      return v === "score" || v === "extractable";
    case "shard":
      return typeof v === "string" && shardOf(v) !== null;
  }
}

/** Checks a parsed provenance field by field; `where` names it in messages. */
export function checkProvenance(value: unknown, where: string): Provenance {
  const fix = "rewrite it or score again";
  ensure(isObject(value), () => `${where}: provenance is not a JSON object; ${fix}`);
  const p = value as Record<string, unknown>;
  for (const { name, kind, optional } of PROVENANCE_TABLE as readonly FieldRow[]) {
    if (optional && p[name] === undefined) continue; // (a key holding undefined: JSON.stringify drops it)
    if (!Object.hasOwn(p, name)) throw new EngramError(`${where}: provenance has no "${name}"; ${fix}`);
    if (!kindHolds(kind, p[name])) {
      throw new EngramError(
        `${where}: provenance "${name}" is ${JSON.stringify(p[name])}; expected ${KIND_TEXT[kind]}; ${fix}`,
      );
    }
  }
  const prov = p as unknown as Provenance;
  ensure(
    prov.continuation <= 32767,
    () => `${where}: provenance "continuation" ${prov.continuation} is over 32767; ${fix}`,
  );
  const [first, rows] = provenanceRange(prov);
  ensure(
    rows === prov.rows,
    () =>
      `${where}: provenance says ${prov.rows} rows, but ${
        prov.shard === undefined ? "the job" : `shard ${prov.shard} of the job`
      } (rows [${prov.start}, ${prov.start + prov.count})) has ${rows} (rows [${first}, ${
        first + rows
      })); ${fix}`,
  );
  return prov;
}

/**
 * The first field (in `a`'s order, then `b`'s new ones) whose value differs between two objects as JSON, those
 * in `skip` aside: its name and both values as JSON (undefined where absent); null when none differs. Used for
 * the provenance of shards (io/merge.ts) and for scoring journals' keys (scoring/journal.ts).
 */
export function firstDifference(
  a: unknown,
  b: unknown,
  skip: ReadonlySet<string> = new Set(),
): { field: string; a?: string; b?: string } | null {
  const x = (a ?? {}) as Record<string, unknown>, y = (b ?? {}) as Record<string, unknown>;
  for (const field of new Set([...Object.keys(x), ...Object.keys(y)])) {
    if (skip.has(field)) continue;
    const u = JSON.stringify(x[field]), v = JSON.stringify(y[field]);
    if (u !== v) return { field, a: u, b: v };
  }
  return null;
}
