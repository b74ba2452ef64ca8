// Runs the `feat2go` command line in a child process, exactly as a user runs it.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs `feat2go <args>` (src/cli/main.ts through tsx, from the package root so `--import tsx` resolves; give absolute paths). */
export function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'src', 'cli', 'main.ts'), ...args], {
    cwd: packageRoot, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Streams for running a command in-process: what it writes to stdout and stderr is collected in `out`. */
export function captureIO(opts: { tty?: boolean; columns?: number } = {}): {
  out: { stdout: string; stderr: string };
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } };
} {
  const out = { stdout: '', stderr: '' };
  const stdout = { write: (s: string) => { out.stdout += s; return true; } } as unknown as NodeJS.WritableStream;
  const stderr = { isTTY: opts.tty === true, columns: opts.columns, write: (s: string) => { out.stderr += s; return true; } } as unknown as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  return { out, io: { stdout, stderr } };
}
