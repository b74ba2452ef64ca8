// One rank of a data-parallel experiment, for test/torch/experiment-ranks.test.ts:
// joins the group from the environment (set by launchRanks), runs the experiment
// config given as JSON in argv[2], and prints `RESULT <json>` with the tables.
// With argv[3] = 'local' it runs as one process without a group (the reference,
// under the same thread settings as the ranks).
import { destroyDistributed, initDistributed, runExperiment, type ExperimentConfig } from '../../src/index.js';

const config = JSON.parse(process.argv[2]) as ExperimentConfig;
const local = process.argv[3] === 'local';
const g = local ? { rank: 0 } : await initDistributed();
try {
  const r = await runExperiment(config);
  console.log(`RESULT ${JSON.stringify({ rank: g.rank, rows: r.rows, perSeed: r.perSeed, curves: r.curves, valueModels: r.valueModels, probe: r.valueProbe.perSeed, ranks: r.config.ranks })}`);
} finally {
  if (!local) await destroyDistributed();
}
