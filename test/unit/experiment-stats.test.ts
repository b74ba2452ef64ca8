// The experiment's statistics: Spearman rank correlation and the t-based 95 % CI, on hand-worked cases.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { meanCi, pairedDifference, spearman } from '../../src/index.js';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} ≠ ${b}`);

test('spearman: monotone maps give ±1, whatever the spacing', () => {
  close(spearman([1, 2, 3, 4], [10, 20, 30, 1000]), 1);
  close(spearman([1, 2, 3, 4], [0.9, 0.5, 0.2, -7]), -1);
});

test('spearman: hand-worked case with ties (average ranks)', () => {
  // x ranks: [1, 2.5, 2.5, 4]; y ranks: [2, 1, 3, 4]; centred: [-1.5, 0, 0, 1.5] and [-0.5, -1.5, 0.5, 1.5]
  // Σab = 0.75 + 0 + 0 + 2.25 = 3; Σa² = 4.5; Σb² = 5 → 3 / √22.5
  close(spearman([0.1, 0.5, 0.5, 0.9], [2, 1, 3, 4]), 3 / Math.sqrt(22.5));
});

test('spearman: undefined cases are NaN; length mismatch throws', () => {
  assert.ok(Number.isNaN(spearman([1], [2])));
  assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])));
  assert.throws(() => spearman([1, 2], [1]), RangeError);
});

test('meanCi: t quantile times the standard error; no interval from one value', () => {
  const r = meanCi([0.2, 0.4]);
  close(r.mean, 0.3);
  // s = 0.1414…, t(0.975, 1) = 12.706 → 12.706 · 0.1414 / √2 = 1.2706
  close(r.ci!, 1.2706, 1e-9);
  const r3 = meanCi([0, 0.5, 1]);
  close(r3.ci!, 4.303 * 0.5 / Math.sqrt(3));
  assert.is(meanCi([0.7]).ci, null);
  assert.is(meanCi([0.7]).n, 1);
});

test('pairedDifference: hand-worked mean, t-interval and wins/losses; no interval below minN pairs', () => {
  // d = [0.1, 0, −0.1]: mean 0, s = 0.1, t(0.975, 2) = 4.303 → half-width 4.303 · 0.1 / √3
  const r = pairedDifference([0.5, 0.6, 0.4], [0.4, 0.6, 0.5]);
  close(r.mean, 0);
  close(r.ciHigh!, 4.303 * 0.1 / Math.sqrt(3));
  close(r.ciLow!, -4.303 * 0.1 / Math.sqrt(3));
  assert.equal([r.n, r.wins, r.losses], [3, 1, 1]);
  // d = [0.2, 0.1, 0.3, 0.2, 0.2]: mean 0.2, s = √(0.02/4), t(4) = 2.776
  const q = pairedDifference([0.5, 0.4, 0.6, 0.5, 0.3], [0.3, 0.3, 0.3, 0.3, 0.1], 5);
  close(q.mean, 0.2);
  close(q.ciLow!, 0.2 - 2.776 * Math.sqrt(0.005) / Math.sqrt(5));
  assert.equal([q.wins, q.losses], [5, 0]);
  const few = pairedDifference([0.5, 0.4], [0.3, 0.2], 5);
  assert.is(few.ciLow, null);
  assert.is(few.ciHigh, null);
  close(few.mean, 0.2);
  assert.throws(() => pairedDifference([1, 2], [1]), RangeError);
  assert.throws(() => pairedDifference([1, 2], [1, 2], 1), RangeError);
});

test.run();
