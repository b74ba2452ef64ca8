// The streaming encoder interface shared by the built-in and ONNX encoders,
// and `encodeFrames`, which drives a frame source through an encoder chunk by
// chunk so that no more than one chunk (or one clip) of decoded frames is
// alive at a time.
import { openEpisode, type FrameChunk, type FrameSource } from '../io/episodes.js';
import { hostArray, isHostMemory } from '../core/host.js';
import type { Tensor } from '../core/types.js';
import { checkInt, checkOptions, typeError } from '../core/validate.js';
import { checkSignal } from '../core/cancel.js';

/** One episode being encoded: frames are pushed in order, features come out at the end. */
export interface EncoderStream {
  /** Feeds the next chunk of frames (resolves once the chunk's work is done or buffered). */
  push(chunk: FrameChunk): Promise<void>;
  /** Ends the episode and returns its features `[steps, N, D]`. */
  finish(): Promise<Tensor>;
}

/** A visual encoder that turns an episode's frames into per-step patch features `[steps, N, D]`. */
export interface FrameEncoder {
  /** 'builtin:patch-stats' or the model path. */
  readonly name: string;
  /** Side of the square frames the encoder wants (short-side resize + centre crop), or undefined for native size. */
  readonly imageSize: number | undefined;
  /** Frames it likes to receive per chunk. */
  readonly chunkFrames: number;
  /** Frames per output step (a video model's tubelet); absent: one step per frame. */
  readonly tubelet?: number;
  /**
   * Its streams also take YUV 4:2:0 chunks ({@link FrameChunk.yuv420p}) and are done with a
   * chunk's data once `push` resolves (the source reuses it); absent: RGB only.
   */
  readonly acceptsYuv420p?: boolean;
  /** Starts one episode; `label` names it in error messages. */
  begin(label: string): EncoderStream;
}

/** Options of {@link encodeFrames}. */
export interface EncodeFramesOptions {
  /** Frames decoded per chunk (default: the encoder's `chunkFrames`). */
  chunkFrames?: number;
  /** Called after every chunk with frames done so far and the total when known. */
  onProgress?: (framesDone: number, framesTotal: number | undefined) => void;
  /** Videos: use the frames of a partial decode (with a warning) instead of failing (see `ChunkOptions.allowPartial`). */
  allowPartial?: boolean;
  /** Receives warnings such as an allowed partial decode (default: `process.emitWarning`). */
  onWarning?: (message: string) => void;
  /**
   * Stops the call between chunks (and a LeRobot video's in-process decoder at its next frame;
   * an ffmpeg child is killed): the promise rejects with the signal's reason, unchanged.
   */
  signal?: AbortSignal;
}

/**
 * Encodes one episode: decodes it chunk by chunk (resized/cropped to the
 * encoder's `imageSize` while decoding) and streams the chunks through the
 * encoder. Decoding and inference run off the main thread.
 *
 * @param source a path (see {@link openEpisode}) or an opened {@link FrameSource}
 * @param encoder {@link patchStatsEncoder} or an {@link OnnxVisualEncoder}
 * @returns features `[steps, N, D]` (steps = T for the built-in encoder, ⌈T/tubelet⌉ for video models)
 * @throws {Error} naming the episode's path and the problem
 * @example
 * const features = await encodeFrames('episodes/ep_000', patchStatsEncoder());
 * const { values } = await progressTargets(features);
 */
