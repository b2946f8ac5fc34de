/**
 * The v2 session (PROTOCOL.md, "v2 session"): one typed, authenticated message per frame,
 * `secretbox(type · body, prefix_d · u64 counter, K_d,n)`, with the rules that need the
 * connection's state — fragments in order and within our limit, END and CLOSE, PING/PONG, key
 * updates after the thresholds — and no I/O: what the peer's control messages mean for the
 * connection is told to its owner (the socket).
 *
 * Sending: a message up to 65 518 bytes is one DATA frame; a larger one (up to what the peer
 * announced) is FRAGMENT_FIRST · FRAGMENT_MORE… sealed in one go into one buffer. When a key
 * update is due (checked before each message), a KEY_UPDATE frame goes first in the same bytes,
 * sealed under the old key; everything after it under the new one. So nothing can come between a
 * KEY_UPDATE and the frames it covers, and `frameBytes` counts it. A quiet connection's key
 * whose time is up is updated on its own (`sealKeyUpdate`, from the socket's key clock).
 *
 * Receiving: a frame that opens only under one of the next few counters is a deletion (`EPROTO`,
 * as v1's counter gap); anything else that does not open is `EAUTH`.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import { CurvetunError } from '../errors.js';
import { IN_PLACE_MIN_BYTES } from '../limits.js';
import { writeFrameHeader } from '../protocol/index.js';
import {
  FRAME_HEADER_BYTES,
  MessageType,
  V2_EPOCH_CEILING,
  V2_MAX_BODY_BYTES,
  V2_MESSAGE_OVERHEAD,
  V2_REKEY_AFTER,
  V2_SESSION_FRAME,
  decodeSessionMessage,
  encodeClose,
  encodeControl,
} from '../protocol/v2/index.js';
import type { SessionMessage } from '../protocol/v2/index.js';
import type { DataSession } from './data-session.js';
import { Direction } from './direction-v2.js';
import { Reassembly } from './reassembly.js';

export { DELETION_LOOK_AHEAD, Direction } from './direction-v2.js';

/** Bytes a frame adds around its body: length header, box tag, type byte. */
const FRAME_OVERHEAD = FRAME_HEADER_BYTES + V2_MESSAGE_OVERHEAD;
/** A body-less control frame (END, KEY_UPDATE) on the wire. */
const EMPTY_CONTROL_FRAME_BYTES = FRAME_OVERHEAD;
/** What the first fragment carries after its u32 total. */
const FIRST_PART_BYTES = V2_MAX_BODY_BYTES - 4;

export interface SessionV2Limits {
  /** What the peer announced it accepts in one message (Initiate or READY). */
  peerMaxMessageBytes: number;
  /** What we announced. */
  ourMaxMessageBytes: number;
}

/** When this side updates its sending key (each at most the protocol's default). */
export interface RekeyAfter {
  messages: number;
  bytes: number;
  ms: number;
}

/** What the session tells the connection it belongs to. */
export interface SessionV2Owner {
  /** A frame the session made on its own (a PONG): send it in order with everything else. */
  queueControlFrame(frame: Uint8Array): void;
  /** The peer sent END: no more messages from it; it still reads ours. */
  endReceived(): void;
  /** The peer sent CLOSE: both directions are done. */
  closeReceived(code: number, reason: string): void;
}

export class SessionV2 implements DataSession {
  readonly protocol = 'v2' as const;
  readonly maxSendBytes: number;
  private readonly send: Direction;
  private readonly receiving: Direction;
  private owner: SessionV2Owner | null = null;
  private rekeyAfter: RekeyAfter = { ...V2_REKEY_AFTER };
  /** A key update goes before the next message (once true, until done: frameBytes and seal agree). */
  private updateDue = false;
  private reassembly: Reassembly | null = null;
  private outstandingPing: Uint8Array | null = null;
  /** We sent END / the peer did. */
  endSent = false;
  endReceived = false;

  constructor(
    private readonly backend: CryptoBackend,
    keys: { send: Direction; receive: Direction },
    readonly limits: SessionV2Limits,
  ) {
    this.send = keys.send;
    this.receiving = keys.receive;
    this.maxSendBytes = limits.peerMaxMessageBytes;
  }

  /** Tell `owner` about the peer's control messages; `rekeyAfter` lowers the thresholds. */
  attach(owner: SessionV2Owner, rekeyAfter?: Partial<RekeyAfter>): void {
    this.owner = owner;
    if (rekeyAfter) this.rekeyAfter = { ...this.rekeyAfter, ...rekeyAfter };
  }

  get exhausted(): boolean {
    return this.send.exhausted;
  }

  /** Bytes of a message still being reassembled (bounded by our maxMessageBytes). */
  get reassemblingBytes(): number {
    return this.reassembly?.heldBytes ?? 0;
  }

