// The built-in pick-and-place task: dynamics and the success rule on
// hand-made action sequences (a controller written here from the documented
// rules, not the native expert), rendering determinism across instances and
// thread counts, the OOD splits' stated differences, the scripted expert, and
// bad inputs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PICK_PLACE_SPLITS, PICK_PLACE_STAGES, PickPlaceEnv } from '../../src/index.js';
import type { PickPlaceEnvState, PickPlaceSplit, PickPlaceTask } from '../../src/index.js';
import { native } from '../../src/core/native.js';

// Documented constants (README/docs/sim.md): max gripper step per unit action,
// opening change per step, finger gap open/closed, finger length.
const STEP = 0.04;
const GAP_MIN = 0.02;
const GAP_MAX = 0.2;
const FINGER_LEN = 0.09;
const RIM_W = 0.02;

const ids = (n: number, from = 0): Int32Array => Int32Array.from({ length: n }, (_, i) => from + i);
const clip = (v: number): number => Math.max(-1, Math.min(1, v));

/** One env on `split` reset to `id`, with a small P-controller to drive it. */
function single(id = 0, split: PickPlaceSplit = 'id', render = false, horizon = 80, task: PickPlaceTask = 'pick-place') {
  const env = new PickPlaceEnv({ numEnvs: 1, split, render, horizon, imageSize: 64, task });
  env.reset([id]);
  const s = () => env.inspect(0);
  const act = (dx: number, dz: number, grip: number) => env.step(Float32Array.of(dx, dz, grip));
  /** Moves the fingertips to (x, z) with the given grip, at most `maxSteps` steps. */
  const moveTo = (x: number, z: number, grip: number, maxSteps = 60) => {
    for (let k = 0; k < maxSteps; k++) {
      const st = s();
      if (Math.abs(st.gripperX - x) < 1e-4 && Math.abs(st.gripperZ - z) < 1e-4) return;
      act(clip((x - st.gripperX) / STEP), clip((z - st.gripperZ) / STEP), grip);
    }
  };
  return { env, s, act, moveTo };
}

/** Drives a single env through reach and grasp; returns the state once held. */
function graspCube(h: ReturnType<typeof single>): PickPlaceEnvState {
  const st0 = h.s();
  const top = st0.cubeSize + 0.05;
  h.moveTo(st0.cubeX, top, -1);
  const graspZ = Math.max(0.3 * st0.cubeSize, st0.cubeSize - FINGER_LEN + 0.01);
  h.moveTo(st0.cubeX, graspZ, -1);
  for (let k = 0; k < 4; k++) h.act(0, 0, 1);
  return h.s();
}

// ------------------------------------------------------------ constants

test('constants: 5 stages, 4 splits of 1000 fixed initial states, proprio [x, z, opening, holding]', () => {
  assert.is(PickPlaceEnv.numStages, 5);
  assert.is(PICK_PLACE_STAGES.length, PickPlaceEnv.numStages);
  assert.is(native().pickPlaceConstants.numStages, PickPlaceEnv.numStages);
  assert.is(native().pickPlaceConstants.maxStep, Math.fround(STEP));
  for (const split of PICK_PLACE_SPLITS) assert.is(PickPlaceEnv.splitSize(split), 1000);
  const h = single(3);
  assert.is(h.env.actionDim, 3);
  assert.is(h.env.proprioDim, 4);
  const st = h.s();
  assert.equal(Array.from(h.env.proprio), [st.gripperX, st.gripperZ, st.opening, 0].map(Math.fround));
  assert.is(h.env.frames.length, 0, 'render: false leaves frames empty');
  assert.is(h.env.t[0], 0);
  assert.is(h.env.stage[0], 0);
});

// ------------------------------------------------------------ dynamics

test('dynamics: grasp, lift, carry over the tray and release = success with reward 1 on that step only', () => {
  const h = single(7, 'id', true);
  const st0 = h.s();
  assert.ok(st0.cubeX + st0.cubeSize / 2 < st0.goalX - st0.goalWidth / 2 - RIM_W, 'cube starts left of the tray');
  assert.is(st0.opening, 1);
  const held = graspCube(h);
  assert.ok(held.holding, 'closed around the cube at grasping height: held');
  assert.is(h.env.proprio[3], 1);
  assert.is(h.env.stage[0], 2, 'carry stage');
  // the contact opening is where the finger gap equals the cube side
  assert.ok(Math.abs(GAP_MIN + held.opening * (GAP_MAX - GAP_MIN) - held.cubeSize) < 1e-5);
  // lift: the cube follows
  h.moveTo(held.gripperX, held.gripperZ + 0.2, 1);
  let st = h.s();
  assert.ok(Math.abs(st.cubeZ - 0.2) < 1e-5, `cube lifted with the gripper (z ${st.cubeZ})`);
  assert.ok(Math.abs(st.cubeX - st.gripperX) < 1e-6);
  // carry over the tray
  h.moveTo(st.goalX, st.gripperZ, 1);
  st = h.s();
  assert.ok(st.holding);
  assert.is(h.env.stage[0], 3, 'over goal');
  assert.is(h.env.success[0], 0);
  // release: the cube falls (speed grows), lands between the rims, gripper opens fully
  const rewards: number[] = [];
  const heights: number[] = [];
  for (let k = 0; k < 20 && !h.env.terminated[0]; k++) {
    h.act(0, 0, -1);
    rewards.push(h.env.reward[0]);
    heights.push(h.s().cubeZ);
  }
  assert.is(h.env.terminated[0], 1);
  assert.is(h.env.success[0], 1);
  assert.is(h.env.truncated[0], 0);
  assert.is(h.env.stage[0], 4);
  assert.is(h.env.maxStage[0], 4);
  assert.is(rewards.filter((r) => r === 1).length, 1);
  assert.is(rewards[rewards.length - 1], 1, 'reward 1 on the success step');
  assert.is(heights[heights.length - 1], 0);
  const drops = heights.slice(0, 4).map((z, k) => (k === 0 ? 0.2 : heights[k - 1]) - z);
  assert.ok(drops[1] > drops[0] && drops[2] > drops[1], `falling accelerates: ${drops}`);
  // frozen afterwards: no reward, no motion, same t and frame
  const t = h.env.t[0];
  const frame = h.env.frames.slice();
  const before = h.s();
  h.act(1, 1, 1);
  assert.is(h.env.t[0], t);
  assert.is(h.env.reward[0], 0);
  assert.is(h.env.terminated[0], 1);
  assert.equal(h.env.frames, frame);
  assert.equal(h.s(), before, 'a finished env does not move');
});

