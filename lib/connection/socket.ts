/**
 * The message-oriented socket: one TCP connection, its lifecycle (machine.ts), one Session once
 * connected.
 *
 * Receiving: TCP chunks → FrameDecoder → (handshake: a packet queue the handshake reads;
 * connected: decode + open inline, no machine event) → waiting `recv` callers in call order,
 * else `'message'` listeners, else a bounded buffer. Above the high-water mark the TCP socket is
 * paused, so a slow reader makes the kernel's window close instead of our memory grow.
 *
 * Sending: seal straight into the outgoing bytes (small frames back to back in a shared slab);
 * everything sent in one tick leaves in one write, and the sends of that tick share one promise.
 *
 * Memory: a server may hold many thousands of idle connections, so an idle socket keeps only what
 * it needs: no per-connection closures on the TCP socket (shared listeners find their socket through
 * a symbol), no promises nobody waits for, and queues created on first use.
 */
import { EventEmitter } from 'node:events';
import type { Socket as TcpSocket } from 'node:net';
import { CurvetunError } from '../errors.js';
import { FrameDecoder, decodePacket, encodeFrame } from '../protocol/index.js';
import type { Packet } from '../protocol/index.js';
import type { HandshakeIO, HandshakeResult } from './handshake.js';
import { READY } from './machine.js';
import type { ConnectionEventType, LifecycleAction, LifecycleState, LifecycleStateName } from './machine.js';
import { WaiterQueue } from './waiters.js';
import type { WaitOptions } from './waiters.js';
import { Session } from './session.js';
import { messageStream } from '../stream/duplex.js';
import type { MessageStream, MessageStreamOptions } from '../stream/duplex.js';

/** `timeout` (ms → `ETIMEDOUT`) and `signal` (→ `EABORTED`); either way the socket stays usable. */
export type RecvOptions = WaitOptions;

export interface SocketLimits {
  /** Handshake deadline in ms (default 10 000): a peer that stalls is dropped. */
  handshakeTimeout: number;
  /** Bytes of received, unconsumed messages above which TCP reading pauses (default 1 MiB). */
  highWaterMark: number;
}

export const DEFAULT_LIMITS: SocketLimits = { handshakeTimeout: 10_000, highWaterMark: 1 << 20 };

/**
 * Read-ahead while the handshake runs, before TCP reading pauses: a client may send messages right
 * behind its Vouch, but a connection that has not finished its handshake must not make us hold
 * much memory (pending handshakes × this is the bound).
 */
const HANDSHAKE_READ_AHEAD = 8;
const HANDSHAKE_READ_AHEAD_BYTES = 16 * 1024;
/** Frames up to this size are sealed into the pool; larger ones get their own buffer. */
const SMALL_FRAME_BYTES = 4096;
const SLAB_BYTES = 64 * 1024;
/** Messages at least this large are decrypted in place (see receiveFrame). */
const IN_PLACE_MIN_BYTES = 16 * 1024;
/** After a clean close has flushed and sent FIN, how long the peer gets to close its side. */
const CLOSE_GRACE_MS = 2_000;
/**
 * A bump allocator shared by every socket of the process (the idea of Buffer's own pool): written
 * bytes are never rewritten, views of them stay valid until written out, and a full pool is simply
 * replaced, so memory does not grow with the number of connections.
 */
let pool = Buffer.allocUnsafe(SLAB_BYTES);
let poolUsed = 0;

const NO_KEY = new Uint8Array(0);

export type SocketRole = 'client' | 'server';

export interface CurvetunSocketEvents {
  message: [message: Uint8Array];
  close: [reason: CurvetunError];
  error: [error: CurvetunError];
}

/** Told once whether the handshake completed (`null`) or why the connection ended before it did. */
export type HandshakeSettled = (error: CurvetunError | null) => void;

/** The handshake in progress: its packet queue, its reader, its deadline, its outcome. */
class HandshakeRun {
  readonly frames: Uint8Array[] = [];
  bytes = 0;
  reader: { resolve(p: Packet): void; reject(e: unknown): void } | null = null;
  timer: NodeJS.Timeout | undefined;
  result: HandshakeResult | null = null;
}

