// Thrift compact protocol, generic: a struct is decoded to a list of fields
// (id, wire type, value) without a schema, so that a parquet footer can be
// read, changed in a few known places and written back with every field it
// had — known or not — unchanged. Used by the parquet column appender.

/** Wire types of the compact protocol. */
export const T = {
  STOP: 0, TRUE: 1, FALSE: 2, I8: 3, I16: 4, I32: 5, I64: 6, DOUBLE: 7, BINARY: 8, LIST: 9, SET: 10, MAP: 11, STRUCT: 12,
} as const;

/** A decoded value: booleans, integers (i64 as bigint), doubles, bytes, lists, maps and structs. */
export type ThriftValue = boolean | number | bigint | Uint8Array | ThriftList | ThriftMap | ThriftStruct;
/** A list or set: its element wire type and the elements. */
export interface ThriftList { kind: 'list'; set?: boolean; elem: number; items: ThriftValue[] }
/** A map: key and value wire types and the entries. */
export interface ThriftMap { kind: 'map'; key: number; value: number; entries: Array<[ThriftValue, ThriftValue]> }
/** One field of a struct. */
export interface ThriftField { id: number; type: number; value: ThriftValue }
/** A struct: its fields in the order they were read (or added). */
export interface ThriftStruct { kind: 'struct'; fields: ThriftField[] }

/** A malformed or truncated compact-protocol message. */
export class ThriftError extends Error {}

/** Reads compact-protocol values from `buf` starting at `pos`. */
export class ThriftReader {
  pos: number;
  constructor(private readonly buf: Uint8Array, pos = 0) {
    this.pos = pos;
  }

  private byte(): number {
    if (this.pos >= this.buf.length) throw new ThriftError(`truncated thrift data at byte ${this.pos}`);
    return this.buf[this.pos++];
  }

  private varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new ThriftError(`varint too long at byte ${this.pos}`);
    }
  }

  private zigzag(): bigint {
    const v = this.varint();
    return (v >> 1n) ^ -(v & 1n);
  }

  private value(type: number, depth: number): ThriftValue {
    if (depth > 64) throw new ThriftError('thrift data nested too deeply');
    switch (type) {
      case T.TRUE: return true;
      case T.FALSE: return false;
      case T.I8: { const b = this.byte(); return b > 127 ? b - 256 : b; }
      case T.I16:
      case T.I32: return Number(this.zigzag());
      case T.I64: return BigInt.asIntN(64, this.zigzag());
      case T.DOUBLE: {
        if (this.pos + 8 > this.buf.length) throw new ThriftError(`truncated thrift double at byte ${this.pos}`);
        const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
        this.pos += 8;
        return v;
      }
      case T.BINARY: {
        const n = Number(this.varint());
        if (n < 0 || this.pos + n > this.buf.length) throw new ThriftError(`thrift binary of ${n} bytes runs past the end at byte ${this.pos}`);
        const v = this.buf.slice(this.pos, this.pos + n);
        this.pos += n;
        return v;
      }
      case T.LIST:
      case T.SET: {
        const h = this.byte();
        let size = h >> 4;
        const elem = h & 0x0f;
        if (size === 15) size = Number(this.varint());
        if (size > this.buf.length - this.pos + 1 && elem !== T.TRUE && elem !== T.FALSE) throw new ThriftError(`thrift list of ${size} items runs past the end`);
        const items: ThriftValue[] = [];
        for (let i = 0; i < size; i++) {
          // Booleans inside containers are one byte each (1 true, anything else false).
          items.push(elem === T.TRUE || elem === T.FALSE ? this.byte() === T.TRUE : this.value(elem, depth + 1));
        }
        return { kind: 'list', ...(type === T.SET ? { set: true } : {}), elem, items };
      }
      case T.MAP: {
        const size = Number(this.varint());
        if (size === 0) return { kind: 'map', key: 0, value: 0, entries: [] };
        const kv = this.byte();
        const key = kv >> 4;
        const val = kv & 0x0f;
        const entries: Array<[ThriftValue, ThriftValue]> = [];
        for (let i = 0; i < size; i++) entries.push([this.value(key, depth + 1), this.value(val, depth + 1)]);
        return { kind: 'map', key, value: val, entries };
      }
      case T.STRUCT: return this.struct(depth + 1);
      default: throw new ThriftError(`unknown thrift type ${type} at byte ${this.pos - 1}`);
    }
  }

  /** Reads one struct (up to and including its stop byte). */
  struct(depth = 0): ThriftStruct {
    const fields: ThriftField[] = [];
    let last = 0;
    for (;;) {
      const h = this.byte();
      if (h === T.STOP) return { kind: 'struct', fields };
      const type = h & 0x0f;
      const delta = h >> 4;
      const id = delta === 0 ? Number(this.zigzag()) : last + delta;
      last = id;
      fields.push({ id, type, value: this.value(type, depth) });
    }
  }
}

