// Runs one scenario of native-scenarios.ts in a child process and checks that
// it exited cleanly (no signal, exit code 0) with an ok report.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, 'native-scenarios.ts');

/**
 * Runs a scenario (with `env` added to the environment); returns its JSON
 * report, or null when it printed a skip (reported as SKIP). The child runs
 * with ArrayBuffer.prototype.transfer enabled (a flag on Node 20), so that
 * scenarios can detach any ArrayBuffer.
 */
export function runScenario(name: string, timeoutMs = 240_000, env: Record<string, string> = {}): Record<string, unknown> | null {
  const r = spawnSync(process.execPath, ['--expose-gc', '--harmony-rab-gsab-transfer', '--import', 'tsx', script, name], {
    encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, ...env },
  });
  const tail = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.slice(-3000);
  assert.is(r.signal, null, `${name}: killed by ${r.signal}\n${tail}`);
  assert.is(r.status, 0, `${name}: exit code ${r.status}\n${tail}`);
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  const out = JSON.parse(line) as Record<string, unknown>;
  if (typeof out.skip === 'string') {
    console.log(`SKIP ${name}: ${out.skip}`);
    return null;
  }
  assert.is(out.ok, true, `${name}: ${line}`);
  return out;
}

