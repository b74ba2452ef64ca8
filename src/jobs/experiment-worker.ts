// A worker process of runExperiment({ workers }): receives a resolved config
// and a share of the seeds over IPC, runs them in this process and sends back
// progress and the seeds' records (structured clone keeps the typed arrays).
// Exits when the parent goes away.
import { PickPlaceEnv } from '../sim/pick-place.js';
import { runExperimentSeeds, type SeedJob, type WorkerMessage } from './experiment.js';
import type { ResolvedExperimentConfig } from './experiment-config.js';

const send = (m: WorkerMessage): Promise<void> => new Promise((resolve) => process.send!(m, () => resolve()));

process.on('disconnect', () => process.exit(1));
process.once('message', (msg: { config: ResolvedExperimentConfig; seeds: number[]; pictures: boolean; job: SeedJob }) => {
  void (async () => {
    try {
      const records = await runExperimentSeeds(
        { cfg: msg.config, E: PickPlaceEnv, rank: 0, world: 1, pictures: msg.pictures, report: (p) => void send({ type: 'progress', p }) },
        msg.seeds, msg.job,
      );
      await send({ type: 'records', records });
      process.exit(0);
    } catch (err) {
      await send({ type: 'error', message: (err as Error).stack ?? String(err) });
      process.exit(1);
    }
  })();
});
