// The seam between TypeScript and the addon, checked: the names the loaded
// addon exports against the hand-written NativeAddon interface (through its
// list NATIVE_EXPORTS, which the compiler holds to the interface), the naming
// scheme, and the one calling convention (input, opts, out?) as the interface
// declares it (read from src/core/native-types.ts with the TypeScript parser).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { capabilities, native } from '../../src/index.js';
import { NATIVE_EXPORTS } from '../../src/core/native-types.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const caps = capabilities();
const table = Object.entries(NATIVE_EXPORTS) as Array<[string, readonly ['core' | 'torch', 'function' | 'class' | 'value']]>;

/** The members of `interface NativeAddon` as written in native-types.ts: name → parameter names (null for a property). */
function declaredMembers(): Map<string, string[] | null> {
  const file = path.join(root, 'src', 'core', 'native-types.ts');
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out = new Map<string, string[] | null>();
  sf.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== 'NativeAddon') return;
    for (const m of node.members) {
      if (!m.name || !ts.isIdentifier(m.name)) continue;
      out.set(m.name.text, ts.isMethodSignature(m) ? m.parameters.map((p) => p.name.getText(sf)) : null);
    }
  });
  return out;
}

test('the addon exports exactly the names NativeAddon declares (libtorch names only in a libtorch build)', () => {
  const exported = Object.keys(native()).sort();
  const expected = table.filter(([, [group]]) => group === 'core' || caps.torch).map(([name]) => name).sort();
  assert.equal(exported.filter((n) => !expected.includes(n)), [], 'exported but not declared in NativeAddon');
  assert.equal(expected.filter((n) => !exported.includes(n)), [], 'declared in NativeAddon but not exported');
  // The list and the interface as written name the same members.
  assert.equal([...declaredMembers().keys()].sort(), table.map(([name]) => name).sort());
});

test('each export is what the list says: a function, a class or a value', () => {
  const addon = native() as unknown as Record<string, unknown>;
  for (const [name, [group, kind]] of table) {
    if (group === 'torch' && !caps.torch) continue;
    const v = addon[name];
    if (kind === 'value') {
      assert.ok(typeof v !== 'function' && v !== undefined, `${name} is a value`);
    } else {
      assert.type(v, 'function', name);
      // N-API names functions and classes by what they were exported as.
      assert.is((v as { name: string }).name, name);
      if (kind === 'class') assert.type((v as { prototype: unknown }).prototype, 'object', `${name} is a class`);
    }
  }
});

test('one naming scheme: <area><Name> for functions and values, a Cuda twin beside its CPU twin, <Name>Native for classes', () => {
  const names = new Set(table.map(([name]) => name));
  for (const [name, [, kind]] of table) {
    if (kind === 'class') {
      assert.match(name, /^[A-Z][A-Za-z]*Native$/, name);
      continue;
    }
    assert.match(name, /^(system|progress|encoder|rl|pickPlace|dist)[A-Z][A-Za-z]*$/, name);
    if (name.endsWith('Cuda')) assert.ok(names.has(name.slice(0, -'Cuda'.length)), `${name} has its CPU twin`);
  }
});

test('one calling convention: every function of the core addon takes (input, opts) or (input, opts, out)', () => {
  const members = declaredMembers();
  const exempt = new Set(['systemCapabilities', 'rlGaeIsa']);  // no arguments at all
  for (const [name, [group, kind]] of table) {
    if (group !== 'core' || kind !== 'function' || exempt.has(name)) continue;
    const params = members.get(name);
    assert.ok(params, `${name} is declared as a method`);
    assert.ok(['input,opts', 'input,opts,out'].includes(params.join(',')), `${name}(${params.join(', ')})`);
  }
  for (const name of exempt) assert.equal(members.get(name), [], `${name}()`);
});

test.run();