test('dynamics: success needs the gripper fully open, not just the cube at rest in the tray', () => {
  const h = single(8);
  const held = graspCube(h);
  h.moveTo(held.gripperX, held.gripperZ + 0.15, 1);
  h.moveTo(held.goalX, h.s().gripperZ, 1);
  h.moveTo(held.goalX, held.gripperZ, 1); // lower the held cube onto the tray floor
  assert.is(h.s().cubeZ, 0);
  assert.ok(h.s().holding);
  const contact = h.s().opening;
  const opening: number[] = [];
  const success: number[] = [];
  for (let k = 0; k < 4 && !h.env.terminated[0]; k++) {
    h.act(0, 0, -1);
    opening.push(h.s().opening);
    success.push(h.env.success[0]);
  }
  // opening grows by 0.25 per step from the contact opening; success only once it reaches 1
  const steps = Math.ceil((1 - contact) / 0.25 - 1e-6);
  assert.is(success.length, steps, `success after ${steps} opening steps (${opening})`);
  assert.equal(success.slice(0, -1), new Array(steps - 1).fill(0));
  assert.is(success[steps - 1], 1);
  assert.is(opening[steps - 1], 1);
  assert.ok(steps >= 2, 'at least one step with the cube at rest and the gripper still opening');
});

test('dynamics: releasing outside the tray drops the cube on the table, no success; horizon truncates', () => {
  const h = single(11, 'id', false, 60);
  const held = graspCube(h);
  assert.ok(held.holding);
  h.moveTo(held.gripperX + 0.1, held.gripperZ + 0.25, 1);
  for (let k = 0; k < 10; k++) h.act(0, 0, -1);
  const st = h.s();
  assert.not.ok(st.holding);
  assert.is(st.cubeZ, 0, 'rests on the table');
  assert.ok(Math.abs(st.cubeX - (held.gripperX + 0.1)) < 1e-5, 'fell straight down');
  assert.is(h.env.success[0], 0);
  assert.is(h.env.stage[0], 0, 'back to reach');
  assert.is(h.env.maxStage[0], 2);
  while (!h.env.truncated[0]) h.act(0, 0, -1);
  assert.is(h.env.t[0], 60);
  assert.is(h.env.terminated[0], 0);
  assert.is(h.env.success[0], 0);
});

test('dynamics: an open gripper does not carry; closing above the cube grasps nothing and lands on its top', () => {
  const h = single(2);
  const st0 = h.s();
  const graspZ = Math.max(0.3 * st0.cubeSize, st0.cubeSize - FINGER_LEN + 0.01);
  h.moveTo(st0.cubeX, st0.cubeSize + 0.05, -1);
  h.moveTo(st0.cubeX, graspZ, -1);
  assert.is(h.env.stage[0], 1, 'grasp stage: open fingers around the cube');
  h.moveTo(st0.cubeX, 0.4, -1);
  let st = h.s();
  assert.not.ok(st.holding);
  assert.is(st.cubeZ, 0, 'open fingers do not lift the cube');
  assert.ok(Math.abs(st.cubeX - st0.cubeX) < 1e-6);
  // close high above the cube, then descend: the closed fingers stop on its top
  for (let k = 0; k < 4; k++) h.act(0, 0, 1);
  assert.is(h.s().opening, 0);
  for (let k = 0; k < 15; k++) h.act(0, -1, 1);
  st = h.s();
  assert.not.ok(st.holding);
  assert.ok(Math.abs(st.gripperZ - st0.cubeSize) < 1e-5, `fingertips rest on the cube top (${st.gripperZ})`);
  assert.is(st.cubeZ, 0);
});

test('dynamics: fingers push a cube along the table, and the tray rim stops it (no success by pushing)', () => {
  const h = single(4);
  const st0 = h.s();
  // open fingers low, left of the cube, then sweep right towards the tray
  h.moveTo(st0.cubeX, st0.cubeSize + 0.15, -1);
  h.moveTo(Math.max(0.06, st0.cubeX - 0.2), st0.cubeSize + 0.15, -1);
  h.moveTo(h.s().gripperX, 0.02, -1);
  for (let k = 0; k < 40; k++) h.act(1, 0, -1);
  const st = h.s();
  const rimLeft = st.goalX - st.goalWidth / 2 - RIM_W;
  assert.ok(st.cubeX > st0.cubeX + 0.05, 'the cube was pushed');
  assert.ok(Math.abs(st.cubeX + st.cubeSize / 2 - rimLeft) < 1e-5, `stopped at the rim (${st.cubeX})`);
  assert.is(st.cubeZ, 0);
  assert.is(h.env.success[0], 0);
  assert.is(h.env.maxStage[0], 0);
});

test('dynamics: closing with the fingertips high on the cube does not hold it; a held cube stops at the table', () => {
  const h = single(9);
  const st0 = h.s();
  // fingertips at 0.8 of the cube's height: between the fingers, but too high to hold
  h.moveTo(st0.cubeX, st0.cubeSize + 0.05, -1);
  h.moveTo(st0.cubeX, 0.8 * st0.cubeSize, -1);
  for (let k = 0; k < 4; k++) h.act(0, 0, 1);
  let st = h.s();
  assert.not.ok(st.holding);
  assert.ok(Math.abs(GAP_MIN + st.opening * (GAP_MAX - GAP_MIN) - st.cubeSize) < 1e-5, 'fingers stop at the sides');
  h.moveTo(st0.cubeX, 0.3, 1);
  assert.is(h.s().cubeZ, 0, 'not lifted');
  // grasp properly, then press down: the held cube stops on the table
  h.act(0, 0, -1);
  h.act(0, 0, -1);
  h.act(0, 0, -1);
  const held = graspCube(h);
  assert.ok(held.holding);
  for (let k = 0; k < 5; k++) h.act(0, -1, 1);
  st = h.s();
  assert.is(st.cubeZ, 0);
  assert.ok(Math.abs(st.gripperZ - held.gripperZ) < 1e-6);
  assert.ok(st.holding);
});

