#!/usr/bin/env node
// `feat2go`: the command line.
//
// Adding a command:
//  1. Write src/cli/<name>-command.ts exporting `<name>Command: Command`
//     (src/cli/command.ts). Its `options` table is the only place an option is
//     declared: parsing (strict, unknown options are errors), the values of
//     options with a `default`, and `feat2go <name> --help` are generated from
//     it. Use `implicitDefault` for a default that a lower layer applies (it
//     is shown in --help only).
//  2. In `run({ values, positionals }, io)`, turn values into typed settings
//     with intOption/numberOption (or helpers such as encoder-options.ts),
//     throw UsageError for a bad command line (exit 2), do the work through
//     src/jobs or the library, and return the exit status (0 ok, 1 some inputs
//     failed). Write only to io.stdout / io.stderr; terminal output (progress
//     bar, failure lines) comes from ui.ts.
//  3. List it in COMMANDS below and export it from src/cli/index.ts.
//  4. Test it in test/cli/ (in-process with runCommand, or as a user runs it
//     with test/helpers/cli.ts) and describe it in docs/cli.md.
// Commands never import each other: options shared by several commands live
// in their own module (encoder-options.ts) or in the command that owns them
// (the progress options in label-command.ts).
import { readFileSync } from 'node:fs';
import { buildAddonCommand, buildTorchCommand } from './build-command.js';
import { commandHelp, runCommand, type Command, type CommandIO } from './command.js';
import { encodeCommand } from './encode-command.js';
import { experimentCommand } from './experiment-command.js';
import { inspectCommand } from './inspect-command.js';
import { labelCommand } from './label-command.js';
import { launchCommand } from './launch-command.js';
import { mergeSummariesCommand } from './merge-command.js';
import { viewCommand } from './view-command.js';

/** Every subcommand, in the order `feat2go --help` lists them. */
const COMMANDS: Command[] = [
  labelCommand,
  encodeCommand,
  inspectCommand,
  mergeSummariesCommand,
  launchCommand,
  experimentCommand,
  buildTorchCommand,
  buildAddonCommand,
  viewCommand,
];

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The top-level --help text. */
function mainHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: feat2go <command> [options]',
    '',
    'Feat2Go progress targets from visual patch features (or from frames, through an encoder), on the command line.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}${c.summary}`),
    '',
    'Options:',
    '  -h, --help     Show this help (or `feat2go <command> --help` for a command).',
    '  -v, --version  Print the version.',
    '',
    'Exit status: 0 success, 1 some inputs failed, 2 bad command line.',
    '',
  ].join('\n');
}

/**
 * Runs the command line with `argv` (without `node` and the script) and returns the exit status.
 */
async function runCli(argv: string[], io: CommandIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    const target = first === 'help' && rest[0] ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    if (first === undefined) {
      io.stderr.write(mainHelp());
      return 2;
    }
    io.stdout.write(target ? commandHelp(target) : mainHelp());
    return 0;
  }
  if (first === '-v' || first === '--version') {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === first);
  if (!cmd) {
    io.stderr.write(`feat2go: unknown ${first.startsWith('-') ? 'option' : 'command'} '${first}'\nRun 'feat2go --help' for the commands.\n`);
    return 2;
  }
  return runCommand(cmd, rest, io);
}

process.exitCode = await runCli(process.argv.slice(2));
