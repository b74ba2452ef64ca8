// Saving to a path of the wrong kind: a directory given where a file is
// expected (or a file where a folder is expected) is a RangeError naming the
// path, raised before anything is written, so no temporary file ever appears
// beside the directory (in its parent).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { capabilities, Policy, ValueHead, type PolicySpec } from '../../src/index.js';

const spec: PolicySpec = { obsDim: 3, trunk: { sizes: [4] }, head: { type: 'gaussian', actionDim: 2 }, critic: { sizes: [4] }, seed: 1 };

if (!capabilities().torch) {
  console.log('SKIP save paths: the addon was built without libtorch');
  test.skip('save paths', () => {});
} else {
  test('ValueHead.save: a directory path is a RangeError naming it; nothing is written beside it', () => {
    const parent = mkdtempSync(path.join(tmpdir(), 'f2g-save-'));
    const sub = path.join(parent, 'sub');
    mkdirSync(sub);
    const head = new ValueHead({ inputDim: 4, hiddenDim: 4, bins: 5 });
    assert.throws(() => head.save(sub), (e: Error) => e instanceof RangeError && e.message.includes(`'${sub}'`) && /is a directory/.test(e.message) && /\bpath\b/.test(e.message));
    assert.throws(() => head.save(`${parent}/new/`), (e: Error) => e instanceof RangeError && /path separator/.test(e.message));
    // the .json beside the weights is a directory: refused before the weights are written
    mkdirSync(path.join(parent, 'c.json'));
    assert.throws(() => head.save(path.join(parent, 'c.safetensors')), (e: Error) => e instanceof RangeError && e.message.includes(`'${path.join(parent, 'c.json')}'`));
    assert.equal(readdirSync(parent).sort(), ['c.json', 'sub']);
    assert.equal(readdirSync(sub), []);
    // a file path still works, and leaves no temporary files
    head.save(path.join(parent, 'w.safetensors'));
    assert.equal(readdirSync(parent).sort(), ['c.json', 'sub', 'w.json', 'w.safetensors']);
    assert.equal(ValueHead.load(path.join(parent, 'w.safetensors')).stateDict(), head.stateDict());
  });

  test('Policy.saveWeights / saveAdapters: a path of the wrong kind is a RangeError naming it', () => {
    const parent = mkdtempSync(path.join(tmpdir(), 'f2g-save-'));
    const p = new Policy(spec);
    assert.throws(() => p.saveWeights(parent), (e: Error) => e instanceof RangeError && e.message.includes(`'${parent}'`) && /is a directory/.test(e.message));
    p.addLora({ rank: 1, targets: ['trunk.0'] });
    const file = path.join(parent, 'a-file');
    writeFileSync(file, 'x');
    assert.throws(() => p.saveAdapters(file), (e: Error) => e instanceof RangeError && e.message.includes(`'${file}'`) && /not a directory/.test(e.message) && /\bdir\b/.test(e.message));
    assert.equal(readdirSync(parent), ['a-file']);
    p.saveAdapters(path.join(parent, 'adapter'));
    assert.equal(readdirSync(path.join(parent, 'adapter')).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
    // missing parents are made one level at a time; a level that cannot be made (under /proc,
    // where a recursive mkdir spins forever) fails at once, naming it
    p.saveAdapters(path.join(parent, 'deep', 'er', 'adapter'));
    assert.ok(readdirSync(path.join(parent, 'deep', 'er', 'adapter')).includes('adapter_config.json'));
    assert.throws(() => p.saveAdapters('/proc/f2g-nope/adapter'), /cannot create folder \/proc\/f2g-nope/);
  });

  test('bad config files (empty, truncated, null, field-less) are errors naming the file and what is wrong', () => {
    const parent = mkdtempSync(path.join(tmpdir(), 'f2g-cfg-'));
    const head = new ValueHead({ inputDim: 4, hiddenDim: 4, bins: 5 });
    const w = path.join(parent, 'h.safetensors');
    head.save(w);
    const cfgFile = path.join(parent, 'h.json');
    const good = readFileSync(cfgFile, 'utf8');
    for (const [body, why] of [
      ['', /h\.json: cannot read value head config file: the file is empty/],
      [good.slice(0, 20), /h\.json: cannot read value head config file: not valid JSON .*truncated\?/],
      ['null', /h\.json: cannot read value head config file: expected a JSON object but it holds null/],
      [JSON.stringify({ ...JSON.parse(good), inputDim: undefined }), /h\.json: cannot read value head config file: Expected an integer for config\.inputDim but received undefined/],
      [JSON.stringify({ ...JSON.parse(good), format: 'other' }), /h\.json: cannot read value head config file: expected "format": "feat2go\.value-head\.v1" but received "other"/],
    ] as Array<[string, RegExp]>) {
      writeFileSync(cfgFile, body);
      assert.throws(() => ValueHead.load(w), why, body.slice(0, 30));
    }
    // PEFT's adapter_config.json
    const p = new Policy(spec);
    p.addLora({ rank: 1, targets: ['trunk.0'] });
    const adir = path.join(parent, 'adapter');
    p.saveAdapters(adir);
    const acfg = path.join(adir, 'adapter_config.json');
    const agood = JSON.parse(readFileSync(acfg, 'utf8'));
    for (const [body, why] of [
      ['', /adapter_config\.json: cannot read adapter config file: the file is empty/],
      ['{"peft_type": "LORA", "r"', /adapter_config\.json: cannot read adapter config file: not valid JSON/],
      ['null', /adapter_config\.json: cannot read adapter config file: expected a JSON object but it holds null/],
      [JSON.stringify({ ...agood, r: 'two' }), /Expected r in .*adapter_config\.json to be an integer ≥ 1 but received "two"/],
      [JSON.stringify({ ...agood, lora_dropout: 1 }), /Expected lora_dropout in .*adapter_config\.json to be a number in \[0, 1\) but received 1/],
    ] as Array<[string, RegExp]>) {
      writeFileSync(acfg, body);
      const q = new Policy(spec);
      assert.throws(() => q.loadAdapters(adir), why, body.slice(0, 30));
      assert.is(q.lora, undefined, 'nothing attached');
    }
  });
}

test.run();
