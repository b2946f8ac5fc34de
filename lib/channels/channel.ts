/**
 * One channel: a Node Duplex whose bytes travel as DATA frames of its session, with credit-based
 * flow control each way and a real half-close.
 *
 * Sending: the peer grants us credit (its window in the OPEN or ACCEPT, then WINDOW frames); we
 * send at most that many bytes. A write waits, holding its callback, until credit comes, so a
 * slow reader on the far side makes `write()` return false here and nothing else.
 *
 * Receiving: DATA is queued here (at most the window we granted, so a peer that sends more breaks
 * a rule and the channel is reset) and handed to the reader as fast as it reads. Credit goes back
 * once half the window has been handed over, so one WINDOW frame covers many DATA frames.
 *
 * Ending: `end()` sends EOF once everything written is out (the peer's readable side ends, ours
 * stays open); the peer's EOF ends our readable side. When both EOFs have passed, each side sends
 * CLOSE(done), and the channel's id is free once both CLOSEs have crossed. `destroy()` before that
 * sends CLOSE(aborted) at once; a CLOSE from the peer before both EOFs destroys the channel with
 * an error.
 */
import { Duplex } from 'node:stream';
import { CurvetunError } from '../errors.js';
import { INSPECT, describe } from '../inspect.js';
import { trace } from '../trace.js';
import type { ChannelFrame, ChannelTarget } from './frames.js';
import { encodeChannelFrame, encodeData } from './frames.js';
import { MAX_DATA_BYTES, MAX_WINDOW } from './layout.js';
import type { CloseCode } from './layout.js';

/** What a channel needs from its session. */
export interface ChannelLink {
  /** Send one frame (one message). */
  send(frame: Uint8Array): Promise<void>;
  /** Both CLOSEs have crossed: the id and the channel's window are free again. */
  release(channel: Channel): void;
}

/** Bytes the readable side holds for its reader beyond the channel's own queue (Node's buffer). */
const READABLE_HIGH_WATER_MARK = 16 * 1024;
/** Bytes written and not yet sent before `write()` returns false. */
const WRITABLE_HIGH_WATER_MARK = 64 * 1024;

interface PendingWrite {
  pieces: Uint8Array[];
  sends: Promise<void>[];
  callback: (error?: Error | null) => void;
}

/** Take up to `count` bytes off the front of `pieces` (views, no copy). */
function takeBytes(pieces: Uint8Array[], count: number): Uint8Array[] {
  const taken: Uint8Array[] = [];
  let left = count;
  while (left > 0 && pieces.length > 0) {
    const first = pieces[0]!;
    if (first.length <= left) {
      taken.push(first);
      pieces.shift();
      left -= first.length;
    } else {
      taken.push(first.subarray(0, left));
      pieces[0] = first.subarray(left);
      left = 0;
    }
  }
  return taken;
}

/**
 * A channel of a ChannelSession. Obtain one from `session.open()` or `request.accept()`.
 *
 * @example
 * const channel = await session.open({ host: 'db.internal', port: 5432 });
 * channel.end('query');
 * for await (const chunk of channel) process.stdout.write(chunk);
 */
export class Channel extends Duplex {
  /** Bytes the peer sent us on this channel, and bytes we sent it. */
  bytesReceived = 0;
  bytesSent = 0;

  /** Bytes we may still send (the peer's credit). */
  private sendCredit: number;
  /** Bytes the peer may still send before we return credit. */
  private receiveWindow: number;
  /** Bytes handed to the reader and not yet returned as credit. */
  private unreturned = 0;
  private readonly inbound: Uint8Array[] = [];
  /** The reader asked for more and nothing has been pushed since. */
  private wantsData = false;
  private pushedEnd = false;
  private pending: PendingWrite | null = null;
  private sentEof = false;
  private receivedEof = false;
  private sentClose = false;
  private receivedClose = false;

