// Runs one mode of test/helpers/cancel-child.ts in a child process and times
// how long the child lives after it prints a marker line (the cancel tests:
// process.exit / worker.terminate during a long native call).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cancel-child.ts');

/** The child's stdout lines, the ms from its first `marker` line to its exit, and its exit code; rejects when no marker line came. */
export function runCancelChild(mode: string, marker: string, limitMs = 120_000): Promise<{ lines: string[]; afterMarkerMs: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let err = '';
    let at = 0;
    let buf = '';
    const kill = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        lines.push(line);
        if (line.startsWith(marker) && at === 0) at = Date.now();
      }
    });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(kill);
      if (at === 0) reject(new Error(`no ${marker} line (exit ${code}): ${lines.join('\n')}\n${err.slice(-2000)}`));
      else resolve({ lines, afterMarkerMs: Date.now() - at, code });
    });
  });
}
