// A scripted teleoperator for the built-in pick-and-place task: the noisy
// scripted expert (PickPlaceEnv.expertActions) with the irregular pace of a
// human demonstration — idle pauses, hesitant slow approaches, a planned drop
// followed by a regrasp, and a careless low carry into the tray's rim. Its
// demonstrations are where time-to-go and true progress come apart, which is
// what Feat2Go's visual progress targets are for.
import { checkInt, checkNumber, checkOptions, typeError } from '../core/validate.js';
import { mulberry32, type Random } from '../core/random.js';

/** Rates of {@link VariablePaceDemonstrator} (probabilities per episode or per step; all optional). */
export interface VariablePaceOptions {
  /** Standard deviation of the Gaussian action noise of the expert (default 0.2). */
  noise?: number;
  /** Probability per episode of a slow approach: dx, dz scaled by U[slowMin, 1] while not holding (default 0.5). */
  slowApproach?: number;
  /** Smallest speed scale of a slow approach (default 0.25). */
  slowMin?: number;
  /** Probability per episode of a planned drop while carrying (default 0.5). */
  drop?: number;
  /** Probability per step, once a planned drop is due, that the fingers open (default 0.35). */
  dropRate?: number;
  /** Distance beyond half the tray's width within which no planned drop happens (default 0.06). */
  dropMargin?: number;
  /** Steps of the pause after a drop, drawn uniformly from [min, max] (default [2, 8]). */
  dropPause?: readonly [number, number];
  /** Most idle pauses per episode (default 3). */
  pauses?: number;
  /** Probability per step that an idle pause starts (default 0.04). */
  pauseRate?: number;
  /** Longest idle pause in steps; a pause lasts U{0, …, pauseMax} steps (default 19). */
  pauseMax?: number;
  /** Probability per episode of a careless low carry: the cube carried toward the tray below the rims' top (default 0.25). */
  lowCarry?: number;
}

const KNOWN = {
  noise: 1, slowApproach: 1, slowMin: 1, drop: 1, dropRate: 1, dropMargin: 1, dropPause: 1, pauses: 1, pauseRate: 1, pauseMax: 1, lowCarry: 1,
} as const;

/** The default rates, frozen (the experiment's demonstrations). */
export const VARIABLE_PACE_DEFAULTS: Readonly<Required<VariablePaceOptions>> = Object.freeze({
  noise: 0.2, slowApproach: 0.5, slowMin: 0.25, drop: 0.5, dropRate: 0.35, dropMargin: 0.06, dropPause: Object.freeze([2, 8]) as readonly [number, number],
  pauses: 3, pauseRate: 0.04, pauseMax: 19, lowCarry: 0.25,
});

/** What the demonstrator drives: a batch of pick-and-place environments (the built-in `PickPlaceEnv`'s interface). */
export interface TeleopEnv {
  readonly numEnvs: number;
  /** `[N, 4]`: gripper x, fingertip z, opening, holding (0/1). */
  readonly proprio: Float32Array;
  readonly terminated: Uint8Array;
  readonly truncated: Uint8Array;
  expertActions(noise: number, seed: number, out?: Float32Array): Float32Array;
  inspect(i: number): { goalX: number; goalWidth: number; cubeZ: number; gripperZ: number };
}

const RIM_H = 0.035;
const MAX_STEP = 0.04;

