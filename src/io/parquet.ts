// Parquet in and out. Reading goes through hyparquet (pure JavaScript, no
// native code; hyparquet-compressors adds snappy, zstd, gzip, brotli and lz4),
// column by column, so a data file's image or state columns are never
// decoded when only its timestamps are needed.
//
// Writing only ever adds columns to an existing file: the original bytes up
// to its footer are kept as they are (every page, dictionary, page index and
// bloom filter, at the offsets the footer already names), the new columns'
// chunks are appended after them, and a new footer lists the old columns
// unchanged plus the new ones. The footer is re-encoded field by field with a
// schema-less Thrift codec, so fields this code does not know survive too.
import fs from 'node:fs';
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { FileFormatError } from './common.js';
import { appendArrowSchemaFields, type ArrowFieldClone, type ArrowFieldSpec } from './arrow-schema.js';
import {
  T, ThriftReader, ThriftWriter, field, items, list, num, setField, str, struct, text,
  type ThriftStruct, type ThriftValue,
} from './thrift.js';

/** Columns read from a parquet file. */
export interface ParquetColumns {
  file: string;
  /** Rows read (the file's rows, or `rowEnd − rowStart` when a range was asked for). */
  rows: number;
  /** Each column asked for, one entry per row: numbers, bigints (INT64), strings, Uint8Arrays, arrays (LIST) or objects (STRUCT); null for nulls. */
  columns: Map<string, ArrayLike<unknown>>;
}

/** Top-level column names and footer facts of a parquet file. */
export interface ParquetInfo {
  file: string;
  rows: number;
  /** Top-level columns in schema order. */
  columns: string[];
  /** Row count of each row group. */
  rowGroups: number[];
  /** Footer key-value metadata (e.g. `huggingface`, `pandas`, `ARROW:schema`). */
  keyValue: Record<string, string>;
  metadata: FileMetaData;
}

function formatError(file: string, err: unknown): FileFormatError {
  if (err instanceof FileFormatError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new FileFormatError(file, 'parquet', `${msg.replace(/^parquet /, '')} (corrupt or truncated file?)`);
}

async function open(file: string): Promise<AsyncBuffer> {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new FileFormatError(file, 'parquet', 'no such file');
  }
  if (!st.isFile()) throw new FileFormatError(file, 'parquet', 'not a regular file');
  if (st.size < 12) throw new FileFormatError(file, 'parquet', `only ${st.size} bytes: truncated (a parquet file has at least 12)`);
  return asyncBufferFromFile(file);
}

function topLevelNames(md: FileMetaData): string[] {
  const names: string[] = [];
  // Walk the flattened schema: element 0 is the root; count subtrees.
  let i = 1;
  const skip = (): void => {
    const el = md.schema[i++];
    for (let c = 0; c < (el.num_children ?? 0); c++) skip();
  };
  while (i < md.schema.length) {
    names.push(md.schema[i].name);
    skip();
  }
  return names;
}

/**
 * Reads a parquet file's footer: columns, row groups and key-value metadata.
 * @throws {FileFormatError} naming the file when it is missing, truncated or corrupt
 */
export async function readParquetInfo(file: string): Promise<ParquetInfo> {
  const buf = await open(file);
  try {
    const metadata = await parquetMetadataAsync(buf);
    const keyValue: Record<string, string> = {};
    for (const kv of metadata.key_value_metadata ?? []) keyValue[kv.key] = kv.value ?? '';
    return {
      file, rows: Number(metadata.num_rows), columns: topLevelNames(metadata),
      rowGroups: metadata.row_groups.map((g) => Number(g.num_rows)), keyValue, metadata,
    };
  } catch (err) {
    throw formatError(file, err);
  }
}

/**
 * Reads some columns (default all) of a parquet file, optionally only rows
 * `[rowStart, rowEnd)`. Binary columns stay bytes; only columns marked as
 * strings become strings.
 *
 * @throws {FileFormatError} naming the file when it is missing, truncated or corrupt, or lacks a column
 */
