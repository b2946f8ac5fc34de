/**
 * Driving a connection through the lifecycle machine (machine.ts): the state it is in, why it
 * ended, the stepping rule, and the release once TCP has closed after the machine did.
 * `CurvetunSocket` extends this and carries out the effects; every question of state (closed?
 * connected? in the handshake?) is answered from the machine here.
 */
import { EventEmitter } from 'node:events';
import { CurvetunError, withSystemFields } from '../errors.js';
import { trace } from '../trace.js';
import { READY } from './machine.js';
import type { ConnectionEventType, LifecycleStateName } from './lifecycle-names.js';
import type { LifecycleAction, LifecycleState } from './machine.js';
import { tcpReleased } from './timers.js';

export interface CurvetunSocketEvents {
  message: [message: Uint8Array];
  close: [reason: CurvetunError];
  error: [error: CurvetunError];
}

/**
 * Only our own code runs in the handshake; anything else thrown there is a bug, reported without
 * its internals.
 */
function asCurvetunError(error: unknown): CurvetunError {
  if (error instanceof CurvetunError) return error;
  return new CurvetunError('EPROTO', 'the handshake failed unexpectedly', { cause: error });
}

/**
 * Why a connection ended, as a CurvetunError without a stack trace: the trace would show only our
 * own event handlers, and capturing it costs more than the rest of a close. `cause`: Node's error,
 * when one ended it (kept with its errno/syscall/address/port).
 */
export function reasonError(code: 'ECLOSED', message: string, cause?: NodeJS.ErrnoException): CurvetunError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return cause ? withSystemFields(new CurvetunError(code, message, { cause }), cause) : new CurvetunError(code, message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** After the machine has closed: TCP closing, and who waits for it (made when first needed). */
class Release {
  grace: NodeJS.Timeout | undefined;
  waiters: (() => void)[] | null = null;
  /** TCP has closed and the user has been told. */
  done = false;
}

export abstract class ConnectionLifecycle extends EventEmitter<CurvetunSocketEvents> {
  private lifecycle: LifecycleState = READY;
  /** Events raised while the machine is stepping wait here, so one step finishes before the next. */
  private queuedEvents: [ConnectionEventType, unknown][] | null = null;
  private stepping = false;
  /** Why the connection ended, recorded by the machine's step into `closed`. */
  protected reason: CurvetunError | null = null;
  private release: Release | null = null;

  /** True once the connection has closed, for whatever reason. */
  get closed(): boolean {
    return this.lifecycle.name === 'closed';
  }

  /** Why the connection closed (`null` while open). */
  get closeReason(): CurvetunError | null {
    return this.reason;
  }

  /** The current lifecycle state: 'ready' | 'initiating' | 'accepting' | 'connected' | 'closed'. */
  get state(): LifecycleStateName {
    return this.lifecycle.name;
  }

  /** The next message (CurvetunSocket's `recv`). */
  abstract recv(): Promise<Uint8Array>;

  /** Messages as they arrive; ends when the connection closes cleanly, throws if it failed. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      try {
        yield await this.recv();
      } catch (error) {
        // A clean close (either side) ends the iteration; a failure is thrown to the loop.
        if ((error as CurvetunError).code === 'ECLOSED' && this.reason?.code === 'ECLOSED') return;
        throw error;
      }
    }
  }

  /**
   * Feed one event to the machine and carry out the effects of the step it takes (a closed
   * machine ignores everything). An effect can raise an event itself — e.g. a listener whose
   * backlog is full closes the socket from inside `enterConnected` — and that event waits until
   * the current step is done, so steps never interleave.
   */
  protected dispatch(event: ConnectionEventType, error?: unknown): void {
    if (this.stepping) {
      (this.queuedEvents ??= []).push([event, error]);
      return;
    }
    this.stepping = true;
    try {
      this.step(event, error);
      while (this.queuedEvents && this.queuedEvents.length > 0) {
        const [next, nextError] = this.queuedEvents.shift()!;
        this.step(next, nextError);
      }
    } finally {
      this.stepping = false;
    }
  }

  private step(event: ConnectionEventType, error: unknown): void {
    const from = this.lifecycle;
    const step = from.next(event);
    if (!step) return;
    this.lifecycle = step.state;
    if (trace.enabled) trace('%s: %s, %s → %s', this.label(), event, from.name, step.state.name);
    for (const action of step.actions) this.perform(action, error, from);
  }

  private perform(action: LifecycleAction, error: unknown, from: LifecycleState): void {
    switch (action) {
      case 'startHandshake':
        return this.startHandshake();
      case 'stopHandshake':
        return this.stopHandshake();
      case 'recordReason':
        this.reason ??= asCurvetunError(error ?? new CurvetunError('ECLOSED', 'connection closed'));
        return;
      case 'recordTimeout':
        this.reason ??= new CurvetunError('ETIMEDOUT', `the handshake did not complete within ${this.handshakeTimeoutMs()} ms`);
        return;
      case 'enterConnected':
        return this.enterConnected();
      case 'enterClosed':
        if (trace.enabled) trace('%s: closed (%s: %s)', this.label(), this.reason!.code, this.reason!.message);
        return this.enterClosed(from.name);
    }
  }

  /** Resolves once TCP has closed after the machine did (at once if it has). */
  protected whenReleased(): Promise<void> {
    const release = (this.release ??= new Release());
    if (release.done) return Promise.resolve();
    return new Promise((resolve) => (release.waiters ??= []).push(resolve));
  }

  /** A clean close sent FIN: `grace` (timers.ts) cuts TCP if the peer takes too long. */
  protected graceUntilReleased(grace: NodeJS.Timeout): void {
    (this.release ??= new Release()).grace = grace;
  }

  /** TCP has closed after we did: release the socket and tell the user (once). */
  protected finishClose(): void {
    const release = (this.release ??= new Release());
    if (release.done) return;
    release.done = true;
    tcpReleased(release.grace);
    this.releaseTcp();
    const reason = this.reason!;
    this.emit('close', reason);
    if (reason.code !== 'ECLOSED' && this.listenerCount('error') > 0) this.emit('error', reason);
    const waiters = release.waiters;
    release.waiters = null;
    if (waiters) for (const resolve of waiters) resolve();
  }

  /** The close reason as an `ECLOSED` error (a clean close's reason is one already). */
  protected closedError(): CurvetunError {
    const r = this.reason!;
    return r.code === 'ECLOSED' ? r : new CurvetunError('ECLOSED', `connection closed: ${r.message}`, { cause: r });
  }

  // The machine's effects (machine.ts, LifecycleAction), carried out by the socket.
  protected abstract startHandshake(): void;
  protected abstract stopHandshake(): void;
  protected abstract enterConnected(): void;
  /** `left` is the state the machine left for `closed`. */
  protected abstract enterClosed(left: LifecycleStateName): void;
  protected abstract handshakeTimeoutMs(): number;
  /** TCP is gone: stop hearing it. */
  protected abstract releaseTcp(): void;
  /** How trace lines name this connection. */
  protected abstract label(): string;
}
