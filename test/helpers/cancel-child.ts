// Child process of test/torch/cancel.test.ts and test/unit/cancel.test.ts: a
// long native call, then the end of its process or worker in the middle of
// it. Prints `STARTED <ms since start>` once the call is known to be running,
// `EXITING` right before process.exit(), and (modes that survive) one line
// `RESULT {...}`.
//
//   node --import tsx test/helpers/cancel-child.ts <exit-fit|exit-batch|terminate-bc|terminate-batch>
//
// exit-fit         ValueHead.fit of thousands of epochs; process.exit(0) after its first epoch
// exit-batch       progressTargetsBatch of many episodes; process.exit(0) after 200 ms
// terminate-bc     fitBehaviourCloning in a worker_thread; worker.terminate() after its first epoch
// terminate-batch  progressTargetsBatch in a worker_thread; worker.terminate() after 200 ms
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { hostTensor, Policy, progressTargetsBatch, ValueHead } from '../../src/index.js';

const mode: string = isMainThread ? process.argv[2] : (workerData as { mode: string }).mode;
const t0 = Date.now();
const say = (line: string) => (isMainThread ? process.stdout.write(`${line}\n`) : parentPort!.postMessage(line));

function lcg(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (s * 1664525 + 1013904223) >>> 0; a[i] = s / 4294967296 - 0.5; }
  return a;
}

function longFit(): Promise<unknown> {
  const B = 4096, H = 64;
  const head = new ValueHead({ inputDim: H, hiddenDim: 64, bins: 51, seed: 1 });
  const targets = Float32Array.from(lcg(B, 2), (x) => x + 0.5);
  let first = true;
  return head.fit({ data: lcg(B * H, 1), shape: [B, H] }, targets, {
    epochs: 100000, batchSize: 64,
    onProgress: () => { if (first) { first = false; say(`STARTED ${Date.now() - t0}`); if (mode === 'exit-fit') { say('EXITING'); process.exit(0); } } },
  });
}

function longBc(): Promise<unknown> {
  const N = 4096;
  const policy = new Policy({ obsDim: 16, trunk: { sizes: [64, 64] }, head: { type: 'gaussian', actionDim: 4 }, seed: 3 });
  let first = true;
  return policy.fitBehaviourCloning({ data: lcg(N * 16, 4), shape: [N, 16] }, { data: lcg(N * 4, 5), shape: [N, 4] }, {
    epochs: 100000, batchSize: 64,
    onEpoch: () => { if (first) { first = false; say(`STARTED ${Date.now() - t0}`); } },
  });
}

function longBatch(): Promise<unknown> {
  const x = hostTensor([300, 64, 256]);
  x.data.set(lcg(x.data.length, 6));
  const p = progressTargetsBatch(Array.from({ length: 4000 }, () => x), { threads: 1 });
  setTimeout(() => {
    say(`STARTED ${Date.now() - t0}`);
    if (mode === 'exit-batch') { say('EXITING'); process.exit(0); }
  }, 200);
  return p;
}

if (mode === 'terminate-bc' || mode === 'terminate-batch') {
  if (isMainThread) {
    // The worker runs this file too, through tsx's require hook (compiled to CommonJS).
    const body = `require('tsx/cjs'); require(${JSON.stringify(fileURLToPath(import.meta.url))});`;
    const w = new Worker(body, { eval: true, workerData: { mode } });
    w.on('error', (e) => { console.error(e); process.exit(3); });
    w.on('message', (line: string) => {
      process.stdout.write(`${line}\n`);
      if (!line.startsWith('STARTED')) return;
      const t = Date.now();
      void w.terminate().then(() => process.stdout.write(`RESULT ${JSON.stringify({ terminateMs: Date.now() - t })}\n`));
    });
  } else {
    void (mode === 'terminate-bc' ? longBc() : longBatch());
  }
} else if (mode === 'exit-fit') {
  longFit().then(() => { say('RESULT {"finished":true}'); }, (e) => { console.error(e); process.exit(2); });
} else if (mode === 'exit-batch') {
  longBatch().then(() => { say('RESULT {"finished":true}'); }, (e) => { console.error(e); process.exit(2); });
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
