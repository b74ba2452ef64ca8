// `feat2go view` driven in a real browser (Debian's chromium through
// playwright-core) on labelled fixture episodes whose frames encode their own
// index: the table, stage bands placed where `segments` says, seeking by
// clicking and dragging on the chart, the keys, the readout against
// values.npy, a video episode seeking to the right frame (which needs HTTP
// Range), the compare and experiment views, refused traversal, no console
// errors, and a screenshot in test/output/view/ for a person to look at.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BrowserContext, Page } from 'playwright-core';
import { startViewServer, type ViewServer } from '../../src/index.js';
import { decodeIndex, hasFfmpeg, lerobotFixture, makeViewFixture, readF32Npy, type ViewFixture } from '../helpers/view-fixture.js';
import { testIf } from '../helpers/skip.js';
import { packageRoot } from '../helpers/cli.js';

const CHROMIUM = process.env.FEAT2GO_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
const browserTest = testIf(hasChromium, `no chromium at ${CHROMIUM} (apt-get install chromium, as scripts/setup-debian.sh does; or set FEAT2GO_CHROMIUM)`);
const videoTest = testIf(hasChromium && hasFfmpeg, hasChromium ? 'ffmpeg (with libx264) is not installed: no video fixture' : `no chromium at ${CHROMIUM}`);
const lerobotTest = testIf(hasChromium && lerobotFixture.ok, hasChromium ? lerobotFixture.reason : `no chromium at ${CHROMIUM}`);
/** Flags without which chromium hangs on a closed network (component updates, background fetches). */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--mute-audio'];
export const OUTPUT = path.join(packageRoot, 'test', 'output', 'view');

let f: ViewFixture;
let server: ViewServer;
let browser: BrowserContext;
let page: Page;
let userDataDir = '';
const consoleProblems: string[] = [];

test.before(async () => {
  if (!hasChromium) return;
  try {
    await setup();
  } catch (err) {
    console.error('view.test.ts setup failed:', err);
    throw err;
  }
});

async function setup(): Promise<void> {
  const { chromium } = await import('playwright-core');
  f = await makeViewFixture();
  server = await startViewServer(f.labels, { port: 0 });
  userDataDir = fs.mkdtempSync(path.join(f.root, 'chromium-'));
  // A fresh profile folder each run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, args: FLAGS, timeout: 30_000, viewport: { width: 1280, height: 860 }, colorScheme: 'light',
  });
  page = browser.pages()[0] ?? await browser.newPage();
  page.setDefaultTimeout(10_000);
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') consoleProblems.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => consoleProblems.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => { if (!r.url().includes('/video')) consoleProblems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`); });
}

test.after(async () => {
  await browser?.close();
  await server?.close();
  if (f) fs.rmSync(f.root, { recursive: true, force: true });
});

/** values.npy of an episode, parsed here. */
const valuesOf = (name: string) => readF32Npy(path.join(f.labels, name, 'values.npy'));
const segmentsOf = (name: string): Array<{ start: number; end: number }> => JSON.parse(fs.readFileSync(path.join(f.labels, name, 'segments.json'), 'utf8'));

/** Opens an episode at step t: by changing the hash when the page is loaded (no reload), as a click on a link does. */
async function openEpisode(name: string, t = 0): Promise<void> {
  const hash = `#/episode/${encodeURIComponent(name)}?t=${t}`;
  if (page.url().startsWith(server.url)) {
    await page.evaluate((h) => { if (location.hash === h) location.hash = '#/'; location.hash = h; }, hash);
  } else {
    await page.goto(`${server.url}${hash}`);
  }
  try {
    // 30 s, not the page's 10: a clean CI machine once took longer than 10 s here (cause not found); a real hang still fails
    await page.waitForFunction((n) => document.querySelector('#episode-name')?.textContent === n && document.querySelector('main[data-ready] svg.episode-chart .plot-area'), name, { timeout: 30_000 });
  } catch (err) {
    // What the page showed instead, so a failure here says where it stopped.
    const seen = await page.evaluate(() => ({
      url: location.href, name: document.querySelector('#episode-name')?.textContent ?? null,
      ready: document.querySelector('main')?.dataset.ready ?? null, message: document.querySelector('.frame-msg')?.textContent ?? null,
      pending: performance.getEntriesByType('resource').filter((e) => (e as PerformanceResourceTiming).responseEnd === 0).map((e) => e.name),
    })).catch((e: unknown) => String(e));
    throw new Error(`episode ${name} did not open: ${(err as Error).message}; the page: ${JSON.stringify(seen)}; console: ${JSON.stringify(consoleProblems)}`);
  }
}

