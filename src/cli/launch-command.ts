// `feat2go launch -n N script [args]`: N ranks of a script on this machine
// with the process-group environment set (src/jobs/launch.ts).
import path from 'node:path';
import { launchRanks } from '../jobs/launch.js';
import { MAX_DISTRIBUTED_TIMEOUT_MS } from '../torch/distributed.js';
import { UsageError, intOption, type Command } from './command.js';

export const launchCommand: Command = {
  name: 'launch',
  summary: 'Run N ranks of a script on this machine (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set), as torchrun does.',
  usage: '-n N <script> [script args...]',
  passThrough: true,
  description: [
    'Starts N Node processes running the script, each with RANK (0..N-1), WORLD_SIZE=N, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT (a free port unless --master-port is given) in its environment, so that initDistributed() with no options joins them into one process group. Everything after the script is passed to it unchanged.',
    'Each line the ranks print is prefixed with [rank R]. When a rank fails, the others are stopped (SIGTERM, then SIGKILL after --kill-grace) and the launcher exits with the failed rank\'s status (128 + signal number for a signal). SIGINT (Ctrl-C) or SIGTERM to the launcher stops every rank.',
    'For more than one machine use the scheduler\'s own launcher (srun, a Kubernetes indexed job, torchrun) and set the same variables; see docs/distributed.md.',
  ].join('\n\n'),
  options: [
    { name: 'nproc', short: 'n', type: 'string', value: 'N', description: 'Number of ranks.', default: '2' },
    { name: 'master-addr', type: 'string', value: 'HOST', description: 'Address rank 0 listens on for the rendezvous.', default: '127.0.0.1' },
    { name: 'master-port', type: 'string', value: 'PORT', description: 'Rendezvous port (default: a free one).' },
    { name: 'timeout', type: 'string', value: 'MS', description: 'FEAT2GO_DIST_TIMEOUT_MS for the ranks: how long a collective waits for a missing rank.' },
    { name: 'kill-grace', type: 'string', value: 'MS', description: 'Milliseconds between SIGTERM and SIGKILL when stopping ranks.', default: '5000' },
  ],
  examples: [
    'feat2go launch -n 2 train.mjs --epochs 3',
    'feat2go launch -n 4 --timeout 60000 label-and-train.mjs',
  ],
  async run({ values, positionals }, io) {
    const [script, ...args] = positionals;
    if (!script) throw new UsageError('missing <script>: give the script each rank runs');
    const nproc = intOption(values.nproc, 'nproc', 1, 4096) ?? 2;
    const masterPort = intOption(values['master-port'], 'master-port', 1, 65535);
    const timeoutMs = intOption(values.timeout, 'timeout', 1, MAX_DISTRIBUTED_TIMEOUT_MS);
    const killGraceMs = intOption(values['kill-grace'], 'kill-grace', 0) ?? 5000;
    const masterAddr = typeof values['master-addr'] === 'string' ? values['master-addr'] : '127.0.0.1';
    if (masterAddr === '') throw new UsageError("--master-addr expects a host but received ''");
    const r = await launchRanks({
      nproc, script: path.resolve(script), args, masterAddr, killGraceMs, stdout: io.stdout, stderr: io.stderr,
      ...(masterPort !== undefined ? { masterPort } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
    return r.status;
  },
};
