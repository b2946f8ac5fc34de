/**
 * Liveness of a connected socket (PROTOCOL.md, "v2 liveness"): when nothing has arrived from the
 * peer for `pingInterval` ms a v2 socket sends a PING (at most one outstanding), and when nothing
 * has arrived for `idleTimeout` ms the connection is closed with `ETIMEDOUT` (v1 too; v1 has no
 * PING, so a v1 peer that is silent but alive is closed as well). "Arrived" is any byte from TCP,
 * so a busy connection never pings. One timer per connection, re-armed for the nearer of the two
 * deadlines; its callback is a shared function (no closure per connection), and it never keeps
 * the process alive.
 */

/** What the liveness timer asks of its socket. */
export interface LivenessOwner {
  /** Nothing arrived for `pingInterval`: send a PING (if none is outstanding). */
  pingDue(): void;
  /** Nothing arrived for `idleTimeout`: close with ETIMEDOUT. */
  idleTimedOut(idleMs: number): void;
}

export interface LivenessOptions {
  /** ms of silence before a PING; 0 = never. */
  pingInterval: number;
  /** ms of silence before the connection is closed ETIMEDOUT; 0 = never. */
  idleTimeout: number;
}

function check(liveness: Liveness): void {
  liveness.check(false);
}

function confirm(liveness: Liveness): void {
  liveness.check(true);
}

export class Liveness {
  /** When the peer was last heard from (Date.now()). */
  lastHeard = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;

  constructor(
    private readonly owner: LivenessOwner,
    private readonly options: LivenessOptions,
  ) {
    this.arm(this.nextDelay(0));
  }

  /**
   * @internal The timer fired. Before closing, one more turn of the event loop reads what TCP
   * already holds (`setImmediate` runs after the I/O poll): a process that was busy past the
   * deadline must not take its own delay for the peer's silence.
   */
  check(confirming: boolean): void {
    this.timer = null;
    const idle = Date.now() - this.lastHeard;
    const { idleTimeout, pingInterval } = this.options;
    if (idleTimeout > 0 && idle >= idleTimeout) {
      if (confirming) this.owner.idleTimedOut(idle);
      else this.immediate = setImmediate(confirm, this);
      return;
    }
    if (pingInterval > 0 && idle >= pingInterval) this.owner.pingDue();
    if (this.timer === null) this.arm(this.nextDelay(idle));
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  private nextDelay(idle: number): number {
    const { idleTimeout, pingInterval } = this.options;
    let delay = Infinity;
    if (idleTimeout > 0) delay = idleTimeout - idle;
    if (pingInterval > 0) delay = Math.min(delay, idle < pingInterval ? pingInterval - idle : pingInterval);
    return Math.max(1, delay);
  }

  private arm(delay: number): void {
    if (delay === Infinity) return;
    this.timer = setTimeout(check, delay, this).unref();
  }
}
