/**
 * The two nonce shapes. Short-term nonces (ephemeral keys): a 16-byte prefix and a u64 big-endian
 * counter. Long-term nonces (long-term or minute keys): an 8-byte prefix and 16 bytes the key
 * holder chose so they never repeat.
 */
import { CurvetunError } from '../errors.js';
import { COUNTER_BYTES, LONG_TERM_PREFIX_BYTES, NONCE_BYTES, SAFE_NONCE_BYTES, SHORT_TERM_PREFIX_BYTES } from './constants.js';

const TWO_32 = 0x1_0000_0000;

/** Write `counter` as u64 big-endian at `offset`. `counter` must be a safe non-negative integer. */
export function writeCounter(out: Uint8Array, offset: number, counter: number): void {
  if (!Number.isSafeInteger(counter) || counter < 0) {
    throw new CurvetunError('EINVAL', 'a counter must be a non-negative safe integer');
  }
  const high = Math.floor(counter / TWO_32);
  const low = counter >>> 0;
  out[offset] = high >>> 24;
  out[offset + 1] = (high >>> 16) & 0xff;
  out[offset + 2] = (high >>> 8) & 0xff;
  out[offset + 3] = high & 0xff;
  out[offset + 4] = low >>> 24;
  out[offset + 5] = (low >>> 16) & 0xff;
  out[offset + 6] = (low >>> 8) & 0xff;
  out[offset + 7] = low & 0xff;
}

/** Read a u64 big-endian counter; `null` when it is beyond Number.MAX_SAFE_INTEGER. */
export function readCounter(bytes: Uint8Array, offset: number): number | null {
  const high = ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
  const low = ((bytes[offset + 4]! << 24) | (bytes[offset + 5]! << 16) | (bytes[offset + 6]! << 8) | bytes[offset + 7]!) >>> 0;
  if (high > 0x1f_ffff) return null; // above 2^53 - 1
  return high * TWO_32 + low;
}

/** `prefix16 · counter:u64be`. Reuses `out` when given (the per-message path keeps one per direction). */
export function shortTermNonce(prefix16: Uint8Array, counter: number, out: Uint8Array = new Uint8Array(NONCE_BYTES)): Uint8Array {
  if (prefix16.length !== SHORT_TERM_PREFIX_BYTES) throw new CurvetunError('EINVAL', `a short-term nonce prefix is ${SHORT_TERM_PREFIX_BYTES} bytes`);
  out.set(prefix16, 0);
  writeCounter(out, SHORT_TERM_PREFIX_BYTES, counter);
  return out;
}

/** `prefix8 · value16`. */
export function longTermNonce(prefix8: Uint8Array, value16: Uint8Array): Uint8Array {
  if (prefix8.length !== LONG_TERM_PREFIX_BYTES) throw new CurvetunError('EINVAL', `a long-term nonce prefix is ${LONG_TERM_PREFIX_BYTES} bytes`);
  if (value16.length !== SAFE_NONCE_BYTES) throw new CurvetunError('EINVAL', `a long-term nonce value is ${SAFE_NONCE_BYTES} bytes`);
  const out = new Uint8Array(NONCE_BYTES);
  out.set(prefix8, 0);
  out.set(value16, LONG_TERM_PREFIX_BYTES);
  return out;
}

/**
 * Bits at the top of a safe nonce's u64 counter that hold the key's instance number, so that
 * copies of one key on several machines never share a nonce (PROTOCOL.md, "Safe nonces"). Below
 * them, 53 bits of the instance's own counter: a JavaScript safe integer, the FileCounter's bound.
 */
export const INSTANCE_BITS = 11;
export const MAX_INSTANCE = 2 ** INSTANCE_BITS - 1;
const LOCAL_COUNTER_BITS = 64 - INSTANCE_BITS;
/** Where the instance number starts in the counter's high 32-bit word. */
const INSTANCE_SHIFT_IN_HIGH_WORD = LOCAL_COUNTER_BITS - 32;

/**
 * The block a vault scrambles into a safe nonce: `(instance · 2^53 + counter):u64be · 8 random
 * bytes` (PROTOCOL.md, "Safe nonces"). Instance 0 is the plain counter, as before instances existed.
 */
export function safeNonceBlock(counter: number, random8: Uint8Array, instance = 0): Uint8Array {
  if (random8.length !== SAFE_NONCE_BYTES - COUNTER_BYTES) throw new CurvetunError('EINVAL', 'a safe nonce takes 8 random bytes');
  if (!Number.isInteger(instance) || instance < 0 || instance > MAX_INSTANCE) throw new CurvetunError('EINVAL', `an instance number is 0 to ${MAX_INSTANCE}`);
  const block = new Uint8Array(SAFE_NONCE_BYTES);
  writeCounter(block, 0, counter); // below 2^53: the top 11 bits are still zero
  const high = new DataView(block.buffer, 0, 4);
  high.setUint32(0, (high.getUint32(0) | (instance << INSTANCE_SHIFT_IN_HIGH_WORD)) >>> 0);
  block.set(random8, COUNTER_BYTES);
  return block;
}
