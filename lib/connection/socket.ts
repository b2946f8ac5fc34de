/**
 * The message-oriented socket: one TCP connection, its lifecycle (machine.ts), one Session once
 * connected. The socket composes the parts below and asks the machine which state it is in.
 *
 *   receiving: TCP chunks → FrameDecoder → while the handshake runs, handshake-feed.ts (the
 *     handshake half reads packets from it); once connected, each frame is opened inline (no
 *     machine event per message) → inbox.ts (recv callers, 'message' listeners, the bounded queue
 *     and backpressure);
 *   sending: outbox.ts (sealed straight into the tick's outgoing bytes, one write per tick);
 *   timers.ts: the handshake deadline and the close grace.
 *
 * Memory: a server may hold many thousands of idle connections, so an idle socket keeps only what
 * it needs: no per-connection closures on the TCP socket (shared listeners find their socket
 * through a symbol), no promises nobody waits for, and each part made on first use and dropped
 * when done (the feed once connected, the outbox after each tick's write).
 */
import { EventEmitter } from 'node:events';
import type { Socket as TcpSocket } from 'node:net';
import { CurvetunError } from '../errors.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_HIGH_WATER_MARK, IN_PLACE_MIN_BYTES } from '../limits.js';
import { connectionLabel, trace } from '../trace.js';
import { FrameDecoder, decodePacket, encodeFrame } from '../protocol/index.js';
import type { HandshakeIO } from './handshake.js';
import { HandshakeFeed } from './handshake-feed.js';
import type { HandshakeOutcome, HandshakeRunner } from './handshake-feed.js';
import { Inbox, resumeReading } from './inbox.js';
import { READY } from './machine.js';
import type { ConnectionEventType, LifecycleAction, LifecycleState, LifecycleStateName } from './machine.js';
import { Outbox } from './outbox.js';
import { Session } from './session.js';
import { finSent, handshakeEnded, handshakeStarted, tcpReleased } from './timers.js';
import type { WaitOptions } from './waiters.js';
import { messageStream } from '../stream/duplex.js';
import type { MessageStream, MessageStreamOptions } from '../stream/duplex.js';

export type { HandshakeOutcome } from './handshake-feed.js';

/** `timeout` (ms → `ETIMEDOUT`) and `signal` (→ `EABORTED`); either way the socket stays usable. */
export type RecvOptions = WaitOptions;

export interface SocketLimits {
  /** Handshake deadline in ms (default 10 000): a peer that stalls is dropped. */
  handshakeTimeout: number;
  /** Bytes of received, unconsumed messages above which TCP reading pauses (default 1 MiB). */
  highWaterMark: number;
}

export const DEFAULT_LIMITS: SocketLimits = { handshakeTimeout: DEFAULT_HANDSHAKE_TIMEOUT_MS, highWaterMark: DEFAULT_HIGH_WATER_MARK };

const NO_KEY = new Uint8Array(0);

export type SocketRole = 'client' | 'server';

export interface CurvetunSocketEvents {
  message: [message: Uint8Array];
  close: [reason: CurvetunError];
  error: [error: CurvetunError];
}

