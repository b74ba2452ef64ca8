// The README and docs/ against the repository: the README's examples are the
// files in examples/ (so what it shows is what runs), its quick start is what
// .ci/run executes, every relative link points at a file that exists, and the
// README stays short.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageRoot } from '../helpers/cli.js';

const read = (p: string) => fs.readFileSync(path.join(packageRoot, p), 'utf8');
const readme = read('README.md');

test('README: under 10 KB; each example section shows its examples/*.mjs file verbatim', () => {
  assert.ok(Buffer.byteLength(readme) < 10_000, `README is ${Buffer.byteLength(readme)} bytes`);
  const sections = [...readme.matchAll(/^## .*`(examples\/[\w-]+\.mjs)`\n\n```js\n([\s\S]*?)```/gm)];
  assert.equal(sections.map((m) => m[1]).sort(), ['examples/ppo.mjs', 'examples/progress.mjs', 'examples/rewards-gae.mjs']);
  for (const [, file, code] of sections) assert.is(code, `${read(file).trimEnd()}\n`, file);
});

test('README: the quick start is the two lines .ci/run executes', () => {
  const block = /## Quick start[^\n]*\n\n```sh\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'quick start block');
  const lines = block[1].trim().split('\n');
  assert.equal(lines, ['bash scripts/setup-debian.sh && npm install && npm start', 'npm test']);
  const ci = read('.ci/run');
  for (const l of lines) assert.ok(ci.split('\n').some((c) => c.trim().startsWith(l)), `.ci/run runs '${l}'`);
});

test('README and docs/: every relative link points at a file of the repository', () => {
  const pages = ['README.md', ...fs.readdirSync(path.join(packageRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const broken: string[] = [];
  let checked = 0;
  for (const page of pages) {
    for (const [, target] of read(page).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      checked++;
      const file = path.normalize(path.join(path.dirname(page), target));
      if (!fs.existsSync(path.join(packageRoot, file))) broken.push(`${page} → ${target}`);
    }
  }
  assert.ok(checked >= 20, `only ${checked} links found`);
  assert.equal(broken, []);
});

test('docs and comments speak of the code, not of issue numbers', () => {
  const hits: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(packageRoot, dir), { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|mjs|md|cc|h)$/.test(e.name) && p !== path.join('test', 'unit', 'docs.test.ts')) {
        read(p).split('\n').forEach((l, i) => { if (/\bissue[ -]?\d+/i.test(l)) hits.push(`${p}:${i + 1}`); });
      }
    }
  };
  for (const d of ['src', 'native', 'test', 'bench', 'docs', 'examples']) walk(d);
  hits.push(...readme.split('\n').flatMap((l, i) => (/\bissue[ -]?\d+/i.test(l) ? [`README.md:${i + 1}`] : [])));
  assert.equal(hits, []);
});

test.run();
