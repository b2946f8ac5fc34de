/**
 * The outbox: what a socket sends in one tick, and how it leaves.
 *
 * Messages are sealed straight into their outgoing frame: small frames back to back in a slab
 * shared by every socket of the process, larger ones into a buffer of their own. Everything queued
 * in one tick (handshake frames and messages alike, in order) is handed to TCP in one write, and
 * the sends of that tick share one promise, settled by that write's callback.
 *
 * An outbox lives for one tick: the socket makes it on the first frame of a tick and drops it once
 * flushed, so an idle socket holds no outbox at all.
 */
import type { Socket as TcpSocket } from 'node:net';
import type { CurvetunError } from '../errors.js';
import { SLAB_BYTES, SMALL_FRAME_BYTES } from '../limits.js';
import type { DataSession } from './data-session.js';

/**
 * A bump allocator shared by every socket of the process (the idea of Buffer's own pool): written
 * bytes are never rewritten, views of them stay valid until written out, and a full slab is simply
 * replaced, so memory does not grow with the number of connections.
 */
let slab = Buffer.allocUnsafe(SLAB_BYTES);
let slabUsed = 0;

/** What the outbox needs from its socket. */
export interface OutboxOwner {
  /** Why a write failed, asked when it fails (the socket may have closed meanwhile). */
  sendFailure(): CurvetunError;
}

/** The promise every send of a tick shares, and how to settle it. */
interface SendBatch {
  promise: Promise<void>;
  settle(err?: Error | null): void;
}

export class Outbox {
  /** Frames queued in order; this tick's run in the slab is added when it ends. */
  private chunks: Uint8Array[] | null = null;
  // This socket's current run of frames in the shared slab: [runStart, runEnd) of `run`.
  private run: Buffer | null = null;
  private runStart = 0;
  private runEnd = 0;
  private batch: SendBatch | null = null;

  constructor(private readonly owner: OutboxOwner) {}

  /**
   * Seal `message` as the session's next frame into this tick's outgoing bytes; the promise the
   * tick's sends share. Throws (nothing queued) what the session throws: `ETOOBIG`, `ECLOSED`.
   */
  sealMessage(session: DataSession, message: Uint8Array): Promise<void> {
    const size = session.frameBytes(message.length);
    if (size <= SMALL_FRAME_BYTES) {
      // Small frames are sealed back to back into the shared slab: no buffer per message, and
      // the frames of one tick lie side by side, so they leave in one write.
      if (SLAB_BYTES - slabUsed < size) {
        slab = Buffer.allocUnsafe(SLAB_BYTES);
        slabUsed = 0;
      }
      if (this.run !== slab || this.runEnd !== slabUsed) {
        this.endRun();
        this.run = slab;
        this.runStart = this.runEnd = slabUsed;
      }
      session.sealInto(message, slab, slabUsed);
      slabUsed += size;
      this.runEnd = slabUsed;
    } else {
      const frame = session.seal(message);
      this.endRun();
      (this.chunks ??= []).push(frame);
    }
    return this.sendBatch();
  }

  /** Queue a whole frame (a handshake packet); it leaves with the rest of this tick's frames. */
  queueFrame(frame: Uint8Array): void {
    this.endRun();
    (this.chunks ??= []).push(frame);
  }

  /** Hand this tick's frames to TCP: one write (or one corked writev), one callback. */
  flush(tcp: TcpSocket): void {
    this.endRun();
    this.run = null; // the outbox is dropped after this, so it keeps no slab alive anyway
    const chunks = this.chunks;
    const done = this.batch?.settle;
    this.chunks = null;
    this.batch = null;
    if (chunks === null || chunks.length === 0) {
      done?.();
      return;
    }
    if (tcp.destroyed || tcp.writableEnded) {
      done?.(new Error('closed'));
      return;
    }
    if (chunks.length === 1) {
      tcp.write(chunks[0]!, done);
      return;
    }
    tcp.cork();
    for (let i = 0; i < chunks.length; i++) tcp.write(chunks[i]!, i === chunks.length - 1 ? done : undefined);
    tcp.uncork();
  }

  private sendBatch(): Promise<void> {
    if (this.batch === null) {
      const owner = this.owner;
      let settle!: (err?: Error | null) => void;
      const promise = new Promise<void>((resolve, reject) => {
        settle = (err) => (err ? reject(owner.sendFailure()) : resolve());
      });
      this.batch = { promise, settle };
    }
    return this.batch.promise;
  }

  /** Move the frames sealed into the slab so far onto the list (keeps frame order). */
  private endRun(): void {
    if (this.run !== null && this.runEnd > this.runStart) {
      (this.chunks ??= []).push(this.run.subarray(this.runStart, this.runEnd));
      this.runStart = this.runEnd;
    }
  }
}