test('dynamics: a cube dropped onto a rim rests on it; no success', () => {
  const h = single(13);
  const held = graspCube(h);
  h.moveTo(held.gripperX, held.gripperZ + 0.2, 1);
  const rimCentre = held.goalX - held.goalWidth / 2 - RIM_W / 2;
  h.moveTo(rimCentre, h.s().gripperZ, 1);
  for (let k = 0; k < 15; k++) h.act(0, 0.5, -1);
  const st = h.s();
  assert.not.ok(st.holding);
  assert.ok(Math.abs(st.cubeZ - 0.035) < 1e-6, `rests on the rim top (${st.cubeZ})`);
  assert.is(st.cubeVz, 0);
  assert.is(h.env.success[0], 0);
  assert.is(h.env.stage[0], 0);
});

test('dynamics: envs are independent: an env in a batch matches the same initial state run alone', () => {
  const batch = new PickPlaceEnv({ numEnvs: 4 });
  batch.reset([5, 6, 7, 8]);
  const alone = new PickPlaceEnv({ numEnvs: 1 });
  alone.reset([7]);
  const bytes = 64 * 64 * 3;
  for (let t = 0; t < 40; t++) {
    const a = batch.expertActions(0.2, 4);
    // env 2's own action, given to the single env
    batch.step(a);
    alone.step(a.subarray(6, 9));
    assert.ok(Buffer.compare(batch.frames.subarray(2 * bytes, 3 * bytes), alone.frames) === 0, `step ${t}`);
    assert.equal(Array.from(batch.proprio.subarray(8, 12)), Array.from(alone.proprio));
  }
  assert.ok(Buffer.compare(batch.frames.subarray(0, bytes), batch.frames.subarray(bytes, 2 * bytes)) !== 0);
});

test('buffers: a transferred output buffer makes calls throw instead of writing freed memory', () => {
  const env = new PickPlaceEnv({ numEnvs: 2 });
  env.reset([0, 1]);
  structuredClone(env.frames.buffer, { transfer: [env.frames.buffer] });
  assert.is(env.frames.length, 0, 'detached');
  assert.throws(() => env.step(new Float32Array(6)), /buffer was transferred or detached/);
  assert.throws(() => env.reset([0, 1]), /buffer was transferred or detached/);
});

test('dynamics: a held cube carried low is stopped by the rim; lifted above it, it passes', () => {
  const h = single(17);
  const held = graspCube(h);
  h.moveTo(held.gripperX, held.gripperZ + 0.01, 1); // cube bottom at 0.01, below the rim top (0.035)
  for (let k = 0; k < 30; k++) h.act(1, 0, 1);
  let st = h.s();
  const rimLeft = st.goalX - st.goalWidth / 2 - RIM_W;
  assert.ok(st.holding);
  assert.ok(Math.abs(st.cubeX + st.cubeSize / 2 - rimLeft) < 1e-5, `held cube stopped at the rim (${st.cubeX})`);
  h.moveTo(st.gripperX, st.gripperZ + 0.1, 1);
  h.moveTo(st.goalX, h.s().gripperZ, 1);
  st = h.s();
  assert.ok(Math.abs(st.cubeX - st.goalX) < 1e-5, 'lifted over the rim it reaches the tray centre');
});

test('dynamics: invariants under random actions on every split (bounds, contact, flags, frozen when done)', () => {
  const N = 64;
  let seed = 12345;
  const rnd = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  for (const split of PICK_PLACE_SPLITS) {
    const env = new PickPlaceEnv({ numEnvs: N, split, render: false, horizon: 60 });
    env.reset(ids(N, 500));
    const a = new Float32Array(N * 3);
    for (let t = 0; t < 60; t++) {
      // mostly small moves near the table with frequent grip changes, some large out-of-range values
      for (let i = 0; i < N; i++) {
        a[3 * i] = (rnd() * 2 - 1) * (rnd() < 0.1 ? 5 : 1);
        a[3 * i + 1] = (rnd() * 2 - 1.2) * (rnd() < 0.1 ? 5 : 1);
        a[3 * i + 2] = rnd() * 2 - 1;
      }
      const before = Array.from({ length: N }, (_, i) => env.inspect(i));
      const wasDone = Array.from({ length: N }, (_, i) => env.terminated[i] | env.truncated[i]);
      env.step(a);
      for (let i = 0; i < N; i++) {
        const st = env.inspect(i);
        const h = st.cubeSize / 2;
        const where = `${split} env ${i} step ${t}`;
        if (wasDone[i]) {
          assert.equal(st, before[i], `${where}: frozen`);
          assert.is(env.reward[i], 0);
          continue;
        }
        assert.ok(st.gripperX >= 0.06 - 1e-6 && st.gripperX <= 0.94 + 1e-6, where);
        assert.ok(st.gripperZ >= 0 && st.gripperZ <= 0.6 + 1e-6, where);
        assert.ok(st.opening >= 0 && st.opening <= 1, where);
        assert.ok(st.cubeX >= h - 1e-6 && st.cubeX <= 1 - h + 1e-6, where);
        assert.ok(st.cubeZ >= 0, where);
        assert.ok(Math.abs(st.gripperX - before[i].gripperX) <= STEP + 1e-5, `${where}: x step bounded`);
        assert.ok(Math.abs(st.gripperZ - before[i].gripperZ) <= STEP + 1e-5, `${where}: z step bounded`);
        assert.ok(Math.abs(st.opening - before[i].opening) <= 0.25 + 1e-6, `${where}: opening rate bounded`);
        if (st.holding) assert.ok(Math.abs(st.cubeX - st.gripperX) < 1e-6, `${where}: held cube follows`);
        // a cube below rim height never overlaps a rim
        const L = st.goalX - st.goalWidth / 2;
        const R = st.goalX + st.goalWidth / 2;
        if (st.cubeZ < 0.035 - 1e-6) {
          const overlaps = (a0: number, a1: number) => st.cubeX + h > a0 + 1e-5 && st.cubeX - h < a1 - 1e-5;
          assert.not.ok(overlaps(L - RIM_W, L) || overlaps(R, R + RIM_W), `${where}: cube inside a rim`);
        }
        const p = env.proprio.subarray(4 * i, 4 * i + 4);
        assert.equal(Array.from(p), [st.gripperX, st.gripperZ, st.opening, st.holding ? 1 : 0].map(Math.fround), where);
        assert.ok(env.stage[i] >= 0 && env.stage[i] <= 4 && env.maxStage[i] >= env.stage[i], where);
        assert.is(env.reward[i], env.terminated[i] ? 1 : 0, where);
        assert.is(env.success[i], env.terminated[i], where);
        assert.ok(!(env.terminated[i] && env.truncated[i]), where);
        assert.is(env.t[i], before[i].initId >= 0 ? t + 1 : 0, where);
        assert.is(env.truncated[i], env.t[i] >= 60 && !env.terminated[i] ? 1 : 0, where);
      }
    }
  }
});

