// Scoring stage boundaries against physical events (bench/real.ts): hit rates
// within ±tolerance frames, the evenly spaced and random baselines with the
// same number of boundaries, and whether V(t) rises (within a tolerance).

/** The events of one episode (frame indices; reach is null where the episode starts at the object). */
export interface EpisodeEvents {
  length: number;
  reach: number | null;
  grasp: number;
  lift: number;
}

export const EVENT_NAMES = ['reach', 'grasp', 'lift'] as const;
export type EventName = typeof EVENT_NAMES[number];

/** Whether some boundary lies within ±tol frames of `event`. */
export function lands(boundaries: readonly number[], event: number, tol: number): boolean {
  return boundaries.some((b) => Math.abs(b - event) <= tol);
}

/** `n` boundaries spaced evenly over T frames: round(k·T/(n+1)) for k = 1..n. */
export function evenBoundaries(T: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => Math.round(((k + 1) * T) / (n + 1)));
}

/** ln C(a, b). */
function lnChoose(a: number, b: number): number {
  if (b < 0 || b > a) return -Infinity;
  let s = 0;
  for (let i = 0; i < b; i++) s += Math.log(a - i) - Math.log(b - i);
  return s;
}

/**
 * Probability that at least one of `n` distinct boundaries drawn uniformly from
 * frames 1…T−1 lands within ±tol of `event`: 1 − C(T−1−m, n) / C(T−1, n), m the
 * number of frames of 1…T−1 within reach. This is the exact expectation of the
 * hit rate over random draws (what averaging infinitely many draws converges to).
 */
export function randomHitProbability(T: number, n: number, event: number, tol: number): number {
  if (n <= 0) return 0;
  const lo = Math.max(1, event - tol), hi = Math.min(T - 1, event + tol);
  const m = Math.max(0, hi - lo + 1);
  const pool = T - 1;
  if (n >= pool) return m > 0 ? 1 : 0;
  return 1 - Math.exp(lnChoose(pool - m, n) - lnChoose(pool, n));
}

/** V rises within `tol`: V(t) ≥ max_{s ≤ t} V(s) − tol for every t. */
export function monotoneWithin(values: ArrayLike<number>, tol: number): boolean {
  let best = -Infinity;
  for (let t = 0; t < values.length; t++) {
    best = Math.max(best, values[t]);
    if (values[t] < best - tol - 1e-9) return false;
  }
  return true;
}

/** One episode's labelling, as scored. */
export interface Labelled {
  events: EpisodeEvents;
  /** Segment starts except the first. */
  boundaries: number[];
  values: ArrayLike<number>;
}

/** Shares over the episodes that have the event, in [0, 1]. */
export interface EventScore { hit: number; random: number; even: number; episodes: number }

export interface SettingScore {
  episodes: number;
  medianStages: number;
  singleStage: number;
  monotone: number;
  events: Record<EventName, EventScore>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Scores a set of labelled episodes: hits within ±tol, both baselines, stages, monotone V within `monoTol`. */
export function score(eps: readonly Labelled[], tol = 15, monoTol = 0.05): SettingScore {
  const events = {} as Record<EventName, EventScore>;
  for (const name of EVENT_NAMES) {
    let n = 0, hit = 0, rnd = 0, even = 0;
    for (const e of eps) {
      const at = e.events[name];
      if (at === null) continue;
      const T = e.events.length, nb = e.boundaries.length;
      n++;
      hit += lands(e.boundaries, at, tol) ? 1 : 0;
      even += lands(evenBoundaries(T, nb), at, tol) ? 1 : 0;
      rnd += randomHitProbability(T, nb, at, tol);
    }
    events[name] = { hit: hit / n, random: rnd / n, even: even / n, episodes: n };
  }
  return {
    episodes: eps.length,
    medianStages: median(eps.map((e) => e.boundaries.length + 1)),
    singleStage: eps.filter((e) => e.boundaries.length === 0).length,
    monotone: eps.filter((e) => monotoneWithin(e.values, monoTol)).length / eps.length,
    events,
  };
}
