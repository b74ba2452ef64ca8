// A small TypeScript stand-in with the PickPlaceEnv interface (gripper, cube,
// goal zone; stages reach → grasp → lift → over goal → placed), for running
// the experiment pipeline's tests quickly. Not the built-in task.
type Split = 'id' | 'vision' | 'semantic' | 'execution';

function hash(a: number, b: number): number {
  let h = (Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return ((h ^ (h >>> 15)) >>> 0) / 4294967296;
}

export class FakePickPlaceEnv {
  static readonly numStages = 5;
  static splitSize(_s: Split): number { return 1000; }
  readonly numEnvs: number; readonly imageSize: number; readonly horizon: number;
  readonly actionDim = 3; readonly proprioDim = 4;
  readonly frames: Uint8Array; readonly proprio: Float32Array; readonly reward: Float32Array;
  readonly terminated: Uint8Array; readonly truncated: Uint8Array; readonly success: Uint8Array;
  readonly stage: Int32Array; readonly t: Int32Array;
  private readonly split: Split;
  private s: Float32Array; // per env: gx, gy, open(1)/closed(0), holding, cx, cy, goal, init
  constructor(o: { numEnvs: number; split?: Split; imageSize?: number; horizon?: number; render?: boolean; threads?: number }) {
    this.numEnvs = o.numEnvs; this.imageSize = o.imageSize ?? 64; this.horizon = o.horizon ?? 80; this.split = o.split ?? 'id';
    const N = this.numEnvs;
    this.frames = new Uint8Array(N * this.imageSize * this.imageSize * 3);
    this.proprio = new Float32Array(N * 4); this.reward = new Float32Array(N);
    this.terminated = new Uint8Array(N); this.truncated = new Uint8Array(N); this.success = new Uint8Array(N);
    this.stage = new Int32Array(N); this.t = new Int32Array(N);
    this.s = new Float32Array(N * 8);
  }
  reset(ids: ArrayLike<number>): void {
    const wide = this.split === 'execution' ? 1.6 : 1;
    for (let i = 0; i < this.numEnvs; i++) {
      const id = ids[i];
      const s = this.s.subarray(i * 8, i * 8 + 8);
      s[0] = 0.5 + (hash(id, 1) - 0.5) * 0.3 * wide; s[1] = 0.6 + (hash(id, 2) - 0.5) * 0.2;
      s[2] = 1; s[3] = 0; s[4] = 0.25 + (hash(id, 3) - 0.5) * 0.15 * wide; s[5] = 0; s[6] = 0.75 + (hash(id, 4) - 0.5) * 0.1; s[7] = id;
      this.t[i] = 0; this.terminated[i] = 0; this.truncated[i] = 0; this.success[i] = 0; this.reward[i] = 0;
      this.stageOf(i); this.render(i);
    }
  }
  private stageOf(i: number): void {
    const s = this.s.subarray(i * 8, i * 8 + 8);
    const near = Math.abs(s[0] - s[4]) < 0.05 && Math.abs(s[1] - s[5]) < 0.06;
    const overGoal = Math.abs(s[4] - s[6]) < 0.07;
    let st = near ? 1 : 0;
    if (s[3]) st = s[5] > 0.08 ? (overGoal ? 3 : 2) : 1;
    if (!s[3] && s[5] === 0 && overGoal && s[2] === 1) st = 4;
    this.stage[i] = st;
  }
  step(a: Float32Array): void {
    for (let i = 0; i < this.numEnvs; i++) {
      if (this.terminated[i] || this.truncated[i]) { this.reward[i] = 0; continue; }
      const s = this.s.subarray(i * 8, i * 8 + 8);
      const dx = Math.max(-1, Math.min(1, a[i * 3])), dy = Math.max(-1, Math.min(1, a[i * 3 + 1]));
      s[0] = Math.max(0, Math.min(1, s[0] + 0.04 * dx)); s[1] = Math.max(0, Math.min(1, s[1] + 0.04 * dy));
      const close = a[i * 3 + 2] > 0;
      if (close && s[2] === 1 && Math.abs(s[0] - s[4]) < 0.05 && Math.abs(s[1] - s[5]) < 0.06) s[3] = 1;
      s[2] = close ? 0 : 1;
      if (!close) s[3] = 0;
      if (s[3]) { s[4] = s[0]; s[5] = s[1]; } else s[5] = 0;
      if (this.split === 'execution' && this.t[i] === 20 && !s[3]) s[4] = Math.max(0.05, s[4] - 0.08);
      this.t[i]++;
      this.stageOf(i);
      const ok = this.stage[i] === 4;
      this.success[i] = ok ? 1 : 0; this.terminated[i] = ok ? 1 : 0; this.reward[i] = ok ? 1 : 0;
      if (!ok && this.t[i] >= this.horizon) this.truncated[i] = 1;
      this.render(i);
    }
  }
  private render(i: number): void {
    const S = this.imageSize; const s = this.s.subarray(i * 8, i * 8 + 8);
    const f = this.frames.subarray(i * S * S * 3, (i + 1) * S * S * 3);
    const bg = this.split === 'vision' ? [60, 90, 60] : [200, 200, 210];
    const cube = this.split === 'semantic' ? [40, 160, 40] : [200, 40, 40];
    const px = (x: number) => Math.round(x * (S - 1));
    const py = (y: number) => Math.round((1 - (0.15 + y * 0.8)) * (S - 1));
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
      const o = (y * S + x) * 3;
      const c = y > py(0) ? [120, 90, 60] : bg;
      f[o] = c[0]; f[o + 1] = c[1]; f[o + 2] = c[2];
    }
    const box = (x0: number, y0: number, x1: number, y1: number, c: number[]) => {
      for (let y = Math.max(0, y0); y <= Math.min(S - 1, y1); y++) for (let x = Math.max(0, x0); x <= Math.min(S - 1, x1); x++) {
        const o = (y * S + x) * 3; f[o] = c[0]; f[o + 1] = c[1]; f[o + 2] = c[2];
      }
    };
    box(px(s[6] - 0.07), py(0) + 1, px(s[6] + 0.07), py(0) + 3, [40, 40, 200]);
    box(px(s[4]) - 3, py(s[5]) - 6, px(s[4]) + 3, py(s[5]), cube);
    const w = s[2] ? 5 : 3;
    box(px(s[0]) - w - 1, py(s[1]) - 8, px(s[0]) - w, py(s[1]), [30, 30, 30]);
    box(px(s[0]) + w, py(s[1]) - 8, px(s[0]) + w + 1, py(s[1]), [30, 30, 30]);
    box(px(s[0]) - w - 1, py(s[1]) - 10, px(s[0]) + w + 1, py(s[1]) - 9, [30, 30, 30]);
    this.proprio[i * 4] = s[0]; this.proprio[i * 4 + 1] = s[1]; this.proprio[i * 4 + 2] = s[2]; this.proprio[i * 4 + 3] = s[3];
  }
  expertActions(noise: number, seed: number): Float32Array {
    const out = new Float32Array(this.numEnvs * 3);
    for (let i = 0; i < this.numEnvs; i++) {
      const s = this.s.subarray(i * 8, i * 8 + 8);
      let tx: number, ty: number, grip: number;
      if (!s[3]) {
        if (s[5] === 0 && Math.abs(s[4] - s[6]) < 0.05) { tx = s[0]; ty = 0.5; grip = -1; } // placed: open and move up
        else if (Math.abs(s[0] - s[4]) < 0.03 && Math.abs(s[1] - s[5]) < 0.04) { tx = s[0]; ty = s[1]; grip = 1; }
        else { tx = s[4]; ty = Math.abs(s[0] - s[4]) < 0.03 ? s[5] : 0.3; grip = -1; }
      } else if (Math.abs(s[0] - s[6]) > 0.03) { tx = s[6]; ty = 0.3; grip = 1; } else if (s[1] > 0.02) { tx = s[6]; ty = 0; grip = 1; } else { tx = s[0]; ty = s[1]; grip = -1; }
      const n = (k: number) => noise * (hash(seed * 7919 + i, this.t[i] * 3 + k + 13 * s[7]) * 2 - 1) * 1.7;
      out[i * 3] = Math.max(-1, Math.min(1, (tx - s[0]) / 0.04)) + n(0);
      out[i * 3 + 1] = Math.max(-1, Math.min(1, (ty - s[1]) / 0.04)) + n(1);
      out[i * 3 + 2] = grip + n(2);
    }
    return out;
  }
}
