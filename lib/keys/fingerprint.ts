/**
 * The one fingerprint format of a public key, as OpenSSH prints its keys: `SHA256:` and the
 * unpadded base64 of the SHA-256 of the 32 raw key bytes. Logs, `curvetun fingerprint`,
 * `curvetun keygen` and `curvetun registry list` all name keys this way.
 */
import { createHash } from 'node:crypto';
import { CurvetunError } from '../errors.js';
import { KEY_BYTES } from '../protocol/constants.js';

export const FINGERPRINT_PREFIX = 'SHA256:';

/** A fingerprint always has this shape: 43 characters of base64 after the prefix. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/**
 * The fingerprint of a 32-byte public key.
 * @example
 * fingerprint(new Uint8Array(32)); // 'SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU'
 */
export function fingerprint(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== KEY_BYTES) {
    throw new CurvetunError('EINVAL', `a public key is ${KEY_BYTES} bytes`);
  }
  return FINGERPRINT_PREFIX + createHash('sha256').update(publicKey).digest('base64').replace(/=+$/, '');
}

/** Does `text` look like a fingerprint (so that a command can tell it from a key or a host)? */
export function isFingerprint(text: string): boolean {
  return FINGERPRINT.test(text);
}