/** The plot area's box in page coordinates. */
async function plotBox() {
  const box = await page.locator('svg.episode-chart .plot-area').boundingBox();
  assert.ok(box, 'plot area');
  return box!;
}

/** Page coordinates of step k's cell centre on the chart. */
async function stepPoint(k: number, T: number) {
  const b = await plotBox();
  return { x: b.x + ((k + 0.5) / T) * b.width, y: b.y + b.height / 2 };
}

/** Waits until the canvas shows frame k, then reads the index its pixels encode. */
async function shownCanvasIndex(k: number): Promise<number> {
  await page.waitForFunction((want) => document.querySelector<HTMLCanvasElement>('#frame')?.dataset.frame === String(want), k);
  const px = await page.evaluate(() => {
    // Copied onto a canvas of our own: the page's canvas is never read back.
    const shown = document.querySelector<HTMLCanvasElement>('#frame')!;
    const c = document.createElement('canvas');
    c.width = shown.width;
    c.height = shown.height;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(shown, 0, 0);
    return { w: c.width, h: c.height, data: Array.from(ctx.getImageData(0, 0, c.width, c.height).data) };
  });
  return decodeIndex(px.data, 4, px.w, px.h);
}

/** Waits until the <video> has seeked to frame k, then returns its picture as RGBA. */
async function shownVideoPixels(k: number): Promise<{ w: number; h: number; data: number[] }> {
  await page.waitForFunction((want) => {
    const v = document.querySelector<HTMLVideoElement>('#frame-video');
    return v?.dataset.frame === String(want) && !v.seeking && v.readyState >= 2;
  }, k);
  return page.evaluate(() => {
    const v = document.querySelector<HTMLVideoElement>('#frame-video')!;
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(v, 0, 0);
    return { w: c.width, h: c.height, data: Array.from(ctx.getImageData(0, 0, c.width, c.height).data) };
  });
}

/** Waits until the <video> has seeked to frame k, then reads the index from its picture. */
async function shownVideoIndex(k: number): Promise<number> {
  await page.waitForFunction((want) => {
    const v = document.querySelector<HTMLVideoElement>('#frame-video');
    return v?.dataset.frame === String(want) && !v.seeking && v.readyState >= 2;
  }, k);
  const px = await page.evaluate(() => {
    const v = document.querySelector<HTMLVideoElement>('#frame-video')!;
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    const ctx = c.getContext('2d')!;
    ctx.drawImage(v, 0, 0);
    return { w: c.width, h: c.height, data: Array.from(ctx.getImageData(0, 0, c.width, c.height).data) };
  });
  return decodeIndex(px.data, 4, px.w, px.h);
}

async function readout(field: string): Promise<{ text: string; value: string | undefined }> {
  return page.evaluate((fl) => {
    const dd = document.querySelector<HTMLElement>(`#readout dd[data-field=${fl}]`)!;
    return { text: dd.textContent ?? '', value: dd.dataset.value };
  }, field);
}