test('rendering: the smallest and odd frame sizes draw every part inside the buffer', () => {
  for (const S of [16, 37, 200]) {
    const env = new PickPlaceEnv({ numEnvs: 3, imageSize: S, split: 'semantic' });
    env.reset([0, 1, 2]);
    assert.is(env.frames.length, 3 * S * S * 3);
    const st = env.inspect(0);
    // the cube's and the distractor's colours appear in env 0's first frame
    const f = env.frames.subarray(0, S * S * 3);
    const has = (c: number[]) => {
      for (let k = 0; k < f.length; k += 3) if (f[k] === c[0] && f[k + 1] === c[1] && f[k + 2] === c[2]) return true;
      return false;
    };
    assert.ok(has(st.cubeColor), `cube visible at ${S}px`);
    assert.ok(has(st.distractor!.color), `distractor visible at ${S}px`);
    for (let t = 0; t < 40; t++) env.step(env.expertActions(0.1, 2));
  }
});

test('dynamics: reset -1 keeps an env; reset brings back the exact initial state', () => {
  const env = new PickPlaceEnv({ numEnvs: 2, render: false });
  env.reset([5, 6]);
  const a = env.inspect(0);
  const b = env.inspect(1);
  env.step(Float32Array.of(1, 1, 1, -1, -1, -1));
  const moved = env.inspect(1);
  env.reset([5, -1]);
  assert.equal(env.inspect(0), a);
  assert.equal(env.inspect(1), moved);
  assert.is(env.t[0], 0);
  assert.is(env.t[1], 1);
  assert.is.not(moved.gripperX, b.gripperX);
});

// ------------------------------------------------------------ rendering

test('rendering: scene colours at the right places; deterministic across instances and thread counts', () => {
  const N = 48;
  const run = (threads: number) => {
    const env = new PickPlaceEnv({ numEnvs: N, split: 'vision', threads });
    env.reset(ids(N, 100));
    const frames: Uint8Array[] = [env.frames.slice()];
    for (let t = 0; t < 30; t++) {
      env.step(env.expertActions(0.3, 9));
      frames.push(env.frames.slice());
    }
    return frames;
  };
  const one = run(1);
  const two = run(2);
  const again = run(0);
  for (let t = 0; t < one.length; t++) {
    assert.ok(Buffer.compare(one[t], two[t]) === 0, `step ${t}: 1 vs 2 threads`);
    assert.ok(Buffer.compare(one[t], again[t]) === 0, `step ${t}: a new instance`);
  }
  assert.ok(Buffer.compare(one[0], one[10]) !== 0, 'frames change as the gripper moves');

  // id split (no noise): pixel colours at known places
  const S = 64;
  const env = new PickPlaceEnv({ numEnvs: 1, imageSize: S });
  env.reset([12]);
  const st = env.inspect(0);
  const px = (x: number, y: number) => Array.from(env.frames.subarray((y * S + x) * 3, (y * S + x) * 3 + 3));
  const tableRow = Math.round(0.78 * S);
  assert.equal(px(0, 0), st.backgroundColor, 'top-left: background');
  assert.equal(px(0, S - 1), st.tableColor, 'bottom-left: table');
  const cubeCol = Math.floor(st.cubeX * S);
  assert.equal(px(cubeCol, tableRow - 2), st.cubeColor, 'just above the table at the cube: cube colour');
  const goalCol = Math.floor(st.goalX * S);
  assert.equal(px(goalCol, tableRow), [40, 170, 60], 'tray floor is green');
  const gripCol = Math.floor(st.gripperX * S);
  assert.equal(px(gripCol, 0), [80, 80, 92], 'the arm comes down from the top');
  // frame size scales
  const big = new PickPlaceEnv({ numEnvs: 3, imageSize: 96 });
  big.reset([0, 1, 2]);
  assert.is(big.frames.length, 3 * 96 * 96 * 3);
});

// ------------------------------------------------------------ splits

function states(split: PickPlaceSplit, n = 200): PickPlaceEnvState[] {
  const env = new PickPlaceEnv({ numEnvs: n, split, render: false });
  env.reset(ids(n));
  return Array.from({ length: n }, (_, i) => env.inspect(i));
}
const within = (c: number[], base: number[], amp: number) => c.every((v, k) => Math.abs(v - base[k]) <= amp);
const ID_BG = [190, 195, 215];
const ID_TABLE = [125, 110, 85];
const ID_CUBE = [205, 45, 40];

