/**
 * What a connected socket hears from its v2 session and its timers (liveness, the key clock), and
 * the v2 ends it sends (END, CLOSE): kept apart from the socket so the socket only composes. The host is the
 * socket; it queues frames in order with everything else and steps its lifecycle.
 */
import { CurvetunError } from '../errors.js';
import { Liveness } from './liveness.js';
import type { SessionV2 } from './session-v2.js';
import { bothEndedReason, endOfMessagesReason, failureCloseFor, peerCloseReason } from './session-end.js';
import { keyClockStopped, sendKeyStarted } from './timers.js';

/** What the signals need from their socket. */
export interface SignalHost {
  /** Queue a frame into this tick's outgoing bytes; resolves when written. */
  queueFrameAwaited(frame: Uint8Array): Promise<void>;
  /** Step the lifecycle: a clean close or a failure. */
  endWith(event: 'CLOSE' | 'FAIL', reason: CurvetunError): void;
  /** The peer's END: `recv` answers `reason` once the queue is empty. */
  endOfMessages(reason: CurvetunError): void;
  /** What is known of a peer's close here (how long after READY, what had arrived), in words. */
  peerClosedText(): string;
}

// No `implements SessionV2Owner, LivenessOwner`: its methods are internal, stripped from the public
// declarations, and a stripped class would no longer match them there; they are checked where passed.
export class SessionSignals {
  private readonly liveness: Liveness | null;
  /** v2: when the sending key's time is up, if no send has updated it by then. */
  private keyClock: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: SignalHost,
    /** The session when it speaks v2 (v1 has only the idle timeout). */
    readonly v2: SessionV2 | null,
    private readonly limits: { idleTimeout?: number; pingInterval?: number; rekeyAfter?: { messages?: number; bytes?: number; ms?: number } },
  ) {
    v2?.attach(this, limits.rekeyAfter);
    const idleTimeout = limits.idleTimeout ?? 0;
    const pingInterval = v2 ? (limits.pingInterval ?? 0) : 0;
    this.liveness = idleTimeout > 0 || pingInterval > 0 ? new Liveness(this, { idleTimeout, pingInterval }) : null;
    if (v2) this.keyClock = sendKeyStarted(this, v2.keyTimeLeftMs());
  }

  /** Something arrived from the peer. */
  heard(): void {
    if (this.liveness) this.liveness.lastHeard = Date.now();
  }

  /** The connection closed: no timer of ours runs on (no PING, no KEY_UPDATE after a CLOSE). */
  stop(): void {
    this.liveness?.stop();
    keyClockStopped(this.keyClock);
    this.keyClock = undefined;
  }

  /** v2: send END (see CurvetunSocket.end); both ended → a clean close. */
  end(): Promise<void> {
    const v2 = this.v2!;
    if (v2.endSent) return Promise.resolve();
    const sent = this.host.queueFrameAwaited(v2.sealEnd());
    if (v2.endReceived) this.host.endWith('CLOSE', bothEndedReason());
    return sent;
  }

  /** v2: queue a CLOSE; `EINVAL` (nothing queued) for a bad code or reason. A used-up counter closes without one. */
  sendClose(code: number, reason: string): void {
    let frame: Uint8Array;
    try {
      frame = this.v2!.sealClose(code, reason);
    } catch (error) {
      if ((error as CurvetunError).code === 'EINVAL') throw error;
      return;
    }
    this.host.queueFrameAwaited(frame).catch(() => undefined);
  }

  /**
   * v2: the connection is closing for `reason`; queue the CLOSE that tells the peer why, if it is
   * a failure that gets one (session-end.ts). Whether one was queued.
   */
  sendFailureClose(reason: CurvetunError): boolean {
    const close = failureCloseFor(reason);
    if (close === null) return false;
    let frame: Uint8Array;
    try {
      frame = this.v2!.sealClose(close.code, close.reason);
    } catch {
      return false; // the counter is used up: nothing can be sealed any more
    }
    this.host.queueFrameAwaited(frame).catch(() => undefined);
    return true;
  }

  /** @internal A PONG (SessionV2Owner). */
  queueControlFrame(frame: Uint8Array): void {
    this.host.queueFrameAwaited(frame).catch(() => undefined);
  }

  /** @internal The peer's END. */
  endReceived(): void {
    this.host.endOfMessages(endOfMessagesReason());
    if (this.v2!.endSent) this.host.endWith('CLOSE', bothEndedReason());
  }

  /** @internal The peer's CLOSE. */
  closeReceived(code: number, reason: string): void {
    const closed = peerCloseReason(code, reason, this.host.peerClosedText());
    this.host.endWith(closed.code === 'ECLOSED' ? 'CLOSE' : 'FAIL', closed);
  }

  /** @internal Nothing arrived for pingInterval. The payload only has to be unpredictable to nobody: the time will do. */
  pingDue(): void {
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setFloat64(0, Date.now());
    const frame = this.v2?.sealPing(payload);
    if (frame) this.host.queueFrameAwaited(frame).catch(() => undefined);
  }

  /**
   * @internal The sending key's time may be up (timers.ts). A send updates the key first when it
   * is, so only a quiet connection gets here with it still due: it sends a KEY_UPDATE alone, so
   * its old traffic gets forward secrecy on time too (after our END as well: KEY_UPDATE is still
   * allowed then). A used-up counter sends nothing; the next send reports it.
   */
  sendKeyTimeUp(): void {
    const v2 = this.v2!;
    if (v2.keyTimeLeftMs() <= 0) {
      let frame: Uint8Array;
      try {
        frame = v2.sealKeyUpdate();
      } catch {
        this.keyClock = undefined;
        return;
      }
      this.host.queueFrameAwaited(frame).catch(() => undefined);
    }
    this.keyClock = sendKeyStarted(this, v2.keyTimeLeftMs());
  }

  /** @internal Nothing arrived for idleTimeout. */
  idleTimedOut(idleMs: number): void {
    this.host.endWith('FAIL', new CurvetunError('ETIMEDOUT', `nothing arrived from the peer for ${idleMs} ms (idleTimeout ${this.limits.idleTimeout} ms)`));
  }
}
