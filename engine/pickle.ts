// A restricted unpickler: builds plain data (None, bools, ints, floats, strings, bytes, lists, tuples, dicts)
// from a Python pickle and hands every global, call (REDUCE), BUILD and persistent id to the caller's rules,
// which allow only what they know. Nothing in the pickle is ever executed. Written by hand because engine/ loads
// no npm package, and because a general unpickler is exactly what must not read an untrusted checkpoint.
import { EngramError } from "../base/errors.ts";

/** What an unpickled global may do; each method throws (an EngramError naming it) to refuse. */
export interface UnpickleRules {
  /** The value GLOBAL / STACK_GLOBAL `module`.`name` stands for. */
  global(module: string, name: string): unknown;
  /** REDUCE: `callable` (a value `global` returned) applied to `args`. */
  reduce(callable: unknown, args: unknown[]): unknown;
  /** BUILD: `target` given `state` (e.g. an OrderedDict's attributes); returns the built object. */
  build(target: unknown, state: unknown): unknown;
  /** BINPERSID / PERSID: the object persistent id `pid` names (torch.save's storages). */
  persistentLoad(pid: unknown): unknown;
}

/** `s` made fit for a one-line message: control characters shown as "?", at most 200 characters. */
export const printable = (s: string): string =>
  // deno-lint-ignore no-control-regex
  s.replace(/[\x00-\x1f\x7f]/g, "?").slice(0, 200);

/** A pickle's dict: keys as they were (strings, numbers), insertion order kept (OrderedDict's too). */
export type PickleDict = Map<unknown, unknown>;

