// The built-in pick-and-place task (native/kernels/pickplace.cc): N
// environments stepped in one call, each rendering its side-view RGB frame
// into one [N, H, W, 3] buffer. This file validates arguments and exposes the
// native buffers in place; all dynamics and drawing are native.
import { native } from '../core/native.js';
import type { NativePickPlace } from '../core/native-types.js';
import { checkInt, checkNumber, rangeError, typeError } from '../core/validate.js';

/**
 * Evaluation split of the pick-and-place task. Each is a fixed, seeded set of
 * {@link PickPlaceEnv.splitSize} initial states:
 * - `'id'`: training conditions;
 * - `'vision'`: unseen table and background colours, texture stripes, pixel noise;
 * - `'semantic'`: an unseen cube colour and size, a distractor ball on the table;
 * - `'execution'`: wider initial poses, and the cube moved once mid-episode
 *   (out of the gripper if it is held).
 */
export type PickPlaceSplit = 'id' | 'vision' | 'semantic' | 'execution';

/** Every split, in the order of the paper's table (in-distribution first). */
export const PICK_PLACE_SPLITS: readonly PickPlaceSplit[] = Object.freeze(['id', 'vision', 'semantic', 'execution']);

/**
 * Names of the true task stages, indexed by {@link PickPlaceEnv.stage}:
 * 0 reach (the cube is not between the fingers), 1 grasp (the cube is between
 * the open fingers at grasping height), 2 carry (the cube is held), 3 over goal
 * (held above the tray, or released into it and not yet at rest with the
 * gripper open), 4 placed (success).
 */
export const PICK_PLACE_STAGES = Object.freeze(['reach', 'grasp', 'carry', 'over-goal', 'placed'] as const);

/**
 * Task variant of the pick-and-place scene (same splits and appearance,
 * different carry physics):
 * - `'pick-place'`: the base task; a held cube carried into a tray rim is stopped by it;
 * - `'slip'`: a lifted cube carried outside the tray slips out of the fingers
 *   with probability 0.1 per step when the fingertips grip it above 0.25 of its
 *   side (a low grip avoids it) and falls to the table;
 * - `'knock'`: a held cube carried into a tray rim below the rim's top is
 *   knocked out of the fingers (they spring open) and bounces back, landing
 *   0.08–0.2 beyond the outer edge of the open finger on its side, instead of
 *   being stopped.
 * The random draws of `'slip'` and `'knock'` are a hash of (split, initial
 * state, step), so every policy run from the same initial states meets the same draws.
 */
export type PickPlaceTask = 'pick-place' | 'slip' | 'knock';

/** Every task variant, the base task first. */
export const PICK_PLACE_TASKS: readonly PickPlaceTask[] = Object.freeze(['pick-place', 'slip', 'knock']);

/** Options of {@link PickPlaceEnv}. */
export interface PickPlaceOptions {
  /** Number of environments stepped in one call (≥ 1). */
  numEnvs: number;
  /** Split the initial states and appearance come from (default `'id'`). */
  split?: PickPlaceSplit;
  /** Side of the square RGB frames in pixels, 16 to 512 (default 64). */
  imageSize?: number;
  /** Steps before an episode is truncated (default 80). */
  horizon?: number;
  /** Render frames on reset and step (default true); without it `frames` is empty. */
  render?: boolean;
  /** Pool threads used per call (default 0: all). Results do not depend on it. */
  threads?: number;
  /** Task variant (default `'pick-place'`), see {@link PickPlaceTask}. */
  task?: PickPlaceTask;
}

