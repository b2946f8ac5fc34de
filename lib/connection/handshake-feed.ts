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
import { decodePacket } from '../protocol/index.js';
import type { Packet } from '../protocol/index.js';
import type { FrameIO, HandshakeResult } from './handshake.js';

/** A handshake half, given the socket's packet reader and frame writer. */
export type HandshakeRunner = (io: FrameIO) => Promise<HandshakeResult>;

/** Told once whether the handshake completed (`null`) or why the connection ended before it did. */
export type HandshakeOutcome = (error: CurvetunError | null) => void;

export class HandshakeFeed {
  private readonly frames: Uint8Array[] = [];
  private bytes = 0;
  private reader: { resolve(frame: Uint8Array): void; reject(e: unknown): void } | null = null;
  /** The handshake deadline (timers.ts), armed when the handshake starts. */
  deadline: NodeJS.Timeout | undefined;
  /** What the handshake half produced, kept between its end and `enterConnected`. */
  result: HandshakeResult | null = null;

  constructor(
    /** The half to run; taken (and dropped) when the handshake starts. */
    public runner: HandshakeRunner | null,
    private onOutcome: HandshakeOutcome | null,
  ) {}

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
