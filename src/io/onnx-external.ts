// The external-data files an ONNX model refers to (`model.onnx_data` and the
// like): tensors stored outside the protobuf name their file in
// TensorProto.external_data ("location"). The model is scanned field by field
// from disk, skipping weight bytes, so a multi-gigabyte file is never read
// into memory.
import fs from 'node:fs';

/** Buffered, seekable reads of protobuf wire data from a file descriptor. */
class WireReader {
  private buf = Buffer.alloc(1 << 16);
  private bufStart = 0;
  private bufLen = 0;
  constructor(private readonly fd: number, readonly size: number, private readonly file: string) {}

  private byteAt(pos: number): number {
    if (pos < this.bufStart || pos >= this.bufStart + this.bufLen) {
      if (pos >= this.size) throw new Error(`${this.file}: not an ONNX model (protobuf data ends inside a field at byte ${pos})`);
      this.bufStart = pos;
      this.bufLen = fs.readSync(this.fd, this.buf, 0, this.buf.length, pos);
    }
    return this.buf[pos - this.bufStart];
  }

  varint(pos: number): [number, number] {
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byteAt(pos++);
      value += (b & 0x7f) * mul;
      if (b < 0x80) return [value, pos];
      mul *= 128;
    }
    throw new Error(`${this.file}: not an ONNX model (a varint longer than 10 bytes)`);
  }

  bytes(pos: number, n: number): Buffer {
    const out = Buffer.alloc(n);
    if (n > 0 && fs.readSync(this.fd, out, 0, n, pos) !== n) throw new Error(`${this.file}: not an ONNX model (truncated field)`);
    return out;
  }

  /** Calls `on(field, start, end)` for each length-delimited field in [from, to); skips the others. */
  fields(from: number, to: number, on: (field: number, start: number, end: number) => void): void {
    let pos = from;
    while (pos < to) {
      const [tag, p] = this.varint(pos);
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      if (field === 0) throw new Error(`${this.file}: not an ONNX model (field number 0 at byte ${pos})`);
      if (wire === 0) pos = this.varint(p)[1];
      else if (wire === 1) pos = p + 8;
      else if (wire === 5) pos = p + 4;
      else if (wire === 2) {
        const [len, q] = this.varint(p);
        if (q + len > to) throw new Error(`${this.file}: not an ONNX model (a field of ${len} bytes at byte ${q} runs past its message)`);
        on(field, q, q + len);
        pos = q + len;
      } else throw new Error(`${this.file}: not an ONNX model (wire type ${wire} at byte ${pos})`);
      if (pos > to) throw new Error(`${this.file}: not an ONNX model (a field runs past its message at byte ${pos})`);
    }
  }
}

/**
 * Names of the external-data files a model's tensors point at (relative to the
 * model's folder, in order of first use; empty for a self-contained model).
 * Initializers, sparse initializers, tensor attributes of nodes and subgraphs are
 * scanned.
 *
 * @throws {Error} naming the file when it is not a protobuf ONNX model, or a
 *   location leaves the model's folder (an absolute path or `..`)
 * @example
 * onnxExternalDataFiles('onnx/model.onnx');   // ['model.onnx_data']
 */
export function onnxExternalDataFiles(modelPath: string): string[] {
  const fd = fs.openSync(modelPath, 'r');
  try {
    const r = new WireReader(fd, fs.fstatSync(fd).size, modelPath);
    const found: string[] = [];
    const tensor = (s: number, e: number): void => {
      r.fields(s, e, (f, a, b) => {
        if (f !== 13) return; // external_data: StringStringEntryProto { key = 1, value = 2 }
        let key = '';
        let value = '';
        r.fields(a, b, (g, c, d) => {
          if (g === 1) key = r.bytes(c, d - c).toString('utf8');
          if (g === 2) value = r.bytes(c, d - c).toString('utf8');
        });
        if (key === 'location' && !found.includes(value)) found.push(value);
      });
    };
    const graph = (s: number, e: number, depth: number): void => {
      if (depth > 32) throw new Error(`${modelPath}: subgraphs nested more than 32 deep`);
      r.fields(s, e, (f, a, b) => {
        if (f === 5) tensor(a, b); // initializer
        else if (f === 15) r.fields(a, b, (g, c, d) => { if (g === 1 || g === 2) tensor(c, d); }); // sparse_initializer
        else if (f === 1) { // node → attribute (5) → t (5), g (6), tensors (10), graphs (11)
          r.fields(a, b, (g, c, d) => {
            if (g !== 5) return;
            r.fields(c, d, (h, x, y) => {
              if (h === 5 || h === 10) tensor(x, y);
              else if (h === 6 || h === 11) graph(x, y, depth + 1);
            });
          });
        }
      });
    };
    let sawGraph = false;
    r.fields(0, r.size, (f, a, b) => {
      if (f === 7) { sawGraph = true; graph(a, b, 0); }
    });
    if (!sawGraph) throw new Error(`${modelPath}: not an ONNX model (no graph)`);
    for (const loc of found) {
      if (loc === '' || loc.startsWith('/') || loc.includes('\\') || /^[A-Za-z]:/.test(loc) || loc.split('/').includes('..')) {
        throw new Error(`${modelPath}: external data location '${loc}' is outside the model's folder`);
      }
    }
    return found;
  } finally {
    fs.closeSync(fd);
  }
}
