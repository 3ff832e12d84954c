// Thrift's compact protocol, as much of it as Parquet's page headers and footer need. Integers are JS numbers
// (exact to 2^53, which covers every offset, size and row count a file can have).
const enum T {
  TRUE = 1,
  FALSE = 2,
  BYTE = 3,
  I16 = 4,
  I32 = 5,
  I64 = 6,
  DOUBLE = 7,
  BINARY = 8,
  LIST = 9,
  SET = 10,
  MAP = 11,
  STRUCT = 12,
}

/** Element types of `CompactWriter.list`. */
export const ThriftType = { I32: T.I32, I64: T.I64, BINARY: T.BINARY, STRUCT: T.STRUCT } as const;

/** Writes one message field by field (ids increasing within each struct). */
export class CompactWriter {
  private out = new Uint8Array(256);
  private n = 0;
  private last = 0;
  private readonly stack: number[] = [];

  /** Appends byte `b`. */
  private byte(b: number): void {
    if (this.n === this.out.length) {
      const grown = new Uint8Array(this.out.length * 2);
      grown.set(this.out);
      this.out = grown;
    }
    this.out[this.n++] = b;
  }

  /** Unsigned LEB128 of a non-negative integer below 2^53. */
  private varint(v: number): void {
    while (v >= 128) {
      this.byte((v % 128) | 128);
      v = Math.floor(v / 128);
    }
    this.byte(v);
  }

  /** Zigzag varint of an integer of magnitude below 2^52. */
  private zigzag(v: number): void {
    this.varint(v >= 0 ? 2 * v : -2 * v - 1);
  }

  /** A field header: its id (as a delta from the last when it fits) and type. */
  private field(id: number, type: number): void {
    const delta = id - this.last;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.zigzag(id);
    }
    this.last = id;
  }

  /** Field `id`: an i32. */
  i32(id: number, v: number): this {
    this.field(id, T.I32);
    this.zigzag(v);
    return this;
  }

  /** Field `id`: an i64 (an integer of magnitude below 2^52). */
  i64(id: number, v: number): this {
    this.field(id, T.I64);
    this.zigzag(v);
    return this;
  }

  /** Field `id`: a boolean (in the header's type). */
  bool(id: number, v: boolean): this {
    this.field(id, v ? T.TRUE : T.FALSE);
    return this;
  }

  /** Field `id`: bytes, or a string as UTF-8. */
  binary(id: number, v: Uint8Array | string): this {
    this.field(id, T.BINARY);
    this.rawBinary(v);
    return this;
  }

  /** Length and bytes (a string as UTF-8), without a field header. */
  private rawBinary(v: Uint8Array | string): void {
    const bytes = typeof v === "string" ? new TextEncoder().encode(v) : v;
    this.varint(bytes.length);
    for (const b of bytes) this.byte(b);
  }

  /** A struct's fields, written by `body`, and its stop byte; field ids restart inside it. */
  private nested(body: (w: this) => void): void {
    this.stack.push(this.last);
    this.last = 0;
    body(this);
    this.byte(0);
    this.last = this.stack.pop()!;
  }

  /** Field `id`: a struct whose fields `body` writes. */
  struct(id: number, body: (w: this) => void): this {
    this.field(id, T.STRUCT);
    this.nested(body);
    return this;
  }

  /** A list of i32/i64 numbers, strings or structs (each written by `item`). */
  list<X>(id: number, type: number, items: readonly X[], item?: (x: X, i: number) => void): this {
    this.field(id, T.LIST);
    this.byte(items.length < 15 ? (items.length << 4) | type : 0xf0 | type);
    if (items.length >= 15) this.varint(items.length);
    for (let i = 0; i < items.length; i++) {
      const x = items[i];
      if (type === T.STRUCT) this.nested(() => item!(x, i));
      else if (type === T.BINARY) this.rawBinary(x as string | Uint8Array);
      else this.zigzag(x as number);
    }
    return this;
  }

  /** The message so far, ended as a struct (the top level of a message is one). */
  end(): Uint8Array {
    this.byte(0);
    return this.out.slice(0, this.n);
  }
}

/** A decoded struct: field id → value (numbers, booleans, Uint8Array for binary, arrays, structs). */
export type ThriftStruct = { [id: number]: unknown };

/** Reads one compact-protocol struct from `b` at `pos`; returns it and where it ended. Throws on bad bytes. */
export function readStruct(b: Uint8Array, pos: number): { value: ThriftStruct; end: number } {
  let i = pos;
  const need = (n: number) => {
    if (i + n > b.length) throw new Error("thrift struct runs past the end of its bytes");
  };
  const varint = (): number => {
    let v = 0, scale = 1;
    for (;;) {
      need(1);
      const x = b[i++];
      v += (x & 127) * scale;
      if (x < 128) return v;
      scale *= 128;
      if (scale > 2 ** 63) throw new Error("thrift varint too long");
    }
  };
  const zigzag = () => {
    const v = varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  };
  const value = (type: number): unknown => {
    switch (type) {
      case T.TRUE:
        return true;
      case T.FALSE:
        return false;
      case T.BYTE:
        need(1);
        return (b[i++] << 24) >> 24;
      case T.I16:
      case T.I32:
      case T.I64:
        return zigzag();
      case T.DOUBLE: {
        need(8);
        const v = new DataView(b.buffer, b.byteOffset + i, 8).getFloat64(0, true);
        i += 8;
        return v;
      }
      case T.BINARY: {
        const n = varint();
        need(n);
        const v = b.subarray(i, i + n);
        i += n;
        return v;
      }
      case T.LIST:
      case T.SET: {
        need(1);
        const h = b[i++];
        const n = (h >> 4) === 15 ? varint() : h >> 4;
        const et = h & 15;
        const items = [];
        for (let k = 0; k < n; k++) items.push(et === T.TRUE || et === T.FALSE ? b[i++] === 1 : value(et));
        return items;
      }
      case T.MAP: {
        const n = varint();
        if (n === 0) return new Map();
        need(1);
        const kv = b[i++];
        const map = new Map();
        for (let k = 0; k < n; k++) map.set(value(kv >> 4), value(kv & 15));
        return map;
      }
      case T.STRUCT:
        return struct();
      default:
        throw new Error(`thrift: unknown type ${type}`);
    }
  };
  const struct = (): ThriftStruct => {
    const out: ThriftStruct = {};
    let last = 0;
    for (;;) {
      need(1);
      const h = b[i++];
      if (h === 0) return out;
      const type = h & 15;
      const id = h >> 4 ? last + (h >> 4) : zigzag();
      out[id] = value(type);
      last = id;
    }
  };
  const v = struct();
  return { value: v, end: i };
}