export async function readParquetColumns(file: string, opts: { columns?: readonly string[]; rowStart?: number; rowEnd?: number; info?: ParquetInfo } = {}): Promise<ParquetColumns> {
  const info = opts.info ?? await readParquetInfo(file);
  const wanted = opts.columns ? [...opts.columns] : info.columns;
  const missing = wanted.filter((c) => !info.columns.includes(c));
  if (missing.length) throw new FileFormatError(file, 'parquet', `no column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')} (it has ${info.columns.join(', ')})`);
  const rowStart = opts.rowStart ?? 0;
  const rowEnd = Math.min(opts.rowEnd ?? info.rows, info.rows);
  const rows = Math.max(0, rowEnd - rowStart);
  const chunks = new Map<string, Array<{ start: number; end: number; data: ArrayLike<unknown> }>>();
  for (const c of wanted) chunks.set(c, []);
  if (rows > 0 && wanted.length > 0) {
    const buf = await open(file);
    try {
      await parquetRead({
        file: buf, metadata: info.metadata, columns: wanted, compressors, utf8: false, rowStart, rowEnd,
        onChunk: (ch) => { chunks.get(ch.columnName)?.push({ start: ch.rowStart, end: ch.rowEnd, data: ch.columnData as ArrayLike<unknown> }); },
      });
    } catch (err) {
      throw formatError(file, err);
    }
  }
  const columns = new Map<string, ArrayLike<unknown>>();
  for (const [name, parts] of chunks) columns.set(name, assemble(file, name, parts, rowStart, rows));
  return { file, rows, columns };
}

type Typed = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Uint32Array | BigUint64Array;

/** Joins a column's chunks into one array covering rows `[rowStart, rowStart + rows)`. */
function assemble(file: string, name: string, parts: Array<{ start: number; end: number; data: ArrayLike<unknown> }>, rowStart: number, rows: number): ArrayLike<unknown> {
  parts.sort((a, b) => a.start - b.start);
  const first = parts[0]?.data;
  const typed = first !== undefined && ArrayBuffer.isView(first) && parts.every((p) => p.data.constructor === first.constructor);
  const out: Typed | unknown[] = typed ? new (first.constructor as new (n: number) => Typed)(rows) : new Array<unknown>(rows);
  let filled = 0;
  for (const p of parts) {
    const from = Math.max(p.start, rowStart);
    const to = Math.min(p.end, rowStart + rows);
    if (to <= from) continue;
    if (typed) (out as Typed).set((p.data as Typed).subarray(from - p.start, to - p.start) as never, from - rowStart);
    else for (let r = from; r < to; r++) (out as unknown[])[r - rowStart] = p.data[r - p.start];
    filled += to - from;
  }
  if (filled !== rows) throw new FileFormatError(file, 'parquet', `column '${name}' decoded to ${filled} of ${rows} rows`);
  return out;
}

// ---------------------------------------------------------------- appending columns

/** A column to append: one value per row of the file. */
export interface NewColumn {
  name: string;
  type: 'float32' | 'float64' | 'int64';
  values: Float32Array | Float64Array | BigInt64Array;
  /** Which rows hold a value (1) and which are null (0); default every row. A null row's entry in `values` is ignored. */
  valid?: Uint8Array;
  /**
   * Name of an existing top-level column to copy the layout of: a one-element LIST per row
   * (its group names, repetitions and logical types, its Arrow and Hugging Face types), or a
   * scalar. Its leaf must have the same physical type. Without it, a nullable scalar column.
   */
  like?: string;
}

const PHYSICAL = { float32: 4, float64: 5, int64: 2 } as const; // parquet Type
const WIDTH = { float32: 4, float64: 8, int64: 8 } as const;

interface SchemaNode { el: ThriftStruct; children: SchemaNode[] }

