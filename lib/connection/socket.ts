/**
 * The message-oriented socket: one TCP connection, one state machine, one Session once connected.
 *
 * Receiving: TCP chunks → FrameDecoder → (handshake: a packet queue the handshake reads;
 * connected: decode + open inline, no machine event) → waiting `recv` callers in call order,
 * else `'message'` listeners, else a bounded buffer. Above the high-water mark the TCP socket is
 * paused, so a slow reader makes the kernel's window close instead of our memory grow.
 *
 * Sending: seal straight into the outgoing bytes (small frames back to back in a shared slab);
 * everything sent in one tick leaves in one write, and the sends of that tick share one promise.
 */
import { EventEmitter } from 'node:events';
import type { Socket as TcpSocket } from 'node:net';
import { createActor } from 'xstate';
import type { Actor } from 'xstate';
import { CurvetunError } from '../errors.js';
import { FrameDecoder, decodePacket, encodeFrame } from '../protocol/index.js';
import type { Packet } from '../protocol/index.js';
import type { HandshakeIO, HandshakeResult } from './handshake.js';
import { connectionMachine } from './machine.js';
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
/** Frames up to this size are sealed into the pool; larger ones get their own buffer. */
const SMALL_FRAME_BYTES = 4096;
const SLAB_BYTES = 64 * 1024;
/**
 * A bump allocator shared by every socket of the process (the idea of Buffer's own pool): written
 * bytes are never rewritten, views of them stay valid until written out, and a full pool is simply
 * replaced, so memory does not grow with the number of connections.
 */
let pool = Buffer.allocUnsafe(SLAB_BYTES);
let poolUsed = 0;
const HANDSHAKE_READ_AHEAD_BYTES = 16 * 1024;

export type SocketRole = 'client' | 'server';

export interface CurvetunSocketEvents {
  message: [message: Uint8Array];
  close: [reason: CurvetunError];
  error: [error: CurvetunError];
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
  peerKey: Uint8Array = new Uint8Array(0);
  readonly remoteAddress: string;
  readonly remotePort: number;

  private readonly actor: Actor<typeof connectionMachine>;
  private readonly decoder = new FrameDecoder();
  private session: Session | null = null;
  private reason: CurvetunError | null = null;

  // Handshake-time packet queue.
  private readonly handshakeFrames: Uint8Array[] = [];
  private handshakeBytes = 0;
  private handshakeWaiter: { resolve(p: Packet): void; reject(e: unknown): void } | null = null;

  // Received messages not yet consumed, and callers waiting for one.
  private readonly inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private readonly waiters = new WaiterQueue<Uint8Array>('recv');
  private paused = false;
  // Send path: frames of the current tick, the slab small frames are sealed into, the shared promise.
  private outgoing: Uint8Array[] = [];
  // This tick's run of frames in the shared pool: [slabStart, slabEnd) of `slab`.
  private slab: Buffer | null = null;
  private slabStart = 0;
  private slabEnd = 0;
  private batch: { promise: Promise<void>; settle: (err?: Error | null) => void } | null = null;
  private flushScheduled = false;
  private receivedAny = false;

  private readonly ready: Promise<void>;
  private readonly closedPromise: Promise<CurvetunError>;
  private resolveReady!: () => void;
  private rejectReady!: (e: CurvetunError) => void;
  private resolveClosed!: (e: CurvetunError) => void;

