/**
 * What `serve`, `tunnel` and `echo-server` share as services: a bounded set of open connections,
 * the accept loop over a curvetun listener, and the life of the process around them:
 *
 *   start → SIGHUP reloads (as often as it comes) → SIGINT/SIGTERM: stop accepting, let open
 *   connections finish for --drain-timeout (a second signal ends the wait), close the rest → exit 0
 */
import inspector from 'node:inspector';
import type { Listener } from '../../lib/connection/listener.js';
import type { CurvetunSocket } from '../../lib/connection/socket.js';
import type { WorkerRegistry } from '../../lib/registry/index.js';
import { durationMs, formatHostPort, keepAliveOption, parseHostPort, positiveInt } from './args.js';
import type { Parsed } from './args.js';
import type { Io } from './io.js';
import { Log, keyField, logFormatOption } from './log.js';
import type { LogFields } from './log.js';
import { NO_METRICS, startMetrics } from './metrics.js';
import type { Metrics } from './metrics.js';
import { aborted } from './signals.js';
import { packageVersion } from './version.js';
import { workerFields, workerNumber } from './worker-identity.js';

/** Default of --drain-timeout. */
export const DEFAULT_DRAIN_MS = 30_000;
/** After the drain, closed connections get this long to finish their last log line. */
const CLOSE_GRACE_MS = 5_000;

/** Set when the service itself ends a connection: the reason its log line gives. */
export interface EndNote {
  reason: string | null;
}

interface Open {
  note: EndNote;
  close(): void;
}

/** The connections a service has open, at most `max`. */
export class Connections {
  private readonly open = new Set<Open>();
  private emptied: (() => void) | null = null;

  constructor(
    readonly max: number,
    private readonly metrics: Metrics,
  ) {}

  get size(): number {
    return this.open.size;
  }

  get full(): boolean {
    return this.open.size >= this.max;
  }

  /**
   * Run one connection's work until it ends. `close` ends it early (the drain timed out, the key
   * was revoked); the work sees why in its `EndNote`.
   */
  run(work: (note: EndNote) => Promise<void>, close: () => void): void {
    const entry: Open = { note: { reason: null }, close };
    this.open.add(entry);
    this.metrics.connectionOpened();
    const done = () => {
      this.open.delete(entry);
      this.metrics.connectionClosed();
      if (this.open.size === 0) this.emptied?.();
    };
    work(entry.note).then(done, done);
  }

  /** Close every open connection, giving `reason` in its log line. */
  closeAll(reason: string): number {
    const all = [...this.open];
    for (const entry of all) {
      entry.note.reason ??= reason;
      entry.close();
    }
    return all.length;
  }

  /**
   * Wait until every connection has ended by itself, at most `timeoutMs` (less if `hurry`
   * aborts), then close the rest. Resolves with how many were still open at the deadline.
   */
  async drain(timeoutMs: number, hurry: AbortSignal): Promise<number> {
    await this.settled(timeoutMs, hurry);
    const cut = this.open.size === 0 ? 0 : this.closeAll(hurry.aborted ? `closed on a second ${String(hurry.reason)}` : `still open after the drain timeout (${timeoutMs / 1000} s)`);
    if (cut > 0) await this.settled(CLOSE_GRACE_MS, new AbortController().signal);
    return cut;
  }

  private settled(timeoutMs: number, hurry: AbortSignal): Promise<void> {
    if (this.open.size === 0 || timeoutMs === 0 || hurry.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        hurry.removeEventListener('abort', finish);
        this.emptied = null;
        resolve();
      };
      const timer = setTimeout(finish, timeoutMs);
      hurry.addEventListener('abort', finish, { once: true });
      this.emptied = finish;
    });
  }
}

/** The log fields naming a curvetun peer: address and key fingerprint. */
export function peerFields(socket: CurvetunSocket): { peer: string; key: string | undefined } {
  return { peer: formatHostPort(socket.remoteAddress, socket.remotePort), key: keyField(socket.peerKey) };
}