browserTest('the table lists every episode; sorting by steps and filtering by name work', async () => {
  await page.goto(server.url);
  await page.waitForSelector('#episode-table tbody tr');
  const summary = JSON.parse(fs.readFileSync(path.join(f.labels, 'summary.json'), 'utf8'));
  const rows = () => page.$$eval('#episode-table tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.name));
  assert.equal(await rows(), summary.episodes.map((e: any) => e.episode));
  await page.click('#episode-table th[data-key=frames]');
  const bySteps = [...summary.episodes].sort((a: any, b: any) => b.frames - a.frames || (a.episode < b.episode ? -1 : 1)).map((e: any) => e.episode);
  assert.equal(await rows(), bySteps, 'steps, longest first');
  await page.fill('#filter-text', 'npy');
  assert.equal(await rows(), ['ep_npy']);
  await page.fill('#filter-text', '');
  await page.fill('#filter-frames-min', '31');
  assert.equal((await rows()).sort(), summary.episodes.filter((e: any) => e.frames >= 31).map((e: any) => e.episode).sort());
  await page.fill('#filter-frames-min', '');
  assert.match(await page.textContent('.count') ?? '', new RegExp(`${summary.episodes.length} of ${summary.episodes.length} episodes`));
});

browserTest('episode view: the stage bands span exactly the steps of segments.json, labelled in order', async () => {
  const name = f.episodes.npy;
  const T = valuesOf(name).length;
  const segs = segmentsOf(name);
  await openEpisode(name);
  const b = await plotBox();
  const bands = await page.$$eval('svg.episode-chart rect.band', (rs) => rs.map((r) => {
    const bb = r.getBoundingClientRect();
    return { left: bb.left + window.scrollX, right: bb.right + window.scrollX, start: Number(r.getAttribute('data-start')), end: Number(r.getAttribute('data-end')) };
  }));
  assert.is(bands.length, segs.length);
  segs.forEach((s, k) => {
    const left = b.x + (s.start / T) * b.width;
    const right = b.x + ((s.end + 1) / T) * b.width;
    assert.ok(Math.abs(bands[k].left - left) < 0.6, `band ${k} left ${bands[k].left} vs ${left}`);
    assert.ok(Math.abs(bands[k].right - right) < 0.6, `band ${k} right ${bands[k].right} vs ${right}`);
    assert.equal([bands[k].start, bands[k].end], [s.start, s.end]);
  });
  const labels = await page.$$eval('svg.episode-chart .band-label', (ts) => ts.map((t) => t.textContent));
  assert.equal(labels, segs.map((_, k) => labels[k]?.includes('stage') ? `stage ${k + 1}` : String(k + 1)));
});

browserTest('clicking at step k shows frame k and reads out values[k]; ← → move one step, Shift ten', async () => {
  const name = f.episodes.npy;
  const values = valuesOf(name);
  const T = values.length;
  await openEpisode(name);
  const k = 17;
  const p = await stepPoint(k, T);
  await page.mouse.click(p.x, p.y);
  assert.is(await shownCanvasIndex(k), k, 'the pixels of the frame shown encode k');
  const v = await readout('value');
  assert.is(v.value, String(values[k]));
  assert.is(v.text, values[k].toFixed(4));
  assert.is((await readout('t')).value, String(k));
  await page.keyboard.press('ArrowRight');
  assert.is(await shownCanvasIndex(k + 1), k + 1);
  assert.is((await readout('value')).value, String(values[k + 1]));
  await page.keyboard.press('Shift+ArrowRight');
  assert.is(await shownCanvasIndex(k + 11), k + 11);
  await page.keyboard.press('ArrowLeft');
  assert.is(await shownCanvasIndex(k + 10), k + 10);
  const segs = segmentsOf(name);
  const stage = segs.findIndex((s) => k + 10 >= s.start && k + 10 <= s.end);
  assert.is((await readout('stage')).value, String(stage));
  assert.is((await readout('similarity')).value, String(readF32Npy(path.join(f.labels, name, 'similarity.npy'))[k + 10]));
  assert.is((await readout('stepsToGo')).value, String(Math.fround((k + 10) / (T - 1))));
  await page.keyboard.press('End');
  assert.is(await shownCanvasIndex(T - 1), T - 1);
  await page.keyboard.press('Home');
  assert.is(await shownCanvasIndex(0), 0);
});

browserTest('dragging on the chart seeks continuously; the URL keeps the step', async () => {
  const name = f.episodes.npy;
  const T = valuesOf(name).length;
  await openEpisode(name);
  const a = await stepPoint(5, T);
  const b = await stepPoint(30, T);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  assert.is(await shownCanvasIndex(5), 5);
  await page.mouse.move(b.x, b.y, { steps: 8 });
  await page.mouse.up();
  assert.is(await shownCanvasIndex(30), 30);
  await page.waitForFunction(() => location.hash.endsWith('?t=30'));
});

browserTest('Space plays and pauses; ↓ ↑ walk the table\'s order of episodes', async () => {
  const name = f.episodes.npy;
  await openEpisode(name, 2);
  await page.keyboard.press('Space');
  await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#readout dd[data-field=t]')!.dataset.value) >= 5);
  await page.keyboard.press('Space');
  const stopped = (await readout('t')).value;
  await page.waitForTimeout(400);
  assert.is((await readout('t')).value, stopped, 'paused');
  assert.match(await page.textContent('#play') ?? '', /Play/);
  await page.goto(server.url);
  await page.waitForSelector('#episode-table tbody tr');
  const order = await page.$$eval('#episode-table tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.name!));
  await page.click(`#episode-table tr[data-name="${order[0]}"] a`);
  await page.waitForSelector('main[data-ready]');
  await page.keyboard.press('ArrowDown');
  await page.waitForFunction((n) => document.querySelector('#episode-name')?.textContent === n && document.querySelector('main[data-ready]'), order[1]);
  await page.keyboard.press('ArrowUp');
  await page.waitForFunction((n) => document.querySelector('#episode-name')?.textContent === n && document.querySelector('main[data-ready]'), order[0]);
});

browserTest('an image-folder episode shows its PNG frames', async () => {
  const name = f.episodes.images;
  const T = valuesOf(name).length;
  await openEpisode(name);
  const p = await stepPoint(23, T);
  await page.mouse.click(p.x, p.y);
  assert.is(await shownCanvasIndex(23), 23);
  assert.is((await readout('value')).value, String(valuesOf(name)[23]));
});

videoTest('a video episode: the <video> seeks to the frame clicked and stepped to (HTTP Range)', async () => {
  const name = f.episodes.video!;
  const values = valuesOf(name);
  const T = values.length;
  await openEpisode(name);
  await page.waitForFunction(() => document.querySelector<HTMLVideoElement>('#frame-video')!.readyState >= 1);
  for (const k of [20, 7, 31]) {
    const p = await stepPoint(k, T);
    await page.mouse.click(p.x, p.y);
    assert.is(await shownVideoIndex(k), k, `video frame ${k}`);
    assert.is((await readout('value')).value, String(values[k]));
  }
  await page.keyboard.press('ArrowRight');
  assert.is(await shownVideoIndex(32), 32);
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  assert.is(await shownVideoIndex(30), 30);
  // Playing: the playhead follows the video; paused, the picture is the step's frame.
  await page.keyboard.press('Home');
  assert.is(await shownVideoIndex(0), 0);
  await page.keyboard.press('Space');
  await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#readout dd[data-field=t]')!.dataset.value) >= 6);
  await page.keyboard.press('Space');
  const t = Number((await readout('t')).value);
  assert.is(await shownVideoIndex(t), t, 'paused on the frame of the step shown');
});

lerobotTest('a LeRobot episode whose frames share a video file with another: the <video> shows this episode\'s frame k; playing stops at its end', async () => {
  const lr = f.lerobot!;
  const rgb = (px: { data: number[] }) => Uint8Array.from(px.data.filter((_, i) => i % 4 !== 3));
  const check = async (i: number, k: number) => {
    const px = await shownVideoPixels(k);
    assert.equal(lr.decode(rgb(px), px.w, px.h), { episode: i, frame: k }, `${lr.episodes[i]} frame ${k}`);
  };
  // The second episode starts 1.2 s into the file.
  const T1 = valuesOf(lr.episodes[1]).length;
  await openEpisode(lr.episodes[1]);
  await page.waitForFunction(() => document.querySelector<HTMLVideoElement>('#frame-video')!.readyState >= 1);
  assert.match(await page.textContent('#ep-info') ?? '', /put the cube in the bowl/);
  await check(1, 0);
  const p = await stepPoint(13, T1);
  await page.mouse.click(p.x, p.y);
  await check(1, 13);
  await page.keyboard.press('ArrowRight');
  await check(1, 14);
  // The first episode plays up to its last frame and stops there, not in the second's frames.
  const T0 = valuesOf(lr.episodes[0]).length;
  await openEpisode(lr.episodes[0], T0 - 3);
  await check(0, T0 - 3);
  await page.keyboard.press('Space');
  await page.waitForFunction(() => document.querySelector('#play')?.textContent?.includes('Play'), undefined, { timeout: 10_000 });
  assert.is(Number((await readout('t')).value), T0 - 1);
  await check(0, T0 - 1);
});

browserTest('compare view: the selected episodes\' V(t) on normalised time, each from 0 to the plot\'s right edge', async () => {
  await page.goto(server.url);
  await page.waitForSelector('#episode-table tbody tr');
  const pick = [f.episodes.images, f.episodes.npy];
  for (const n of pick) await page.check(`#episode-table tr[data-name="${n}"] input[type=checkbox]`);
  await page.click('#compare-selected');
  await page.waitForSelector('#compare-chart svg polyline[data-series]');
  const series = await page.$$eval('#compare-chart polyline[data-series]', (ps) => ps.map((p) => ({ name: p.getAttribute('data-series'), n: p.getAttribute('points')!.trim().split(' ').length })));
  assert.equal(series.map((s) => s.name), pick);
  assert.equal(series.map((s) => s.n), pick.map((n) => valuesOf(n).length));
  const rows = await page.$$eval('#compare-readout tbody tr', (trs) => trs.length);
  assert.is(rows, 2);
});

browserTest('experiment tab: the success table, training curves per algorithm, value curves, contact sheets', async () => {
  await page.goto(`${server.url}#/experiment`);
  await page.waitForSelector('main[data-ready] #results-table');
  const results = JSON.parse(fs.readFileSync(path.join(f.labels, 'experiment', 'results.json'), 'utf8'));
  const methods = await page.$$eval('#results-table tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
  assert.equal(methods, results.rows.map((r: any) => r.method));
  const first = await page.$$eval('#results-table tbody tr:nth-child(2) td', (tds) => tds.map((t) => t.textContent));
  assert.is(first[1], `${(results.rows[1].success.id * 100).toFixed(1)} ± ${(results.rows[1].ci.id * 100).toFixed(1)}`);
  const panels = await page.$$eval('.experiment-view figure.panel figcaption', (c) => c.map((x) => x.textContent));
  assert.ok(panels.includes('PPO') && panels.some((p) => p?.startsWith('GRPO')), panels.join('|'));
  assert.is(panels.filter((p) => p?.startsWith('held-out episode')).length, 3);
  assert.is(await page.$$eval('figure.sheet img', (imgs) => imgs.length), 4);
});

browserTest('path traversal from the browser is refused with 404', async () => {
  // In a page of its own: the 404s it provokes are not the viewer's console errors.
  const other = await browser.newPage();
  try {
    const r = await other.goto(`${server.url}files/%2e%2e/secret.txt`);
    assert.is(r?.status(), 404);
    assert.not.ok((await other.content()).includes(f.secret.content));
    const answers = await other.evaluate(async (targets) => Promise.all(targets.map(async (t) => {
      const res = await fetch(t);
      return [t, res.status, await res.text()];
    })), ['/files/..%2fsecret.txt', '/files/..%2f..%2fsecret.txt', `/files/${encodeURIComponent(f.secret.file)}`, '/files/link-out.txt', '/files/%2e%2e%5csecret.txt']);
    for (const [t, status, body] of answers) {
      assert.is(status, 404, String(t));
      assert.not.ok(String(body).includes(f.secret.content), String(t));
    }
  } finally {
    await other.close();
  }
});

browserTest('a screenshot of an episode is saved in test/output/view/ for a person to look at', async () => {
  await openEpisode(f.episodes.npy, 22);
  await page.check('#toggle-similarity');
  await page.waitForFunction(() => document.querySelector<HTMLCanvasElement>('#frame')?.dataset.frame === '22');
  fs.mkdirSync(OUTPUT, { recursive: true });
  const file = path.join(OUTPUT, 'episode.png');
  await page.screenshot({ path: file });
  await page.uncheck('#toggle-similarity');
  const png = fs.readFileSync(file);
  assert.ok(png.subarray(1, 4).toString() === 'PNG' && png.readUInt32BE(16) === 1280, 'a 1280-pixel-wide PNG');
  console.log(`screenshot: ${path.relative(packageRoot, file)}`);
});

browserTest('no console errors or warnings, no failed requests, in everything above', () => {
  assert.equal(consoleProblems, []);
});

test.run();
