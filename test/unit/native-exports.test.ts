// The seam between TypeScript and the two addons, checked: the names each
// loaded addon exports against the hand-written interfaces NativeCoreAddon and
// NativeTorchAddon (through their list NATIVE_EXPORTS, which the compiler holds
// to the interfaces), the naming scheme, and the one calling convention
// (input, opts, out?) as the interfaces declare it (read from
// src/core/native-types.ts with the TypeScript parser).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native, torchAddonStatus } from '../../src/index.js';
import { NATIVE_EXPORTS } from '../../src/core/native-types.js';
import { testIf } from '../helpers/skip.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const torchAddon = torchAddonStatus().addon;
const table = Object.entries(NATIVE_EXPORTS) as Array<[string, readonly ['core' | 'torch', 'function' | 'class' | 'value']]>;

const INTERFACES = { core: 'NativeCoreAddon', torch: 'NativeTorchAddon' } as const;

/** The members of an addon's interface as written in native-types.ts: name → parameter names (null for a property). */
function declaredMembers(group: 'core' | 'torch'): Map<string, string[] | null> {
  const file = path.join(root, 'src', 'core', 'native-types.ts');
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out = new Map<string, string[] | null>();
  sf.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== INTERFACES[group]) return;
    for (const m of node.members) {
      if (!m.name || !ts.isIdentifier(m.name)) continue;
      out.set(m.name.text, ts.isMethodSignature(m) ? m.parameters.map((p) => p.name.getText(sf)) : null);
    }
  });
  return out;
}

test('each name is declared in the interface of the addon the list says it comes from', () => {
  for (const group of ['core', 'torch'] as const) {
    assert.equal([...declaredMembers(group).keys()].sort(), table.filter(([, [g]]) => g === group).map(([name]) => name).sort(), INTERFACES[group]);
  }
});

test('the core addon exports exactly the names NativeCoreAddon declares', () => {
  const exported = Object.keys(native()).sort();
  const expected = table.filter(([, [group]]) => group === 'core').map(([name]) => name).sort();
  assert.equal(exported.filter((n) => !expected.includes(n)), [], 'exported but not declared in NativeCoreAddon');
  assert.equal(expected.filter((n) => !exported.includes(n)), [], 'declared in NativeCoreAddon but not exported');
});

const withTorch = testIf(torchAddon !== undefined, `no libtorch addon (${torchAddonStatus().reason})`);
withTorch('the libtorch addon exports exactly the names NativeTorchAddon declares', () => {
  const exported = Object.keys(torchAddon!).sort();
  const expected = table.filter(([, [group]]) => group === 'torch').map(([name]) => name).sort();
  assert.equal(exported.filter((n) => !expected.includes(n)), [], 'exported but not declared in NativeTorchAddon');
  assert.equal(expected.filter((n) => !exported.includes(n)), [], 'declared in NativeTorchAddon but not exported');
});

test('each export is what the list says: a function, a class or a value', () => {
  const addons = { core: native() as unknown as Record<string, unknown>, torch: torchAddon as unknown as Record<string, unknown> | undefined };
  for (const [name, [group, kind]] of table) {
    const addon = addons[group];
    if (!addon) continue;
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
    assert.match(name, /^(system|progress|encoder|rl|pickPlace|dist|torch)[A-Z][A-Za-z]*$/, name);
    if (name.endsWith('Cuda')) assert.ok(names.has(name.slice(0, -'Cuda'.length)), `${name} has its CPU twin`);
  }
});

test('one calling convention: every function of the core addon takes (input, opts) or (input, opts, out)', () => {
  const members = declaredMembers('core');
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
