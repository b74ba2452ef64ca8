// The small framework behind the `feat2go` command line: each subcommand
// declares its options once; parsing (node:util parseArgs, strict), value
// checks and the --help text all come from that declaration.
import { parseArgs } from 'node:util';
import { ensureDir } from '../io/atomic.js';
import { argumentErrorFields } from '../core/validate.js';

/** One option of a subcommand. */
export interface OptionSpec {
  /** Long name without dashes, e.g. 'max-cluster-frames'. */
  name: string;
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder of the value in help, e.g. 'N', 'X', 'DIR'. */
  value?: string;
  description: string;
  /**
   * The value when the option is absent: the parser fills it in, so `run` sees it,
   * and --help shows it. Give it only when this command itself decides the value.
   */
  default?: string;
  /**
   * What absence means when a lower layer decides (the encoder's or the
   * library's own default): shown in --help only; `run` sees `undefined`.
   */
  implicitDefault?: string;
}

/** Parsed option values, by long name. */
export type OptionValues = Record<string, string | boolean | undefined>;

/** A parsed command line: option values (defaults filled in) and positional arguments. */
export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
}

/** Where a command writes, and whether stderr is a terminal. */
export interface CommandIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

/** A subcommand of `feat2go` (see the top of src/cli/main.ts for how to add one). */
export interface Command {
  name: string;
  /** One line for `feat2go --help`. */
  summary: string;
  /** Usage line after `feat2go <name>`, e.g. '<file|folder>... [options]'. */
  usage: string;
  /** Paragraphs printed after the usage line. */
  description: string;
  options: OptionSpec[];
  examples: string[];
  /**
   * Options are read only up to the first positional; it and everything after
   * it are positionals (a script and its own arguments, as `feat2go launch` takes).
   */
  passThrough?: boolean;
  /** Runs with parsed values; returns the exit status. Throw {@link UsageError} for bad values. */
  run(args: ParsedArgs, io: CommandIO): Promise<number>;
}

/** A bad command line: printed with a pointer to --help, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const HELP: OptionSpec = { name: 'help', short: 'h', type: 'boolean', description: 'Show this help and exit.' };

/**
 * Parses `argv` for `cmd` strictly (unknown options are errors) and fills in
 * each absent option that has a `default`.
 *
 * @throws {UsageError} naming the unknown option or the missing value
 */
export function parseCommandArgs(cmd: Command, argv: string[]): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const o of [...cmd.options, HELP]) options[o.name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  let head = argv; let tail: string[] = [];
  if (cmd.passThrough) {
    let i = 0;
    for (; i < argv.length; i++) {
      const a = argv[i];
      if (a === '--') { head = argv.slice(0, i); tail = argv.slice(i + 1); break; }
      if (!a.startsWith('-') || a === '-') { head = argv.slice(0, i); tail = argv.slice(i); break; }
      const long = a.startsWith('--') ? a.slice(2).split('=')[0] : undefined;
      const spec = long !== undefined ? [...cmd.options, HELP].find((o) => o.name === long) : [...cmd.options, HELP].find((o) => o.short === a.slice(1, 2));
      const inline = long !== undefined ? a.includes('=') : a.length > 2;
      if (spec?.type === 'string' && !inline) i++;
    }
  }
  try {
    const parsed = parseArgs({ args: head, options, allowPositionals: true, strict: true });
    const values: OptionValues = { ...parsed.values };
    for (const o of cmd.options) if (o.default !== undefined && values[o.name] === undefined) values[o.name] = o.default;
    return { values, positionals: [...parsed.positionals, ...tail] };
  } catch (err) {
    // parseArgs' messages are clear but long; keep the first sentence.
    const msg = (err as Error).message.split('. To specify a positional')[0].replace(/\s+$/, '');
    throw new UsageError(msg);
  }
}

function wrap(text: string, width: number, indent: string): string {
  const words = text.split(/\s+/);
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > width) { lines.push(cur); cur = w; } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines.map((l, i) => (i === 0 ? l : indent + l)).join('\n');
}

