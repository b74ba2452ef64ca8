// Child process of test/torch/host-memory.test.ts: loads the two addons
// directly (argv: core path, libtorch path), not through src/core/native.ts,
// so that the libtorch addon starts with no host-memory table. It runs a
// ValueHeadNative fit on host memory of the core addon three times and
// prints, as one JSON line, how many readers the core addon counts on that
// memory while each fit runs:
//   before    no torchInit yet (the libtorch addon copies: 0 readers)
//   refused   after torchInit without a table (copies: 0 readers)
//   connected after torchInit with the core's systemHostApi (in place: 1 reader)
// plus what torchInit answered each time and whether the fits gave the same losses.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [corePath, torchPath] = process.argv.slice(2);
const core = require(corePath);
const torch = require(torchPath);

const B = 8192, D = 64;
const x = new Float32Array(core.systemHostBuffer({}, { bytes: B * D * 4, always: true }));
let s = 7;
for (let i = 0; i < x.length; i++) { s = (s * 1103515245 + 12345) % 2147483648; x[i] = s / 2147483648 - 0.5; }
const v = Float32Array.from({ length: B }, (_, i) => (i % 97) / 96);

async function fit() {
  const h = new torch.ValueHeadNative({}, { inputDim: D, hiddenDim: 32, bins: 21, oneHot: false, seed: 1 });
  const o = { B, epochs: 2, batchSize: 256, lr: 1e-3, weightDecay: 0.01, cosine: true, seed: 0, distributed: false };
  const p = h.fit({ hidden: x, targets: v }, o);
  const readers = core.systemHostInfo({ view: x }, {}).readers;
  const r = await p;
  return { readers, after: core.systemHostInfo({ view: x }, {}).readers, losses: Array.from(Array.isArray(r) ? r : r.losses) };
}

const out = { host: core.systemHostInfo({ view: x }, {}).host };
out.before = await fit();
out.refusedInit = torch.torchInit({}, {});
let typeError = '';
try { torch.torchInit({ hostApi: {} }, {}); } catch (e) { typeError = `${e.name}: ${e.message}`; }
out.typeError = typeError;
out.refused = await fit();
out.connectedInit = torch.torchInit({ hostApi: core.systemHostApi }, {});
out.againInit = torch.torchInit({ hostApi: core.systemHostApi }, {});
out.connected = await fit();
out.sameLosses = JSON.stringify(out.before.losses) === JSON.stringify(out.connected.losses) &&
  JSON.stringify(out.before.losses) === JSON.stringify(out.refused.losses);
for (const k of ['before', 'refused', 'connected']) delete out[k].losses;
console.log(JSON.stringify(out));
