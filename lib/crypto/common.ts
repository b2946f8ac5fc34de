/**
 * What every backend shares: size checks that give typed errors, NaCl's HSalsa20 key derivation,
 * and the all-zero shared-secret rule.
 */
import nacl from 'tweetnacl';
import { CurvetunError } from '../errors.js';
import { MAC_BYTES, NONCE_BYTES, PUBLIC_KEY_BYTES, SECRET_KEY_BYTES, SHARED_KEY_BYTES } from './backend.js';
import type { CryptoBackend } from './backend.js';

/** tweetnacl's low-level API (present at run time, missing from its type declarations). */
export const lowlevel = (nacl as unknown as {
  lowlevel: {
    crypto_core_hsalsa20(out: Uint8Array, input: Uint8Array, key: Uint8Array, constant: Uint8Array): number;
    crypto_secretbox(c: Uint8Array, m: Uint8Array, d: number, n: Uint8Array, k: Uint8Array): number;
    crypto_secretbox_open(m: Uint8Array, c: Uint8Array, d: number, n: Uint8Array, k: Uint8Array): number;
  };
}).lowlevel;

// "expand 32-byte k", the Salsa20 constant NaCl uses for HSalsa20 in crypto_box_beforenm.
const SIGMA = new Uint8Array(Buffer.from('expand 32-byte k', 'latin1'));
const ZERO16 = new Uint8Array(16);

export function checkSize(name: string, value: Uint8Array, size: number): void {
  if (!(value instanceof Uint8Array) || value.length !== size) {
    throw new CurvetunError('EINVAL', `${name} must be ${size} bytes`);
  }
}

export const checkPublicKey = (k: Uint8Array) => checkSize('a public key', k, PUBLIC_KEY_BYTES);
export const checkSecretKey = (k: Uint8Array) => checkSize('a secret key', k, SECRET_KEY_BYTES);
export const checkSharedKey = (k: Uint8Array) => checkSize('a shared key', k, SHARED_KEY_BYTES);
export const checkNonce = (n: Uint8Array) => checkSize('a nonce', n, NONCE_BYTES);

export function checkMessage(m: Uint8Array): void {
  if (!(m instanceof Uint8Array)) throw new CurvetunError('EINVAL', 'a message must be a Uint8Array');
}

/**
 * An all-zero X25519 point means the peer's key was a low-order point (no shared secret at all):
 * every backend refuses it the same way, for raw scalarMult and for beforenm alike.
 */
export function refuseLowOrder(point: Uint8Array): Uint8Array {
  let any = 0;
  for (let i = 0; i < point.length; i++) any |= point[i]!;
  if (any === 0) throw new CurvetunError('EAUTH', 'the peer public key is a low-order point');
  return point;
}

/** NaCl's `crypto_box_beforenm` from an X25519 shared point (refused when all zero). */
export function sharedKeyFromPoint(point: Uint8Array): Uint8Array {
  refuseLowOrder(point);
  const key = new Uint8Array(SHARED_KEY_BYTES);
  lowlevel.crypto_core_hsalsa20(key, ZERO16, point, SIGMA);
  return key;
}

/** Whether a box is long enough to hold a tag at all (`EINVAL` if it is not bytes). */
export function boxLongEnough(box: Uint8Array): boolean {
  if (!(box instanceof Uint8Array)) throw new CurvetunError('EINVAL', 'a box must be a Uint8Array');
  return box.length >= MAC_BYTES;
}

/** `secretboxInto`'s arguments: `out` must hold `message.length + 16` bytes from `offset`. */
export function checkInto(out: Uint8Array, offset: number, message: Uint8Array, nonce: Uint8Array, key: Uint8Array): void {
  checkMessage(message);
  checkNonce(nonce);
  checkSharedKey(key);
  if (!(out instanceof Uint8Array)) throw new CurvetunError('EINVAL', 'the output must be a Uint8Array');
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + message.length + MAC_BYTES > out.length) {
    throw new CurvetunError('EINVAL', `the output has no room for ${message.length + MAC_BYTES} bytes at offset ${String(offset)}`);
  }
}

/** A byte count for `randomBytes`. */
export function checkLength(length: number): void {
  if (!Number.isSafeInteger(length) || length < 0) throw new CurvetunError('EINVAL', 'a length must be a non-negative integer');
}

/** A backend before `box` and `boxOpen`, which every backend derives the same way. */
export type BackendWithoutBoxes = Omit<CryptoBackend, 'box' | 'boxOpen'>;

/** Complete a backend: `box` / `boxOpen` are `secretbox` / `secretboxOpen` under `beforenm`. */
export function withBoxes(base: BackendWithoutBoxes): CryptoBackend {
  return Object.assign(base, {
    box: (message: Uint8Array, nonce: Uint8Array, peer: Uint8Array, secretKey: Uint8Array) => base.secretbox(message, nonce, base.beforenm(peer, secretKey)),
    boxOpen: (box: Uint8Array, nonce: Uint8Array, peer: Uint8Array, secretKey: Uint8Array) => base.secretboxOpen(box, nonce, base.beforenm(peer, secretKey)),
  });
}