/**
 * Accept until the listener closes: each connection runs `handle` within `connections`; one over
 * the limit is closed at once (and logged as refused). Handshake outcomes go to the log and the
 * metrics: a refused key by its fingerprint.
 */
export async function acceptLoop(
  listener: Listener,
  connections: Connections,
  handle: (socket: CurvetunSocket, note: EndNote) => Promise<void>,
  log: Log,
  metrics: Metrics,
): Promise<void> {
  listener.on('handshake', (report) => {
    metrics.handshake(report);
    if (report.error === null) return;
    // A key the registry refused is worth a warning; scanners and broken clients are not.
    const fields = {
      peer: formatHostPort(report.remoteAddress, report.remotePort),
      key: keyField(report.peerKey),
      duration_ms: Math.round(report.durationMs),
      reason: report.error.message,
    };
    if (report.keyRefused) log.warn('refused', fields);
    else log.info('refused', fields);
  });
  try {
    for await (const socket of listener) {
      if (connections.full) {
        log.warn('refused', { ...peerFields(socket), reason: `too many connections (--max-connections ${connections.max})` });
        metrics.dropped('too_many_connections');
        void socket.close();
        continue;
      }
      connections.run(
        (note) => handle(socket, note),
        () => void socket.close(),
      );
    }
  } catch (error) {
    log.error('accept_failed', { reason: (error as Error).message });
  }
}

export interface Service {
  connections: Connections;
  /** Stop taking new connections (open ones carry on). */
  stopAccepting(): Promise<void>;
  /** SIGHUP. */
  reload(): Promise<void>;
}

/** Serve until SIGINT/SIGTERM, reloading on SIGHUP; then drain and resolve with the exit code (0). */
export async function runUntilStopped(io: Io, log: Log, service: Service, drainMs: number): Promise<number> {
  const offReload = io.signals.onReload((signal) => {
    log.info('signal', { signal, action: 'reload' });
    service.reload().catch((error: unknown) => log.error('reload_failed', { reason: (error as Error).message }));
  });
  const offIgnored = io.signals.onIgnored((signal) =>
    log.warn('signal', { signal, action: 'ignored', reason: 'no inspector in a process that holds a vault' }),
  );
  try {
    await aborted(io.signals.stop);
    log.info('stopping', { signal: String(io.signals.stop.reason), open: service.connections.size, drain_timeout_ms: drainMs });
    await service.stopAccepting();
    const open = service.connections.size;
    const cut = await service.connections.drain(drainMs, io.signals.hurry);
    log.info('stopped', { drained: open - cut, closed: cut });
    return 0;
  } finally {
    offReload();
    offIgnored();
  }
}

export interface ServiceSetup {
  log: Log;
  metrics: Metrics;
  drainMs: number;
  maxConnections: number;
  /** `--keepalive`, for the curvetun connections' `keepAlive` option (absent: the default, on). */
  keepAlive: { keepAlive?: false | { initialDelay: number } };
  /** --idle-timeout / --ping-interval, as listen() / connect() options (absent when not given). */
  liveness: { idleTimeout?: number; pingInterval?: number };
}

/** --idle-timeout and --ping-interval (seconds, or 500ms), for the curvetun side of a service. */
function livenessOptions(parsed: Parsed): ServiceSetup['liveness'] {
  const out: ServiceSetup['liveness'] = {};
  if (parsed.values['idle-timeout'] !== undefined) out.idleTimeout = durationMs(parsed.values['idle-timeout'], 'idle-timeout', 0);
  if (parsed.values['ping-interval'] !== undefined) out.pingInterval = durationMs(parsed.values['ping-interval'], 'ping-interval', 0);
  return out;
}

/**
 * The start of every service: its options (--log-format, --drain-timeout, --max-connections,
 * --keepalive, --metrics), the `start` line with the package version, and the metrics server when asked for.
 */
