// The variable-pace scripted teleoperator (src/sim/teleop.ts): with every rate
// at 0 it is the noisy expert; each behaviour does what its documentation says
// (pauses stand still, a slow approach scales the motion, a planned drop opens
// the fingers away from the tray, a low carry stays below the rims), it is
// deterministic for a seed, and its default demonstrations succeed while
// taking longer and regressing (the point of it). Bad options name the option.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PickPlaceEnv, VariablePaceDemonstrator, VARIABLE_PACE_DEFAULTS, type VariablePaceOptions } from '../../src/index.js';

const ZERO: VariablePaceOptions = { slowApproach: 0, drop: 0, pauses: 0, lowCarry: 0 };
const ids = (n: number, from = 0) => Int32Array.from({ length: n }, (_, i) => from + i);

function run(n: number, opts: VariablePaceOptions, seed = 4, task: 'pick-place' | 'knock' = 'pick-place', horizon = 160) {
  const env = new PickPlaceEnv({ numEnvs: n, horizon, render: false, task });
  env.reset(ids(n));
  const demo = new VariablePaceDemonstrator(env, seed, opts);
  const actions: Float32Array[] = [];
  const states: Array<ReturnType<PickPlaceEnv['inspect']>[]> = [];
  for (let t = 0; t < horizon && !env.terminated.every((d, i) => d || env.truncated[i]); t++) {
    states.push(Array.from({ length: n }, (_, i) => env.inspect(i)));
    const a = demo.act();
    actions.push(a.slice());
    env.step(a);
  }
  return { env, actions, states };
}

test('with every rate at 0 the demonstrator is the noisy expert, action for action', () => {
  const n = 8;
  const env = new PickPlaceEnv({ numEnvs: n, horizon: 60, render: false });
  const ref = new PickPlaceEnv({ numEnvs: n, horizon: 60, render: false });
  env.reset(ids(n)); ref.reset(ids(n));
  const demo = new VariablePaceDemonstrator(env, 9, { ...ZERO, noise: 0.2 });
  for (let t = 0; t < 60; t++) {
    const a = demo.act();
    const b = ref.expertActions(0.2, 9);
    for (let i = 0; i < n; i++) if (env.terminated[i] || env.truncated[i]) b.fill(0, i * 3, i * 3 + 3);
    assert.equal(Array.from(a), Array.from(b), `step ${t}`);
    env.step(a); ref.step(b);
  }
});

test('pauses stand still and keep the grip; a slow approach scales dx and dz by its speed while the cube is not held', () => {
  const { actions } = run(4, { ...ZERO, noise: 0, pauses: 1, pauseRate: 1, pauseMax: 5 }, 3, 'pick-place', 40);
  // pauseRate 1: a pause of U{0..5} steps starts at the first step; during it the actions are [0, 0, ±1]
  const still = actions.slice(0, 5).map((a) => Array.from(a.subarray(0, 2)).every((v) => v === 0));
  assert.ok(still.some(Boolean), 'some env pauses');
  for (const a of actions) for (let i = 0; i < 4; i++) assert.ok(Math.abs(a[i * 3 + 2]) === 1 || a[i * 3 + 2] === 0);
  // slow: every non-zero approach step's |dx| and |dz| are at most the clean expert's (≤ 1) and the speed is one per episode
  const slow = run(6, { ...ZERO, noise: 0, slowApproach: 1, slowMin: 0.25 }, 5, 'pick-place', 30);
  const fast = run(6, { ...ZERO, noise: 0 }, 5, 'pick-place', 30);
  const a0 = slow.actions[0]; const b0 = fast.actions[0];
  for (let i = 0; i < 6; i++) {
    const ratio = Math.abs(b0[i * 3]) > 1e-3 ? a0[i * 3] / b0[i * 3] : Math.abs(b0[i * 3 + 1]) > 1e-3 ? a0[i * 3 + 1] / b0[i * 3 + 1] : NaN;
    if (!Number.isNaN(ratio)) assert.ok(ratio >= 0.25 - 1e-6 && ratio <= 1 + 1e-6, `env ${i} speed ${ratio}`);
  }
  assert.ok(slow.states.length >= fast.states.length, 'slower');
});

test('a planned drop opens the fingers once, while carrying away from the tray; the expert regrasps and still succeeds', () => {
  const margin = 0.06;
  const { env, actions, states } = run(16, { ...ZERO, noise: 0, drop: 1, dropRate: 1, dropMargin: margin, dropPause: [2, 2] }, 6);
  for (let i = 0; i < 16; i++) {
    let opens = 0;
    for (let t = 0; t + 1 < states.length; t++) {
      const s = states[t][i]; const s1 = states[t + 1][i];
      if (s.holding && !s1.holding && actions[t][i * 3 + 2] < 0) {
        if (Math.abs(s.cubeX - s.goalX) > s.goalWidth / 2 + margin) {
          opens++;
          assert.equal(Array.from(actions[t + 1].subarray(i * 3, i * 3 + 2)), [0, 0], 'a pause follows the drop');
        }
      }
    }
    assert.is(opens, 1, `env ${i}: one planned drop`);
    assert.is(env.success[i], 1, `env ${i}: regrasped and placed`);
  }
});