/** The --help text of a subcommand, generated from its declaration. */
export function commandHelp(cmd: Command): string {
  const rows = [...cmd.options, HELP].map((o) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${o.name}${o.value ? ` ${o.value}` : ''}`;
    const shown = o.default ?? o.implicitDefault;
    const desc = `${o.description}${shown !== undefined ? ` (default: ${shown})` : ''}`;
    return [flag, desc];
  });
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return [
    `Usage: feat2go ${cmd.name} ${cmd.usage}`,
    '',
    ...cmd.description.split('\n\n').map((p) => `${wrap(p.replace(/\n/g, ' '), 78, '')}\n`),
    'Options:',
    ...rows.map(([f, d]) => `  ${f.padEnd(w)}${wrap(d, 78 - w - 2, ' '.repeat(w + 2))}`),
    '',
    'Examples:',
    ...cmd.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

/**
 * Parses an integer option value: a decimal number whose value is a whole number
 * ("12", "1e3", "1000.0"); not "12.5", "1e-3", "0x10" or "abc".
 */
export function intOption(v: OptionValues[string], name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v).trim();
  const n = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max !== Number.MAX_SAFE_INTEGER ? `an integer in [${min}, ${max}]`
      : Number.isInteger(n) && n > max ? `a safe integer ≥ ${min} (at most 2^53 − 1 = ${max})` : `an integer ≥ ${min}`;
    throw new UsageError(`--${name} expects ${range} but received '${String(v)}'`);
  }
  return n;
}

/** Parses a finite number option value strictly (≥ `min` when given). */
export function numberOption(v: OptionValues[string], name: string, min = -Infinity): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v).trim();
  const n = s === '' || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s) ? NaN : Number(s);
  if (!Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name} expects a finite number${Number.isFinite(min) ? ` ≥ ${min}` : ''} but received '${String(v)}'`);
  }
  return n;
}

/**
 * Parses a number option value, its syntax only: a decimal number ("12",
 * "0.003", "1e3"), NaN for anything else ("abc", "0x10", ""). What values an
 * option accepts is the library's to check (see {@link usageErrorFrom}).
 */
export function numberValue(v: OptionValues[string]): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v).trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s) ? Number(s) : Number.NaN;
}

/**
 * A {@link UsageError} in the command line's terms for an error the library
 * threw while checking options parsed from the command line:
 * `--window expects an integer ≥ 2 but received '1'`, where `flags` maps the
 * library's argument names ('opts.window') to the options (--window) and
 * `values` holds what was typed. Any other error keeps its message.
 */
export function usageErrorFrom(err: unknown, flags: Readonly<Record<string, string>>, values: OptionValues): UsageError {
  const f = argumentErrorFields(err);
  const flag = f === undefined ? undefined : flags[f.argument];
  if (f === undefined || flag === undefined) return new UsageError(err instanceof Error ? err.message : String(err));
  return new UsageError(`--${flag} expects ${f.accepts} but received '${String(values[flag] ?? f.received)}'`);
}

/**
 * Checks an output folder option before anything is read or written, creating
 * the folder: an existing file, a parent that is not a folder or a level that
 * cannot be created (`/proc/x`) is a command-line error (exit 2), not a crash
 * or a hang halfway through.
 *
 * @throws {UsageError} `--out <dir>: exists and is a file, not a folder`, …
 */
export function outputFolderOption(dir: string, name = 'out'): string {
  try {
    ensureDir(dir);
  } catch (err) {
    const msg = (err as Error).message;
    throw new UsageError(`--${name} ${msg.startsWith(`${dir}: `) ? msg : `${dir}: ${msg}`}`);
  }
  return dir;
}

/**
 * Parses `argv` for `cmd` and runs it: --help prints its help (0), a bad command line
 * prints the reason and a pointer to --help (2), an unexpected error prints one line (1).
 *
 * @returns the exit status
 */
export async function runCommand(cmd: Command, argv: string[], io: CommandIO): Promise<number> {
  try {
    const args = parseCommandArgs(cmd, argv);
    if (args.values.help) {
      io.stdout.write(commandHelp(cmd));
      return 0;
    }
    return await cmd.run(args, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`feat2go ${cmd.name}: ${err.message}\nRun 'feat2go ${cmd.name} --help' for usage.\n`);
      return 2;
    }
    io.stderr.write(`feat2go ${cmd.name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
