// @ts-check
// The page of `feat2go view`: loads what the folder holds, keeps the shared
// state (table order and filters, the episodes selected for comparison, the
// chart toggles) and routes between the views by the URL's hash:
//   #/                         the episode table
//   #/episode/<name>?t=<step>  one episode
//   #/compare?e=<name>&e=…     V(t) of several episodes on normalised time
//   #/experiment               the experiment's table and curves
import { getJson, setChildren, el } from './util.js';
import { state } from './state.js';
import { mountTable, applyTable } from './table.js';
import { mountEpisode } from './episode.js';
import { mountCompare } from './compare.js';
import { mountExperiment } from './experiment.js';

/** @type {{ unmount?: () => void } | null} */
let current = null;

function route() {
  const main = /** @type {HTMLElement} */ (document.getElementById('main'));
  current?.unmount?.();
  current = null;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [pathPart, queryPart = ''] = hash.split('?');
  const query = new URLSearchParams(queryPart);
  const parts = pathPart.split('/').filter(Boolean);
  let tab = 'episodes';
  if (parts[0] === 'episode' && parts[1] !== undefined) {
    const name = decodeURIComponent(parts.slice(1).join('/'));
    const t = query.has('t') ? Number(query.get('t')) : 0;
    current = mountEpisode(main, state, name, Number.isInteger(t) && t >= 0 ? t : 0);
  } else if (parts[0] === 'compare') {
    tab = 'compare';
    const names = query.getAll('e');
    if (names.length) state.selected = new Set(names.filter((n) => state.episodes.some((e) => e.name === n)));
    current = mountCompare(main, state);
  } else if (parts[0] === 'experiment' && state.index.experiment !== null) {
    tab = 'experiment';
    current = mountExperiment(main, state);
  } else {
    current = mountTable(main, state);
  }
  for (const a of document.querySelectorAll('#tabs a')) a.classList.toggle('active', /** @type {HTMLElement} */ (a).dataset.tab === tab);
  document.body.dataset.view = parts[0] ?? 'episodes';
}

async function start() {
  const main = /** @type {HTMLElement} */ (document.getElementById('main'));
  try {
    const [index, episodes] = await Promise.all([getJson('/api/index'), getJson('/api/episodes')]);
    state.index = index;
    state.episodes = episodes;
    applyTable(state);
  } catch (err) {
    setChildren(main, el('p.error', null, `Cannot load the folder: ${/** @type {Error} */ (err).message}`));
    return;
  }
  document.title = `${state.index.name} · feat2go view`;
  const folder = /** @type {HTMLElement} */ (document.getElementById('folder'));
  folder.textContent = state.index.dir;
  folder.title = state.index.dir;
  const expTab = /** @type {HTMLElement} */ (document.querySelector('#tabs a[data-tab=experiment]'));
  expTab.hidden = state.index.experiment === null;
  if (state.episodes.length === 0) {
    for (const a of document.querySelectorAll('#tabs a:not([data-tab=experiment])')) /** @type {HTMLElement} */ (a).hidden = true;
    if (!location.hash && state.index.experiment !== null) location.replace('#/experiment');
  }
  window.addEventListener('hashchange', route);
  route();
}

start();
