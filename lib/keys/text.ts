/**
 * The text form of a public key, shared by key files, the registry file and the command line.
 *
 * A public key is written as standard base64 of its 32 bytes (44 characters). Where a line carries
 * a type word, it is `curvetun-x25519`, so a `.pub` file's line can be pasted after a registry
 * pattern: `10.0.0.0/8 curvetun-x25519 <base64> laptop`.
 */
import { CurvetunError } from '../errors.js';
import { KEY_BYTES as PUBLIC_KEY_BYTES } from '../protocol/constants.js';

export const KEY_TYPE = 'curvetun-x25519';

const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;

/** Base64 text of a 32-byte public key. */
export function encodePublicKeyText(key: Uint8Array): string {
  if (key.length !== PUBLIC_KEY_BYTES) {
    throw new CurvetunError('EINVAL', `a public key is ${PUBLIC_KEY_BYTES} bytes, got ${key.length}`);
  }
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64');
}

/** Parse the base64 text of a public key; `EKEY` when it is not exactly 32 bytes of base64. */
export function decodePublicKeyText(text: string): Uint8Array {
  const trimmed = text.trim();
  if (!BASE64_KEY.test(trimmed)) {
    throw new CurvetunError('EKEY', 'a public key must be 44 characters of base64 (32 bytes)');
  }
  return new Uint8Array(Buffer.from(trimmed, 'base64'));
}

/**
 * `text` as it may be quoted in an error message: whole when short and not shaped like a key,
 * else a short prefix, so a misplaced base64 key is never echoed into logs whole.
 */
export function quotable(text: string): string {
  return text.length > 40 || BASE64_KEY.test(text) ? `${text.slice(0, 12)}…` : text;
}

/** Constant-time comparison of two keys of equal length (false when lengths differ). */
export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
