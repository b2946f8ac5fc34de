/**
 * The frames of an open connection, between TCP and the application: each frame that arrives is
 * opened by the session and delivered (inbox.ts, or straight to the 'message' listeners), and
 * what is sent is sealed into this tick's outbox (outbox.ts), written to TCP once per tick.
 * CurvetunSocket (socket.ts) adds the handshake, the v2 signals, the ends and the public API.
 *
 * Kept apart from the socket because it is the hot path: no closures, no promises nobody waits
 * for, the inbox made on first use and the outbox dropped after each tick's write.
 */
import type { Socket as TcpSocket } from 'node:net';
import { CurvetunError } from '../errors.js';
import type { DataSession } from './data-session.js';
import { Inbox, resumeReading } from './inbox.js';
import { NetCompatSocket } from './net-compat.js';
import { Outbox } from './outbox.js';

function flushOutbox(path: MessagePath): void {
  path.flush();
}

export abstract class MessagePath extends NetCompatSocket {
  /** The data path's keys and counters (set on entering `connected`). */
  protected session: DataSession | null = null;
  /** Whether any frame came from the peer since the handshake (for close reasons). */
  protected receivedAny = false;
  // Each made on first use.
  protected inbox: Inbox | null = null;
  private outbox: Outbox | null = null;

  constructor(
    tcp: TcpSocket,
    /** Bytes of received messages held before TCP stops being read. */
    private readonly highWaterMark: number,
  ) {
    super(tcp);
  }

  // ---- receiving ---------------------------------------------------------------------------

  /** Open one message frame and deliver it; false when the connection failed. */
  protected openMessage(frame: Uint8Array): boolean {
    let message: Uint8Array | null;
    try {
      message = this.session!.receive(frame);
    } catch (error) {
      this.dispatch('FAIL', error as CurvetunError);
      return false;
    }
    this.receivedAny = true;
    if (message === null) return !this.closed; // a control message, handled by the session
    this.messageBytesRead += message.length;
    if (this.inbox) this.inbox.deliver(message);
    else if (this.listenerCount('message') > 0) this.emit('message', message);
    else this.openInbox().deliver(message);
    return true;
  }

  /** @internal Bytes of received messages nobody has taken yet (what backpressure counts). */
  get inboxBytes(): number {
    return this.inbox?.queuedBytes ?? 0;
  }

  protected openInbox(): Inbox {
    return (this.inbox ??= new Inbox(this, this.tcp, this.highWaterMark));
  }

  /** @internal Hand queued messages to the 'message' listeners, oldest first. */
  handQueuedToListeners(): void {
    this.inbox?.handToListeners();
  }

  protected resumeReading(): void {
    if (this.inbox) this.inbox.resumeIfRoom();
    else resumeReading(this, this.tcp);
  }

  // ---- sending -----------------------------------------------------------------------------

  /** This tick's outbox; the first frame of a tick schedules its flush. */
  protected outboxOfThisTick(): Outbox {
    let outbox = this.outbox;
    if (outbox === null) {
      outbox = this.outbox = new Outbox(this);
      process.nextTick(flushOutbox, this);
    }
    return outbox;
  }

  /** @internal Queue a handshake frame; it leaves with the rest of this tick's frames. */
  queueFrame(frame: Uint8Array): void {
    this.outboxOfThisTick().queueFrame(frame);
  }

  /** @internal The same, for a frame whose sender waits for its write (END, CLOSE, PING, PONG, KEY_UPDATE). */
  queueFrameAwaited(frame: Uint8Array): Promise<void> {
    return this.outboxOfThisTick().queueFrameAwaited(frame);
  }

  /** @internal Hand this tick's frames to TCP now. */
  flush(): void {
    const outbox = this.outbox;
    if (outbox === null) return;
    this.outbox = null;
    outbox.flush(this.tcp);
  }

  /** @internal Why a write failed: the close reason if the connection closed meanwhile. */
  sendFailure(): CurvetunError {
    return this.closed ? this.closedError() : new CurvetunError('ECLOSED', 'the connection failed while sending');
  }
}
