/**
 * The message-oriented socket: one TCP connection, its lifecycle (machine.ts), one Session once
 * connected. The socket composes the parts below and asks the machine which state it is in; each
 * layer it extends has one job (lifecycle.ts → net-compat.ts → message-path.ts → here).
 *
 *   handshake: handshake-feed.ts runs the handshake half under its deadline and feeds it the
 *     frames that arrive meanwhile;
 *   connected: message-path.ts opens each frame inline (no machine event per message) into
 *     inbox.ts and seals what is sent into this tick's outbox (outbox.ts); session-signals.ts
 *     hears what the v2 session and its timers say (END, CLOSE, PING, idle, key updates);
 *   closing: closing.ts decides how TCP ends and what the peer's TCP end means;
 *   net-compat.ts: what a node:net user expects (addresses, byte counts, TCP options, destroy…).
 *
 * Memory: a server may hold many thousands of idle connections, so an idle socket keeps only what
 * it needs: no closures on the TCP socket (tcp-hooks.ts), no promises nobody waits for, and each
 * part made on first use and dropped when done (the feed once connected, the outbox after each
 * tick's write).
 */
import type { Socket as TcpSocket } from 'node:net';
import { CurvetunError } from '../errors.js';
import { INSPECT, describe, publicKeyFact } from '../inspect.js';
import type { SocketLimits } from '../limits.js';
import { connectionLabel, trace } from '../trace.js';
import { FrameDecoder } from '../protocol/index.js';
import { FIRST_APPLICATION_CLOSE_CODE, isFailureCloseCode } from '../protocol/v2/index.js';
import { HandshakeFeed } from './handshake-feed.js';
import type { HandshakeOutcome, HandshakeRunner } from './handshake-feed.js';
import { reasonError } from './lifecycle.js';
import { MessagePath } from './message-path.js';
import type { LifecycleStateName } from './lifecycle-names.js';
import type { Protocol } from './data-session.js';
import { hearTcp, stopHearingData } from './tcp-hooks.js';
import { peerClosedMessage } from './peer-closed.js';
import { peerTcpEnd, peerTcpError, tcpExit } from './closing.js';
import type { WhereWeWere } from './peer-closed.js';
import { finSent } from './timers.js';
import type { WaitOptions } from './waiters.js';
import { messageStream } from '../stream/duplex.js';
import { SessionV2 } from './session-v2.js';
import { SessionSignals } from './session-signals.js';
import type { MessageStream, MessageStreamOptions } from '../stream/duplex.js';

export type { HandshakeOutcome } from './handshake-feed.js';
export type { CurvetunSocketEvents } from './lifecycle.js';
export { DEFAULT_LIMITS } from '../limits.js';
export type { SocketLimits } from '../limits.js';

/** `timeout` (ms → `ETIMEDOUT`) and `signal` (→ `EABORTED`); either way the socket stays usable. */
export type RecvOptions = WaitOptions;

export type SocketRole = 'client' | 'server';

const NO_KEY = new Uint8Array(0);

// Not `implements SignalHost`: those methods are internal, stripped from the declarations (see session-signals.ts).
/**
 * A connected curvetun socket. Obtain one from `connect()` or `listener.accept()`.
 *
 * @example
 * const socket = await connect('127.0.0.1', 7000, { serverKey });
 * await socket.send(new TextEncoder().encode('hello'));
 * const reply = await socket.recv({ timeout: 5000 });
 * await socket.close();
 */
export class CurvetunSocket extends MessagePath {
  private key: Uint8Array = NO_KEY;
  /** Whether the session keys include an ML-KEM-768 secret (v2's hybrid suite). */
  postQuantum = false;

  private readonly decoder = new FrameDecoder();
  /** The session when it speaks v2 (typed messages: END, CLOSE, PING, key updates). */
  private v2: SessionV2 | null = null;
  /** What the v2 session and the liveness timer tell us (once connected). */
  private signals: SessionSignals | null = null;
  /** While the handshake runs. */
  private feed: HandshakeFeed | null;

  /**
   * @internal Use `connect()` or `Listener.accept()`. The TCP socket must already have Nagle off.
   * `onOutcome` learns once whether the handshake completed.
   */
  constructor(
    tcp: TcpSocket,
    readonly role: SocketRole,
    runHandshake: HandshakeRunner,
    private readonly limits: SocketLimits,
    onOutcome?: HandshakeOutcome,
    /** The version a client speaks (known before its Hello); a server learns it from the Hello. */
    private readonly intendedProtocol?: Protocol,
  ) {
    super(tcp, limits.highWaterMark);
    this.feed = new HandshakeFeed(runHandshake, onOutcome ?? null);
    hearTcp(tcp, this);
    this.dispatch(role === 'client' ? 'CONNECT' : 'ACCEPT');
  }

