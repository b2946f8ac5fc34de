/**
 * Stream mode: a Node `Duplex` over a connected CurvetunSocket.
 *
 * Writing: bytes are cut into messages of at most 65 503 bytes (small writes buffered together are
 * packed into one message). A write completes when its frames are handed to the kernel, so a slow
 * network or a slow peer makes `write()` return false and `'drain'` come later.
 *
 * Reading: one `recv()` at a time, only while the readable buffer has room. Unread messages pile
 * up in the socket only up to its highWaterMark; then it stops reading TCP and the peer's kernel
 * window closes — backpressure end to end. Zero-length messages carry no bytes and are skipped.
 *
 * End of stream, v2 (real half-close, as TCP's FIN):
 *   - `end()` flushes what was written, then sends END: the peer's stream emits `'end'` and can
 *     still write back; ours stays readable until the peer ends too (then the connection closes).
 *   - the peer's END ends our readable side (`'end'`); our writable side stays open.
 *   - a TCP end without the peer's END or CLOSE is `ETRUNCATED`: an `'error'`, never an `'end'`.
 * End of stream, v1 (no end-of-data marker: an empty message is legal data), so the connection's
 * close is the end of the stream:
 *   - `end()` flushes what was written, then closes the whole connection; the peer's stream ends.
 *     Bytes the peer sends after that are lost, so finish the conversation before ending.
 *   - when the peer closes cleanly, the readable side ends (`'end'`) and, as with
 *     `allowHalfOpen: false`, the writable side ends too.
 * Either version: a failure (tampered packet, broken TCP) destroys the stream with the socket's
 * CurvetunError (stable `code`); `destroy()` closes the connection.
 */
import { Duplex } from 'node:stream';
import { CurvetunError } from '../errors.js';
import { DEFAULT_STREAM_HIGH_WATER_MARK } from '../limits.js';
import { MAX_MESSAGE_BYTES } from '../protocol/index.js';
import { cutIntoMessages } from './cut.js';

/** The subset of CurvetunSocket that stream mode uses. */
export interface MessageSocket {
  send(message: Uint8Array): Promise<void>;
  recv(): Promise<Uint8Array>;
  /** v2: end our direction (END); v1: close. */
  end(): Promise<void>;
  close(): Promise<void>;
  readonly protocol: 'v1' | 'v2';
  readonly closeReason: CurvetunError | null;
  once(event: 'close', listener: () => void): unknown;
}

export interface MessageStreamOptions {
  /** Bytes buffered on the readable side before reading pauses (default 256 KiB). */
  readableHighWaterMark?: number;
  /** Bytes buffered on the writable side before `write()` returns false (default 256 KiB). */
  writableHighWaterMark?: number;
}

const DEFAULT_HWM = DEFAULT_STREAM_HIGH_WATER_MARK;

/** A byte-stream view of a message socket. Use `socket.stream()` rather than constructing it. */
export class MessageStream extends Duplex {
  private reading = false;
  /** The connection has closed: take what it still holds regardless of room, then end. */
  private draining = false;

  constructor(private readonly socket: MessageSocket, options: MessageStreamOptions = {}) {
    super({
      allowHalfOpen: socket.protocol === 'v2',
      readableHighWaterMark: options.readableHighWaterMark ?? DEFAULT_HWM,
      writableHighWaterMark: options.writableHighWaterMark ?? DEFAULT_HWM,
    });
    // Without this a stream nobody reads would never see its end, and never emit 'close'.
    socket.once('close', () => {
      this.draining = true;
      this._read();
      // Half-open (v2) streams: the connection is gone, so our writable side is done too.
      if (!this.writableEnded && !this.destroyed) this.end();
    });
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    this.pull();
  }

  /** Receive until the readable buffer is full; `reading` stays true while a recv is pending. */
  private pull(): void {
    this.socket.recv().then(
      (message) => {
        if (this.destroyed) return;
        // An empty message adds no bytes to a stream; ask for the next one.
        // Once closed, the socket holds at most its highWaterMark: move it all, then end.
        if (message.length === 0 || this.push(message) || this.draining) this.pull();
        else this.reading = false;
      },
      (error: CurvetunError) => {
        this.reading = false;
        if (this.destroyed) return;
        // A clean close or the peer's END is the end of the stream; anything else is an error.
        const reason = this.socket.closeReason;
        if (reason ? reason.code === 'ECLOSED' : error.code === 'ECLOSED') {
          this.push(null);
          // Emits 'end' now if nothing is buffered, even when nobody is reading.
          if (this.readableLength === 0) this.resume();
        } else this.destroy(this.socket.closeReason ?? error);
      },
    );
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.sendAll(cutIntoMessages(chunks.map((c) => c.chunk), MAX_MESSAGE_BYTES), callback);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sendAll(cutIntoMessages([chunk], MAX_MESSAGE_BYTES), callback);
  }

  private sendAll(messages: Uint8Array[], callback: (error?: Error | null) => void): void {
    // All sends start in this tick (the socket writes them as one batch); done when all are out.
    Promise.all(messages.map((m) => this.socket.send(m))).then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    // v2: END, our direction only; v1 has no half-close: the end of our data is the connection's.
    this.socket.end().then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.socket.closeReason) {
      callback(error);
      return;
    }
    this.socket.close().then(
      () => callback(error),
      () => callback(error),
    );
  }
}

/** Stream mode over `socket` (see the module comment for end-of-stream rules). */
export function messageStream(socket: MessageSocket, options?: MessageStreamOptions): MessageStream {
  return new MessageStream(socket, options);
}
