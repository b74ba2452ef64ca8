// Terminal output shared by the commands and `npm start`: the progress bar on
// stderr, the one-line report of a skipped input, and the bar's label while an
// episode's frames are encoded. Nothing here parses options or runs a job.
import type { LabelFailure } from '../jobs/label.js';
import type { CommandIO } from './command.js';

/** A progress bar returned by {@link progressBar}. */
export interface ProgressBar {
  /** Shows `done/total label` and fills the bar to `fraction` (default `done / total`). */
  update(done: number, total: number, label: string, fraction?: number): void;
  /** Erases the bar (before other output, and at the end). */
  clear(): void;
}

/**
 * A progress bar on a terminal (stderr), redrawn in place; silent elsewhere.
 * `update(done, total, label, fraction?)` shows `done/total` and fills the bar to
 * `fraction` (default `done / total`; finer when an episode is part done).
 *
 * @param stream where to draw (its `columns` bounds the line)
 * @param enabled false: every call does nothing (not a terminal, or one episode)
 */
export function progressBar(stream: CommandIO['stderr'], enabled: boolean): ProgressBar {
  let shown = false;
  return {
    update(done: number, total: number, label: string, fraction = done / total) {
      if (!enabled) return;
      const width = 28;
      const filled = Math.max(0, Math.min(width, Math.round(fraction * width)));
      const cols = stream.columns ?? 80;
      const text = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${label}`;
      stream.write(`\r\x1b[K${text.slice(0, cols - 1)}`);
      shown = true;
    },
    clear() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}

/** Formats one skipped file as the single line printed on stderr (`command` names the subcommand, default 'label'). */
export function failureLine(f: LabelFailure, command = 'label'): string {
  return `feat2go ${command}: skipped ${f.file}${f.tensor !== undefined ? ` [${f.tensor}]` : ''}${f.episode !== undefined ? ` [episode ${f.episode}]` : ''}: ${f.reason}`;
}

/** The bar's label while an episode's frames are encoded: `name 40/96 frames`. */
export function framesLabel(name: string, framesDone: number, framesTotal: number | undefined): string {
  return `${name} ${framesDone}${framesTotal ? `/${framesTotal}` : ''} frames`;
}
