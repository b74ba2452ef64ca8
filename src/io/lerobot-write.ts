// LeRobot datasets out: a copy of a dataset with per-frame progress labels
// as three new features, in the same version as the original.
//
// - data parquet files: every original column and row kept byte for byte
//   (see appendParquetColumns), plus `feat2go.progress` (float32),
//   `feat2go.stage` (int64) and `feat2go.similarity` (float32); rows of
//   episodes that were not labelled hold nulls;
// - meta/info.json: the three features declared (as lerobot declares
//   `timestamp`), the rest of the file's text unchanged;
// - statistics where the version keeps them: meta/stats.json (all),
//   meta/episodes_stats.jsonl (v2.1), the `stats/<feature>/<stat>` columns
//   of meta/episodes/*.parquet (v3.0), with min, max, mean, std, count and
//   the quantiles the dataset's other features have;
// - every other file (videos, images, README…) hard-linked, or copied when
//   the output is on another device; never re-encoded.
// All of it goes into a temporary folder beside the output, renamed into
// place at the end.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { appendParquetColumns, readParquetColumns, readParquetInfo, type NewColumn } from './parquet.js';
import { LeRobotError, type LeRobotDataset } from './lerobot.js';
import { ensureDir } from './atomic.js';

/** Names of the features written back. */
export const FEAT2GO_FEATURES = Object.freeze({ progress: 'feat2go.progress', stage: 'feat2go.stage', similarity: 'feat2go.similarity' } as const);

/** One labelled episode: a value per frame, in the order of the episode's rows (see {@link LeRobotDataset.rows}). */
export interface LeRobotEpisodeLabels {
  /** V(t), float32. */
  progress: Float32Array;
  /** Stage index of each frame. */
  stage: ArrayLike<number>;
  /** S(frame, subgoal), float32. */
  similarity: Float32Array;
}

/** What {@link writeLeRobotLabels} wrote. */
export interface WriteLeRobotReport {
  out: string;
  /** Episodes with labels. */
  labelled: number[];
  /** Episodes listed by the dataset whose rows hold nulls (not labelled). */
  unlabelled: number[];
  /** Data files rewritten with the new columns. */
  dataFiles: number;
  /** Other files hard-linked / copied. */
  linked: number;
  copied: number;
}

// ---------------------------------------------------------------- JSON in Python's layout

/** A number written as a Python float (always with a '.' or an exponent), as json.dump writes numpy floats. */
class PyFloat {
  constructor(readonly v: number) {}
}

/** Python's repr of a float: the shortest round-trip digits, scientific below 1e-4 and from 1e16. */
function pyFloat(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e');
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const decpt = exp + 1;
  let s: string;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) s = `0.${'0'.repeat(-decpt)}${digits}`;
    else if (decpt >= digits.length) s = `${digits}${'0'.repeat(decpt - digits.length)}.0`;
    else s = `${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
  } else {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    s = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return neg ? `-${s}` : s;
}

/** JSON as Python's json.dumps writes it: `indent` spaces per level (pretty), or one line with ', ' and ': ' (indent 0). */
function pyJson(v: unknown, indent: number, cur = ''): string {
  if (v instanceof PyFloat) return pyFloat(v.v);
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyFloat(v);
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const inner = cur + ' '.repeat(indent);
  const entries = Array.isArray(v) ? v.map((x) => pyJson(x, indent, inner)) : Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyJson(x, indent, inner)}`);
  const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) return `${open}${close}`;
  if (indent === 0) return `${open}${entries.join(', ')}${close}`;
  return `${open}\n${entries.map((e) => inner + e).join(',\n')}\n${cur}${close}`;
}

interface JsonMember { key: string; keyStart: number; valueStart: number; valueEnd: number; value: JsonNode }
interface JsonNode { start: number; end: number; members?: JsonMember[] }

