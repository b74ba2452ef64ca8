#!/usr/bin/env node
// `feat2go`: the command line. Subcommands live in src/cli/; add one by
// writing its file and listing it in COMMANDS below.
import { readFileSync } from 'node:fs';
import { commandHelp, runCommand, type Command, type CommandIO } from './command.js';
import { encodeCommandSpec } from './encode-command.js';
import { experimentCommandSpec } from './experiment-command.js';
import { labelCommand } from './label-command.js';

/** Every subcommand, in the order `feat2go --help` lists them. */
export const COMMANDS: Command[] = [
  labelCommand,
  encodeCommandSpec,
  experimentCommandSpec,
];

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The top-level --help text. */
export function mainHelp(): string {
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
export async function runCli(argv: string[], io: CommandIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
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