/** One unsettled batch of sends: the promise every send of a tick shares, and how to settle it. */
interface SendBatch {
  promise: Promise<void>;
  settle(err?: Error | null): void;
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
  this[OWNER].receive(chunk);
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
function onNewListener(this: CurvetunSocket, event: string | symbol): void {
  // Messages that arrived before anyone listened are handed to the first 'message' listener.
  if (event === 'message') queueMicrotask(() => this.flushInbox());
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
  private session: Session | null = null;
  private reason: CurvetunError | null = null;
  private handshake: HandshakeRun | null = null;

  // Received messages not yet consumed, and callers waiting for one (both made on first use).
  private inbox: Uint8Array[] | null = null;
  private inboxBytes = 0;
  private waiters: WaiterQueue<Uint8Array> | null = null;
  private watchingListeners = false;
  private paused = false;
  private receivedAny = false;

  // Send path: frames of the current tick, this tick's run of frames in the shared pool
  // ([slabStart, slabEnd) of `slab`), the promise the tick's sends share.
  private outgoing: Uint8Array[] | null = null;
  private slab: Buffer | null = null;
  private slabStart = 0;
  private slabEnd = 0;
  private batch: SendBatch | null = null;
  private flushScheduled = false;

  private closeTimer: NodeJS.Timeout | undefined;
  private closeWaiters: (() => void)[] | null = null;
  private finished = false;

  // Needed only until the handshake has run / settled: dropped then, with what they hold.
  private runHandshake: ((io: HandshakeIO) => Promise<HandshakeResult>) | null;
  private settled: HandshakeSettled | null;

  /**
   * @internal Use `connect()` or `Listener.accept()`. The TCP socket must already have Nagle off.
   * `settled` learns once whether the handshake completed.
   */
  constructor(
    private readonly tcp: TcpSocket,
    readonly role: SocketRole,
    runHandshake: (io: HandshakeIO) => Promise<HandshakeResult>,
    private readonly limits: SocketLimits,
    settled?: HandshakeSettled,
  ) {
    super();
    this.runHandshake = runHandshake;
    this.settled = settled ?? null;
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
    return this.reason !== null;
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
    const bytes = typeof message === 'string' ? Buffer.from(message) : message;
    if (this.reason) return Promise.reject(this.closedError());
    if (!this.session) return Promise.reject(new CurvetunError('ECLOSED', 'the handshake has not completed'));
    const session = this.session;
    try {
      const size = Session.frameBytes(bytes.length);
      if (size <= SMALL_FRAME_BYTES) {
        // Small frames are sealed back to back into the shared pool: no buffer per message, and
        // the frames of one tick lie side by side, so they leave in one write.
        if (SLAB_BYTES - poolUsed < size) {
          pool = Buffer.allocUnsafe(SLAB_BYTES);
          poolUsed = 0;
        }
        if (this.slab !== pool || this.slabEnd !== poolUsed) {
          this.takeSlabFrames();
          this.slab = pool;
          this.slabStart = this.slabEnd = poolUsed;
        }
        session.sealInto(bytes, pool, poolUsed);
        poolUsed += size;
        this.slabEnd = poolUsed;
      } else {
        this.takeSlabFrames();
        (this.outgoing ??= []).push(session.seal(bytes));
      }
    } catch (error) {
      const e = error as CurvetunError;
      if (e.code === 'ECLOSED') this.dispatch('FAIL', e);
      return Promise.reject(e);
    }
    return this.sendBatch();
  }

  /**
   * Receive the next message. Several callers may wait at once; they are served in call order.
   * Rejects `ETIMEDOUT` / `EABORTED` (the socket stays usable) or with the close reason.
   */
  recv(options: RecvOptions = {}): Promise<Uint8Array> {
    const queued = this.inbox?.shift();
    if (queued) {
      this.inboxBytes -= queued.length;
      this.maybeResume();
      return Promise.resolve(queued);
    }
    if (this.reason) return Promise.reject(this.closedError());
    return (this.waiters ??= new WaiterQueue<Uint8Array>('recv')).wait(options);
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
    if (!this.reason) this.dispatch('CLOSE', reasonError('ECLOSED', 'the socket was closed locally'));
    if (this.finished) return Promise.resolve();
    return new Promise((resolve) => (this.closeWaiters ??= []).push(resolve));
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
    const step = this.lifecycle.next(event);
    if (!step) return;
    this.lifecycle = step.state;
    for (const action of step.actions) this.perform(action, error);
  }

  private perform(action: LifecycleAction, error: unknown): void {
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
        return this.enterClosed();
    }
  }

