/**
 * The process signals of the `curvetun` command:
 * - SIGINT / SIGTERM: the first asks the command to stop (a service stops accepting and drains
 *   its open connections); the second ends the drain at once; the third exits at once (130).
 * - SIGHUP: goes to the command's reload listener (a service reloads known_hosts). A command
 *   without one keeps Node's default: SIGHUP ends it.
 * - SIGUSR1: ignored (bin/curvetun.ts installs the first listener, which is what stops Node from
 *   opening its inspector); a service logs that it ignored it.
 * In a worker of `--workers` (cli/workers.ts) the primary gives the orders, over the cluster
 * channel: stop (it got SIGINT/SIGTERM), hurry (it got a second one), reload (it got SIGHUP). A
 * SIGINT/SIGTERM that reaches the worker itself (a terminal's Ctrl-C, systemd's stop: both reach
 * every process of the group) stops it too, but never counts as a second signal: only the
 * primary ends a worker's drain early. A worker stopped on its own is restarted by its primary.
 */
import cluster from 'node:cluster';
import { isPrimaryOrder } from './worker-identity.js';

type Listener = (signal: string) => void;

export interface Signals {
  /** Aborted on the first SIGINT/SIGTERM; `reason` is the signal's name. */
  readonly stop: AbortSignal;
  /** Aborted on the second: a drain in progress ends now. */
  readonly hurry: AbortSignal;
  /** SIGHUP from now on goes to `listener`; returns the unsubscribe. */
  onReload(listener: Listener): () => void;
  /** Tell `listener` about each ignored SIGUSR1; returns the unsubscribe. */
  onIgnored(listener: Listener): () => void;
}

export function processSignals(): Signals {
  const stop = new AbortController();
  const hurry = new AbortController();
  const inWorker = cluster.isWorker;
  let stops = 0;
  const onStop = (signal: NodeJS.Signals) => {
    stops++;
    if (stops === 1) stop.abort(signal);
    else if (inWorker) return; // only the primary's order ends a worker's drain
    else if (stops === 2) hurry.abort(signal);
    else process.exit(130);
  };
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  const reloaders = new Set<Listener>();
  if (inWorker) {
    process.on('message', (message: unknown) => {
      if (!isPrimaryOrder(message)) return;
      if (message.order === 'stop') {
        if (!stop.signal.aborted) stop.abort(message.signal);
      } else if (message.order === 'hurry') hurry.abort(message.signal);
      else for (const listener of reloaders) listener(message.signal);
    });
  }
  const subscribe = (signal: NodeJS.Signals) => (listener: Listener) => {
    const handler = () => listener(signal);
    process.on(signal, handler);
    if (signal === 'SIGHUP') reloaders.add(listener);
    return () => {
      process.off(signal, handler);
      reloaders.delete(listener);
    };
  };
  return { stop: stop.signal, hurry: hurry.signal, onReload: subscribe('SIGHUP'), onIgnored: subscribe('SIGUSR1') };
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
