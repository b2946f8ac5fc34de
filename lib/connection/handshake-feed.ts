/**
 * The handshake feed: frames that arrive while the handshake runs, queued for the handshake half
 * (handshake.ts), which reads them one packet at a time through `next()`.
 *
 * Read-ahead is bounded: a client may send messages right behind its Vouch, but a connection that
 * has not finished its handshake must not make us hold much memory, so past a few frames the
 * socket stops reading TCP (pending handshakes × this bound is what they can cost). Frames still
 * queued when the handshake completes are the first messages.
 *
 * The feed exists only while the handshake runs, and holds what is needed only until then: the
 * handshake half to run, its deadline, and whom to tell how it ended.
 */
import type { CurvetunError } from '../errors.js';
import { HANDSHAKE_READ_AHEAD_BYTES, HANDSHAKE_READ_AHEAD_FRAMES } from '../limits.js';
import { decodePacket, encodeFrame } from '../protocol/index.js';
import type { Packet } from '../protocol/index.js';
import { trace } from '../trace.js';
import type { Protocol } from './data-session.js';
import type { FrameIO, HandshakeResult } from './handshake.js';
import { reasonError } from './lifecycle.js';
import { handshakeEnded, handshakeStarted } from './timers.js';
import type { HandshakeClock } from './timers.js';

/** A handshake half, given the socket's packet reader and frame writer. */
export type HandshakeRunner = (io: FrameIO) => Promise<HandshakeResult>;

/** Told once whether the handshake completed (`null`) or why the connection ended before it did. */
export type HandshakeOutcome = (error: CurvetunError | null) => void;

/** What running the handshake needs from its socket. */
export interface HandshakeHost extends HandshakeClock {
  /** Queue a frame into this tick's outgoing bytes. */
  queueFrame(frame: Uint8Array): void;
  /** The half completed: `result` holds what it produced. */
  handshakeDone(): void;
  handshakeFailed(error: unknown): void;
}

export class HandshakeFeed {
  private readonly frames: Uint8Array[] = [];
  private bytes = 0;
  private reader: { resolve(frame: Uint8Array): void; reject(e: unknown): void } | null = null;
  /** The handshake deadline (timers.ts), armed when the handshake starts. */
  deadline: NodeJS.Timeout | undefined;
  /** What the handshake half produced, kept between its end and `enterConnected`. */
  result: HandshakeResult | null = null;
  /** The version a server heard in the Hello (FrameIO.heard). */
  heard: Protocol | undefined;

  constructor(
    /** The half to run; taken (and dropped) when the handshake starts. */
    public runner: HandshakeRunner | null,
    private onOutcome: HandshakeOutcome | null,
  ) {}

  /**
   * Run the handshake half (once) under its deadline: its frames go out through `host`, which is
   * told how it ended. `label` names the connection in trace lines (null: no tracing).
   */
  start(host: HandshakeHost, timeoutMs: number, label: string | null): void {
    this.deadline = handshakeStarted(host, timeoutMs);
    const io: FrameIO = {
      next: () => this.next(),
      nextFrame: () => this.nextFrame(),
      send: (payload) => host.queueFrame(encodeFrame(payload)),
      heard: (protocol) => (this.heard = protocol),
    };
    if (label !== null) io.stage = (name) => trace('%s: handshake: %s', label, name);
    const runner = this.runner!;
    this.runner = null;
    runner(io).then(
      (result) => {
        this.result = result;
        host.handshakeDone();
      },
      (error: unknown) => host.handshakeFailed(error),
    );
  }

  /** Leaving the handshake state: no deadline any more, and nobody reads handshake packets. */
  finish(): void {
    handshakeEnded(this.deadline);
    this.stop(reasonError('ECLOSED', 'handshake abandoned'));
  }

  /** Queue frames from TCP; true when the read-ahead bound is reached (stop reading TCP). */
  push(frames: Uint8Array[]): boolean {
    for (const frame of frames) {
      this.frames.push(frame);
      this.bytes += frame.length;
    }
    const full = this.frames.length >= HANDSHAKE_READ_AHEAD_FRAMES || this.bytes >= HANDSHAKE_READ_AHEAD_BYTES;
    this.feed();
    return full;
  }

  /** The next v1 packet, decoded; rejects `EPROTO` when it does not decode, or when the feed is stopped. */
  async next(): Promise<Packet> {
    return decodePacket(await this.nextFrame());
  }

  /** The next frame payload as it came (v2 and the version dispatch decode it themselves). */
  nextFrame(): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.reader = { resolve, reject };
      this.feed();
    });
  }

  /** Nobody reads handshake packets any more: a read in progress fails with `reason`. */
  stop(reason: CurvetunError): void {
    const reader = this.reader;
    this.reader = null;
    reader?.reject(reason);
  }

  /** Frames that arrived right behind the last handshake packet: the connection's first messages. */
  leftovers(): Uint8Array[] {
    return this.frames;
  }

  /** Tell (once) how the handshake ended. */
  reportOutcome(error: CurvetunError | null): void {
    const onOutcome = this.onOutcome;
    this.onOutcome = null;
    onOutcome?.(error);
  }

  private feed(): void {
    const reader = this.reader;
    if (!reader) return;
    const frame = this.frames.shift();
    if (!frame) return;
    this.bytes -= frame.length;
    this.reader = null;
    reader.resolve(frame);
  }
}