test('splits: fixed and seeded; id is the training distribution', () => {
  const a = states('id', 50);
  const b = states('id', 50);
  assert.equal(a, b, 'the same ids give the same initial states');
  const v = states('vision', 50);
  assert.ok(a.some((s, i) => s.initialCubeX !== v[i].initialCubeX), 'each split has its own seeded set');
  for (const s of states('id')) {
    assert.ok(within(s.backgroundColor, ID_BG, 12) && within(s.tableColor, ID_TABLE, 12) && within(s.cubeColor, ID_CUBE, 15));
    assert.ok(s.cubeSize >= 0.095 && s.cubeSize <= 0.105);
    assert.is(s.stripes, 0);
    assert.is(s.pixelNoise, 0);
    assert.is(s.distractor, null);
    assert.is(s.moveStep, -1);
    assert.ok(s.initialGripperX >= 0.3 && s.initialGripperX <= 0.7);
    assert.ok(s.initialCubeX >= 0.12 && s.initialCubeX <= 0.4);
  }
});

test('splits: vision has unseen table/background colours, stripes and pixel noise (pose and cube as id)', () => {
  const vs = states('vision');
  for (const s of vs) {
    assert.not.ok(within(s.backgroundColor, ID_BG, 12), `background ${s.backgroundColor} is unseen`);
    assert.not.ok(within(s.tableColor, ID_TABLE, 12), `table ${s.tableColor} is unseen`);
    assert.ok(within(s.cubeColor, ID_CUBE, 15));
    assert.ok(s.stripes > 0 && s.pixelNoise > 0);
    assert.is(s.distractor, null);
  }
  // pixel noise: the same scene rendered at two steps differs in the static background
  const env = new PickPlaceEnv({ numEnvs: 1, split: 'vision' });
  env.reset([0]);
  const f0 = env.frames.slice(0, 64 * 3);
  env.step(Float32Array.of(0, 0, -1));
  assert.ok(Buffer.compare(f0, env.frames.slice(0, 64 * 3)) !== 0);
});

test('splits: semantic has an unseen cube colour and size and a visible distractor', () => {
  const ss = states('semantic');
  for (const s of ss) {
    assert.not.ok(within(s.cubeColor, ID_CUBE, 15), `cube ${s.cubeColor} is unseen`);
    assert.ok(s.cubeSize < 0.08 || s.cubeSize > 0.12, `cube size ${s.cubeSize} is unseen`);
    assert.ok(s.distractor !== null);
    assert.ok(within(s.backgroundColor, ID_BG, 12));
  }
  assert.ok(ss.some((s) => s.cubeSize < 0.08) && ss.some((s) => s.cubeSize > 0.12), 'smaller and larger cubes');
  // the distractor is drawn: its colour appears at its centre
  const S = 64;
  const env = new PickPlaceEnv({ numEnvs: 1, split: 'semantic', imageSize: S });
  env.reset([3]);
  const st = env.inspect(0);
  const d = st.distractor!;
  const x = Math.floor(d.x * S);
  const y = Math.floor(0.78 * S - d.radius * S);
  const i = (y * S + x) * 3;
  assert.equal(Array.from(env.frames.subarray(i, i + 3)), d.color);
});

test('splits: execution has wider initial poses and moves the cube once mid-episode', () => {
  const es = states('execution', 1000);
  const ids0 = states('id', 1000);
  const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);
  assert.ok(spread(es.map((s) => s.initialGripperX)) > spread(ids0.map((s) => s.initialGripperX)) + 0.3);
  assert.ok(spread(es.map((s) => s.initialGripperZ)) > spread(ids0.map((s) => s.initialGripperZ)) + 0.2);
  assert.ok(spread(es.map((s) => s.initialCubeX)) > spread(ids0.map((s) => s.initialCubeX)) + 0.05);
  for (const s of es.slice(0, 200)) {
    assert.ok(s.moveStep >= 8 && s.moveStep <= 16);
    assert.ok(s.moveX !== null && Math.abs(s.moveX - s.initialCubeX) >= 0.05);
  }
  // the move happens exactly at moveStep, once, with no action touching the cube
  const h = single(21, 'execution');
  const st0 = h.s();
  for (let t = 1; t <= 30; t++) {
    h.act(0, 0.2, -1);
    const st = h.s();
    if (t < st0.moveStep) assert.is(st.cubeX, st0.initialCubeX);
    else assert.is(st.cubeX, st0.moveX!);
    assert.is(st.moved, t >= st0.moveStep);
  }
  // a held cube is knocked out of the gripper: find initial states where the
  // grasp completes before the move (the search is deterministic)
  let checked = 0;
  for (let id = 0; id < 200 && checked < 3; id++) {
    const g = single(id, 'execution');
    const held = graspCube(g);
    if (!held.holding || held.moved) continue;
    g.act(0, 1, 1);
    while (g.env.t[0] < held.moveStep) {
      assert.ok(g.s().holding);
      g.act(0, 1, 1);
    }
    const st = g.s();
    assert.not.ok(st.holding, `id ${id}: released by the move`);
    assert.is(st.cubeX, held.moveX!);
    assert.is(st.cubeZ, 0);
    checked++;
  }
  assert.is(checked, 3, 'three held-cube moves checked');
});

// ------------------------------------------------------------ expert

test('expert: succeeds in most id episodes at low noise; random actions almost never succeed', () => {
  const N = 200;
  for (const [split, min] of [['id', 0.9], ['vision', 0.85], ['semantic', 0.8], ['execution', 0.75]] as const) {
    const env = new PickPlaceEnv({ numEnvs: N, split, render: false });
    env.reset(ids(N));
    for (let t = 0; t < 80; t++) env.step(env.expertActions(0.05, 1));
    const rate = env.success.reduce((a, b) => a + b, 0) / N;
    assert.ok(rate >= min, `${split}: expert success ${rate} < ${min}`);
  }
  const M = 1000;
  const env = new PickPlaceEnv({ numEnvs: M, render: false });
  env.reset(ids(M));
  let s = 0x9e3779b9;
  const a = new Float32Array(M * 3);
  for (let t = 0; t < 80; t++) {
    for (let k = 0; k < a.length; k++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      a[k] = (s / 2 ** 32) * 2 - 1;
    }
    env.step(a);
  }
  const rate = env.success.reduce((x, y) => x + y, 0) / M;
  assert.ok(rate < 0.02, `random success ${rate}`);
});

