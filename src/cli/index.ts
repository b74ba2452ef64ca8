// feat2go/cli: the command line as a library (run a subcommand in-process).
export type { Command, CommandIO, OptionSpec, OptionValues, ParsedArgs } from './command.js';
export { runCommand, commandHelp, parseCommandArgs, UsageError } from './command.js';
export { labelCommand } from './label-command.js';
export { encodeCommand } from './encode-command.js';
export { inspectCommand } from './inspect-command.js';
export { mergeSummariesCommand } from './merge-command.js';
export { launchCommand } from './launch-command.js';
export { buildAddonCommand, buildTorchCommand } from './build-command.js';
export { viewCommand, DEFAULT_VIEW_PORT } from './view-command.js';
export { progressBar, failureLine, framesLabel, type ProgressBar } from './ui.js';
export { experimentCommand, runExperimentCommand, parseExperimentArgs, type ExperimentArgs } from './experiment-command.js';