test("a low carry keeps the held cube below the rims until the rim stops it (base task) or knocks it away ('knock')", () => {
  for (const task of ['pick-place', 'knock'] as const) {
    const { env, states } = run(12, { ...ZERO, noise: 0, lowCarry: 1 }, 8, task);
    let knocked = 0;
    for (let i = 0; i < 12; i++) {
      // from the grasp until the cube first leaves the table's neighbourhood, it is carried below the rim top (0.035)
      const tHold = states.findIndex((s) => s[i].holding);
      assert.ok(tHold >= 0);
      let t = tHold;
      while (t + 1 < states.length && states[t + 1][i].holding && states[t + 1][i].gripperX > states[t][i].gripperX + 1e-6) {
        assert.ok(states[t + 1][i].cubeZ < 0.035, `${task} env ${i} t ${t + 1}: cube at ${states[t + 1][i].cubeZ}`);
        t++;
      }
      const st = states[t][i];
      assert.ok(t > tHold, `${task} env ${i}: carried low toward the tray`);
      assert.ok(st.goalX - st.goalWidth / 2 - 0.02 - (st.cubeX + st.cubeSize / 2) < 0.04 + 1e-5, `${task} env ${i}: up to the rim (${st.cubeX})`);
      if (states.some((s, k) => k > tHold && !s[i].holding && s[i].opening === 1 && Math.abs(s[i].cubeX - s[i].goalX) > s[i].goalWidth / 2)) knocked++;
    }
    assert.ok(env.success.reduce((a, b) => a + b, 0) >= 11, `${task}: the expert recovers`);
    if (task === 'knock') assert.ok(knocked >= 10, `knocked in ${knocked} of 12`);
  }
});

test('deterministic for a seed, different across seeds; the default demonstrations succeed, take longer and regress', () => {
  const a = run(24, {}, 11); const b = run(24, {}, 11); const c = run(24, {}, 12);
  assert.equal(a.actions.map((x) => Array.from(x)), b.actions.map((x) => Array.from(x)));
  assert.not.equal(a.actions.map((x) => Array.from(x)), c.actions.map((x) => Array.from(x)));
  const n = 64;
  const v = run(n, {}, 2);
  const s = run(n, { ...ZERO }, 2);
  const len = (r: ReturnType<typeof run>) => Array.from(r.env.t).reduce((x, y) => x + y, 0) / n;
  assert.ok(v.env.success.reduce((x, y) => x + y, 0) >= 0.9 * n, 'at least 90 % succeed');
  assert.ok(len(v) > 1.2 * len(s), `longer: ${len(v)} vs ${len(s)}`);
  let regress = 0;
  for (let i = 0; i < n; i++) if (v.states.some((st, k) => k > 0 && v.states[k - 1][i].holding && !st[i].holding && Math.abs(st[i].cubeX - st[i].goalX) > st[i].goalWidth / 2)) regress++;
  assert.ok(regress > 0.3 * n && regress < 0.8 * n, `${regress} of ${n} drop the cube outside the tray`);
  assert.is(VARIABLE_PACE_DEFAULTS.drop, 0.5);
});

test('bad input names the option', () => {
  const env = new PickPlaceEnv({ numEnvs: 2, render: false });
  env.reset([0, 1]);
  const bad: Array<[unknown, RegExp, typeof TypeError | typeof RangeError]> = [
    [{ drop: 1.5 }, /opts\.drop/, RangeError],
    [{ noise: -1 }, /opts\.noise/, RangeError],
    [{ pauses: 1.5 }, /opts\.pauses/, TypeError],
    [{ dropPause: [5, 2] }, /opts\.dropPause\[1\]/, RangeError],
    [{ dropPause: 3 }, /opts\.dropPause/, TypeError],
    [{ dorp: 1 }, /opts\.dorp \(did you mean opts\.drop\?\)/, TypeError],
  ];
  for (const [o, re, kind] of bad) assert.throws(() => new VariablePaceDemonstrator(env, 1, o as never), (e: Error) => e instanceof kind && re.test(e.message), JSON.stringify(o));
  assert.throws(() => new VariablePaceDemonstrator(env, -1), (e: Error) => e instanceof RangeError && /seed/.test(e.message));
  assert.throws(() => new VariablePaceDemonstrator({} as never, 1), (e: Error) => e instanceof TypeError && /env/.test(e.message));
});

test.run();
