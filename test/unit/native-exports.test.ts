// The seam between TypeScript and the two addons, checked: the names each
// loaded addon exports against the hand-written interfaces NativeCoreAddon and
// NativeTorchAddon (through their list NATIVE_EXPORTS, which the compiler holds
// to the interfaces), the naming scheme, and the one calling convention
// (input, opts, out?) of the functions and of the classes' constructors and
// methods, as the interfaces declare it (read from
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

type Declared = { params: string[] | null; instance?: string; statics?: Map<string, string[]> };

const typesFile = path.join(root, 'src', 'core', 'native-types.ts');
const source = ts.createSourceFile(typesFile, fs.readFileSync(typesFile, 'utf8'), ts.ScriptTarget.ES2022, true);

/** The interfaces of native-types.ts by name. */
function interfaces(): Map<string, ts.InterfaceDeclaration> {
  const out = new Map<string, ts.InterfaceDeclaration>();
  source.forEachChild((node) => { if (ts.isInterfaceDeclaration(node)) out.set(node.name.text, node); });
  return out;
}
const params = (ps: ts.NodeArray<ts.ParameterDeclaration>): string[] => ps.map((p) => p.name.getText(source));
const refName = (t: ts.TypeNode | undefined): string | undefined =>
  t && ts.isTypeReferenceNode(t) && ts.isIdentifier(t.typeName) ? t.typeName.text : undefined;

/**
 * The members of an addon's interface as written in native-types.ts: name →
 * parameter names (null for a property); for a class (`new (…) => Instance`,
 * or an interface with a construct signature and static methods), the
 * constructor's parameter names, the instance interface and the statics.
 */
function declaredMembers(group: 'core' | 'torch'): Map<string, Declared> {
  const all = interfaces();
  const out = new Map<string, Declared>();
  for (const m of all.get(INTERFACES[group])?.members ?? []) {
    if (!m.name || !ts.isIdentifier(m.name)) continue;
    const name = m.name.text;
    if (ts.isMethodSignature(m)) { out.set(name, { params: params(m.parameters) }); continue; }
    const type = ts.isPropertySignature(m) ? m.type : undefined;
    if (type && ts.isConstructorTypeNode(type)) {
      out.set(name, { params: params(type.parameters), instance: refName(type.type) });
      continue;
    }
    const cls = all.get(refName(type) ?? '');
    const ctor = cls?.members.find(ts.isConstructSignatureDeclaration);
    if (cls && ctor) {
      const statics = new Map<string, string[]>();
      for (const s of cls.members) if (ts.isMethodSignature(s) && ts.isIdentifier(s.name)) statics.set(s.name.text, params(s.parameters));
      out.set(name, { params: params(ctor.parameters), instance: refName(ctor.type), statics });
      continue;
    }
    out.set(name, { params: null });
  }
  return out;
}

/** The methods of a native class's instance interface: name → parameter names. */
function instanceMethods(iface: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of interfaces().get(iface)?.members ?? []) {
    if (ts.isMethodSignature(m) && ts.isIdentifier(m.name)) out.set(m.name.text, params(m.parameters));
  }
  return out;
}

