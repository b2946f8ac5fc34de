/**
 * libsodium through `sodium-native` (an optional dependency): native X25519 and
 * XSalsa20-Poly1305. sodium-native has no beforenm, so HSalsa20 comes from tweetnacl.
 */
import { createRequire } from 'node:module';
import type { CryptoBackend, KeyPair } from './backend.js';
import { PUBLIC_KEY_BYTES, SECRET_KEY_BYTES, SHARED_KEY_BYTES } from './backend.js';
import {
  boxLongEnough,
  checkInto,
  checkLength,
  checkMessage,
  checkNonce,
  checkPublicKey,
  checkSecretKey,
  checkSharedKey,
  refuseLowOrder,
  sharedKeyFromPoint,
  withBoxes,
} from './common.js';
import type { BackendWithoutBoxes } from './common.js';

/** The part of sodium-native's API we use. */
export interface SodiumNative {
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  crypto_secretbox_easy(c: Uint8Array, m: Uint8Array, n: Uint8Array, k: Uint8Array): void;
  crypto_secretbox_open_easy(m: Uint8Array, c: Uint8Array, n: Uint8Array, k: Uint8Array): boolean;
  randombytes_buf(buf: Uint8Array): void;
  sodium_malloc(size: number): Buffer & { secure?: boolean };
  sodium_mprotect_noaccess(buf: Buffer): void;
  sodium_mprotect_readonly(buf: Buffer): void;
  sodium_mprotect_readwrite(buf: Buffer): void;
  sodium_memzero(buf: Uint8Array): void;
}

let loaded: SodiumNative | null | undefined;

/** sodium-native if it is installed and loads on this machine, else `null` (checked once). */
export function loadSodium(): SodiumNative | null {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('sodium-native') as SodiumNative;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

export function createSodiumBackend(sodium: SodiumNative): CryptoBackend {
  const point = new Uint8Array(SHARED_KEY_BYTES);
  const backend: BackendWithoutBoxes = {
    name: 'sodium',
    keyPair(): KeyPair {
      const secretKey = new Uint8Array(SECRET_KEY_BYTES);
      sodium.randombytes_buf(secretKey);
      return { publicKey: backend.publicKeyOf(secretKey), secretKey };
    },
    publicKeyOf(secretKey) {
      checkSecretKey(secretKey);
      const pk = new Uint8Array(PUBLIC_KEY_BYTES);
      sodium.crypto_scalarmult_base(pk, secretKey);
      return pk;
    },
    scalarMult(secretKey, peer) {
      checkSecretKey(secretKey);
      checkPublicKey(peer);
      const out = new Uint8Array(SHARED_KEY_BYTES);
      try {
        sodium.crypto_scalarmult(out, secretKey, peer);
      } catch {
        out.fill(0); // libsodium refuses an all-zero result; refused below like the other backends
      }
      return refuseLowOrder(out);
    },
    beforenm(peer, secretKey) {
      checkPublicKey(peer);
      checkSecretKey(secretKey);
      try {
        sodium.crypto_scalarmult(point, secretKey, peer);
      } catch {
        // libsodium refuses an all-zero result; treat it like the other backends do.
        point.fill(0);
      }
      try {
        return sharedKeyFromPoint(point);
      } finally {
        point.fill(0); // the raw shared point is as secret as the key made from it
      }
    },
    secretbox(message, nonce, key) {
      checkMessage(message);
      checkNonce(nonce);
      checkSharedKey(key);
      const out = new Uint8Array(message.length + 16);
      sodium.crypto_secretbox_easy(out, message, nonce, key);
      return out;
    },
    secretboxInto(out, offset, message, nonce, key) {
      checkInto(out, offset, message, nonce, key);
      // libsodium copes with `message` overlapping the output, so in-place encryption works.
      sodium.crypto_secretbox_easy(out.subarray(offset, offset + message.length + 16), message, nonce, key);
    },
    secretboxOpen(box, nonce, key) {
      checkNonce(nonce);
      checkSharedKey(key);
      if (!boxLongEnough(box)) return null;
      const out = new Uint8Array(box.length - 16);
      return sodium.crypto_secretbox_open_easy(out, box, nonce, key) ? out : null;
    },
    secretboxOpenInPlace(box, nonce, key) {
      checkNonce(nonce);
      checkSharedKey(key);
      if (!boxLongEnough(box)) return null;
      // libsodium checks the tag before it writes anything, and copes with the output overlapping the box.
      // A plain Uint8Array view even when the box sits in a Buffer, like every other opened message.
      const plain = new Uint8Array(box.buffer, box.byteOffset, box.length - 16);
      return sodium.crypto_secretbox_open_easy(plain, box, nonce, key) ? plain : null;
    },
    randomBytes(length) {
      checkLength(length);
      const out = new Uint8Array(length);
      sodium.randombytes_buf(out);
      return out;
    },
  };
  return withBoxes(backend);
}