export async function startService(command: string, parsed: Parsed, io: Io, details: LogFields): Promise<ServiceSetup> {
  const log = new Log(io.log, logFormatOption(parsed.values['log-format']), parsed.values.verbose === true).with(workerFields());
  const drainMs = durationMs(parsed.values['drain-timeout'], 'drain-timeout', DEFAULT_DRAIN_MS);
  const maxConnections = positiveInt(parsed.values['max-connections'], 'max-connections', 256);
  const keepAliveValue = keepAliveOption(parsed.values.keepalive);
  const keepAlive = keepAliveValue === undefined ? {} : { keepAlive: keepAliveValue };
  const metricsAt = parsed.values.metrics === undefined ? null : parseHostPort(parsed.values.metrics as string, '--metrics');
  const liveness = livenessOptions(parsed);
  log.info('start', { command, version: packageVersion(), pid: process.pid });
  log.debug('config', { ...details, node: process.version, drain_timeout_ms: drainMs, max_connections: maxConnections, idle_timeout_ms: liveness.idleTimeout ?? 0, keepalive: keepAliveValue === false ? 'off' : `${(keepAliveValue?.initialDelay ?? 60_000) / 1000} s` });
  if (inspector.url()) log.warn('inspector_open', { reason: 'the Node.js inspector is open (--inspect?): anyone who can reach it can read this process, vault included' });
  if (!metricsAt) return { log, metrics: NO_METRICS, drainMs, maxConnections, keepAlive, liveness };
  // In a worker of --workers, the primary serves the metrics of all (cli/workers.ts).
  const { metrics, url } = await startMetrics(metricsAt, workerNumber() !== null);
  if (url) log.info('metrics', { url });
  return { log, metrics, drainMs, maxConnections, keepAlive, liveness };
}

/**
 * Log known_hosts' own news (reloaded after a change, a change refused), and reload it on demand
 * (SIGHUP): a reload that finds the file unchanged says so.
 */
export function watchKnownHosts(registry: WorkerRegistry, file: string, log: Log): { reload(): Promise<void> } {
  let reloads = 0;
  registry.on('reload', () => {
    reloads++;
    registry.status().then(
      (status) => log.info('reloaded', { known_hosts: file, entries: status.entries, changed: true }),
      () => undefined,
    );
  });
  registry.on('problem', (message) => log.warn('reload_refused', { known_hosts: file, reason: `kept the last good registry: ${message}` }));
  return {
    async reload() {
      const before = reloads;
      const problem = await registry.reload();
      // The worker's notice of a change arrives before its answer: no notice, no change.
      if (problem) log.warn('reload_refused', { known_hosts: file, reason: `kept the last good registry: ${problem}` });
      else if (reloads === before) log.info('reloaded', { known_hosts: file, changed: false });
    },
  };
}

/**
 * A service over a curvetun listener (serve, echo-server): accept into `handle` until stopped;
 * SIGHUP reloads known_hosts (when there is one) and re-checks the open connections' keys, also
 * when the text did not change (name patterns may resolve elsewhere now). Resolves with the exit code.
 */
export async function runListenerService(
  io: Io,
  setup: ServiceSetup,
  listener: Listener,
  knownHosts: { reload(): Promise<void> } | null,
  handle: (socket: CurvetunSocket, note: EndNote) => Promise<void>,
): Promise<number> {
  const { log, metrics, drainMs, maxConnections } = setup;
  const connections = new Connections(maxConnections, metrics);
  const loop = acceptLoop(listener, connections, handle, log, metrics);
  const code = await runUntilStopped(io, log, {
    connections,
    stopAccepting: () => listener.close(),
    reload: async () => {
      if (!knownHosts) return log.info('reloaded', { changed: false, note: 'no known_hosts (--any-client)' });
      await knownHosts.reload();
      await listener.reverify();
    },
  }, drainMs);
  await loop;
  await metrics.close();
  return code;
}