/** A snapshot of one environment (world units: x in [0, 1], z up from the table top). */
export interface PickPlaceEnvState {
  /** Index of the initial state this env was last reset to. */
  initId: number;
  /** Centre x of the gripper (between the fingers). */
  gripperX: number;
  /** Height of the fingertips above the table. */
  gripperZ: number;
  /** 1 = fully open, 0 = fully closed. */
  opening: number;
  /** Whether the fingers hold the cube. */
  holding: boolean;
  /** Centre x of the cube's bottom face. */
  cubeX: number;
  /** Height of the cube's bottom face (0 = resting on the table). */
  cubeZ: number;
  /** Vertical speed of a falling cube (per step). */
  cubeVz: number;
  /** Side of the (square) cube. */
  cubeSize: number;
  /** Centre of the goal tray and the inner width between its rims. */
  goalX: number;
  goalWidth: number;
  /** Base RGB colours of this initial state (the wall darkens towards the table; stripes and noise come on top). */
  backgroundColor: [number, number, number];
  tableColor: [number, number, number];
  cubeColor: [number, number, number];
  /** Stripe period in pixels at 64 px (0: plain). */
  stripes: number;
  /** Amplitude of the uniform pixel noise in grey levels (0: none). */
  pixelNoise: number;
  /** The distractor ball of the semantic split, else null. */
  distractor: { x: number; radius: number; color: [number, number, number] } | null;
  /** Step after which the cube is moved (execution split), else -1. */
  moveStep: number;
  /** Where it is moved to (execution split), else null. */
  moveX: number | null;
  /** Whether the move has happened in this episode. */
  moved: boolean;
  /** The initial state's gripper and cube positions. */
  initialGripperX: number;
  initialGripperZ: number;
  initialCubeX: number;
}

const OPTION_KEYS = ['numEnvs', 'split', 'imageSize', 'horizon', 'render', 'threads', 'task'];

function checkTask(v: unknown, name: string): PickPlaceTask {
  if (typeof v !== 'string') throw typeError(name, "'pick-place', 'slip' or 'knock'", v);
  if (!(PICK_PLACE_TASKS as readonly string[]).includes(v)) throw rangeError(name, "'pick-place', 'slip' or 'knock'", v);
  return v as PickPlaceTask;
}

function checkSplit(v: unknown, name: string): PickPlaceSplit {
  if (typeof v !== 'string') throw typeError(name, "'id', 'vision', 'semantic' or 'execution'", v);
  if (!(PICK_PLACE_SPLITS as readonly string[]).includes(v)) {
    throw rangeError(name, "'id', 'vision', 'semantic' or 'execution'", v);
  }
  return v as PickPlaceSplit;
}

/**
 * The built-in pick-and-place task, batched: a two-finger gripper seen from
 * the side must grasp a cube, carry it over the rim of a goal tray and let go.
 *
 * Actions are `[dx, dz, grip]` per env: `dx`, `dz` in [-1, 1] (clipped) move
 * the gripper by up to 0.04 of the scene width per step; `grip > 0` closes the
 * fingers, otherwise they open (0.25 of the full opening per step). Fingers
 * closing around the cube at grasping height hold it; a held cube follows the
 * gripper; opening releases it and it falls under gravity. The fingers push a
 * free cube sideways; the tray's rims stop a cube sliding on the table, so the
 * cube must be lifted in. Success (reward 1, `terminated`): the cube rests on
 * the tray floor between the rims and the gripper is fully open. An episode is
 * truncated after `horizon` steps. A finished env stays frozen (reward 0)
 * until it is reset.
 *
 * Observation: `frames` (RGB, side view) and `proprio` = [gripper x, gripper z,
 * opening, holding flag]. `stage` (see {@link PICK_PLACE_STAGES}) is the
 * simulator's ground truth for evaluation; a policy must not see it.
 *
 * All buffers are views of native memory, rewritten in place by every
 * `reset`/`step`: copy what must outlive the next call. Deterministic for a
 * given split, initial-state ids and actions, whatever the thread count.
 *
 * @example
 * const env = new PickPlaceEnv({ numEnvs: 8, split: 'id' });
 * env.reset(Int32Array.from({ length: 8 }, (_, i) => i));
 * while (!env.terminated.every((d, i) => d || env.truncated[i])) env.step(env.expertActions(0.05, 1));
 */
export class PickPlaceEnv {
  /** Number of true task stages (reach, grasp, carry, over goal, placed). */
  static readonly numStages: number = 5;
  /** Names of the stages by index. */
  static readonly stageNames = PICK_PLACE_STAGES;