test('expert: reproducible for a seed, different across seeds, zeros for finished envs', () => {
  const env = new PickPlaceEnv({ numEnvs: 16, render: false });
  env.reset(ids(16));
  const a = env.expertActions(0.2, 5);
  const b = env.expertActions(0.2, 5);
  const c = env.expertActions(0.2, 6);
  assert.equal(a, b);
  assert.not.equal(a, c);
  for (const v of a) assert.ok(v >= -1 && v <= 1);
  const out = new Float32Array(48);
  assert.is(env.expertActions(0, 1, out), out);
  const short = new PickPlaceEnv({ numEnvs: 2, render: false, horizon: 3 });
  short.reset([0, 1]);
  for (let t = 0; t < 3; t++) short.step(short.expertActions(0, 1));
  assert.equal(Array.from(short.truncated), [1, 1]);
  assert.equal(Array.from(short.expertActions(0.5, 1)), [0, 0, 0, 0, 0, 0]);
});

// ------------------------------------------------------------ dense progress and task variants

const CARRY_Z = 0.035 + 0.1; // documented: the rim height + 0.1, the expert's carrying height of the cube's bottom

/** The dense true progress as docs/sim.md defines it, from a snapshot and the stage. */
function progressRef(st: PickPlaceEnvState, stage: number): number {
  const s = st.cubeSize; const h = s / 2;
  const clamp = (v: number) => Math.max(0, Math.min(1, v));
  const graspZ = (cz: number) => cz + Math.max(Math.min(0.3 * s, 0.55 * s), s - FINGER_LEN + 0.01);
  const toTray = (x: number) => Math.max(0, Math.abs(x - st.goalX) - (st.goalWidth / 2 - h));
  let f: number;
  if (stage === 4) return 1;
  if (stage === 0) {
    const d0 = Math.hypot(st.initialGripperX - st.initialCubeX, st.initialGripperZ - graspZ(0));
    f = clamp(1 - Math.hypot(st.gripperX - st.cubeX, st.gripperZ - graspZ(st.cubeZ)) / d0);
  } else if (stage === 1) {
    const contact = (s - GAP_MIN) / (GAP_MAX - GAP_MIN);
    f = clamp((1 - st.opening) / (1 - contact));
  } else if (stage === 2) {
    f = clamp(1 - (toTray(st.cubeX) + Math.max(0, CARRY_Z - st.cubeZ)) / (toTray(st.initialCubeX) + CARRY_Z));
  } else {
    f = st.holding ? 0.5 * clamp(1 - st.cubeZ / CARRY_Z) : 0.5 + 0.5 * clamp(st.opening);
  }
  return (stage + f) / 4;
}

test('progress: matches the documented formula at every step of noisy expert episodes, through every stage', () => {
  const N = 48;
  for (const task of ['pick-place', 'slip', 'knock'] as const) {
    const env = new PickPlaceEnv({ numEnvs: N, horizon: 90, render: false, task });
    env.reset(ids(N, 100));
    const seen = new Set<number>();
    for (let t = 0; t < 90; t++) {
      for (let i = 0; i < N; i++) {
        const want = progressRef(env.inspect(i), env.stage[i]);
        assert.ok(Math.abs(env.progress[i] - want) < 2e-5, `${task} env ${i} t ${t} stage ${env.stage[i]}: ${env.progress[i]} vs ${want}`);
        seen.add(env.stage[i]);
      }
      env.step(env.expertActions(0.4, 3));
    }
    assert.equal([...seen].sort(), [0, 1, 2, 3, 4], `${task}: every stage visited`);
  }
});

test('progress: 0 at every initial state, 1 once placed, never decreasing along clean expert episodes', () => {
  const N = 100;
  const env = new PickPlaceEnv({ numEnvs: N, horizon: 120, render: false });
  env.reset(ids(N));
  for (let i = 0; i < N; i++) assert.is(env.progress[i], 0);
  const prev = Float32Array.from(env.progress);
  for (let t = 0; t < 120; t++) {
    env.step(env.expertActions(0, 1));
    for (let i = 0; i < N; i++) {
      assert.ok(env.progress[i] >= prev[i] - 1e-6, `env ${i} t ${t}: ${prev[i]} → ${env.progress[i]}`);
      prev[i] = env.progress[i];
    }
  }
  for (let i = 0; i < N; i++) assert.is(env.success[i] ? env.progress[i] : 1, 1);
  assert.ok(env.success.every((v) => v === 1), 'the clean expert places every cube');
});

test("task 'slip': a high grip carried outside the tray drops the cube to the table, the same step for the same initial state; a low grip never slips", () => {
  const slipStep = (id: number) => {
    const h = single(id, 'id', false, 400, 'slip');
    const held = graspCube(h); // fingertips at 0.3 of the side: above 0.25, a high grip
    assert.ok(held.holding && held.gripperZ - held.cubeZ > 0.25 * held.cubeSize);
    h.moveTo(held.gripperX, held.gripperZ + 0.12, 1);
    for (let k = 0; k < 200; k++) {
      if (!h.s().holding) {
        const st = h.s();
        assert.is(st.cubeZ, 0, 'dropped straight to the table');
        assert.is(h.env.stage[0], 0);
        return h.env.t[0];
      }
      h.act(k % 2 ? 0.1 : -0.1, 0, 1); // carried back and forth outside the tray
    }
    return -1;
  };
  const a = slipStep(21);
  assert.ok(a > 0, 'slips (p = 0.1 per step) within 200 carried steps');
  assert.is(slipStep(21), a, 'the draw is a hash of (split, initial state, step)');
  // a low grip: fingertips at 0.2 of the side
  const h = single(21, 'id', false, 400, 'slip');
  const st0 = h.s();
  h.moveTo(st0.cubeX, st0.cubeSize + 0.05, -1);
  h.moveTo(st0.cubeX, 0.2 * st0.cubeSize, -1);
  for (let k = 0; k < 4; k++) h.act(0, 0, 1);
  assert.ok(h.s().holding);
  h.moveTo(st0.cubeX, 0.2 * st0.cubeSize + 0.12, 1);
  for (let k = 0; k < 200; k++) h.act(k % 2 ? 0.1 : -0.1, 0, 1);
  assert.ok(h.s().holding, 'a low grip never slips');
  // and the base task never slips
  const b = single(21, 'id', false, 400, 'pick-place');
  const heldB = graspCube(b);
  b.moveTo(heldB.gripperX, heldB.gripperZ + 0.12, 1);
  for (let k = 0; k < 200; k++) b.act(k % 2 ? 0.1 : -0.1, 0, 1);
  assert.ok(b.s().holding);
});