  private startHandshake(): void {
    const run = (this.handshake = new HandshakeRun());
    run.timer = setTimeout(() => this.dispatch('TIMEOUT'), this.limits.handshakeTimeout);
    const io: HandshakeIO = { next: () => this.nextHandshakePacket(run), send: (payload) => this.writeFrame(encodeFrame(payload)) };
    const runHandshake = this.runHandshake!;
    this.runHandshake = null;
    runHandshake(io).then(
      (result) => {
        run.result = result;
        this.dispatch('HANDSHAKE_DONE');
      },
      (error: unknown) => this.dispatch('HANDSHAKE_FAILED', error),
    );
  }

  /** Leaving the handshake state: no deadline any more, and nobody reads handshake packets. */
  private stopHandshake(): void {
    const run = this.handshake!;
    clearTimeout(run.timer);
    const reader = run.reader;
    run.reader = null;
    reader?.reject(reasonError('ECLOSED', 'handshake abandoned'));
  }

  private enterConnected(): void {
    const run = this.handshake!;
    const { session, peerKey } = run.result!;
    this.handshake = null;
    this.session = session;
    this.peerKey = peerKey;
    this.settle(null);
    if (run.frames.length === 0) {
      this.maybeResume();
      return;
    }
    // Frames that arrived right behind the last handshake packet are messages: process them now,
    // after the caller has had a chance to attach listeners.
    queueMicrotask(() => {
      if (this.reason) return;
      for (const frame of run.frames) if (!this.receiveFrame(frame)) return;
      this.maybeResume();
    });
  }

  private enterClosed(): void {
    const reason = this.reason!;
    this.handshake = null;
    this.settle(reason);
    this.waiters?.rejectAll(reason);
    if (this.tcp.destroyed) {
      this.finishClose();
    } else if (reason.code === 'ECLOSED' && this.session) {
      // A clean close: flush what was sent, then FIN; bounded so a stuck peer cannot hold us.
      this.flush();
      this.tcp.end();
      this.closeTimer = setTimeout(() => this.tcp.destroy(), CLOSE_GRACE_MS).unref();
    } else {
      this.tcp.destroy();
    }
  }

  private settle(error: CurvetunError | null): void {
    const settled = this.settled;
    this.settled = null;
    settled?.(error);
  }

