// Assertions shared by several test files.
import * as assert from 'uvu/assert';

/** `fn` throws an instance of `type` whose message matches every pattern. */
export function throwsLike(fn: () => unknown, type: new (...a: never[]) => Error, ...patterns: RegExp[]): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, type, `expected ${type.name} but got ${(e as Error).name}: ${(e as Error).message}`);
    for (const p of patterns) assert.match((e as Error).message, p);
    return;
  }
  assert.unreachable(`expected a ${type.name}`);
}

/** `p` rejects with exactly `reason` (an aborted call's signal reason). */
export async function rejectsWith(p: Promise<unknown>, reason: unknown): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(e === reason, `rejected with ${String(e)} instead of the signal's reason`);
    return;
  }
  assert.unreachable('the call resolved: the abort did not stop it');
}
