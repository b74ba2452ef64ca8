// The `ARROW:schema` entry that pyarrow keeps in a parquet footer: a base64
// IPC message holding the Arrow schema (a flatbuffer). pyarrow uses it to
// restore the exact Arrow types (fixed-size lists, large strings, …) only
// when it has as many fields as the parquet file has top-level columns, so a
// file that gains columns must gain fields too.
//
// The new flatbuffer is built without decoding the old fields: it starts
// with a new Message, Schema and fields vector, then holds the old
// flatbuffer verbatim (8-byte aligned). Flatbuffer references are unsigned
// forward offsets relative to where they are stored, so the new tables can
// point at the old Field tables, and the old bytes keep every internal
// reference they had.

/** A field to append: a scalar column of a plain type. */
export interface ArrowFieldSpec {
  name: string;
  type: 'float32' | 'float64' | 'int64';
  nullable: boolean;
}

/** A field of an existing schema to append again under another name (its type, children and metadata unchanged). */
export interface ArrowFieldClone {
  name: string;
  /** Name of the existing top-level field whose type is reused. */
  like: string;
}

class FlatView {
  readonly dv: DataView;
  constructor(readonly buf: Uint8Array) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private check(pos: number, n: number): void {
    if (pos < 0 || pos + n > this.buf.length) throw new RangeError(`flatbuffer reference out of bounds (${pos}+${n} > ${this.buf.length})`);
  }

  u8(p: number): number { this.check(p, 1); return this.dv.getUint8(p); }
  u16(p: number): number { this.check(p, 2); return this.dv.getUint16(p, true); }
  i16(p: number): number { this.check(p, 2); return this.dv.getInt16(p, true); }
  u32(p: number): number { this.check(p, 4); return this.dv.getUint32(p, true); }
  i32(p: number): number { this.check(p, 4); return this.dv.getInt32(p, true); }

  /** Absolute position of field `slot` of the table at `table`, or undefined when absent. */
  slot(table: number, slot: number): number | undefined {
    const vt = table - this.i32(table);
    const vtSize = this.u16(vt);
    const off = 4 + 2 * slot;
    if (off >= vtSize) return undefined;
    const rel = this.u16(vt + off);
    return rel === 0 ? undefined : table + rel;
  }

  /** Follows the offset stored at `p`. */
  deref(p: number): number {
    return p + this.u32(p);
  }

  /** Positions of the tables in the vector of tables at `vec`. */
  tables(vec: number): number[] {
    const n = this.u32(vec);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.deref(vec + 4 + 4 * i));
    return out;
  }

  string(p: number): string {
    const n = this.u32(p);
    this.check(p + 4, n);
    return new TextDecoder().decode(this.buf.subarray(p + 4, p + 4 + n));
  }
}

/** Writes a flatbuffer front to back; every reference must point forward (patched at the end). */
class ForwardBuilder {
  private bytes: number[] = [];
  private patches: Array<{ at: number; target: () => number }> = [];

  get pos(): number { return this.bytes.length; }
  align(n: number): void { while (this.bytes.length % n) this.bytes.push(0); }
  u8(v: number): void { this.bytes.push(v & 0xff); }
  u16(v: number): void { this.u8(v); this.u8(v >> 8); }
  u32(v: number): void { for (let i = 0; i < 4; i++) this.u8(v >>> (8 * i)); }
  i64(v: bigint): void { const x = BigInt.asUintN(64, v); for (let i = 0n; i < 8n; i++) this.u8(Number((x >> (8n * i)) & 0xffn)); }
  /** Reserves a forward offset at the current position; `target()` is read when the buffer is finished. */
  ref(target: () => number): void {
    this.align(4);
    this.patches.push({ at: this.pos, target });
    this.u32(0);
  }
  raw(b: Uint8Array): void { for (const x of b) this.bytes.push(x); }

