// A Python with PyTorch (CPU), PEFT and safetensors for the parity tests,
// built once from wheels already on disk (no network, no runtime
// dependency of feat2go) into a cached virtual environment:
//   $FEAT2GO_PEFT_PYTHON            an interpreter to use as is, or
//   <tmpdir>/feat2go-peft-venv      the cache (reused while its marker exists).
// Wheels are looked for in $FEAT2GO_WHEELS (':'-separated folders) and the
// usual local wheel folders. When nothing usable is there the caller skips.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const MARKER = '.feat2go-peft-ok';
const WHEEL_DIRS = ['/opt/wheels', '/opt/pypi/files', '/opt/pypi-more/files'];

export type PeftPython = { python: string } | { skip: string };

function findWheels(): { dirs: string[]; torch?: string; peft?: string; safetensors?: string } {
  const dirs = [...(process.env.FEAT2GO_WHEELS ?? '').split(':').filter(Boolean), ...WHEEL_DIRS].filter((d) => existsSync(d));
  const found: { dirs: string[]; torch?: string; peft?: string; safetensors?: string } = { dirs };
  for (const d of dirs) {
    for (const f of readdirSync(d)) {
      if (!f.endsWith('.whl')) continue;
      // prefer a CPU build of torch (no CUDA wheels to install)
      if (/^torch-[0-9.]+\+cpu-/.test(f) || (!found.torch && /^torch-[0-9.]+(\+[a-z0-9]+)?-/.test(f))) found.torch = f;
      if (!found.peft && /^peft-/.test(f)) found.peft = f;
      if (!found.safetensors && /^safetensors-/.test(f)) found.safetensors = f;
    }
  }
  return found;
}

/** The interpreter of the cached venv, building it first when needed (minutes, once per machine). */
export function peftPython(): PeftPython {
  if (process.env.FEAT2GO_PEFT_PYTHON) return { python: process.env.FEAT2GO_PEFT_PYTHON };
  const venv = path.join(tmpdir(), 'feat2go-peft-venv');
  const python = path.join(venv, 'bin', 'python');
  if (existsSync(path.join(venv, MARKER)) && existsSync(python)) return { python };
  const w = findWheels();
  if (!w.torch || !w.peft || !w.safetensors) {
    return { skip: `no torch/peft/safetensors wheels on disk (looked in ${w.dirs.join(', ') || 'no existing folder'}; set FEAT2GO_WHEELS or FEAT2GO_PEFT_PYTHON)` };
  }
  const host = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const tmp = `${venv}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  console.log(`  note: building ${venv} from ${w.torch}, ${w.peft}, ${w.safetensors} (once; a few minutes)`);
  const mk = spawnSync(host, ['-m', 'venv', tmp], { encoding: 'utf8' });
  if (mk.status !== 0) return { skip: `python3 -m venv failed: ${(mk.stderr || mk.error?.message || '').trim().split('\n').pop()}` };
  const torchVersion = /^torch-([^-]+)-/.exec(w.torch)![1];
  const pip = spawnSync(path.join(tmp, 'bin', 'python'), [
    '-m', 'pip', 'install', '--no-input', '--disable-pip-version-check', '--no-index',
    ...w.dirs.flatMap((d) => ['--find-links', d]), `torch==${torchVersion}`, w.peft.split('-').slice(0, 2).join('=='), 'safetensors',
  ], { encoding: 'utf8', timeout: 40 * 60 * 1000 });
  if (pip.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    return { skip: `installing the wheels failed: ${(pip.stderr || pip.error?.message || '').trim().split('\n').slice(-2).join(' ')}` };
  }
  writeFileSync(path.join(tmp, MARKER), `${w.torch}\n${w.peft}\n${w.safetensors}\n`);
  rmSync(venv, { recursive: true, force: true });
  renameSync(tmp, venv);
  return { python };
}