/** Parses JSON keeping where every object member starts and ends (for edits that leave the rest of the text alone). */
function locateJson(text: string): JsonNode {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const value = (): JsonNode => {
    ws();
    const start = i;
    const c = text[i];
    if (c === '{') {
      i++;
      const members: JsonMember[] = [];
      ws();
      if (text[i] === '}') { i++; return { start, end: i, members }; }
      for (;;) {
        ws();
        const keyStart = i;
        const keyNode = value();
        const key = JSON.parse(text.slice(keyNode.start, keyNode.end)) as string;
        ws();
        if (text[i++] !== ':') throw new Error(`expected ':' at ${i - 1}`);
        ws();
        const valueStart = i;
        const v = value();
        members.push({ key, keyStart, valueStart, valueEnd: v.end, value: v });
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] !== '}') throw new Error(`expected '}' at ${i - 1}`);
        return { start, end: i, members };
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') { i++; return { start, end: i }; }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] !== ']') throw new Error(`expected ']' at ${i - 1}`);
        return { start, end: i };
      }
    }
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      return { start, end: i };
    }
    while (i < text.length && !',}] \t\r\n'.includes(text[i])) i++;
    if (i === start) throw new Error(`unexpected '${c}' at ${i}`);
    return { start, end: i };
  };
  const root = value();
  return root;
}

/**
 * Sets members of the object at `keys` inside the JSON `text` (adding or replacing them,
 * removing those in `drop`) and leaves every other byte of the text as it was. The new
 * members follow the text's own layout (Python's indent-4 or one-line style).
 */
function editJsonObject(text: string, keys: readonly string[], set: ReadonlyArray<[string, unknown]>, drop: readonly string[] = []): string {
  let node = locateJson(text);
  for (const k of keys) {
    const m = node.members?.find((x) => x.key === k);
    if (!m?.value.members) throw new Error(`no object at ${keys.join('.')}`);
    node = m.value;
  }
  const members = node.members!;
  const lineStart = text.lastIndexOf('\n', node.start) + 1;
  const baseIndent = /^[ \t]*/.exec(text.slice(lineStart))![0];
  const multiline = members.length ? text.slice(node.start, members[0].keyStart).includes('\n') : false;
  const memberIndent = members.length && multiline ? text.slice(text.lastIndexOf('\n', members[0].keyStart) + 1, members[0].keyStart) : `${baseIndent}    `;
  const unit = multiline ? Math.max(1, memberIndent.length - baseIndent.length) : 0;
  const fmt = (k: string, v: unknown) => `${JSON.stringify(k)}: ${pyJson(v, unit, memberIndent)}`;
  const edits: Array<{ from: number; to: number; text: string }> = [];
  const kept = members.filter((m) => !drop.includes(m.key) || set.some(([k]) => k === m.key));
  for (const m of members) {
    const s = set.find(([k]) => k === m.key);
    if (s) edits.push({ from: m.valueStart, to: m.valueEnd, text: pyJson(s[1], unit, memberIndent) });
  }
  // Dropped members: remove from the end of the previous member (or the opening brace) to the end of this one.
  members.forEach((m, idx) => {
    if (!drop.includes(m.key) || set.some(([k]) => k === m.key)) return;
    const from = idx === 0 ? node.start + 1 : members[idx - 1].valueEnd;
    const to = idx === 0 && members.length > 1 ? members[1].keyStart : m.valueEnd;
    edits.push({ from, to, text: idx === 0 && members.length > 1 ? (multiline ? `\n${memberIndent}` : '') : '' });
  });
  const added = set.filter(([k]) => !members.some((m) => m.key === k));
  if (added.length) {
    const sep = multiline ? `\n${memberIndent}` : ' ';
    const body = added.map(([k, v]) => fmt(k, v));
    if (kept.length) {
      const last = kept[kept.length - 1];
      edits.push({ from: last.valueEnd, to: last.valueEnd, text: body.map((b) => `,${sep}${b}`).join('') });
    } else {
      edits.push({ from: node.start + 1, to: node.end - 1, text: multiline || unit ? `\n${memberIndent}${body.join(`,\n${memberIndent}`)}\n${baseIndent}` : body.join(', ') });
    }
  }
  edits.sort((a, b) => b.from - a.from);
  let out = text;
  for (const e of edits) out = out.slice(0, e.from) + e.text + out.slice(e.to);
  JSON.parse(out); // never write a file that does not parse
  return out;
}

