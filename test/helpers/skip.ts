// Skipped tests that say so. uvu counts `test.skip` in its "Skipped" total but
// prints no reason; `testIf` registers the test normally when its condition
// holds, and otherwise as skipped with one line `SKIP <name>: <reason>` on
// stdout (scripts/test.mjs counts those lines and checks them against uvu's).
import { test as uvuTest, type Callback, type Test } from 'uvu';
import { capabilities, torchAddonStatus } from '../../src/index.js';

/** Registers tests like uvu's `test`, or skips them visibly. */
export type ConditionalTest = (name: string, fn: Callback) => void;

/**
 * A `test` that runs when `cond` holds and is reported as skipped (with `reason`)
 * otherwise. With `requiredBy` naming an environment variable that is set to 1,
 * a false `cond` is a failure instead (for runs that must not skip).
 *
 * @example
 * const withPython = testIf(hasPython, 'python3 with torch is not installed');
 * withPython('parity with PyTorch', () => { ... });
 */
export function testIf(cond: boolean, reason: string, opts: { requiredBy?: string; suite?: Test } = {}): ConditionalTest {
  const suite = opts.suite ?? uvuTest;
  return (name, fn) => {
    if (cond) {
      suite(name, fn);
    } else if (opts.requiredBy && process.env[opts.requiredBy] === '1') {
      suite(name, () => { throw new Error(`${reason}, and ${opts.requiredBy}=1 requires it (npm run test:torch)`); });
    } else {
      suite.skip(name, fn);
      console.log(`SKIP ${name}: ${reason}`);
    }
  };
}

/** Whether the libtorch addon (feat2go_torch.node) loads. */
export const hasTorch = capabilities().torch;

/**
 * `test` for the libtorch classes: skipped with the reason when there is no
 * libtorch addon; a failure then under `npm run test:torch`
 * (FEAT2GO_REQUIRE_TORCH=1).
 */
export const torchTest: ConditionalTest = testIf(
  hasTorch,
  `no libtorch addon: ${torchAddonStatus().reason ?? ''} (install libtorch-dev, then npm run build:native)`,
  { requiredBy: 'FEAT2GO_REQUIRE_TORCH' },
);