function parseSchema(elements: ThriftStruct[], file: string): SchemaNode {
  let i = 0;
  const node = (): SchemaNode => {
    if (i >= elements.length) throw new FileFormatError(file, 'parquet', 'schema ends inside a group');
    const el = elements[i++];
    const n = num(el, 5) ?? 0;
    const children: SchemaNode[] = [];
    for (let c = 0; c < n; c++) children.push(node());
    return { el, children };
  };
  const root = node();
  if (i !== elements.length) throw new FileFormatError(file, 'parquet', 'schema has elements outside its root');
  return root;
}

function flattenSchema(n: SchemaNode, out: ThriftStruct[] = []): ThriftStruct[] {
  out.push(n.el);
  for (const c of n.children) flattenSchema(c, out);
  return out;
}

function leaves(n: SchemaNode): number {
  return n.children.length === 0 ? 1 : n.children.reduce((a, c) => a + leaves(c), 0);
}

/** Path of names, max definition and repetition levels of the single leaf under `n` (a scalar or a one-level list). */
function leafPath(n: SchemaNode): { path: string[]; def: number; rep: number; leaf: ThriftStruct } | undefined {
  const path: string[] = [];
  let def = 0;
  let rep = 0;
  let cur: SchemaNode = n;
  for (;;) {
    path.push(text(cur.el, 4) ?? '');
    const r = num(cur.el, 3) ?? 0;
    if (r === 1) def++;
    if (r === 2) { def++; rep++; }
    if (cur.children.length === 0) return { path, def, rep, leaf: cur.el };
    if (cur.children.length !== 1) return undefined;
    cur = cur.children[0];
  }
}

function cloneStruct(s: ThriftStruct): ThriftStruct {
  return { kind: 'struct', fields: s.fields.map((f) => ({ ...f, value: f.type === T.STRUCT ? cloneStruct(f.value as ThriftStruct) : f.value })) };
}

function cloneNode(n: SchemaNode): SchemaNode {
  return { el: cloneStruct(n.el), children: n.children.map(cloneNode) };
}

/**
 * Levels in the RLE/bit-packed hybrid encoding, as RLE runs only (one run per stretch of
 * equal levels), with the 4-byte length prefix of a v1 data page. `level(i)` is row i's level.
 */
function levelRuns(count: number, level: (i: number) => number, bitWidth: number): Uint8Array {
  const bytes = Math.ceil(bitWidth / 8);
  const run: number[] = [];
  for (let i = 0; i < count;) {
    const v = level(i);
    let j = i + 1;
    while (j < count && level(j) === v) j++;
    let h = BigInt(j - i) << 1n;
    do {
      const b = Number(h & 0x7fn);
      h >>= 7n;
      run.push(h ? b | 0x80 : b);
    } while (h);
    for (let k = 0; k < bytes; k++) run.push((v >> (8 * k)) & 0xff);
    i = j;
  }
  const out = new Uint8Array(4 + run.length);
  new DataView(out.buffer).setUint32(0, run.length, true);
  out.set(run, 4);
  return out;
}

const bitWidth = (max: number) => (max === 0 ? 0 : Math.ceil(Math.log2(max + 1)));

function plainBytes(c: NewColumn, from: number, to: number): Uint8Array {
  let n = 0;
  for (let r = from; r < to; r++) if (!c.valid || c.valid[r]) n++;
  const out = new Uint8Array(n * WIDTH[c.type]);
  const dv = new DataView(out.buffer);
  for (let r = from, i = 0; r < to; r++) {
    if (c.valid && !c.valid[r]) continue;
    const v = c.values[r];
    if (c.type === 'float32') dv.setFloat32(4 * i, v as number, true);
    else if (c.type === 'float64') dv.setFloat64(8 * i, v as number, true);
    else dv.setBigInt64(8 * i, v as bigint, true);
    i++;
  }
  return out;
}

