// Starts N ranks of a script on this machine, the way torchrun does for one
// node: each child gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR and MASTER_PORT (a free port unless given), its output lines
// are prefixed with its rank, the first rank to fail stops the others, and a
// SIGINT/SIGTERM to the launcher stops every rank.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import readline from 'node:readline';
import { checkInt, typeError } from '../core/validate.js';
import { MAX_DISTRIBUTED_TIMEOUT_MS } from '../torch/distributed.js';

/** Options of {@link launchRanks}. */
export interface LaunchOptions {
  /** Number of ranks (≥ 1). */
  nproc: number;
  /** The script each rank runs (a .mjs/.js file; .ts works when the launcher itself runs under tsx). */
  script: string;
  /** Arguments after the script. */
  args?: readonly string[];
  /** Default '127.0.0.1'. */
  masterAddr?: string;
  /** Default: a free port on masterAddr. */
  masterPort?: number;
  /** Sets FEAT2GO_DIST_TIMEOUT_MS for the ranks (initDistributed's default timeoutMs), in [1, 2^31 − 1]. */
  timeoutMs?: number;
  /** Extra environment for every rank. */
  env?: Record<string, string>;
  /** Node options for the ranks. Default: this process's (`process.execArgv`, so `--import tsx` carries over). */
  execArgv?: readonly string[];
  /** Where prefixed lines go. Default process.stdout / process.stderr. */
  stdout?: NodeJS.WritableStream;
  /**
   * Prefix the ranks' stdout lines with `[rank R] ` (default true). Off for a job whose
   * rank 0 alone writes its result on stdout (e.g. JSON); stderr lines are always prefixed.
   */
  prefixStdout?: boolean;
  stderr?: NodeJS.WritableStream;
  /** Milliseconds between SIGTERM and SIGKILL when stopping ranks. Default 5000. */
  killGraceMs?: number;
  /** Stop on SIGINT/SIGTERM to this process. Default true. */
  handleSignals?: boolean;
}

/** How a launch ended. */
export interface LaunchResult {
  /** 0 when every rank exited 0; else the first failed rank's status (128 + signal number when it was killed). */
  status: number;
  /** The first rank that failed, if any. */
  failedRank?: number;
  /** Each rank's exit status, in rank order (null: still running when stopped, then killed). */
  statuses: Array<number | null>;
  /** The port the ranks met on. */
  masterPort: number;
  /** Set when the launcher was interrupted. */
  signal?: NodeJS.Signals;
}

/** A free TCP port on `host` (the OS picks it; there is a small window before a rank binds it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** How long a rank's pipes may stay open after it exits (a background process it started can hold them). */
const PIPE_DRAIN_MS = 500;

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGABRT: 6, SIGSEGV: 11 };

/**
 * Runs `nproc` ranks of `script` and resolves when all have exited.
 * @example
 * const r = await launchRanks({ nproc: 2, script: 'train.mjs', args: ['--epochs', '3'] });
 * process.exitCode = r.status;
 */