  /** Facts only: the session, the handshake in progress and the TCP socket reach key material. */
  [INSPECT](): string {
    const { role, state, protocol, remoteAddress, remotePort } = this;
    return describe('CurvetunSocket', { role, state, protocol, remoteAddress, remotePort, peerKey: publicKeyFact(this.peerKey), closeReason: this.reason?.code });
  }

  /** The peer's long-term public key (32 bytes; a copy): the server's for a client, the client's for a server. */
  get peerKey(): Uint8Array {
    return this.key.slice();
  }

  /** Which protocol version this connection speaks: 'v1' (curve_tun 1.0) or 'v2'. */
  get protocol(): Protocol {
    return this.session?.protocol ?? this.intendedProtocol ?? 'v1';
  }

  /**
   * Send one message (at most 65 503 bytes in v1, 65 518 in v2, and no more than a v2 peer
   * announced). Resolves once the frame is handed to the OS; when the kernel buffer is full it
   * waits for it to drain. Rejects `ETOOBIG` (nothing sent) or `ECLOSED`.
   */
  send(message: Uint8Array | string): Promise<void> {
    const state = this.state;
    if (state !== 'connected') {
      return Promise.reject(state === 'closed' ? this.closedError() : new CurvetunError('ECLOSED', 'the handshake has not completed'));
    }
    if (this.v2?.endSent) return Promise.reject(new CurvetunError('ECLOSED', 'this socket has ended its messages (end())'));
    const bytes = typeof message === 'string' ? Buffer.from(message) : message;
    try {
      const sent = this.outboxOfThisTick().sealMessage(this.session!, bytes);
      this.messageBytesWritten += bytes.length;
      return sent;
    } catch (error) {
      const e = error as CurvetunError;
      if (e.code === 'ECLOSED') this.dispatch('FAIL', e);
      return Promise.reject(e);
    }
  }

  /**
   * Receive the next message. Several callers may wait at once; they are served in call order.
   * Rejects `ETIMEDOUT` / `EABORTED` (the socket stays usable) or with the close reason.
   */
  recv(options: RecvOptions = {}): Promise<Uint8Array> {
    const queued = this.inbox?.take();
    if (queued) return Promise.resolve(queued);
    if (this.closed) return Promise.reject(this.closedError());
    if (this.peerEndReason) return Promise.reject(this.peerEndReason);
    return this.openInbox().wait(options);
  }

  /**
   * Stream mode: a Node Duplex carrying bytes (cut into messages of at most 65 503 bytes), with
   * backpressure both ways. v2: `end()` ends our direction only (the peer's stream sees `'end'`
   * and can still write back); v1 has no half-close, so its end is the connection's close (see
   * lib/stream/duplex.ts). It takes over receiving: do not also call recv().
   */
  stream(options?: MessageStreamOptions): MessageStream {
    return messageStream(this, options);
  }

  /**
   * End our direction (v2: an END; the peer's `recv` ends cleanly once it has taken our messages,
   * and it may still send: keep receiving). The connection closes once both sides have ended.
   * v1 has no half-close: `end()` is `close()`. Resolves when the END is handed to the OS.
   */
  end(): Promise<void> {
    return this.v2 === null || this.state !== 'connected' ? this.close() : this.signals!.end();
  }

  /**
   * Close the connection after flushing what was sent (v2: with a CLOSE carrying `code` — 0, or
   * 1000–65 535 for the application's own; 1–999 are curvetun's failure codes, `EINVAL` — and
   * `reason`, which reach the peer as its `closeReason.peerCode` / `.peerReason`). Resolves when
   * TCP has closed.
   * @example await socket.close({ code: 4000, reason: 'shutting down' });
   */
  close(options: { code?: number; reason?: string } = {}): Promise<void> {
    if (!this.closed) {
      if (this.v2 !== null && this.state === 'connected') {
        const code = options.code ?? 0;
        if (isFailureCloseCode(code)) {
          return Promise.reject(new CurvetunError('EINVAL', `CLOSE codes 1–${FIRST_APPLICATION_CLOSE_CODE - 1} are curvetun's own failure codes; use 0 or ${FIRST_APPLICATION_CLOSE_CODE}–65535`));
        }
        try {
          this.signals!.sendClose(code, options.reason ?? '');
        } catch (error) {
          return Promise.reject(error);
        }
      }
      this.dispatch('CLOSE', reasonError('ECLOSED', 'the socket was closed locally'));
    }
    return this.whenReleased();
  }

  /** @internal Close because the caller's signal or deadline fired. */
  abort(error: CurvetunError): void {
    this.dispatch('CLOSE', error);
  }

  // ---- the lifecycle -----------------------------------------------------------------------