/** Resolves and checks rates; throws TypeError/RangeError naming the option. */
export function resolveVariablePaceOptions(opts?: VariablePaceOptions): Required<VariablePaceOptions> {
  const o = checkOptions(opts, 'opts', KNOWN);
  const p = (v: number | undefined, name: keyof VariablePaceOptions, lo = 0, hi = 1) =>
    v === undefined ? (VARIABLE_PACE_DEFAULTS[name] as number) : checkNumber(v, `opts.${name}`, lo, hi);
  const dropPause = o.dropPause ?? VARIABLE_PACE_DEFAULTS.dropPause;
  if (!Array.isArray(dropPause) || dropPause.length !== 2) throw typeError('opts.dropPause', 'an array [min, max] of two integers', dropPause);
  const dpMin = checkInt(dropPause[0], 'opts.dropPause[0]', 0, 1000);
  const dpMax = checkInt(dropPause[1], 'opts.dropPause[1]', dpMin, 1000);
  return {
    noise: p(o.noise, 'noise', 0, 10), slowApproach: p(o.slowApproach, 'slowApproach'), slowMin: p(o.slowMin, 'slowMin'),
    drop: p(o.drop, 'drop'), dropRate: p(o.dropRate, 'dropRate'), dropMargin: p(o.dropMargin, 'dropMargin', 0, 1), dropPause: [dpMin, dpMax],
    pauses: o.pauses === undefined ? VARIABLE_PACE_DEFAULTS.pauses : checkInt(o.pauses, 'opts.pauses', 0, 1000),
    pauseRate: p(o.pauseRate, 'pauseRate'),
    pauseMax: o.pauseMax === undefined ? VARIABLE_PACE_DEFAULTS.pauseMax : checkInt(o.pauseMax, 'opts.pauseMax', 0, 10000),
    lowCarry: p(o.lowCarry, 'lowCarry'),
  };
}

/** Per-episode plan and state of one environment. */
interface Plan {
  rnd: Random;
  speed: number;
  dropPlanned: boolean; dropped: boolean;
  lowPlanned: boolean; lowDone: boolean; lowStuck: number; lastX: number;
  pauseLeft: number; pausesUsed: number;
  goalX: number; goalWidth: number;
}

/**
 * A scripted teleoperator over a batch of pick-and-place environments. Per
 * episode it draws its plan (a slow approach, a planned drop, a low carry),
 * and per step it returns the noisy expert's action, changed by the plan:
 * - a **slow approach** scales dx and dz by a speed in [slowMin, 1] while the
 *   cube is not held;
 * - **idle pauses** (at most `pauses`, each starting with probability
 *   `pauseRate` per step, U{0…pauseMax} steps long) stand still, the fingers
 *   keeping the clean expert's grip;
 * - a **planned drop** opens the fingers once, with probability `dropRate` per
 *   step while the cube is carried more than half the tray's width plus
 *   `dropMargin` from the tray's centre; a pause of `dropPause` steps follows,
 *   then the expert regrasps;
 * - a **low carry** moves a just-grasped cube straight toward the tray with its
 *   bottom 0.01 above the table, until the rim stops it (the base task) or
 *   knocks it out of the fingers (the `'knock'` task); then the expert takes
 *   over again.
 * Deterministic for a seed: the plan comes from mulberry32(seed, env index),
 * the expert's noise from `expertActions(noise, seed)`.
 *
 * @example
 * const env = new PickPlaceEnv({ numEnvs: 16, horizon: 160 });
 * env.reset(ids);
 * const demo = new VariablePaceDemonstrator(env, 7);
 * for (let t = 0; t < env.horizon; t++) env.step(demo.act());
 */
export class VariablePaceDemonstrator {
  /** The resolved rates. */
  readonly options: Readonly<Required<VariablePaceOptions>>;
  readonly #env: TeleopEnv;
  readonly #seed: number;
  readonly #plans: Plan[];
  readonly #clean: Float32Array;
  readonly #noisy: Float32Array;