export async function launchRanks(opts: LaunchOptions): Promise<LaunchResult> {
  const n = checkInt(opts.nproc, 'opts.nproc', 1, 4096);
  if (typeof opts.script !== 'string' || opts.script === '') throw typeError('opts.script', 'the path of a script', opts.script);
  // checked here, before any rank starts (every rank would otherwise fail on it)
  const timeoutMs = opts.timeoutMs === undefined ? undefined : checkInt(opts.timeoutMs, 'opts.timeoutMs', 1, MAX_DISTRIBUTED_TIMEOUT_MS);
  const addr = opts.masterAddr ?? '127.0.0.1';
  const port = opts.masterPort === undefined ? await freePort(addr) : checkInt(opts.masterPort, 'opts.masterPort', 1, 65535);
  const out = opts.stdout ?? process.stdout;
  const err = opts.stderr ?? process.stderr;
  const grace = opts.killGraceMs ?? 5000;
  const children: ChildProcess[] = [];
  const statuses: Array<number | null> = new Array(n).fill(null);
  let failedRank: number | undefined;
  let failedStatus = 0;
  let interrupted: NodeJS.Signals | undefined;
  let stopping = false;
  const timers: NodeJS.Timeout[] = [];

  const stopAll = () => {
    if (stopping) return;
    stopping = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    const t = setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, grace);
    t.unref();
    timers.push(t);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted ??= sig;
    err.write(`feat2go launch: ${sig}; stopping every rank\n`);
    stopAll();
  };
  const handle = opts.handleSignals !== false;
  if (handle) { process.on('SIGINT', onSignal); process.on('SIGTERM', onSignal); }

  const exits: Array<Promise<void>> = [];
  for (let r = 0; r < n; r++) {
    const child = spawn(process.execPath, [...(opts.execArgv ?? process.execArgv), opts.script, ...(opts.args ?? [])], {
      env: {
        ...process.env, ...opts.env,
        RANK: String(r), WORLD_SIZE: String(n), LOCAL_RANK: String(r), LOCAL_WORLD_SIZE: String(n),
        MASTER_ADDR: addr, MASTER_PORT: String(port),
        ...(timeoutMs !== undefined ? { FEAT2GO_DIST_TIMEOUT_MS: String(timeoutMs) } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const prefix = `[rank ${r}] `;
    const outPrefix = opts.prefixStdout === false ? '' : prefix;
    // Output lines are read until the pipes close (or, once the rank has exited, for PIPE_DRAIN_MS at most).
    const pipes = [child.stdout!, child.stderr!].map((input, k) => new Promise<void>((res) => {
      input.on('error', () => res());
      readline.createInterface({ input }).on('line', (l) => (k === 0 ? out.write(`${outPrefix}${l}\n`) : err.write(`${prefix}${l}\n`))).on('close', res);
    }));
    exits.push(new Promise<void>((resolve) => {
      let spawnError: Error | undefined;
      let ended = false;
      child.on('error', (e) => { spawnError = e; });
      // 'exit', not 'close': a rank that leaves a background process behind (holding its stdout) has
      // still ended, and a failed rank must stop the job now, not when that process lets go of the pipe.
      // ('close' covers a rank that could not start, which may emit no 'exit'.)
      const onEnd = (code: number | null, signal: NodeJS.Signals | null) => {
        if (ended) return;
        ended = true;
        const status = code ?? (signal ? 128 + (SIGNALS[signal] ?? 1) : 1);
        statuses[r] = status;
        if (spawnError) err.write(`feat2go launch: rank ${r} could not start: ${spawnError.message}\n`);
        if (status !== 0 && failedRank === undefined && !stopping) {
          failedRank = r;
          failedStatus = status;
          err.write(`feat2go launch: rank ${r} exited with ${signal ? `signal ${signal}` : `status ${status}`}; stopping the other ranks\n`);
          stopAll();
        }
        // What the rank wrote before it ended is already in the pipes: read it, but stop waiting
        // for them after PIPE_DRAIN_MS (a background process may hold them open for good).
        const t = setTimeout(() => {
          child.stdout!.destroy();
          child.stderr!.destroy();
          resolve();
        }, PIPE_DRAIN_MS);
        void Promise.all(pipes).then(() => { clearTimeout(t); resolve(); });
      };
      child.on('exit', onEnd);
      child.on('close', onEnd);
    }));
  }
  await Promise.all(exits);
  if (handle) { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); }
  for (const t of timers) clearTimeout(t);
  const status = failedRank !== undefined ? failedStatus : interrupted ? 128 + (SIGNALS[interrupted] ?? 1) : 0;
  return { status, ...(failedRank !== undefined ? { failedRank } : {}), statuses, masterPort: port, ...(interrupted ? { signal: interrupted } : {}) };
}
