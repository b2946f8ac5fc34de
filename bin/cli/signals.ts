/**
 * The process signals of the `curvetun` command:
 * - SIGINT / SIGTERM: the first asks the command to stop (a service stops accepting and drains
 *   its open connections); the second ends the drain at once; the third exits at once (130).
 * - SIGHUP: goes to the command's reload listener (a service reloads known_hosts). A command
 *   without one keeps Node's default: SIGHUP ends it.
 * - SIGUSR1: ignored (bin/curvetun.ts installs the first listener, which is what stops Node from
 *   opening its inspector); a service logs that it ignored it.
 */
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
  let stops = 0;
  const onStop = (signal: NodeJS.Signals) => {
    stops++;
    if (stops === 1) stop.abort(signal);
    else if (stops === 2) hurry.abort(signal);
    else process.exit(130);
  };
  process.on('SIGINT', onStop);
  process.on('SIGTERM', onStop);
  const subscribe = (signal: NodeJS.Signals) => (listener: Listener) => {
    const handler = () => listener(signal);
    process.on(signal, handler);
    return () => void process.off(signal, handler);
  };
  return { stop: stop.signal, hurry: hurry.signal, onReload: subscribe('SIGHUP'), onIgnored: subscribe('SIGUSR1') };
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
