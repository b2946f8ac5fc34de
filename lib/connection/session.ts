/**
 * The data path of a connected tunnel: pure code, no I/O.
 *
 * After the handshake both sides hold one shared key (beforenm of the two ephemeral keys). Each
 * direction has its own nonce prefix, so a message reflected back to its sender never opens, and
 * its own counter: we send 2, 3, 4, … and accept exactly the next one (previous + 1). TCP neither
 * loses nor reorders, so any other counter means someone replayed, reordered or deleted a message:
 * a looser "larger than the last" rule would let a man in the middle drop messages unnoticed.
 */
import type { CryptoBackend } from '../crypto/backend.js';
import { CurvetunError } from '../errors.js';
import { MAX_COUNTER } from '../limits.js';
import {
  FIRST_MESSAGE_COUNTER,
  FRAME_HEADER_BYTES,
  MAX_MESSAGE_BYTES,
  NONCE_BYTES,
  MESSAGE_FRAME_BOX_OFFSET,
  MESSAGE_OVERHEAD,
  PREFIX_CLIENT_MESSAGE,
  PREFIX_SERVER_MESSAGE,
  allocMessageFrame,
  shortTermNonce,
  writeMessageFrameHeader,
} from '../protocol/index.js';
import type { MessagePacket } from '../protocol/index.js';
import { IN_PLACE_MIN_BYTES } from '../limits.js';
import { decodePacket } from '../protocol/index.js';
import type { DataSession } from './data-session.js';
import { INSPECT, describe } from '../inspect.js';

export { MAX_COUNTER };

export type Role = 'client' | 'server';

/**
 * The nonce of the seal or open in progress, shared by every session of this thread: each call
 * fills it and hands it to the cipher at once, synchronously, so no two calls can see each
 * other's, and an idle connection holds no nonce bytes of its own.
 */
const scratchNonce = new Uint8Array(NONCE_BYTES);

export class Session implements DataSession {
  readonly protocol = 'v1' as const;
  readonly maxSendBytes = MAX_MESSAGE_BYTES;
  private sendCounter = FIRST_MESSAGE_COUNTER;
  /** The only counter the peer's next message may carry: the last accepted + 1. */
  private expectedCounter = FIRST_MESSAGE_COUNTER;
  private readonly sendPrefix: Uint8Array;
  private readonly receivePrefix: Uint8Array;

  /** The session key: private for real (#), so no inspect of a socket can ever show it. */
  readonly #sharedKey: Uint8Array;

  constructor(
    private readonly backend: CryptoBackend,
    sharedKey: Uint8Array,
    role: Role,
    /** Lowered only by tests, to reach the end of the counter space. */
    private readonly maxCounter = MAX_COUNTER,
  ) {
    this.#sharedKey = sharedKey;
    this.sendPrefix = role === 'client' ? PREFIX_CLIENT_MESSAGE : PREFIX_SERVER_MESSAGE;
    this.receivePrefix = role === 'client' ? PREFIX_SERVER_MESSAGE : PREFIX_CLIENT_MESSAGE;
  }

  [INSPECT](): string {
    return describe('Session', { nextSend: this.sendCounter, nextReceive: this.expectedCounter });
  }

  /** True once no further message can be sent without reusing a nonce. */
  get exhausted(): boolean {
    return this.sendCounter > this.maxCounter;
  }

  /** Bytes of the whole wire frame (length prefix included) that carries a `length`-byte message. */
  static frameBytes(length: number): number {
    return FRAME_HEADER_BYTES + MESSAGE_OVERHEAD + length;
  }

  frameBytes(length: number): number {
    return Session.frameBytes(length);
  }

  /**
   * Decode and open one frame received once connected (`EPROTO` for anything but a Message
   * packet). A large message is opened over its own frame bytes and handed out as a view of them
   * (no second 64 KiB buffer per bulk message); a small one gets an array of its own, so a message
   * the application keeps never pins a whole TCP chunk.
   */
  receive(frame: Uint8Array): Uint8Array {
    const packet = decodePacket(frame);
    if (packet.type !== 'message') {
      throw new CurvetunError('EPROTO', `expected a message packet after the handshake, got a ${packet.type} packet`);
    }
    return packet.box.length >= IN_PLACE_MIN_BYTES ? this.openInPlace(packet) : this.open(packet);
  }

  /** Encrypt `message` straight into a whole wire frame (length prefix included). */
  seal(message: Uint8Array): Uint8Array {
    this.checkSendable(message);
    const counter = this.sendCounter++;
    const frame = allocMessageFrame(counter, message.length);
    shortTermNonce(this.sendPrefix, counter, scratchNonce);
    this.backend.secretboxInto(frame, MESSAGE_FRAME_BOX_OFFSET, message, scratchNonce, this.#sharedKey);
    return frame;
  }

  /**
   * Encrypt `message` as a whole wire frame written at `out[offset]` (the caller has made room for
   * `Session.frameBytes(message.length)` bytes), so many small frames share one buffer and one write.
   */
  sealInto(message: Uint8Array, out: Uint8Array, offset: number): void {
    this.checkSendable(message);
    const counter = this.sendCounter++;
    writeMessageFrameHeader(out, offset, counter, message.length);
    shortTermNonce(this.sendPrefix, counter, scratchNonce);
    this.backend.secretboxInto(out, offset + MESSAGE_FRAME_BOX_OFFSET, message, scratchNonce, this.#sharedKey);
  }

  private checkSendable(message: Uint8Array): void {
    if (message.length > MAX_MESSAGE_BYTES) {
      throw new CurvetunError('ETOOBIG', `a message carries at most ${MAX_MESSAGE_BYTES} bytes, got ${message.length}`);
    }
    if (this.exhausted) {
      throw new CurvetunError('ECLOSED', 'the message counter is used up; open a new connection');
    }
  }

  /** Open a message from the peer; `EPROTO` for any counter but the next one, `EAUTH` for a bad box. */
  open(packet: MessagePacket): Uint8Array {
    return this.openWith(packet, false);
  }

  /**
   * The same, decrypting over the packet's own bytes: the message returned is a view of them (no
   * new buffer). For large messages, whose frame buffer is theirs alone anyway.
   */
  openInPlace(packet: MessagePacket): Uint8Array {
    return this.openWith(packet, true);
  }

  private openWith(packet: MessagePacket, inPlace: boolean): Uint8Array {
    const { counter } = packet;
    const expected = this.expectedCounter;
    if (counter > this.maxCounter) throw new CurvetunError('EPROTO', 'message counter beyond the supported range');
    if (counter !== expected) {
      throw new CurvetunError(
        'EPROTO',
        counter < expected
          ? `message counter ${counter} is not the next one (${expected}): replayed or reordered`
          : `message counter ${counter} skips ${counter - expected} message(s) after ${expected - 1}: a message was deleted on the way`,
      );
    }
    shortTermNonce(this.receivePrefix, counter, scratchNonce);
    const plain = inPlace
      ? this.backend.secretboxOpenInPlace(packet.box, scratchNonce, this.#sharedKey)
      : this.backend.secretboxOpen(packet.box, scratchNonce, this.#sharedKey);
    if (plain === null) {
      throw new CurvetunError('EAUTH', 'a message did not authenticate (tampered, forged or reflected)');
    }
    this.expectedCounter = counter + 1;
    return plain;
  }
}