/** The one calling convention: (input, opts), (input, opts, out), or no arguments at all. */
const CONVENTION = ['input,opts', 'input,opts,out'];
function conforms(p: string[], allowNone: boolean): boolean {
  return CONVENTION.includes(p.join(',')) || (allowNone && p.length === 0);
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

// Functions that take nothing at all (they read no array and take no option).
// (distBarrier takes ({}, { cancel? }): its cancel flag is an option.)
const NO_ARGUMENTS = new Set(['systemCapabilities', 'rlGaeIsa', 'torchCapabilities', 'distDestroy', 'distState', 'distStats']);

/** Checks the functions of one addon's interface; returns how many were checked. */
function checkFunctions(group: 'core' | 'torch'): number {
  const members = declaredMembers(group);
  let n = 0;
  for (const [name, [g, kind]] of table) {
    if (g !== group || kind !== 'function') continue;
    const params = members.get(name)?.params;
    assert.ok(params, `${name} is declared as a method`);
    if (NO_ARGUMENTS.has(name)) assert.equal(params, [], `${name}()`);
    else assert.ok(conforms(params, false), `${name}(${params.join(', ')})`);
    n++;
  }
  return n;
}

/**
 * Checks the classes of one addon: each constructor takes (input, opts), each
 * static and instance method (input, opts), (input, opts, out) or nothing.
 * Returns the number of methods checked.
 */
function checkClasses(group: 'core' | 'torch'): number {
  const members = declaredMembers(group);
  let n = 0;
  for (const [name, [g, kind]] of table) {
    if (g !== group || kind !== 'class') continue;
    const d = members.get(name);
    assert.ok(d?.params && d.instance, `${name} is declared as a class with an instance interface`);
    assert.ok(conforms(d.params, false), `new ${name}(${d.params.join(', ')})`);
    for (const [m, p] of d.statics ?? []) assert.ok(conforms(p, false), `${name}.${m}(${p.join(', ')})`);
    const methods = instanceMethods(d.instance);
    assert.ok(methods.size > 0, `${d.instance} declares methods`);
    for (const [m, p] of methods) {
      assert.ok(conforms(p, true), `${d.instance}.${m}(${p.join(', ')})`);
      n++;
    }
  }
  return n;
}

test('one calling convention: every function of the core addon takes (input, opts) or (input, opts, out)', () => {
  assert.ok(checkFunctions('core') > 30);
});

test('one calling convention: every function of the libtorch addon takes (input, opts) or (input, opts, out)', () => {
  assert.ok(checkFunctions('torch') >= 9);
});

test('one calling convention: the core addon\'s classes take (input, opts) and their methods (input, opts[, out]) or nothing', () => {
  assert.ok(checkClasses('core') > 0);
});

test('one calling convention: the libtorch addon\'s classes take (input, opts) and their methods (input, opts[, out]) or nothing', () => {
  assert.ok(checkClasses('torch') > 30);
});

// What the declarations say, the addon does: each class method the interface
// declares exists on the prototype of the loaded class, and a call that breaks
// the convention (positional arguments) is refused with a TypeError naming
// the input or the options object, before any work.
withTorch('the libtorch classes have exactly the methods their interfaces declare', () => {
  const members = declaredMembers('torch');
  const addon = torchAddon as unknown as Record<string, { prototype: object }>;
  for (const [name, [g, kind]] of table) {
    if (g !== 'torch' || kind !== 'class') continue;
    const proto = addon[name].prototype;
    const own = Object.getOwnPropertyNames(proto).filter((k) => k !== 'constructor').sort();
    assert.equal(own, [...instanceMethods(members.get(name)!.instance!).keys()].sort(), name);
  }
});

withTorch('the libtorch addon refuses positional arguments with a TypeError naming the object it expected', () => {
  const a = torchAddon!;
  const config = { inputDim: 4, hiddenDim: 4, bins: 3, oneHot: false, seed: 0 };
  assert.throws(() => new a.ValueHeadNative(config as never, undefined as never), (e: Error) => e instanceof TypeError && /for config but received undefined/.test(e.message));
  const head = new a.ValueHeadNative({}, config);
  const hidden = new Float32Array(8);
  assert.throws(() => head.predict(hidden as never, 2 as never), (e: Error) => e instanceof TypeError && /opts/.test(e.message));
  assert.throws(() => head.predict({ hidden } as never, {} as never), (e: Error) => e instanceof TypeError && /opts\.B/.test(e.message));
  assert.equal(head.predict({ hidden }, { B: 2 }).length, 2);
  assert.throws(() => a.distSetOverlap(true as never, undefined as never), (e: Error) => e instanceof TypeError && /opts/.test(e.message));
  assert.throws(() => a.distAllGather(new Float32Array(2) as never, {}), (e: Error) => e instanceof TypeError && /input\.array/.test(e.message));
});

test.run();