  /**
   * Writes a table whose fields are written by `body` (which reports each field's slot
   * through `mark(slot)` just before writing it); the vtable goes right before the table.
   */
  table(slots: number, body: (mark: (slot: number) => void) => void): number {
    // vtable: size, table size, one u16 per slot; patched after the body is written.
    this.align(4);
    const vt = this.pos;
    this.u16(4 + 2 * slots);
    this.u16(0);
    for (let i = 0; i < slots; i++) this.u16(0);
    this.align(4);
    const table = this.pos;
    this.u32(table - vt); // soffset: table − vtable
    const offsets = new Array<number>(slots).fill(0);
    body((slot) => { offsets[slot] = this.pos - table; });
    const size = this.pos - table;
    const w = (p: number, v: number) => { this.bytes[p] = v & 0xff; this.bytes[p + 1] = (v >> 8) & 0xff; };
    w(vt + 2, size);
    offsets.forEach((o, i) => w(vt + 4 + 2 * i, o));
    return table;
  }

  finish(): Uint8Array {
    const out = Uint8Array.from(this.bytes);
    const dv = new DataView(out.buffer);
    for (const p of this.patches) {
      const t = p.target();
      if (t <= p.at) throw new Error('internal: a flatbuffer reference must point forward');
      dv.setUint32(p.at, t - p.at, true);
    }
    return out;
  }
}

/** The flatbuffer inside an encapsulated IPC message (with or without the 0xFFFFFFFF continuation marker). */
function ipcFlatbuffer(msg: Uint8Array): Uint8Array {
  if (msg.length < 8) throw new RangeError('ARROW:schema is too short to hold an IPC message');
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  let off = 0;
  if (dv.getUint32(0, true) === 0xffffffff) off = 4;
  const len = dv.getInt32(off, true);
  if (len <= 0 || off + 4 + len > msg.length) throw new RangeError(`ARROW:schema IPC message length ${len} does not fit its ${msg.length} bytes`);
  return msg.subarray(off + 4, off + 4 + len);
}

/** Names of the top-level fields of a base64 `ARROW:schema` value. */
export function arrowSchemaFieldNames(base64: string): string[] {
  const fb = new FlatView(ipcFlatbuffer(Buffer.from(base64, 'base64')));
  const message = fb.deref(0);
  const header = fb.slot(message, 2);
  if (header === undefined || fb.u8(fb.slot(message, 1) ?? 0) !== 1) throw new RangeError('ARROW:schema does not hold a Schema message');
  const schema = fb.deref(header);
  const fieldsAt = fb.slot(schema, 1);
  if (fieldsAt === undefined) return [];
  return fb.tables(fb.deref(fieldsAt)).map((f) => {
    const n = fb.slot(f, 0);
    return n === undefined ? '' : fb.string(fb.deref(n));
  });
}

/**
 * A new base64 `ARROW:schema` value: the old schema's fields whose names are not in
 * `drop`, in order, then `add` (new scalar fields, or copies of existing fields under
 * new names). The old message's metadata, endianness and features are kept.
 *
 * @throws {RangeError} when the value is not a schema message, or a clone names a missing field
 */