// ---------------------------------------------------------------- statistics

interface Stats { min: number; max: number; mean: number; std: number; count: number; q: Map<string, number> }

function statsOf(values: ArrayLike<number>, quantiles: readonly string[]): Stats {
  const n = values.length;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < n; i++) { const v = values[i]; if (v < min) min = v; if (v > max) max = v; sum += v; }
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  const q = new Map<string, number>();
  if (quantiles.length) {
    const sorted = Float64Array.from(values).sort();
    for (const key of quantiles) {
      // numpy's default (linear) quantile
      const pos = (Number(key.slice(1)) / 100) * (n - 1);
      const lo = Math.floor(pos);
      const hi = Math.min(n - 1, lo + 1);
      q.set(key, sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo));
    }
  }
  return { min, max, mean, std: Math.sqrt(ss / n), count: n, q };
}

/** A stats entry as lerobot writes it for a [1]-shaped feature: each statistic a one-element list. */
function statsJson(s: Stats, integer: boolean): Record<string, unknown> {
  const f = (v: number) => (integer ? v : new PyFloat(v));
  return {
    min: [f(s.min)], max: [f(s.max)], mean: [new PyFloat(s.mean)], std: [new PyFloat(s.std)], count: [s.count],
    ...Object.fromEntries([...s.q].map(([k, v]) => [k, [new PyFloat(v)]])),
  };
}

// ---------------------------------------------------------------- files

function writeChunks(file: string, chunks: readonly Uint8Array[]): void {
  ensureDir(path.dirname(file));
  const fd = fs.openSync(file, 'w');
  try {
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) off += fs.writeSync(fd, c, off, c.length - off);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Hard-links `src` (its target, when a symbolic link) to `dst`, or copies it when a link cannot be made. */
function linkOrCopy(src: string, dst: string): 'linked' | 'copied' {
  const real = fs.realpathSync(src);
  try {
    fs.linkSync(real, dst);
    return 'linked';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP' && code !== 'EACCES') throw err;
    fs.copyFileSync(real, dst);
    return 'copied';
  }
}

const inside = (child: string, parent: string) => {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/** Whether `dir` holds a dataset this function wrote (its info.json declares feat2go.progress). */
function isOurOutput(dir: string): boolean {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(dir, 'meta', 'info.json'), 'utf8')) as { features?: Record<string, unknown> };
    return info.features?.[FEAT2GO_FEATURES.progress] !== undefined;
  } catch {
    return false;
  }
}

/**
 * Checks, before any work, that {@link writeLeRobotLabels} may write the copy of the dataset
 * at `root` to `out`: a new or empty folder, or an earlier output of it, outside the dataset.
 *
 * @param name the option's name in messages
 * @throws {RangeError} naming `out` and why not
 */
export function checkLeRobotOutput(root: string, out: string, name = 'out'): void {
  if (typeof out !== 'string' || out === '') throw new TypeError(`Expected an output folder path for ${name} but received ${typeof out}`);
  const r = path.resolve(root);
  const dest = path.resolve(out);
  if (inside(dest, r) || inside(r, dest)) throw new RangeError(`Expected an output folder outside the dataset for ${name} but received '${out}' (the dataset is ${root})`);
  if (fs.existsSync(dest)) {
    const st = fs.statSync(dest);
    if (!st.isDirectory()) throw new RangeError(`Expected a new or empty folder for ${name} but received '${out}', which is a file`);
    if (fs.readdirSync(dest).length && !isOurOutput(dest)) {
      throw new RangeError(`Expected a new or empty folder for ${name} but received '${out}', which holds other files (only an earlier feat2go output is replaced)`);
    }
  }
}

