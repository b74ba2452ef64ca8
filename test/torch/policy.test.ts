// Policy and LoRA (SPEC §9) on libtorch: spec, PyTorch-named weights, heads,
// adapters (fresh = unchanged, merged = unmerged), PEFT files, bad input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Policy, SafetensorsError, type PolicySpec } from '../../src/index.js';
import { rng } from '../helpers/data.js';
import { hasTorch, torchTest } from '../helpers/skip.js';

const dir = mkdtempSync(path.join(tmpdir(), 'f2g-policy-'));

/** Independent safetensors writer (F32) for the tests. */
function writeSt(file: string, tensors: Record<string, { data: Float32Array; shape: number[] }>): void {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [k, t] of Object.entries(tensors)) { header[k] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + t.data.length * 4] }; off += t.data.length * 4; }
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(file, Buffer.concat([len, h, ...Object.values(tensors).map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]));
}
/** Independent safetensors reader (F32 only). */
function readSt(file: string): Record<string, { data: Float32Array; shape: number[] }> {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString()) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k === '__metadata__') continue;
    assert.is(v.dtype, 'F32');
    const raw = b.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]);
    out[k] = { data: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), shape: v.shape };
  }
  return out;
}

function uniform(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

type W = Record<string, { data: Float32Array; shape: number[] }>;
/** Reference linear y = x Wᵀ + b in float64. */
function lin(x: number[], w: { data: Float32Array; shape: number[] }, b: { data: Float32Array }): number[] {
  const [o, i] = w.shape;
  return Array.from({ length: o }, (_, r) => { let s = b.data[r]; for (let k = 0; k < i; k++) s += w.data[r * i + k] * x[k]; return s; });
}

const spec: PolicySpec = { obsDim: 5, trunk: { sizes: [8, 6], activation: 'tanh' }, head: { type: 'gaussian', actionDim: 3 }, critic: { sizes: [7] }, seed: 3 };

function baseWeights(seed: number): W {
  const shapes: Record<string, number[]> = {
    'trunk.0.weight': [8, 5], 'trunk.0.bias': [8], 'trunk.2.weight': [6, 8], 'trunk.2.bias': [6],
    'head.mean.weight': [3, 6], 'head.mean.bias': [3], 'head.log_std': [3],
    'critic.0.weight': [7, 5], 'critic.0.bias': [7], 'critic.2.weight': [1, 7], 'critic.2.bias': [1],
  };
  const out: W = {};
  let s = seed;
  for (const [k, sh] of Object.entries(shapes)) out[k] = { data: uniform(sh.reduce((a, b) => a * b, 1), s++, 0.5), shape: sh };
  return out;
}

/** Reference Gaussian policy: log N(a; μ, σ) summed over dims, entropy, critic value. */
function refGaussian(w: W, obs: number[], a: number[]) {
  let h = obs;
  h = lin(h, w['trunk.0.weight'], w['trunk.0.bias']).map(Math.tanh);
  h = lin(h, w['trunk.2.weight'], w['trunk.2.bias']).map(Math.tanh);
  const mu = lin(h, w['head.mean.weight'], w['head.mean.bias']);
  const ls = Array.from(w['head.log_std'].data);
  let lp = 0; let ent = 0;
  mu.forEach((m, d) => { const z = (a[d] - m) / Math.exp(ls[d]); lp += -0.5 * z * z - ls[d] - 0.5 * Math.log(2 * Math.PI); ent += 0.5 + 0.5 * Math.log(2 * Math.PI) + ls[d]; });
  const c = lin(lin(obs, w['critic.0.weight'], w['critic.0.bias']).map(Math.tanh), w['critic.2.weight'], w['critic.2.bias'])[0];
  return { lp, ent, v: c, mu };
}

const B = 4;
const obs = { data: uniform(B * 5, 100), shape: [B, 5] };
const acts = { data: uniform(B * 3, 101), shape: [B, 3] };

if (!hasTorch) {
  test('without libtorch the class throws one clear error', () => {
    assert.throws(() => new Policy(spec), /libtorch/);
  });
}

torchTest('spec builds PyTorch-named modules; weights load from safetensors; log-probs, entropy, values match a reference', () => {
  const p = new Policy(JSON.stringify(spec));
  assert.equal(p.linearModules().map((m) => `${m.path}:${m.inFeatures}->${m.outFeatures}`),
    ['trunk.0:5->8', 'trunk.2:8->6', 'head.mean:6->3', 'critic.0:5->7', 'critic.2:7->1']);
  assert.equal(p.stateDict().map(([n, , s]) => `${n}[${s}]`), ['trunk.0.weight[8,5]', 'trunk.0.bias[8]', 'trunk.2.weight[6,8]', 'trunk.2.bias[6]',
    'head.mean.weight[3,6]', 'head.mean.bias[3]', 'head.log_std[3]', 'critic.0.weight[7,5]', 'critic.0.bias[7]', 'critic.2.weight[1,7]', 'critic.2.bias[1]']);
  const w = baseWeights(1);
  writeSt(path.join(dir, 'base.safetensors'), w);
  p.loadWeights(path.join(dir, 'base.safetensors'));
  const e = p.evaluate(obs, acts);
  for (let i = 0; i < B; i++) {
    const r = refGaussian(w, Array.from(obs.data.subarray(i * 5, i * 5 + 5)), Array.from(acts.data.subarray(i * 3, i * 3 + 3)));
    assert.ok(Math.abs(e.logProbs[i] - r.lp) < 1e-4, `logp ${e.logProbs[i]} vs ${r.lp}`);
    assert.ok(Math.abs(e.entropy[i] - r.ent) < 1e-5);
    assert.ok(Math.abs(e.values[i] - r.v) < 1e-5);
  }
  const det = p.act(obs, { deterministic: true });
  const r0 = refGaussian(w, Array.from(obs.data.subarray(0, 5)), [0, 0, 0]);
  for (let d = 0; d < 3; d++) assert.ok(Math.abs(det.actions.data[d] - r0.mu[d]) < 1e-5);
  // sampling is seeded: same spec seed → same actions; the log-probs returned are those of the actions
  const s1 = new Policy(spec); s1.loadWeights(path.join(dir, 'base.safetensors'));
  const s2 = new Policy(spec); s2.loadWeights(path.join(dir, 'base.safetensors'));
  const a1 = s1.act(obs); const a2 = s2.act(obs);
  assert.equal(a1.actions.data, a2.actions.data);
  assert.not.equal(a1.actions.data, s1.act(obs).actions.data);
  const back = s1.evaluate(obs, a1.actions);
  for (let i = 0; i < B; i++) assert.ok(Math.abs(back.logProbs[i] - a1.logProbs[i]) < 1e-5);
  // save and reload base weights
  p.saveWeights(path.join(dir, 'saved.safetensors'));
  const q = new Policy(spec); q.loadWeights(path.join(dir, 'saved.safetensors'));
  assert.equal(q.evaluate(obs, acts), e);
});

torchTest('tanh-squashed and state-dependent Gaussian heads; categorical head (7 dims × 256 bins)', () => {
  const sq = new Policy({ obsDim: 5, trunk: { sizes: [] }, head: { type: 'gaussian', actionDim: 2, squash: 'tanh', logStd: 'state-dependent', initLogStd: -0.5 }, seed: 1 });
  assert.equal(sq.linearModules().map((m) => m.path), ['head.mean', 'head.log_std']);
  const a = sq.act(obs);
  assert.ok(a.actions.data.every((x) => x > -1 && x < 1));
  const sd = new Map(sq.stateDict().map(([n, d, s]) => [n, { data: d, shape: s }]));
  for (let i = 0; i < B; i++) {
    const x = Array.from(obs.data.subarray(i * 5, i * 5 + 5));
    const mu = lin(x, sd.get('head.mean.weight')!, sd.get('head.mean.bias')!);
    const ls = lin(x, sd.get('head.log_std.weight')!, sd.get('head.log_std.bias')!).map((v) => Math.min(Math.max(v, -20), 2));
    let lp = 0;
    for (let d = 0; d < 2; d++) {
      const y = Math.min(Math.max(a.actions.data[i * 2 + d], -1 + 1e-6), 1 - 1e-6);
      const u = Math.atanh(y);
      const z = (u - mu[d]) / Math.exp(ls[d]);
      lp += -0.5 * z * z - ls[d] - 0.5 * Math.log(2 * Math.PI) - Math.log(1 - Math.tanh(u) ** 2);
    }
    assert.ok(Math.abs(a.logProbs[i] - lp) < 2e-3, `squashed logp ${a.logProbs[i]} vs ${lp}`);
  }
  const cat = new Policy({ obsDim: 5, trunk: { sizes: [16], activation: 'relu' }, head: { type: 'categorical', actionDims: 7, bins: 256 }, seed: 2 });
  const c = cat.act(obs);
  assert.equal(c.actions.shape, [B, 7]);
  assert.ok(c.actions.data.every((x) => Number.isInteger(x) && x >= 0 && x < 256));
  const csd = new Map(cat.stateDict().map(([n, d, s]) => [n, { data: d, shape: s }]));
  const x0 = Array.from(obs.data.subarray(0, 5));
  const h = lin(x0, csd.get('trunk.0.weight')!, csd.get('trunk.0.bias')!).map((v) => Math.max(v, 0));
  const logits = lin(h, csd.get('head.logits.weight')!, csd.get('head.logits.bias')!);
  let lp = 0; let ent = 0;
  for (let d = 0; d < 7; d++) {
    const row = logits.slice(d * 256, d * 256 + 256);
    const mx = Math.max(...row); const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
    lp += row[c.actions.data[d]] - lse;
    ent -= row.reduce((s, v) => s + Math.exp(v - lse) * (v - lse), 0);
  }
  const ce = cat.evaluate(obs, c.actions);
  assert.ok(Math.abs(ce.logProbs[0] - lp) < 1e-3 && Math.abs(c.logProbs[0] - lp) < 1e-3, `${ce.logProbs[0]} vs ${lp}`);
  assert.ok(Math.abs(ce.entropy[0] - ent) < 1e-3);
  assert.throws(() => cat.evaluate(obs, { data: new Float32Array(B * 7).fill(256), shape: [B, 7] }), /class index in \[0, 255\]/);
});

torchTest('LoRA: A Kaiming-uniform, B zero; a fresh adapter leaves outputs unchanged; y = xWᵀ + b + (α/r)·xAᵀBᵀ; merged equals unmerged', () => {
  for (const rslora of [false, true]) {
    const p = new Policy(spec);
    p.loadWeights(path.join(dir, 'base.safetensors'));
    const before = p.evaluate(obs, acts);
      p.addLora({ rank: 4, alpha: 8, targets: ['trunk.0', 'trunk.2'], rslora, seed: 9 });
    assert.equal(p.evaluate(obs, acts), before);
      assert.equal(p.linearModules().filter((m) => m.lora).map((m) => m.path), ['trunk.0', 'trunk.2']);
    p.saveAdapters(path.join(dir, 'fresh'));
    const st = readSt(path.join(dir, 'fresh', 'adapter_model.safetensors'));
    const A = st['base_model.model.trunk.0.lora_A.weight'];
    assert.ok(A.data.every((x) => Math.abs(x) <= 1 / Math.sqrt(5)) && A.data.some((x) => x !== 0));
    assert.ok(st['base_model.model.trunk.0.lora_B.weight'].data.every((x) => x === 0));
    // give the adapters non-zero B through PEFT files, then compare against the reference LoRA forward
    const adapters: W = {};
    for (const [k, v] of Object.entries(st)) adapters[k] = k.includes('lora_B') ? { data: uniform(v.data.length, 77, 0.3), shape: v.shape } : v;
    writeSt(path.join(dir, 'fresh', 'adapter_model.safetensors'), adapters);
    p.loadAdapters(path.join(dir, 'fresh'));
    const scale = rslora ? 8 / Math.sqrt(4) : 8 / 4;
    const w = baseWeights(1);
    const eff = (name: string, out: number, inn: number) => {
      const a = adapters[`base_model.model.${name}.lora_A.weight`].data; const b = adapters[`base_model.model.${name}.lora_B.weight`].data;
      const m = Float32Array.from(w[`${name}.weight`].data);
      for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) { let s = 0; for (let r = 0; r < 4; r++) s += b[o * 4 + r] * a[r * inn + i]; m[o * inn + i] += scale * s; }
      return { data: m, shape: [out, inn] };
    };
      const wl = { ...w, 'trunk.0.weight': eff('trunk.0', 8, 5), 'trunk.2.weight': eff('trunk.2', 6, 8) };
    const after = p.evaluate(obs, acts);
    for (let i = 0; i < B; i++) {
      const r = refGaussian(wl, Array.from(obs.data.subarray(i * 5, i * 5 + 5)), Array.from(acts.data.subarray(i * 3, i * 3 + 3)));
      assert.ok(Math.abs(after.logProbs[i] - r.lp) < 1e-3, `rslora=${rslora}: ${after.logProbs[i]} vs ${r.lp}`);
      assert.ok(Math.abs(after.logProbs[i] - before.logProbs[i]) > 1e-3);
    }
    p.mergeAdapters();
    assert.is(p.lora, undefined);
    const merged = p.evaluate(obs, acts);
    for (let i = 0; i < B; i++) assert.ok(Math.abs(merged.logProbs[i] - after.logProbs[i]) < 1e-4 * Math.max(1, Math.abs(after.logProbs[i])));
    assert.ok(p.linearModules().every((m) => !m.lora));
  }
});

