// feat2go/cli: the command line as a library (run a subcommand in-process).
export type { CliIO, EncodeArgs } from './encode-command.js';
export { encodeCommand, parseEncodeArgs } from './encode-command.js';
export type { Command, CommandIO, OptionSpec } from './command.js';
export { runCommand, commandHelp, UsageError } from './command.js';
export { labelCommand } from './label-command.js';
export { encodeCommandSpec } from './encode-command.js';
export { experimentCommandSpec, experimentCommand, parseExperimentArgs, type ExperimentArgs } from './experiment-command.js';
