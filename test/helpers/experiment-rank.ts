// One rank of a data-parallel experiment, for test/torch/experiment-ranks.test.ts:
// joins the group from the environment (set by launchRanks), runs the experiment
// config given as JSON in argv[2], and prints `RESULT <json>` with the tables.
import { destroyDistributed, initDistributed, runExperiment, type ExperimentConfig } from '../../src/index.js';

const config = JSON.parse(process.argv[2]) as ExperimentConfig;
const g = await initDistributed();
try {
  const r = await runExperiment(config);
  console.log(`RESULT ${JSON.stringify({ rank: g.rank, rows: r.rows, perSeed: r.perSeed, curves: r.curves, valueModels: r.valueModels, probe: r.valueProbe.perSeed, ranks: r.config.ranks })}`);
} finally {
  await destroyDistributed();
}
