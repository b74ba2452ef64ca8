// `feat2go view DIR`: a local web viewer over a label output folder
// (src/jobs/view.ts). Prints the address first, serves until Ctrl-C.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { startViewServer, type ViewServer } from '../jobs/view.js';
import { UsageError, intOption, type Command } from './command.js';

/** The port tried when --port is not given (a free one when it is taken). */
export const DEFAULT_VIEW_PORT = 8765;

function openBrowser(url: string): Promise<string | undefined> {
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  return new Promise((resolve) => {
    const p = spawn(cmd, args as string[], { stdio: 'ignore', detached: true });
    p.on('error', (e) => resolve(`${cmd}: ${e.message}`));
    p.on('spawn', () => { p.unref(); resolve(undefined); });
  });
}

export const viewCommand: Command = {
  name: 'view',
  summary: 'Look at labelled episodes in the browser: frames against V(t), stages as bands, the experiment.',
  usage: '<dir> [--port N] [--host H] [--open]',
  description: [
    'Serves a label output folder (from `feat2go label`, or the feat2go-out/ folder of `npm start`, with its experiment/) to a page in your browser: a sortable, filterable table of the episodes; each episode\'s frames above its V(t) curve with the stages as shaded bands, S(t) and the Steps-To-Go line on demand, a playhead you drag, ← → one frame, Space to play, ↑ ↓ for the next episode; V(t) of several episodes on normalised time; and the experiment\'s table and curves.',
    'The first line on stdout is the address. Frames come from where the labeller read them (recorded in summary.json): a folder of images, a .npy array or a video (served with HTTP Range, so the page can seek it). Everything the page needs is served from this machine; nothing is fetched from the internet.',
    'It listens on 127.0.0.1 (this machine only) unless --host says otherwise; it answers GET and HEAD only, serves nothing outside DIR but the episodes\' recorded frames, and runs until Ctrl-C.',
  ].join('\n\n'),
  options: [
    { name: 'port', short: 'p', type: 'string', value: 'N', description: `Port to listen on; 0 takes a free port. Without --port, ${DEFAULT_VIEW_PORT}, or a free port when that one is taken.` },
    { name: 'host', type: 'string', value: 'H', description: 'Address to listen on; 0.0.0.0 opens it to every machine that can reach this one (with a warning: there is no login).', default: '127.0.0.1' },
    { name: 'open', type: 'boolean', description: 'Open the page in the default browser.' },
  ],
  examples: [
    'feat2go view feat2go-out',
    'feat2go view labels/ --port 0 --open',
    'feat2go view labels/ --host 0.0.0.0 --port 8080',
  ],
  async run({ values, positionals }, io) {
    if (positionals.length === 0) throw new UsageError('missing <dir>: give a folder written by `feat2go label` or `npm start`');
    if (positionals.length > 1) throw new UsageError(`expected one folder but received ${positionals.length}: ${positionals.join(' ')}`);
    const dir = positionals[0];
    if (!fs.existsSync(dir)) throw new UsageError(`${dir}: no such folder`);
    if (!fs.statSync(dir).isDirectory()) throw new UsageError(`${dir}: not a folder`);
    const port = intOption(values.port, 'port', 0, 65535);
    const host = String(values.host);
    if (host === '') throw new UsageError("--host expects an address but received ''");
    let server: ViewServer;
    try {
      server = await startViewServer(dir, { port: port ?? DEFAULT_VIEW_PORT, host });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' && port === undefined) {
        server = await startViewServer(dir, { port: 0, host });
      } else if (code === 'EADDRINUSE') {
        throw new Error(`port ${port} is in use: give another --port, or --port 0 for a free one`);
      } else if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
        throw new UsageError(`--host ${host}: not an address of this machine (${code})`);
      } else {
        throw err;
      }
    }
    io.stdout.write(`${server.url}\n`);
    const ix = server.index;
    const what = [`${ix.episodes.length} episode${ix.episodes.length === 1 ? '' : 's'}`, ...(ix.experiment !== null ? ['the experiment'] : [])].join(' and ');
    io.stdout.write(`feat2go view: ${what} from ${ix.dir}; Ctrl-C stops.\n`);
    if (host === '0.0.0.0' || host === '::' || !/^(127\.\d+\.\d+\.\d+|localhost|::1)$/.test(host)) {
      io.stderr.write(`feat2go view: warning: listening on ${host}: every machine that can reach this one can read ${ix.dir} and the episodes' frames; there is no login. Use the default --host 127.0.0.1 to keep it on this machine.\n`);
    }
    if (values.open === true) {
      const failed = await openBrowser(server.url);
      if (failed) io.stderr.write(`feat2go view: could not open a browser (${failed}); open ${server.url} yourself.\n`);
    }
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await server.close();
    io.stderr.write('feat2go view: stopped\n');
    return 0;
  },
};
