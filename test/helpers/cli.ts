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