function statBytes(c: NewColumn, v: number | bigint): Uint8Array {
  const out = new Uint8Array(WIDTH[c.type]);
  const dv = new DataView(out.buffer);
  if (c.type === 'float32') dv.setFloat32(0, v as number, true);
  else if (c.type === 'float64') dv.setFloat64(0, v as number, true);
  else dv.setBigInt64(0, v as bigint, true);
  return out;
}

function minMax(c: NewColumn, from: number, to: number): { min?: number | bigint; max?: number | bigint } {
  let min: number | bigint | undefined;
  let max: number | bigint | undefined;
  for (let i = from; i < to; i++) {
    const v = c.values[i];
    if ((c.valid && !c.valid[i]) || (typeof v === 'number' && Number.isNaN(v))) continue;
    if (min === undefined || v < min) min = v;
    if (max === undefined || v > max) max = v;
  }
  return { min, max };
}

function updateJsonKv(kv: Map<string, string>, key: string, edit: (v: Record<string, unknown>) => void): void {
  const raw = kv.get(key);
  if (raw === undefined) return;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return; // not ours to repair: left as it was
  }
  edit(v);
  kv.set(key, JSON.stringify(v));
}

/**
 * A parquet file with columns added (and, optionally, some top-level columns
 * dropped from its schema): the original bytes before the footer are kept
 * unchanged, each new column gets one uncompressed PLAIN page per row group after
 * them, and the footer is rewritten with the new columns last. The footer's
 * `ARROW:schema`, `huggingface` and `pandas` metadata gain the new columns, so
 * pyarrow, 🤗 datasets and pandas read them with the intended types.
 *
 * @param bytes the whole original file
 * @param file its name, for error messages
 * @returns the new file, as chunks to write in order
 * @throws {FileFormatError} on a file that is not plain (unencrypted) parquet, or a `like` column that does not fit
 */
