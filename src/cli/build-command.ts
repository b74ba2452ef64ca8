// `feat2go build` and `feat2go build-torch`: the addons from source, with cmake
// and a C++ compiler (src/jobs/build-addon.ts). An install needs neither: the
// core addon comes prebuilt per platform; these are for the libtorch addon
// (which links the libtorch on this machine) and for platforms without a
// prebuilt package.
import { AddonBuildError, buildAddons } from '../jobs/build-addon.js';
import { intOption, type Command, type CommandIO, type OptionSpec, type ParsedArgs } from './command.js';

const OPTIONS: OptionSpec[] = [
  { name: 'torch-dir', type: 'string', value: 'DIR', description: 'Build against the libtorch whose TorchConfig.cmake is in DIR (a LibTorch download: <LibTorch>/share/cmake/Torch).', implicitDefault: 'Torch_DIR' },
  { name: 'python', type: 'string', value: 'PY', description: "Build against this Python's pip PyTorch (torch.utils.cmake_prefix_path), e.g. .venv/bin/python." },
  { name: 'out', type: 'string', value: 'DIR', description: 'Write the .node files to DIR instead of the package (load them with FEAT2GO_ADDON / FEAT2GO_TORCH_ADDON).', implicitDefault: '<package>/build/Release' },
  { name: 'jobs', short: 'j', type: 'string', value: 'N', description: 'Parallel compile jobs.', implicitDefault: 'the CPUs' },
  { name: 'verbose', type: 'boolean', description: "Print all of cmake's output." },
];

async function runBuild(target: 'all' | 'torch', { values }: ParsedArgs, io: CommandIO, cuda: boolean): Promise<number> {
  const jobs = intOption(values.jobs, 'jobs', 1, 1024);
  try {
    const r = await buildAddons({
      target, cuda, jobs, verbose: values.verbose === true,
      torchDir: typeof values['torch-dir'] === 'string' ? values['torch-dir'] : undefined,
      python: typeof values.python === 'string' ? values.python : undefined,
      outDir: typeof values.out === 'string' ? values.out : undefined,
      log: (l) => io.stderr.write(`${l}\n`),
    });
    for (const f of r.files) io.stdout.write(`${f}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof AddonBuildError)) throw err;
    io.stderr.write(`feat2go ${target === 'torch' ? 'build-torch' : 'build'}: ${err.message}\n`);
    return 1;
  }
}

export const buildAddonCommand: Command = {
  name: 'build',
  summary: 'Build the native addons from source (cmake and a C++ compiler): the core addon, and the libtorch addon when a libtorch is found.',
  usage: '[options]',
  description: [
    'The core addon comes prebuilt for linux-x64-gnu and linux-arm64-gnu (@feat2go/<platform>, installed with feat2go); this builds it from the sources the package carries, for other platforms or a build of your own (CUDA kernels: --cuda). A local build is loaded before the prebuilt one.',
    'Needs cmake ≥ 3.18 and a C++17 compiler (Debian/Ubuntu: sudo apt-get install cmake g++ make). When a libtorch is found (see build-torch), the libtorch addon is built too.',
  ].join('\n\n'),
  options: [...OPTIONS, { name: 'cuda', type: 'boolean', description: 'Compile the CUDA kernels into the core addon (needs nvcc; docs/cuda.md).' }],
  examples: ['npx feat2go build', 'npx feat2go build --cuda --jobs 8'],
  run: (args, io) => runBuild('all', args, io, args.values.cuda === true),
};

export const buildTorchCommand: Command = {
  name: 'build-torch',
  summary: 'Build the libtorch addon (value heads, policies, trainers, process groups) against the libtorch on this machine.',
  usage: '[options]',
  description: [
    'The training classes need libtorch, which is hundreds of MB and cannot come with the npm package: this compiles feat2go_torch.node against a libtorch found on this machine, in order: --torch-dir (or Torch_DIR), --python\'s pip PyTorch, Debian/Ubuntu\'s libtorch-dev (sudo apt-get install libtorch-dev libgloo-dev), python3\'s pip PyTorch (pip install torch). A CUDA PyTorch gives GPU training.',
    'The addon is written to the package\'s build/Release with feat2go_torch.json beside it, recording the torch version and library folder; it is loaded on the first use of a libtorch API. Rebuild after upgrading feat2go or that libtorch. Needs cmake ≥ 3.18 and a C++17 compiler; takes a few minutes.',
  ].join('\n\n'),
  options: OPTIONS,
  examples: ['npx feat2go build-torch', 'npx feat2go build-torch --python .venv/bin/python', 'npx feat2go build-torch --torch-dir ~/libtorch/share/cmake/Torch'],
  run: (args, io) => runBuild('torch', args, io, false),
};