  /** The counters and epochs of both directions (tests and tracing; no key material). */
  get position(): { sent: number; received: number; sendEpoch: number; receiveEpoch: number } {
    return { sent: this.send.counter, received: this.receiving.counter, sendEpoch: this.send.epoch, receiveEpoch: this.receiving.epoch };
  }

  /** ms until this side's sending key has served `rekeyAfter.ms` (≤ 0: its time is up). */
  keyTimeLeftMs(now = Date.now()): number {
    return this.send.epochStarted + this.rekeyAfter.ms - now;
  }

  /** Wire bytes of a `length`-byte message: its DATA frame or fragments, and a KEY_UPDATE if one is due. */
  frameBytes(length: number): number {
    const update = this.isUpdateDue() ? EMPTY_CONTROL_FRAME_BYTES : 0;
    if (length <= V2_MAX_BODY_BYTES) return update + FRAME_OVERHEAD + length;
    return update + length + 4 + fragmentCount(length) * FRAME_OVERHEAD;
  }

  seal(message: Uint8Array): Uint8Array {
    const frame = new Uint8Array(this.frameBytes(message.length));
    this.sealInto(message, frame, 0);
    return frame;
  }

  sealInto(message: Uint8Array, out: Uint8Array, offset: number): void {
    const length = message.length;
    const frames = length <= V2_MAX_BODY_BYTES ? 1 : fragmentCount(length);
    this.checkSendable(length, frames);
    if (this.updateDue) offset = this.writeKeyUpdate(out, offset);
    if (frames === 1) {
      this.writeFrame(out, offset, MessageType.DATA, message, -1);
      return;
    }
    offset = this.writeFrame(out, offset, MessageType.FRAGMENT_FIRST, message.subarray(0, FIRST_PART_BYTES), length);
    for (let at = FIRST_PART_BYTES; at < length; at += V2_MAX_BODY_BYTES) {
      offset = this.writeFrame(out, offset, MessageType.FRAGMENT_MORE, message.subarray(at, at + V2_MAX_BODY_BYTES), -1);
    }
  }

  /** END: our direction is done (we may still send PONG, KEY_UPDATE, CLOSE). */
  sealEnd(): Uint8Array {
    this.endSent = true;
    return this.sealControl(encodeControl('end'));
  }

  /** CLOSE with a code and a reason (UTF-8, at most 256 bytes). */
  sealClose(code: number, reason: string): Uint8Array {
    return this.sealControl(encodeClose(code, reason));
  }

  /** A PING with `payload` (8 bytes), or `null` while one is still unanswered (at most one outstanding). */
  sealPing(payload: Uint8Array): Uint8Array | null {
    if (this.outstandingPing !== null) return null;
    this.outstandingPing = payload.slice();
    return this.sealControl(encodeControl('ping', payload));
  }

  /** A PING is waiting for its PONG. */
  get pinging(): boolean {
    return this.outstandingPing !== null;
  }

  /**
   * A KEY_UPDATE frame, after which this side sends under the next epoch's key (the old one is
   * wiped). The caller writes the frame before anything sealed after this call.
   */
  sealKeyUpdate(): Uint8Array {
    const frame = new Uint8Array(EMPTY_CONTROL_FRAME_BYTES);
    this.writeKeyUpdate(frame, 0);
    return frame;
  }

  /** A whole frame around a control plaintext (type · body). */
  sealControl(plaintext: Uint8Array): Uint8Array {
    const frame = new Uint8Array(FRAME_HEADER_BYTES + plaintext.length + 16);
    writeFrameHeader(frame, 0, plaintext.length + 16);
    this.send.sealInto(frame, V2_SESSION_FRAME.box, plaintext, this.backend);
    return frame;
  }

  receive(frame: Uint8Array): Uint8Array | null {
    const message = this.open(frame);
    const r = this.receiving;
    if (r.epochFrames > V2_EPOCH_CEILING.frames || r.epochBytes > V2_EPOCH_CEILING.bytes) {
      throw new CurvetunError('EPROTO', `the peer did not update its key within ${V2_EPOCH_CEILING.frames} frames / ${V2_EPOCH_CEILING.bytes} bytes`);
    }
    switch (message.type) {
      case 'data':
        this.checkMessageAllowed('DATA');
        return message.body;
      case 'fragment-first':
        this.checkMessageAllowed('FRAGMENT_FIRST');
        this.reassembly = new Reassembly(message.total, this.limits.ourMaxMessageBytes);
        return this.reassembly.add(message.part);
      case 'fragment-more': {
        if (this.reassembly === null) throw new CurvetunError('EPROTO', 'a FRAGMENT_MORE outside a fragmented message');
        const whole = this.reassembly.add(message.part);
        if (whole !== null) this.reassembly = null;
        return whole;
      }
      case 'end':
        if (this.endReceived) throw new CurvetunError('EPROTO', 'a second END');
        this.checkNotCutOff('END');
        this.endReceived = true;
        this.owner?.endReceived();
        return null;
      case 'close':
        this.checkNotCutOff('CLOSE');
        this.owner?.closeReceived(message.code, message.reason);
        return null;
      case 'ping':
        this.owner?.queueControlFrame(this.sealControl(encodeControl('pong', message.payload)));
        return null;
      case 'pong':
        this.checkPong(message.payload);
        return null;
      case 'key-update':
        r.update();
        return null;
      case 'ready':
      case 'reject':
        throw new CurvetunError('EPROTO', `a ${message.type.toUpperCase()} after the handshake`);
    }
  }

