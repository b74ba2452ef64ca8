// PEFT interop that loses nothing: an adapter folder written by
// saveAdapters holds the whole trained policy (LoRA tensors plus the trained
// head, log-std and critic under PEFT's modules_to_save convention), and
// loadAdapters reads PEFT's folders (suffix target_modules, modules_to_save).
// The first tests need only feat2go; the parity test loads the folders in
// PEFT 0.21 / PyTorch (a venv built from wheels on disk; SKIP without them)
// and compares log-probs and values both ways (|Δ| ≤ 1e-4·max(1, |x|)).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { capabilities, Policy, PpoTrainer, readSafetensors, readSafetensorsHeader, writeSafetensors, type PolicySpec, type RolloutBatch } from '../../src/index.js';
import { rng } from '../helpers/data.js';
import { peftPython } from '../helpers/peft-venv.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), 'f2g-peft-'));
const TOL = 1e-4;

const independent: PolicySpec = { obsDim: 5, trunk: { sizes: [8, 6] }, head: { type: 'gaussian', actionDim: 3, initLogStd: -0.3 }, critic: { sizes: [7] }, seed: 11 };
const dependent: PolicySpec = { ...independent, head: { type: 'gaussian', actionDim: 3, logStd: 'state-dependent', initLogStd: -0.3, logStdMin: -5, logStdMax: 1 }, seed: 12 };
const N = 12;
const r0 = rng(3);
const obsData = Float32Array.from({ length: N * 5 }, () => r0() * 2 - 1);
const actData = Float32Array.from({ length: N * 3 }, () => r0() * 2 - 1);
const obs = { data: obsData, shape: [N, 5] };
const acts = { data: actData, shape: [N, 3] };

/** A policy with the base weights of `spec` (saved to <name>.safetensors), adapters on `targets`, trained by PPO so every trainable tensor moved. */
function trained(spec: PolicySpec, name: string, targets: string[]): Policy {
  const p = new Policy(spec);
  p.saveWeights(path.join(dir, `${name}.safetensors`));
  p.addLora({ rank: 2, alpha: 4, targets, seed: 2 });
  const r = rng(7);
  const a = p.act(obs);
  const batch: RolloutBatch = {
    obs: { data: obsData, shape: [N, 1, 5] }, actions: { data: a.actions.data, shape: [N, 1, 3] },
    oldLogProbs: { data: a.logProbs, shape: [N, 1] }, advantages: { data: Float32Array.from({ length: N }, () => r() * 2 - 1), shape: [N, 1] },
    returns: { data: Float32Array.from({ length: N }, () => r() * 2 - 1), shape: [N, 1] },
  };
  const ppo = new PpoTrainer(p, { actorLr: 0.05, criticLr: 0.05, epochs: 3, minibatches: 2, maxGradNorm: 0 });
  for (let i = 0; i < 3; i++) ppo.updateSync(batch);
  return p;
}

function base(spec: PolicySpec, name: string): Policy {
  const p = new Policy(spec);
  p.loadWeights(path.join(dir, `${name}.safetensors`));
  return p;
}

