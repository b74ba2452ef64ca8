// @ts-check
// One episode: its frame above the V(t) chart (stage bands, optional S(t),
// Steps-To-Go and annotated stages), a readout of the step under the
// playhead, playback, and the keys: ← → one step (Shift: ten), Space plays,
// ↑ ↓ the previous / next episode in the table's order, Home / End.
// Frames are drawn on a canvas from images the server encodes (preloaded
// around the playhead), or shown by a <video> that seeks (HTTP Range) when
// the source is a video the browser can play.
import { el, fmt, episodeUrl, setChildren, clamp } from './util.js';
import { episodeChart } from './chart.js';
import { episodeDetail, saveShow } from './state.js';

/** @typedef {import('./state.js').State} State */

const SPEEDS = [0.25, 0.5, 1, 2, 4];
/** Playback rate for sources that do not say theirs. */
const DEFAULT_FPS = 10;

/**
 * Mounts the episode view.
 * @param {HTMLElement} main
 * @param {State} state
 * @param {string} name
 * @param {number} startT
 */
export function mountEpisode(main, state, name, startT) {
  let alive = true;
  /** @type {Array<() => void>} */
  const cleanups = [];
  const order = state.order.includes(name) ? state.order : state.episodes.map((e) => e.name);
  const pos = order.indexOf(name);
  /** @param {number} step */
  const go = (step) => {
    const next = order[pos + step];
    if (next !== undefined) location.hash = `#/episode/${encodeURIComponent(next)}`;
  };
  const header = el('div.ep-header', null,
    el('div.ep-nav', null,
      el('button#prev-episode', { type: 'button', title: 'Previous episode (↑)', disabled: pos <= 0, onclick: () => go(-1) }, '↑'),
      el('button#next-episode', { type: 'button', title: 'Next episode (↓)', disabled: pos < 0 || pos >= order.length - 1, onclick: () => go(1) }, '↓')),
    el('h2#episode-name', null, name),
    el('span.pos', null, pos >= 0 ? `${pos + 1} of ${order.length}` : ''),
    el('div.ep-info#ep-info'),
    el('a.back', { href: '#/' }, '← all episodes'));
  const frameBox = el('div.frame-box#frame-box', null, el('p.frame-msg', null, 'Loading…'));
  const side = el('aside.side');
  const chartBox = el('div.chart-host#chart');
  const legend = el('div.legend');
  setChildren(main, el('section.episode-view', null, header,
    el('div.ep-top', null, frameBox, side),
    el('div.chart-box', null, legend, chartBox),
    el('p.hint', null, 'Click or drag on the chart to seek · ', el('kbd', null, '←'), ' ', el('kbd', null, '→'), ' one step (', el('kbd', null, 'Shift'), ' ten) · ',
      el('kbd', null, 'Space'), ' play · ', el('kbd', null, '↑'), ' ', el('kbd', null, '↓'), ' episode · ', el('kbd', null, 'Home'), ' ', el('kbd', null, 'End'))));

  episodeDetail(name).then((d) => { if (alive) setup(d); }, (err) => {
    if (!alive) return;
    setChildren(frameBox, el('p.frame-msg.error', null, err.message));
    state.toast(err.message);
  });

  /** @param {KeyboardEvent} e */
  const onKey = (e) => {
    const tgt = /** @type {HTMLElement} */ (e.target);
    if (tgt && ['INPUT', 'SELECT', 'TEXTAREA'].includes(tgt.tagName)) return;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === 'ArrowUp') go(-1);
    else if (e.key === 'ArrowDown') go(1);
    else if (!ctl) return;
    else if (e.key === 'ArrowRight') ctl.seek(ctl.t() + (e.shiftKey ? 10 : 1));
    else if (e.key === 'ArrowLeft') ctl.seek(ctl.t() - (e.shiftKey ? 10 : 1));
    else if (e.key === ' ') ctl.togglePlay();
    else if (e.key === 'Home') ctl.seek(0);
    else if (e.key === 'End') ctl.seek(Infinity);
    else return;
    e.preventDefault();
  };
  document.addEventListener('keydown', onKey);
  cleanups.push(() => document.removeEventListener('keydown', onKey));

  /** @type {{ seek: (t: number) => void, t: () => number, togglePlay: () => void } | null} */
  let ctl = null;

  /** @param {any} d */
  function setup(d) {
    const T = d.values.length;
    const fr = d.frames;
    const perStep = fr ? fr.framesPerStep : 1;
    const fps = d.fps ?? DEFAULT_FPS;
    const annotations = (d.annotations ?? []).map((/** @type {any} */ a) => ({ ...a, start: Math.floor(a.start / perStep), end: Math.floor(a.end / perStep) }));
    let t = clamp(startT, 0, T - 1);
    let playing = false;
    let speed = 1;
    /** Frame of the source shown for step t. @param {number} step */
    const frameOf = (step) => (fr ? Math.min(fr.count - 1, step * perStep) : 0);

    // ------------------------------------------------------------ frames
    /** @type {'video' | 'images' | 'none'} */
    let mode = fr ? (fr.video ? 'video' : 'images') : 'none';
    const canvas = /** @type {HTMLCanvasElement} */ (el('canvas#frame', { width: fr?.width || 1, height: fr?.height || 1, 'aria-label': 'frame' }));
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    const video = /** @type {HTMLVideoElement} */ (el('video#frame-video', { muted: true, playsinline: true, preload: 'auto', 'aria-label': 'frame' }));
    video.muted = true;
    const pixelated = fr && fr.width > 0 && fr.width < 240;
    canvas.classList.toggle('pixelated', Boolean(pixelated));
    video.classList.toggle('pixelated', Boolean(pixelated));
    const format = fr && fr.width * fr.height > 320 * 320 ? '?format=jpeg' : '';
    /** @type {Map<number, HTMLImageElement>} */
    const loaded = new Map();
    // Decoded frames kept in memory: about 300 MB of pixels (1500 small frames, ~240 at 640×480).
    const keep = fr ? clamp(Math.floor(300e6 / Math.max(1, fr.width * fr.height * 4)), 32, 1500) : 0;
    /** @type {Map<number, Promise<HTMLImageElement>>} */
    const loading = new Map();
    let wanted = -1;

    /** @param {number} f */
    const loadFrame = (f) => {
      let p = loading.get(f);
      if (!p) {
        const img = new Image();
        img.src = episodeUrl(name, `/frames/${f}${format}`);
        p = img.decode().then(() => {
          loaded.set(f, img);
          if (loaded.size > keep) {
            // Forget the decoded frames farthest from the playhead.
            const centre = frameOf(t);
            const far = [...loaded.keys()].sort((a, b) => Math.abs(b - centre) - Math.abs(a - centre)).slice(0, loaded.size - keep);
            for (const x of far) { loaded.delete(x); loading.delete(x); }
          }
          return img;
        });
        p.catch(() => loading.delete(f));
        loading.set(f, p);
      }
      return p;
    };
    /** @param {number} f @param {HTMLImageElement} img */
    const draw = (f, img) => {
      if (canvas.width !== img.naturalWidth || canvas.height !== img.naturalHeight) {
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
      }
      ctx.drawImage(img, 0, 0);
      canvas.dataset.frame = String(f);
    };
    /** @param {number} f */
    const showImage = (f) => {
      wanted = f;
      const img = loaded.get(f);
      if (img) { draw(f, img); return; }
      loadFrame(f).then((im) => { if (alive && wanted === f) draw(f, im); }, (err) => {
        if (alive && wanted === f) state.toast(`frame ${f}: ${err instanceof Error ? err.message : 'cannot be loaded'}`);
      });
    };
    // Preload outwards from the playhead, a few at a time.
    let preloadGen = 0;
    let preloadCentre = -1;
    const preload = () => {
      if (mode !== 'images' || !fr) return;
      const gen = ++preloadGen;
      const centre = frameOf(t);
      preloadCentre = centre;
      const todo = [];
      const steps = Array.from({ length: T }, (_, i) => frameOf(i));
      const uniq = [...new Set(steps)].sort((a, b) => Math.abs(a - centre) - Math.abs(b - centre)).slice(0, keep);
      for (const f of uniq) if (!loaded.has(f)) todo.push(f);
      let next = 0;
      const worker = async () => {
        while (alive && gen === preloadGen && next < todo.length) {
          const f = todo[next++];
          try { await loadFrame(f); } catch { /* shown when asked for */ }
        }
      };
      for (let i = 0; i < 4; i++) worker();
    };

    // Video: seek to the middle of frame f's display interval.
    const times = fr?.times ?? [];
    let videoFrame = -1;
    /** @param {number} f */
    const videoTime = (f) => {
      const a = times[f] ?? f / fps;
      const b = times[f + 1] ?? a + 1 / fps;
      return (a + b) / 2;
    };
    /** @param {number} f */
    const seekVideo = (f) => {
      videoFrame = f;
      video.currentTime = videoTime(f);
    };
    video.addEventListener('seeked', () => { if (!playing) video.dataset.frame = String(videoFrame); });
    video.addEventListener('loadedmetadata', () => { if (videoFrame >= 0) seekVideo(videoFrame); });
    video.addEventListener('error', () => {
      if (mode !== 'video' || !alive) return;
      // A codec this browser cannot play: single frames from the server instead.
      mode = 'images';
      setChildren(frameBox, canvas);
      state.toast('This browser cannot play the video; showing frames decoded by the server instead.');
      showImage(frameOf(t));
      preload();
    });

    if (mode === 'video') {
      video.src = fr.video;
      setChildren(frameBox, video);
    } else if (mode === 'images') {
      setChildren(frameBox, canvas);
    } else {
      // No frames: the side panel takes the row, with a line saying why.
      frameBox.hidden = true;
      /** @type {HTMLElement} */ (frameBox.parentElement).classList.add('no-frames');
    }
    const noFrames = mode === 'none' ? el('p.no-frames-msg#frame-msg', null, d.frameError ? `Frames unavailable: ${d.frameError}`
      : d.source.kind === 'features' ? 'Labelled from a feature tensor: there are no frames to show.' : 'No frames for this episode.') : null;

    // ------------------------------------------------------------ readout and controls
    /** @param {string} field @param {string} label @param {string} [title] */
    const row = (field, label, title) => {
      const dd = el('dd', { dataset: { field } });
      return { dt: el('dt', { title }, label), dd };
    };
    const R = {
      t: row('t', 't'), value: row('value', 'V(t)', 'Progress value'), similarity: row('similarity', 'S(t)', 'Similarity to the subgoal (last frame) of the stage'),
      stage: row('stage', 'Stage'), stepsToGo: row('stepsToGo', 'Steps-To-Go', 't / (T − 1)'),
      ...(annotations.length ? { annotation: row('annotation', 'True stage', 'From the annotations next to the source') } : {}),
    };
    const readout = el('dl.readout#readout', null, ...Object.values(R).flatMap((r) => [r.dt, r.dd]));
    const playBtn = el('button#play', { type: 'button', title: 'Play / pause (Space)', onclick: () => { togglePlay(); /** @type {HTMLElement} */ (playBtn).blur(); } }, '▶ Play');
    const speedSel = /** @type {HTMLSelectElement} */ (el('select#speed', {
      'aria-label': 'Speed',
      onchange: () => { speed = Number(speedSel.value); video.playbackRate = speed; speedSel.blur(); },
    }, ...SPEEDS.map((s) => el('option', { value: s, selected: s === 1 }, `${s}×`))));
    const fpsNote = el('span.fps', { title: d.fps ? 'Frame rate of the video' : 'The source records no frame rate' }, d.fps ? `${Number(d.fps.toFixed(2))} fps` : `${DEFAULT_FPS} fps (assumed)`);
    /** @param {'similarity' | 'stepsToGo' | 'annotations'} key @param {string} label @param {string} cls */
    const toggle = (key, label, cls) => {
      const box = /** @type {HTMLInputElement} */ (el(`input#toggle-${key}`, { type: 'checkbox', checked: state.show[key] }));
      box.addEventListener('change', () => { state.show[key] = box.checked; saveShow(); box.blur(); chart.render(); chart.setTime(t); });
      return el('label.toggle', null, box, el(`span.swatch.${cls}`), label);
    };
    const hover = el('span.hover-readout');
    setChildren(legend, el('span.playback', null, playBtn, speedSel, fpsNote), el('span.toggle.fixed', null, el('span.swatch.value'), 'V(t)'),
      toggle('similarity', 'S(t)', 'similarity'), toggle('stepsToGo', 'Steps-To-Go', 'steps-to-go'),
      annotations.length ? toggle('annotations', 'True stages', 'annotations') : null, hover);
    const src = d.source;
    const srcName = String(src.path ?? '').split(/[/\\]/).filter(Boolean).pop() ?? '';
    const outputs = `/files/${d.outputs.split('/').map(encodeURIComponent).join('/')}`;
    setChildren(/** @type {HTMLElement} */ (header.querySelector('#ep-info')),
      el('span', null, el('b', null, String(T)), ' steps · ', el('b', null, String(d.segments.length)), ` stage${d.segments.length === 1 ? '' : 's'} · mean V `, el('b', null, fmt(d.meanValue))),
      d.success !== undefined ? el(`span.badge.${d.success ? 'ok' : 'fail'}`, null, d.success ? 'success' : 'failure') : null,
      d.task ? el('span.task', { title: 'Task' }, d.task) : null,
      el('span', { title: src.path }, el('span.kind', null, src.kind), ' ', el('code', null, srcName),
        fr ? ` · ${fr.count} frames ${fr.width}×${fr.height}${perStep > 1 ? ` · ${perStep} per step` : ''}` : ''),
      el('span.links', null, el('a', { href: `${outputs}/plot.svg`, target: '_blank' }, 'plot.svg'), ' · ', el('a', { href: `${outputs}/result.json`, target: '_blank' }, 'result.json')));
    const stageList = el('ol.stage-list#stage-list', null, ...d.segments.map((/** @type {any} */ s, k) => el('li', { dataset: { stage: k } },
      el('button', { type: 'button', title: `Go to the start of stage ${k + 1}`, onclick: (/** @type {Event} */ e) => { seek(s.start); /** @type {HTMLElement} */ (e.currentTarget).blur(); } },
        el(`span.stage-chip.s${k % 8}`), `${k + 1}`, el('span.range', null, `${s.start}–${s.end}`),
        el('span.stage-v', null, `V ${fmt(d.values[s.start], 2)} → ${fmt(d.values[s.end], 2)}`)))));
    setChildren(side, el('div.readout-col', null, readout, noFrames), el('div.stages-col', null, el('h4', null, 'Stages'), stageList));

    /** @param {number} step */
    const stageOf = (step) => d.segments.findIndex((/** @type {any} */ s) => step >= s.start && step <= s.end);
    /** @param {HTMLElement} dd @param {string} text @param {number} [value] */
    const put = (dd, text, value) => {
      dd.textContent = text;
      if (value !== undefined) dd.dataset.value = String(value);
    };
    const updateReadout = () => {
      const f = frameOf(t);
      put(R.t.dd, `${t} / ${T - 1}${fr && perStep > 1 ? ` (frame ${f})` : ''}${fr && d.fps ? ` · ${(times.length ? times[f] - times[0] : f / fps).toFixed(2)} s` : ''}`, t);
      put(R.value.dd, fmt(d.values[t], 4), d.values[t]);
      put(R.similarity.dd, fmt(d.similarity[t], 4), d.similarity[t]);
      const k = stageOf(t);
      const s = d.segments[k];
      put(R.stage.dd, s ? `${k + 1} of ${d.segments.length} · steps ${s.start}–${s.end}` : '—', k);
      for (const li of stageList.children) li.classList.toggle('current', /** @type {HTMLElement} */ (li).dataset.stage === String(k));
      put(R.stepsToGo.dd, fmt(d.stepsToGo[t], 4), d.stepsToGo[t]);
      if (R.annotation) {
        const a = annotations.find((/** @type {any} */ x) => t >= x.start && t <= x.end);
        put(R.annotation.dd, a ? `${a.name ?? '?'} · frames ${a.start}–${a.end}` : '—');
      }
    };

    let urlTimer = 0;
    /**
     * Moves to step `next`; from video playback the video is not seeked.
     * @param {number} next @param {boolean} [fromVideo]
     */
    const seek = (next, fromVideo = false) => {
      t = clamp(Math.round(Number.isFinite(next) ? next : T - 1), 0, T - 1);
      chart.setTime(t);
      updateReadout();
      if (!fromVideo) {
        if (playing && mode === 'video') pause();
        const f = frameOf(t);
        if (mode === 'images') {
          showImage(f);
          // Frames around a far seek, when the whole episode does not fit in memory.
          if (fr && fr.count > keep && Math.abs(f - preloadCentre) > keep / 4) preload();
        }
        else if (mode === 'video') seekVideo(f);
      }
      clearTimeout(urlTimer);
      urlTimer = window.setTimeout(() => history.replaceState(null, '', `#/episode/${encodeURIComponent(name)}?t=${t}`), 150);
    };

    // ------------------------------------------------------------ playback
    let raf = 0;
    let last = 0;
    let acc = 0;
    /** @param {number} now */
    const tick = (now) => {
      if (!playing) return;
      acc += (now - last) / 1000;
      last = now;
      const stepDur = perStep / (fps * speed);
      let moved = false;
      while (acc >= stepDur) { acc -= stepDur; t++; moved = true; }
      if (t >= T - 1) { t = T - 1; seek(t); pause(); return; }
      if (moved) seek(t);
      raf = requestAnimationFrame(tick);
    };
    /** The playhead follows the video: the frame on screen from its media time. @param {number} mt */
    const followVideo = (mt) => {
      // A video file shared by several episodes (LeRobot v3.0) plays on into the next: stop at this one's end.
      if (times.length && mt > times[times.length - 1] + 0.75 / fps) { pause(); return; }
      let lo = 0;
      let hi = times.length - 1;
      while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (times[mid] <= mt + 1e-4) lo = mid; else hi = mid - 1; }
      video.dataset.frame = String(lo);
      const step = Math.min(T - 1, Math.floor(lo / perStep));
      if (step !== t) seek(step, true);
    };
    const frameCallbacks = typeof video.requestVideoFrameCallback === 'function';
    /** @param {number} _now @param {VideoFrameCallbackMetadata} meta */
    const onVideoFrame = (_now, meta) => {
      if (!playing || mode !== 'video') return;
      followVideo(meta.mediaTime);
      video.requestVideoFrameCallback(onVideoFrame);
    };
    // Browsers without frame callbacks: the coarser timeupdate.
    video.addEventListener('timeupdate', () => { if (playing && mode === 'video' && !frameCallbacks) followVideo(video.currentTime); });
    video.addEventListener('ended', () => pause());
    const play = () => {
      if (playing) return;
      if (t >= T - 1) seek(0);
      playing = true;
      playBtn.textContent = '❚❚ Pause';
      if (mode === 'video') {
        video.playbackRate = speed;
        if (frameCallbacks) video.requestVideoFrameCallback(onVideoFrame);
        video.play().catch(() => pause());
      } else {
        last = performance.now();
        acc = 0;
        raf = requestAnimationFrame(tick);
      }
    };
    const pause = () => {
      if (!playing) return;
      playing = false;
      playBtn.textContent = '▶ Play';
      cancelAnimationFrame(raf);
      if (mode === 'video') {
        video.pause();
        seekVideo(frameOf(t));
      }
    };
    const togglePlay = () => (playing ? pause() : play());
    cleanups.push(() => { playing = false; cancelAnimationFrame(raf); video.pause(); video.removeAttribute('src'); video.load(); clearTimeout(urlTimer); preloadGen++; });

    const chart = episodeChart(chartBox, {
      values: d.values, similarity: d.similarity, stepsToGo: d.stepsToGo, segments: d.segments, annotations, show: state.show,
      onSeek: (s) => seek(s),
      onHover: (s) => {
        if (s === null) { hover.textContent = ''; return; }
        const k = stageOf(s);
        hover.textContent = `t ${s} · V ${fmt(d.values[s], 3)} · S ${fmt(d.similarity[s], 3)} · stage ${k + 1}`;
      },
    });
    cleanups.push(() => chart.destroy());
    ctl = { seek, t: () => t, togglePlay };
    seek(t);
    preload();
    main.dataset.ready = 'true';
  }

  return {
    unmount() {
      alive = false;
      delete main.dataset.ready;
      for (const c of cleanups) c();
    },
  };
}
