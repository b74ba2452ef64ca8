// A Python with transformers (image processors), Pillow, numpy and
// huggingface_hub for the hub parity tests, built once from wheels already on
// disk (no network, no runtime dependency of feat2go) into a cached virtual
// environment:
//   $FEAT2GO_HF_PYTHON          an interpreter to use as is (add torch and
//                               torchvision to it to check transformers'
//                               torchvision backend too), or
//   <tmpdir>/feat2go-hf-venv    the cache (reused while its marker exists).
// Wheels are looked for in $FEAT2GO_WHEELS (':'-separated folders) and the
// usual local wheel folders. When nothing usable is there the caller skips.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const MARKER = '.feat2go-hf-ok';
const WHEEL_DIRS = ['/opt/wheels', '/opt/pypi/files', '/opt/pypi-more/files'];

export type HfPython = { python: string } | { skip: string };

/** The interpreter of the cached venv, building it first when needed (a minute, once per machine). */
export function hfPython(): HfPython {
  if (process.env.FEAT2GO_HF_PYTHON) return { python: process.env.FEAT2GO_HF_PYTHON };
  const venv = path.join(tmpdir(), 'feat2go-hf-venv');
  const python = path.join(venv, 'bin', 'python');
  if (existsSync(path.join(venv, MARKER)) && existsSync(python)) return { python };
  const dirs = [...(process.env.FEAT2GO_WHEELS ?? '').split(':').filter(Boolean), ...WHEEL_DIRS].filter((d) => existsSync(d));
  const wheels = dirs.flatMap((d) => readdirSync(d));
  const need = ['transformers', 'huggingface_hub', 'pillow', 'numpy'];
  const missing = need.filter((w) => !wheels.some((f) => f.toLowerCase().startsWith(`${w}-`) && f.endsWith('.whl')));
  if (missing.length) {
    return { skip: `no ${missing.join('/')} wheels on disk (looked in ${dirs.join(', ') || 'no existing folder'}; set FEAT2GO_WHEELS or FEAT2GO_HF_PYTHON)` };
  }
  const host = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const tmp = `${venv}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  console.log(`  note: building ${venv} from the transformers, huggingface_hub, Pillow and numpy wheels (once; about a minute)`);
  const mk = spawnSync(host, ['-m', 'venv', tmp], { encoding: 'utf8' });
  if (mk.status !== 0) return { skip: `python3 -m venv failed: ${(mk.stderr || mk.error?.message || '').trim().split('\n').pop()}` };
  const pip = spawnSync(path.join(tmp, 'bin', 'python'), [
    '-m', 'pip', 'install', '--no-input', '--disable-pip-version-check', '--no-index',
    ...dirs.flatMap((d) => ['--find-links', d]), ...need,
  ], { encoding: 'utf8', timeout: 20 * 60 * 1000 });
  if (pip.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    return { skip: `installing the wheels failed: ${(pip.stderr || pip.error?.message || '').trim().split('\n').slice(-2).join(' ')}` };
  }
  writeFileSync(path.join(tmp, MARKER), `${need.join('\n')}\n`);
  rmSync(venv, { recursive: true, force: true });
  renameSync(tmp, venv);
  return { python };
}