  /**
   * Open and decode the next frame from the peer: `EPROTO` if it does not decode or opens only
   * under a later counter (frames were deleted), `EAUTH` if it does not open at all.
   */
  open(frame: Uint8Array): SessionMessage {
    if (frame.length < V2_MESSAGE_OVERHEAD) throw new CurvetunError('EPROTO', `a v2 session frame is at least ${V2_MESSAGE_OVERHEAD} bytes, got ${frame.length}`);
    // A box that fails to open in place is left as it was (CryptoBackend.secretboxOpenInPlace).
    const plain = this.receiving.open(frame, this.backend, frame.length >= IN_PLACE_MIN_BYTES);
    if (plain !== null) return decodeSessionMessage(plain);
    const skipped = this.receiving.framesSkippedBy(frame, this.backend);
    if (skipped > 0) {
      const after = this.receiving.counter - 1;
      throw new CurvetunError('EPROTO', `a frame skips ${skipped} message(s) after ${after < 0 ? 'the handshake' : after}: a message was deleted on the way`);
    }
    throw new CurvetunError('EAUTH', 'a message did not authenticate (tampered, forged, replayed, reordered or reflected)');
  }

  /** The TCP connection ended without END or CLOSE from the peer, or after its END. */
  tcpEndIsTruncation(): boolean {
    // Nothing is being reassembled after END: an END inside a fragmented message is ETRUNCATED,
    // a FRAGMENT_FIRST after END is EPROTO.
    return !this.endReceived;
  }

  private isUpdateDue(): boolean {
    if (this.updateDue) return true;
    const s = this.send;
    const r = this.rekeyAfter;
    return (this.updateDue = s.epochFrames >= r.messages || s.epochBytes >= r.bytes || Date.now() - s.epochStarted >= r.ms);
  }

  private writeKeyUpdate(out: Uint8Array, offset: number): number {
    const end = this.writeFrame(out, offset, MessageType.KEY_UPDATE, null, -1);
    this.send.update();
    this.updateDue = false;
    return end;
  }

  /** Write and seal one frame at `offset` (`total` ≥ 0: a FRAGMENT_FIRST's u32); where the next one starts. */
  private writeFrame(out: Uint8Array, offset: number, type: number, body: Uint8Array | null, total: number): number {
    const header = total >= 0 ? 4 : 0;
    const bodyLength = header + (body?.length ?? 0);
    writeFrameHeader(out, offset, V2_MESSAGE_OVERHEAD + bodyLength);
    const typeAt = offset + V2_SESSION_FRAME.type;
    out[typeAt] = type;
    if (total >= 0) new DataView(out.buffer, out.byteOffset).setUint32(typeAt + 1, total);
    if (body) out.set(body, typeAt + 1 + header);
    const end = typeAt + 1 + bodyLength;
    this.send.sealInto(out, offset + V2_SESSION_FRAME.box, out.subarray(typeAt, end), this.backend);
    return end;
  }

  private checkSendable(length: number, frames: number): void {
    if (length > this.maxSendBytes) {
      throw new CurvetunError('ETOOBIG', `a message to this peer carries at most ${this.maxSendBytes} bytes, got ${length}`);
    }
    if (this.endSent) throw new CurvetunError('ECLOSED', 'this side has ended its messages (END)');
    if (!this.send.roomFor(frames + (this.updateDue ? 1 : 0))) throw new CurvetunError('ECLOSED', 'the message counter is used up; open a new connection');
  }

  private checkMessageAllowed(type: string): void {
    if (this.endReceived) throw new CurvetunError('EPROTO', `a ${type} after the peer's END`);
    if (this.reassembly !== null) throw new CurvetunError('EPROTO', `a ${type} inside a fragmented message`);
  }

  private checkNotCutOff(type: string): void {
    if (this.reassembly !== null) {
      throw new CurvetunError('ETRUNCATED', `the peer's ${type} cut off a fragmented message (${this.reassembly.heldBytes} of ${this.reassembly.total} bytes)`);
    }
  }

  private checkPong(payload: Uint8Array): void {
    const expected = this.outstandingPing;
    if (expected === null || !expected.every((byte, i) => byte === payload[i])) {
      throw new CurvetunError('EPROTO', 'a PONG that answers no PING of ours');
    }
    this.outstandingPing = null;
  }
}

/** Frames of a fragmented `length`-byte message (length > 65 518). */
function fragmentCount(length: number): number {
  return 1 + Math.ceil((length - FIRST_PART_BYTES) / V2_MAX_BODY_BYTES);
}