export function appendArrowSchemaFields(base64: string, add: ReadonlyArray<ArrowFieldSpec | ArrowFieldClone>, drop: ReadonlySet<string> = new Set()): string {
  const old = ipcFlatbuffer(Buffer.from(base64, 'base64'));
  const fb = new FlatView(old);
  const message = fb.deref(0);
  const headerType = fb.slot(message, 1);
  const headerAt = fb.slot(message, 2);
  if (headerAt === undefined || headerType === undefined || fb.u8(headerType) !== 1) throw new RangeError('ARROW:schema does not hold a Schema message');
  const versionAt = fb.slot(message, 0);
  const version = versionAt === undefined ? 0 : fb.i16(versionAt);
  const msgMetaAt = fb.slot(message, 4);
  const schema = fb.deref(headerAt);
  const endianAt = fb.slot(schema, 0);
  const endianness = endianAt === undefined ? 0 : fb.i16(endianAt);
  const fieldsAt = fb.slot(schema, 1);
  const schemaMetaAt = fb.slot(schema, 2);
  const featuresAt = fb.slot(schema, 3);
  const oldFields = fieldsAt === undefined ? [] : fb.tables(fb.deref(fieldsAt)).map((t) => {
    const n = fb.slot(t, 0);
    return { table: t, name: n === undefined ? '' : fb.string(fb.deref(n)) };
  });
  const kept = oldFields.filter((f) => !drop.has(f.name));
  for (const a of add) {
    if ('like' in a && !oldFields.some((f) => f.name === a.like)) throw new RangeError(`ARROW:schema has no field '${a.like}' to copy for '${a.name}'`);
  }

  const b = new ForwardBuilder();
  let oldBase = 0; // where the old flatbuffer starts in the new one (known once placed)
  const inOld = (p: number) => () => oldBase + p;
  let schemaTable = 0;
  let vector = 0;
  const newFieldTables: number[] = [];

  b.ref(() => messageTable);
  const messageTable = b.table(5, (mark) => {
    mark(0); b.u16(version);
    mark(1); b.u8(1); // MessageHeader.Schema
    b.align(4);
    mark(2); b.ref(() => schemaTable);
    if (msgMetaAt !== undefined) { mark(4); b.ref(inOld(fb.deref(msgMetaAt))); }
    b.align(8);
    mark(3); b.i64(0n); // bodyLength
  });
  schemaTable = b.table(4, (mark) => {
    mark(0); b.u16(endianness);
    b.align(4);
    mark(1); b.ref(() => vector);
    if (schemaMetaAt !== undefined) { mark(2); b.ref(inOld(fb.deref(schemaMetaAt))); }
    if (featuresAt !== undefined) { mark(3); b.ref(inOld(fb.deref(featuresAt))); }
  });
  b.align(4);
  vector = b.pos;
  b.u32(kept.length + add.length);
  for (const f of kept) b.ref(inOld(f.table));
  add.forEach((_, i) => b.ref(() => newFieldTables[i]));

  for (const a of add) {
    let nameAt = 0;
    let typeTable = 0;
    const like = 'like' in a ? oldFields.find((f) => f.name === a.like)!.table : undefined;
    const spec = 'like' in a ? undefined : a;
    const typeTypeAt = like === undefined ? undefined : fb.slot(like, 2);
    const typeType = like !== undefined ? (typeTypeAt === undefined ? 0 : fb.u8(typeTypeAt)) : spec!.type === 'int64' ? 2 : 3;
    const nullable = like !== undefined ? (fb.slot(like, 1) === undefined ? false : fb.u8(fb.slot(like, 1)!) !== 0) : spec!.nullable;
    const table = b.table(7, (mark) => {
      mark(0); b.ref(() => nameAt);
      if (like !== undefined) {
        const typeAt = fb.slot(like, 3);
        if (typeAt !== undefined) { mark(3); b.ref(inOld(fb.deref(typeAt))); }
        const dictAt = fb.slot(like, 4);
        if (dictAt !== undefined) { mark(4); b.ref(inOld(fb.deref(dictAt))); }
        const childrenAt = fb.slot(like, 5);
        if (childrenAt !== undefined) { mark(5); b.ref(inOld(fb.deref(childrenAt))); }
        const metaAt = fb.slot(like, 6);
        if (metaAt !== undefined) { mark(6); b.ref(inOld(fb.deref(metaAt))); }
      } else {
        mark(3); b.ref(() => typeTable);
        mark(5); b.ref(() => emptyChildren);
      }
      mark(1); b.u8(nullable ? 1 : 0);
      mark(2); b.u8(typeType);
    });
    newFieldTables.push(table);
    b.align(4);
    nameAt = b.pos;
    const name = new TextEncoder().encode(a.name);
    b.u32(name.length);
    b.raw(name);
    b.u8(0);
    if (spec) {
      typeTable = spec.type === 'int64'
        ? b.table(2, (mark) => { mark(0); b.u32(64); mark(1); b.u8(1); })
        : b.table(1, (mark) => { mark(0); b.u16(spec.type === 'float32' ? 1 : 2); });
    }
  }
  b.align(4);
  const emptyChildren = b.pos;
  b.u32(0);
  b.align(8);
  oldBase = b.pos;
  b.raw(old);
  b.align(8);
  const flat = b.finish();
  const out = new Uint8Array(8 + flat.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xffffffff, true);
  dv.setInt32(4, flat.length, true);
  out.set(flat, 8);
  return Buffer.from(out).toString('base64');
}