torchTest('PEFT files round-trip with the documented keys, shapes and config', () => {
  const p = new Policy(spec);
  p.addLora({ rank: 2, alpha: 4, dropout: 0.1, targets: ['trunk.2', 'critic.0'], seed: 1 });
  const adir = path.join(dir, 'peft');
  p.saveAdapters(adir);
  assert.equal(readdirSync(adir).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
  const cfg = JSON.parse(readFileSync(path.join(adir, 'adapter_config.json'), 'utf8'));
  assert.is(cfg.peft_type, 'LORA'); assert.is(cfg.r, 2); assert.is(cfg.lora_alpha, 4); assert.is(cfg.lora_dropout, 0.1);
  assert.equal(cfg.target_modules, ['trunk.2', 'critic.0']); assert.is(cfg.bias, 'none'); assert.is(cfg.use_rslora, false);
    // the trained non-LoRA tensors go under modules_to_save: head.log_std is a parameter of `head`, so all of head
    assert.equal(cfg.modules_to_save, ['head', 'critic.2']);
  const st = readSt(path.join(adir, 'adapter_model.safetensors'));
  assert.equal(Object.fromEntries(Object.entries(st).map(([k, v]) => [k, v.shape])), {
    'base_model.model.trunk.2.lora_A.weight': [2, 8], 'base_model.model.trunk.2.lora_B.weight': [6, 2],
    'base_model.model.critic.0.lora_A.weight': [2, 5], 'base_model.model.critic.0.lora_B.weight': [7, 2],
      'base_model.model.head.mean.weight': [3, 6], 'base_model.model.head.mean.bias': [3], 'base_model.model.head.log_std': [3],
      'base_model.model.critic.2.weight': [1, 7], 'base_model.model.critic.2.bias': [1],
  });
    const sd = Object.fromEntries(p.stateDict().map(([n, d]) => [n, d]));
    for (const n of ['head.mean.weight', 'head.log_std', 'critic.2.bias']) assert.equal(st[`base_model.model.${n}`].data, sd[n]);
  const q = new Policy(spec);
  q.loadAdapters(adir);
  assert.equal(q.lora, { rank: 2, alpha: 4, dropout: 0.1, targets: ['trunk.2', 'critic.0'], rslora: false, seed: 0 });
  const sa = readSt(path.join(adir, 'adapter_model.safetensors'));
  q.saveAdapters(path.join(dir, 'peft2'));
  assert.equal(readSt(path.join(dir, 'peft2', 'adapter_model.safetensors')), sa);
});

torchTest('bad input: shapes, unknown targets, rank < 1, PEFT options, mismatched safetensors, NaN', () => {
  const p = new Policy(spec);
  assert.throws(() => p.act({ data: new Float32Array(8), shape: [2, 4] }), (e: Error) => e instanceof RangeError && /\[B, 5\].*obs\.shape.*\[2,4\]/.test(e.message));
  assert.throws(() => p.evaluate(obs, { data: new Float32Array(8), shape: [4, 2] }), /actions\.shape/);
  const bad = Float32Array.from(obs.data); bad[3] = NaN;
  assert.throws(() => p.act({ data: bad, shape: [B, 5] }), /finite values in obs but element 3 is NaN/);
  assert.throws(() => p.addLora({ rank: 0, targets: ['trunk.0'] }), (e: Error) => e instanceof RangeError && /lora\.rank/.test(e.message));
  assert.throws(() => p.addLora({ rank: 2, targets: ['trunk.1'] }), (e: Error) => e instanceof RangeError && /lora\.targets\[0\].*trunk\.0, trunk\.2, head\.mean.*'trunk\.1'/.test(e.message));
  assert.throws(() => p.addLora({ rank: 2, targets: [] }), TypeError);
  assert.throws(() => p.addLora({ rank: 2, dropout: 1, targets: ['trunk.0'] }), RangeError);
  assert.throws(() => new Policy({ ...spec, head: { type: 'categorical', actionDims: 7, bins: 1 } }), (e: Error) => e instanceof RangeError && /spec\.head\.bins/.test(e.message));
  assert.throws(() => new Policy({ ...spec, trunk: { sizes: [8], activation: 'swish' as 'tanh' } }), TypeError);
  assert.throws(() => new Policy({ ...spec, head: { type: 'beta' } as unknown as PolicySpec['head'] }), TypeError);
  // PEFT config with unsupported options
  const adir = path.join(dir, 'peft-bad');
  const good = new Policy(spec); good.addLora({ rank: 2, targets: ['trunk.0'] }); good.saveAdapters(adir);
  const cfgFile = path.join(adir, 'adapter_config.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'));
    for (const [k, v] of [['use_dora', true], ['bias', 'all'], ['rank_pattern', { 'trunk.0': 4 }], ['fan_in_fan_out', true], ['peft_type', 'IA3'],
      ['target_modules', 'all-linear'], ['lora_bias', true], ['exclude_modules', ['trunk.2']], ['target_parameters', ['head.log_std']]] as const) {
    writeFileSync(cfgFile, JSON.stringify({ ...cfg, [k]: v }));
    assert.throws(() => new Policy(spec).loadAdapters(adir), (e: Error) => e instanceof RangeError && e.message.includes(`Unsupported PEFT option`) && e.message.includes(k), k);
  }
  writeFileSync(cfgFile, JSON.stringify({ ...cfg, target_modules: ['trunk.9'] }));
  assert.throws(() => new Policy(spec).loadAdapters(adir), /target_modules.*'trunk\.9'/);
  writeFileSync(cfgFile, JSON.stringify({ ...cfg, r: 3 }));
  assert.throws(() => new Policy(spec).loadAdapters(adir), (e: Error) => e instanceof SafetensorsError && /lora_A\.weight' has shape \[2,5\] but the model expects \[3,5\]/.test(e.message));
  // base weights that do not match the spec
  const w = baseWeights(1);
  writeSt(path.join(dir, 'wrong.safetensors'), { ...w, 'trunk.0.weight': { data: new Float32Array(8 * 4), shape: [8, 4] }, extra: { data: new Float32Array(1), shape: [1] } });
  assert.throws(() => p.loadWeights(path.join(dir, 'wrong.safetensors')), (e: Error) => e instanceof SafetensorsError && /trunk\.0\.weight' has shape \[8,4\] but the model expects \[8,5\].*unexpected tensor 'extra'/.test(e.message));
  const { 'head.log_std': _omit, ...missing } = w;
  writeSt(path.join(dir, 'missing.safetensors'), missing);
  assert.throws(() => p.loadWeights(path.join(dir, 'missing.safetensors')), /missing tensor 'head\.log_std' \[3\]/);
  // failed adapter save leaves no partial files
  const ro = path.join(dir, 'file-not-dir');
  writeFileSync(ro, 'x');
  assert.throws(() => good.saveAdapters(ro));
});

test.run();
