/**
 * `--workers N|auto` for a service command (serve; any listener service can adopt it with
 * `withWorkers`): a primary process forks N workers on node:cluster, which share the listening
 * port (Node's round-robin hands each new connection to the next worker). Each worker runs the
 * command as it would run alone: its own vault thread over the same key file (the counter lock keeps
 * their reservations apart), cookie keeper and registry reader, its own logs (tagged `worker=K`).
 *
 * The primary holds no key and serves nothing itself. It
 * - logs `listening … workers=N` once every worker listens;
 * - restarts a worker that dies, after a backoff that doubles with each death of that worker within
 *   a minute (a worker that dies before it ever listened is a start-up failure: the primary stops
 *   the others and exits with its code);
 * - passes SIGHUP (reload) on to the workers that are serving, and SIGINT/SIGTERM (stop: drain)
 *   to every worker, a second one too (end the drain), as orders over the cluster channel (a
 *   signal the worker also got itself from its process group must not count twice; see
 *   cli/signals.ts); then exits once all have exited;
 * - with --metrics, serves the sum of its workers' metrics (cli/metrics.ts).
 * If the primary dies, Node's cluster makes each worker exit at once.
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { UsageError, durationMs, formatHostPort, parseHostPort } from './args.js';
import type { OptionSpec, Parsed } from './args.js';
import type { Io } from './io.js';
import { Log, logFormatOption } from './log.js';
import { startClusterMetrics } from './metrics.js';
import { DEFAULT_DRAIN_MS } from './service.js';
import { aborted } from './signals.js';
import { WORKER_ENV } from './worker-identity.js';
import type { PrimaryOrder } from './worker-identity.js';
import { packageVersion } from './version.js';

/** The option, for a command's option list. */
export const WORKER_OPTIONS = { workers: { type: 'string' } } as const satisfies OptionSpec;

/** More workers than this is a typo, not a machine. */
const MAX_WORKERS = 256;
/** A worker's restart delays: the first, and the longest. */
export const RESTART_BACKOFF_MS = 250;
export const RESTART_MAX_BACKOFF_MS = 30_000;
/** Deaths of one worker further apart than this do not add to its backoff. */
const BACKOFF_WINDOW_MS = 60_000;
/** After SIGTERM, workers still running this long past the drain timeout are killed. */
const STOP_GRACE_MS = 30_000;

/** `--workers`: a positive count, or `auto` (one per core Node may use); null when absent. */
export function workersOption(value: unknown): number | null {
  if (value === undefined) return null;
  if (value === 'auto') return Math.min(availableParallelism(), MAX_WORKERS);
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < 1 || n > MAX_WORKERS) {
    throw new UsageError(`--workers must be auto or a number from 1 to ${MAX_WORKERS}`);
  }
  return n;
}

type Run = (parsed: Parsed, io: Io) => Promise<number>;

/** `run` with `--workers`: the primary when asked for one, the command itself otherwise (and in each worker). */
export function withWorkers(command: string, run: Run): Run {
  return async (parsed, io) => {
    const count = workersOption(parsed.values.workers);
    if (count === null || cluster.isWorker) return run(parsed, io);
    return runPrimary(command, parsed, io, count);
  };
}

interface Slot {
  number: number;
  worker: Worker | null;
  /** When this slot's workers died, for the backoff. */
  deaths: number[];
  restarts: number;
  /** This slot's current worker has listened. */
  serving: boolean;
  /** Some worker of this slot has listened: a death is then a crash, not a start-up failure. */
  everServed: boolean;
  restart: NodeJS.Timeout | null;
}

