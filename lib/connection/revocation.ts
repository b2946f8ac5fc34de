/**
 * A listener's open connections, re-checked against the registry when it changes (issue 12,
 * item 10): a connection whose key the registry no longer allows from its address, over its
 * version (a key that lost its `@v1` line loses its v1 sessions), is closed with `EAUTH` (a v2
 * peer is told so by a CLOSE with the revocation code, session-end.ts).
 * One pass at a time, in slices; a change during a pass asks for one more pass after it.
 */
import type { Verdict } from '../registry/types.js';
import type { Protocol } from './data-session.js';
import { revokedReason } from './session-end.js';
import type { CurvetunSocket } from './socket.js';

/** Open connections re-checked at once after a registry change. */
const RECHECK_SLICE = 256;

export type Recheck = (remoteAddress: string, clientKey: Uint8Array, protocol: Protocol) => Promise<Verdict>;

export class OpenConnections {
  private readonly sockets = new Set<CurvetunSocket>();
  private unwatch: (() => void) | null;
  /** A re-check pass in progress, and whether the registry changed again meanwhile. */
  private rechecking: Promise<number> | null = null;
  private recheckAgain = false;
  private stopped = false;

  constructor(
    private readonly recheck: Recheck | undefined,
    watchRegistry: ((changed: () => void) => () => void) | undefined,
  ) {
    this.unwatch = watchRegistry?.(() => this.registryChanged()) ?? null;
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Count `socket` until it closes. */
  track(socket: CurvetunSocket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** See `Listener.reverify`. */
  async reverify(): Promise<number> {
    const recheck = this.recheck;
    if (!recheck) return 0;
    let closed = 0;
    const sockets = [...this.sockets];
    // In slices, so that ten thousand open connections do not queue ten thousand calls at once.
    for (let i = 0; i < sockets.length; i += RECHECK_SLICE) {
      const slice = sockets.slice(i, i + RECHECK_SLICE);
      const verdicts = await Promise.all(slice.map((s) => recheck(s.remoteAddress, s.peerKey, s.protocol).catch(() => null)));
      slice.forEach((socket, j) => {
        const verdict = verdicts[j];
        if (!verdict || verdict.allowed || socket.closed) return;
        socket.abort(revokedReason(verdict.reason));
        closed++;
      });
    }
    return closed;
  }

  /** No more re-checks on registry changes (the listener is closing). */
  stop(): void {
    this.stopped = true;
    this.unwatch?.();
    this.unwatch = null;
  }

  private registryChanged(): void {
    if (this.stopped) return;
    if (this.rechecking) {
      this.recheckAgain = true;
      return;
    }
    this.rechecking = this.reverify().finally(() => {
      this.rechecking = null;
      if (this.recheckAgain) {
        this.recheckAgain = false;
        this.registryChanged();
      }
    });
  }
}