  /** @internal Use `connect()` or `Listener.accept()`. */
  constructor(
    private readonly tcp: TcpSocket,
    readonly role: SocketRole,
    runHandshake: (io: HandshakeIO) => Promise<HandshakeResult>,
    private readonly limits: SocketLimits,
  ) {
    super();
    this.remoteAddress = tcp.remoteAddress ?? '';
    this.remotePort = tcp.remotePort ?? 0;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Nobody may be waiting on `ready` when a handshake fails (server side): never an unhandled rejection.
    this.ready.catch(() => undefined);
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));

    const io: HandshakeIO = { next: () => this.nextHandshakePacket(), send: (payload) => this.writeFrame(encodeFrame(payload)) };
    this.actor = createActor(connectionMachine, {
      input: {
        handshakeTimeoutMs: limits.handshakeTimeout,
        hooks: {
          handshake: (signal) => {
            signal.addEventListener('abort', () => this.abortHandshakeRead(), { once: true });
            return runHandshake(io);
          },
          connected: (result) => this.onConnected(result),
          closed: (reason) => this.onClosed(reason),
        },
      },
    });
    this.actor.start();

    tcp.setNoDelay(true);
    tcp.on('data', (chunk: Buffer) => this.onData(chunk));
    tcp.on('end', () => this.end('CLOSE', new CurvetunError('ECLOSED', this.peerClosedMessage())));
    tcp.on('close', () => this.end('CLOSE', new CurvetunError('ECLOSED', this.peerClosedMessage())));
    tcp.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'socket error';
      // A reset right after our Vouch is how a refusing server usually looks from here.
      const refused = this.role === 'client' && this.session !== null && !this.receivedAny;
      this.end('FAIL', new CurvetunError('ECLOSED', refused ? `${this.peerClosedMessage()} (${code})` : `connection error: ${code}`));
    });
    this.actor.send({ type: role === 'client' ? 'CONNECT' : 'ACCEPT' });
    // Messages that arrived before anyone listened are handed to the first 'message' listener.
    (this as EventEmitter).on('newListener', (event: string | symbol) => {
      if (event === 'message' && this.inbox.length > 0) queueMicrotask(() => this.flushInbox());
    });
  }

  /** Resolves when the handshake completes; rejects with the reason it did not. @internal */
  whenReady(): Promise<void> {
    return this.ready;
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
  get state(): string {
    const value = this.actor.getSnapshot().value;
    return typeof value === 'string' ? value : Object.values(value)[0] as string;
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
        this.outgoing.push(session.seal(bytes));
      }
    } catch (error) {
      const e = error as CurvetunError;
      if (e.code === 'ECLOSED') this.end('FAIL', e);
      return Promise.reject(e);
    }
    return this.sendBatch();
  }

  /**
   * Receive the next message. Several callers may wait at once; they are served in call order.
   * Rejects `ETIMEDOUT` / `EABORTED` (the socket stays usable) or with the close reason.
   */
  recv(options: RecvOptions = {}): Promise<Uint8Array> {
    const queued = this.inbox.shift();
    if (queued) {
      this.inboxBytes -= queued.length;
      this.maybeResume();
      return Promise.resolve(queued);
    }
    if (this.reason) return Promise.reject(this.closedError());
    return this.waiters.wait(options);
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
    this.end('CLOSE', new CurvetunError('ECLOSED', 'the socket was closed locally'));
    return this.closedPromise.then(() => undefined);
  }

  /** @internal Close because the caller's signal or deadline fired. */
  abort(error: CurvetunError): void {
    this.end('CLOSE', error);
  }

  // ---- receive path ------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.reason) return;
    let frames: Uint8Array[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.end('FAIL', error as CurvetunError);
      return;
    }
    if (this.session) {
      for (const frame of frames) if (!this.receiveFrame(frame)) return;
    } else {
      for (const frame of frames) {
        this.handshakeFrames.push(frame);
        this.handshakeBytes += frame.length;
      }
      if (this.handshakeFrames.length >= HANDSHAKE_READ_AHEAD || this.handshakeBytes >= HANDSHAKE_READ_AHEAD_BYTES) this.pauseReading();
      this.feedHandshake();
    }
  }

  /** Open one message frame and deliver it; false when the connection failed. */
  private receiveFrame(frame: Uint8Array): boolean {
    let message: Uint8Array;
    try {
      const packet = decodePacket(frame);
      if (packet.type !== 'message') {
        throw new CurvetunError('EPROTO', `expected a message packet after the handshake, got a ${packet.type} packet`);
      }
      message = this.session!.open(packet);
    } catch (error) {
      this.end('FAIL', error as CurvetunError);
      return false;
    }
    this.receivedAny = true;
    this.deliver(message);
    return true;
  }

  private deliver(message: Uint8Array): void {
    if (this.waiters.resolveNext(message)) return;
    if (this.listenerCount('message') > 0 && this.inbox.length === 0) {
      this.emit('message', message);
    } else {
      this.inbox.push(message);
      this.inboxBytes += message.length;
      if (this.inboxBytes >= this.limits.highWaterMark) this.pauseReading();
      // A listener with older messages still queued gets them first, this one after.
      if (this.listenerCount('message') > 0) queueMicrotask(() => this.flushInbox());
    }
  }

  private flushInbox(): void {
    while (this.inbox.length > 0 && this.listenerCount('message') > 0) {
      const message = this.inbox.shift()!;
      this.inboxBytes -= message.length;
      this.emit('message', message);
    }
    this.maybeResume();
  }

  private nextHandshakePacket(): Promise<Packet> {
    return new Promise((resolve, reject) => {
      this.handshakeWaiter = { resolve, reject };
      this.feedHandshake();
    });
  }

  private feedHandshake(): void {
    const waiter = this.handshakeWaiter;
    if (!waiter) return;
    const frame = this.handshakeFrames.shift();
    if (!frame) return;
    this.handshakeBytes -= frame.length;
    this.handshakeWaiter = null;
    try {
      waiter.resolve(decodePacket(frame));
    } catch (error) {
      waiter.reject(error);
    }
  }

  private abortHandshakeRead(): void {
    const waiter = this.handshakeWaiter;
    this.handshakeWaiter = null;
    waiter?.reject(new CurvetunError('ECLOSED', 'handshake abandoned'));
  }

  private onConnected(result: HandshakeResult): void {
    this.session = result.session;
    this.peerKey = result.peerKey;
    this.resolveReady();
    // Frames that arrived right behind the last handshake packet are messages: process them now,
    // after the caller has had a chance to attach listeners.
    queueMicrotask(() => {
      if (this.reason) return;
      while (this.handshakeFrames.length > 0) {
        const frame = this.handshakeFrames.shift()!;
        this.handshakeBytes -= frame.length;
        if (!this.receiveFrame(frame)) return;
      }
      this.maybeResume();
    });
  }

  private pauseReading(): void {
    if (!this.paused) {
      this.paused = true;
      this.tcp.pause();
    }
  }

  private maybeResume(): void {
    if (this.paused && this.session && this.handshakeFrames.length === 0 && this.inboxBytes < this.limits.highWaterMark / 2) {
      this.paused = false;
      this.tcp.resume();
    }
  }

  // ---- send path ---------------------------------------------------------------------------

  /** Queue a handshake frame; it leaves with the rest of this tick's frames. */
  private writeFrame(frame: Uint8Array): void {
    this.takeSlabFrames();
    this.outgoing.push(frame);
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
      this.outgoing.push(this.slab.subarray(this.slabStart, this.slabEnd));
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
    this.outgoing = [];
    this.batch = null;
    if (chunks.length === 0) {
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

  /** Ask the machine to end the connection (once: a closed machine takes no more events). */
  private end(type: 'CLOSE' | 'FAIL', error: CurvetunError): void {
    if (!this.reason) this.actor.send({ type, error });
  }

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

  private onClosed(reason: CurvetunError): void {
    this.reason = reason;
    this.abortHandshakeRead();
    this.rejectReady(reason);
    this.waiters.rejectAll(reason);
    this.handshakeFrames.length = 0;
    if (this.tcp.destroyed) {
      this.finishClose(reason);
    } else {
      this.tcp.once('close', () => this.finishClose(reason));
      if (reason.code === 'ECLOSED' && this.session) {
        this.flush();
        // A clean close: flush what was sent, then FIN; bounded so a stuck peer cannot hold us.
        this.tcp.end();
        setTimeout(() => this.tcp.destroy(), 2_000).unref();
      } else {
        this.tcp.destroy();
      }
    }
  }

  private finishClose(reason: CurvetunError): void {
    this.tcp.removeAllListeners('data');
    this.emit('close', reason);
    if (reason.code !== 'ECLOSED' && this.listenerCount('error') > 0) this.emit('error', reason);
    this.resolveClosed(reason);
  }
}
