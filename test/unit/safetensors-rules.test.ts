// safetensors headers under the reference implementation's rules: tensors
// tile the data section exactly (no overlap, no gap, no trailing bytes), no
// duplicate JSON keys, integer literals only. Files are built byte by byte
// here. Where the Python `safetensors` wheel is on disk, every case is also
// run through it and the accept/reject decision must agree (except where this
// reader is documented to be stricter).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { FileFormatError, parseSafetensors, readSafetensors, readSafetensorsHeader } from '../../src/index.js';
import { testIf } from '../helpers/skip.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'feat2go-st-'));
let counter = 0;

function st(header: string, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  for (let i = 0; i < dataBytes; i++) out[8 + json.length + i] = i & 0xff;
  return out;
}

const T = (name: string, shape: number[], begin: number, end: number, dtype = 'F32') =>
  `"${name}":{"dtype":"${dtype}","shape":[${shape.join(',')}],"data_offsets":[${begin},${end}]}`;

function throwsFormat(fn: () => unknown, file: string, re: RegExp) {
  try {
    fn();
  } catch (e) {
    assert.instance(e, FileFormatError, `expected FileFormatError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    assert.is((e as FileFormatError).file, file);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected FileFormatError matching ${re}`);
}

interface Case { name: string; bytes: Uint8Array; error?: RegExp; stricterThanReference?: boolean }

const cases: Case[] = [
  { name: 'two tensors back to back', bytes: st(`{${T('a', [2], 0, 8)},${T('b', [1], 8, 12)}}`, 12) },
  { name: 'header order differs from offset order', bytes: st(`{${T('b', [1], 8, 12)},${T('a', [2], 0, 8)}}`, 12) },
  { name: 'empty tensors at a boundary', bytes: st(`{${T('e', [0], 0, 0)},${T('a', [1], 0, 4)},${T('z', [2, 0], 4, 4)}}`, 4) },
  { name: 'no tensors, no data', bytes: st('{}', 0) },
  { name: 'padding spaces after the JSON', bytes: st(`{${T('a', [1], 0, 4)}}    `, 4) },
  { name: 'metadata and an unknown field', bytes: st(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}}`, 4) },
  {
    name: 'overlapping offsets', bytes: st(`{${T('a', [2], 0, 8)},${T('b', [1], 4, 8)}}`, 8),
    error: /tensor 'b' \(data_offsets \[4, 8\]\) overlaps tensor 'a' \(data_offsets \[0, 8\]\): tensors must not share bytes/,
  },
  {
    name: 'the same bytes twice', bytes: st(`{${T('a', [1], 0, 4)},${T('b', [1], 0, 4)}}`, 4),
    error: /overlaps tensor/,
  },
  {
    name: 'a gap between tensors', bytes: st(`{${T('a', [1], 0, 4)},${T('b', [1], 8, 12)}}`, 12),
    error: /tensor 'b' \(data_offsets \[8, 12\]\) leaves a gap of 4 bytes after tensor 'a': tensors must cover the data without gaps/,
  },
  {
    name: 'a gap at the start', bytes: st(`{${T('a', [1], 4, 8)}}`, 8),
    error: /leaves a gap of 4 bytes at the start of the data/,
  },
  {
    name: 'trailing bytes after the last tensor', bytes: st(`{${T('a', [1], 0, 4)}}`, 9),
    error: /the tensors cover 4 of the 9 data bytes: 5 trailing bytes belong to no tensor/,
  },
  { name: 'data but no tensors', bytes: st('{}', 1), error: /cover 0 of the 1 data bytes/ },
  {
    name: 'duplicate field inside a tensor', bytes: st('{"a":{"dtype":"F32","shape":[1],"dtype":"F32","data_offsets":[0,4]}}', 4),
    error: /duplicate key "dtype"/,
  },
  {
    name: 'duplicate __metadata__', bytes: st(`{"__metadata__":{"x":"1"},"__metadata__":{"y":"2"},${T('a', [1], 0, 4)}}`, 4),
    error: /duplicate key "__metadata__"/,
  },
  {
    name: 'duplicate tensor name', bytes: st(`{${T('a', [1], 0, 4)},${T('a', [1], 0, 4)}}`, 4),
    error: /duplicate key "a" in the object starting at position 0/, stricterThanReference: true,
  },
  {
    name: 'duplicate metadata entry', bytes: st(`{"__metadata__":{"x":"1","x":"2"},${T('a', [1], 0, 4)}}`, 4),
    error: /duplicate key "x"/, stricterThanReference: true,
  },
  { name: 'offset written as 0.0', bytes: st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4]}}', 4), error: /bad data_offsets \[0\.0,4\]/ },
  { name: 'shape written as 1e0', bytes: st('{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}', 4), error: /bad shape \[1e0\]/ },
  { name: 'NUL bytes after the JSON', bytes: st(`{${T('a', [1], 0, 4)}}\0\0`, 4), error: /trailing characters/ },
  { name: 'deep nesting', bytes: st(`{"__metadata__":${'['.repeat(5000)}${']'.repeat(5000)}}`, 0), error: /nesting deeper than 64/ },
];

test('tiling, duplicate-key and integer rules: FileFormatError naming the file and the rule', () => {
  for (const c of cases) {
    const file = path.join(dir, `${counter++}.safetensors`);
    fs.writeFileSync(file, c.bytes);
    if (!c.error) {
      const h = readSafetensorsHeader(file);
      assert.ok(h.tensors.length >= 0, c.name);
      const m = parseSafetensors(c.bytes, 'mem');
      assert.is(m.size, h.tensors.length, c.name);
      assert.equal([...readSafetensors(file).keys()], [...m.keys()], c.name);
      continue;
    }
    throwsFormat(() => readSafetensorsHeader(file), file, c.error);
    throwsFormat(() => readSafetensors(file), file, c.error);
    throwsFormat(() => readSafetensors(file, { names: [] }), file, c.error);
    throwsFormat(() => parseSafetensors(c.bytes, 'in-memory'), 'in-memory', c.error);
  }
});

test('readers reject misspelt options', () => {
  const bytes = cases[0].bytes;
  try {
    parseSafetensors(bytes, 'mem', { nmes: ['a'] } as any);
    assert.unreachable('should throw');
  } catch (e) {
    assert.instance(e, TypeError);
    assert.match((e as Error).message, /Unknown option opts\.nmes \(did you mean opts\.names\?\)/);
  }
});

// ---------- parity with the reference implementation (skips without it) ----------
function findWheel(): string | undefined {
  for (const d of ['/opt/pypi/files', '/opt/pypi', '/usr/share/python-wheels']) {
    try {
      const w = fs.readdirSync(d).find((f) => /^safetensors-.*\.whl$/.test(f));
      if (w) return path.join(d, w);
    } catch { /* not there */ }
  }
  return undefined;
}

const wheel = findWheel();
const hasPython = spawnSync('python3', ['-c', 'print(1)'], { encoding: 'utf8' }).status === 0;
const withWheel = testIf(wheel !== undefined && hasPython, !wheel ? 'no safetensors wheel on disk' : 'no python3 on PATH');

withWheel('accept/reject decisions agree with the Python safetensors wheel', () => {
  const files = cases.map((c) => {
    const f = path.join(dir, `parity-${counter++}.safetensors`);
    fs.writeFileSync(f, c.bytes);
    return f;
  });
  const script = `
import sys, zipfile, tempfile, json
d = tempfile.mkdtemp()
zipfile.ZipFile(sys.argv[1]).extractall(d)
sys.path.insert(0, d)
from safetensors import deserialize
out = []
for f in sys.argv[2:]:
    try:
        deserialize(open(f, 'rb').read()); out.append('ok')
    except Exception as e:
        out.append('error: ' + str(e))
print(json.dumps(out))
`;
  const r = spawnSync('python3', ['-c', script, wheel!, ...files], { encoding: 'utf8' });
  // The wheel is on disk and python3 runs: it must load (a broken wheel is a failure, not a skip).
  assert.is(r.status, 0, `the safetensors wheel did not load: ${r.stderr}`);
  const verdicts = JSON.parse(r.stdout) as string[];
  cases.forEach((c, i) => {
    const refOk = verdicts[i] === 'ok';
    if (c.stricterThanReference) {
      assert.ok(refOk, `${c.name}: the reference accepts this (documented as stricter here)`);
      return;
    }
    assert.is(!c.error, refOk, `${c.name}: reference says ${verdicts[i]}`);
  });
});

test.run();