// Opcodes that construct or call arbitrary classes, read the extension registry or take out-of-band buffers:
// refused outright, whatever they name (what GLOBAL names is vetted by the rules).
const FORBIDDEN: Record<number, string> = {
  0x6f: "OBJ",
  0x81: "NEWOBJ",
  0x92: "NEWOBJ_EX",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

/**
 * Unpickles `bytes` (protocols 0–5, the data opcodes; protocol 2 is what torch.save writes) under `rules`.
 * Anything malformed or refused is an EngramError starting with `where` and ending with `fix`.
 */
export function unpickle(bytes: Uint8Array, rules: UnpickleRules, where: string, fix: string): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder("utf-8", { fatal: true });
  const latin1 = new TextDecoder("latin1");
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let pos = 0, op = 0, at = 0;
  const fail = (what: string, then = fix): never => {
    throw new EngramError(`${where}: ${what} (pickle byte ${at}); ${then}`);
  };
  const UNSAFE = "the file may be malicious: load only checkpoints you trust, or their safetensors form";
  const need = (n: number) => {
    if (pos + n > bytes.length) fail(`pickle ends inside opcode 0x${op.toString(16)} (truncated)`);
    const p = pos;
    pos += n;
    return p;
  };
  const pop = (): unknown => stack.length > 0 ? stack.pop() : fail("pickle pops an empty stack (malformed)");
  const top = (): unknown => stack.length > 0 ? stack[stack.length - 1] : fail("pickle reads an empty stack");
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = marks.pop();
    if (prev === undefined) fail("pickle closes a MARK it never opened (malformed)");
    stack = prev!;
    return items;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail("pickle ends inside a text opcode (truncated)");
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const int = (v: bigint): number => {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      fail(`integer ${v} is beyond what a tensor's shape or offset can be`);
    }
    return Number(v);
  };
  const long = (n: number): number => {
    const p = need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[p + i]);
    if (n > 0 && bytes[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return int(v);
  };
  const str = (n: number) => {
    const p = need(n);
    try {
      return text.decode(bytes.subarray(p, p + n));
    } catch {
      return fail("pickle string is not valid UTF-8");
    }
  };
  const u32 = () => view.getUint32(need(4), true);
  const u64 = () => int(view.getBigUint64(need(8), true));
  const dictOf = (items: unknown[]): PickleDict => {
    if (items.length % 2) fail("pickle dict has a key without a value (malformed)");
    const d: PickleDict = new Map();
    for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
    return d;
  };
  const setItems = (items: unknown[]) => {
    const d = top();
    if (!(d instanceof Map)) return fail("pickle SETITEM(S) on something that is not a dict");
    for (const [k, v] of dictOf(items)) d.set(k, v);
  };
  const appendTo = (items: unknown[]) => {
    const l = top();
    if (!Array.isArray(l)) return fail("pickle APPEND(S) on something that is not a list");
    for (const item of items) l.push(item); // not push(...items): a long MARK run would overflow the stack
  };
  const get = (i: number) =>
    memo.has(i) ? memo.get(i) : fail(`pickle GET of memo ${i}, never PUT (malformed)`);

  while (true) {
    if (pos >= bytes.length) fail("pickle ends before STOP (truncated)");
    at = pos;
    op = bytes[pos++];
    switch (op) {
      case 0x80: // PROTO
        need(1);
        break;
      case 0x95: // FRAME: a length prefix only (the whole pickle is in memory)
        need(8);
        break;
      case 0x2e: // STOP
        if (marks.length > 0 || stack.length !== 1) fail("pickle stops with a malformed stack");
        return stack[0];
      case 0x28: // MARK
        marks.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
      case 0x89: // NEWFALSE
        stack.push(op === 0x88);
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(bytes[need(1)]);
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(need(2), true));
        break;
      case 0x8a: // LONG1
        stack.push(long(bytes[need(1)]));
        break;
      case 0x8b: // LONG4
        stack.push(long(u32()));
        break;
      case 0x49: { // INT (text; "00"/"01" are protocol 0's False/True)
        const s = line().trim();
        if (s === "00" || s === "01") stack.push(s === "01");
        else if (/^[-+]?\d+$/.test(s)) stack.push(int(BigInt(s)));
        else fail(`pickle INT ${JSON.stringify(s)} is not an integer`);
        break;
      }
      case 0x4c: { // LONG (text)
        const s = line().trim().replace(/L$/, "");
        if (!/^[-+]?\d+$/.test(s)) fail(`pickle LONG ${JSON.stringify(s)} is not an integer`);
        stack.push(int(BigInt(s)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x46: { // FLOAT (text)
        const s = line().trim(), v = Number(s);
        if (s === "" || Number.isNaN(v) && s.toLowerCase() !== "nan") {
          fail(`pickle FLOAT ${JSON.stringify(s)}`);
        }
        stack.push(v);
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(bytes[need(1)]));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(u64()));
        break;
      case 0x54: // BINSTRING (Python 2 str: bytes, read as latin-1 text as Python 3 does by default)
      case 0x55: { // SHORT_BINSTRING
        const n = op === 0x54 ? view.getInt32(need(4), true) : bytes[need(1)];
        const p = need(n);
        stack.push(latin1.decode(bytes.subarray(p, p + n)));
        break;
      }
      case 0x42: // BINBYTES
      case 0x43: // SHORT_BINBYTES
      case 0x8e: { // BINBYTES8
        const n = op === 0x42 ? u32() : op === 0x43 ? bytes[need(1)] : u64();
        const p = need(n);
        stack.push(bytes.slice(p, p + n));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: { // LIST (popMark replaces `stack`: take the items before naming it)
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x61: // APPEND
        appendTo([pop()]);
        break;
      case 0x65: // APPENDS
        appendTo(popMark());
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: { // TUPLE
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: { // TUPLE3
        const n = op - 0x84;
        if (stack.length < n) fail("pickle tuple takes more items than the stack holds (malformed)");
        stack.push(stack.splice(stack.length - n, n));
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        const d = dictOf(popMark());
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        setItems([k, v]);
        break;
      }
      case 0x75: // SETITEMS
        setItems(popMark());
        break;
      case 0x70: // PUT (text)
        memo.set(Number(line()), top());
        break;
      case 0x71: // BINPUT
        memo.set(bytes[need(1)], top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET (text)
        stack.push(get(Number(line())));
        break;
      case 0x68: // BINGET
        stack.push(get(bytes[need(1)]));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(get(u32()));
        break;
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line(), name = line();
        stack.push(rules.global(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          fail("pickle STACK_GLOBAL needs two strings");
        }
        stack.push(rules.global(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        if (!Array.isArray(args)) fail("pickle REDUCE arguments are not a tuple");
        stack.push(rules.reduce(fn, args as unknown[]));
        break;
      }
      case 0x62: { // BUILD
        const state = pop(), target = pop();
        stack.push(rules.build(target, state));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(rules.persistentLoad(pop()));
        break;
      case 0x50: // PERSID (text)
        stack.push(rules.persistentLoad(line()));
        break;
      case 0x69: { // INST "module\nname\n": named in the refusal, never looked up
        const module = line(), name = line();
        fail(
          `pickle opcode INST (${
            printable(`${module}.${name}`)
          }) builds or calls arbitrary objects: refused, nothing was run`,
          UNSAFE,
        );
        break;
      }
      default:
        if (FORBIDDEN[op] !== undefined) {
          fail(
            `pickle opcode ${FORBIDDEN[op]} builds or calls arbitrary objects: refused, nothing was run`,
            UNSAFE,
          );
        }
        fail(`pickle opcode 0x${op.toString(16).padStart(2, "0")} is not one a torch.save state dict uses`);
    }
  }
}