/** Writes compact-protocol values; `bytes()` returns what was written. */
export class ThriftWriter {
  private buf = new Uint8Array(1024);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b & 0xff;
  }

  private varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    for (;;) {
      if (x < 0x80n) { this.byte(Number(x)); return; }
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
  }

  private zigzag(v: bigint): void {
    this.varint(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
  }

  private value(type: number, v: ThriftValue): void {
    switch (type) {
      case T.TRUE:
      case T.FALSE: return; // the value lives in the field header
      case T.I8: this.byte(Number(v)); return;
      case T.I16:
      case T.I32:
      case T.I64: this.zigzag(BigInt(v as number | bigint)); return;
      case T.DOUBLE: {
        this.ensure(8);
        new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 8).setFloat64(0, v as number, true);
        this.len += 8;
        return;
      }
      case T.BINARY: {
        const b = v as Uint8Array;
        this.varint(BigInt(b.length));
        this.ensure(b.length);
        this.buf.set(b, this.len);
        this.len += b.length;
        return;
      }
      case T.LIST:
      case T.SET: {
        const l = v as ThriftList;
        const n = l.items.length;
        if (n < 15) this.byte((n << 4) | l.elem);
        else { this.byte(0xf0 | l.elem); this.varint(BigInt(n)); }
        for (const item of l.items) {
          if (l.elem === T.TRUE || l.elem === T.FALSE) this.byte(item ? T.TRUE : T.FALSE);
          else this.value(l.elem, item);
        }
        return;
      }
      case T.MAP: {
        const m = v as ThriftMap;
        this.varint(BigInt(m.entries.length));
        if (m.entries.length === 0) return;
        this.byte((m.key << 4) | m.value);
        for (const [k, x] of m.entries) { this.value(m.key, k); this.value(m.value, x); }
        return;
      }
      case T.STRUCT: this.struct(v as ThriftStruct); return;
      default: throw new ThriftError(`cannot write thrift type ${type}`);
    }
  }

  /** Writes a struct; fields are written in ascending id order, as the protocol's readers expect. */
  struct(s: ThriftStruct): void {
    let last = 0;
    for (const f of [...s.fields].sort((a, b) => a.id - b.id)) {
      const type = f.type === T.TRUE || f.type === T.FALSE ? (f.value ? T.TRUE : T.FALSE) : f.type;
      const delta = f.id - last;
      if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
      else { this.byte(type); this.zigzag(BigInt(f.id)); }
      last = f.id;
      this.value(type, f.value);
    }
    this.byte(T.STOP);
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

// ---- helpers to build and read structs by field id ----

/** The field `id` of `s`, or undefined. */
export function field(s: ThriftStruct, id: number): ThriftField | undefined {
  return s.fields.find((f) => f.id === id);
}

/** Sets (adds or replaces) field `id` of `s`. */
export function setField(s: ThriftStruct, id: number, type: number, value: ThriftValue): void {
  const f = field(s, id);
  if (f) { f.type = type; f.value = value; } else s.fields.push({ id, type, value });
}

/** Removes field `id` from `s`. */
export function dropField(s: ThriftStruct, id: number): void {
  s.fields = s.fields.filter((f) => f.id !== id);
}

/** A struct from `[id, type, value]` triples (undefined values are left out). */
export function struct(...fields: Array<[number, number, ThriftValue | undefined]>): ThriftStruct {
  return { kind: 'struct', fields: fields.filter((f) => f[2] !== undefined).map(([id, type, value]) => ({ id, type, value: value! })) };
}

/** A list of `elem`-typed items. */
export function list(elem: number, items: ThriftValue[]): ThriftList {
  return { kind: 'list', elem, items };
}

/** UTF-8 bytes of a string (thrift strings are binaries). */
export function str(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Field `id` as a number (i16/i32/i64), or undefined. */
export function num(s: ThriftStruct, id: number): number | undefined {
  const f = field(s, id);
  return f === undefined ? undefined : Number(f.value as number | bigint);
}

/** Field `id` as a string, or undefined. */
export function text(s: ThriftStruct, id: number): string | undefined {
  const f = field(s, id);
  return f === undefined ? undefined : new TextDecoder().decode(f.value as Uint8Array);
}

/** Field `id` as a list's items (empty when absent). */
export function items(s: ThriftStruct, id: number): ThriftValue[] {
  const f = field(s, id);
  return f === undefined ? [] : (f.value as ThriftList).items;
}
