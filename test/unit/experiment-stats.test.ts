// The experiment's statistics: Spearman rank correlation and the t-based 95 % CI, on hand-worked cases.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { meanCi, spearman } from '../../src/index.js';

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

test.run();