  /**
   * Plans a new episode for every env: call right after `env.reset`.
   * @param seed integer ≥ 0 (the plans and the expert's noise)
   * @throws {TypeError|RangeError} for a bad env, seed or rate, naming it
   */
  constructor(env: TeleopEnv, seed: number, opts?: VariablePaceOptions) {
    if (env === null || typeof env !== 'object' || typeof env.expertActions !== 'function' || typeof env.inspect !== 'function') {
      throw typeError('env', 'a PickPlaceEnv (numEnvs, proprio, expertActions, inspect)', env);
    }
    this.#seed = checkInt(seed, 'seed', 0, 2 ** 31 - 1);
    this.options = Object.freeze(resolveVariablePaceOptions(opts));
    this.#env = env;
    this.#clean = new Float32Array(env.numEnvs * 3);
    this.#noisy = new Float32Array(env.numEnvs * 3);
    this.#plans = Array.from({ length: env.numEnvs }, (_, i) => this.#plan(i));
  }

  #plan(i: number): Plan {
    const o = this.options;
    const rnd = mulberry32(Math.imul(this.#seed + 1, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b));
    const slow = rnd() < o.slowApproach;
    const speed = slow ? o.slowMin + rnd() * (1 - o.slowMin) : 1;
    const dropPlanned = rnd() < o.drop;
    const lowPlanned = rnd() < o.lowCarry;
    const g = this.#env.inspect(i);
    return {
      rnd, speed, dropPlanned, dropped: false, lowPlanned, lowDone: false, lowStuck: 0, lastX: NaN,
      pauseLeft: 0, pausesUsed: 0, goalX: g.goalX, goalWidth: g.goalWidth,
    };
  }

  /** The actions `[N, 3]` for the current state (zeros for finished envs); call once per step. */
  act(): Float32Array {
    const env = this.#env; const o = this.options; const N = env.numEnvs;
    env.expertActions(0, this.#seed, this.#clean);
    const a = env.expertActions(o.noise, this.#seed, this.#noisy);
    const out = new Float32Array(N * 3);
    for (let i = 0; i < N; i++) {
      if (env.terminated[i] || env.truncated[i]) continue;
      const p = this.#plans[i];
      const gx = env.proprio[i * 4]; const holding = env.proprio[i * 4 + 3] > 0.5;
      let dx = a[i * 3]; let dz = a[i * 3 + 1]; let grip = a[i * 3 + 2];
      const pause = () => { dx = 0; dz = 0; grip = this.#clean[i * 3 + 2] > 0 ? 1 : -1; };
      if (p.pauseLeft === 0 && p.pausesUsed < o.pauses && p.rnd() < o.pauseRate) {
        p.pauseLeft = Math.floor(p.rnd() * (o.pauseMax + 1));
        p.pausesUsed++;
      }
      const far = Math.abs(gx - p.goalX) > p.goalWidth / 2 + o.dropMargin;
      if (p.pauseLeft > 0) {
        p.pauseLeft--;
        pause();
      } else if (holding && p.dropPlanned && !p.dropped && far && !(p.lowPlanned && !p.lowDone) && p.rnd() < o.dropRate) {
        p.dropped = true;
        dx = 0; dz = 0; grip = -1;
        p.pauseLeft = o.dropPause[0] + Math.floor(p.rnd() * (o.dropPause[1] - o.dropPause[0] + 1));
      } else if (holding && p.lowPlanned && !p.lowDone) {
        // carry low, straight toward the tray, until the rim stops or knocks the cube
        const st = env.inspect(i);
        const target = st.gripperZ - st.cubeZ + 0.01;
        dz = Math.max(-1, Math.min(1, (target - st.gripperZ) / MAX_STEP));
        dx = p.goalX > gx ? 1 : -1;
        grip = 1;
        if (st.cubeZ < RIM_H && Math.abs(gx - p.lastX) < 1e-6) p.lowStuck++;
        if (p.lowStuck >= 2) p.lowDone = true;
        p.lastX = gx;
      } else if (!holding) {
        if (p.lowPlanned && p.lastX === p.lastX) p.lowDone = true; // the low carry ended (knocked or released)
        dx *= p.speed; dz *= p.speed;
      }
      out[i * 3] = dx; out[i * 3 + 1] = dz; out[i * 3 + 2] = grip;
    }
    return out;
  }
}
