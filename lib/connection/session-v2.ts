/**
 * The v2 session (PROTOCOL.md, "v2 session"): per-direction keys and counters, and one typed,
 * authenticated message per frame: `secretbox(type · body, prefix_d · u64 counter, K_d,n)`.
 *
 * Each direction has its own traffic secret T_d,n (epoch n), box key K_d,n = KDF(T_d,n, "ctun2 box
 * key") and counter: 0, 1, 2, … for the connection's life, never reset (not at a key update), never
 * on the wire, so a dropped, reordered, replayed or injected frame fails to open. A frame that
 * opens under one of the next few counters instead is a deletion (a man in the middle dropped the
 * frames before it): `EPROTO`, as v1's counter gap; anything else that does not open is `EAUTH`.
 *
 * Part 1 of v2 implements READY/REJECT (in the handshake halves), DATA and KEY_UPDATE (switching
 * keys on both ends). The other types decode (lib/protocol/v2/messages.ts) and are refused with
 * `EPROTO` here until their behaviour exists: `receive` is the one place that adds it.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import { CurvetunError } from '../errors.js';
import { IN_PLACE_MIN_BYTES, MAX_COUNTER } from '../limits.js';
import { NONCE_BYTES, shortTermNonce, writeFrameHeader } from '../protocol/index.js';
import {
  FRAME_HEADER_BYTES,
  MessageType,
  V2_MAX_BODY_BYTES,
  V2_MESSAGE_OVERHEAD,
  V2_PREFIX_CLIENT_MESSAGE,
  V2_PREFIX_SERVER_MESSAGE,
  V2_SESSION_FRAME,
  boxKeyOf,
  decodeSessionMessage,
  encodeControl,
  nextTrafficSecret,
} from '../protocol/v2/index.js';
import type { SessionMessage } from '../protocol/v2/index.js';
import type { DataSession } from './data-session.js';

/** Shared by every session of this thread; filled and used synchronously by each seal or open. */
const scratchNonce = new Uint8Array(NONCE_BYTES);

/**
 * How many counters past the expected one a frame that did not open is tried under, to tell a
 * deletion from a forgery. Only on the failure path, which ends the connection either way.
 */
export const DELETION_LOOK_AHEAD = 16;

/** One direction: its traffic secret, box key, counter and epoch. */
export class Direction {
  private secret: Uint8Array;
  private key: Uint8Array;
  /** The counter of the next frame in this direction. */
  counter = 0;
  /** Key updates so far. */
  epoch = 0;

  constructor(
    trafficSecret: Uint8Array,
    private readonly prefix: Uint8Array,
    /** Lowered only by tests, to reach the end of the counter space. */
    private readonly maxCounter = MAX_COUNTER,
  ) {
    this.secret = trafficSecret;
    this.key = boxKeyOf(trafficSecret);
  }

  static clientToServer(trafficSecret: Uint8Array): Direction {
    return new Direction(trafficSecret, V2_PREFIX_CLIENT_MESSAGE);
  }

  static serverToClient(trafficSecret: Uint8Array): Direction {
    return new Direction(trafficSecret, V2_PREFIX_SERVER_MESSAGE);
  }

  get exhausted(): boolean {
    return this.counter > this.maxCounter;
  }

  /** Seal `plaintext` (type · body) as the next frame's box, written at `out[offset]`; the plaintext may already sit at `offset + 16`. */
  sealInto(out: Uint8Array, offset: number, plaintext: Uint8Array, backend: CryptoBackend): void {
    if (this.exhausted) throw new CurvetunError('ECLOSED', 'the message counter is used up; open a new connection');
    shortTermNonce(this.prefix, this.counter++, scratchNonce);
    backend.secretboxInto(out, offset, plaintext, scratchNonce, this.key);
  }

  /** Seal a whole plaintext into a frame payload (no length header): READY, REJECT and the like. */
  sealPayload(plaintext: Uint8Array, backend: CryptoBackend): Uint8Array {
    const out = new Uint8Array(plaintext.length + 16);
    this.sealInto(out, 0, plaintext, backend);
    return out;
  }

  /** Open the next frame's box: its plaintext, or `null` when it does not authenticate (the counter does not move). */
  open(box: Uint8Array, backend: CryptoBackend, inPlace = false): Uint8Array | null {
    if (this.exhausted) throw new CurvetunError('EPROTO', 'message counter beyond the supported range');
    shortTermNonce(this.prefix, this.counter, scratchNonce);
    const plain = inPlace ? backend.secretboxOpenInPlace(box, scratchNonce, this.key) : backend.secretboxOpen(box, scratchNonce, this.key);
    if (plain !== null) this.counter++;
    return plain;
  }

