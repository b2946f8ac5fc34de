/**
 * Framing: every packet travels as `length:u16be · payload`. The decoder takes TCP chunks of any
 * size and yields whole payloads; it never holds more than one partial frame (≤ 65 537 bytes),
 * whatever the peer sends.
 */
import { CurvetunError, ProtocolError } from '../errors.js';
import {
  BOX_OVERHEAD,
  FRAME_HEADER_BYTES,
  MAGIC_MESSAGE,
  MAX_FRAME_PAYLOAD,
  MAX_MESSAGE_BYTES,
  MESSAGE_FRAME_BOX_OFFSET,
  MESSAGE_OVERHEAD,
} from './constants.js';
import { MESSAGE_FRAME } from './layout.js';
import { writeCounter } from './nonce.js';

/** Write the frame header `length:u16be` of a `payloadLength`-byte payload at `out[offset]`. */
export function writeFrameHeader(out: Uint8Array, offset: number, payloadLength: number): void {
  out[offset] = payloadLength >>> 8;
  out[offset + 1] = payloadLength & 0xff;
}

/** `length · payload` for a payload of 1 to 65 535 bytes. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  if (payload.length === 0 || payload.length > MAX_FRAME_PAYLOAD) {
    throw new CurvetunError(payload.length === 0 ? 'EINVAL' : 'ETOOBIG', `a frame payload is 1 to ${MAX_FRAME_PAYLOAD} bytes, got ${payload.length}`);
  }
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(out, 0, payload.length);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Write everything of a whole Message frame but its box, at `out[offset]`: frame header, magic,
 * counter. The box of a `plaintextLength` message goes at `offset + MESSAGE_FRAME_BOX_OFFSET`.
 * The one writer of a message frame's header: the sender seals into a slab or a frame of its own
 * through it. The caller checks `plaintextLength` (at most MAX_MESSAGE_BYTES).
 */
export function writeMessageFrameHeader(out: Uint8Array, offset: number, counter: number, plaintextLength: number): void {
  writeFrameHeader(out, offset, MESSAGE_OVERHEAD + plaintextLength);
  out.set(MAGIC_MESSAGE, offset + MESSAGE_FRAME.magic);
  writeCounter(out, offset + MESSAGE_FRAME.counter, counter);
}

/**
 * A whole Message frame with header and counter written and room for the box of a
 * `plaintextLength` message at `MESSAGE_FRAME_BOX_OFFSET`, so the sender encrypts straight into it.
 */
export function allocMessageFrame(counter: number, plaintextLength: number): Uint8Array {
  if (!Number.isInteger(plaintextLength) || plaintextLength < 0) {
    throw new CurvetunError('EINVAL', `a message length is a non-negative integer, got ${plaintextLength}`);
  }
  if (plaintextLength > MAX_MESSAGE_BYTES) {
    throw new CurvetunError('ETOOBIG', `a message carries at most ${MAX_MESSAGE_BYTES} bytes, got ${plaintextLength}`);
  }
  // allocUnsafe: every byte is written below or by the encryption that follows.
  const frame = Buffer.allocUnsafe(MESSAGE_FRAME_BOX_OFFSET + BOX_OVERHEAD + plaintextLength);
  writeMessageFrameHeader(frame, 0, counter, plaintextLength);
  return frame;
}

export class FrameDecoder {
  private header = 0; // header bytes seen of the current frame (0, 1 or 2)
  private firstByte = 0;
  private partial: Uint8Array | null = null; // payload being filled
  private filled = 0;

  /** Bytes held of a frame not yet complete: its payload so far, or a lone first length byte. */
  get buffered(): number {
    return this.header + this.filled;
  }

  /**
   * Feed a chunk; returns the payloads it completed, in order. Payloads that lie wholly inside
   * `chunk` are views into it (no copy). Throws `ProtocolError` on a zero-length frame.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.partial === null) {
        if (this.header === 0 && chunk.length - i >= FRAME_HEADER_BYTES) {
          const length = (chunk[i]! << 8) | chunk[i + 1]!;
          i += FRAME_HEADER_BYTES;
          if (length === 0) throw new ProtocolError('a frame of length zero');
          if (chunk.length - i >= length) {
            out.push(chunk.subarray(i, i + length));
            i += length;
          } else {
            this.begin(length);
          }
          continue;
        }
        // The length straddles chunks.
        if (this.header === 0) {
          this.firstByte = chunk[i++]!;
          this.header = 1;
          continue;
        }
        const length = (this.firstByte << 8) | chunk[i++]!;
        this.header = 0;
        if (length === 0) throw new ProtocolError('a frame of length zero');
        this.begin(length);
        continue;
      }
      const take = Math.min(this.partial.length - this.filled, chunk.length - i);
      this.partial.set(chunk.subarray(i, i + take), this.filled);
      this.filled += take;
      i += take;
      if (this.filled === this.partial.length) {
        out.push(this.partial);
        this.partial = null;
        this.filled = 0;
      }
    }
    return out;
  }

  /** The stream ended: throws `ProtocolError` if it stopped inside a frame. */
  end(): void {
    if (this.buffered > 0 || this.partial !== null) {
      throw new ProtocolError(`the stream ended inside a frame (${this.buffered} bytes of it received)`);
    }
  }

  private begin(length: number): void {
    // At most 65 535 bytes (the u16 bounds it). Every byte is copied in before the payload is handed
    // out, so a large one is not zero-filled first (a 64 KiB memset per bulk frame).
    this.partial = length > 4096 ? new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length) : new Uint8Array(length);
    this.filled = 0;
  }
}
