// `feat2go merge-summaries DIR...`: one summary from the shard manifests of
// `feat2go label --shard I/N` (src/jobs/label.ts mergeSummaries).
import path from 'node:path';
import { formatSummaryTable, mergeSummaries } from '../jobs/label.js';
import { UsageError, outputFolderOption, type Command } from './command.js';

export const mergeSummariesCommand: Command = {
  name: 'merge-summaries',
  summary: 'Combine the shard manifests of `label --shard I/N` into one summary.json / summary.md.',
  usage: '<dir>... [options]',
  description: [
    'Reads every shard-I-of-N.json in the given folders (the outputs of `feat2go label --shard I/N`, on one machine or copied from many) and writes summary.json and summary.md listing the episodes as one unsharded run would.',
    'Refuses, with a message naming the shards, manifests of different splits, inputs or options, a shard present twice or missing, an episode claimed by two shards, and a manifest that is not one (empty, truncated, edited, a named pipe) naming the file (exit status 1). The episodes\' own outputs stay where the shards wrote them.',
  ].join('\n\n'),
  options: [
    { name: 'out', short: 'o', type: 'string', value: 'DIR', description: 'Where summary.json / summary.md go (default: the first folder).' },
    { name: 'json', type: 'boolean', description: 'Print one JSON object ({ ok, out, manifests, episodes, failures }) instead of the table.' },
  ],
  examples: [
    'feat2go merge-summaries labels/',
    'feat2go merge-summaries node0/labels node1/labels node2/labels --out labels/',
  ],
  async run({ values, positionals }, io) {
    if (positionals.length === 0) throw new UsageError('missing <dir>: give the folder(s) holding shard-I-of-N.json manifests');
    const out = typeof values.out === 'string' ? values.out : undefined;
    if (out === '') throw new UsageError("--out expects a folder path but received ''");
    // checked (and created) before any manifest is read: a file, or a folder that cannot be made (/proc/x), is exit 2 at once
    if (out !== undefined) outputFolderOption(out);
    const r = mergeSummaries(positionals, out);
    if (values.json === true) {
      io.stdout.write(`${JSON.stringify({ ok: r.failures.length === 0, out: path.resolve(r.out), manifests: r.manifests, options: r.options, episodes: r.episodes, failures: r.failures, summary: r.summary })}\n`);
    } else {
      io.stdout.write(formatSummaryTable({ episodes: r.episodes, failures: [], encoder: r.encoder }));
      io.stdout.write(`\n${r.manifests.length} shards merged: ${r.episodes.length} episode${r.episodes.length === 1 ? '' : 's'}` +
        `${r.failures.length ? `, ${r.failures.length} skipped` : ''} (summary: ${r.summary.md})\n`);
    }
    return r.failures.length === 0 ? 0 : 1;
  },
};