  /**
   * After `open` failed: how many frames `box` skips if it opens under one of the next
   * `DELETION_LOOK_AHEAD` counters of this epoch (frames before it were deleted), else 0. The
   * counter does not move; whatever opened is wiped.
   */
  framesSkippedBy(box: Uint8Array, backend: CryptoBackend): number {
    for (let skipped = 1; skipped <= DELETION_LOOK_AHEAD && this.counter + skipped <= this.maxCounter; skipped++) {
      shortTermNonce(this.prefix, this.counter + skipped, scratchNonce);
      const plain = backend.secretboxOpen(box, scratchNonce, this.key);
      if (plain === null) continue;
      plain.fill(0);
      return skipped;
    }
    return 0;
  }

  /** Move to the next epoch: T' = KDF(T, "ctun2 key update"), and wipe the old secret and key. */
  update(): void {
    const next = nextTrafficSecret(this.secret);
    this.wipe();
    this.secret = next;
    this.key = boxKeyOf(next);
    this.epoch++;
  }

  wipe(): void {
    this.secret.fill(0);
    this.key.fill(0);
  }
}

export interface SessionV2Limits {
  /** What the peer announced it accepts in one message (Initiate or READY). */
  peerMaxMessageBytes: number;
  /** What we announced. */
  ourMaxMessageBytes: number;
}

export class SessionV2 implements DataSession {
  readonly protocol = 'v2' as const;
  readonly maxSendBytes: number;
  private readonly send: Direction;
  private readonly receiving: Direction;

  constructor(
    private readonly backend: CryptoBackend,
    keys: { send: Direction; receive: Direction },
    readonly limits: SessionV2Limits,
  ) {
    this.send = keys.send;
    this.receiving = keys.receive;
    // Until fragments exist (part 2), one message is one DATA frame.
    this.maxSendBytes = Math.min(V2_MAX_BODY_BYTES, limits.peerMaxMessageBytes);
  }

  get exhausted(): boolean {
    return this.send.exhausted;
  }

  /** The counters and epochs of both directions (tests and tracing; no key material). */
  get position(): { sent: number; received: number; sendEpoch: number; receiveEpoch: number } {
    return { sent: this.send.counter, received: this.receiving.counter, sendEpoch: this.send.epoch, receiveEpoch: this.receiving.epoch };
  }

  frameBytes(length: number): number {
    return FRAME_HEADER_BYTES + V2_MESSAGE_OVERHEAD + length;
  }

  seal(message: Uint8Array): Uint8Array {
    const frame = new Uint8Array(this.frameBytes(this.checkSendable(message)));
    this.sealInto(message, frame, 0);
    return frame;
  }

  sealInto(message: Uint8Array, out: Uint8Array, offset: number): void {
    const length = this.checkSendable(message);
    writeFrameHeader(out, offset, V2_MESSAGE_OVERHEAD + length);
    out[offset + V2_SESSION_FRAME.type] = MessageType.DATA;
    out.set(message, offset + V2_SESSION_FRAME.body);
    const plaintext = out.subarray(offset + V2_SESSION_FRAME.type, offset + V2_SESSION_FRAME.body + length);
    this.send.sealInto(out, offset + V2_SESSION_FRAME.box, plaintext, this.backend);
  }

  /**
   * A KEY_UPDATE frame, after which this side sends under the next epoch's key (the old one is
   * wiped). The caller writes the frame before anything sealed after this call.
   */
  sealKeyUpdate(): Uint8Array {
    const frame = this.sealControl(encodeControl('key-update'));
    this.send.update();
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
    switch (message.type) {
      case 'data':
        return message.body;
      case 'key-update':
        this.receiving.update();
        return null;
      case 'ready':
      case 'reject':
        throw new CurvetunError('EPROTO', `a ${message.type.toUpperCase()} after the handshake`);
      default:
        // Part 2 of v2 (fragments, END/CLOSE, PING/PONG) adds its behaviour here.
        throw new CurvetunError('EPROTO', `session message '${message.type}' is not supported by this implementation yet`);
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

  private checkSendable(message: Uint8Array): number {
    if (message.length > this.maxSendBytes) {
      throw new CurvetunError('ETOOBIG', `a message to this peer carries at most ${this.maxSendBytes} bytes, got ${message.length}`);
    }
    if (this.send.exhausted) throw new CurvetunError('ECLOSED', 'the message counter is used up; open a new connection');
    return message.length;
  }
}