/** After the machine has closed: TCP closing, and who waits for it (made when first needed). */
class Release {
  grace: NodeJS.Timeout | undefined;
  waiters: (() => void)[] | null = null;
  /** TCP has closed and the user has been told. */
  done = false;
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
 * own event handlers, and capturing it costs more than the rest of a close.
 */
function reasonError(code: 'ECLOSED', message: string): CurvetunError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new CurvetunError(code, message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

// The TCP socket's listeners are shared by every connection: Node calls them with `this` set to
// the TCP socket, which points back at its curvetun socket.
const OWNER = Symbol('curvetun socket');
type OwnedTcp = TcpSocket & { [OWNER]: CurvetunSocket };

function onTcpData(this: OwnedTcp, chunk: Buffer): void {
  this[OWNER].tcpData(chunk);
}
function onTcpEnd(this: OwnedTcp): void {
  this[OWNER].peerEnded();
}
function onTcpClose(this: OwnedTcp): void {
  this[OWNER].tcpClosed();
}
function onTcpError(this: OwnedTcp, err: NodeJS.ErrnoException): void {
  this[OWNER].tcpFailed(err);
}
function flushOutbox(socket: CurvetunSocket): void {
  socket.flush();
}

/**
 * A connected curvetun socket. Obtain one from `connect()` or `listener.accept()`.
 *
 * @example
 * const socket = await connect('127.0.0.1', 7000, { serverKey });
 * await socket.send(new TextEncoder().encode('hello'));
 * const reply = await socket.recv({ timeout: 5000 });
 * await socket.close();
 */
export class CurvetunSocket extends EventEmitter<CurvetunSocketEvents> {
  /** The peer's long-term public key (32 bytes): the server's for a client, the client's for a server. */
  peerKey: Uint8Array = NO_KEY;
  readonly remoteAddress: string;
  readonly remotePort: number;

  private lifecycle: LifecycleState = READY;
  /** Events raised while the machine is stepping wait here, so one step finishes before the next. */
  private queuedEvents: [ConnectionEventType, unknown][] | null = null;
  private stepping = false;
  private readonly decoder = new FrameDecoder();
  /** The data path's keys and counters (set on entering `connected`). */
  private session: Session | null = null;
  /** Why the connection ended, recorded by the machine's step into `closed`. */
  private reason: CurvetunError | null = null;
  private receivedAny = false;

  // The parts, each made on first use.
  private feed: HandshakeFeed | null;
  private inbox: Inbox | null = null;
  private outbox: Outbox | null = null;
  private release: Release | null = null;

  /**
   * @internal Use `connect()` or `Listener.accept()`. The TCP socket must already have Nagle off.
   * `onOutcome` learns once whether the handshake completed.
   */
  constructor(
    private readonly tcp: TcpSocket,
    readonly role: SocketRole,
    runHandshake: HandshakeRunner,
    private readonly limits: SocketLimits,
    onOutcome?: HandshakeOutcome,
  ) {
    super();
    this.feed = new HandshakeFeed(runHandshake, onOutcome ?? null);
    this.remoteAddress = tcp.remoteAddress ?? '';
    this.remotePort = tcp.remotePort ?? 0;
    (tcp as OwnedTcp)[OWNER] = this;
    tcp.on('data', onTcpData);
    tcp.on('end', onTcpEnd);
    tcp.on('close', onTcpClose);
    tcp.on('error', onTcpError);
    this.dispatch(role === 'client' ? 'CONNECT' : 'ACCEPT');
  }

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

  /**
   * Send one message (at most 65 503 bytes). Resolves once the frame is handed to the OS; when the
   * kernel buffer is full it waits for it to drain. Rejects `ETOOBIG` (nothing sent) or `ECLOSED`.
   */
  send(message: Uint8Array | string): Promise<void> {
    const state = this.lifecycle.name;
    if (state !== 'connected') {
      return Promise.reject(state === 'closed' ? this.closedError() : new CurvetunError('ECLOSED', 'the handshake has not completed'));
    }
    const bytes = typeof message === 'string' ? Buffer.from(message) : message;
    try {
      return this.outboxOfThisTick().sealMessage(this.session!, bytes);
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
    return this.openInbox().wait(options);
  }

  /**
   * Stream mode: a Node Duplex carrying bytes (cut into messages of at most 65 503 bytes), with
   * backpressure both ways. The connection's close is the end of the stream; there is no
   * half-close (see lib/stream/duplex.ts). It takes over receiving: do not also call recv().
   */
  stream(options?: MessageStreamOptions): MessageStream {
    return messageStream(this, options);
  }

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

  /** Close the connection after flushing what was sent. Resolves when TCP has closed. */
  close(): Promise<void> {
    if (!this.closed) this.dispatch('CLOSE', reasonError('ECLOSED', 'the socket was closed locally'));
    const release = (this.release ??= new Release());
    if (release.done) return Promise.resolve();
    return new Promise((resolve) => (release.waiters ??= []).push(resolve));
  }

  /** @internal Close because the caller's signal or deadline fired. */
  abort(error: CurvetunError): void {
    this.dispatch('CLOSE', error);
  }

  // ---- the lifecycle -----------------------------------------------------------------------

  /**
   * Feed one event to the machine and carry out the effects of the step it takes (a closed
   * machine ignores everything). An effect can raise an event itself — e.g. a listener whose
   * backlog is full closes the socket from inside `enterConnected` — and that event waits until
   * the current step is done, so steps never interleave.
   */
  private dispatch(event: ConnectionEventType, error?: unknown): void {
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
        this.reason ??= new CurvetunError('ETIMEDOUT', `the handshake did not complete within ${this.limits.handshakeTimeout} ms`);
        return;
      case 'enterConnected':
        return this.enterConnected();
      case 'enterClosed':
        return this.enterClosed(from.name);
    }
  }

  private startHandshake(): void {
    const feed = this.feed!;
    feed.deadline = handshakeStarted(this, this.limits.handshakeTimeout);
    const io: HandshakeIO = { next: () => feed.next(), send: (payload) => this.queueFrame(encodeFrame(payload)) };
    if (trace.enabled) io.stage = (name) => trace('%s: handshake: %s', this.label(), name);
    const runner = feed.runner!;
    feed.runner = null;
    runner(io).then(
      (result) => {
        feed.result = result;
        this.dispatch('HANDSHAKE_DONE');
      },
      (error: unknown) => this.dispatch('HANDSHAKE_FAILED', error),
    );
  }

  /** Leaving the handshake state: no deadline any more, and nobody reads handshake packets. */
  private stopHandshake(): void {
    const feed = this.feed!;
    handshakeEnded(feed.deadline);
    feed.stop(reasonError('ECLOSED', 'handshake abandoned'));
  }

  private enterConnected(): void {
    const feed = this.feed!;
    const { session, peerKey } = feed.result!;
    this.feed = null;
    this.session = session;
    this.peerKey = peerKey;
    feed.reportOutcome(null);
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

  /** `left` is the state the machine left for `closed`. */
  private enterClosed(left: LifecycleStateName): void {
    const reason = this.reason!;
    if (trace.enabled) trace('%s: closed (%s: %s)', this.label(), reason.code, reason.message);
    const feed = this.feed;
    this.feed = null;
    feed?.reportOutcome(reason);
    this.inbox?.close(reason);
    if (this.tcp.destroyed) {
      this.finishClose();
    } else if (reason.code === 'ECLOSED' && left === 'connected') {
      // A clean close: flush what was sent, then FIN; bounded so a stuck peer cannot hold us.
      this.flush();
      this.tcp.end();
      (this.release ??= new Release()).grace = finSent(this.tcp);
    } else {
      this.tcp.destroy();
    }
  }

  /** TCP has closed after we did: release the socket and tell the user (once). */
  private finishClose(): void {
    const release = (this.release ??= new Release());
    if (release.done) return;
    release.done = true;
    tcpReleased(release.grace);
    this.tcp.off('data', onTcpData);
    const reason = this.reason!;
    this.emit('close', reason);
    if (reason.code !== 'ECLOSED' && this.listenerCount('error') > 0) this.emit('error', reason);
    const waiters = release.waiters;
    release.waiters = null;
    if (waiters) for (const resolve of waiters) resolve();
  }

  // ---- what TCP and the timers tell us (shared functions call these) -----------------------

  /** @internal */
  tcpData(chunk: Buffer): void {
    const state = this.lifecycle.name;
    if (state === 'closed') return;
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.dispatch('FAIL', error as CurvetunError);
      return;
    }
    if (state === 'connected') {
      for (const frame of frames) if (!this.openMessage(frame)) return;
      return;
    }
    if (this.feed?.push(frames)) this.tcp.pause();
  }

  /** @internal */
  peerEnded(): void {
    if (!this.closed) this.dispatch('CLOSE', reasonError('ECLOSED', this.peerClosedMessage()));
  }

  /** @internal */
  tcpClosed(): void {
    if (!this.closed) this.dispatch('CLOSE', reasonError('ECLOSED', this.peerClosedMessage()));
    else this.finishClose();
  }

  /** @internal */
  tcpFailed(err: NodeJS.ErrnoException): void {
    if (this.closed) return;
    const code = err.code ?? 'socket error';
    // A reset right after our Vouch is how a refusing server usually looks from here.
    const refused = this.role === 'client' && this.state === 'connected' && !this.receivedAny;
    this.dispatch('FAIL', reasonError('ECLOSED', refused ? `${this.peerClosedMessage()} (${code})` : `connection error: ${code}`));
  }

  /** @internal The handshake deadline passed (timers.ts). */
  handshakeTimedOut(): void {
    this.dispatch('TIMEOUT');
  }

  // ---- receiving ---------------------------------------------------------------------------

  /** Open one message frame and deliver it; false when the connection failed. */
  private openMessage(frame: Uint8Array): boolean {
    let message: Uint8Array;
    try {
      const packet = decodePacket(frame);
      if (packet.type !== 'message') {
        throw new CurvetunError('EPROTO', `expected a message packet after the handshake, got a ${packet.type} packet`);
      }
      // A large message is opened over its own frame bytes and handed out as a view of them: no
      // second 64 KiB buffer per bulk message. A small one gets an array of its own, so a message
      // kept by the application never pins a whole TCP chunk.
      message = packet.box.length >= IN_PLACE_MIN_BYTES ? this.session!.openInPlace(packet) : this.session!.open(packet);
    } catch (error) {
      this.dispatch('FAIL', error as CurvetunError);
      return false;
    }
    this.receivedAny = true;
    if (this.inbox) this.inbox.deliver(message);
    else if (this.listenerCount('message') > 0) this.emit('message', message);
    else this.openInbox().deliver(message);
    return true;
  }

  /** @internal Bytes of received messages nobody has taken yet (what backpressure counts). */
  get inboxBytes(): number {
    return this.inbox?.queuedBytes ?? 0;
  }

  private openInbox(): Inbox {
    return (this.inbox ??= new Inbox(this, this.tcp, this.limits.highWaterMark));
  }

  /** @internal Hand queued messages to the 'message' listeners, oldest first. */
  handQueuedToListeners(): void {
    this.inbox?.handToListeners();
  }

  private resumeReading(): void {
    if (this.inbox) this.inbox.resumeIfRoom();
    else resumeReading(this, this.tcp);
  }

  // ---- sending -----------------------------------------------------------------------------

  /** This tick's outbox; the first frame of a tick schedules its flush. */
  private outboxOfThisTick(): Outbox {
    let outbox = this.outbox;
    if (outbox === null) {
      outbox = this.outbox = new Outbox(this);
      process.nextTick(flushOutbox, this);
    }
    return outbox;
  }

  /** Queue a handshake frame; it leaves with the rest of this tick's frames. */
  private queueFrame(frame: Uint8Array): void {
    this.outboxOfThisTick().queueFrame(frame);
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

  // ---- closing -----------------------------------------------------------------------------

  private label(): string {
    return connectionLabel(this.role, this.remoteAddress, this.remotePort);
  }

  private peerClosedMessage(): string {
    const connected = this.state === 'connected';
    if (this.role === 'client' && !this.receivedAny && connected) {
      return 'the server closed the connection right after the handshake (it may have refused our key)';
    }
    return connected ? 'the peer closed the connection' : 'the peer closed the connection during the handshake';
  }

  private closedError(): CurvetunError {
    const r = this.reason!;
    return r.code === 'ECLOSED' ? r : new CurvetunError('ECLOSED', `connection closed: ${r.message}`, { cause: r });
  }
}