async function runPrimary(command: string, parsed: Parsed, io: Io, count: number): Promise<number> {
  const log = new Log(io.log, logFormatOption(parsed.values['log-format']), parsed.values.verbose === true).with({ role: 'primary' });
  const drainMs = durationMs(parsed.values['drain-timeout'], 'drain-timeout', DEFAULT_DRAIN_MS);
  const metricsAt = parsed.values.metrics === undefined ? null : parseHostPort(parsed.values.metrics as string, '--metrics');
  log.info('start', { command, version: packageVersion(), pid: process.pid, workers: count });
  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({ number: i + 1, worker: null, deaths: [], restarts: 0, serving: false, everServed: false, restart: null }));
  let stopping = false;
  let failure: number | null = null;
  let announced = false;
  let allExited: () => void = () => undefined;
  const exited = new Promise<void>((resolve) => (allExited = resolve));
  const live = () => slots.filter((s) => s.worker !== null);

  const fork = (slot: Slot) => {
    slot.restart = null;
    slot.serving = false;
    const worker = cluster.fork({ [WORKER_ENV]: String(slot.number) });
    slot.worker = worker;
    log.info('worker_started', { worker: slot.number, pid: worker.process.pid });
    worker.on('listening', (address) => {
      if (slot.worker !== worker || slot.serving) return;
      slot.serving = slot.everServed = true;
      if (announced) log.info('worker_ready', { worker: slot.number, pid: worker.process.pid });
      else if (slots.every((s) => s.serving)) {
        announced = true;
        log.info('listening', { address: formatHostPort(address.address ?? '', address.port), workers: count });
      }
    });
    worker.on('exit', (code, signal) => {
      slot.worker = null;
      slot.serving = false;
      const fields = { worker: slot.number, pid: worker.process.pid, code, signal };
      if (stopping) log.info('worker_stopped', fields);
      else if (!slot.everServed) {
        log.error('worker_failed', { ...fields, reason: 'exited before it listened' });
        failure ??= code && code > 0 ? code : 1;
        stop('worker_failed');
      } else {
        const now = Date.now();
        slot.deaths = [...slot.deaths.filter((t) => now - t < BACKOFF_WINDOW_MS), now];
        const delay = Math.min(RESTART_MAX_BACKOFF_MS, RESTART_BACKOFF_MS * 2 ** (slot.deaths.length - 1));
        log.warn('worker_exited', { ...fields, restart_in_ms: delay });
        slot.restarts++;
        slot.restart = setTimeout(() => fork(slot), delay);
      }
      if (stopping && live().length === 0) allExited();
    });
  };

  const orderAll = (order: PrimaryOrder['order'], signal: string, only: (s: Slot) => boolean = () => true) => {
    const message: PrimaryOrder = { curvetun: 'order', order, signal };
    for (const slot of live()) if (only(slot) && slot.worker!.isConnected()) slot.worker!.send(message);
  };
  let killTimer: NodeJS.Timeout | null = null;
  function stop(reason: string): void {
    if (stopping) return;
    stopping = true;
    for (const slot of slots) if (slot.restart) clearTimeout(slot.restart);
    log.info('stopping', { reason, workers: live().length, drain_timeout_ms: drainMs });
    orderAll('stop', reason);
    if (live().length === 0) allExited();
    killTimer = setTimeout(() => {
      log.error('workers_killed', { workers: live().length, reason: `still running ${STOP_GRACE_MS / 1000} s after the drain timeout` });
      for (const slot of live()) slot.worker!.process.kill('SIGKILL');
    }, drainMs + STOP_GRACE_MS);
  }

  const offReload = io.signals.onReload((signal) => {
    const serving = slots.filter((s) => s.serving).length;
    log.info('signal', { signal, action: 'reload', workers: serving });
    orderAll('reload', signal, (s) => s.serving); // one still starting reads known_hosts anew anyway
  });
  const offIgnored = io.signals.onIgnored((signal) => log.warn('signal', { signal, action: 'ignored' }));
  void aborted(io.signals.stop).then(() => stop(String(io.signals.stop.reason)));
  void aborted(io.signals.hurry).then(() => {
    log.info('signal', { signal: String(io.signals.hurry.reason), action: 'end the drain', workers: live().length });
    orderAll('hurry', String(io.signals.hurry.reason));
  });

  const metrics = metricsAt ? await startClusterMetrics(metricsAt, () => slots.reduce((n, s) => n + s.restarts, 0)) : null;
  if (metrics) log.info('metrics', { url: metrics.url });
  for (const slot of slots) fork(slot);
  try {
    await exited;
  } finally {
    if (killTimer) clearTimeout(killTimer);
    offReload();
    offIgnored();
    await metrics?.close();
  }
  log.info('stopped', { workers: count });
  return failure ?? 0;
}