function near(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.is(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= TOL * Math.max(1, Math.abs(want[i])), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}
function far(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  return Array.from(a).some((x, i) => Math.abs(x - b[i]) > 1e-2);
}

interface PeftResult {
  logp: number[]; values: number[]; warnings: string[]; trainable: string[];
  config: { target_modules: string[] | string; modules_to_save: string[] | null }; targeted: string[]; state_keys: string[]; state_equal: boolean;
}

const cfgOf = (d: string) => JSON.parse(readFileSync(path.join(d, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;

if (!capabilities().torch) {
  console.log('SKIP PEFT interop: the addon was built without libtorch');
  test.skip('PEFT interop', () => {});
} else {
  test('saveAdapters writes the whole trained policy: a fresh base policy loading the folder gives the same outputs', () => {
    for (const [spec, name, targets, mts] of [
      [independent, 'ind', ['trunk.0', 'trunk.2', 'head.mean'], ['head', 'critic.0', 'critic.2']],
      [dependent, 'dep', ['trunk.0', 'head.mean'], ['head.log_std', 'critic.0', 'critic.2']],
      [independent, 'ind-critic', ['trunk.2', 'critic.0'], ['head', 'critic.2']],
    ] as Array<[PolicySpec, string, string[], string[]]>) {
      const p = trained(spec, name, targets);
      const want = p.evaluate(obs, acts);
      const adir = path.join(dir, `${name}-adapter`);
      p.saveAdapters(adir);
      const cfg = cfgOf(adir);
      assert.equal(cfg.modules_to_save, mts, name);
      const q = base(spec, name);
      const before = q.evaluate(obs, acts);
      assert.ok(far(before.logProbs, want.logProbs) && far(before.values, want.values), `${name}: training moved the outputs`);
      q.loadAdapters(adir);
      const got = q.evaluate(obs, acts);
      near(got.logProbs, want.logProbs, `${name} logp`);
      near(got.values, want.values, `${name} values`);
      near(got.entropy, want.entropy, `${name} entropy`);
      // the policy that wrote the folder reads it back unchanged (an adapter merged into head.mean is zeroed)
      p.loadAdapters(adir);
      near(p.evaluate(obs, acts).logProbs, want.logProbs, `${name} reload`);
    }
    // adapters only inside `head` leave PEFT no LoRA target (PEFT refuses that): said, nothing written
    const only = trained(independent, 'only-head', ['head.mean']);
    assert.throws(() => only.saveAdapters(path.join(dir, 'only-head-adapter')), /PEFT cannot hold these adapters.*head\.mean/);
    assert.not.ok(existsSync(path.join(dir, 'only-head-adapter')));
    // the state-independent log-std needs all of `head`; its adapted head.mean is written merged
    assert.equal(cfgOf(path.join(dir, 'ind-adapter')).target_modules, ['trunk.0', 'trunk.2']);
    assert.equal(cfgOf(path.join(dir, 'dep-adapter')).target_modules, ['trunk.0', 'head.mean']);
  });

  test('loadAdapters: suffix target_modules, modules_to_save keys as PEFT writes them, unsupported options named', () => {
    const p = trained(independent, 'sfx', ['trunk.2', 'head.mean']);
    const want = p.evaluate(obs, acts);
    const adir = path.join(dir, 'sfx-adapter');
    p.saveAdapters(adir);
    const cfg = cfgOf(adir);
    // PEFT's suffix form of the same targets
    writeFileSync(path.join(adir, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['2'] }));
    const q = base(independent, 'sfx');
    q.loadAdapters(adir);
    assert.equal(q.lora?.targets, ['trunk.2']);
    near(q.evaluate(obs, acts).logProbs, want.logProbs, 'suffix logp');
    // a regular expression (PEFT: full match)
    writeFileSync(path.join(adir, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: 'trunk\\.[2-9]' }));
    const q2 = base(independent, 'sfx');
    q2.loadAdapters(adir);
    near(q2.evaluate(obs, acts).values, want.values, 'regex values');
    // modules_to_save by suffix, as PEFT's endswith matches: 'ead' is `head`, 'ritic' all of `critic`
    assert.equal(cfg.modules_to_save, ['head', 'critic.0', 'critic.2']);
    writeFileSync(path.join(adir, 'adapter_config.json'), JSON.stringify({ ...cfg, modules_to_save: ['ead', 'ritic'] }));
    const q3 = base(independent, 'sfx');
    q3.loadAdapters(adir);
    near(q3.evaluate(obs, acts).logProbs, want.logProbs, 'suffix modules_to_save');
    // options PEFT has and feat2go does not: said so, before anything changes
    for (const [k, v] of [['exclude_modules', ['trunk.0']], ['lora_bias', true]] as const) {
      writeFileSync(path.join(adir, 'adapter_config.json'), JSON.stringify({ ...cfg, [k]: v }));
      const q4 = base(independent, 'sfx');
      assert.throws(() => q4.loadAdapters(adir), (e: Error) => e instanceof RangeError && e.message.startsWith('Unsupported PEFT option') && e.message.includes(`${k} = ${JSON.stringify(v)}`), k);
      assert.is(q4.lora, undefined);
    }
    // PEFT's two modules_to_save rules: saved whole by suffix ('ead' saves `head`), kept free of LoRA at
    // name boundaries only ('ead' does not keep LoRA off head.mean): a LoRA layer inside a saved module,
    // its base weights written as head.mean.base_layer.* (the layout PEFT writes for it)
    const dp = trained(dependent, 'inside', ['trunk.0', 'head.mean']);
    const dwant = dp.evaluate(obs, acts);
    const ddir = path.join(dir, 'inside-adapter');
    dp.saveAdapters(ddir);
    const dcfg = cfgOf(ddir);
    const dtensors = readSafetensors(path.join(ddir, 'adapter_model.safetensors'));
    const baseW = readSafetensors(path.join(dir, 'inside.safetensors'));
    const withBase = new Map([...dtensors, ...['weight', 'bias'].map((k): [string, { data: Float32Array; shape: number[] }] => [`base_model.model.head.mean.base_layer.${k}`, baseW.get(`head.mean.${k}`)! as { data: Float32Array; shape: number[] }])]);
    writeSafetensors(path.join(ddir, 'adapter_model.safetensors'), withBase, { format: 'pt' });
    writeFileSync(path.join(ddir, 'adapter_config.json'), JSON.stringify({ ...dcfg, modules_to_save: ['ead', 'critic.0', 'critic.2'] }));
    const dq = base(dependent, 'inside');
    dq.loadAdapters(ddir);
    assert.equal([...dq.lora!.targets].sort(), ['head.mean', 'trunk.0']);
    near(dq.evaluate(obs, acts).logProbs, dwant.logProbs, 'LoRA inside a saved module: logp');
    near(dq.evaluate(obs, acts).values, dwant.values, 'LoRA inside a saved module: values');
    // …while 'head' keeps LoRA off head.mean: then head.mean's full weights are expected, and their absence is named
    writeFileSync(path.join(ddir, 'adapter_config.json'), JSON.stringify({ ...dcfg, modules_to_save: ['head', 'critic.0', 'critic.2'] }));
    assert.throws(() => base(dependent, 'inside').loadAdapters(ddir), /missing tensor 'head\.mean\.weight'/);
    // what PEFT cannot build either: one saved module inside another, a saved module that is itself a LoRA layer
    for (const [mts, why] of [[['head', 'mean'], /'head\.mean' lies in 'head'/], [['ean', 'critic.0'], /saves the LoRA layer 'head\.mean' itself/],
      [['he(ad'], /module names or name suffixes/]] as Array<[string[], RegExp]>) {
      writeFileSync(path.join(ddir, 'adapter_config.json'), JSON.stringify({ ...dcfg, modules_to_save: mts }));
      const q5 = base(dependent, 'inside');
      assert.throws(() => q5.loadAdapters(ddir), (e: Error) => e instanceof RangeError && e.message.startsWith('Unsupported PEFT option') && why.test(e.message), mts.join());
      assert.is(q5.lora, undefined);
    }
    writeFileSync(path.join(adir, 'adapter_config.json'), JSON.stringify({ ...cfg, modules_to_save: ['value_head'] }));
    assert.throws(() => base(independent, 'sfx').loadAdapters(adir), (e: Error) => e instanceof RangeError && /modules_to_save.*'value_head'/.test(e.message));
    // a folder whose modules_to_save tensors are missing names them
    writeFileSync(path.join(adir, 'adapter_config.json'), JSON.stringify({ ...cfg, modules_to_save: ['head', 'critic', 'trunk.0'] }));
    assert.throws(() => base(independent, 'sfx').loadAdapters(adir), /missing tensor 'trunk\.0\.weight'/);
  });

  const py = peftPython();
  if ('skip' in py) {
    console.log(`SKIP PEFT parity: ${py.skip}`);
    test.skip('PEFT parity', () => {});
  } else {
    test('PEFT parity: feat2go folders load in PEFT 0.21, PEFT folders load in feat2go, with the same log-probs and values', () => {
      const pySpec = (s: PolicySpec) => {
        const h = s.head as { actionDim: number; logStd?: string; logStdMin?: number; logStdMax?: number };
        return { obsDim: s.obsDim, hidden: s.trunk.sizes, activation: 'tanh', actionDim: h.actionDim, stateDependentStd: h.logStd === 'state-dependent',
          logStdMin: h.logStdMin ?? -20, logStdMax: h.logStdMax ?? 2, critic: s.critic!.sizes, criticActivation: 'tanh' };
      };
      const inputs = { obs: Array.from(obsData), actions: Array.from(actData) };
      // feat2go -> PEFT
      const ours: Array<{ name: string; spec: PolicySpec; want: { logProbs: Float32Array; values: Float32Array } }> = [];
      for (const [spec, name, targets] of [[independent, 'px-ind', ['trunk.0', 'trunk.2', 'head.mean']], [dependent, 'px-dep', ['trunk.0', 'head.mean', 'critic.0']]] as Array<[PolicySpec, string, string[]]>) {
        const p = trained(spec, name, targets);
        p.saveAdapters(path.join(dir, `${name}-adapter`));
        ours.push({ name, spec, want: p.evaluate(obs, acts) });
      }
      // PEFT -> feat2go: suffix targets and modules_to_save, as a PEFT user would write them
      const theirs: Array<{ name: string; spec: PolicySpec; save: Record<string, unknown>; lora: string[] }> = [
        { name: 'pt-sfx', spec: independent, save: { r: 2, alpha: 4, target_modules: ['mean', 'trunk.2'], modules_to_save: ['critic'], seed: 1 }, lora: ['head.mean', 'trunk.2'] },
        { name: 'pt-head', spec: independent, save: { r: 3, alpha: 3, target_modules: ['trunk.0'], modules_to_save: ['head', 'critic.2'], seed: 2 }, lora: ['trunk.0'] },
        { name: 'pt-dep', spec: dependent, save: { r: 2, alpha: 8, target_modules: ['0', 'mean'], modules_to_save: ['log_std', 'critic.2'], seed: 3 }, lora: ['critic.0', 'head.mean', 'trunk.0'] },
        // a module both targeted and saved whole: PEFT puts no LoRA on it (head.mean inside 'head'; head.mean itself)
        { name: 'pt-both-head', spec: independent, save: { r: 2, alpha: 4, target_modules: ['trunk.0', 'mean'], modules_to_save: ['head', 'critic'], seed: 4 }, lora: ['trunk.0'] },
        { name: 'pt-both-mean', spec: dependent, save: { r: 2, alpha: 4, target_modules: ['trunk.0', 'head.mean'], modules_to_save: ['head.mean', 'critic.2'], seed: 5 }, lora: ['trunk.0'] },
        // 'ead' saves `head` whole (suffix) without keeping LoRA off head.mean (no name boundary):
        // a LoRA layer inside a saved module, written as head.mean.base_layer.* and head.mean.lora_A/B
        { name: 'pt-inside', spec: independent, save: { r: 2, alpha: 4, target_modules: ['trunk.0', 'mean'], modules_to_save: ['ead', 'critic.2'], seed: 6 }, lora: ['head.mean', 'trunk.0'] },
      ];
      for (const t of theirs) new Policy(t.spec).saveWeights(path.join(dir, `${t.name}.safetensors`));
      const jobs = [
        ...ours.map((o) => ({ mode: 'load', spec: pySpec(o.spec), base: path.join(dir, `${o.name}.safetensors`), adapter: path.join(dir, `${o.name}-adapter`), inputs })),
        ...theirs.map((t) => ({ mode: 'save', spec: pySpec(t.spec), base: path.join(dir, `${t.name}.safetensors`), adapter: path.join(dir, `${t.name}-adapter`), inputs, save: t.save })),
      ];
      const runPeft = (list: unknown[]) => {
        writeFileSync(path.join(dir, 'jobs.json'), JSON.stringify(list));
        const run = spawnSync(py.python, [path.join(here, '..', 'fixtures', 'peft_parity.py'), path.join(dir, 'jobs.json')],
          { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1', PYTHONWARNINGS: 'ignore' }, timeout: 10 * 60 * 1000 });
        assert.is(run.status, 0, run.stderr);
        return JSON.parse(run.stdout.trim().split('\n').pop()!) as PeftResult[];
      };
      /** PEFT read the folder as written: its LoraConfig, the modules it put LoRA on and its state-dict keys and values are the files'. */
      const readAsWritten = (r: PeftResult, adapter: string, lora: string[], what: string) => {
        const cfg = cfgOf(adapter);
        assert.ok(!r.warnings.some((w) => /missing|unexpected|inconsisten/i.test(w)), `${what}: PEFT warned ${r.warnings.join(' | ')}`);
        assert.equal(r.config.target_modules, [...(cfg.target_modules as string[])].sort(), `${what}: target_modules`);
        assert.equal(r.config.modules_to_save, cfg.modules_to_save, `${what}: modules_to_save`);
        assert.equal(r.targeted, [...lora].sort(), `${what}: PEFT put LoRA exactly on the layers feat2go adapts (none dropped)`);
        assert.equal(r.state_keys, readSafetensorsHeader(path.join(adapter, 'adapter_model.safetensors')).tensors.map((t) => t.name).sort(), `${what}: state-dict keys`);
        assert.ok(r.state_equal, `${what}: PEFT holds the file's values`);
      };
      const out = runPeft(jobs);
      ours.forEach((o, i) => {
        const r = out[i];
        near(r.logp, o.want.logProbs, `${o.name} PEFT logp`);
        near(r.values, o.want.values, `${o.name} PEFT values`);
        // px-ind: head.mean carries feat2go's adapter inside the `head` PEFT saves whole; it is written merged, not as a LoRA PEFT drops
        const adapter = path.join(dir, `${o.name}-adapter`);
        readAsWritten(r, adapter, cfgOf(adapter).target_modules as string[], o.name);
      });
      const again: Array<{ name: string; spec: PolicySpec; want: { logProbs: Float32Array; values: Float32Array }; lora: string[] }> = [];
      theirs.forEach((t, k) => {
        const r = out[ours.length + k];
        // PEFT trained something outside the LoRA tensors, so the base alone differs
        assert.ok(r.trainable.some((n) => n.includes('modules_to_save')), `${t.name}: ${r.trainable.join(', ')}`);
        assert.equal(r.targeted, t.lora, `${t.name}: the layers PEFT adapted`);
        const q = base(t.spec, t.name);
        const before = q.evaluate(obs, acts);
        assert.ok(far(before.logProbs, r.logp) || far(before.values, r.values), `${t.name}: PEFT's outputs differ from the base`);
        q.loadAdapters(path.join(dir, `${t.name}-adapter`));
        // feat2go reads PEFT's own output the way PEFT built it: LoRA on the same layers, the same outputs
        assert.equal([...q.lora!.targets].sort(), r.targeted, `${t.name}: feat2go's adapters`);
        const got = q.evaluate(obs, acts);
        near(got.logProbs, r.logp, `${t.name} feat2go logp`);
        near(got.values, r.values, `${t.name} feat2go values`);
        // and writes it back in a form PEFT reads as written
        q.saveAdapters(path.join(dir, `${t.name}-again`));
        again.push({ name: t.name, spec: t.spec, want: got, lora: cfgOf(path.join(dir, `${t.name}-again`)).target_modules as string[] });
      });
      const back = runPeft(again.map((a) => ({ mode: 'load', spec: pySpec(a.spec), base: path.join(dir, `${a.name}.safetensors`), adapter: path.join(dir, `${a.name}-again`), inputs })));
      again.forEach((a, i) => {
        near(back[i].logp, a.want.logProbs, `${a.name} PEFT → feat2go → PEFT logp`);
        near(back[i].values, a.want.values, `${a.name} PEFT → feat2go → PEFT values`);
        readAsWritten(back[i], path.join(dir, `${a.name}-again`), a.lora, `${a.name} again`);
      });
    });
  }
}

test.run();