test("task 'knock': a cube carried low into the rim is knocked out of the opened fingers and lands 0.08–0.2 beyond the open finger", () => {
  for (const id of [17, 18, 19]) {
    const h = single(id, 'id', false, 200, 'knock');
    const held = graspCube(h);
    h.moveTo(held.gripperX, held.gripperZ + 0.01, 1); // cube bottom at 0.01, below the rim top
    let st = h.s();
    const rimLeft = st.goalX - st.goalWidth / 2 - RIM_W;
    for (let k = 0; k < 30 && st.holding; k++) { h.act(1, 0, 1); st = h.s(); }
    assert.not.ok(st.holding, 'knocked out');
    assert.is(st.opening, 1, 'the fingers spring open');
    // the cube touched the rim with the gripper centred on it; the open left finger's outer edge is GAP_MAX/2 + 0.025 left of that centre
    const fingerEdge = rimLeft - st.cubeSize / 2 - GAP_MAX / 2 - 0.025;
    const back = fingerEdge - (st.cubeX + st.cubeSize / 2);
    assert.ok(back >= 0.08 - 1e-5 && back <= 0.2 + 1e-5, `bounced back ${back} beyond the finger`);
    assert.ok(Math.abs(st.gripperX - (rimLeft - st.cubeSize / 2)) < 1e-5, 'the gripper stopped where the cube met the rim');
    for (let k = 0; k < 10; k++) h.act(0, 0, -1);
    assert.is(h.s().cubeZ, 0, 'lands on the table');
    assert.is(h.env.stage[0], 0);
    // lifted over the rim, the same carry passes (as in the base task)
    const g = single(id, 'id', false, 200, 'knock');
    const held2 = graspCube(g);
    g.moveTo(held2.gripperX, held2.gripperZ + 0.1, 1);
    g.moveTo(held2.goalX, g.s().gripperZ, 1);
    assert.ok(g.s().holding && Math.abs(g.s().cubeX - held2.goalX) < 1e-5);
  }
});

// ------------------------------------------------------------ bad input

test('bad input: options', () => {
  const bad: Array<[unknown, RegExp, typeof TypeError | typeof RangeError]> = [
    [{ numEnvs: 0 }, /opts\.numEnvs.*received the number 0/, RangeError],
    [{ numEnvs: -3 }, /opts\.numEnvs/, RangeError],
    [{ numEnvs: 1.5 }, /an integer for opts\.numEnvs/, TypeError],
    [{}, /opts\.numEnvs.*undefined/, TypeError],
    [{ numEnvs: 2, imageSize: -64 }, /opts\.imageSize.*-64/, RangeError],
    [{ numEnvs: 2, imageSize: 8 }, /\[16, 512\] for opts\.imageSize/, RangeError],
    [{ numEnvs: 2, horizon: 0 }, /opts\.horizon/, RangeError],
    [{ numEnvs: 2, split: 'train' }, /'id', 'vision', 'semantic' or 'execution' for opts\.split but received the string 'train'/, RangeError],
    [{ numEnvs: 2, split: 3 }, /opts\.split/, TypeError],
    [{ numEnvs: 2, render: 'yes' }, /a boolean for opts\.render/, TypeError],
    [{ numEnvs: 2, threads: -1 }, /opts\.threads/, RangeError],
    [{ numEnvs: 2, numEnv: 2 }, /one of numEnvs, split, imageSize, horizon, render, threads, task for a key of opts but received 'numEnv'/, TypeError],
    [{ numEnvs: 2, task: 'stack' }, /'pick-place', 'slip' or 'knock' for opts\.task but received the string 'stack'/, RangeError],
    [{ numEnvs: 2, task: 1 }, /opts\.task/, TypeError],
    [null, /an options object for opts but received null/, TypeError],
    [{ numEnvs: 1 << 20, imageSize: 512 }, /frame bytes/, RangeError],
  ];
  for (const [opts, re, kind] of bad) {
    assert.throws(() => new PickPlaceEnv(opts as never), (e: Error) => e instanceof kind && re.test(e.message), JSON.stringify(opts));
  }
  assert.throws(() => PickPlaceEnv.splitSize('ood' as never), (e: Error) => e instanceof RangeError && /for split but received the string 'ood'/.test(e.message));
  // the native class checks on its own too (unknown keys, ranges)
  const N = native().PickPlaceNative;
  assert.throws(() => new N({}, { numEnvs: 1, extra: 1 } as never), (e: Error) => e instanceof TypeError && /'extra'/.test(e.message));
  assert.throws(() => new N({}, { numEnvs: 0 } as never), (e: Error) => e instanceof RangeError && /opts\.numEnvs/.test(e.message));
});