export async function encodeFrames(source: string | FrameSource, encoder: FrameEncoder, opts?: EncodeFramesOptions): Promise<Tensor> {
  if (encoder === null || typeof encoder !== 'object' || typeof (encoder as FrameEncoder).begin !== 'function') {
    throw typeError('encoder', 'a FrameEncoder (patchStatsEncoder() or OnnxVisualEncoder)', encoder);
  }
  const o = checkOptions(opts, 'opts', { chunkFrames: 1, onProgress: 1, allowPartial: 1, onWarning: 1, signal: 1 });
  const chunkFrames = o.chunkFrames === undefined ? encoder.chunkFrames : checkInt(o.chunkFrames, 'opts.chunkFrames', 1);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw typeError('opts.onProgress', 'a function', o.onProgress);
  const signal = checkSignal(o.signal, 'opts.signal');
  signal?.throwIfAborted();
  const src = typeof source === 'string' ? await openEpisode(source) : source;
  if (src === null || typeof src !== 'object' || typeof src.chunks !== 'function') throw typeError('source', 'a path or a FrameSource', source);
  const stream = encoder.begin(src.path);
  /** Prefixes an error with the episode's path unless it already names it. */
  const named = (err: unknown): unknown => {
    if (signal?.aborted && err === signal.reason) return err; // the caller's reason, as given
    const e = err instanceof Error ? err : new Error(String(err));
    if (!e.message.includes(src.path)) e.message = `${src.path}: ${e.message}`;
    return e;
  };
  let done = 0;
  try {
    const partial = {
      ...(o.allowPartial !== undefined ? { allowPartial: o.allowPartial } : {}), ...(o.onWarning !== undefined ? { onWarning: o.onWarning } : {}),
      ...(encoder.acceptsYuv420p === true ? { yuv420p: true } : {}), ...(signal ? { signal } : {}),
    };
    for await (const chunk of src.chunks({ chunkFrames, size: encoder.imageSize, ...partial })) {
      signal?.throwIfAborted(); // a source of the user's own may not check it
      await stream.push(chunk);
      done += chunk.count;
      o.onProgress?.(done, src.length);
      signal?.throwIfAborted();
    }
  } catch (err) {
    throw named(err);
  }
  if (done === 0) throw new Error(`${src.path}: the episode has zero frames`);
  let features: Tensor;
  try {
    features = await stream.finish();
  } catch (err) {
    throw named(err);
  }
  // Host memory, so that progressTargets and the other async calls read it in place.
  if (features.data.length >= 16384 && !isHostMemory(features.data)) {
    const data = hostArray(Float32Array, features.data.length, { zero: false });
    data.set(features.data);
    features = { data, shape: features.shape };
  }
  return features;
}

/** Concatenates `[n_i, N, D]` pieces along the first axis. */
export function concatSteps(pieces: Tensor[], N: number, D: number): Tensor {
  const steps = pieces.reduce((a, p) => a + p.shape[0], 0);
  const data = hostArray(Float32Array, steps * N * D, { zero: false });
  let off = 0;
  for (const p of pieces) {
    data.set(p.data.subarray(0, p.shape[0] * N * D), off);
    off += p.shape[0] * N * D;
  }
  return { data, shape: [steps, N, D] };
}

/** Outcome of one episode of {@link encodeEpisodes}. */
export type EncodedEpisode =
  | { path: string; ok: true; features: Tensor; frames: number }
  | { path: string; ok: false; error: Error };

/** Options of {@link encodeEpisodes}. */
export interface EncodeEpisodesOptions {
  chunkFrames?: number;
  /** Called after every chunk: episode index, frames done in it, its total when known, episodes in all. */
  onProgress?: (episode: number, framesDone: number, framesTotal: number | undefined, episodes: number) => void;
  /** Called when an episode ends (encoded or failed), e.g. to write or label it right away. */
  onEpisode?: (result: EncodedEpisode, index: number) => void | Promise<void>;
  /** Videos: use the frames of a partial decode (with a warning) instead of failing that episode. */
  allowPartial?: boolean;
  /** Receives warnings with the episode's index (default: `process.emitWarning`). */
  onWarning?: (message: string, episode: number) => void;
}

/**
 * Encodes many episodes one after another. A bad episode (unreadable, empty,
 * mixed frame sizes…) does not stop the others: its result carries the error,
 * which names the file. Results come back in input order.
 *
 * @example
 * const results = await encodeEpisodes(paths, patchStatsEncoder());
 * for (const r of results) if (!r.ok) console.error(r.error.message);
 */
export async function encodeEpisodes(sources: Array<string | FrameSource>, encoder: FrameEncoder, opts?: EncodeEpisodesOptions): Promise<EncodedEpisode[]> {
  if (!Array.isArray(sources)) throw typeError('sources', 'an array of episode paths or FrameSources', sources);
  const o = checkOptions(opts, 'opts', { chunkFrames: 1, onProgress: 1, onEpisode: 1, allowPartial: 1, onWarning: 1 });
  const results: EncodedEpisode[] = [];
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i];
    const path = typeof s === 'string' ? s : (s as FrameSource)?.path ?? `sources[${i}]`;
    let frames = 0;
    let r: EncodedEpisode;
    try {
      const features = await encodeFrames(s, encoder, {
        chunkFrames: o.chunkFrames,
        onProgress: (done, total) => { frames = done; o.onProgress?.(i, done, total, sources.length); },
        ...(o.allowPartial !== undefined ? { allowPartial: o.allowPartial } : {}),
        ...(o.onWarning !== undefined ? { onWarning: (m: string) => o.onWarning!(m, i) } : {}),
      });
      r = { path, ok: true, features, frames };
    } catch (err) {
      r = { path, ok: false, error: err instanceof Error ? err : new Error(String(err)) };
    }
    results.push(r);
    await o.onEpisode?.(r, i);
  }
  return results;
}
