#!/usr/bin/env node
// The test runner behind `npm test` and `npm run test:torch`: runs uvu (through
// tsx) over a test folder, passes its output through, and ends with one plain
// line that CI reads:
//
//   N passed, N failed, N skipped
//
// Skipped tests are those registered with test/helpers/skip.ts, which prints
// `SKIP <name>: <reason>`; a skip without such a line (a bare `test.skip`) is
// counted as a failure, so every skip has a visible reason.
//
// Usage: node scripts/test.mjs [folder] [pattern] [--torch]
//   folder   default test (every *.test.ts below it)
//   pattern  a regular expression for the file names, default \.test\.ts$
//   --torch  test/torch only, and libtorch is required: a test that would be
//            skipped for want of it fails (FEAT2GO_REQUIRE_TORCH=1)
// Exit status: 0 when nothing failed, 1 otherwise.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const torch = args.includes('--torch');
const rest = args.filter((a) => a !== '--torch');
const folder = rest[0] ?? (torch ? 'test/torch' : 'test');
const pattern = rest[1] ?? '\\.test\\.ts$';
const env = { ...process.env, ...(torch ? { FEAT2GO_REQUIRE_TORCH: '1' } : {}) };

const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'node_modules', 'uvu', 'bin.js'), folder, pattern], {
  cwd: root, env, stdio: ['inherit', 'pipe', 'pipe'],
});
let out = '';
child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
child.stderr.on('data', (d) => { out += d; process.stderr.write(d); });
const code = await new Promise((resolve) => child.on('close', (c, signal) => resolve(c ?? (signal ? 1 : 0))));

const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
const last = (label) => {
  const m = [...plain.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)`, 'gm'))].pop();
  return m ? Number(m[1]) : undefined;
};
const total = last('Total');
const passed = last('Passed');
const uvuSkipped = last('Skipped');
const reasons = plain.split('\n').filter((l) => l.startsWith('SKIP '));

let failed;
if (total === undefined || passed === undefined || uvuSkipped === undefined) {
  console.error(`test runner: uvu ended (exit ${code}) without its totals; counting the run as failed`);
  failed = Math.max(1, (total ?? 0) - (passed ?? 0));
} else {
  failed = total - passed;
  if (code !== 0 && failed === 0) failed = 1; // uvu failed outside a test (an import or a hook)
}
const skipped = reasons.length;
const unexplained = (uvuSkipped ?? 0) - skipped;
if (unexplained > 0) {
  console.error(`test runner: ${unexplained} test(s) skipped without a reason; use testIf from test/helpers/skip.ts`);
  failed += unexplained;
}
if (skipped) {
  console.log(`\nSkipped (${skipped}):`);
  for (const r of reasons) console.log(`  ${r.slice(5)}`);
}
console.log(`\n${passed ?? 0} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 ? 1 : 0;
