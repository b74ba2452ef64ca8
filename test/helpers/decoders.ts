// LeRobot tests run on both video decoders: in process (FFmpeg's libraries,
// dlopen'ed by the core addon) and the ffmpeg CLI. The decoder is chosen by
// FEAT2GO_VIDEO_DECODER, which each run sets while it runs and restores after.
import { videoDecoderStatus, type VideoDecoderChoice } from '../../src/index.js';
import { testIf, type ConditionalTest } from './skip.js';

/** The decoders a test runs on. */
export const DECODERS: ReadonlyArray<Exclude<VideoDecoderChoice, 'auto'>> = ['libav', 'ffmpeg'];

/**
 * Registers `fn` once per decoder as `name [decoder]`: with `base` (a test that may itself be
 * skipped, e.g. without the video fixtures), and the libav run skipped, saying why, where
 * in-process decoding is unavailable.
 */
export function eachDecoder(base: { cond: boolean; reason: string }, name: string, fn: (decoder: 'libav' | 'ffmpeg') => Promise<void>): void {
  const s = videoDecoderStatus();
  for (const decoder of DECODERS) {
    const ok = base.cond && (decoder !== 'libav' || s.available);
    const t: ConditionalTest = testIf(ok, !base.cond ? base.reason : `in-process decoding unavailable: ${s.reason}`);
    t(`${name} [${decoder}]`, async () => {
      const prev = process.env.FEAT2GO_VIDEO_DECODER;
      process.env.FEAT2GO_VIDEO_DECODER = decoder;
      try {
        await fn(decoder);
      } finally {
        if (prev === undefined) delete process.env.FEAT2GO_VIDEO_DECODER;
        else process.env.FEAT2GO_VIDEO_DECODER = prev;
      }
    });
  }
}