  protected override label(): string {
    return connectionLabel(this.role, this.remoteAddress, this.remotePort);
  }

  protected override handshakeTimeoutMs(): number {
    return this.limits.handshakeTimeout;
  }

  protected override startHandshake(): void {
    this.feed!.start(this, this.limits.handshakeTimeout, trace.enabled ? this.label() : null);
  }

  protected override stopHandshake(): void {
    this.feed!.finish();
  }

  /** @internal The handshake half completed (handshake-feed.ts). */
  handshakeDone(): void {
    this.dispatch('HANDSHAKE_DONE');
  }

  /** @internal */
  handshakeFailed(error: unknown): void {
    this.dispatch('HANDSHAKE_FAILED', error);
  }

  protected override enterConnected(): void {
    const feed = this.feed!;
    const { session, peerKey, postQuantum } = feed.result!;
    this.feed = null;
    this.session = session;
    this.key = peerKey;
    this.postQuantum = postQuantum ?? false;
    if (session instanceof SessionV2) this.v2 = session;
    this.signals = new SessionSignals(this, this.v2, this.limits);
    feed.reportOutcome(null);
    this.handshakeCompleted(this.role);
    const frames = feed.leftovers();
    if (frames.length === 0) {
      this.resumeReading();
      return;
    }
    // Frames that arrived right behind the last handshake packet are messages: process them now,
    // after the caller has had a chance to attach listeners.
    queueMicrotask(() => {
      if (this.closed) return;
      for (const frame of frames) if (!this.openMessage(frame)) return;
      this.resumeReading();
    });
  }

  protected override enterClosed(left: LifecycleStateName): void {
    const reason = this.reason!;
    const feed = this.feed;
    this.feed = null;
    feed?.reportOutcome(reason);
    this.signals?.stop();
    this.inbox?.close(reason);
    const tcp = this.tcp;
    // A v2 failure while connected: tell the peer why (a CLOSE with a failure code) before FIN.
    const failureCloseSent = left === 'connected' && this.v2 !== null && !this.destroying && !tcp.destroyed && this.signals!.sendFailureClose(reason);
    switch (tcpExit(reason, { role: this.role, left, heard: feed?.heard, tcpDestroyed: tcp.destroyed, destroying: this.destroying, failureCloseSent })) {
      case 'released':
        return this.finishClose();
      case 'fin':
        this.flush();
        tcp.end();
        return this.graceUntilReleased(finSent(tcp));
      case 'reset':
        tcp.resetAndDestroy();
        return;
      case 'destroy':
        tcp.destroy(); // its 'close' (tcpClosed) finishes
    }
  }

  protected override releaseTcp(): void {
    stopHearingData(this.tcp);
  }

  // ---- what TCP and the timers tell us (shared functions call these) -----------------------

  /** @internal */
  tcpData(chunk: Buffer): void {
    const state = this.state;
    if (state === 'closed') return;
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.dispatch('FAIL', error as CurvetunError);
      return;
    }
    if (state === 'connected') {
      this.signals!.heard();
      for (const frame of frames) if (!this.openMessage(frame)) return;
      return;
    }
    if (this.feed?.push(frames)) this.tcp.pause();
  }

  /** @internal */
  peerEnded(): void {
    if (this.closed) return;
    const { event, reason } = peerTcpEnd(this.v2?.tcpEndIsTruncation() ?? false, this.whereWeWere());
    this.dispatch(event, reason);
  }

  private whereWeWere(): WhereWeWere {
    const { role, state, receivedAny, connectedAt } = this;
    return { role, protocol: this.intendedProtocol, state, receivedAny, bytesReceived: this.messageBytesRead, sinceHandshakeMs: connectedAt && performance.now() - connectedAt, refusalWindowMs: this.limits.handshakeTimeout };
  }

  /** @internal */
  tcpClosed(): void {
    if (this.closed) this.finishClose();
    else this.peerEnded();
  }

  /** @internal */
  tcpFailed(err: NodeJS.ErrnoException): void {
    if (this.closed) return;
    this.dispatch('FAIL', peerTcpError(this.v2?.tcpEndIsTruncation() ?? false, this.whereWeWere(), err));
  }

  /** @internal The handshake deadline passed (timers.ts). */
  handshakeTimedOut(): void {
    this.dispatch('TIMEOUT');
  }

  // ---- what the v2 session and the liveness timer ask of us (SignalHost) -------------------

  /** @internal */
  peerClosedText(): string {
    return peerClosedMessage(this.whereWeWere());
  }

  endWith(event: 'CLOSE' | 'FAIL', reason: CurvetunError): void {
    this.dispatch(event, reason);
  }

  /** @internal */
  endOfMessages(reason: CurvetunError): void {
    this.peerEndReason = reason;
    this.inbox?.end(reason);
  }
}