  /** Environments stepped per call. */
  readonly numEnvs: number;
  /** Side of the square frames in pixels. */
  readonly imageSize: number;
  /** Steps before truncation. */
  readonly horizon: number;
  /** The split the initial states come from. */
  readonly split: PickPlaceSplit;
  /** The task variant. */
  readonly task: PickPlaceTask;
  /** Whether frames are rendered. */
  readonly render: boolean;
  /** Length of one action: [dx, dz, grip]. */
  readonly actionDim = 3 as const;
  /** Length of one proprioceptive vector: [gripper x, gripper z, opening, holding (0/1)]. */
  readonly proprioDim: number = 4;
  /** Latest frames `[N, H, W, 3]` RGB (empty when render is false). */
  readonly frames: Uint8Array;
  /** Latest proprioception `[N, proprioDim]`. */
  readonly proprio: Float32Array;
  /** Reward of the last step `[N]`: 1 on the step that succeeds, else 0. */
  readonly reward: Float32Array;
  /** 1 once the episode succeeded `[N]`. */
  readonly terminated: Uint8Array;
  /** 1 once the horizon was reached without success `[N]`. */
  readonly truncated: Uint8Array;
  /** 1 once the cube was placed `[N]` (equal to terminated). */
  readonly success: Uint8Array;
  /** True current stage index `[N]` (evaluation only). */
  readonly stage: Int32Array;
  /** Highest stage reached in the episode `[N]` (evaluation only). */
  readonly maxStage: Int32Array;
  /**
   * Dense true progress in [0, 1] `[N]` (evaluation and oracle controls only):
   * `(k + f) / 4` for the current stage k < 4 and the fraction f done within it —
   * reach: `1 − d/d₀`, d the distance from the fingertips to the grasp pose over
   * the cube (d₀ in the initial state); grasp: how far the fingers have closed
   * toward contact; carry: `1 − e/e₀`, e the distance from the cube to lying
   * wholly over the tray at carrying height (e₀ in the initial state); over
   * goal: half for lowering the held cube, then the opening once released.
   * 1 once placed; a dropped cube is back in reach.
   */
  readonly progress: Float32Array;
  /** Steps taken in the current episode `[N]`. */
  readonly t: Int32Array;

  readonly #native: NativePickPlace;
  #actions: Float32Array;