export function appendParquetColumns(bytes: Uint8Array, file: string, add: readonly NewColumn[], drop: ReadonlySet<string> = new Set()): Uint8Array[] {
  const fail = (why: string): never => { throw new FileFormatError(file, 'parquet', why); };
  const magic = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12 || magic(0) !== 'PAR1') fail(magic(0) === 'PARE' ? 'encrypted parquet is not supported' : 'does not start with PAR1');
  if (magic(bytes.length - 4) !== 'PAR1') fail('does not end with PAR1 (truncated?)');
  const footerLen = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 8, 4).getUint32(0, true);
  const footerStart = bytes.length - 8 - footerLen;
  if (footerStart < 4) fail(`footer length ${footerLen} does not fit the file`);
  let md: ThriftStruct;
  try {
    md = new ThriftReader(bytes.subarray(footerStart, bytes.length - 8)).struct();
  } catch (err) {
    return fail(`corrupt footer (${(err as Error).message})`);
  }
  if (field(md, 8) !== undefined) fail('encrypted parquet is not supported');
  const root = parseSchema(items(md, 2) as ThriftStruct[], file);
  const rowGroups = items(md, 4) as ThriftStruct[];
  const numRows = num(md, 3) ?? 0;
  for (const c of add) {
    if (c.values.length !== numRows || (c.valid && c.valid.length !== numRows)) fail(`column '${c.name}' has ${c.values.length} values for ${numRows} rows`);
  }

  // Leaf ranges of the top-level columns, then drop.
  const ranges: Array<{ name: string; from: number; to: number; node: SchemaNode }> = [];
  let leaf = 0;
  for (const c of root.children) {
    const n = leaves(c);
    ranges.push({ name: text(c.el, 4) ?? '', from: leaf, to: leaf + n, node: c });
    leaf += n;
  }
  const names = ranges.map((r) => r.name);
  for (const c of add) if (names.includes(c.name) && !drop.has(c.name)) fail(`already has a column '${c.name}'`);
  const keepLeaf = new Array<boolean>(leaf).fill(true);
  for (const r of ranges) if (drop.has(r.name)) for (let i = r.from; i < r.to; i++) keepLeaf[i] = false;
  const keptTop = root.children.filter((c) => !drop.has(text(c.el, 4) ?? ''));

  // New schema subtrees.
  const built = add.map((c) => {
    let node: SchemaNode;
    if (c.like !== undefined) {
      const tmpl = ranges.find((r) => r.name === c.like);
      if (!tmpl) return fail(`no column '${c.like}' to copy the layout of for '${c.name}'`);
      const lp = leafPath(tmpl.node);
      if (!lp || lp.rep > 1 || num(lp.leaf, 1) !== PHYSICAL[c.type]) fail(`column '${c.like}' is not a scalar or one-level list of ${c.type}, so '${c.name}' cannot copy its layout`);
      node = cloneNode(tmpl.node);
      setField(node.el, 4, T.BINARY, str(c.name));
      if (c.valid && (num(node.el, 3) ?? 0) !== 1) fail(`column '${c.like}' is not nullable, so '${c.name}' cannot copy its layout and hold nulls`);
    } else {
      node = { el: struct([1, T.I32, PHYSICAL[c.type]], [3, T.I32, 1], [4, T.BINARY, str(c.name)]), children: [] };
    }
    const lp = leafPath(node)!;
    return { c, node, ...lp };
  });
  setField(root.el, 5, T.I32, keptTop.length + built.length);
  const schema = flattenSchema({ el: root.el, children: [...keptTop, ...built.map((b) => b.node)] });

  // Pages: after the original bytes before the footer.
  const out: Uint8Array[] = [bytes.subarray(0, footerStart)];
  let pos = footerStart;
  let rowStart = 0;
  for (const rg of rowGroups) {
    const n = num(rg, 3) ?? 0;
    const oldCols = items(rg, 1) as ThriftStruct[];
    if (oldCols.length !== leaf) fail(`a row group has ${oldCols.length} column chunks for ${leaf} schema leaves`);
    const cols: ThriftValue[] = oldCols.filter((_, i) => keepLeaf[i]);
    let addBytes = 0;
    for (const b of built) {
      const valid = b.c.valid;
      const r0 = rowStart;
      const parts = [
        ...(b.rep > 0 ? [levelRuns(n, () => 0, bitWidth(b.rep))] : []),
        ...(b.def > 0 ? [levelRuns(n, valid ? (i) => (valid[r0 + i] ? b.def : 0) : () => b.def, bitWidth(b.def))] : []),
        plainBytes(b.c, rowStart, rowStart + n),
      ];
      let nulls = 0;
      if (valid) for (let i = 0; i < n; i++) if (!valid[r0 + i]) nulls++;
      const size = parts.reduce((a, p) => a + p.length, 0);
      const w = new ThriftWriter();
      w.struct(struct([1, T.I32, 0], [2, T.I32, size], [3, T.I32, size],
        [5, T.STRUCT, struct([1, T.I32, n], [2, T.I32, 0], [3, T.I32, 3], [4, T.I32, 3])]));
      const header = w.bytes();
      const offset = pos;
      out.push(header, ...parts);
      pos += header.length + size;
      addBytes += header.length + size;
      const mm = minMax(b.c, rowStart, rowStart + n);
      const stats = struct([3, T.I64, BigInt(nulls)], [5, T.BINARY, mm.max === undefined ? undefined : statBytes(b.c, mm.max)],
        [6, T.BINARY, mm.min === undefined ? undefined : statBytes(b.c, mm.min)]);
      cols.push(struct(
        [2, T.I64, BigInt(offset)],
        [3, T.STRUCT, struct(
          [1, T.I32, PHYSICAL[b.c.type]],
          [2, T.LIST, list(T.I32, [0, 3])],
          [3, T.LIST, list(T.BINARY, b.path.map(str))],
          [4, T.I32, 0],
          [5, T.I64, BigInt(n)],
          [6, T.I64, BigInt(header.length + size)],
          [7, T.I64, BigInt(header.length + size)],
          [9, T.I64, BigInt(offset)],
          [12, T.STRUCT, stats],
        )],
      ));
    }
    setField(rg, 1, T.LIST, list(T.STRUCT, cols));
    const total = num(rg, 2);
    if (total !== undefined) setField(rg, 2, T.I64, BigInt(total + addBytes));
    const compressed = num(rg, 6);
    if (compressed !== undefined) setField(rg, 6, T.I64, BigInt(compressed + addBytes));
    rowStart += n;
  }
  if (rowStart !== numRows) fail(`row groups hold ${rowStart} rows but the footer says ${numRows}`);

  setField(md, 2, T.LIST, list(T.STRUCT, schema));
  setField(md, 4, T.LIST, list(T.STRUCT, rowGroups));
  const orders = field(md, 7);
  if (orders) {
    const kept = items(md, 7).filter((_, i) => keepLeaf[i]);
    for (let i = 0; i < built.length; i++) kept.push(struct([1, T.STRUCT, struct()]));
    setField(md, 7, T.LIST, list(T.STRUCT, kept));
  }

  // Key-value metadata: the Arrow schema, the 🤗 datasets features and the pandas columns.
  const kvItems = items(md, 5) as ThriftStruct[];
  if (kvItems.length) {
    const kv = new Map<string, string>(kvItems.map((k) => [text(k, 1) ?? '', text(k, 2) ?? '']));
    const arrow = kv.get('ARROW:schema');
    if (arrow !== undefined) {
      const specs: Array<ArrowFieldSpec | ArrowFieldClone> = built.map((b) => (b.c.like !== undefined ? { name: b.c.name, like: b.c.like } : { name: b.c.name, type: b.c.type, nullable: true }));
      try {
        kv.set('ARROW:schema', appendArrowSchemaFields(arrow, specs, drop));
      } catch {
        kv.delete('ARROW:schema'); // unreadable: pyarrow then infers types from the parquet schema
      }
    }
    updateJsonKv(kv, 'huggingface', (v) => {
      const feats = (v.info as { features?: Record<string, unknown> } | undefined)?.features;
      if (!feats || typeof feats !== 'object') return;
      for (const d of drop) delete feats[d];
      for (const b of built) {
        const value = { dtype: b.c.type, _type: 'Value' };
        feats[b.c.name] = b.c.like !== undefined && feats[b.c.like] !== undefined ? structuredClone(feats[b.c.like])
          : b.rep > 0 ? { feature: value, _type: 'Sequence' } : value;
      }
    });
    updateJsonKv(kv, 'pandas', (v) => {
      const cols = v.columns as Array<Record<string, unknown>> | undefined;
      if (!Array.isArray(cols)) return;
      const index = new Set((Array.isArray(v.index_columns) ? v.index_columns : []).filter((x): x is string => typeof x === 'string'));
      const kept = cols.filter((c) => !drop.has(String(c.field_name ?? c.name)));
      const data = kept.filter((c) => !index.has(String(c.field_name ?? c.name)));
      const idx = kept.filter((c) => index.has(String(c.field_name ?? c.name)));
      for (const b of built) {
        const tmpl = b.c.like !== undefined ? cols.find((c) => c.name === b.c.like) : undefined;
        data.push(tmpl ? { ...structuredClone(tmpl), name: b.c.name, field_name: b.c.name }
          : { name: b.c.name, field_name: b.c.name, pandas_type: b.c.type, numpy_type: b.c.type, metadata: null });
      }
      v.columns = [...data, ...idx];
    });
    setField(md, 5, T.LIST, list(T.STRUCT, [...kv].map(([k, val]) => struct([1, T.BINARY, str(k)], [2, T.BINARY, str(val)]))));
  }

  const w = new ThriftWriter();
  w.struct(md);
  const footer = w.bytes();
  const tail = new Uint8Array(8);
  new DataView(tail.buffer).setUint32(0, footer.length, true);
  tail.set([0x50, 0x41, 0x52, 0x31], 4);
  out.push(footer, tail);
  return out;
}
