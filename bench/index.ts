// `npm run bench`: every area's benchmarks in one run. `npm run bench -- gae`
// runs only the modules whose name contains the argument.
import { capabilities } from '../src/index.js';

const modules: Array<[string, () => Promise<{ run(): Promise<void> }>]> = [
  ['progress', () => import('./progress.js')],
  ['zero-copy', () => import('./zero-copy.js')],
  ['io', () => import('./io.js')],
  ['encoders', () => import('./encoders.js')],
  ['lerobot', () => import('./lerobot.js')],
  ['hub', () => import('./hub.js')],
  ['torch', () => import('./torch.js')],
  ['rl', () => import('./rl.js')],
  ['sim', () => import('./sim.js')],
  ['distributed', () => import('./distributed.js')],
  ['real', () => import('./real.js')],
];

const filter = process.argv[2];
console.log(`feat2go bench on ${process.platform}-${process.arch}, Node ${process.versions.node}:`, JSON.stringify(capabilities()));
for (const [name, load] of modules) {
  if (filter && !name.includes(filter)) continue;
  await (await load()).run();
}