/**
 * Writes a copy of `ds` at `out` with per-frame labels of the episodes in `labels` as the
 * features `feat2go.progress` (float32), `feat2go.stage` (int64) and `feat2go.similarity`
 * (float32): in the same version and layout, every original column and row unchanged, the
 * features declared in meta/info.json with the statistics the version keeps, and every
 * other file hard-linked (copied across devices). Rows of episodes without labels hold
 * nulls. `out` is written whole into a temporary folder and renamed into place; an
 * existing `out` is replaced only when it is empty or an earlier output of this function.
 * Labelling a dataset that already has feat2go features replaces them.
 *
 * @throws {LeRobotError} naming the file when something cannot be written (the output is then left as it was)
 * @throws {RangeError} when `out` is the dataset, inside it, holds it, or is another non-empty folder; or labels do not fit an episode's rows
 */
export async function writeLeRobotLabels(ds: LeRobotDataset, out: string, labels: ReadonlyMap<number, LeRobotEpisodeLabels>): Promise<WriteLeRobotReport> {
  checkLeRobotOutput(ds.root, out);
  const root = path.resolve(ds.root);
  const dest = path.resolve(out);
  const F = FEAT2GO_FEATURES;
  const ours = [F.progress, F.stage, F.similarity];

  // Rows of each labelled episode, grouped by data file.
  const byFile = new Map<string, Array<{ e: number; rows: Int32Array; l: LeRobotEpisodeLabels }>>();
  for (const [e, l] of labels) {
    const r = await ds.rows(e);
    const n = r.rows.length;
    if (l.progress.length !== n || l.stage.length !== n || l.similarity.length !== n) {
      throw new RangeError(`Expected labels with one value per frame of episode ${e} (${n} rows in ${r.file}) but received ${l.progress.length} progress, ${l.stage.length} stage and ${l.similarity.length} similarity values`);
    }
    const key = path.resolve(r.file);
    byFile.set(key, [...(byFile.get(key) ?? []), { e, rows: r.rows, l }]);
  }
  const labelled = [...labels.keys()].sort((a, b) => a - b);
  const unlabelled = ds.episodes.map((e) => e.index).filter((i) => !labels.has(i));

  const parent = path.dirname(dest);
  ensureDir(parent);
  const tag = `${process.pid}.${randomBytes(6).toString('hex')}`;
  const tmp = path.join(parent, `.${path.basename(dest)}.feat2go-${tag}.tmp`);
  fs.mkdirSync(tmp);
  try {
    const rewritten = new Set<string>();
    const target = (src: string) => path.join(tmp, path.relative(root, src));

    // 1. Data files: every parquet file under data/ gains the three columns.
    const dataFiles: string[] = [];
    const walkParquet = (d: string) => {
      if (!fs.existsSync(d)) return;
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory() && !e.name.startsWith('.')) walkParquet(p);
        else if (e.name.endsWith('.parquet') && (e.isFile() || e.isSymbolicLink())) dataFiles.push(p);
      }
    };
    walkParquet(path.join(root, 'data'));
    for (const file of dataFiles.sort()) {
      const info = await readParquetInfo(file);
      const n = info.rows;
      const progress = new Float32Array(n);
      const similarity = new Float32Array(n);
      const stage = new BigInt64Array(n);
      const valid = new Uint8Array(n);
      for (const { rows, l } of byFile.get(path.resolve(file)) ?? []) {
        for (let k = 0; k < rows.length; k++) {
          const r = rows[k];
          progress[r] = l.progress[k];
          similarity[r] = l.similarity[k];
          stage[r] = BigInt(l.stage[k]);
          valid[r] = 1;
        }
      }
      const drop = new Set(ours.filter((c) => info.columns.includes(c)));
      const chunks = appendParquetColumns(fs.readFileSync(file), file, [
        { name: F.progress, type: 'float32', values: progress, valid },
        { name: F.stage, type: 'int64', values: stage, valid },
        { name: F.similarity, type: 'float32', values: similarity, valid },
      ], drop);
      writeChunks(target(file), chunks);
      rewritten.add(file);
    }

    // 2. Statistics.
    const infoFile = path.join(root, 'meta', 'info.json');
    const statsFile = path.join(root, 'meta', 'stats.json');
    let quantiles: string[] = [];
    let statsText: string | undefined;
    if (fs.existsSync(statsFile)) {
      statsText = fs.readFileSync(statsFile, 'utf8');
      const st = JSON.parse(statsText) as Record<string, Record<string, unknown>>;
      const ref = st.timestamp ?? Object.values(st)[0] ?? {};
      quantiles = Object.keys(ref).filter((k) => /^q\d+$/.test(k));
    }
    const all = { progress: [] as number[], stage: [] as number[], similarity: [] as number[] };
    const perEpisode = new Map<number, Record<string, Stats>>();
    for (const e of labelled) {
      const l = labels.get(e)!;
      const st = Array.from(l.stage, Number);
      perEpisode.set(e, { [F.progress]: statsOf(l.progress, quantiles), [F.stage]: statsOf(st, quantiles), [F.similarity]: statsOf(l.similarity, quantiles) });
      for (const v of l.progress) all.progress.push(v);
      for (const v of st) all.stage.push(v);
      for (const v of l.similarity) all.similarity.push(v);
    }
    const entries = (s: Record<string, Stats>): Array<[string, unknown]> => ours.map((k) => [k, statsJson(s[k], k === F.stage)]);
    if (statsText !== undefined) {
      const globalStats = all.progress.length ? entries({ [F.progress]: statsOf(all.progress, quantiles), [F.stage]: statsOf(all.stage, quantiles), [F.similarity]: statsOf(all.similarity, quantiles) }) : [];
      ensureDir(path.dirname(target(statsFile)));
      fs.writeFileSync(target(statsFile), editJsonObject(statsText, [], globalStats, ours));
      rewritten.add(statsFile);
    }
    const epStatsFile = path.join(root, 'meta', 'episodes_stats.jsonl');
    if (ds.layout === 'v2' && fs.existsSync(epStatsFile)) {
      const lines = fs.readFileSync(epStatsFile, 'utf8').split('\n').map((line) => {
        if (line.trim() === '') return line;
        const e = Number((JSON.parse(line) as { episode_index?: unknown }).episode_index);
        const s = perEpisode.get(e);
        return editJsonObject(line, ['stats'], s ? entries(s) : [], ours);
      });
      ensureDir(path.dirname(target(epStatsFile)));
      fs.writeFileSync(target(epStatsFile), lines.join('\n'));
      rewritten.add(epStatsFile);
    }
    if (ds.layout === 'v3') {
      const metaFiles: string[] = [];
      const walk = (d: string) => {
        if (!fs.existsSync(d)) return;
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) walk(p); else if (e.name.endsWith('.parquet')) metaFiles.push(p);
        }
      };
      walk(path.join(root, 'meta', 'episodes'));
      for (const file of metaFiles) {
        const info = await readParquetInfo(file);
        const idx = (await readParquetColumns(file, { columns: ['episode_index'], info })).columns.get('episode_index')!;
        const n = info.rows;
        const add: NewColumn[] = [];
        const leafType = (col: string): NewColumn['type'] | undefined => {
          const leaf = info.metadata.schema.find((s, i) => s.type !== undefined && i > 0 && pathOf(info.metadata.schema, i) === col);
          return leaf?.type === 'DOUBLE' ? 'float64' : leaf?.type === 'FLOAT' ? 'float32' : leaf?.type === 'INT64' ? 'int64' : undefined;
        };
        for (const feat of ours) {
          const tmpl = feat === F.stage ? 'frame_index' : 'timestamp';
          for (const stat of ['min', 'max', 'mean', 'std', 'count', ...quantiles]) {
            const like = `stats/${tmpl}/${stat}`;
            if (!info.columns.includes(like)) continue;
            const type = leafType(like);
            if (!type) continue;
            const values = type === 'int64' ? new BigInt64Array(n) : type === 'float32' ? new Float32Array(n) : new Float64Array(n);
            const valid = new Uint8Array(n);
            for (let r = 0; r < n; r++) {
              const s = perEpisode.get(Number(idx[r]))?.[feat];
              if (!s) continue;
              const v = stat === 'min' ? s.min : stat === 'max' ? s.max : stat === 'mean' ? s.mean : stat === 'std' ? s.std : stat === 'count' ? s.count : s.q.get(stat)!;
              if (values instanceof BigInt64Array) values[r] = BigInt(Math.round(v)); else values[r] = v;
              valid[r] = 1;
            }
            add.push({ name: `stats/${feat}/${stat}`, type, values, valid, like });
          }
        }
        const drop = new Set(info.columns.filter((c) => ours.some((o) => c.startsWith(`stats/${o}/`))));
        writeChunks(target(file), appendParquetColumns(fs.readFileSync(file), file, add, drop));
        rewritten.add(file);
      }
    }

    // 3. info.json: the three features, declared as the dataset declares timestamp.
    const infoText = fs.readFileSync(infoFile, 'utf8');
    const ts = (ds.features.timestamp ?? {}) as Record<string, unknown>;
    const decl = (dtype: string) => ({ dtype, shape: [1], names: null, ...Object.fromEntries(Object.entries(ts).filter(([k]) => !['dtype', 'shape', 'names'].includes(k))) });
    ensureDir(path.dirname(target(infoFile)));
    fs.writeFileSync(target(infoFile), editJsonObject(infoText, ['features'], [[F.progress, decl('float32')], [F.stage, decl('int64')], [F.similarity, decl('float32')]]));
    rewritten.add(infoFile);

    // 4. Everything else, linked.
    let linked = 0;
    let copied = 0;
    const mirror = (d: string, top: boolean) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        // A hub download's .cache (and a .git) stays behind: lerobot takes a .cache/huggingface folder for an old-style mirror.
        if (top && e.isDirectory() && e.name.startsWith('.')) continue;
        let isDirEntry = e.isDirectory();
        if (e.isSymbolicLink()) {
          try { isDirEntry = fs.statSync(p).isDirectory(); } catch { continue; }
        }
        if (isDirEntry) {
          ensureDir(target(p));
          mirror(p, false);
        } else if (!rewritten.has(p)) {
          ensureDir(path.dirname(target(p)));
          if (linkOrCopy(p, target(p)) === 'linked') linked++; else copied++;
        }
      }
    };
    mirror(root, true);

    // 5. Into place.
    let old: string | undefined;
    if (fs.existsSync(dest)) {
      old = path.join(parent, `.${path.basename(dest)}.feat2go-${tag}.old`);
      fs.renameSync(dest, old);
    }
    try {
      fs.renameSync(tmp, dest);
    } catch (err) {
      if (old) fs.renameSync(old, dest);
      throw err;
    }
    if (old) fs.rmSync(old, { recursive: true, force: true });
    return { out: dest, labelled, unlabelled, dataFiles: dataFiles.length, linked, copied };
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (err instanceof RangeError || err instanceof LeRobotError) throw err;
    const e = err as Error & { file?: string };
    throw new LeRobotError(e.file ?? dest, `cannot write the labelled dataset (${e.message})`);
  }
}

/** Dotted path (names joined by '.') of the schema element at `i` of a flattened parquet schema, from the top-level column down; top-level name only for leaves of one-level lists. */
function pathOf(schema: ReadonlyArray<{ name: string; num_children?: number }>, i: number): string {
  // Find the top-level ancestor of element i.
  let top = 1;
  let j = 1;
  const size = (k: number): number => {
    let n = 1;
    let c = schema[k].num_children ?? 0;
    let p = k + 1;
    while (c-- > 0) { const s = size(p); n += s; p += s; }
    return n;
  };
  while (j < schema.length) {
    const s = size(j);
    if (i >= j && i < j + s) { top = j; break; }
    j += s;
  }
  return schema[top].name;
}