  /** TCP has closed after we did: release the socket and tell the user (once). */
  private finishClose(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.closeTimer);
    this.tcp.off('data', onTcpData);
    const reason = this.reason!;
    this.emit('close', reason);
    if (reason.code !== 'ECLOSED' && this.listenerCount('error') > 0) this.emit('error', reason);
    const waiters = this.closeWaiters;
    this.closeWaiters = null;
    if (waiters) for (const resolve of waiters) resolve();
  }

  // ---- what TCP tells us (shared listeners call these) -------------------------------------

  /** @internal */
  receive(chunk: Buffer): void {
    if (this.reason) return;
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.dispatch('FAIL', error as CurvetunError);
      return;
    }
    if (this.session) {
      for (const frame of frames) if (!this.receiveFrame(frame)) return;
      return;
    }
    const run = this.handshake;
    if (!run) return;
    for (const frame of frames) {
      run.frames.push(frame);
      run.bytes += frame.length;
    }
    if (run.frames.length >= HANDSHAKE_READ_AHEAD || run.bytes >= HANDSHAKE_READ_AHEAD_BYTES) this.pauseReading();
    this.feedHandshake(run);
  }

  /** @internal */
  peerEnded(): void {
    if (!this.reason) this.dispatch('CLOSE', reasonError('ECLOSED', this.peerClosedMessage()));
  }

  /** @internal */
  tcpClosed(): void {
    if (!this.reason) this.dispatch('CLOSE', reasonError('ECLOSED', this.peerClosedMessage()));
    else this.finishClose();
  }

  /** @internal */
  tcpFailed(err: NodeJS.ErrnoException): void {
    if (this.reason) return;
    const code = err.code ?? 'socket error';
    // A reset right after our Vouch is how a refusing server usually looks from here.
    const refused = this.role === 'client' && this.session !== null && !this.receivedAny;
    this.dispatch('FAIL', reasonError('ECLOSED', refused ? `${this.peerClosedMessage()} (${code})` : `connection error: ${code}`));
  }

  // ---- receive path ------------------------------------------------------------------------

  /** Open one message frame and deliver it; false when the connection failed. */
  private receiveFrame(frame: Uint8Array): boolean {
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
    this.deliver(message);
    return true;
  }

  private deliver(message: Uint8Array): void {
    if (this.waiters?.resolveNext(message)) return;
    const listening = this.listenerCount('message') > 0;
    if (listening && !this.inbox?.length) {
      this.emit('message', message);
      return;
    }
    (this.inbox ??= []).push(message);
    this.inboxBytes += message.length;
    if (this.inboxBytes >= this.limits.highWaterMark) this.pauseReading();
    // A listener with older messages still queued gets them first, this one after.
    if (listening) queueMicrotask(() => this.flushInbox());
    else if (!this.watchingListeners) {
      this.watchingListeners = true;
      (this as EventEmitter).on('newListener', onNewListener);
    }
  }

  /** @internal Hand queued messages to the 'message' listeners, oldest first. */
  flushInbox(): void {
    const inbox = this.inbox;
    while (inbox && inbox.length > 0 && this.listenerCount('message') > 0) {
      const message = inbox.shift()!;
      this.inboxBytes -= message.length;
      this.emit('message', message);
    }
    this.maybeResume();
  }

  private nextHandshakePacket(run: HandshakeRun): Promise<Packet> {
    return new Promise((resolve, reject) => {
      run.reader = { resolve, reject };
      this.feedHandshake(run);
    });
  }

  private feedHandshake(run: HandshakeRun): void {
    const reader = run.reader;
    if (!reader) return;
    const frame = run.frames.shift();
    if (!frame) return;
    run.bytes -= frame.length;
    run.reader = null;
    try {
      reader.resolve(decodePacket(frame));
    } catch (error) {
      reader.reject(error);
    }
  }

  private pauseReading(): void {
    if (!this.paused) {
      this.paused = true;
      this.tcp.pause();
    }
  }

  private maybeResume(): void {
    if (this.paused && this.session && this.inboxBytes < this.limits.highWaterMark / 2) {
      this.paused = false;
      this.tcp.resume();
    }
  }

  // ---- send path ---------------------------------------------------------------------------

  /** Queue a handshake frame; it leaves with the rest of this tick's frames. */
  private writeFrame(frame: Uint8Array): void {
    this.takeSlabFrames();
    (this.outgoing ??= []).push(frame);
    this.scheduleFlush();
  }

  /** The promise every `send` of this tick shares: settled by the callback of the tick's one write. */
  private sendBatch(): Promise<void> {
    if (this.batch === null) {
      let settle!: (err?: Error | null) => void;
      const promise = new Promise<void>((resolve, reject) => {
        settle = (err) => (err ? reject(this.reason ? this.closedError() : new CurvetunError('ECLOSED', 'the connection failed while sending')) : resolve());
      });
      this.batch = { promise, settle };
    }
    this.scheduleFlush();
    return this.batch.promise;
  }

  /** Move this socket's frames sealed into the pool so far onto the outgoing list (keeps frame order). */
  private takeSlabFrames(): void {
    if (this.slab !== null && this.slabEnd > this.slabStart) {
      (this.outgoing ??= []).push(this.slab.subarray(this.slabStart, this.slabEnd));
      this.slabStart = this.slabEnd;
    }
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  /** Hand this tick's frames to TCP: one write (or one corked writev), one callback. */
  private flush(): void {
    this.flushScheduled = false;
    this.takeSlabFrames();
    this.slab = null; // an idle socket keeps no pool alive
    const chunks = this.outgoing;
    const batch = this.batch;
    this.outgoing = null;
    this.batch = null;
    if (chunks === null || chunks.length === 0) {
      batch?.settle();
      return;
    }
    if (this.tcp.destroyed || this.tcp.writableEnded) {
      batch?.settle(new Error('closed'));
      return;
    }
    const done = batch?.settle;
    if (chunks.length === 1) {
      this.tcp.write(chunks[0]!, done);
      return;
    }
    this.tcp.cork();
    for (let i = 0; i < chunks.length; i++) this.tcp.write(chunks[i]!, i === chunks.length - 1 ? done : undefined);
    this.tcp.uncork();
  }

  // ---- closing -----------------------------------------------------------------------------

  private peerClosedMessage(): string {
    if (this.role === 'client' && !this.receivedAny && this.session) {
      return 'the server closed the connection right after the handshake (it may have refused our key)';
    }
    return this.session ? 'the peer closed the connection' : 'the peer closed the connection during the handshake';
  }

  private closedError(): CurvetunError {
    const r = this.reason!;
    return r.code === 'ECLOSED' ? r : new CurvetunError('ECLOSED', `connection closed: ${r.message}`, { cause: r });
  }
}