  /**
   * @throws {TypeError} for a non-object, an unknown key or a value of the wrong type
   * @throws {RangeError} for numEnvs < 1, an imageSize outside [16, 512], horizon < 1, an unknown split
   */
  constructor(opts: PickPlaceOptions) {
    if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw typeError('opts', 'an options object', opts);
    for (const k of Object.keys(opts)) {
      if (!OPTION_KEYS.includes(k)) throw new TypeError(`Expected one of ${OPTION_KEYS.join(', ')} for a key of opts but received '${k}'`);
    }
    this.numEnvs = checkInt(opts.numEnvs, 'opts.numEnvs', 1, 1 << 20);
    this.split = opts.split === undefined ? 'id' : checkSplit(opts.split, 'opts.split');
    this.imageSize = opts.imageSize === undefined ? 64 : checkInt(opts.imageSize, 'opts.imageSize', 16, 512);
    this.horizon = opts.horizon === undefined ? 80 : checkInt(opts.horizon, 'opts.horizon', 1, 1 << 20);
    if (opts.render !== undefined && typeof opts.render !== 'boolean') throw typeError('opts.render', 'a boolean', opts.render);
    this.render = opts.render ?? true;
    const threads = opts.threads === undefined ? 0 : checkInt(opts.threads, 'opts.threads', 0, 4096);
    this.task = opts.task === undefined ? 'pick-place' : checkTask(opts.task, 'opts.task');
    const n = native();
    this.#native = new n.PickPlaceNative({}, Object.freeze({
      numEnvs: this.numEnvs, split: this.split, imageSize: this.imageSize, horizon: this.horizon, render: this.render, threads, task: this.task,
    }));
    const v = this.#native.views();
    this.frames = v.frames;
    this.proprio = v.proprio;
    this.reward = v.reward;
    this.terminated = v.terminated;
    this.truncated = v.truncated;
    this.success = v.success;
    this.stage = v.stage;
    this.maxStage = v.maxStage;
    this.t = v.t;
    this.progress = v.progress;
    this.#actions = new Float32Array(this.numEnvs * 3);
  }

  /**
   * Number of fixed initial states in a split (ids 0 … splitSize − 1).
   * @throws {RangeError} for an unknown split
   */
  static splitSize(split: PickPlaceSplit): number {
    checkSplit(split, 'split');
    return native().pickPlaceConstants.splitSize;
  }

  /**
   * Resets env i to initial state `initIds[i]` of the split's fixed, seeded set
   * (and renders its first frame). `-1` leaves env i as it is (for resetting
   * only finished envs).
   * @throws {RangeError} when initIds does not hold numEnvs ids, an id is outside [0, splitSize) (−1 allowed once
   *   reset), or initIds shares memory with one of the env's outputs (`t`, `stage`, …; they are copied, then checked)
   */
  reset(initIds: ArrayLike<number>): void {
    if (initIds === null || typeof initIds !== 'object' || typeof (initIds as ArrayLike<number>).length !== 'number') {
      throw typeError('initIds', `an array of ${this.numEnvs} integers`, initIds);
    }
    if (initIds.length !== this.numEnvs) {
      throw new RangeError(`Expected initIds of length ${this.numEnvs} (numEnvs) but received ${initIds.length}`);
    }
    let ids: Int32Array;
    if (initIds instanceof Int32Array) {
      ids = initIds;
    } else {
      ids = new Int32Array(this.numEnvs);
      for (let i = 0; i < this.numEnvs; i++) {
        const x = initIds[i];
        if (typeof x !== 'number' || !Number.isInteger(x)) throw typeError(`initIds[${i}]`, 'an integer', x);
        if (x < -1 || x > 2 ** 31 - 1) throw rangeError(`initIds[${i}]`, 'an integer in [0, 999] (or -1 to keep)', x);
        ids[i] = x;
      }
    }
    this.#native.reset({ initIds: ids }, {});
  }

  /**
   * Steps every env with `actions` `[N, 3]` (row i: [dx, dz, grip] of env i)
   * and renders the new frames. Envs that are done stay frozen with reward 0.
   * The actions are copied before they are checked, so what is checked is what
   * is used (also for a SharedArrayBuffer another thread writes meanwhile).
   * @throws {TypeError} when actions is not a Float32Array or number array
   * @throws {RangeError} for a wrong length or a non-finite value (naming env and component), or
   *   actions sharing memory with one of the env's outputs (`proprio`, `frames`, …)
   * @throws {Error} when an env was never reset
   */
  step(actions: Float32Array | ArrayLike<number>): void {
    let a: Float32Array;
    if (actions instanceof Float32Array) {
      a = actions;
    } else if (Array.isArray(actions)) {
      if (actions.length !== this.numEnvs * 3) {
        throw new RangeError(`Expected actions of length ${this.numEnvs * 3} ([numEnvs, 3]) but received ${actions.length}`);
      }
      a = this.#actions;
      for (let k = 0; k < a.length; k++) {
        if (typeof actions[k] !== 'number') throw typeError(`actions[${k}]`, 'a number', actions[k]);
        a[k] = actions[k];
      }
    } else {
      throw typeError('actions', `a Float32Array of ${this.numEnvs * 3} values ([numEnvs, 3])`, actions);
    }
    this.#native.step({ actions: a }, {});
  }

  /**
   * The scripted expert's action for every env, from the current state, with
   * Gaussian noise of standard deviation `noise` added to each component
   * (then clipped to [-1, 1]). The noise is a function of (seed, env index,
   * step), so demonstrations are reproducible. Done envs get zeros.
   *
   * @param out optional `[N, 3]` buffer to write into (a new array otherwise); not one sharing memory with the env's outputs
   * @throws {RangeError} for a negative or non-finite noise, a seed that is not a safe integer ≥ 0, or an `out` sharing memory with the env's outputs
   */
  expertActions(noise: number, seed: number, out?: Float32Array): Float32Array {
    checkNumber(noise, 'noise', 0);
    checkInt(seed, 'seed', 0);
    const dst = out ?? new Float32Array(this.numEnvs * 3);
    if (!(dst instanceof Float32Array)) throw typeError('out', 'a Float32Array', out);
    if (dst.length !== this.numEnvs * 3) throw new RangeError(`Expected out of length ${this.numEnvs * 3} ([numEnvs, 3]) but received ${dst.length}`);
    this.#native.expert({}, { noise, seed }, { actions: dst });
    return dst;
  }

  /**
   * A snapshot of env `i`: positions, appearance of its initial state, and
   * the execution split's scheduled move (for tests, analysis and plots).
   * @throws {RangeError} for i outside [0, numEnvs)
   */
  inspect(i: number): PickPlaceEnvState {
    checkInt(i, 'i', 0, this.numEnvs - 1);
    return this.#native.inspect({}, { env: i }) as PickPlaceEnvState;
  }
}