test('bad input: reset, step, expertActions, inspect', () => {
  const env = new PickPlaceEnv({ numEnvs: 2, render: false });
  assert.throws(() => env.step(new Float32Array(6)), /call reset\(\) before step\(\)/);
  assert.throws(() => env.reset([0, -1]), (e: Error) => e instanceof RangeError && /initIds\[1\].*never reset/.test(e.message));
  assert.throws(() => env.reset([0]), (e: Error) => e instanceof RangeError && /initIds of length 2.*received 1/.test(e.message));
  assert.throws(() => env.reset([0, 1000]), (e: Error) => e instanceof RangeError && /initIds\[1\] but received 1000/.test(e.message));
  assert.throws(() => env.reset([0, 1.5]), (e: Error) => e instanceof TypeError && /initIds\[1\]/.test(e.message));
  assert.throws(() => env.reset(Int32Array.of(-7, 0)), (e: Error) => e instanceof RangeError && /initIds\[0\] but received -7/.test(e.message));
  assert.throws(() => env.reset(5 as never), (e: Error) => e instanceof TypeError && /initIds/.test(e.message));
  env.reset([0, 1]);
  assert.throws(() => env.step(new Float32Array(5)), (e: Error) => e instanceof RangeError && /actions of length 6.*received 5/.test(e.message));
  assert.throws(() => env.step(Float32Array.of(0, 0, 0, 0, NaN, 0)), (e: Error) => e instanceof RangeError && /NaN at index 4 \(env 1, component 1\)/.test(e.message));
  assert.throws(() => env.step(Float32Array.of(Infinity, 0, 0, 0, 0, 0)), /Infinity at index 0/);
  assert.throws(() => env.step(new Float64Array(6) as never), (e: Error) => e instanceof TypeError && /Float32Array.*Float64Array\(6\)/.test(e.message));
  assert.throws(() => env.step([0, 0, 0, 0, '1', 0] as never), (e: Error) => e instanceof TypeError && /actions\[4\]/.test(e.message));
  assert.is(env.t[0], 0, 'a rejected step changes nothing');
  env.step([0, 0, 0, 0, 0, 0]);
  assert.is(env.t[0], 1, 'plain arrays are accepted');
  assert.throws(() => env.expertActions(-0.1, 1), (e: Error) => e instanceof RangeError && /noise/.test(e.message));
  assert.throws(() => env.expertActions(NaN, 1), /noise/);
  assert.throws(() => env.expertActions(0.1, -1), (e: Error) => e instanceof RangeError && /seed/.test(e.message));
  assert.throws(() => env.expertActions(0.1, 1, new Float32Array(3)), (e: Error) => e instanceof RangeError && /out of length 6/.test(e.message));
  assert.throws(() => env.inspect(2), (e: Error) => e instanceof RangeError && /\[0, 1\] for i but received the number 2/.test(e.message));
  assert.throws(() => env.step(Float32Array.of(0, 0, 0, 0, -Infinity, 0)), /received -Infinity at index 4/);
});

test('bad input: arguments sharing memory with the env\'s outputs are refused (a call rewrites them)', () => {
  const env = new PickPlaceEnv({ numEnvs: 2, render: true, imageSize: 16 });
  env.reset([0, 1]);
  const before = { proprio: Float32Array.from(env.proprio), t: Int32Array.from(env.t) };
  for (const actions of [env.proprio.subarray(0, 6), env.proprio.subarray(2, 8)]) {
    assert.throws(() => env.step(actions), (e: Error) => e instanceof RangeError && /Expected actions not to overlap env\.proprio/.test(e.message), `proprio[${actions.byteOffset / 4}…]`);
  }
  assert.throws(() => env.step(new Float32Array(env.frames.buffer, 0, 6)), (e: Error) => e instanceof RangeError && /actions not to overlap env\.frames/.test(e.message));
  assert.throws(() => env.expertActions(0, 1, env.proprio.subarray(0, 6)), (e: Error) => e instanceof RangeError && /out not to overlap env\.proprio/.test(e.message));
  assert.throws(() => env.reset(env.t), (e: Error) => e instanceof RangeError && /initIds not to overlap env\.t\b/.test(e.message));
  assert.throws(() => env.reset(env.stage), (e: Error) => e instanceof RangeError && /initIds not to overlap env\.stage/.test(e.message));
  assert.equal(Array.from(env.proprio), Array.from(before.proprio), 'refused calls change nothing');
  assert.equal(Array.from(env.t), Array.from(before.t));
  // the same values copied out are fine
  env.step(env.proprio.slice(0, 6).map(() => 0.5));
  assert.is(env.t[0], 1);
});

test('actions in a SharedArrayBuffer written by another thread: what is checked is what is used (copied, then checked)', async () => {
  const { Worker } = await import('node:worker_threads');
  const N = 2048;
  const env = new PickPlaceEnv({ numEnvs: N, render: false, threads: 1, horizon: 1 << 20 });
  env.reset(Int32Array.from({ length: N }, (_, i) => i % 1000));
  const sab = new SharedArrayBuffer(N * 3 * 4);
  const actions = new Float32Array(sab).fill(0.25);
  const stop = new Int32Array(new SharedArrayBuffer(4));
  // another thread flips the last env's dx between NaN (about 20 µs) and a finite value (about 80 µs)
  const w = new Worker(`
    const { workerData } = require('node:worker_threads');
    const a = new Float32Array(workerData.sab); const stop = new Int32Array(workerData.stop);
    const k = a.length - 3;
    const spin = (us) => { const t = process.hrtime.bigint() + BigInt(us * 1000); while (process.hrtime.bigint() < t); };
    Atomics.store(stop, 0, 2);
    while (Atomics.load(stop, 0) !== 1) { a[k] = NaN; spin(20); a[k] = -0.25; spin(80); }
  `, { eval: true, workerData: { sab, stop: stop.buffer } });
  try {
    while (Atomics.load(stop, 0) !== 2) await new Promise((r) => setTimeout(r, 5));
    let accepted = 0; let refused = 0;
    // (a loaded machine can park the other thread while it holds NaN: many tries, stop at 150 accepted)
    for (let k = 0; k < 4000 && accepted < 150; k++) {
      try {
        env.step(actions);
        accepted++;
      } catch (e) {
        assert.ok(e instanceof RangeError && /NaN at index/.test((e as Error).message), (e as Error).message);
        refused++;
      }
      const x = env.proprio[(N - 1) * 4];
      assert.ok(Number.isFinite(x), `after ${accepted} accepted and ${refused} refused steps the last env's gripper x is ${x}`);
    }
    assert.ok(accepted > 0, `some steps went through (${accepted} accepted, ${refused} refused)`);
  } finally {
    Atomics.store(stop, 0, 1);
    await w.terminate();
  }
});

test.run();