  /** @internal Made by the session once the open is accepted. */
  constructor(
    private readonly link: ChannelLink,
    /** The channel's id in its session. */
    readonly id: number,
    /** Where the opener asked this channel to lead. */
    readonly target: ChannelTarget,
    sendCredit: number,
    /** The window we granted the peer: what it may have in flight towards us. */
    readonly window: number,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: READABLE_HIGH_WATER_MARK, writableHighWaterMark: WRITABLE_HIGH_WATER_MARK });
    this.sendCredit = sendCredit;
    this.receiveWindow = window;
  }

  /** What util.inspect shows: where it leads and its counts, never the bytes it holds. */
  [INSPECT](): string {
    return describe('Channel', { id: this.id, target: `${this.target.host}:${this.target.port}`, bytesSent: this.bytesSent, bytesReceived: this.bytesReceived });
  }

  // ---- frames from the peer (called by the session); a string is the rule broken --------------

  /** @internal Any frame but OPEN for this open channel; the rule it broke, or null. */
  peerFrame(frame: Exclude<ChannelFrame, { type: 'open' }>): string | null {
    switch (frame.type) {
      case 'data':
        return this.peerData(frame.bytes);
      case 'eof':
        return this.peerEof();
      case 'window':
        return this.peerWindow(frame.increment);
      case 'close':
        this.peerClose(frame.code);
        return null;
      case 'accept':
      case 'refuse':
        return `${frame.type} for a channel that is already open`;
    }
  }

  /** @internal */
  peerData(bytes: Uint8Array): string | null {
    if (this.sentClose) return null; // crossed our CLOSE: dropped
    if (this.receivedEof) return 'data after the peer ended its data';
    if (bytes.length > this.receiveWindow) return `${bytes.length} bytes of data with ${this.receiveWindow} bytes of window left`;
    this.receiveWindow -= bytes.length;
    this.bytesReceived += bytes.length;
    if (this.wantsData && this.inbound.length === 0) this.hand(bytes);
    else this.inbound.push(bytes);
    return null;
  }

  /** @internal */
  peerEof(): string | null {
    if (this.sentClose) return null;
    if (this.receivedEof) return 'a second end of data';
    this.receivedEof = true;
    if (this.inbound.length === 0) this.pushEnd();
    this.closeIfDone();
    return null;
  }

  /** @internal */
  peerWindow(increment: number): string | null {
    if (this.sentClose) return null;
    if (this.sendCredit + increment > MAX_WINDOW) return 'a window above 2^32 - 1 bytes';
    this.sendCredit += increment;
    this.pump();
    return null;
  }

  /** @internal The peer is done with the channel: acknowledge, and fail it unless it ended cleanly. */
  peerClose(code: CloseCode): void {
    this.receivedClose = true;
    const clean = code === 'done' && this.sentEof && this.receivedEof;
    if (!this.sentClose) this.sendClose(clean ? 'done' : 'aborted');
    else this.link.release(this);
    if (!clean && !this.destroyed) {
      this.destroy(
        code === 'protocol'
          ? new CurvetunError('EPROTO', `channel ${this.id}: the peer reset the channel (our frames broke a channel rule)`)
          : new CurvetunError('ECLOSED', `channel ${this.id}: the peer aborted the channel`),
      );
    }
  }

  /** @internal This side broke no rule but the peer did: tell it and fail the channel. */
  reset(rule: string): void {
    if (trace.enabled) trace('channel %d: reset: %s', this.id, rule);
    if (!this.sentClose) this.sendClose('protocol');
    this.destroy(new CurvetunError('EPROTO', `channel ${this.id}: the peer broke a channel rule: ${rule}`));
  }

  /** @internal The session is gone: no frame will pass any more. */
  sessionEnded(reason: CurvetunError): void {
    const clean = this.sentEof && this.receivedEof;
    this.sentClose = this.receivedClose = true;
    if (!clean && !this.destroyed) {
      this.destroy(new CurvetunError(reason.code === 'EPROTO' ? 'EPROTO' : 'ECLOSED', `channel ${this.id}: the connection closed: ${reason.message}`, { cause: reason }));
    }
  }

  // ---- the reader ---------------------------------------------------------------------------

  override _read(): void {
    this.wantsData = true;
    while (this.wantsData && this.inbound.length > 0) this.hand(this.inbound.shift()!);
    if (this.inbound.length === 0 && this.receivedEof) this.pushEnd();
  }

  /** Hand bytes to Node's readable buffer; credit goes back once half the window has been handed. */
  private hand(bytes: Uint8Array): void {
    this.wantsData = this.push(bytes);
    this.unreturned += bytes.length;
    if (this.unreturned >= this.window / 2 && !this.receivedEof && !this.sentClose) {
      const increment = this.unreturned;
      this.unreturned = 0;
      this.receiveWindow += increment;
      this.sendFrame(encodeChannelFrame({ type: 'window', channel: this.id, increment }));
    }
  }

  private pushEnd(): void {
    if (this.pushedEnd) return;
    this.pushedEnd = true;
    this.push(null);
  }

  // ---- the writer ---------------------------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.pending = { pieces: chunk.length > 0 ? [chunk] : [], sends: [], callback };
    this.pump();
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.pending = { pieces: chunks.map((c) => c.chunk).filter((c) => c.length > 0), sends: [], callback };
    this.pump();
  }

  /** Send what the credit allows of the pending write; its callback once all of it is out. */
  private pump(): void {
    const pending = this.pending;
    if (pending === null) return;
    while (pending.pieces.length > 0 && this.sendCredit > 0) {
      const parts = takeBytes(pending.pieces, Math.min(this.sendCredit, MAX_DATA_BYTES));
      let count = 0;
      for (const part of parts) count += part.length;
      this.sendCredit -= count;
      this.bytesSent += count;
      pending.sends.push(this.link.send(encodeData(this.id, parts)));
    }
    if (pending.pieces.length > 0) return; // waits for a WINDOW frame
    this.pending = null;
    Promise.all(pending.sends).then(
      () => pending.callback(),
      (error: Error) => pending.callback(error),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.sentEof = true;
    const sent = this.link.send(encodeChannelFrame({ type: 'eof', channel: this.id }));
    this.closeIfDone();
    sent.then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const pending = this.pending;
    this.pending = null;
    this.inbound.length = 0;
    if (!this.sentClose) this.sendClose(this.sentEof && this.receivedEof ? 'done' : 'aborted');
    pending?.callback(error ?? new CurvetunError('ECLOSED', `channel ${this.id} was destroyed`));
    callback(error);
  }

  // ---- closing ------------------------------------------------------------------------------

  /** Both EOFs have passed: the channel is done; say so (the reader may still be reading). */
  private closeIfDone(): void {
    if (this.sentEof && this.receivedEof && !this.sentClose) this.sendClose('done');
  }

  private sendClose(code: CloseCode): void {
    this.sentClose = true;
    this.sendFrame(encodeChannelFrame({ type: 'close', channel: this.id, code }));
    if (this.receivedClose) this.link.release(this);
  }

  /** A frame whose sending nobody waits for; a failed send means the session is closing anyway. */
  private sendFrame(frame: Uint8Array): void {
    this.link.send(frame).catch(() => undefined);
  }
}
